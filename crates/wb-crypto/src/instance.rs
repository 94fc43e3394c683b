//! The rule for instance names, which appear in key file names and in
//! bundle trusted comments.

use crate::{Error, Result};

/// Same rule as `wb-model`'s `InstanceName`, repeated here so this crate
/// stays free of the domain crates.
const RULE: &str =
    "use 1-253 characters of a-z, 0-9, '.' and '-', starting and ending with a letter or digit";

/// Checks an instance name: 1–253 characters of `a-z`, `0-9`, `.` and `-`,
/// starting and ending with a letter or digit, without `..`. So it never
/// holds `/`, `\`, spaces or `=`, and is never `.` or `..`.
pub(crate) fn check_instance_name(name: &str) -> Result<()> {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let ok = (1..=253).contains(&name.len())
        && name.chars().next().is_some_and(alnum)
        && name.chars().last().is_some_and(alnum)
        && name.chars().all(|c| alnum(c) || c == '.' || c == '-')
        && !name.contains("..");
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInstanceName {
            name: name.to_owned(),
            rule: RULE,
        })
    }
}

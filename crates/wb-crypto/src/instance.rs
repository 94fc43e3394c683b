//! The rule for instance names, which appear in key file names and in
//! bundle trusted comments. The rule is the format's
//! (`wb_syncfmt::is_valid_instance_name`); this module turns a refusal into
//! this crate's error.

use crate::{Error, Result};

/// Checks an instance name against [`wb_syncfmt::INSTANCE_NAME_RULE`]. So
/// it never holds `/`, `\`, spaces or `=`, and is never `.` or `..`.
pub(crate) fn check_instance_name(name: &str) -> Result<()> {
    if wb_syncfmt::is_valid_instance_name(name) {
        Ok(())
    } else {
        Err(Error::InvalidInstanceName {
            name: name.to_owned(),
            rule: wb_syncfmt::INSTANCE_NAME_RULE,
        })
    }
}

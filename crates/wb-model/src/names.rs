//! Validated names: usernames and instance names.
//!
//! The rules themselves belong to the bundle format, where these names
//! travel: `wb_syncfmt::is_valid_username` and
//! `wb_syncfmt::is_valid_instance_name`, quoted by `docs/format.md`. These
//! types are the domain's proof that a string passed them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A name that breaks its rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {input:?}: use {rule}")]
pub struct NameError {
    /// What kind of name it was ("username", "instance name").
    pub what: &'static str,
    /// The text that was refused.
    pub input: String,
    /// The rule it broke, in words.
    pub rule: &'static str,
}

/// A username: 1–32 characters of `a-z`, `0-9`, `_` and `-`, starting with a
/// letter or digit ([`wb_syncfmt::USERNAME_RULE`]). Unique per origin
/// instance.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Username(String);

/// An instance name such as `alpha.example`: 1–253 characters of `a-z`,
/// `0-9`, `.` and `-`, starting and ending with a letter or digit, without
/// `..` ([`wb_syncfmt::INSTANCE_NAME_RULE`]).
///
/// It appears in file headers, file names of keys and the hub's registry,
/// so it is deliberately narrow.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstanceName(String);

impl Username {
    /// Validates a username.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        if wb_syncfmt::is_valid_username(input) {
            Ok(Self(input.to_owned()))
        } else {
            Err(NameError {
                what: "username",
                input: input.to_owned(),
                rule: wb_syncfmt::USERNAME_RULE,
            })
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl InstanceName {
    /// Validates an instance name.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        if wb_syncfmt::is_valid_instance_name(input) {
            Ok(Self(input.to_owned()))
        } else {
            Err(NameError {
                what: "instance name",
                input: input.to_owned(),
                rule: wb_syncfmt::INSTANCE_NAME_RULE,
            })
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! text_impls {
    ($ty:ty) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl FromStr for $ty {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}
text_impls!(Username);
text_impls!(InstanceName);

//! Timestamps with microsecond precision and one canonical text form.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::{OffsetDateTime, UtcOffset, format_description::FormatItem, macros::format_description};

/// The one text form of a timestamp: `2026-11-24T10:00:00.000000Z`.
const FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// A UTC instant truncated to whole microseconds.
///
/// Microseconds are what both databases store exactly and what the sync
/// format writes, so a timestamp survives every round trip unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

/// A timestamp that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp {input:?}: expected the form 2026-11-24T10:00:00.000000Z")]
pub struct TimestampError {
    /// The text that was refused.
    pub input: String,
}

impl Timestamp {
    /// The current time, truncated to microseconds.
    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc())
    }

    /// Converts any instant, truncating below microseconds.
    pub fn from_datetime(dt: OffsetDateTime) -> Self {
        let dt = dt.to_offset(UtcOffset::UTC);
        let micros = dt.microsecond();
        // Invariant: a microsecond count below one million is always a valid
        // nanosecond count; `replace_nanosecond` only fails above 999_999_999.
        let truncated = dt.replace_nanosecond(micros * 1_000).unwrap_or(dt);
        Self(truncated)
    }

    /// Microseconds since the Unix epoch (how the store keeps timestamps).
    pub fn unix_micros(self) -> i64 {
        // Invariant: a truncated timestamp within `time`'s range fits in i64 micros.
        i64::try_from(self.0.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
    }

    /// The inverse of [`Timestamp::unix_micros`].
    pub fn from_unix_micros(micros: i64) -> Result<Self, TimestampError> {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
            .map(Self)
            .map_err(|_| TimestampError {
                input: micros.to_string(),
            })
    }

    /// The underlying `time` value.
    pub fn datetime(self) -> OffsetDateTime {
        self.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.format(FORMAT).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || TimestampError {
            input: s.to_owned(),
        };
        let parsed = time::PrimitiveDateTime::parse(s, FORMAT).map_err(|_| err())?;
        let ts = Self(parsed.assume_utc());
        // Only the canonical form is accepted, so text and value map one to one.
        if ts.to_string() == s {
            Ok(ts)
        } else {
            Err(err())
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

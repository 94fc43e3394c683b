//! The `Updated-At` form: `YYYY-MM-DDTHH:MM:SS.ffffffZ`, always UTC, always
//! six fractional digits.

use time::{Date, Month, OffsetDateTime, Time, UtcOffset};

use crate::error::WriteError;

const FORM: &str = "is not of the form YYYY-MM-DDTHH:MM:SS.ffffffZ (UTC, 6 fractional digits)";

/// Renders `at` (converted to UTC) in the canonical form.
pub(crate) fn format(at: OffsetDateTime) -> Result<String, WriteError> {
    let at = at.to_offset(UtcOffset::UTC);
    let year = at.year();
    if !(0..=9999).contains(&year) {
        return Err(WriteError::TimestampOutOfRange { year });
    }
    let nanosecond = at.nanosecond();
    if !nanosecond.is_multiple_of(1000) {
        return Err(WriteError::TimestampPrecision { nanosecond });
    }
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        year,
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        nanosecond / 1000
    ))
}

/// Parses the canonical form; the error is the reason, for a message.
pub(crate) fn parse(s: &str) -> Result<OffsetDateTime, String> {
    let b = s.as_bytes();
    let shape_ok = b.len() == 27
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'.',
            26 => c == b'Z',
            _ => c.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(FORM.to_owned());
    }
    let num = |from: usize, to: usize| -> u32 {
        b[from..to]
            .iter()
            .fold(0, |acc, &d| acc * 10 + u32::from(d - b'0'))
    };
    let invalid = |e: time::error::ComponentRange| format!("is not a valid date and time: {e}");
    // The shape check guarantees these fit their types: a 4-digit year fits
    // i32, 2-digit fields fit u8, 6 digits fit u32.
    let year = i32::try_from(num(0, 4)).map_err(|_| FORM.to_owned())?;
    let month =
        Month::try_from(u8::try_from(num(5, 7)).map_err(|_| FORM.to_owned())?).map_err(invalid)?;
    let small = |from, to| u8::try_from(num(from, to)).map_err(|_| FORM.to_owned());
    let date = Date::from_calendar_date(year, month, small(8, 10)?).map_err(invalid)?;
    let time = Time::from_hms_micro(small(11, 13)?, small(14, 16)?, small(17, 19)?, num(20, 26))
        .map_err(invalid)?;
    Ok(date.with_time(time).assume_utc())
}

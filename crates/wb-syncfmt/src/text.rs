//! The strict line and header reader shared by row files and manifests:
//! size limit, UTF-8, LF-only lines without trailing whitespace, and a fixed
//! sequence of `Name: value` headers followed by an empty line.

use crate::error::{ParseError, ParseErrorKind};
use crate::ident::excerpt;

/// Checks the whole-file rules and returns the text.
pub(crate) fn decode<'a>(bytes: &'a [u8], path: &str, limit: u64) -> Result<&'a str, ParseError> {
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if size > limit {
        return Err(ParseError::new(
            path,
            None,
            ParseErrorKind::TooLarge { size, limit },
        ));
    }
    if bytes.starts_with(b"\xef\xbb\xbf") {
        return Err(ParseError::at(path, 1, ParseErrorKind::ByteOrderMark));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        ParseError::at(path, line, ParseErrorKind::InvalidUtf8)
    })?;
    for (index, line) in text.split('\n').enumerate() {
        if line.contains('\r') {
            return Err(ParseError::at(
                path,
                index + 1,
                ParseErrorKind::CarriageReturn,
            ));
        }
        if line.ends_with([' ', '\t']) {
            return Err(ParseError::at(
                path,
                index + 1,
                ParseErrorKind::TrailingWhitespace,
            ));
        }
    }
    Ok(text)
}

/// Reads the headers `names`, in this order, from the first lines of
/// `lines`, then the empty line after them. Returns the values.
pub(crate) fn read_headers<'a, const N: usize>(
    lines: &[&'a str],
    names: &'static [&'static str; N],
    path: &str,
) -> Result<[&'a str; N], ParseError> {
    let mut values = [""; N];
    for (index, &expected) in names.iter().enumerate() {
        let line_no = index + 1;
        let line = match lines.get(index) {
            None | Some(&"") => {
                return Err(ParseError::at(
                    path,
                    line_no,
                    ParseErrorKind::MissingHeader { expected },
                ));
            }
            Some(line) => *line,
        };
        let Some((name, rest)) = split_header(line) else {
            return Err(ParseError::at(
                path,
                line_no,
                ParseErrorKind::MalformedHeader {
                    found: excerpt(line),
                },
            ));
        };
        if name != expected {
            let kind = match names.iter().position(|n| *n == name) {
                Some(pos) if pos < index => ParseErrorKind::DuplicateHeader { name: names[pos] },
                Some(pos) => ParseErrorKind::HeaderOutOfOrder {
                    name: names[pos],
                    expected,
                },
                None => ParseErrorKind::UnknownHeader {
                    name: excerpt(name),
                },
            };
            return Err(ParseError::at(path, line_no, kind));
        }
        match rest.strip_prefix(' ') {
            Some(value) if !value.is_empty() && !value.starts_with(' ') => values[index] = value,
            _ => {
                return Err(ParseError::at(
                    path,
                    line_no,
                    ParseErrorKind::HeaderSpacing { name: expected },
                ));
            }
        }
    }
    let line_no = names.len() + 1;
    // Splitting on '\n' yields a last, empty piece after the final newline:
    // an empty line exists only if something follows it.
    let ended = lines.len() <= names.len() + 1;
    match lines.get(names.len()) {
        Some(&"") if !ended => Ok(values),
        None | Some(&"") => Err(ParseError::at(
            path,
            line_no,
            ParseErrorKind::UnexpectedEnd {
                expected: "an empty line after the headers",
            },
        )),
        Some(line) => {
            let kind = match split_header(line) {
                Some((name, _)) => match names.iter().find(|n| **n == name) {
                    Some(known) => ParseErrorKind::DuplicateHeader { name: known },
                    None => ParseErrorKind::UnknownHeader {
                        name: excerpt(name),
                    },
                },
                None => ParseErrorKind::MissingBlankLine {
                    found: excerpt(line),
                },
            };
            Err(ParseError::at(path, line_no, kind))
        }
    }
}

/// Splits `Name:rest` where `Name` is a non-empty run of ASCII letters,
/// digits and `-`.
fn split_header(line: &str) -> Option<(&str, &str)> {
    let (name, rest) = line.split_once(':')?;
    let is_name = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    is_name.then_some((name, rest))
}

/// The byte offset where line `index` (0-based) of `lines` starts, given
/// that `lines` came from splitting a text on `\n`.
pub(crate) fn line_start(lines: &[&str], index: usize) -> usize {
    lines[..index].iter().map(|l| l.len() + 1).sum()
}

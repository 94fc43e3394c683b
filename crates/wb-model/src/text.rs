//! Showing text that came from outside on a terminal.
//!
//! Field values imported from other instances, a hub's error messages,
//! archive entry names and peer names from hand-edited files can hold
//! terminal control sequences (`ESC ] 0 ; title BEL` sets the window title,
//! `ESC [ 2 J` clears the screen, OSC 8 plants hyperlinks). Everything `wb`
//! and `wb-hub` print or log that did not come from their own code goes
//! through [`escape_control`] first, so such text is shown, never obeyed.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` is escaped by [`escape_control`]: a Unicode control
/// character (C0 `U+0000`–`U+001F`, including newline and tab, `DEL`
/// `U+007F`, C1 `U+0080`–`U+009F`), or a bidirectional formatting character
/// (`U+202A`–`U+202E`, `U+2066`–`U+2069`), which reorders what a terminal
/// shows after it.
#[must_use]
pub fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` made safe to print on one line of a terminal or a log: every
/// character of [`needs_escape`] is replaced by its visible escape — `\x1b`
/// for `ESC`, `\n` and `\t` for newline and tab, `\x7f`, `\u{9b}` for a C1
/// character, `\u{202e}` for a bidirectional override. Everything else is
/// kept as it is (a backslash too, so the result is for reading, not for
/// parsing back).
///
/// Borrows when there is nothing to escape.
///
/// ```
/// use wb_model::text::escape_control;
///
/// assert_eq!(escape_control("bio \u{1b}]0;owned\u{7}\u{1b}[2J"), r"bio \x1b]0;owned\x07\x1b[2J");
/// assert_eq!(escape_control("two\nlines\tand a tab"), r"two\nlines\tand a tab");
/// assert_eq!(escape_control("Zoë ✓"), "Zoë ✓");
/// ```
#[must_use]
pub fn escape_control(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) && u32::from(c) < 0x80 => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// An error and its causes as one line for a terminal or a log: the
/// messages joined by `": "`, each cause dropped whose text the message
/// before it already holds (thiserror's `transparent` and `{source}`
/// variants both display their source), then [`escape_control`]led,
/// because causes quote input (file names, hub messages, field values).
///
/// Takes any chain of messages, such as `anyhow::Error::chain()`.
///
/// ```
/// use wb_model::text::error_line;
///
/// let chain = ["pull beta: hub said: bad \u{1b}[2J", "hub said: bad \u{1b}[2J", "timed out"];
/// assert_eq!(error_line(chain), r"pull beta: hub said: bad \x1b[2J: timed out");
/// ```
#[must_use]
pub fn error_line<I>(chain: I) -> String
where
    I: IntoIterator,
    I::Item: std::fmt::Display,
{
    let mut kept: Vec<String> = Vec::new();
    for cause in chain {
        let cause = cause.to_string();
        if !kept.last().is_some_and(|prev| prev.contains(&cause)) {
            kept.push(cause);
        }
    }
    escape_control(&kept.join(": ")).into_owned()
}

//! The wb sync bundle format (being written; see docs/format.md once it lands).
#![forbid(unsafe_code)]

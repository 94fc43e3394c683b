//! Instance keys and bundle signatures (being written).
#![forbid(unsafe_code)]

//! The admin UI through its public API, on every test backend: HTTP-level
//! tests with `actix_web::test`, and one test in a real headless Chromium.

mod browser;
mod common;
mod http;
mod lists;
mod scale;
mod status;

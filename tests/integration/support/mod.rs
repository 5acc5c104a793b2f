//! Shared test support.

pub mod fake_dns;
pub mod lab;

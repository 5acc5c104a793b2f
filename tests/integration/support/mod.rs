//! Shared test support.

pub mod db;
pub mod fake_dns;
pub mod lab;

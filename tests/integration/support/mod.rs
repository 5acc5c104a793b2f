//! Shared test support.

pub mod cli;
pub mod contract;
pub mod db;
pub mod dnsseclab;
pub mod fake_dns;
pub mod lab;
pub mod ldap;
pub mod minilab;
pub mod pgcluster;
pub mod postfix;
pub mod smtp;
pub mod web;

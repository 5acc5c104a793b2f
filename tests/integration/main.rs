//! pecwatch's integration tests, compiled as one binary.
//!
//! `support` holds shared code: the real DNS lab (Knot DNS + Unbound on 127.53.x.y, see
//! `lab/README.md`) and an in-process scriptable DNS server for hostile answers.

mod support;

mod activation;
mod audit;
mod backup;
mod browser;
mod check_cli;
mod closed_output;
mod config;
mod dnssec;
mod doctor;
mod domains_cli;
mod faults;
mod golden;
mod hostile;
mod index_cli;
mod instructions;
mod layers;
mod ldap;
mod limits;
mod mx_cap;
mod notices_cli;
mod ops_cli;
mod outbox;
mod postfix_cli;
mod postfix_mta;
mod provision;
mod readme;
mod registry;
mod secrets;
mod soak;
mod sweep;
mod upgrade;
mod web_api;
mod web_pages;
mod workers;

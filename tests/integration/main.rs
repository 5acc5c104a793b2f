//! pecwatch's integration tests, compiled as one binary.
//!
//! `support` holds shared code: the real DNS lab (Knot DNS + Unbound on 127.53.x.y, see
//! `lab/README.md`) and an in-process scriptable DNS server for hostile answers.

mod support;

mod check_cli;
mod config;
mod domains_cli;
mod hostile;
mod index_cli;
mod notices_cli;
mod outbox;
mod postfix_cli;
mod registry;
mod sweep;

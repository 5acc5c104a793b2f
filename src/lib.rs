//! # pecwatch
//!
//! pecwatch checks and monitors the DNS of Italian PEC certified domains (RFC 6109): a
//! certified domain such as `pec.example.it` must send all its mail to its PEC provider
//! (an MX to e.g. `mx.pec.aruba.it`, one A record with the provider's address, on every
//! authoritative server). Providers check every certified domain daily, notify holders of
//! errors (`NS NON DEFINITO`, `MX NON DEFINITO`, `A NON DEFINITO`, `A NON CORRETTO`,
//! `A MULTIPLI`) and remove domains not fixed within 7 days.
//!
//! ## Architecture
//!
//! A check is **probe → evaluate → report**, with I/O kept apart from logic:
//!
//! - [`name`] turns user input (names, Unicode names, e-mail addresses) into one normal
//!   form, or a clear input error.
//! - [`dns`] owns the wire: a shared UDP socket pool with many queries in flight, EDNS0,
//!   TCP on truncation, bounded retries, and the exact [`dns::Outcome`] of each exchange.
//! - [`probe`] does all the DNS I/O of one check: finds the enclosing zone and its servers
//!   (through a recursive resolver, or iteratively from root hints), asks every server
//!   address directly, resolves the MX targets, and returns a plain-data
//!   [`check::observation::Observation`]. Shared lookups are cached for the run.
//! - [`dnssec`] validates the name's MX and each MX target's address from the trust
//!   anchor (the data fetched by the prober, DO=1, from the zones' own servers), as the
//!   senders' validating resolvers do; the result is part of the observation.
//! - [`check`] is pure: it evaluates an observation against a provider [`profile`] and
//!   produces [`finding::Finding`]s with codes, evidence and the zone-file lines that fix
//!   them. It is tested without a network.
//! - [`report`] renders the findings as text for people (Italian by default) or JSON
//!   Lines for programs; [`cli`] wires the subcommands together.
//!
//! Around the check, the monitor keeps its state:
//!
//! - [`lifecycle`] is the pure state machine of a certified domain (`certified` →
//!   `in_error` → `removed` → `under_review` → `expired`, with the 7 days of grace): events
//!   in, transitions and side effects out, time passed in.
//! - [`registry`] stores domains, checks, transitions and the outbox of side effects in
//!   SQLite or PostgreSQL, with leases for sharing work and batched, atomic commits.
//! - [`sweep`] runs the daily check of every due domain in two phases: check everything
//!   and record it, then decide once (canaries, the share of new failures) whether to
//!   apply the lifecycle changes or hold them all and alert the operators. Its pure
//!   decisions (next check, daily slots in Europe/Rome, the share rule) are in
//!   [`sweep::plan`]. `pecwatch sweep` runs one; `pecwatch serve` runs them on schedule
//!   ([`daemon`]). Several `serve` processes share one registry: one runs the schedule (a
//!   lease in the registry), all of them work on each sweep through the domains' leases.
//! - [`actions`] are the operators' commands on one domain (approve, reject, renew,
//!   remove, hybrid exception), applied through the same state machine.
//! - [`notice`] renders notices (Italian and English, text and HTML) from templates an
//!   operator can override; [`outbox`] delivers them over SMTP, retries, and records each
//!   acceptance with its effect on the lifecycle (the grace period starts) atomically.
//! - [`postfix`] is the hook into the mail servers: a Postfix policy service and a
//!   socketmap table answering from a snapshot of the registry, reloaded on change.
//! - [`index`] writes the provider's entry of the providers' index (RFC 6109) as LDIF:
//!   the provider's attributes and certificate, and `managedDomains` listing every
//!   `certified` and `in_error` domain; `pecwatch index` exports it and records
//!   publications.
//! - Activation of a new certified domain: [`instructions`] detects the customer's case
//!   from DNS (name missing, own zone, zone on the provider's DNS, delegation, already
//!   correct) and says exactly what to write where (`pecwatch instructions`);
//!   [`provision`] writes the provider's own part by TSIG-signed DNS UPDATE
//!   ([`dns::update`]): the MX of an internal subdomain or of a zone on the provider's DNS,
//!   or a delegated zone added to the provider's catalog zone (RFC 9432).
//! - [`web`] is the HTTP side (`pecwatch web`, also inside `pecwatch serve`): the JSON API
//!   under `/api/v1` with API tokens and RFC 9457 problems, the index at `/index.ldif`
//!   (ETag, Last-Modified), `/metrics`, `/healthz`, `/openapi.json`, the public check
//!   page and the operators' console (server-rendered pages, argon2id sign-in, users from
//!   `pecwatch users`).
//! - [`contact`] checks the holder's and reseller's names and addresses at every entry
//!   (no control characters, a length cap, a real address).
//! - [`net`] keeps the servers (web, policy service, socketmap) from being held open or
//!   filled: connection caps per address and in all, a long listen queue, an accept loop
//!   that survives running out of file descriptors, the open-files limit raised at start.
//!   [`cli::output`] keeps a closed standard output or error from ever crashing a command.
//! - [`config`] reads `pecwatch.toml` and its `PECWATCH_<SECTION>_<KEY>` overrides,
//!   finding every problem at once ([`config::Config::check`], `pecwatch config check`);
//!   each component defines and checks its own section ([`settings`]), the configuration
//!   assembles them;
//!   `pecwatch doctor` ([`cli::doctor`]) tries everything it names, and `pecwatch db`
//!   ([`cli::db`]) shows and applies the registry's migrations and backs SQLite up;
//!   [`clock`] gives every command its "now" (`PECWATCH_NOW` for tests; with
//!   `PECWATCH_SIMULATE`, simulated time for `serve`: a month of service in minutes).
//!
//! The integration tests run the real binary against a lab of real Knot DNS servers and an
//! Unbound resolver on loopback addresses (`lab/lab.sh`).

#![warn(missing_docs, unreachable_pub)]

// The modules live in one folder per layer (ARCHITECTURE.md); their paths stay
// `crate::name`, `crate::registry`, … whatever the folder, and an import may only run
// down the layers (tests/integration/layers.rs).

// Layer 0, the core (`src/core/`): pure logic and the types it works on; no I/O, no
// configuration loading. It imports nothing above it.
#[path = "core/address.rs"]
pub mod address;
#[path = "core/check/mod.rs"]
pub mod check;
#[path = "core/clock.rs"]
pub mod clock;
#[path = "core/contact.rs"]
pub mod contact;
#[path = "core/finding.rs"]
pub mod finding;
#[path = "core/lifecycle.rs"]
pub mod lifecycle;
#[path = "core/name.rs"]
pub mod name;
#[path = "core/profile.rs"]
pub mod profile;
#[path = "core/report.rs"]
pub mod report;
#[path = "core/settings.rs"]
pub mod settings;

// Layer 1, the adapters (`src/adapters/`): the outside world (DNS, the registry, sockets),
// no business rules.
#[path = "adapters/dns/mod.rs"]
pub mod dns;
#[path = "adapters/dnssec/mod.rs"]
pub mod dnssec;
#[path = "adapters/net.rs"]
pub mod net;
#[path = "adapters/probe.rs"]
pub mod probe;
#[path = "adapters/registry/mod.rs"]
pub mod registry;

// Layer 2, the services (`src/services/`): the work pecwatch does, composed from the core
// and the adapters; never the command line, the web or the configuration loader.
#[path = "services/actions.rs"]
pub mod actions;
#[path = "services/activation.rs"]
pub mod activation;
#[path = "services/daemon.rs"]
pub mod daemon;
#[path = "services/index.rs"]
pub mod index;
#[path = "services/instructions.rs"]
pub mod instructions;
#[path = "services/notice/mod.rs"]
pub mod notice;
#[path = "services/outbox.rs"]
pub mod outbox;
#[path = "services/postfix.rs"]
pub mod postfix;
#[path = "services/provision.rs"]
pub mod provision;
#[path = "services/sweep/mod.rs"]
pub mod sweep;
#[path = "services/view/mod.rs"]
pub mod view;

// Layer 3, the edge (`src/edge/`): what a person or a program talks to, and the
// configuration that composes everything at start.
#[path = "edge/cli/mod.rs"]
pub mod cli;
#[path = "edge/config.rs"]
pub mod config;
#[path = "edge/web/mod.rs"]
pub mod web;

use serde::Serialize;

/// The language of user-facing text. Italian by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Italiano.
    #[default]
    It,
    /// English.
    En,
}

impl Lang {
    /// Picks the text in this language.
    pub fn pick<'a>(self, it: &'a str, en: &'a str) -> &'a str {
        match self {
            Self::It => it,
            Self::En => en,
        }
    }
}

//! The checks: turn what the prober saw into findings. Pure: no I/O, no async.
//!
//! [`evaluate`] reads top-down in the order a DNS administrator would look:
//!
//! 1. could the name's zone be found at all? (`NS_NON_DEFINITO`)
//! 2. which server addresses could not be asked because they are private
//!    (`NS_INDIRIZZO_NON_PUBBLICO`, reported whatever else happens);
//! 3. does the name's DNS work: some server answers with authority and the name exists?
//!    (`NS_NON_DEFINITO`; when it does not, nothing more can be said);
//! 4. do the servers agree with each other (`NS_NON_ALLINEATI`), and is the delegation
//!    sound (`NS_SINGOLO`, `DELEGA_INCOERENTE`, `SOA_SERIALI_DIVERSI`)?
//! 5. does the name have a usable MX set? (`MX_NON_DEFINITO`)
//! 6. does the MX set name more targets than a check resolves? (`MX_TROPPI`: only the
//!    first [`MAX_MX_TARGETS`] are looked up, by preference then name);
//! 7. for each MX target: is it a host with exactly one address, and is that address the
//!    provider's? (`A_NON_DEFINITO`, `A_MULTIPLI`, `A_NON_CORRETTO`, and the warnings
//!    `MX_ALIAS`, `AAAA_NON_CORRETTO`, `MX_PRIORITA`).
//!
//! The rules live in `rules.rs` (zone and servers) and `targets.rs` (MX set and targets),
//! the shared view of the observation in `context.rs`, the zone-file lines of every fix in
//! `fix.rs`, and the scenarios in `tests.rs`.

mod config;
mod context;
mod dnssec;
mod fix;
pub mod observation;
mod rules;
mod targets;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;

use crate::finding::{Code, Evidence, Finding, Fix, Text};
use crate::profile::Profile;
pub use config::CheckConfig;
use context::Context;
use observation::Observation;

/// The most MX targets one check resolves: a hostile MX set cannot make a check cost
/// hundreds of lookups. A PEC domain needs one target, the provider's MX host.
pub const MAX_MX_TARGETS: usize = 16;

/// The MX targets a check resolves, out of every `(preference, exchange)` seen on any
/// server: the distinct exchanges (not the null MX's root) by lowest preference, then by
/// name, at most [`MAX_MX_TARGETS`]. The prober resolves these; the rules judge these.
pub fn targets_to_resolve(
    mx: impl IntoIterator<Item = (u16, hickory_proto::rr::Name)>,
) -> Vec<hickory_proto::rr::Name> {
    let mut lowest: std::collections::BTreeMap<hickory_proto::rr::Name, u16> = Default::default();
    for (preference, exchange) in mx {
        if exchange.is_root() {
            continue;
        }
        let entry = lowest.entry(exchange).or_insert(preference);
        *entry = (*entry).min(preference);
    }
    let mut ordered: Vec<_> = lowest
        .into_iter()
        .map(|(name, preference)| (preference, name))
        .collect();
    ordered.sort();
    ordered
        .into_iter()
        .take(MAX_MX_TARGETS)
        .map(|(_, name)| name)
        .collect()
}

/// Evaluates an observation against a provider profile whose `mail_addresses` are already
/// resolved (non-empty in practice).
///
/// The findings come sorted: errors first, then warnings, each group in [`Code`] order,
/// then by subject (the name, the MX target or the server they are about), with at most
/// one finding per code and subject.
pub fn evaluate(observation: &Observation, profile: &Profile) -> Vec<Finding> {
    let mut drafts = Vec::new();
    match &observation.zone {
        Err(failure) => drafts.push(rules::zone_not_found(observation, failure)),
        Ok(zone) => check_zone(&Context::new(observation, zone, profile), &mut drafts),
    }
    finish(drafts)
}

/// The checks of a name whose zone was found.
fn check_zone(cx: &Context<'_>, out: &mut Vec<Draft>) {
    out.extend(rules::private_addresses(cx));
    if let Some(broken) = rules::name_not_working(cx) {
        out.push(broken);
        return;
    }
    out.extend(rules::servers_disagree(cx));
    out.extend(rules::single_server(cx));
    out.extend(rules::inconsistent_delegation(cx));
    out.extend(rules::different_serials(cx));
    out.extend(dnssec::findings(cx));
    let mx = cx.mx_union();
    if let Some(missing) = targets::no_usable_mx(cx, &mx) {
        out.push(missing);
        return;
    }
    let exchanges = targets::exchanges(&mx);
    let resolved = targets_to_resolve(mx.iter().cloned());
    let judged =
        |exchange: &targets::Exchange| exchange.name.is_root() || resolved.contains(&exchange.name);
    if exchanges.iter().any(|exchange| !judged(exchange)) {
        out.push(targets::too_many(cx, &mx, resolved.len()));
    }
    for exchange in exchanges.iter().filter(|exchange| judged(exchange)) {
        out.extend(targets::check_exchange(cx, exchange));
    }
}

/// Sorts the drafts and keeps one finding per code and subject.
fn finish(mut drafts: Vec<Draft>) -> Vec<Finding> {
    drafts.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    drafts.dedup_by(|later, first| {
        later.finding.code == first.finding.code && later.subject == first.subject
    });
    drafts.into_iter().map(|draft| draft.finding).collect()
}

/// A finding being built, with the subject it is about (for sorting and deduplication).
#[derive(Debug)]
struct Draft {
    subject: String,
    finding: Finding,
}

impl Draft {
    /// A finding with a message and nothing else yet.
    fn new(code: Code, subject: impl Into<String>, message: Text) -> Self {
        Self {
            subject: subject.into(),
            finding: Finding {
                code,
                message,
                evidence: Vec::new(),
                fixes: Vec::new(),
                transient: false,
                lowered: false,
            },
        }
    }

    fn evidence(mut self, evidence: Vec<Evidence>) -> Self {
        self.finding.evidence = evidence;
        self
    }

    fn fixes(mut self, fixes: Vec<Fix>) -> Self {
        self.finding.fixes = fixes;
        self
    }

    fn transient(mut self, transient: bool) -> Self {
        self.finding.transient = transient;
        self
    }

    fn lowered(mut self, lowered: bool) -> Self {
        self.finding.lowered = lowered;
        self
    }

    fn sort_key(&self) -> (Reverse<crate::finding::Severity>, Code, &str) {
        (
            Reverse(self.finding.severity()),
            self.finding.code,
            &self.subject,
        )
    }
}

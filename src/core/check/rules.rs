//! The rules about the zone and its servers: can the zone be found, which servers could be
//! asked, do they answer with authority, do they agree, and the warnings about the
//! delegation (`NS_SINGOLO`, `DELEGA_INCOERENTE`, `SOA_SERIALI_DIVERSI`,
//! `NS_INDIRIZZO_NON_PUBBLICO`).

use std::collections::BTreeSet;

use super::context::{
    Context, NameView, describe_view, lookup_evidence, names_as_text, server_label, shown,
};
use super::observation::{Observation, ServerObservation, ZoneFailure};
use super::{Draft, fix};
use crate::check::observation::Outcome;
use crate::finding::{Code, Evidence, FixCase, Text};
use crate::name::display_name;

/// `NS_NON_DEFINITO`: not even the zone (or a parent's) could be found.
///
/// Always transient: the search never reached the authoritative servers of the name's
/// zone or of its parent (had it, their answer would have given the zone, or their
/// failure would be observed as the zone's), so nothing in it is definitive evidence
/// against the name. It stops on the resolver's failures, which are ours to fix; a
/// failure that persists is still confirmed by
/// [`Policy::transient_confirmations`](crate::lifecycle::Policy::transient_confirmations)
/// consecutive checks.
pub(super) fn zone_not_found(observation: &Observation, failure: &ZoneFailure) -> Draft {
    let domain = shown(&observation.domain);
    let outcomes = outcome_list(failure.lookups.iter().map(|l| l.reply.outcome));
    let message = Text::new(
        format!(
            "NS NON DEFINITO: non è stato possibile trovare la zona DNS di {domain}, né quella dei domini che la contengono (risposte: {outcomes})."
        ),
        format!(
            "NS NON DEFINITO: the DNS zone of {domain} could not be found, nor that of any enclosing domain (replies: {outcomes})."
        ),
    );
    let evidence = failure
        .lookups
        .iter()
        .map(|lookup| lookup_evidence(observation, lookup))
        .collect();
    Draft::new(Code::NS_NON_DEFINITO, observation.domain.as_str(), message)
        .evidence(evidence)
        .transient(true)
}

/// `NS_INDIRIZZO_NON_PUBBLICO`: one warning per server address that is not public and
/// was therefore not queried.
pub(super) fn private_addresses(cx: &Context<'_>) -> Vec<Draft> {
    let apex = cx.apex();
    cx.zone
        .servers
        .iter()
        .filter(|s| !s.public && s.mx.outcome == Outcome::NotQueried)
        .map(|server| {
            let name = display_name(&server.name);
            let address = server.address;
            let domain = shown(cx.domain());
            let message = Text::new(
                format!(
                    "NS INDIRIZZO NON PUBBLICO: il server DNS {name} della zona {apex}, che contiene {domain}, ha l'indirizzo {address}, che non è pubblico (privato, locale o di loopback): non è raggiungibile da Internet e non è stato interrogato."
                ),
                format!(
                    "NS INDIRIZZO NON PUBBLICO: DNS server {name} of zone {apex}, which holds {domain}, has address {address}, which is not public (private, local or loopback): it cannot be reached from the Internet and was not queried."
                ),
            );
            Draft::new(Code::NS_INDIRIZZO_NON_PUBBLICO, format!("{name} {address}"), message)
                .evidence(vec![cx.mx_evidence(server)])
        })
        .collect()
}

/// `NS_SINGOLO`: the zone has a single name server, in its own NS set and in the
/// parent's delegation alike (when the two differ, `DELEGA_INCOERENTE` says so).
pub(super) fn single_server(cx: &Context<'_>) -> Option<Draft> {
    let ns = cx.all_ns();
    let [only] = ns.iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    let apex = cx.apex();
    let domain = shown(cx.domain());
    let message = Text::new(
        format!(
            "NS SINGOLO: la zona {apex}, che contiene {domain}, ha un solo server DNS ({only}): se si ferma, la posta certificata non arriva. Ne servono almeno due (RFC 2182)."
        ),
        format!(
            "NS SINGOLO: zone {apex}, which holds {domain}, has a single DNS server ({only}): if it stops, certified mail does not arrive. At least two are needed (RFC 2182)."
        ),
    );
    let note = Text::new(
        format!(
            "Aggiungere un secondo server DNS per {apex}, su una rete diversa da {only}, con una copia della zona; elencarlo nei record NS della zona e nella delega presso la zona padre."
        ),
        format!(
            "Add a second DNS server for {apex}, on a different network from {only}, holding a copy of the zone; list it in the zone's NS records and in the delegation in the parent zone."
        ),
    );
    Some(
        Draft::new(Code::NS_SINGOLO, apex.clone(), message)
            .evidence(vec![ns_evidence(cx, &format!("zone {apex}"), &ns)])
            .fixes(vec![fix::note_only(FixCase::Registration, &apex, note)]),
    )
}

/// `DELEGA_INCOERENTE`: the parent delegates to other servers than the zone lists.
pub(super) fn inconsistent_delegation(cx: &Context<'_>) -> Option<Draft> {
    let parent = names_as_text(cx.zone.parent_ns.as_ref()?);
    let own = names_as_text(cx.zone.zone_ns.as_ref()?);
    if parent == own {
        return None;
    }
    let apex = cx.apex();
    let parent_zone = cx
        .zone
        .parent_apex
        .as_ref()
        .map_or_else(|| parent_name(&apex), display_name);
    let (parent_list, own_list) = (join(&parent), join(&own));
    let domain = shown(cx.domain());
    let message = Text::new(
        format!(
            "DELEGA INCOERENTE: la zona {parent_zone} delega {apex}, che contiene {domain}, a {parent_list}, mentre la zona {apex} elenca come propri server {own_list}."
        ),
        format!(
            "DELEGA INCOERENTE: zone {parent_zone} delegates {apex}, which holds {domain}, to {parent_list}, while zone {apex} lists {own_list} as its servers."
        ),
    );
    let note = Text::new(
        format!(
            "Rendere uguali i due elenchi: i record NS della zona {apex} ({own_list}) e la delega nella zona padre {parent_zone} ({parent_list}), che si modifica tramite il registrar del dominio (o chi gestisce la zona {parent_zone})."
        ),
        format!(
            "Make both lists equal: the NS records of zone {apex} ({own_list}) and the delegation in parent zone {parent_zone} ({parent_list}), which is changed through the domain's registrar (or whoever runs zone {parent_zone})."
        ),
    );
    Some(
        Draft::new(Code::DELEGA_INCOERENTE, apex.clone(), message)
            .evidence(vec![
                ns_evidence(cx, &format!("delegation in {parent_zone}"), &parent),
                ns_evidence(cx, &format!("zone {apex}"), &own),
            ])
            .fixes(vec![fix::note_only(FixCase::Registration, &apex, note)]),
    )
}

/// `SOA_SERIALI_DIVERSI`: the servers that gave a SOA serial do not all give the same.
pub(super) fn different_serials(cx: &Context<'_>) -> Option<Draft> {
    let with_serial: Vec<(&ServerObservation, u32)> = cx
        .queried()
        .into_iter()
        .filter_map(|s| s.soa.soa_serial().map(|serial| (s, serial)))
        .collect();
    let distinct: BTreeSet<u32> = with_serial.iter().map(|(_, serial)| *serial).collect();
    if distinct.len() < 2 {
        return None;
    }
    let apex = cx.apex();
    let domain = shown(cx.domain());
    let list = |word: &str| {
        with_serial
            .iter()
            .map(|(s, serial)| format!("{}: {word} {serial}", server_label(s)))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let (it_list, en_list) = (list("seriale"), list("serial"));
    let message = Text::new(
        format!(
            "SOA SERIALI DIVERSI: i server DNS della zona {apex}, che contiene {domain}, hanno seriali SOA diversi ({it_list}): la propagazione delle modifiche è probabilmente in corso."
        ),
        format!(
            "SOA SERIALI DIVERSI: the DNS servers of zone {apex}, which holds {domain}, report different SOA serials ({en_list}): propagation of changes is probably in progress."
        ),
    );
    let evidence = with_serial
        .iter()
        .map(|(s, _)| cx.soa_evidence(s))
        .collect();
    Some(Draft::new(Code::SOA_SERIALI_DIVERSI, apex, message).evidence(evidence))
}

/// `NS_NON_ALLINEATI`: some servers answer with authority and others do not, or the
/// answers differ in existence or MX set.
pub(super) fn servers_disagree(cx: &Context<'_>) -> Option<Draft> {
    let answering = cx.answering();
    if answering.is_empty() {
        return None;
    }
    let failing = cx.failing();
    let reference = reference_view(cx, &answering);
    let behind: Vec<&ServerObservation> = answering
        .iter()
        .copied()
        .filter(|s| cx.view(s) != reference)
        .collect();
    if behind.is_empty() && failing.is_empty() {
        return None;
    }
    // A server that gives a definitive failure while others answer is evidence enough.
    let transient = behind.is_empty() && failing.iter().all(|s| cx.undecided(s));
    let (it_list, en_list) = alignment_steps(cx, &answering, &behind, &failing, &reference);
    let apex = cx.apex();
    let domain = shown(cx.domain());
    let message = Text::new(
        format!(
            "NS NON ALLINEATI: i server DNS autoritativi della zona {apex} non danno tutti la stessa risposta per {domain} MX: {it_list}."
        ),
        format!(
            "NS NON ALLINEATI: the authoritative DNS servers of zone {apex} do not all give the same answer for {domain} MX: {en_list}."
        ),
    );
    let note = Text::new(
        format!(
            "{}. Ogni server autoritativo della zona {apex} (master e slave) deve servire la stessa versione della zona, con il record MX indicato.",
            capitalise(&it_list)
        ),
        format!(
            "{}. Every authoritative server of zone {apex} (master and slaves) must serve the same version of the zone, with the MX record shown.",
            capitalise(&en_list)
        ),
    );
    let evidence = cx
        .queried()
        .into_iter()
        .map(|s| cx.mx_evidence(s))
        .collect();
    Some(
        Draft::new(Code::NS_NON_ALLINEATI, cx.domain().as_str(), message)
            .evidence(evidence)
            .fixes(vec![cx.site().propagation_fix(note)])
            .transient(transient),
    )
}

/// What each divergent server has to do, in Italian and English: the servers that answer
/// differently from the reference, then the ones that do not answer with authority.
fn alignment_steps(
    cx: &Context<'_>,
    answering: &[&ServerObservation],
    behind: &[&ServerObservation],
    failing: &[&ServerObservation],
    reference: &NameView,
) -> (String, String) {
    let reference_serial = answering
        .iter()
        .filter(|s| cx.view(s) == *reference)
        .filter_map(|s| s.soa.soa_serial())
        .max();
    let (it_ref, en_ref) = describe_view(reference);
    let mut it_lines = Vec::new();
    let mut en_lines = Vec::new();
    for server in behind {
        let (it, en) = describe_view(&cx.view(server));
        let label = server_label(server);
        let serial = serial_phrase(server.soa.soa_serial(), reference_serial);
        it_lines.push(format!(
            "aggiornare {label}: risponde «{it}» invece di «{it_ref}»{}",
            serial.0
        ));
        en_lines.push(format!(
            "update {label}: it answers \"{en}\" instead of \"{en_ref}\"{}",
            serial.1
        ));
    }
    for server in failing {
        let label = server_label(server);
        let outcome = server.mx.outcome.label();
        it_lines.push(format!(
            "far rispondere {label} con autorità per la zona (ora: {outcome})"
        ));
        en_lines.push(format!(
            "make {label} answer authoritatively for the zone (now: {outcome})"
        ));
    }
    (it_lines.join("; "), en_lines.join("; "))
}

/// `NS_NON_DEFINITO` for the name itself: no server could be asked, none answered with
/// authority, or the name does not exist. `None` when the name's DNS works.
pub(super) fn name_not_working(cx: &Context<'_>) -> Option<Draft> {
    if cx.queried().is_empty() {
        return Some(no_server_queried(cx));
    }
    let answering = cx.answering();
    if answering.is_empty() {
        return Some(no_authoritative_answer(cx));
    }
    if answering.iter().all(|s| s.mx.outcome == Outcome::NxDomain) {
        return Some(name_does_not_exist(cx));
    }
    None
}

/// No server of the zone could be asked: none listed, none with an address, or only
/// private addresses.
fn no_server_queried(cx: &Context<'_>) -> Draft {
    let apex = cx.apex();
    let domain = shown(cx.domain());
    let (it_reasons, en_reasons) = unqueried_reasons(cx);
    // Definitive only when servers are known and each one is known to be unusable (an
    // address that is not public, an address lookup that settled with none): a zone
    // whose servers were not learned at all, or a server whose address lookup failed,
    // leaves the verdict open.
    let known = !cx.zone.servers.is_empty() || !cx.zone.unresolved_ns.is_empty();
    let transient = !known || cx.unresolved_undecided();
    let message = Text::new(
        format!(
            "NS NON DEFINITO: nessun server DNS della zona {apex}, che contiene {domain}, ha potuto essere interrogato: {it_reasons}."
        ),
        format!(
            "NS NON DEFINITO: no DNS server of zone {apex}, which holds {domain}, could be queried: {en_reasons}."
        ),
    );
    let note = Text::new(
        format!(
            "Dare ai server DNS di {apex} indirizzi pubblici raggiungibili da Internet (record A/AAAA e, se servono, glue presso la zona padre)."
        ),
        format!(
            "Give the DNS servers of {apex} public addresses reachable from the Internet (A/AAAA records and, where needed, glue in the parent zone)."
        ),
    );
    let mut fixes = vec![fix::note_only(FixCase::Registration, &apex, note)];
    fixes.extend(own_zone_delegation(cx));
    Draft::new(Code::NS_NON_DEFINITO, cx.domain().as_str(), message)
        .evidence(unqueried_evidence(cx))
        .fixes(fixes)
        .transient(transient)
}

/// Why each name server could not be asked, in Italian and English.
fn unqueried_reasons(cx: &Context<'_>) -> (String, String) {
    let mut it_reasons = Vec::new();
    let mut en_reasons = Vec::new();
    let not_queried = cx
        .zone
        .servers
        .iter()
        .filter(|s| s.mx.outcome == Outcome::NotQueried);
    for server in not_queried {
        let label = server_label(server);
        it_reasons.push(format!(
            "{label} non è stato interrogato (indirizzo non pubblico)"
        ));
        en_reasons.push(format!("{label} was not queried (address not public)"));
    }
    for (name, lookups) in &cx.zone.unresolved_ns {
        let name = display_name(name);
        let outcomes = outcome_list(lookups.iter().map(|l| l.reply.outcome));
        it_reasons.push(format!("{name} non ha un indirizzo ({outcomes})"));
        en_reasons.push(format!("{name} has no address ({outcomes})"));
    }
    if it_reasons.is_empty() {
        it_reasons.push("la zona non elenca alcun server DNS".into());
        en_reasons.push("the zone lists no DNS server".into());
    }
    (it_reasons.join("; "), en_reasons.join("; "))
}

/// The servers not queried, the failed address lookups, or at least the NS set.
fn unqueried_evidence(cx: &Context<'_>) -> Vec<Evidence> {
    let mut evidence: Vec<Evidence> = cx.zone.servers.iter().map(|s| cx.mx_evidence(s)).collect();
    evidence.extend(
        cx.zone
            .unresolved_ns
            .iter()
            .flat_map(|(_, lookups)| lookups)
            .map(|lookup| lookup_evidence(cx.observation, lookup)),
    );
    if evidence.is_empty() {
        let apex = cx.apex();
        let ns = cx.all_ns();
        evidence.push(ns_evidence(cx, &format!("zone {apex}"), &ns));
    }
    evidence
}

/// Servers were asked but none answered with authority about the name.
fn no_authoritative_answer(cx: &Context<'_>) -> Draft {
    let apex = cx.apex();
    let domain = shown(cx.domain());
    let failing = cx.failing();
    // Definitive only when every server of the zone failed definitively (REFUSED,
    // SERVFAIL, no AA, …): one that timed out, or one whose address was not found for a
    // reason that may go away, may answer.
    let transient = failing.iter().any(|s| cx.undecided(s)) || cx.unresolved_undecided();
    let list = failing
        .iter()
        .map(|s| format!("{}: {}", server_label(s), s.mx.outcome.label()))
        .collect::<Vec<_>>()
        .join("; ");
    let message = Text::new(
        format!(
            "NS NON DEFINITO: nessun server DNS autoritativo della zona {apex} risponde per {domain}: {list}."
        ),
        format!(
            "NS NON DEFINITO: no authoritative DNS server of zone {apex} answers for {domain}: {list}."
        ),
    );
    let note = Text::new(
        format!(
            "Ogni server elencato deve rispondere con autorità per la zona {apex}, con la versione aggiornata della zona. Ora: {list}."
        ),
        format!(
            "Every listed server must answer authoritatively for zone {apex}, with the current version of the zone. Now: {list}."
        ),
    );
    let mut fixes = vec![cx.site().propagation_fix(note)];
    fixes.extend(own_zone_delegation(cx));
    Draft::new(Code::NS_NON_DEFINITO, cx.domain().as_str(), message)
        .evidence(failing.iter().map(|s| cx.mx_evidence(s)).collect())
        .fixes(fixes)
        .transient(transient)
}

/// Every authoritative answer is NXDOMAIN: the name (or its registrable parent) does not
/// exist.
fn name_does_not_exist(cx: &Context<'_>) -> Draft {
    let apex = cx.apex();
    let domain = shown(cx.domain());
    let site = cx.site();
    let message = if fix::is_tld_like(&apex) && !site.is_own_zone() {
        let registrable = site.registrable();
        Text::new(
            format!(
                "NS NON DEFINITO: il dominio {registrable} non risulta registrato: i server della zona {apex} rispondono NXDOMAIN per {domain}."
            ),
            format!(
                "NS NON DEFINITO: domain {registrable} does not appear to be registered: the servers of zone {apex} answer NXDOMAIN for {domain}."
            ),
        )
    } else {
        Text::new(
            format!(
                "NS NON DEFINITO: il nome {domain} non esiste nel DNS: i server della zona {apex} rispondono NXDOMAIN."
            ),
            format!(
                "NS NON DEFINITO: the name {domain} does not exist in the DNS: the servers of zone {apex} answer NXDOMAIN."
            ),
        )
    };
    Draft::new(Code::NS_NON_DEFINITO, cx.domain().as_str(), message)
        .evidence(
            cx.queried()
                .into_iter()
                .map(|s| cx.mx_evidence(s))
                .collect(),
        )
        .fixes(site.nxdomain_fixes())
}

/// When the name is its own zone and that zone does not work, delegating it to the
/// provider (in the parent zone, which works) is a way out.
fn own_zone_delegation(cx: &Context<'_>) -> Option<crate::finding::Fix> {
    let site = cx.site();
    if site.is_own_zone() {
        site.delegation_fix()
    } else {
        None
    }
}

/// The answer the other servers are measured against: the one of the server with the
/// newest zone (highest SOA serial), then the most common, then the first.
fn reference_view(cx: &Context<'_>, answering: &[&ServerObservation]) -> NameView {
    let views: Vec<NameView> = answering.iter().map(|s| cx.view(s)).collect();
    let frequency = |view: &NameView| views.iter().filter(|v| *v == view).count();
    answering
        .iter()
        .zip(&views)
        .enumerate()
        .max_by_key(|(index, (server, view))| {
            (
                server.soa.soa_serial(),
                frequency(view),
                std::cmp::Reverse(*index),
            )
        })
        .map(|(_, (_, view))| view.clone())
        .unwrap_or_default()
}

/// `; ha il seriale 1, gli altri 2` when both serials are known and differ.
fn serial_phrase(own: Option<u32>, others: Option<u32>) -> (String, String) {
    match (own, others) {
        (Some(own), Some(others)) if own != others => (
            format!(" (ha il seriale {own}, gli altri {others})"),
            format!(" (it has serial {own}, the others {others})"),
        ),
        _ => (String::new(), String::new()),
    }
}

/// The distinct outcome labels, in order: `TIMEOUT, SERVFAIL`.
fn outcome_list(outcomes: impl Iterator<Item = Outcome>) -> String {
    let mut labels: Vec<&str> = Vec::new();
    for outcome in outcomes {
        if !labels.contains(&outcome.label()) {
            labels.push(outcome.label());
        }
    }
    if labels.is_empty() {
        "-".into()
    } else {
        labels.join(", ")
    }
}

/// The evidence of an NS set learned through the resolver; `source` says where it was
/// read (`delegation in it`, `zone example.it`).
fn ns_evidence(cx: &Context<'_>, source: &str, names: &BTreeSet<String>) -> Evidence {
    let records = if names.is_empty() {
        "no NS".to_string()
    } else {
        names
            .iter()
            .map(|n| format!("NS {n}."))
            .collect::<Vec<_>>()
            .join("; ")
    };
    Evidence {
        server: Some("resolver".into()),
        address: cx.observation.resolver.map(|socket| socket.ip()),
        query: format!("{} NS", cx.apex()),
        outcome: format!("{source}: {records}"),
    }
}

/// The parent of a zone apex in text form (`it` for `example.it`, `.` for a TLD).
fn parent_name(apex: &str) -> String {
    apex.split_once('.')
        .map_or_else(|| ".".to_string(), |(_, parent)| parent.to_string())
}

fn join(names: &BTreeSet<String>) -> String {
    names.iter().cloned().collect::<Vec<_>>().join(", ")
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

//! The rules about the name's MX set and its targets: `MX_NON_DEFINITO`,
//! `A_NON_DEFINITO`, `A_NON_CORRETTO`, `A_MULTIPLI`, a target's DNS failing
//! (`NS_NON_DEFINITO`), and the warnings `MX_ALIAS`, `AAAA_NON_CORRETTO`, `MX_PRIORITA`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use hickory_proto::rr::{Name, RecordType};

use super::Draft;
use super::context::{Context, MxSet, shown};
use crate::check::observation::{Data, Outcome, Reply};
use crate::finding::{Code, Evidence, Text};
use crate::name::{display_name, is_ip_literal_name};
use crate::profile::Profile;

/// One exchange of the MX set, with every preference it appears with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Exchange {
    /// The exchange, lower case (the root for a null MX).
    pub name: Name,
    /// Its preferences, ascending.
    pub preferences: Vec<u16>,
}

/// The distinct exchanges of an MX set, in name order.
pub(super) fn exchanges(mx: &MxSet) -> Vec<Exchange> {
    let mut grouped: BTreeMap<Name, Vec<u16>> = BTreeMap::new();
    for (preference, exchange) in mx {
        grouped
            .entry(exchange.clone())
            .or_default()
            .push(*preference);
    }
    grouped
        .into_iter()
        .map(|(name, preferences)| Exchange { name, preferences })
        .collect()
}

/// `MX_NON_DEFINITO`: the name has no MX, or only a null MX (RFC 7505).
pub(super) fn no_usable_mx(cx: &Context<'_>, mx: &MxSet) -> Option<Draft> {
    let domain = shown(cx.domain());
    let wanted = wanted(cx.profile);
    let message = if mx.is_empty() {
        Text::new(
            format!(
                "MX NON DEFINITO: {domain} esiste ma non ha alcun record MX: la posta certificata non può essere consegnata. Serve il record «{wanted}»."
            ),
            format!(
                "MX NON DEFINITO: {domain} exists but has no MX record: certified mail cannot be delivered. It needs the record \"{wanted}\"."
            ),
        )
    } else if mx.iter().all(|(_, exchange)| exchange.is_root()) {
        Text::new(
            format!(
                "MX NON DEFINITO: {domain} ha solo un MX nullo («0 .», RFC 7505), che dichiara che il dominio non riceve posta. Serve il record «{wanted}»."
            ),
            format!(
                "MX NON DEFINITO: {domain} has only a null MX (\"0 .\", RFC 7505), which declares that the domain accepts no mail. It needs the record \"{wanted}\"."
            ),
        )
    } else {
        return None;
    };
    let evidence = cx
        .answering()
        .into_iter()
        .map(|s| cx.mx_evidence(s))
        .collect();
    Some(
        Draft::new(Code::MX_NON_DEFINITO, cx.domain().as_str(), message)
            .evidence(evidence)
            .fixes(cx.site().mx_fixes()),
    )
}

/// `MX_TROPPI`: the MX set names more targets than a check resolves; the first `resolved`
/// (by preference, then name) were judged, the others not looked up.
pub(super) fn too_many(cx: &Context<'_>, mx: &MxSet, resolved: usize) -> Draft {
    let domain = shown(cx.domain());
    let wanted = wanted(cx.profile);
    let total = mx
        .iter()
        .map(|(_, exchange)| exchange)
        .filter(|exchange| !exchange.is_root())
        .collect::<BTreeSet<_>>()
        .len();
    let message = Text::new(
        format!(
            "MX TROPPI: l'MX di {domain} indica {total} server di posta diversi; ne sono stati verificati i primi {resolved} (per priorità). Un dominio PEC deve inviare la posta solo al gestore: serve il solo record «{wanted}»."
        ),
        format!(
            "MX TROPPI: the MX of {domain} names {total} different mail servers; the first {resolved} (by preference) were checked. A PEC domain must send its mail only to the provider: it needs the record \"{wanted}\" alone."
        ),
    );
    let evidence = cx
        .answering()
        .into_iter()
        .map(|s| cx.mx_evidence(s))
        .collect();
    Draft::new(Code::MX_TROPPI, cx.domain().as_str(), message)
        .evidence(evidence)
        .fixes(cx.site().mx_fixes())
}

/// Every finding about one exchange of the MX set.
pub(super) fn check_exchange(cx: &Context<'_>, exchange: &Exchange) -> Vec<Draft> {
    if exchange.name.is_root() {
        return vec![null_among_others(cx)];
    }
    if is_ip_literal_name(&exchange.name) {
        return vec![not_a_host_name(cx, exchange)];
    }
    let target = cx.target(&exchange.name);
    let Some(a) = target.and_then(|t| t.a.as_ref()) else {
        return vec![not_looked_up(cx, exchange)];
    };
    let mut drafts = address_findings(cx, exchange, a);
    drafts.extend(alias(cx, exchange, a));
    let aaaa = target.and_then(|t| t.aaaa.as_ref());
    drafts.extend(aaaa.and_then(|aaaa| foreign_ipv6(cx, exchange, aaaa)));
    drafts.extend(preference(cx, exchange));
    drafts
}

/// The findings that rest on the target's A lookup.
fn address_findings(cx: &Context<'_>, exchange: &Exchange, a: &Reply) -> Vec<Draft> {
    match a.outcome {
        Outcome::Answer | Outcome::NoData | Outcome::NxDomain => {
            let addresses = ipv4_addresses(a, &exchange.name);
            if addresses.is_empty() {
                return vec![no_address(cx, exchange, a)];
            }
            let mut drafts = Vec::new();
            drafts.extend(several_addresses(cx, exchange, a, &addresses));
            drafts.extend(foreign_addresses(cx, exchange, a, &addresses));
            drafts
        }
        _ => vec![target_dns_failure(cx, exchange, a)],
    }
}

/// The distinct IPv4 addresses at the end of the target's (possibly aliased) A answer.
fn ipv4_addresses(reply: &Reply, name: &Name) -> Vec<IpAddr> {
    let set: BTreeSet<IpAddr> = reply
        .chase(name, RecordType::A)
        .1
        .into_iter()
        .filter_map(|rr| match rr.data {
            Data::A { address } => Some(IpAddr::V4(address)),
            _ => None,
        })
        .collect();
    set.into_iter().collect()
}

/// The distinct IPv6 addresses at the end of the target's (possibly aliased) AAAA answer.
fn ipv6_addresses(reply: &Reply, name: &Name) -> Vec<IpAddr> {
    let set: BTreeSet<IpAddr> = reply
        .chase(name, RecordType::AAAA)
        .1
        .into_iter()
        .filter_map(|rr| match rr.data {
            Data::Aaaa { address } => Some(IpAddr::V6(address)),
            _ => None,
        })
        .collect();
    set.into_iter().collect()
}

/// `A_NON_DEFINITO`: a null MX next to real ones.
fn null_among_others(cx: &Context<'_>) -> Draft {
    let domain = shown(cx.domain());
    let message = Text::new(
        format!(
            "A NON DEFINITO: i record MX di {domain} comprendono un MX nullo («.», RFC 7505) insieme ad altri MX: «.» non è un server di posta e non ha un record A."
        ),
        format!(
            "A NON DEFINITO: the MX records of {domain} include a null MX (\".\", RFC 7505) alongside other MX records: \".\" is not a mail server and has no A record."
        ),
    );
    Draft::new(Code::A_NON_DEFINITO, ".", message)
        .evidence(mx_evidence_for(cx, &Name::root()))
        .fixes(cx.site().mx_fixes())
}

/// `A_NON_DEFINITO`: the exchange is an IP address written as a name.
fn not_a_host_name(cx: &Context<'_>, exchange: &Exchange) -> Draft {
    let domain = shown(cx.domain());
    let target = display_name(&exchange.name);
    let host = &cx.profile.mx_host;
    let message = Text::new(
        format!(
            "A NON DEFINITO: il record MX di {domain} punta a {target}, che è un indirizzo IP scritto come nome e non un nome di host: l'MX deve indicare il nome del server ({host})."
        ),
        format!(
            "A NON DEFINITO: the MX record of {domain} points to {target}, which is an IP address written as a name, not a host name: the MX must name the server ({host})."
        ),
    );
    Draft::new(Code::A_NON_DEFINITO, target, message)
        .evidence(mx_evidence_for(cx, &exchange.name))
        .fixes(cx.site().mx_fixes())
}

/// `A_NON_DEFINITO`: the target has no A record (NODATA or NXDOMAIN).
fn no_address(cx: &Context<'_>, exchange: &Exchange, a: &Reply) -> Draft {
    let domain = shown(cx.domain());
    let target = display_name(&exchange.name);
    let outcome = a.outcome.label();
    let message = Text::new(
        format!(
            "A NON DEFINITO: il record MX di {domain} punta a {target}, che non ha un record A ({outcome}): la posta non può essere consegnata."
        ),
        format!(
            "A NON DEFINITO: the MX record of {domain} points to {target}, which has no A record ({outcome}): mail cannot be delivered."
        ),
    );
    Draft::new(Code::A_NON_DEFINITO, target, message)
        .evidence(target_evidence(cx, exchange, RecordType::A, a))
        .fixes(cx.site().mx_fixes())
}

/// `A_MULTIPLI`: the target has more than one A record (unless it is the provider's host).
fn several_addresses(
    cx: &Context<'_>,
    exchange: &Exchange,
    a: &Reply,
    addresses: &[IpAddr],
) -> Option<Draft> {
    // The provider's own host may have several addresses: that is its business, and the
    // holder has nothing to change.
    if addresses.len() < 2 || display_name(&exchange.name) == cx.profile.mx_host.as_str() {
        return None;
    }
    let domain = shown(cx.domain());
    let target = display_name(&exchange.name);
    let count = addresses.len();
    let list = join(addresses);
    let wanted = wanted(cx.profile);
    let message = Text::new(
        format!(
            "A MULTIPLI: il record MX di {domain} punta a {target}, che ha {count} record A ({list}): l'MX deve puntare a un solo record A. Usare il record «{wanted}»."
        ),
        format!(
            "A MULTIPLI: the MX record of {domain} points to {target}, which has {count} A records ({list}): the MX must point to a single A record. Use the record \"{wanted}\"."
        ),
    );
    Some(
        Draft::new(Code::A_MULTIPLI, target, message)
            .evidence(target_evidence(cx, exchange, RecordType::A, a))
            .fixes(cx.site().mx_fixes()),
    )
}

/// `A_NON_CORRETTO`: some of the target's addresses are not the provider's.
fn foreign_addresses(
    cx: &Context<'_>,
    exchange: &Exchange,
    a: &Reply,
    addresses: &[IpAddr],
) -> Option<Draft> {
    let foreign: Vec<IpAddr> = addresses
        .iter()
        .copied()
        .filter(|address| !cx.profile.allows(*address))
        .collect();
    if foreign.is_empty() {
        return None;
    }
    let domain = shown(cx.domain());
    let target = display_name(&exchange.name);
    let list = join(&foreign);
    let provider = provider(cx.profile);
    let message = Text::new(
        format!(
            "A NON CORRETTO: il record MX di {domain} punta a {target} ({list}), che non è un server di posta PEC di {provider}."
        ),
        format!(
            "A NON CORRETTO: the MX record of {domain} points to {target} ({list}), which is not a PEC mail server of {provider}."
        ),
    );
    Some(
        Draft::new(Code::A_NON_CORRETTO, target, message)
            .evidence(target_evidence(cx, exchange, RecordType::A, a))
            .fixes(cx.site().mx_fixes()),
    )
}

/// `NS_NON_DEFINITO` for a target: its A lookup failed. Transient: a lookup through the
/// resolver that brings no data (a timeout, or a SERVFAIL that may hide the resolver's
/// own timeouts) is no evidence of a missing record; a failure that persists is confirmed
/// by consecutive checks. A timeout is never reported as a missing record.
fn target_dns_failure(cx: &Context<'_>, exchange: &Exchange, a: &Reply) -> Draft {
    let domain = shown(cx.domain());
    let target = display_name(&exchange.name);
    let outcome = a.outcome.label();
    let timeout = a.outcome.is_transient();
    let message = if timeout {
        Text::new(
            format!(
                "NS NON DEFINITO: il DNS di {target}, a cui punta l'MX di {domain}, non ha risposto in tempo ({outcome}): non è stato possibile verificarne l'indirizzo."
            ),
            format!(
                "NS NON DEFINITO: the DNS of {target}, which the MX of {domain} points to, did not answer in time ({outcome}): its address could not be checked."
            ),
        )
    } else {
        Text::new(
            format!(
                "NS NON DEFINITO: il DNS di {target}, a cui punta l'MX di {domain}, non risponde ({outcome}): l'indirizzo del server di posta non si può trovare."
            ),
            format!(
                "NS NON DEFINITO: the DNS of {target}, which the MX of {domain} points to, gives no answer ({outcome}): the mail server's address cannot be found."
            ),
        )
    };
    let fixes = if timeout {
        Vec::new()
    } else {
        cx.site().mx_fixes()
    };
    Draft::new(Code::NS_NON_DEFINITO, target, message)
        .evidence(target_evidence(cx, exchange, RecordType::A, a))
        .fixes(fixes)
        .transient(!super::context::settled(a))
}

/// `NS_NON_DEFINITO` for a target whose address was not looked up (the prober did not
/// get to it): transient, a later check looks again.
fn not_looked_up(cx: &Context<'_>, exchange: &Exchange) -> Draft {
    let domain = shown(cx.domain());
    let target = display_name(&exchange.name);
    let message = Text::new(
        format!(
            "NS NON DEFINITO: l'indirizzo di {target}, a cui punta l'MX di {domain}, non è stato verificato in questo controllo."
        ),
        format!(
            "NS NON DEFINITO: the address of {target}, which the MX of {domain} points to, was not checked in this run."
        ),
    );
    Draft::new(Code::NS_NON_DEFINITO, target, message)
        .evidence(mx_evidence_for(cx, &exchange.name))
        .transient(true)
}

/// `MX_ALIAS`: the target is a CNAME; the A checks followed it.
fn alias(cx: &Context<'_>, exchange: &Exchange, a: &Reply) -> Option<Draft> {
    let (chain, _) = a.chase(&exchange.name, RecordType::A);
    let end = chain.last()?;
    let domain = shown(cx.domain());
    let target = display_name(&exchange.name);
    let end = display_name(end);
    let message = Text::new(
        format!(
            "MX ALIAS: il record MX di {domain} punta a {target}, che è un alias (CNAME) di {end}: l'MX deve indicare direttamente il nome del server (RFC 2181 §10.3)."
        ),
        format!(
            "MX ALIAS: the MX record of {domain} points to {target}, which is an alias (CNAME) of {end}: the MX must name the server directly (RFC 2181 §10.3)."
        ),
    );
    Some(
        Draft::new(Code::MX_ALIAS, target, message)
            .evidence(target_evidence(cx, exchange, RecordType::A, a))
            .fixes(cx.site().mx_fixes()),
    )
}

/// `AAAA_NON_CORRETTO`: the target has IPv6 addresses that are not the provider's.
/// Failed AAAA lookups are ignored.
fn foreign_ipv6(cx: &Context<'_>, exchange: &Exchange, aaaa: &Reply) -> Option<Draft> {
    if aaaa.outcome != Outcome::Answer {
        return None;
    }
    let foreign: Vec<IpAddr> = ipv6_addresses(aaaa, &exchange.name)
        .into_iter()
        .filter(|address| !cx.profile.allows(*address))
        .collect();
    if foreign.is_empty() {
        return None;
    }
    let domain = shown(cx.domain());
    let target = display_name(&exchange.name);
    let list = join(&foreign);
    let provider = provider(cx.profile);
    let message = Text::new(
        format!(
            "AAAA NON CORRETTO: {target}, a cui punta l'MX di {domain}, ha indirizzi IPv6 ({list}) che non sono server di posta PEC di {provider}: la posta via IPv6 finirebbe altrove."
        ),
        format!(
            "AAAA NON CORRETTO: {target}, which the MX of {domain} points to, has IPv6 addresses ({list}) that are not PEC mail servers of {provider}: mail over IPv6 would go elsewhere."
        ),
    );
    let site = cx.site();
    let texts: Vec<String> = foreign.iter().map(ToString::to_string).collect();
    let mut fixes: Vec<_> = site.aaaa_fix(&target, &texts).into_iter().collect();
    fixes.extend(site.mx_fixes());
    Some(
        Draft::new(Code::AAAA_NON_CORRETTO, target, message)
            .evidence(target_evidence(cx, exchange, RecordType::AAAA, aaaa))
            .fixes(fixes),
    )
}

/// `MX_PRIORITA`: the exchange's preference is not the provider's.
fn preference(cx: &Context<'_>, exchange: &Exchange) -> Option<Draft> {
    let wanted_preference = cx.profile.mx_preference;
    let other: Vec<String> = exchange
        .preferences
        .iter()
        .filter(|p| **p != wanted_preference)
        .map(ToString::to_string)
        .collect();
    if other.is_empty() {
        return None;
    }
    let domain = shown(cx.domain());
    let target = display_name(&exchange.name);
    let list = other.join(", ");
    let provider = &cx.profile.display_name;
    let message = Text::new(
        format!(
            "MX PRIORITA: il record MX di {domain} verso {target} ha priorità {list}; {provider} indica {wanted_preference}."
        ),
        format!(
            "MX PRIORITA: the MX record of {domain} to {target} has preference {list}; {provider} asks for {wanted_preference}."
        ),
    );
    Some(
        Draft::new(Code::MX_PRIORITA, target, message)
            .evidence(mx_evidence_for(cx, &exchange.name))
            .fixes(cx.site().mx_fixes()),
    )
}

/// The MX reply of the first authoritative server that lists `exchange`.
fn mx_evidence_for(cx: &Context<'_>, exchange: &Name) -> Vec<Evidence> {
    cx.answering()
        .into_iter()
        .find(|s| {
            super::context::mx_set(&s.mx, &cx.qname)
                .iter()
                .any(|(_, e)| e == exchange)
        })
        .map(|s| cx.mx_evidence(s))
        .into_iter()
        .collect()
}

/// Where the exchange came from and what its address lookup returned.
fn target_evidence(
    cx: &Context<'_>,
    exchange: &Exchange,
    rtype: RecordType,
    reply: &Reply,
) -> Vec<Evidence> {
    let mut evidence = mx_evidence_for(cx, &exchange.name);
    evidence.push(cx.resolver_evidence(&exchange.name, rtype, reply));
    evidence
}

/// `aruba (mx.pec.aruba.it)`.
fn provider(profile: &Profile) -> String {
    format!("{} ({})", profile.display_name, profile.mx_host)
}

/// `MX 10 mx.pec.aruba.it.`
fn wanted(profile: &Profile) -> String {
    format!("MX {} {}.", profile.mx_preference, profile.mx_host)
}

fn join(addresses: &[IpAddr]) -> String {
    addresses
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

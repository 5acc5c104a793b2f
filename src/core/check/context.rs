//! A read-only view of one zone observation, with the derived facts the rules share:
//! which servers were queried, which answered authoritatively, the union of their MX sets,
//! and how to write evidence.

use std::collections::BTreeSet;

use hickory_proto::rr::{Name, RecordType};

use super::fix::Site;
use super::observation::{
    Lookup, Observation, ServerObservation, TargetObservation, ZoneObservation,
};
use crate::check::observation::{Data, Outcome, Reply};
use crate::finding::Evidence;
use crate::name::{DomainName, display_name};
use crate::profile::Profile;

/// An MX set: preference and lower-case exchange.
pub(super) type MxSet = BTreeSet<(u16, Name)>;

/// What one server said about the certified name: `None` for NXDOMAIN, else its MX set
/// (empty for NODATA).
pub(super) type NameView = Option<MxSet>;

/// One zone observation seen through one provider profile.
pub(super) struct Context<'a> {
    /// Everything observed.
    pub observation: &'a Observation,
    /// The zone part, which exists.
    pub zone: &'a ZoneObservation,
    /// The provider.
    pub profile: &'a Profile,
    /// The certified name as a DNS name.
    pub qname: Name,
}

impl<'a> Context<'a> {
    /// The view of `zone`, the found zone of `observation`, for `profile`.
    pub(super) fn new(
        observation: &'a Observation,
        zone: &'a ZoneObservation,
        profile: &'a Profile,
    ) -> Self {
        Self {
            observation,
            zone,
            profile,
            qname: observation.domain.to_dns(),
        }
    }

    /// The certified name.
    pub(super) fn domain(&self) -> &'a DomainName {
        &self.observation.domain
    }

    /// The zone apex as text (`example.it`).
    pub(super) fn apex(&self) -> String {
        display_name(&self.zone.apex)
    }

    /// The servers that were actually asked (public addresses, or private ones allowed).
    pub(super) fn queried(&self) -> Vec<&'a ServerObservation> {
        self.zone
            .servers
            .iter()
            .filter(|s| s.mx.outcome != Outcome::NotQueried)
            .collect()
    }

    /// The queried servers that answered authoritatively about the name.
    pub(super) fn answering(&self) -> Vec<&'a ServerObservation> {
        self.queried()
            .into_iter()
            .filter(|s| s.mx.outcome.is_authoritative_data())
            .collect()
    }

    /// The queried servers that did not answer authoritatively about the name.
    pub(super) fn failing(&self) -> Vec<&'a ServerObservation> {
        self.queried()
            .into_iter()
            .filter(|s| !s.mx.outcome.is_authoritative_data())
            .collect()
    }

    /// Whether a server that did not answer with authority leaves the verdict open
    /// ([`undecided_reply`]).
    pub(super) fn undecided(&self, server: &ServerObservation) -> bool {
        undecided_reply(&server.mx, &self.zone.apex, &self.qname)
    }

    /// Whether some name server of the zone could not be given an address for a reason
    /// that may go away (its address lookups did not settle): it may work.
    pub(super) fn unresolved_undecided(&self) -> bool {
        self.zone
            .unresolved_ns
            .iter()
            .any(|(_, lookups)| lookups.is_empty() || lookups.iter().any(|l| !settled(&l.reply)))
    }

    /// What a server said about the name.
    pub(super) fn view(&self, server: &ServerObservation) -> NameView {
        (server.mx.outcome != Outcome::NxDomain).then(|| mx_set(&server.mx, &self.qname))
    }

    /// The union of the MX sets of every authoritative answer.
    pub(super) fn mx_union(&self) -> MxSet {
        self.answering()
            .into_iter()
            .filter_map(|s| self.view(s))
            .flatten()
            .collect()
    }

    /// Every name server known for the zone: its own NS set and the parent's delegation.
    pub(super) fn all_ns(&self) -> BTreeSet<String> {
        let own = self.zone.zone_ns.iter().flatten();
        let parent = self.zone.parent_ns.iter().flatten();
        own.chain(parent).map(display_name).collect()
    }

    /// The target observation for an exchange.
    pub(super) fn target(&self, exchange: &Name) -> Option<&'a TargetObservation> {
        self.zone.targets.iter().find(|t| t.name == *exchange)
    }

    /// The fix builder for this name and provider.
    pub(super) fn site(&self) -> Site<'a> {
        let delegation = self
            .zone
            .parent_ns
            .as_ref()
            .or(self.zone.zone_ns.as_ref())
            .map(|names| names_as_text(names).into_iter().collect())
            .unwrap_or_default();
        Site {
            domain: self.domain(),
            apex: self.apex(),
            parent_apex: self.zone.parent_apex.as_ref().map(display_name),
            profile: self.profile,
            current_mx: self
                .mx_union()
                .iter()
                .map(|(preference, exchange)| {
                    (*preference, crate::check::observation::fqdn(exchange))
                })
                .collect(),
            zone_ns: delegation,
        }
    }

    /// `pec.example.it MX`.
    pub(super) fn mx_query(&self) -> String {
        format!("{} MX", self.domain())
    }

    /// The evidence of a server's reply to the name's MX query.
    pub(super) fn mx_evidence(&self, server: &ServerObservation) -> Evidence {
        server_evidence(server, self.mx_query(), &server.mx)
    }

    /// The evidence of a server's reply to the zone's SOA query.
    pub(super) fn soa_evidence(&self, server: &ServerObservation) -> Evidence {
        server_evidence(server, format!("{} SOA", self.apex()), &server.soa)
    }

    /// The evidence of a lookup through the resolver.
    pub(super) fn resolver_evidence(
        &self,
        name: &Name,
        rtype: RecordType,
        reply: &Reply,
    ) -> Evidence {
        resolver_evidence(
            self.observation,
            &format!("{} {rtype}", display_name(name)),
            reply,
        )
    }
}

/// Whether a failed reply of one of the zone's own servers (asked directly) leaves the
/// verdict open: nothing came back in time (timeout, network error), or a referral down
/// toward the name, which says that the name is a zone of its own whose servers the
/// search did not reach (it stopped at a timeout). Any other failure (REFUSED, SERVFAIL,
/// no AA, a referral elsewhere, a malformed response) is what the server says: definitive.
pub(super) fn undecided_reply(reply: &Reply, apex: &Name, qname: &Name) -> bool {
    reply.outcome.is_transient() || downward_referral(reply, apex, qname)
}

/// A referral from a server of `apex` to a zone below it on the way to `qname`.
fn downward_referral(reply: &Reply, apex: &Name, qname: &Name) -> bool {
    reply.outcome == Outcome::Referral
        && reply.authority.iter().any(|rr| {
            matches!(rr.data, Data::Ns { .. })
                && rr.name != *apex
                && apex.zone_of(&rr.name)
                && rr.name.zone_of(qname)
        })
}

/// Whether a lookup through the resolver (or iterative resolution) settled the question:
/// it relays the data of the authoritative servers (an answer, NODATA, NXDOMAIN). Any other
/// outcome says only that the lookup failed: a timeout, or a resolver's SERVFAIL, which
/// may hide timeouts of its own (a resolver that was stopped, or a network fault); the
/// verdict stays open.
pub(super) fn settled(reply: &Reply) -> bool {
    reply.outcome.is_authoritative_data()
}

/// The MX set of a reply, exchanges in lower case.
pub(super) fn mx_set(reply: &Reply, qname: &Name) -> MxSet {
    reply
        .mx_set(qname)
        .into_iter()
        .map(|(preference, exchange)| (preference, exchange.to_lowercase()))
        .collect()
}

/// Names as lower-case text without the trailing dot.
pub(super) fn names_as_text(names: &[Name]) -> BTreeSet<String> {
    names.iter().map(display_name).collect()
}

/// `ns1.example.it (192.0.2.1)`.
pub(super) fn server_label(server: &ServerObservation) -> String {
    format!("{} ({})", display_name(&server.name), server.address)
}

fn server_evidence(server: &ServerObservation, query: String, reply: &Reply) -> Evidence {
    Evidence {
        server: Some(display_name(&server.name)),
        address: Some(server.address),
        query,
        outcome: reply.summary(),
    }
}

/// The evidence of one lookup sent through the resolver (or iterative resolution).
pub(super) fn resolver_evidence(observation: &Observation, query: &str, reply: &Reply) -> Evidence {
    Evidence {
        server: Some("resolver".into()),
        address: observation.resolver.map(|socket| socket.ip()),
        query: query.to_string(),
        outcome: reply.summary(),
    }
}

/// The evidence of a [`Lookup`].
pub(super) fn lookup_evidence(observation: &Observation, lookup: &Lookup) -> Evidence {
    let query = format!("{} {}", display_name(&lookup.name), lookup.rtype);
    resolver_evidence(observation, &query, &lookup.reply)
}

/// The name for people: the Unicode form, with the A-label form when they differ.
pub(super) fn shown(domain: &DomainName) -> String {
    let unicode = domain.to_unicode();
    if unicode == domain.as_str() {
        unicode
    } else {
        format!("{unicode} ({domain})")
    }
}

/// A set of MX records for people: `MX 10 mx.pec.aruba.it.`, or what stands for none.
pub(super) fn describe_view(view: &NameView) -> (String, String) {
    match view {
        None => (
            "NXDOMAIN (il nome non esiste)".into(),
            "NXDOMAIN (no such name)".into(),
        ),
        Some(set) if set.is_empty() => ("nessun MX (NODATA)".into(), "no MX (NODATA)".into()),
        Some(set) => {
            let text = set
                .iter()
                .map(|(preference, exchange)| {
                    format!(
                        "MX {preference} {}",
                        crate::check::observation::fqdn(exchange)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            (text.clone(), text)
        }
    }
}

//! What the prober saw: the input of the checks, plain data.
//!
//! The prober ([`crate::probe`]) fills these structures from DNS; the checks
//! ([`crate::check::evaluate`]) turn them into findings without any I/O. Tests build them
//! by hand. Every type a check reads is here, the replies of single queries ([`Reply`],
//! [`Outcome`]) and the DNSSEC evidence ([`Validation`]) included; the adapters that fill
//! them ([`crate::dns`], [`crate::dnssec`]) re-export them.

mod dnssec;
mod reply;

use std::net::{IpAddr, SocketAddr};

use hickory_proto::rr::{Name, RecordType};
use serde::Serialize;

use crate::name::DomainName;

pub use dnssec::{
    Bogus, ChainLink, DnssecObservation, DsInfo, Insecurity, KeyInfo, Security, SigInfo, Validation,
};
pub(crate) use reply::chase;
pub use reply::{Data, Outcome, Reply, Rr, fqdn};

/// Everything observed about one certified name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Observation {
    /// The name checked.
    pub domain: DomainName,
    /// Where the lookups that are not sent to the zone's own servers went: the recursive
    /// resolver's address, or `None` for iterative resolution from root hints.
    pub resolver: Option<SocketAddr>,
    /// The enclosing zone and what its servers said, or why it could not be found.
    pub zone: Result<ZoneObservation, ZoneFailure>,
    /// The DNSSEC validation of the MX and of each MX target's address; `None` when it
    /// was not done (DNSSEC off, or the zone was not found).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnssec: Option<DnssecObservation>,
}

/// The enclosing zone could not be determined at all (not even its parent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ZoneFailure {
    /// The lookups that failed, in order (query name and type, reply).
    pub lookups: Vec<Lookup>,
}

/// One lookup through the resolver (or iterative resolution) and its reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lookup {
    /// The name asked.
    pub name: Name,
    /// The record type asked (`MX`, `A`, …).
    pub rtype: RecordType,
    /// What came back.
    pub reply: Reply,
}

/// The closest enclosing zone of the name and the answers of its servers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ZoneObservation {
    /// The zone's apex (`example.it.` for `pec.example.it`, or the name itself).
    pub apex: Name,
    /// The zone's own NS set (from the zone's servers, via the resolver); `None` if unknown.
    pub zone_ns: Option<Vec<Name>>,
    /// The parent's delegation NS set; `None` if it could not be learned.
    pub parent_ns: Option<Vec<Name>>,
    /// The parent zone's apex (`it.`), if known.
    pub parent_apex: Option<Name>,
    /// Every address of every name server (union of the zone's and the parent's NS sets)
    /// and the answers it gave. Includes addresses not queried (`Outcome::NotQueried`).
    pub servers: Vec<ServerObservation>,
    /// Name servers for which no address could be found, with the failed lookups.
    pub unresolved_ns: Vec<(Name, Vec<Lookup>)>,
    /// The MX targets found on any server, with their address lookups.
    pub targets: Vec<TargetObservation>,
}

/// One server address and its answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServerObservation {
    /// The server's name (`ns1.example.it.`).
    pub name: Name,
    /// The address queried.
    pub address: IpAddr,
    /// Whether the address is public (not loopback, private, link-local, …).
    pub public: bool,
    /// The reply to `<apex> SOA`, recursion off.
    pub soa: Reply,
    /// The reply to `<name> MX`, recursion off.
    pub mx: Reply,
}

/// One MX target (exchange) and the lookups of its addresses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TargetObservation {
    /// The exchange as written in the MX record.
    pub name: Name,
    /// The reply to `<name> A`; `None` when not looked up (IP literal written as a name).
    pub a: Option<Reply>,
    /// The reply to `<name> AAAA`; `None` when not looked up (IP literal, or IPv6 off).
    pub aaaa: Option<Reply>,
}

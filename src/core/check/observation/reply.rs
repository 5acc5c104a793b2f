//! What one query to one server came back with.
//!
//! The prober keeps the *exact* outcome of every exchange, because the verdict depends on
//! it: a NODATA is a missing record, a timeout is not. [`Reply`] is plain owned data (no
//! wire types) so the checks can be tested by building replies by hand; the wire's reading
//! of a response into one (`Reply::classify`, `Rr::from_record`) is in [`crate::dns`].

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::{Name, RecordType};
use serde::{Deserialize, Serialize};

use crate::name::display_name;

/// The classified outcome of one DNS exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// NOERROR with records of the asked type (directly or at the end of a CNAME chain).
    Answer,
    /// NOERROR, the name exists, no records of the asked type.
    NoData,
    /// The name does not exist.
    NxDomain,
    /// A referral to another zone's servers: the server is not authoritative for the name.
    Referral,
    /// An answer without the AA bit from a server that should be authoritative.
    NotAuthoritative,
    /// The server refused the query.
    Refused,
    /// The server failed (SERVFAIL).
    ServFail,
    /// Another response code (NOTIMP, FORMERR, …).
    OtherRcode,
    /// No usable response within the configured timeouts and retries.
    Timeout,
    /// The response could not be parsed or did not match the query.
    Malformed,
    /// The network said no (connection refused, unreachable) or the socket failed.
    NetworkError,
    /// Not sent: the server's address is not public and private addresses are not allowed.
    NotQueried,
}

impl Outcome {
    /// The label used in evidence and reports.
    pub fn label(self) -> &'static str {
        match self {
            Self::Answer => "ANSWER",
            Self::NoData => "NODATA",
            Self::NxDomain => "NXDOMAIN",
            Self::Referral => "REFERRAL",
            Self::NotAuthoritative => "NOT AUTHORITATIVE",
            Self::Refused => "REFUSED",
            Self::ServFail => "SERVFAIL",
            Self::OtherRcode => "RCODE",
            Self::Timeout => "TIMEOUT",
            Self::Malformed => "MALFORMED",
            Self::NetworkError => "NETWORK ERROR",
            Self::NotQueried => "NOT QUERIED",
        }
    }

    /// Whether the server answered authoritatively about the name (answer, NODATA or
    /// NXDOMAIN), so that its data can be compared with the other servers'.
    pub fn is_authoritative_data(self) -> bool {
        matches!(self, Self::Answer | Self::NoData | Self::NxDomain)
    }

    /// Whether the failure may go away by itself (nothing came back in time, or the
    /// network failed): such an outcome must never be reported as a missing record.
    pub fn is_transient(self) -> bool {
        matches!(self, Self::Timeout | Self::NetworkError)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The record data pecwatch looks at; anything else is kept as its type number.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Data {
    /// An IPv4 address.
    A {
        /// The address.
        address: Ipv4Addr,
    },
    /// An IPv6 address.
    Aaaa {
        /// The address.
        address: Ipv6Addr,
    },
    /// A mail exchange.
    Mx {
        /// The preference: lower is tried first.
        preference: u16,
        /// The host that takes the mail; `.` for a null MX (RFC 7505).
        exchange: Name,
    },
    /// An alias.
    Cname {
        /// The canonical name.
        target: Name,
    },
    /// A name server.
    Ns {
        /// The server's host name.
        host: Name,
    },
    /// The start of authority.
    Soa {
        /// The primary server.
        mname: Name,
        /// The administrator's mailbox, as a name.
        rname: Name,
        /// The zone's serial number.
        serial: u32,
    },
    /// Any other type.
    Other {
        /// Its type number.
        rtype: u16,
    },
}

/// One resource record, names in lower case.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Rr {
    /// Owner name.
    pub name: Name,
    /// Time to live in seconds.
    pub ttl: u32,
    /// The data.
    pub data: Data,
}

impl fmt::Display for Rr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let owner = display_name(&self.name);
        match &self.data {
            Data::A { address } => write!(f, "{owner} A {address}"),
            Data::Aaaa { address } => write!(f, "{owner} AAAA {address}"),
            Data::Mx {
                preference,
                exchange,
            } => write!(f, "{owner} MX {preference} {}", fqdn(exchange)),
            Data::Cname { target } => write!(f, "{owner} CNAME {}", fqdn(target)),
            Data::Ns { host } => write!(f, "{owner} NS {}", fqdn(host)),
            Data::Soa { mname, serial, .. } => {
                write!(f, "{owner} SOA {} serial {serial}", fqdn(mname))
            }
            Data::Other { rtype } => write!(f, "{owner} TYPE{rtype}"),
        }
    }
}

/// A name with its trailing dot, as written in zone files (`.` for the root).
pub fn fqdn(name: &Name) -> String {
    if name.is_root() {
        ".".into()
    } else {
        format!("{}.", display_name(name))
    }
}

/// The classified reply to one query, with the records that matter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reply {
    /// What came back.
    pub outcome: Outcome,
    /// Answer section.
    pub answers: Vec<Rr>,
    /// Authority section (SOA of a negative answer, NS of a referral).
    pub authority: Vec<Rr>,
    /// Additional section (glue).
    pub additional: Vec<Rr>,
    /// The response came over TCP after a truncated UDP response.
    pub via_tcp: bool,
    /// The raw response code, when a response came back.
    pub rcode: Option<u16>,
    /// A human-readable detail for failures (e.g. the parse error).
    pub detail: Option<String>,
}

impl Reply {
    /// A reply that carries no response: timeout, network error, malformed, not queried.
    pub fn failed(outcome: Outcome, detail: impl Into<Option<String>>) -> Self {
        Self {
            outcome,
            answers: Vec::new(),
            authority: Vec::new(),
            additional: Vec::new(),
            via_tcp: false,
            rcode: None,
            detail: detail.into(),
        }
    }

    /// Follows CNAMEs from `qname` in the answer section and returns the chain's targets
    /// (empty when there is no alias) and the records of type `qtype` at its end.
    pub fn chase(&self, qname: &Name, qtype: RecordType) -> (Vec<Name>, Vec<&Rr>) {
        chase(&self.answers, qname, qtype)
    }

    /// The MX records for `qname` (after CNAMEs), sorted and deduplicated.
    pub fn mx_set(&self, qname: &Name) -> Vec<(u16, Name)> {
        let mut set: Vec<(u16, Name)> = self
            .chase(qname, RecordType::MX)
            .1
            .into_iter()
            .filter_map(|rr| match &rr.data {
                Data::Mx {
                    preference,
                    exchange,
                } => Some((*preference, exchange.clone())),
                _ => None,
            })
            .collect();
        set.sort();
        set.dedup();
        set
    }

    /// The SOA serial in the answer section, if any.
    pub fn soa_serial(&self) -> Option<u32> {
        self.answers.iter().find_map(|rr| match rr.data {
            Data::Soa { serial, .. } => Some(serial),
            _ => None,
        })
    }

    /// A one-line summary for evidence: the outcome and the records that matter.
    pub fn summary(&self) -> String {
        let mut text = self.outcome.label().to_string();
        if let Some(code) = self.rcode.filter(|_| self.outcome == Outcome::OtherRcode) {
            text = format!("RCODE {code}");
        }
        if self.via_tcp {
            text.push_str(" (TCP)");
        }
        if !self.answers.is_empty() {
            let records: Vec<String> = self.answers.iter().map(ToString::to_string).collect();
            text.push_str(": ");
            text.push_str(&records.join("; "));
        }
        if let Some(detail) = &self.detail {
            text.push_str(&format!(" [{detail}]"));
        }
        text
    }
}

/// Follows CNAMEs from `qname` in `answers`: the chain's targets (empty when there is no
/// alias) and the records of type `qtype` at its end.
pub(crate) fn chase<'a>(
    answers: &'a [Rr],
    qname: &Name,
    qtype: RecordType,
) -> (Vec<Name>, Vec<&'a Rr>) {
    // Names compare case-insensitively: the owner names need no lower-cased copy of
    // `qname` (this runs several times for every reply of a check).
    let mut current = qname;
    let mut chain: Vec<Name> = Vec::new();
    // A chain longer than the answer section is a loop.
    for _ in 0..=answers.len() {
        let here: Vec<&Rr> = answers
            .iter()
            .filter(|rr| data_type(&rr.data) == Some(qtype) && rr.name == *current)
            .collect();
        if !here.is_empty() {
            return (chain, here);
        }
        let next = answers.iter().find_map(|rr| match &rr.data {
            Data::Cname { target } if rr.name == *current => Some(target),
            _ => None,
        });
        match next {
            Some(target) if !chain.contains(target) => {
                chain.push(target.clone());
                current = target;
            }
            _ => break,
        }
    }
    (chain, Vec::new())
}

fn data_type(data: &Data) -> Option<RecordType> {
    Some(match data {
        Data::A { .. } => RecordType::A,
        Data::Aaaa { .. } => RecordType::AAAA,
        Data::Mx { .. } => RecordType::MX,
        Data::Cname { .. } => RecordType::CNAME,
        Data::Ns { .. } => RecordType::NS,
        Data::Soa { .. } => RecordType::SOA,
        Data::Other { .. } => return None,
    })
}

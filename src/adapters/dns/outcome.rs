//! Reading a response off the wire into what one query came back with.
//!
//! The types ([`Outcome`], [`Reply`], [`Rr`], [`Data`]) are plain data of the core
//! ([`crate::check::observation`]): the checks read them and tests build them by hand.
//! Here is only how a parsed DNS message becomes one.

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::check::observation::chase;
pub use crate::check::observation::{Data, Outcome, Reply, Rr, fqdn};

impl Rr {
    /// Converts a wire record, lower-casing every name in it.
    pub fn from_record(record: &Record) -> Self {
        let data = match &record.data {
            RData::A(a) => Data::A { address: a.0 },
            RData::AAAA(a) => Data::Aaaa { address: a.0 },
            RData::MX(mx) => Data::Mx {
                preference: mx.preference,
                exchange: mx.exchange.to_lowercase(),
            },
            RData::CNAME(c) => Data::Cname {
                target: c.0.to_lowercase(),
            },
            RData::NS(ns) => Data::Ns {
                host: ns.0.to_lowercase(),
            },
            RData::SOA(soa) => Data::Soa {
                mname: soa.mname.to_lowercase(),
                rname: soa.rname.to_lowercase(),
                serial: soa.serial,
            },
            other => Data::Other {
                rtype: u16::from(other.record_type()),
            },
        };
        Self {
            name: record.name.to_lowercase(),
            ttl: record.ttl,
            data,
        }
    }
}

/// The three record sections of a response, converted as [`Rr::from_record`] does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sections {
    /// Answer section.
    pub answers: Vec<Rr>,
    /// Authority section.
    pub authority: Vec<Rr>,
    /// Additional section, without the OPT record.
    pub additional: Vec<Rr>,
}

impl Reply {
    /// Classifies a parsed response to the query `(qname, qtype)`.
    ///
    /// `expect_authoritative` is true for queries sent directly to a zone's servers with
    /// recursion off: there, an answer without the AA bit is [`Outcome::NotAuthoritative`]
    /// and an NS-only authority section without AA is a [`Outcome::Referral`].
    pub fn classify(
        message: &Message,
        qname: &Name,
        qtype: RecordType,
        expect_authoritative: bool,
    ) -> Self {
        let sections = Sections {
            answers: message.answers.iter().map(Rr::from_record).collect(),
            authority: message.authorities.iter().map(Rr::from_record).collect(),
            additional: message.additionals.iter().map(Rr::from_record).collect(),
        };
        let (aa, rcode) = (
            message.metadata.authoritative,
            message.metadata.response_code,
        );
        Self::classify_sections(sections, aa, rcode, qname, qtype, expect_authoritative)
    }

    /// [`Reply::classify`] from the sections already converted ([`Rr::from_record`]), the
    /// AA bit and the response code (with its EDNS0 high bits).
    pub fn classify_sections(
        sections: Sections,
        aa: bool,
        rcode: ResponseCode,
        qname: &Name,
        qtype: RecordType,
        expect_authoritative: bool,
    ) -> Self {
        let Sections {
            answers,
            authority,
            additional,
        } = sections;
        let outcome = match rcode {
            ResponseCode::NoError => {
                let has_data = !chase(&answers, qname, qtype).1.is_empty();
                let referral = !aa
                    && answers.is_empty()
                    && authority
                        .iter()
                        .any(|rr| matches!(rr.data, Data::Ns { .. }))
                    && !authority
                        .iter()
                        .any(|rr| matches!(rr.data, Data::Soa { .. }));
                if referral {
                    Outcome::Referral
                } else if expect_authoritative && !aa {
                    Outcome::NotAuthoritative
                } else if has_data {
                    Outcome::Answer
                } else {
                    Outcome::NoData
                }
            }
            ResponseCode::NXDomain if expect_authoritative && !aa => Outcome::NotAuthoritative,
            ResponseCode::NXDomain => Outcome::NxDomain,
            ResponseCode::Refused => Outcome::Refused,
            ResponseCode::ServFail => Outcome::ServFail,
            _ => Outcome::OtherRcode,
        };
        Self {
            outcome,
            answers,
            authority,
            additional,
            via_tcp: false,
            rcode: Some(u16::from(rcode)),
            detail: None,
        }
    }
}

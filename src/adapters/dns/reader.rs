//! A quick reader of the responses that make up nearly every check, beside hickory's
//! full [`Message`](hickory_proto::op::Message) parser.
//!
//! It walks the message once and converts each record straight into an [`Rr`], without
//! building a `Message` (a vector of `Record`s with their `RData`, then converted and
//! dropped): that round trip was the largest part of the receive path's CPU. It reads
//! only a conservative subset of DNS, and for that subset it decides exactly what
//! hickory decides:
//!
//! - opcode QUERY, at most one question;
//! - in every section only A, AAAA, NS, CNAME, MX and SOA records with data (RDLENGTH > 0),
//!   and in the additional section at most one OPT record, with the root as owner and no
//!   options;
//! - names, numbers and record lengths read with hickory's own decoder, and every record's
//!   data exactly as long as its RDLENGTH says.
//!
//! Anything else (another record type, an error hickory would report, an EDNS option)
//! gives `None`, and the caller parses the message with hickory as before: what is
//! accepted, rejected and observed does not change. The `agrees_with_hickory` tests hold
//! the two readers to the same results on real and mutated messages.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::outcome::{Data, Rr, Sections};

/// Length of the fixed DNS header.
const HEADER_LEN: usize = 12;
/// The OPT pseudo-record's type.
const OPT: u16 = 41;

/// What [`read`] took from a response.
#[derive(Debug)]
pub(super) struct Quick {
    /// The AA bit.
    pub authoritative: bool,
    /// The TC bit.
    pub truncation: bool,
    /// The response code, with the OPT record's high bits.
    pub rcode: ResponseCode,
    /// The question: name as on the wire, type, class.
    pub question: Option<(Name, RecordType, u16)>,
    /// The sections.
    pub sections: Sections,
}

/// Reads `bytes` if they are in the subset described above; `None` otherwise (then
/// hickory decides). Never panics.
pub(super) fn read(bytes: &[u8]) -> Option<Quick> {
    let header = bytes.get(..HEADER_LEN)?;
    let (flags, low) = (header[2], header[3] & 0x0f);
    if flags & 0x78 != 0 {
        return None; // opcode other than QUERY
    }
    let count = |at: usize| u16::from_be_bytes([header[at], header[at + 1]]);
    let (questions, answers, authority, additional) = (count(4), count(6), count(8), count(10));
    let mut decoder = BinDecoder::new(bytes);
    decoder.read_slice(HEADER_LEN).ok()?;
    let question = match questions {
        0 => None,
        1 => {
            let name = Name::read(&mut decoder).ok()?;
            let qtype = decoder.read_u16().ok()?.unverified(/*any type*/);
            let qclass = decoder.read_u16().ok()?.unverified(/*any class*/);
            Some((name, RecordType::from(qtype), qclass))
        }
        _ => return None,
    };
    let mut sections = Sections {
        answers: section(&mut decoder, answers)?,
        authority: section(&mut decoder, authority)?,
        // Allocated at the first record with data: the usual additional section holds
        // only the OPT record, and an empty reply section should not hold memory (an `Rr`
        // is 256 bytes, and replies are kept in the caches and observations).
        additional: Vec::new(),
    };
    let mut rcode_high = None;
    for left in (1..=additional).rev() {
        match record(&mut decoder)? {
            Ok(rr) => {
                if sections.additional.capacity() == 0 {
                    sections.additional.reserve_exact(usize::from(left).min(8));
                }
                sections.additional.push(rr);
            }
            Err(_) if rcode_high.is_some() => return None,
            Err(rcode) => rcode_high = Some(rcode),
        }
    }
    let rcode = match rcode_high {
        Some(high) => ResponseCode::from(high, low),
        None => ResponseCode::from_low(low),
    };
    Some(Quick {
        authoritative: flags & 0x04 != 0,
        truncation: flags & 0x02 != 0,
        rcode,
        question,
        sections,
    })
}

/// The records of the answer or authority section (no OPT there).
fn section(decoder: &mut BinDecoder<'_>, count: u16) -> Option<Vec<Rr>> {
    let mut records = Vec::with_capacity(usize::from(count).min(8));
    for _ in 0..count {
        records.push(record(decoder)?.ok()?);
    }
    Some(records)
}

/// One record of the subset, or `None`: a record with data, or an OPT record without
/// options (`Err` with the high bits of the response code).
fn record(decoder: &mut BinDecoder<'_>) -> Option<Result<Rr, u8>> {
    let name = Name::read(decoder).ok()?;
    let rtype = decoder.read_u16().ok()?.unverified(/*checked below*/);
    let _class = decoder.read_u16().ok()?.unverified(/*any class*/);
    let ttl = decoder.read_u32().ok()?.unverified(/*any u32*/);
    let length = usize::from(decoder.read_u16().ok()?.unverified(/*checked below*/));
    if length > decoder.len() {
        return None;
    }
    if rtype == OPT {
        // hickory: an OPT owner must be the root; no data is an empty option list.
        return (name.is_root() && length == 0).then_some(Err((ttl >> 24) as u8));
    }
    if length == 0 {
        return None; // hickory: an UPDATE-style empty record, an error in a response
    }
    let start = decoder.index();
    let data = match RecordType::from(rtype) {
        RecordType::A => {
            let octets: [u8; 4] = decoder.read_slice(4).ok()?.unverified().try_into().ok()?;
            Data::A {
                address: octets.into(),
            }
        }
        RecordType::AAAA => {
            let octets: [u8; 16] = decoder.read_slice(16).ok()?.unverified().try_into().ok()?;
            Data::Aaaa {
                address: octets.into(),
            }
        }
        RecordType::NS => Data::Ns {
            host: lower(Name::read(decoder).ok()?),
        },
        RecordType::CNAME => Data::Cname {
            target: lower(Name::read(decoder).ok()?),
        },
        RecordType::MX => {
            let preference = decoder.read_u16().ok()?.unverified(/*any u16*/);
            let exchange = lower(Name::read(decoder).ok()?);
            Data::Mx {
                preference,
                exchange,
            }
        }
        RecordType::SOA => {
            let mname = lower(Name::read(decoder).ok()?);
            let rname = lower(Name::read(decoder).ok()?);
            let serial = decoder.read_u32().ok()?.unverified(/*any u32*/);
            // Refresh, retry, expire, minimum: read, not kept.
            decoder.read_slice(16).ok()?;
            Data::Soa {
                mname,
                rname,
                serial,
            }
        }
        _ => return None,
    };
    // hickory: the data must be exactly RDLENGTH long.
    if decoder.index() - start != length {
        return None;
    }
    Some(Ok(Rr {
        name: lower(name),
        ttl,
        data,
    }))
}

/// The name in lower case ([`Name::to_lowercase`]), without a copy when it already is.
fn lower(name: Name) -> Name {
    if name.iter().flatten().any(u8::is_ascii_uppercase) {
        name.to_lowercase()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
    use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, SOA, TXT};
    use hickory_proto::rr::{DNSClass, RData, Record as HRecord};
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    use super::*;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    /// What hickory's parser and [`Rr::from_record`] make of the same bytes.
    fn reference(bytes: &[u8]) -> Option<Quick> {
        let message = Message::from_vec(bytes).ok()?;
        let convert = |records: &[HRecord]| records.iter().map(Rr::from_record).collect();
        Some(Quick {
            authoritative: message.metadata.authoritative,
            truncation: message.metadata.truncation,
            rcode: message.metadata.response_code,
            question: match message.queries.as_slice() {
                [] => None,
                [q] => Some((q.name.clone(), q.query_type, u16::from(q.query_class))),
                _ => return None,
            },
            sections: Sections {
                answers: convert(&message.answers),
                authority: convert(&message.authorities),
                additional: convert(&message.additionals),
            },
        })
    }

    /// Whenever the quick reader reads a message, hickory reads it too, to the same
    /// result (names compared case-sensitively, as the JSON output would show them).
    fn agree(bytes: &[u8]) -> bool {
        let Some(quick) = read(bytes) else {
            return false;
        };
        let Some(slow) = reference(bytes) else {
            panic!("quick reader accepted what hickory rejects: {bytes:02x?}");
        };
        assert_eq!(quick.authoritative, slow.authoritative);
        assert_eq!(quick.truncation, slow.truncation);
        assert_eq!(quick.rcode, slow.rcode);
        assert_eq!(quick.question, slow.question);
        assert_eq!(quick.sections, slow.sections);
        // Names compare case-insensitively: the debug form shows the exact bytes.
        assert_eq!(
            format!("{:?}", quick.sections),
            format!("{:?}", slow.sections)
        );
        true
    }

    /// Responses of the lab's Knot servers, as captured on the wire (id 0x1234): an MX
    /// answer, NODATA with SOA, an NS answer, NXDOMAIN, two referrals with glue, and the
    /// root's answer for `it NS`.
    const LAB: &[&str] = &[
        "12348400000100010000000104706563320b62656e636830303030323302697400000f0001c00c000f00010000003c0011000a026d7803706563056172756261c01d00002904d0000000000000",
        "12348400000100000001000104706563320b62656e63683030303032330269740000060001c0110006000100000005002d036e73310562656e6368c01d0a686f73746d6173746572c0350000000100000e1000000258000151800000000500002904d0000000000000",
        "1234840000010002000000010b62656e63683030303032330269740000020001c00c000200010000003c000c036e73310562656e6368c018c00c000200010000003c0006036e7332c03000002904d0000000000000",
        "123484030001000000010001046e6f70650b62656e636830303030323302697400000f0001c0110006000100000005002d036e73310562656e6368c01d0a686f73746d6173746572c0350000000100000e1000000258000151800000000500002904d0000000000000",
        "1234800000010000000200030b62656e63683030303032330269740000060001c00c000200010000003c000c036e73310562656e6368c018c00c000200010000003c0006036e7332c030c02c000100010000003c00047f350301c044000100010000003c00047f35030200002904d0000000000000",
        "12348000000100000002000304706563320b62656e63683030303032330269740000060001c011000200010000003c000c036e73310562656e6368c01dc011000200010000003c0006036e7332c035c031000100010000003c00047f350301c049000100010000003c00047f35030200002904d0000000000000",
        "1234800000010000000100020269740000020001c00c000200010000003c00080161036e6963c00cc020000100010000003c00047f35000200002904d0000000000000",
    ];

    fn decode_hex(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).unwrap())
            .collect()
    }

    /// A response with every record type the quick reader takes, compressed names,
    /// mixed case and an OPT record.
    fn sample(rcode_high: u8) -> Message {
        let mut message = Message::response(4321, OpCode::Query);
        message.metadata.authoritative = true;
        message.metadata.response_code = ResponseCode::NXDomain;
        message.add_query(Query::query(name("Pec.Example.IT."), RecordType::MX));
        let owner = name("pec.example.it.");
        let mx = MX::new(10, name("MX.pec.aruba.it."));
        message.add_answer(HRecord::from_rdata(owner.clone(), 300, RData::MX(mx)));
        let cname = RData::CNAME(CNAME(name("Alias.example.it.")));
        message.add_answer(HRecord::from_rdata(name("www.example.it."), 60, cname));
        let soa = SOA::new(
            name("ns1.Example.it."),
            name("hostmaster.example.it."),
            2024010101,
            3600,
            600,
            86400,
            300,
        );
        message.add_authority(HRecord::from_rdata(
            name("example.it."),
            300,
            RData::SOA(soa),
        ));
        let ns = RData::NS(NS(name("NS2.example.it.")));
        message.add_authority(HRecord::from_rdata(name("example.it."), 300, ns));
        let a = RData::A(A(Ipv4Addr::new(192, 0, 2, 1)));
        message.add_additional(HRecord::from_rdata(name("ns1.example.it."), 300, a));
        let aaaa = RData::AAAA(AAAA(Ipv6Addr::LOCALHOST));
        message.add_additional(HRecord::from_rdata(name("ns1.example.it."), 300, aaaa));
        let mut edns = Edns::new();
        edns.set_max_payload(1232).set_rcode_high(rcode_high);
        message.set_edns(edns);
        message
    }

    #[test]
    fn reads_what_hickory_reads() {
        for high in [0, 1] {
            let bytes = sample(high).to_vec().unwrap();
            assert!(agree(&bytes), "the sample is in the subset");
        }
        // Without OPT, without a question.
        let mut message = sample(0);
        message.edns = None;
        message.queries.clear();
        assert!(agree(&message.to_vec().unwrap()));
    }

    #[test]
    fn leaves_the_rest_to_hickory() {
        let mut txt = sample(0);
        let data = RData::TXT(TXT::new(vec!["v=spf1 -all".into()]));
        txt.add_answer(HRecord::from_rdata(name("example.it."), 60, data));
        assert!(read(&txt.to_vec().unwrap()).is_none());
        let mut update = sample(0);
        update.metadata.op_code = OpCode::Update;
        assert!(read(&update.to_vec().unwrap()).is_none());
        let mut two = sample(0);
        two.add_query(Query::query(name("other.it."), RecordType::A));
        assert!(read(&two.to_vec().unwrap()).is_none());
        let mut query = sample(0);
        query.metadata.message_type = MessageType::Query;
        // The QR bit is the transport's business: read like hickory.
        assert!(agree(&query.to_vec().unwrap()));
        let mut chaos = sample(0);
        chaos.answers[0].dns_class = DNSClass::CH;
        assert!(agree(&chaos.to_vec().unwrap()));
    }

    /// Random mutations of real responses: wherever the quick reader reads, hickory
    /// reads the same; and it reads the unmutated ones.
    #[test]
    fn agrees_with_hickory() {
        let mut rng = StdRng::seed_from_u64(18);
        let seeds: Vec<Vec<u8>> = [sample(0), sample(3)]
            .iter()
            .map(|m| m.to_vec().unwrap())
            .chain(LAB.iter().map(|hex| decode_hex(hex)))
            .collect();
        let mut read_count = 0;
        for seed in &seeds {
            assert!(agree(seed));
            for _ in 0..4000 {
                let mut bytes = seed.clone();
                for _ in 0..rng.random_range(1..4) {
                    match rng.random_range(0..4) {
                        0 if !bytes.is_empty() => {
                            let at = rng.random_range(0..bytes.len());
                            bytes[at] = rng.random();
                        }
                        1 if !bytes.is_empty() => {
                            let at = rng.random_range(0..bytes.len());
                            bytes[at] ^= 1 << rng.random_range(0..8);
                        }
                        2 if !bytes.is_empty() => {
                            bytes.truncate(rng.random_range(0..bytes.len()));
                        }
                        _ => bytes.push(rng.random()),
                    }
                }
                if agree(&bytes) {
                    read_count += 1;
                }
            }
        }
        // The mutations do not all fall outside the subset.
        assert!(read_count > 1000, "{read_count}");
    }

    /// Purely random bytes behind a plausible header.
    #[test]
    fn agrees_on_random_bytes() {
        let mut rng = StdRng::seed_from_u64(2026);
        for _ in 0..20_000 {
            let len = rng.random_range(0..300);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            if bytes.len() >= 12 {
                bytes[2] &= 0x87;
                for at in [4, 6, 8, 10] {
                    bytes[at] = 0;
                    bytes[at + 1] &= 3;
                }
            }
            agree(&bytes);
        }
    }
}

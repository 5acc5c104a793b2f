//! `parse_response` on arbitrary bytes for a fixed question: never panics; what it accepts
//! can be summarised and inspected.
//!
//! The message id is taken from the input itself, so that the fuzzer spends its time past
//! the id check.

#![no_main]

use hickory_proto::rr::{Name, RecordType};
use libfuzzer_sys::fuzz_target;
use pecwatch::dns::transport::parse_response;

fuzz_target!(|data: &[u8]| {
    let Ok(qname) = Name::from_ascii("pec.example.it.") else {
        return;
    };
    let id = match data {
        [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
        _ => 0,
    };
    for (qtype, recursion) in [(RecordType::MX, false), (RecordType::A, true)] {
        if let Ok(reply) = parse_response(data, id, &qname, qtype, recursion) {
            let _ = reply.summary();
            let _ = reply.mx_set(&qname);
            let _ = reply.chase(&qname, qtype);
            let _ = reply.soa_serial();
        }
    }
});

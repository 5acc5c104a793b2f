//! The DNSSEC validator on arbitrary DNS messages: DNSKEY, DS, RRSIG, NSEC and NSEC3
//! records as they come off the wire (hickory-proto's parser), then every validation step
//! (`pecwatch::dnssec::validate::validate_message`): keys from DS and from an anchor,
//! signatures, NSEC/NSEC3 denial of a DS. Never panics, whatever the records say.

#![no_main]

use hickory_proto::op::Message;
use hickory_proto::rr::Name;
use libfuzzer_sys::fuzz_target;
use pecwatch::dnssec::validate::validate_message;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = Message::from_vec(data) else {
        return;
    };
    let now = 1_780_000_000;
    for (zone, name) in [(".", "it."), ("example.it.", "pec.example.it.")] {
        if let (Ok(zone), Ok(name)) = (Name::from_ascii(zone), Name::from_ascii(name)) {
            let _ = validate_message(&message, &zone, &name, now);
        }
    }
});

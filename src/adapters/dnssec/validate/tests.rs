//! The validator's steps on zones signed here, in memory, with Ed25519 keys made for
//! each test (signature windows chosen freely: expired, not yet valid, tampered).

use std::net::Ipv4Addr;

use hickory_proto::dnssec::crypto::Ed25519SigningKey;
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, NSEC, NSEC3, RRSIG, SigInput};
use hickory_proto::dnssec::{Algorithm, DigestType, Nsec3HashAlgorithm, SigningKey, TBS};
use hickory_proto::rr::rdata::{A, MX};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, SerialNumber};

use super::*;

pub(crate) const NOW: i64 = 1_780_000_000;
pub(crate) const DAY: i64 = 86_400;

pub(crate) fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

/// A zone's key pair and its DNSKEY.
pub(crate) struct Key {
    signing: Ed25519SigningKey,
    dnskey: DNSKEY,
}

impl Key {
    fn new(ksk: bool) -> Self {
        let pkcs8 = Ed25519SigningKey::generate_pkcs8().unwrap();
        let signing = Ed25519SigningKey::from_pkcs8(&pkcs8).unwrap();
        let dnskey = DNSKEY::new(true, ksk, false, signing.to_public_key().unwrap());
        Self { signing, dnskey }
    }

    fn tag(&self) -> u16 {
        self.dnskey.calculate_key_tag().unwrap()
    }

    /// The DS of this key for `zone` (SHA-256).
    pub(crate) fn ds(&self, zone: &Name) -> DS {
        let digest = self.dnskey.to_digest(zone, DigestType::SHA256).unwrap();
        DS::new(
            self.tag(),
            Algorithm::ED25519,
            DigestType::SHA256,
            digest.as_ref().to_vec(),
        )
    }

    fn record(&self, zone: &Name) -> Record {
        dnssec_record(zone, DNSSECRData::DNSKEY(self.dnskey.clone()))
    }

    /// An RRSIG over the `(owner, type)` records of `records`, by `signer`, valid from
    /// `inception` to `expiration`.
    fn sign(
        &self,
        signer: &Name,
        records: &[Record],
        owner: &Name,
        rtype: RecordType,
        window: (i64, i64),
    ) -> Record {
        let input = SigInput {
            type_covered: rtype,
            algorithm: Algorithm::ED25519,
            num_labels: owner.num_labels(),
            original_ttl: 3600,
            sig_expiration: SerialNumber::new(window.1 as u32),
            sig_inception: SerialNumber::new(window.0 as u32),
            key_tag: self.tag(),
            signer_name: signer.clone(),
        };
        let set: Vec<&Record> = records
            .iter()
            .filter(|r| r.name == *owner && r.record_type() == rtype)
            .collect();
        let tbs = TBS::from_input(owner, DNSClass::IN, &input, set.into_iter()).unwrap();
        let sig = self.signing.sign(&tbs).unwrap();
        dnssec_record(owner, DNSSECRData::RRSIG(RRSIG::from_sig(input, sig)))
    }
}

pub(crate) fn dnssec_record(owner: &Name, data: DNSSECRData) -> Record {
    Record::from_rdata(owner.clone(), 3600, RData::DNSSEC(data))
}

pub(crate) fn valid() -> (i64, i64) {
    (NOW - DAY, NOW + 20 * DAY)
}

fn sigs_in(records: &[Record]) -> Vec<RRSIG> {
    records
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Some(sig.clone()),
            _ => None,
        })
        .collect()
}

/// A signed zone: KSK and ZSK, the DNSKEY answer signed by the KSK.
pub(crate) struct Zone {
    pub(crate) apex: Name,
    pub(crate) ksk: Key,
    pub(crate) zsk: Key,
}

impl Zone {
    pub(crate) fn new(apex: &str) -> Self {
        Self {
            apex: name(apex),
            ksk: Key::new(true),
            zsk: Key::new(false),
        }
    }

    pub(crate) fn dnskey_answer(&self, window: (i64, i64)) -> Vec<Record> {
        let mut records = vec![self.ksk.record(&self.apex), self.zsk.record(&self.apex)];
        let sig = self
            .ksk
            .sign(&self.apex, &records, &self.apex, RecordType::DNSKEY, window);
        records.push(sig);
        records
    }

    fn trusted(&self) -> ZoneKeys {
        let answer = self.dnskey_answer(valid());
        let ds = [self.ksk.ds(&self.apex)];
        match zone_keys(
            &self.apex,
            &answer,
            &sigs_in(&answer),
            Designation::Ds(&ds),
            NOW,
        ) {
            Ok(KeysOutcome::Trusted(keys)) => keys,
            other => panic!("{other:?}"),
        }
    }

    /// Records signed by the ZSK.
    pub(crate) fn signed(
        &self,
        mut records: Vec<Record>,
        owner: &Name,
        rtype: RecordType,
        window: (i64, i64),
    ) -> Vec<Record> {
        let sig = self.zsk.sign(&self.apex, &records, owner, rtype, window);
        records.push(sig);
        records
    }
}

pub(crate) fn mx(owner: &Name, exchange: &str) -> Record {
    Record::from_rdata(owner.clone(), 3600, RData::MX(MX::new(10, name(exchange))))
}

#[test]
fn a_zone_signed_as_its_ds_says_is_secure() {
    let zone = Zone::new("example.it.");
    let keys = zone.trusted();
    assert_eq!(keys.signature.key_tag, zone.ksk.tag());
    assert_eq!(keys.signature.expiration, NOW + 20 * DAY);
    assert_eq!(keys.served.len(), 2);
    let owner = name("pec.example.it.");
    let answer = zone.signed(
        vec![mx(&owner, "mx.pec.aruba.it.")],
        &owner,
        RecordType::MX,
        (NOW - DAY, NOW + 2 * DAY),
    );
    let sig = verify_rrset(
        &keys,
        &owner,
        RecordType::MX,
        &answer,
        &sigs_in(&answer),
        NOW,
    )
    .unwrap();
    assert_eq!(sig.key_tag, zone.zsk.tag());
    assert_eq!(sig.expiration, NOW + 2 * DAY);
    assert_eq!(sig.rrset, "pec.example.it. MX");
}

#[test]
fn the_latest_expiring_valid_signature_counts() {
    let zone = Zone::new("example.it.");
    let keys = zone.trusted();
    let owner = name("pec.example.it.");
    let records = vec![mx(&owner, "mx.pec.aruba.it.")];
    let mut answer = zone.signed(records.clone(), &owner, RecordType::MX, valid());
    answer.push(zone.zsk.sign(
        &zone.apex,
        &records,
        &owner,
        RecordType::MX,
        (NOW - 9 * DAY, NOW - DAY),
    ));
    let sig = verify_rrset(
        &keys,
        &owner,
        RecordType::MX,
        &answer,
        &sigs_in(&answer),
        NOW,
    );
    assert_eq!(sig.unwrap().expiration, NOW + 20 * DAY);
}

#[test]
fn a_ds_without_keys_is_an_orphan() {
    let zone = Zone::new("example.it.");
    let ds = [zone.ksk.ds(&zone.apex)];
    let err = zone_keys(&zone.apex, &[], &[], Designation::Ds(&ds), NOW).unwrap_err();
    assert_eq!(
        err,
        Bogus::NoDnskey {
            zone: "example.it.".into(),
            ds: vec![DsInfo::of(&ds[0])],
        }
    );
}

#[test]
fn a_ds_with_a_wrong_digest_matches_no_key() {
    let zone = Zone::new("example.it.");
    let good = zone.ksk.ds(&zone.apex);
    let mut digest = good.digest().to_vec();
    digest[0] ^= 0xff;
    let wrong = [DS::new(
        good.key_tag(),
        good.algorithm(),
        good.digest_type(),
        digest,
    )];
    let answer = zone.dnskey_answer(valid());
    let err = zone_keys(
        &zone.apex,
        &answer,
        &sigs_in(&answer),
        Designation::Ds(&wrong),
        NOW,
    )
    .unwrap_err();
    let Bogus::NoKeyForDs { keys, ds, .. } = err else {
        panic!("{err:?}");
    };
    assert_eq!(ds[0].key_tag, zone.ksk.tag());
    let mut tags: Vec<u16> = keys.iter().map(|k| k.key_tag).collect();
    tags.sort_unstable();
    let mut expected = vec![zone.ksk.tag(), zone.zsk.tag()];
    expected.sort_unstable();
    assert_eq!(tags, expected);
    // A DS of another key altogether: the same.
    let other = [Key::new(true).ds(&zone.apex)];
    let err = zone_keys(
        &zone.apex,
        &answer,
        &sigs_in(&answer),
        Designation::Ds(&other),
        NOW,
    );
    assert!(matches!(err, Err(Bogus::NoKeyForDs { .. })));
}

#[test]
fn expired_and_future_signatures_are_bogus_with_their_window() {
    let zone = Zone::new("example.it.");
    let ds = [zone.ksk.ds(&zone.apex)];
    for (window, expired) in [
        ((NOW - 9 * DAY, NOW - DAY), true),
        ((NOW + DAY, NOW + 9 * DAY), false),
    ] {
        let answer = zone.dnskey_answer(window);
        let err = zone_keys(
            &zone.apex,
            &answer,
            &sigs_in(&answer),
            Designation::Ds(&ds),
            NOW,
        )
        .unwrap_err();
        let signature = match (&err, expired) {
            (Bogus::Expired { signature }, true) => signature,
            (Bogus::NotYetValid { signature }, false) => signature,
            _ => panic!("{err:?}"),
        };
        assert_eq!((signature.inception, signature.expiration), window);
        assert_eq!(signature.rrset, "example.it. DNSKEY");
    }
}

#[test]
fn tampered_unsigned_and_foreign_data_is_bogus() {
    let zone = Zone::new("example.it.");
    let keys = zone.trusted();
    let owner = name("pec.example.it.");
    let mut answer = zone.signed(
        vec![mx(&owner, "mx.pec.aruba.it.")],
        &owner,
        RecordType::MX,
        valid(),
    );
    let sigs = sigs_in(&answer);
    answer[0] = mx(&owner, "mx.elsewhere.it.");
    let err = verify_rrset(&keys, &owner, RecordType::MX, &answer, &sigs, NOW).unwrap_err();
    assert!(matches!(err, Bogus::BadSignature { .. }), "{err:?}");
    // No signature at all.
    let err = verify_rrset(&keys, &owner, RecordType::MX, &answer, &[], NOW).unwrap_err();
    assert_eq!(
        err,
        Bogus::Unsigned {
            rrset: "pec.example.it. MX".into(),
            zone: "example.it.".into()
        }
    );
    // Signed by a key the zone does not publish.
    let stranger = Key::new(false);
    let records = vec![mx(&owner, "mx.pec.aruba.it.")];
    let sig = stranger.sign(&zone.apex, &records, &owner, RecordType::MX, valid());
    let err = verify_rrset(
        &keys,
        &owner,
        RecordType::MX,
        &records,
        &sigs_in(&[sig]),
        NOW,
    )
    .unwrap_err();
    assert!(matches!(err, Bogus::UnknownKey { .. }), "{err:?}");
    // A DNSKEY set signed only by the ZSK: the DS's key did not sign it.
    let mut dnskeys = vec![zone.ksk.record(&zone.apex), zone.zsk.record(&zone.apex)];
    dnskeys.push(zone.zsk.sign(
        &zone.apex,
        &dnskeys,
        &zone.apex,
        RecordType::DNSKEY,
        valid(),
    ));
    let ds = [zone.ksk.ds(&zone.apex)];
    let err = zone_keys(
        &zone.apex,
        &dnskeys,
        &sigs_in(&dnskeys),
        Designation::Ds(&ds),
        NOW,
    );
    assert!(matches!(err, Err(Bogus::UnknownKey { .. })), "{err:?}");
}

#[test]
fn unsupported_algorithms_make_the_zone_insecure_not_bogus() {
    let zone = Zone::new("example.it.");
    let good = zone.ksk.ds(&zone.apex);
    for ds in [
        DS::new(
            good.key_tag(),
            Algorithm::Unknown(253),
            DigestType::SHA256,
            good.digest().to_vec(),
        ),
        DS::new(
            good.key_tag(),
            good.algorithm(),
            DigestType::Unknown(9),
            good.digest().to_vec(),
        ),
    ] {
        let outcome = zone_keys(&zone.apex, &[], &[], Designation::Ds(&[ds]), NOW).unwrap();
        assert!(matches!(outcome, KeysOutcome::Unsupported));
    }
}

#[test]
fn a_trust_anchor_given_as_dnskey() {
    let zone = Zone::new(".");
    let answer = zone.dnskey_answer(valid());
    let anchor = [zone.ksk.dnskey.clone()];
    let outcome = zone_keys(
        &zone.apex,
        &answer,
        &sigs_in(&answer),
        Designation::Keys(&anchor),
        NOW,
    );
    assert!(matches!(outcome, Ok(KeysOutcome::Trusted(_))));
    let other = [Key::new(true).dnskey];
    let outcome = zone_keys(
        &zone.apex,
        &answer,
        &sigs_in(&answer),
        Designation::Keys(&other),
        NOW,
    );
    assert!(matches!(outcome, Err(Bogus::NoKeyForDs { .. })));
}

pub(crate) fn nsec(zone: &Zone, owner: &str, next: &str, types: &[RecordType]) -> Vec<Record> {
    let owner = name(owner);
    let record = dnssec_record(
        &owner,
        DNSSECRData::NSEC(NSEC::new(name(next), types.iter().copied())),
    );
    zone.signed(vec![record], &owner, RecordType::NSEC, valid())
}

#[test]
fn nsec_proves_unsigned_delegations_and_names_inside_the_zone() {
    let it = Zone::new("it.");
    let keys = it.trusted();
    let child = name("example.it.");
    use RecordType::*;
    let cases = [
        (
            nsec(&it, "example.it.", "fine.it.", &[NS, RRSIG, NSEC]),
            Ok(Denial::UnsignedDelegation),
        ),
        (
            nsec(&it, "example.it.", "fine.it.", &[A, RRSIG, NSEC]),
            Ok(Denial::NotDelegation),
        ),
        (
            nsec(&it, "alpha.it.", "zulu.it.", &[NS, RRSIG, NSEC]),
            Ok(Denial::NotDelegation),
        ),
    ];
    for (authority, expected) in cases {
        assert_eq!(deny_ds(&keys, &child, &authority, NOW), expected);
    }
    // A bitmap with DS contradicts the denial; no covering record proves nothing.
    for authority in [
        nsec(&it, "example.it.", "fine.it.", &[NS, DS, RRSIG, NSEC]),
        nsec(&it, "fine.it.", "zulu.it.", &[NS, RRSIG, NSEC]),
        Vec::new(),
    ] {
        assert_eq!(
            deny_ds(&keys, &child, &authority, NOW),
            Err(Bogus::NoDenialProof {
                name: "example.it.".into(),
                zone: "it.".into()
            })
        );
    }
    // An unsigned NSEC proves nothing either.
    let mut unsigned = nsec(&it, "example.it.", "fine.it.", &[NS, RRSIG, NSEC]);
    unsigned.pop();
    assert!(matches!(
        deny_ds(&keys, &child, &unsigned, NOW),
        Err(Bogus::Unsigned { .. })
    ));
    // The last NSEC of the zone wraps around to the apex.
    let last = nsec(&it, "alpha.it.", "it.", &[NS, RRSIG, NSEC]);
    assert_eq!(
        deny_ds(&keys, &child, &last, NOW),
        Ok(Denial::NotDelegation)
    );
}

/// An NSEC3 record of `zone` for the hash `owner`, spanning to `next`.
fn nsec3(
    zone: &Zone,
    owner: &[u8],
    next: &[u8],
    opt_out: bool,
    iterations: u16,
    types: &[RecordType],
) -> Vec<Record> {
    let label = BASE32_DNSSEC.encode(owner);
    let owner = Name::from_ascii(&label)
        .unwrap()
        .append_name(&zone.apex)
        .unwrap();
    let record = dnssec_record(
        &owner,
        DNSSECRData::NSEC3(NSEC3::new(
            Nsec3HashAlgorithm::SHA1,
            opt_out,
            iterations,
            vec![0xab, 0xcd],
            next.to_vec(),
            types.iter().copied(),
        )),
    );
    zone.signed(vec![record], &owner, RecordType::NSEC3, valid())
}

fn hash(text: &str, iterations: u16) -> Vec<u8> {
    Nsec3HashAlgorithm::SHA1
        .hash(&[0xab, 0xcd], &name(text), iterations)
        .unwrap()
        .as_ref()
        .to_vec()
}

/// A hash just below or above another (for spans around it).
fn nudge(hash: &[u8], up: bool) -> Vec<u8> {
    let mut out = hash.to_vec();
    let last = out.len() - 1;
    out[last] = if up {
        out[last].wrapping_add(1)
    } else {
        out[last].wrapping_sub(1)
    };
    out
}

#[test]
fn nsec3_proves_opt_out_and_unsigned_delegations() {
    use RecordType::*;
    let it = Zone::new("it.");
    let keys = it.trusted();
    let child = name("example.it.");
    let apex_hash = hash("it.", 1);
    let child_hash = hash("example.it.", 1);
    let encloser = nsec3(
        &it,
        &apex_hash,
        &nudge(&apex_hash, true),
        false,
        1,
        &[SOA, NS, DNSKEY],
    );
    let span = |opt_out| {
        nsec3(
            &it,
            &nudge(&child_hash, false),
            &nudge(&child_hash, true),
            opt_out,
            1,
            &[A],
        )
    };
    // Opt-out: the child is an insecure delegation (RFC 5155 §8.6).
    let authority = [encloser.clone(), span(true)].concat();
    assert_eq!(deny_ds(&keys, &child, &authority, NOW), Ok(Denial::OptOut));
    // Without opt-out the name does not exist: no delegation.
    let authority = [encloser.clone(), span(false)].concat();
    assert_eq!(
        deny_ds(&keys, &child, &authority, NOW),
        Ok(Denial::NotDelegation)
    );
    // The covering record alone, without the closest encloser: no proof.
    assert!(deny_ds(&keys, &child, &span(true), NOW).is_err());
    // A matching NSEC3 with NS and no DS: an unsigned delegation.
    let exact = nsec3(&it, &child_hash, &nudge(&child_hash, true), false, 1, &[NS]);
    assert_eq!(
        deny_ds(&keys, &child, &exact, NOW),
        Ok(Denial::UnsignedDelegation)
    );
    let with_ds = nsec3(
        &it,
        &child_hash,
        &nudge(&child_hash, true),
        false,
        1,
        &[NS, DS],
    );
    assert!(deny_ds(&keys, &child, &with_ds, NOW).is_err());
    // Too many iterations: not checked, insecure.
    let costly = nsec3(
        &it,
        &child_hash,
        &nudge(&child_hash, true),
        false,
        500,
        &[NS],
    );
    assert_eq!(
        deny_ds(&keys, &child, &costly, NOW),
        Ok(Denial::Unverifiable)
    );
}

#[test]
fn signature_times_use_serial_arithmetic_around_now() {
    assert_eq!(absolute(NOW as u32, NOW), NOW);
    assert_eq!(absolute((NOW + DAY) as u32, NOW), NOW + DAY);
    assert_eq!(absolute((NOW - DAY) as u32, NOW), NOW - DAY);
    // After 2106 the 32-bit times wrap; the instant nearest to now is meant.
    let later = (1_i64 << 32) + 1000;
    assert_eq!(absolute((later + DAY) as u32, later), later + DAY);
    assert_eq!(absolute((later - 2000) as u32, later), later - 2000);
}

#[test]
fn rrset_helpers_pick_by_owner_and_type() {
    let owner = name("mx.pec.aruba.it.");
    let records = vec![
        Record::from_rdata(owner.clone(), 60, RData::A(A(Ipv4Addr::new(192, 0, 2, 1)))),
        mx(&owner, "x.it."),
    ];
    assert_eq!(rrset(&records, &owner, RecordType::A).len(), 1);
    assert!(rrset(&records, &name("other.it."), RecordType::A).is_empty());
    assert!(ds_records(&records, &owner).is_empty());
    assert!(dnskey_records(&records, &owner).is_empty());
}

/// A message holding a signed zone's DNSKEY set, a signed MX and a signed NSEC for a name
/// below it: everything [`validate_message`] looks at.
fn signed_message() -> hickory_proto::op::Message {
    let zone = Zone::new("example.it.");
    let owner = name("pec.example.it.");
    let mut message = hickory_proto::op::Message::response(1, hickory_proto::op::OpCode::Query);
    for record in zone.dnskey_answer((NOW - DAY, NOW + 20 * DAY)) {
        message.add_answer(record);
    }
    for record in zone.signed(
        vec![mx(&owner, "mx.pec.aruba.it.")],
        &owner,
        RecordType::MX,
        valid(),
    ) {
        message.add_answer(record);
    }
    use RecordType::*;
    for record in nsec(
        &zone,
        "pec.example.it.",
        "zz.example.it.",
        &[MX, RRSIG, NSEC],
    ) {
        message.add_authority(record);
    }
    message
}

#[test]
fn a_whole_message_validates_through_the_wire_format() {
    let wire = signed_message().to_vec().unwrap();
    let message = hickory_proto::op::Message::from_vec(&wire).unwrap();
    let zone = name("example.it.");
    // The DNSKEY set (2 keys), the MX and the NSEC.
    assert_eq!(
        validate_message(&message, &zone, &name("pec.example.it."), NOW),
        4
    );
    // Later than every signature: nothing validates.
    assert_eq!(validate_message(&message, &zone, &zone, NOW + 30 * DAY), 0);
}

/// Writes the seeds of the `dnssec_validate` fuzz target (run it explicitly:
/// `cargo test --lib write_dnssec_fuzz_seeds -- --ignored`).
#[test]
#[ignore = "writes fuzz/seeds/dnssec_validate"]
fn write_dnssec_fuzz_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/dnssec_validate");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("signed_mx_nsec"),
        signed_message().to_vec().unwrap(),
    )
    .unwrap();
}

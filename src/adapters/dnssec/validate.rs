//! The DNSSEC validator's pure steps (RFC 4033–4035, 5155, 6840): which keys a zone's
//! DS (or the trust anchor) designates, whether an RRset's signatures verify with them,
//! and what an NSEC or NSEC3 proof says about a DS that is not there.
//!
//! The cryptography (signature verification, DS digests, NSEC3 hashes) is hickory-proto's
//! (`dnssec-ring`); this module decides which records to check against which, and says
//! why in data that a finding can show: the DS (key tag, algorithm, digest type), the
//! DNSKEYs served, the RRSIG and its validity window. No I/O: the walk that fetches the
//! records is in [`super::chain`].

use data_encoding::BASE32_DNSSEC;
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, NSEC, NSEC3, RRSIG};
use hickory_proto::dnssec::{Algorithm, Nsec3HashAlgorithm, PublicKey, Verifier};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use serde::Serialize;

pub use crate::check::observation::{Bogus, DsInfo, KeyInfo, SigInfo};
use crate::dns::fqdn;

/// NSEC3 iterations above this make a proof unverifiable: the zone counts as insecure
/// (RFC 9276 §3.2; the hashing would cost too much).
pub const MAX_NSEC3_ITERATIONS: u16 = 150;

impl SigInfo {
    fn of(sig: &RRSIG, rrset: &str, now: i64) -> Self {
        let input = sig.input();
        Self {
            rrset: rrset.to_string(),
            signer: fqdn(&input.signer_name),
            key_tag: input.key_tag,
            algorithm: u8::from(input.algorithm),
            inception: absolute(input.sig_inception.get(), now),
            expiration: absolute(input.sig_expiration.get(), now),
        }
    }
}

/// A 32-bit RRSIG time (serial-number arithmetic, RFC 4034 §3.1.5) as Unix seconds: the
/// instant closest to `now` with those low 32 bits.
pub fn absolute(serial: u32, now: i64) -> i64 {
    // Truncation intended: only the low 32 bits of `now` take part in the arithmetic.
    let offset = serial.wrapping_sub(now as u32) as i32;
    now + i64::from(offset)
}

/// The name and type of an RRset, as written in evidence (`pec.example.it. MX`).
pub fn rrset_label(name: &Name, rtype: RecordType) -> String {
    format!("{} {rtype}", fqdn(name))
}

impl DsInfo {
    /// The evidence of a DS record.
    pub fn of(ds: &DS) -> Self {
        Self {
            key_tag: ds.key_tag(),
            algorithm: u8::from(ds.algorithm()),
            digest_type: u8::from(ds.digest_type()),
            digest: data_encoding::HEXUPPER.encode(ds.digest()),
        }
    }
}

impl KeyInfo {
    /// The evidence of a DNSKEY.
    pub fn of(key: &DNSKEY) -> Self {
        Self {
            key_tag: key.calculate_key_tag().unwrap_or(0),
            algorithm: u8::from(key.algorithm()),
            flags: key.flags(),
        }
    }
}

impl Bogus {
    /// How telling this reason is, to pick one among several signatures' failures.
    fn weight(&self) -> u8 {
        match self {
            Self::Expired { .. } => 5,
            Self::NotYetValid { .. } => 4,
            Self::BadSignature { .. } => 3,
            Self::UnknownKey { .. } => 2,
            _ => 1,
        }
    }
}

/// What designates a zone's keys: the parent's DS records or the trust anchor's.
#[derive(Clone, Copy, Debug)]
pub enum Designation<'a> {
    /// DS records (from the parent, or a trust anchor given as DS).
    Ds(&'a [DS]),
    /// Trusted DNSKEYs (a trust anchor given as DNSKEY).
    Keys(&'a [DNSKEY]),
}

/// A zone whose DNSKEY set validated: the keys that may sign its data.
#[derive(Clone, Debug)]
pub struct ZoneKeys {
    /// The zone's apex.
    pub zone: Name,
    /// Its zone keys (not revoked).
    keys: Vec<DNSKEY>,
    /// The DNSKEYs served, as evidence.
    pub served: Vec<KeyInfo>,
    /// The signature that validated the DNSKEY set.
    pub signature: SigInfo,
}

/// The outcome of validating a zone's DNSKEY set.
#[derive(Clone, Debug)]
pub enum KeysOutcome {
    /// The keys are trusted.
    Trusted(ZoneKeys),
    /// Every DS uses an algorithm or digest this validator does not support: the zone is
    /// treated as unsigned (RFC 6840 §5.2), not as bogus.
    Unsupported,
}

/// The DS records among `records` (owner `name`).
pub fn ds_records(records: &[Record], name: &Name) -> Vec<DS> {
    records
        .iter()
        .filter(|r| r.name == *name)
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DS(ds)) => Some(ds.clone()),
            _ => None,
        })
        .collect()
}

/// The DNSKEY records among `records` (owner `name`).
pub fn dnskey_records(records: &[Record], name: &Name) -> Vec<DNSKEY> {
    records
        .iter()
        .filter(|r| r.name == *name)
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DNSKEY(key)) => Some(key.clone()),
            _ => None,
        })
        .collect()
}

/// The RRSIGs among `records` covering `(name, rtype)`.
pub fn rrsigs(records: &[Record], name: &Name, rtype: RecordType) -> Vec<RRSIG> {
    records
        .iter()
        .filter(|r| r.name == *name)
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::RRSIG(sig)) if sig.input().type_covered == rtype => {
                Some(sig.clone())
            }
            _ => None,
        })
        .collect()
}

/// The records of `(name, rtype)` among `records`.
pub fn rrset(records: &[Record], name: &Name, rtype: RecordType) -> Vec<Record> {
    records
        .iter()
        .filter(|r| r.name == *name && r.record_type() == rtype && r.dns_class == DNSClass::IN)
        .cloned()
        .collect()
}

fn algorithm_supported(algorithm: Algorithm) -> bool {
    algorithm.is_supported()
}

/// Validates a zone's DNSKEY set (`dnskeys`: the records of the DNSKEY answer, with their
/// RRSIGs in `sigs`) against what designates its keys, at `now` (Unix seconds).
pub fn zone_keys(
    zone: &Name,
    dnskeys: &[Record],
    sigs: &[RRSIG],
    designation: Designation<'_>,
    now: i64,
) -> Result<KeysOutcome, Bogus> {
    let served = dnskey_records(dnskeys, zone);
    let served_info: Vec<KeyInfo> = served.iter().map(KeyInfo::of).collect();
    let entry: Vec<&DNSKEY> = match designation {
        Designation::Ds(ds) => {
            let usable: Vec<&DS> = ds
                .iter()
                .filter(|d| algorithm_supported(d.algorithm()) && d.digest_type().is_supported())
                .collect();
            if usable.is_empty() {
                return Ok(KeysOutcome::Unsupported);
            }
            let ds_info = || ds.iter().map(DsInfo::of).collect::<Vec<_>>();
            if served.is_empty() {
                return Err(Bogus::NoDnskey {
                    zone: fqdn(zone),
                    ds: ds_info(),
                });
            }
            let entry: Vec<&DNSKEY> = served
                .iter()
                .filter(|key| usable_key(key))
                .filter(|key| {
                    let tag = key.calculate_key_tag().ok();
                    usable.iter().any(|d| {
                        Some(d.key_tag()) == tag
                            && d.algorithm() == key.algorithm()
                            && d.covers(zone, key).unwrap_or(false)
                    })
                })
                .collect();
            if entry.is_empty() {
                return Err(Bogus::NoKeyForDs {
                    zone: fqdn(zone),
                    ds: ds_info(),
                    keys: served_info,
                });
            }
            entry
        }
        Designation::Keys(trusted) => {
            if trusted.iter().all(|k| !algorithm_supported(k.algorithm())) {
                return Ok(KeysOutcome::Unsupported);
            }
            let entry: Vec<&DNSKEY> = served
                .iter()
                .filter(|key| usable_key(key))
                .filter(|key| {
                    trusted.iter().any(|t| {
                        t.algorithm() == key.algorithm()
                            && t.public_key().public_bytes() == key.public_key().public_bytes()
                    })
                })
                .collect();
            if entry.is_empty() {
                return Err(Bogus::NoKeyForDs {
                    zone: fqdn(zone),
                    ds: Vec::new(),
                    keys: served_info,
                });
            }
            entry
        }
    };
    let records = rrset(dnskeys, zone, RecordType::DNSKEY);
    let signature = verify_with(zone, RecordType::DNSKEY, &records, sigs, &entry, zone, now)?;
    Ok(KeysOutcome::Trusted(ZoneKeys {
        zone: zone.clone(),
        keys: served.iter().filter(|k| usable_key(k)).cloned().collect(),
        served: served_info,
        signature,
    }))
}

/// A key that may sign: a zone key, not revoked, of a supported algorithm.
fn usable_key(key: &DNSKEY) -> bool {
    key.zone_key() && !key.revoke() && algorithm_supported(key.algorithm())
}

/// Verifies the RRset `(name, rtype)` of `records` with the zone's keys: the best (latest
/// expiring) valid signature, or why none is valid.
pub fn verify_rrset(
    keys: &ZoneKeys,
    name: &Name,
    rtype: RecordType,
    records: &[Record],
    sigs: &[RRSIG],
    now: i64,
) -> Result<SigInfo, Bogus> {
    let set = rrset(records, name, rtype);
    let candidates: Vec<&DNSKEY> = keys.keys.iter().collect();
    verify_with(name, rtype, &set, sigs, &candidates, &keys.zone, now)
}

/// The core check: some RRSIG over `records` by `signer`, made with one of `keys`, valid
/// at `now`, verifies. Returns the valid signature expiring last.
fn verify_with(
    name: &Name,
    rtype: RecordType,
    records: &[Record],
    sigs: &[RRSIG],
    keys: &[&DNSKEY],
    signer: &Name,
    now: i64,
) -> Result<SigInfo, Bogus> {
    let label = rrset_label(name, rtype);
    let relevant: Vec<&RRSIG> = sigs
        .iter()
        .filter(|sig| {
            let input = sig.input();
            input.type_covered == rtype
                && input.signer_name == *signer
                && input.num_labels <= name.num_labels()
        })
        .collect();
    let mut best: Option<SigInfo> = None;
    let mut failure: Option<Bogus> = None;
    let mut note = |bogus: Bogus| {
        if failure.as_ref().is_none_or(|f| bogus.weight() > f.weight()) {
            failure = Some(bogus);
        }
    };
    for sig in &relevant {
        let info = SigInfo::of(sig, &label, now);
        let input = sig.input();
        let matching: Vec<&&DNSKEY> = keys
            .iter()
            .filter(|k| {
                k.algorithm() == input.algorithm
                    && k.calculate_key_tag().ok() == Some(input.key_tag)
            })
            .collect();
        if matching.is_empty() {
            note(Bogus::UnknownKey {
                signature: info,
                keys: keys.iter().map(|k| KeyInfo::of(k)).collect(),
            });
            continue;
        }
        if now < info.inception {
            note(Bogus::NotYetValid { signature: info });
            continue;
        }
        if now > info.expiration {
            note(Bogus::Expired { signature: info });
            continue;
        }
        if best
            .as_ref()
            .is_some_and(|b| b.expiration >= info.expiration)
        {
            continue;
        }
        let verified = matching.iter().any(|k| {
            k.verify_rrsig(name, DNSClass::IN, sig, records.iter())
                .is_ok()
        });
        if verified {
            best = Some(info);
        } else {
            note(Bogus::BadSignature { signature: info });
        }
    }
    match (best, failure) {
        (Some(info), _) => Ok(info),
        (None, Some(bogus)) => Err(bogus),
        (None, None) => Err(Bogus::Unsigned {
            rrset: label,
            zone: fqdn(signer),
        }),
    }
}

/// What a validated negative answer to `<name> DS` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Denial {
    /// `name` is a delegation without DS: the child zone is unsigned (insecure).
    UnsignedDelegation,
    /// An NSEC3 opt-out span covers `name`: any delegation there is insecure.
    OptOut,
    /// The NSEC3 parameters are too costly to check (RFC 9276): treated as insecure.
    Unverifiable,
    /// `name` is not a delegation (a name inside the zone, an empty non-terminal, or no
    /// name at all): the walk goes on in the same zone.
    NotDelegation,
}

/// Owners and NSEC records; owners and NSEC3 records.
type Nsecs<'a> = (Vec<(&'a Name, &'a NSEC)>, Vec<(&'a Name, &'a NSEC3)>);

/// The NSEC and NSEC3 records of a negative answer (its authority section).
fn nsecs(records: &[Record]) -> Nsecs<'_> {
    let mut nsec = Vec::new();
    let mut nsec3 = Vec::new();
    for record in records {
        match &record.data {
            RData::DNSSEC(DNSSECRData::NSEC(n)) => nsec.push((&record.name, n)),
            RData::DNSSEC(DNSSECRData::NSEC3(n)) => nsec3.push((&record.name, n)),
            _ => {}
        }
    }
    (nsec, nsec3)
}

/// Validates the proof that `name` has no DS in the zone of `keys`, from the authority
/// section of a NODATA or NXDOMAIN answer (or of a referral), and says what it proves.
pub fn deny_ds(
    keys: &ZoneKeys,
    name: &Name,
    authority: &[Record],
    now: i64,
) -> Result<Denial, Bogus> {
    let no_proof = || Bogus::NoDenialProof {
        name: fqdn(name),
        zone: fqdn(&keys.zone),
    };
    let sigs_of = |owner: &Name, rtype| rrsigs(authority, owner, rtype);
    let check = |owner: &Name, rtype| {
        verify_rrset(keys, owner, rtype, authority, &sigs_of(owner, rtype), now)
    };
    let (nsec, nsec3) = nsecs(authority);
    if !nsec.is_empty() {
        if let Some((owner, record)) = nsec.iter().find(|(owner, _)| *owner == name) {
            check(owner, RecordType::NSEC)?;
            return types_denial(record.type_set().contains(RecordType::DS), || {
                record.type_set().contains(RecordType::NS)
                    && !record.type_set().contains(RecordType::SOA)
            })
            .ok_or_else(no_proof);
        }
        let covering = nsec
            .iter()
            .find(|(owner, record)| covers_name(owner, record.next_domain_name(), name));
        return match covering {
            Some((owner, _)) => {
                check(owner, RecordType::NSEC)?;
                Ok(Denial::NotDelegation)
            }
            None => Err(no_proof()),
        };
    }
    if nsec3.is_empty() {
        return Err(no_proof());
    }
    deny_ds_nsec3(keys, name, &nsec3, |owner| check(owner, RecordType::NSEC3))
}

/// The denial a type bitmap at the exact name gives: a DS bit contradicts the denial.
fn types_denial(has_ds: bool, delegation: impl FnOnce() -> bool) -> Option<Denial> {
    if has_ds {
        None
    } else if delegation() {
        Some(Denial::UnsignedDelegation)
    } else {
        Some(Denial::NotDelegation)
    }
}

/// Whether the NSEC span `owner`–`next` covers `name` (canonical order; the last NSEC
/// of a zone wraps around to the apex).
fn covers_name(owner: &Name, next: &Name, name: &Name) -> bool {
    if owner < next {
        owner < name && name < next
    } else {
        owner < name || name < next
    }
}

fn deny_ds_nsec3<'a>(
    keys: &ZoneKeys,
    name: &Name,
    records: &[(&'a Name, &'a NSEC3)],
    check: impl Fn(&Name) -> Result<SigInfo, Bogus>,
) -> Result<Denial, Bogus> {
    let no_proof = || Bogus::NoDenialProof {
        name: fqdn(name),
        zone: fqdn(&keys.zone),
    };
    // Only NSEC3 records of this zone (hash label right under the apex) take part.
    let records: Vec<(Vec<u8>, &NSEC3, &Name)> = records
        .iter()
        .filter(|(owner, _)| owner.num_labels() == keys.zone.num_labels() + 1)
        .filter(|(owner, _)| keys.zone.zone_of(owner))
        .filter_map(|(owner, record)| {
            let label = owner.iter().next()?.to_ascii_lowercase();
            Some((BASE32_DNSSEC.decode(&label).ok()?, *record, *owner))
        })
        .collect();
    let Some((_, first, _)) = records.first() else {
        return Err(no_proof());
    };
    if first.iterations() > MAX_NSEC3_ITERATIONS {
        return Ok(Denial::Unverifiable);
    }
    let (salt, iterations) = (first.salt().to_vec(), first.iterations());
    let hash = |n: &Name| -> Option<Vec<u8>> {
        Nsec3HashAlgorithm::SHA1
            .hash(&salt, n, iterations)
            .ok()
            .map(|d| d.as_ref().to_vec())
    };
    let same_params = |r: &NSEC3| {
        r.salt() == salt.as_slice()
            && r.iterations() == iterations
            && r.hash_algorithm() == Nsec3HashAlgorithm::SHA1
    };
    let matching = |h: &[u8]| {
        records
            .iter()
            .find(|(owner, r, _)| owner.as_slice() == h && same_params(r))
    };
    let covering = |h: &[u8]| {
        records.iter().find(|(owner, r, _)| {
            let next = r.next_hashed_owner_name();
            let inside = if owner.as_slice() < next {
                owner.as_slice() < h && h < next
            } else {
                owner.as_slice() < h || h < next
            };
            inside && same_params(r)
        })
    };
    let own = hash(name).ok_or_else(no_proof)?;
    if let Some((_, record, owner)) = matching(&own) {
        check(owner)?;
        let types = record.type_set();
        return types_denial(types.contains(RecordType::DS), || {
            types.contains(RecordType::NS) && !types.contains(RecordType::SOA)
        })
        .ok_or_else(no_proof);
    }
    // Closest encloser proof (RFC 5155 §8.6, §7.2.1): an ancestor that exists, and the
    // name one label below it toward `name` covered.
    let mut next_closer = name.clone();
    let mut encloser = name.base_name();
    loop {
        if !keys.zone.zone_of(&encloser) {
            return Err(no_proof());
        }
        let encloser_hash = hash(&encloser).ok_or_else(no_proof)?;
        if let Some((_, _, owner)) = matching(&encloser_hash) {
            check(owner)?;
            let closer_hash = hash(&next_closer).ok_or_else(no_proof)?;
            let Some((_, record, owner)) = covering(&closer_hash) else {
                return Err(no_proof());
            };
            check(owner)?;
            return Ok(if record.opt_out() {
                Denial::OptOut
            } else {
                Denial::NotDelegation
            });
        }
        if encloser.is_root() {
            return Err(no_proof());
        }
        next_closer = encloser.clone();
        encloser = encloser.base_name();
    }
}

/// Runs every validation step over the records of one DNS message: the DNSKEY set of
/// `zone` in it (trusted as its own anchor, as if a trust anchor named those keys), then
/// every RRset in it against those keys, then the message's NSEC/NSEC3 records as a
/// denial of `name`'s DS. Returns how many RRsets validated. The fuzz target's entry
/// point: whatever the message holds, nothing here panics.
pub fn validate_message(
    message: &hickory_proto::op::Message,
    zone: &Name,
    name: &Name,
    now: i64,
) -> usize {
    let records: Vec<Record> = message
        .answers
        .iter()
        .chain(&message.authorities)
        .chain(&message.additionals)
        .cloned()
        .collect();
    let anchor = dnskey_records(&records, zone);
    let _ = zone_keys(
        zone,
        &records,
        &[],
        Designation::Ds(&ds_records(&records, zone)),
        now,
    );
    let sigs = rrsigs(&records, zone, RecordType::DNSKEY);
    let Ok(KeysOutcome::Trusted(keys)) =
        zone_keys(zone, &records, &sigs, Designation::Keys(&anchor), now)
    else {
        return 0;
    };
    let mut valid = 0;
    for record in &records {
        let rtype = record.record_type();
        if rtype == RecordType::RRSIG {
            continue;
        }
        let sigs = rrsigs(&records, &record.name, rtype);
        if verify_rrset(&keys, &record.name, rtype, &records, &sigs, now).is_ok() {
            valid += 1;
        }
    }
    let _ = deny_ds(&keys, name, &records, now);
    valid
}

#[cfg(test)]
pub(crate) mod tests;

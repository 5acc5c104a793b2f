//! What DNSSEC validation found, as evidence: the verdict for one RRset ([`Validation`],
//! [`Security`]), the zones on its path ([`ChainLink`]) and why a zone or an RRset does
//! not validate ([`Bogus`]), with the DS, DNSKEY and RRSIG records it rests on. Plain
//! data: the validator ([`crate::dnssec`]) fills it from the wire, the checks read it.

use std::fmt;
use std::net::IpAddr;

use hickory_proto::rr::{Name, RecordType};
use serde::Serialize;

/// A DS record as evidence: which key it designates and how.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct DsInfo {
    /// The key tag of the DNSKEY it designates.
    pub key_tag: u16,
    /// The DNSKEY's algorithm number (8 = RSA/SHA-256, 13 = ECDSA P-256, …).
    pub algorithm: u8,
    /// The digest type (1 = SHA-1, 2 = SHA-256, 4 = SHA-384).
    pub digest_type: u8,
    /// The digest, in upper-case hexadecimal.
    pub digest: String,
}

impl fmt::Display for DsInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DS {} alg {} digest {}",
            self.key_tag, self.algorithm, self.digest_type
        )
    }
}

/// A DNSKEY as evidence.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct KeyInfo {
    /// Its key tag (RFC 4034 Appendix B).
    pub key_tag: u16,
    /// Its algorithm number.
    pub algorithm: u8,
    /// Its flags (257: key-signing key, 256: zone-signing key).
    pub flags: u16,
}

impl fmt::Display for KeyInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DNSKEY {} alg {} flags {}",
            self.key_tag, self.algorithm, self.flags
        )
    }
}

/// An RRSIG as evidence: what it covers, which key made it, when it is valid.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct SigInfo {
    /// The RRset it covers (`example.it. DNSKEY`).
    pub rrset: String,
    /// The zone that signed it (`example.it.`).
    pub signer: String,
    /// The key tag of the signing key.
    pub key_tag: u16,
    /// The algorithm number.
    pub algorithm: u8,
    /// Valid from (Unix seconds).
    pub inception: i64,
    /// Valid until (Unix seconds).
    pub expiration: i64,
}

/// Why a zone or an RRset does not validate: what a validating resolver rejects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Bogus {
    /// The parent publishes a DS but the zone serves no DNSKEY: the zone is no longer
    /// signed (typically moved to a DNS host that does not sign it).
    NoDnskey {
        /// The zone.
        zone: String,
        /// The parent's DS records.
        ds: Vec<DsInfo>,
    },
    /// No DNSKEY of the zone matches the parent's DS (key tag, algorithm and digest).
    NoKeyForDs {
        /// The zone.
        zone: String,
        /// The parent's DS records.
        ds: Vec<DsInfo>,
        /// The DNSKEYs the zone serves.
        keys: Vec<KeyInfo>,
    },
    /// An RRset of a signed zone has no signature of the zone.
    Unsigned {
        /// The RRset.
        rrset: String,
        /// The zone whose signature is missing.
        zone: String,
    },
    /// Signed with a key the zone does not publish (or not the DS's key, for DNSKEY).
    UnknownKey {
        /// The signature.
        signature: SigInfo,
        /// The keys it could have been made with.
        keys: Vec<KeyInfo>,
    },
    /// Every signature has expired.
    Expired {
        /// The latest-expiring signature.
        signature: SigInfo,
    },
    /// No signature is valid yet.
    NotYetValid {
        /// The signature.
        signature: SigInfo,
    },
    /// The signature does not verify with the key it names.
    BadSignature {
        /// The signature.
        signature: SigInfo,
    },
    /// A negative answer about a DS (or the answer asked for) has no valid NSEC or NSEC3
    /// proof, or the proof contradicts itself.
    NoDenialProof {
        /// The name whose DS (or data) is denied.
        name: String,
        /// The zone that should prove it.
        zone: String,
    },
}

impl Bogus {
    /// The zone at fault (`example.it.`), when the reason names one.
    pub fn zone(&self) -> Option<&str> {
        match self {
            Self::NoDnskey { zone, .. }
            | Self::NoKeyForDs { zone, .. }
            | Self::Unsigned { zone, .. }
            | Self::NoDenialProof { zone, .. } => Some(zone.as_str()),
            _ => None,
        }
    }

    /// The signature at fault, when the reason names one.
    pub fn signature(&self) -> Option<&SigInfo> {
        match self {
            Self::UnknownKey { signature, .. }
            | Self::Expired { signature }
            | Self::NotYetValid { signature }
            | Self::BadSignature { signature } => Some(signature),
            _ => None,
        }
    }
}

/// Why an answer is insecure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Insecurity {
    /// A delegation without DS, proven by NSEC or NSEC3.
    UnsignedDelegation,
    /// Inside an NSEC3 opt-out span.
    OptOut,
    /// Signed only with algorithms or digests this validator does not support.
    UnsupportedAlgorithm,
    /// NSEC3 parameters too costly to check (RFC 9276).
    Unverifiable,
}

/// The security of one RRset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Security {
    /// Validated from the trust anchor.
    Secure {
        /// The signature on the path that expires first.
        first_expiring: Option<SigInfo>,
    },
    /// Proven unsigned from the trust anchor.
    Insecure {
        /// The zone cut below which nothing is signed.
        zone: Name,
        /// How it was proven.
        why: Insecurity,
    },
    /// Fails validation: validating resolvers answer SERVFAIL.
    Bogus {
        /// Why.
        bogus: Bogus,
        /// The server whose answer failed.
        server: Option<IpAddr>,
    },
    /// Could not be decided: the data could not be fetched (or the trust anchor does not
    /// match the root, or there is no such RRset to validate).
    Indeterminate {
        /// Only timeouts or network errors: it may go away by itself.
        transient: bool,
        /// What happened.
        detail: String,
    },
}

/// One zone on the path, as evidence: its DS, its keys, the signatures checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainLink {
    /// The zone's apex.
    pub zone: Name,
    /// The server that gave the DNSKEY set.
    pub server: Option<IpAddr>,
    /// The DS records at the parent (the trust anchor's for the root).
    pub ds: Vec<DsInfo>,
    /// The DNSKEYs served.
    pub keys: Vec<KeyInfo>,
    /// The signatures checked for this zone (its DS at the parent, its DNSKEY set).
    pub signatures: Vec<SigInfo>,
}

/// The validation of one RRset, with the path that decided it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Validation {
    /// The owner.
    pub name: Name,
    /// The type (`MX`, `A`).
    pub rtype: RecordType,
    /// The verdict.
    pub security: Security,
    /// The signed zones on the path, from the root down.
    pub chain: Vec<ChainLink>,
    /// The answer's own signature, when it validated.
    pub signature: Option<SigInfo>,
    /// The server that gave the answer.
    pub server: Option<IpAddr>,
}

/// The DNSSEC part of an observation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DnssecObservation {
    /// When it was validated (Unix seconds).
    pub validated_at: i64,
    /// The warning window for expiring signatures, in seconds.
    pub expiry_warning: i64,
    /// The certified name's MX RRset.
    pub mx: Validation,
    /// Each MX target's A RRset.
    pub targets: Vec<Validation>,
}

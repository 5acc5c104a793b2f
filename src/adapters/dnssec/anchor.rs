//! The trust anchor: the DS (or DNSKEY) records of the root that validation starts from.
//!
//! Built in: the IANA root anchors as published in `root-anchors.xml` (KSK-2017, key tag
//! 20326, and KSK-2024, key tag 38696; RSA/SHA-256, SHA-256 digests). `[dns] trust_anchor`,
//! `PECWATCH_DNS_TRUST_ANCHOR` or `pecwatch check --trust-anchor FILE` replace them with
//! the DS or DNSKEY records of `.` in a zone-file format file (labs, private roots).

use std::path::Path;

use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS};
use hickory_proto::rr::{Name, RData};
use hickory_proto::serialize::txt::Parser;

/// The IANA root trust anchors (root-anchors.xml), as DS records of `.`.
pub const IANA_ROOT_ANCHORS: &str = "\
; KSK-2017 (Kjqmt7v), valid from 2017-02-02
. IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D
; KSK-2024 (klajeyz), valid from 2024-07-18
. IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16
";

/// Why a trust anchor file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    /// The file could not be read.
    #[error("cannot read the trust anchor {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not in zone-file format.
    #[error("invalid trust anchor {path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// The DS and DNSKEY records of the root that validation trusts.
#[derive(Clone, Debug)]
pub struct TrustAnchor {
    /// DS records of `.`.
    pub ds: Vec<DS>,
    /// DNSKEY records of `.`.
    pub keys: Vec<DNSKEY>,
    /// Where it came from (`built-in` or the file's path), for messages.
    pub source: String,
}

impl TrustAnchor {
    /// The built-in IANA root anchors.
    pub fn iana() -> Self {
        // The constant is tested to parse (and to designate the root's keys).
        Self::parse(IANA_ROOT_ANCHORS, "built-in").unwrap_or_else(|message| {
            tracing::error!(%message, "the built-in trust anchor does not parse");
            Self {
                ds: Vec::new(),
                keys: Vec::new(),
                source: "built-in".into(),
            }
        })
    }

    /// Reads DS or DNSKEY records of `.` from a zone-file format file.
    pub fn from_file(path: &Path) -> Result<Self, AnchorError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| AnchorError::Io {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&text, &shown).map_err(|message| AnchorError::Invalid {
            path: shown,
            message,
        })
    }

    /// Parses DS or DNSKEY records of `.` (other records are an error).
    pub fn parse(text: &str, source: &str) -> Result<Self, String> {
        // Anchor files often leave the TTL out, which the zone-file parser refuses.
        let text = format!("$TTL 3600\n{text}");
        let (_, sets) = Parser::new(text, None, Some(Name::root()))
            .parse()
            .map_err(|e| e.to_string())?;
        let mut anchor = Self {
            ds: Vec::new(),
            keys: Vec::new(),
            source: source.to_string(),
        };
        for set in sets.values() {
            for record in set.records_without_rrsigs() {
                if !record.name.is_root() {
                    return Err(format!(
                        "{} is not the root: only DS or DNSKEY records of \".\" are accepted",
                        record.name
                    ));
                }
                match &record.data {
                    RData::DNSSEC(DNSSECRData::DS(ds)) => anchor.ds.push(ds.clone()),
                    RData::DNSSEC(DNSSECRData::DNSKEY(key)) => anchor.keys.push(key.clone()),
                    other => {
                        return Err(format!(
                            "{} record: only DS or DNSKEY records are accepted",
                            other.record_type()
                        ));
                    }
                }
            }
        }
        if anchor.ds.is_empty() && anchor.keys.is_empty() {
            return Err("no DS or DNSKEY record of \".\"".into());
        }
        Ok(anchor)
    }
}

#[cfg(test)]
mod tests {
    use hickory_proto::dnssec::rdata::DNSKEY;
    use hickory_proto::dnssec::{Algorithm, DigestType, TrustAnchors};

    use super::*;

    /// hickory-proto ships the root KSKs' public keys (fetched from the root zone); the
    /// DS digests written above (copied from IANA's root-anchors.xml) must designate
    /// exactly those keys: two independent sources agree.
    #[test]
    fn built_in_ds_match_the_root_keys_hickory_ships() {
        let anchor = TrustAnchor::iana();
        assert_eq!(anchor.ds.len(), 2);
        let shipped = TrustAnchors::default();
        assert_eq!(shipped.len(), 2);
        let mut tags = Vec::new();
        for i in 0..shipped.len() {
            let key = shipped.get(i).unwrap();
            let dnskey = DNSKEY::new(true, true, false, key.clone());
            let tag = dnskey.calculate_key_tag().unwrap();
            tags.push(tag);
            let ds = anchor.ds.iter().find(|d| d.key_tag() == tag).unwrap();
            assert_eq!(ds.algorithm(), Algorithm::RSASHA256);
            assert_eq!(ds.digest_type(), DigestType::SHA256);
            assert!(ds.covers(&Name::root(), &dnskey).unwrap(), "{tag}");
        }
        tags.sort_unstable();
        assert_eq!(tags, [20326, 38696]);
    }

    #[test]
    fn files_of_ds_or_dnskey_records_of_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anchor");
        std::fs::write(
            &path,
            "; lab\n.\t3600\tIN\tDS\t12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\n",
        )
        .unwrap();
        let anchor = TrustAnchor::from_file(&path).unwrap();
        assert_eq!(anchor.ds.len(), 1);
        assert_eq!(anchor.ds[0].key_tag(), 12345);
        std::fs::write(&path, "it. IN DS 1 13 2 00\n").unwrap();
        assert!(TrustAnchor::from_file(&path).is_err());
        std::fs::write(&path, ". IN A 192.0.2.1\n").unwrap();
        assert!(TrustAnchor::from_file(&path).is_err());
        std::fs::write(&path, "; nothing\n").unwrap();
        assert!(TrustAnchor::from_file(&path).is_err());
        std::fs::write(&path, ". IN DS not a ds\n").unwrap();
        assert!(TrustAnchor::from_file(&path).is_err());
        assert!(TrustAnchor::from_file(&dir.path().join("missing")).is_err());
    }
}

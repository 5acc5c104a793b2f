//! The providers' index entry (RFC 6109): this provider's `provider` object as LDIF.
//!
//! Other PEC providers learn which domains are PEC domains from the providers' index, an
//! LDAP directory whose entries have object class `provider` (OID
//! 1.3.6.1.4.1.16572.2.1.2): MUST `providerCertificateHash`, `providerCertificate`,
//! `providerName`, `mailReceipt`, `managedDomains`; MAY `description`, `LDIFLocationURL`,
//! `providerUnit`. [`render`] writes that entry as LDIF (RFC 2849), with `managedDomains`
//! listing the domains the index must list ([`State::is_published`]: `certified` and
//! `in_error`, never `removed`, `under_review`, `expired`, `pending_dns` or `requested`).
//!
//! Everything here is pure: the certificate's bytes and the domain names come in, text
//! goes out. The output is deterministic (domains sorted and deduplicated, attributes in a
//! fixed order, lines folded at a fixed width), so two exports of the same registry are
//! byte for byte the same and a publication is identified by [`ldif_hash`].
//!
//! # Encoding choices
//!
//! - The DN is `providerName=<name>,<base DN>`, the name escaped per RFC 4514.
//! - `providerCertificate` holds the certificate's DER (the PEM file's first
//!   `CERTIFICATE` block), written base64 with the `;binary` transfer option that its
//!   Certificate syntax requires (RFC 4523 §2.1): `providerCertificate;binary:: …`.
//! - `providerCertificateHash` is the SHA-1 of that DER in upper-case hexadecimal without
//!   separators ([`certificate_hash`]): the usual certificate fingerprint.
//! - Values that are not RFC 2849 `SAFE-STRING`s (non-ASCII names, a leading space or
//!   colon) are written base64 (`attr:: …`); lines longer than 76 characters are folded
//!   (a line break and one space).
//!
//!
//! # Why the writer is here
//!
//! No maintained Rust crate writes LDIF: the LDAP crates (`ldap3`) are clients of a
//! directory and do not read or write RFC 2849 files. One entry with eight attributes, the
//! SAFE-STRING rule, base64 and line folding are the whole of what is needed.
//!
//! [`State::is_published`]: crate::lifecycle::State::is_published

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use sha1::{Digest as _, Sha1};

/// The longest LDIF line written; longer ones are folded (RFC 2849 recommends 76).
pub const LINE_WIDTH: usize = 76;
/// The object class of a provider entry.
pub const OBJECT_CLASS: &str = "provider";

/// Why the index entry cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// The certificate file holds no `-----BEGIN CERTIFICATE-----` block.
    #[error("no PEM certificate (-----BEGIN CERTIFICATE-----) found")]
    NoCertificate,
    /// The `CERTIFICATE` block is not terminated.
    #[error("the PEM certificate has no -----END CERTIFICATE----- line")]
    Unterminated,
    /// The block's content is not valid base64.
    #[error("the PEM certificate is not valid base64: {0}")]
    Base64(String),
    /// The decoded bytes are not one DER SEQUENCE (not an X.509 certificate).
    #[error("the PEM certificate is not a DER-encoded X.509 certificate: {0}")]
    NotDer(&'static str),
}

/// The provider's own attributes, everything of the entry but `managedDomains`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provider {
    /// The DN under which the entry lives, e.g. `o=postacert`.
    pub base_dn: String,
    /// `providerName`: the provider's name (also the entry's RDN).
    pub name: String,
    /// `providerUnit`: an organisational unit of the provider, if any.
    pub unit: Option<String>,
    /// `description`, if any.
    pub description: Option<String>,
    /// `mailReceipt`: the e-mail address of the provider's service mailbox (IA5: ASCII).
    pub mail_receipt: String,
    /// `providerCertificate`: the certificate's DER bytes.
    pub certificate: Vec<u8>,
    /// `LDIFLocationURL`: where this LDIF is published, if known.
    pub ldif_url: Option<String>,
}

impl Provider {
    /// The entry's distinguished name: `providerName=<name>,<base_dn>`.
    pub fn dn(&self) -> String {
        let base = self.base_dn.trim();
        let rdn = format!("providerName={}", escape_dn_value(&self.name));
        if base.is_empty() {
            rdn
        } else {
            format!("{rdn},{base}")
        }
    }
}

/// The DER of the first `CERTIFICATE` block of a PEM text. Text around the block
/// (`openssl x509 -text` output, other blocks) is ignored.
pub fn certificate_from_pem(pem: &str) -> Result<Vec<u8>, IndexError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let start = pem.find(BEGIN).ok_or(IndexError::NoCertificate)? + BEGIN.len();
    let rest = &pem[start..];
    let end = rest.find(END).ok_or(IndexError::Unterminated)?;
    let body: String = rest[..end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let der = BASE64
        .decode(body.as_bytes())
        .map_err(|e| IndexError::Base64(e.to_string()))?;
    check_der_sequence(&der)?;
    Ok(der)
}

/// Checks that `der` is exactly one DER SEQUENCE (tag 0x30, a definite length that
/// covers the rest): what an X.509 certificate is on the outside.
fn check_der_sequence(der: &[u8]) -> Result<(), IndexError> {
    let (&tag, rest) = der.split_first().ok_or(IndexError::NotDer("it is empty"))?;
    if tag != 0x30 {
        return Err(IndexError::NotDer("it does not start with a SEQUENCE"));
    }
    let (&first, rest) = rest
        .split_first()
        .ok_or(IndexError::NotDer("the length is missing"))?;
    let (length, body) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let octets = usize::from(first & 0x7f);
        if octets == 0 || octets > 4 || rest.len() < octets {
            return Err(IndexError::NotDer("the length is malformed"));
        }
        let (bytes, body) = rest.split_at(octets);
        let length = bytes
            .iter()
            .fold(0usize, |length, &b| (length << 8) | usize::from(b));
        (length, body)
    };
    if length != body.len() {
        return Err(IndexError::NotDer(
            "the SEQUENCE's length does not match the data",
        ));
    }
    Ok(())
}

/// `providerCertificateHash`: the SHA-1 of the certificate's DER, upper-case hexadecimal.
pub fn certificate_hash(der: &[u8]) -> String {
    hex_upper(&Sha1::digest(der))
}

/// The SHA-256 of an LDIF text, lower-case hexadecimal: how publications are identified
/// and compared (the registry records it with each publication).
pub use crate::registry::index::ldif_hash;

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02X}");
        out
    })
}

/// The domains to list, sorted and without duplicates.
pub fn sorted_domains<'a>(domains: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    domains
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The provider's entry as an LDIF file (`version: 1`, one entry), with `managedDomains`
/// listing `domains` (sorted and deduplicated here). Deterministic.
pub fn render<'a>(provider: &Provider, domains: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::from("version: 1\n");
    push_attribute(&mut out, "dn", provider.dn().as_bytes());
    push_attribute(&mut out, "objectClass", b"top");
    push_attribute(&mut out, "objectClass", OBJECT_CLASS.as_bytes());
    push_attribute(&mut out, "providerName", provider.name.as_bytes());
    if let Some(unit) = &provider.unit {
        push_attribute(&mut out, "providerUnit", unit.as_bytes());
    }
    if let Some(description) = &provider.description {
        push_attribute(&mut out, "description", description.as_bytes());
    }
    push_attribute(&mut out, "mailReceipt", provider.mail_receipt.as_bytes());
    let hash = certificate_hash(&provider.certificate);
    push_attribute(&mut out, "providerCertificateHash", hash.as_bytes());
    // The Certificate syntax is transferred only with the `;binary` option (RFC 4523
    // §2.1); OpenLDAP refuses the value without it.
    push_binary(
        &mut out,
        "providerCertificate;binary",
        &provider.certificate,
    );
    if let Some(url) = &provider.ldif_url {
        push_attribute(&mut out, "LDIFLocationURL", url.as_bytes());
    }
    for domain in sorted_domains(domains) {
        push_attribute(&mut out, "managedDomains", domain.as_bytes());
    }
    out
}

/// Appends `name: value`, or `name:: base64` when the value is not a `SAFE-STRING`,
/// folded.
fn push_attribute(out: &mut String, name: &str, value: &[u8]) {
    if is_safe_string(value) {
        // Safe strings are ASCII.
        push_folded(out, &format!("{name}: {}", String::from_utf8_lossy(value)));
    } else {
        push_binary(out, name, value);
    }
}

/// Appends `name:: base64(value)`, folded.
fn push_binary(out: &mut String, name: &str, value: &[u8]) {
    push_folded(out, &format!("{name}:: {}", BASE64.encode(value)));
}

/// Whether RFC 2849 allows the value as is: ASCII without NUL, CR or LF, not starting
/// with a space, `:` or `<`, and (as RFC 2849 recommends) not ending with a space.
pub fn is_safe_string(value: &[u8]) -> bool {
    let chars_ok = value
        .iter()
        .all(|&b| b.is_ascii() && !matches!(b, 0 | b'\n' | b'\r'));
    let first_ok = value
        .first()
        .is_none_or(|b| !matches!(b, b' ' | b':' | b'<'));
    let last_ok = value.last() != Some(&b' ');
    chars_ok && first_ok && last_ok
}

/// Appends an ASCII line, folded per RFC 2849: at most [`LINE_WIDTH`] characters on the
/// first line, then continuation lines of one space and up to `LINE_WIDTH - 1`
/// characters.
pub fn push_folded(out: &mut String, line: &str) {
    let mut rest = line;
    let mut width = LINE_WIDTH;
    loop {
        let cut = floor_char_boundary(rest, width);
        let (head, tail) = rest.split_at(cut);
        out.push_str(head);
        out.push('\n');
        if tail.is_empty() {
            break;
        }
        out.push(' ');
        rest = tail;
        width = LINE_WIDTH - 1;
    }
}

/// The largest char boundary of `text` at or before `at` (at least one character, so
/// folding always makes progress).
fn floor_char_boundary(text: &str, at: usize) -> usize {
    if at >= text.len() {
        return text.len();
    }
    let mut cut = at;
    while cut > 0 && !text.is_char_boundary(cut) {
        cut -= 1;
    }
    if cut == 0 {
        text.chars().next().map_or(text.len(), char::len_utf8)
    } else {
        cut
    }
}

/// Escapes an attribute value for a DN (RFC 4514): `"`, `+`, `,`, `;`, `<`, `>`, `\`,
/// a leading `#` or space, a trailing space, and NUL.
pub fn escape_dn_value(value: &str) -> String {
    let last = value.chars().count().saturating_sub(1);
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            _ => out.push(c),
        }
    }
    out
}

/// Undoes RFC 2849 folding and base64 for a simple LDIF: the `(attribute, value)` pairs
/// in order (values of `::` lines decoded). For tests and `index diff`'s reading of a
/// recorded publication; comments and the `version` line are skipped.
pub fn parse_attributes(ldif: &str) -> Vec<(String, Vec<u8>)> {
    let mut lines: Vec<String> = Vec::new();
    for line in ldif.lines() {
        match (line.strip_prefix(' '), lines.last_mut()) {
            (Some(continued), Some(last)) => last.push_str(continued),
            _ => lines.push(line.to_owned()),
        }
    }
    lines
        .iter()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            let value = match value.strip_prefix(':') {
                Some(encoded) => BASE64.decode(encoded.trim()).ok()?,
                None => value.strip_prefix(' ').unwrap_or(value).as_bytes().to_vec(),
            };
            Some((name.to_owned(), value))
        })
        .filter(|(name, _)| name != "version")
        .collect()
}

/// `[index]`: this provider's entry in the providers' index (RFC 6109), exported by
/// `pecwatch index export`. Empty values are allowed at load; the export needs
/// `provider_name`, `mail_receipt` and `certificate` (`Config::index_provider` in the configuration).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexConfig {
    /// `providerName`: the provider's name, also the entry's RDN. Default empty.
    pub provider_name: String,
    /// `providerUnit`: an organisational unit of the provider; empty: none. Default empty.
    pub provider_unit: String,
    /// `description`; empty: none. Default empty.
    pub description: String,
    /// `mailReceipt`: the provider's receipt address (`user@domain`) or host. Default
    /// empty.
    pub mail_receipt: String,
    /// The provider's certificate (PEM file): `providerCertificate` and
    /// `providerCertificateHash`. Default empty.
    pub certificate: PathBuf,
    /// `LDIFLocationURL`: where the exported LDIF is published (`https://`, `http://`,
    /// `ldaps://`, `ldap://`); empty: none. Default empty.
    pub ldif_url: String,
    /// The DN under which the entry lives. Default `o=postacert`.
    pub base_dn: String,
}

impl Default for IndexConfig {
    fn default() -> Self {
        Self {
            provider_name: String::new(),
            provider_unit: String::new(),
            description: String::new(),
            mail_receipt: String::new(),
            certificate: PathBuf::new(),
            ldif_url: String::new(),
            base_dn: "o=postacert".into(),
        }
    }
}

impl IndexConfig {
    /// The keys the entry needs that are empty (`provider_name`, `mail_receipt`,
    /// `certificate`), in that order.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.provider_name.is_empty() {
            missing.push("provider_name");
        }
        if self.mail_receipt.is_empty() {
            missing.push("mail_receipt");
        }
        if self.certificate.as_os_str().is_empty() {
            missing.push("certificate");
        }
        missing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny DER SEQUENCE standing in for a certificate where only the bytes matter.
    fn fake_der(len: usize) -> Vec<u8> {
        let mut der = vec![0x30, 0x82, (len >> 8) as u8, (len & 0xff) as u8];
        der.extend((0..len).map(|i| (i % 251) as u8));
        der
    }

    fn provider() -> Provider {
        Provider {
            base_dn: "o=postacert".into(),
            name: "Esempio PEC S.p.A.".into(),
            unit: Some("Posta certificata".into()),
            description: None,
            mail_receipt: "posta-certificata@pec.esempio.it".into(),
            certificate: fake_der(300),
            ldif_url: Some("https://index.pec.esempio.it/provider.ldif".into()),
        }
    }

    fn pem(der: &[u8]) -> String {
        let body = BASE64.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "Subject: junk\n-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        )
    }

    #[test]
    fn pem_is_decoded_to_der() {
        let der = fake_der(300);
        assert_eq!(certificate_from_pem(&pem(&der)).unwrap(), der);
        let short = vec![0x30, 0x03, 1, 2, 3];
        assert_eq!(certificate_from_pem(&pem(&short)).unwrap(), short);
    }

    #[test]
    fn bad_pem_is_a_clear_error() {
        assert_eq!(
            certificate_from_pem("nothing here"),
            Err(IndexError::NoCertificate)
        );
        assert_eq!(
            certificate_from_pem("-----BEGIN CERTIFICATE-----\nMIIB\n"),
            Err(IndexError::Unterminated)
        );
        assert!(matches!(
            certificate_from_pem("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----"),
            Err(IndexError::Base64(_))
        ));
        // Valid base64 but not a DER SEQUENCE, or a SEQUENCE with a wrong length.
        assert!(matches!(
            certificate_from_pem(&pem(b"hello")),
            Err(IndexError::NotDer(_))
        ));
        assert!(matches!(
            certificate_from_pem(&pem(&[0x30, 0x05, 1])),
            Err(IndexError::NotDer(_))
        ));
        assert!(matches!(
            certificate_from_pem(&pem(&[0x30, 0x85, 1, 1, 1, 1, 1])),
            Err(IndexError::NotDer(_))
        ));
        assert!(matches!(
            certificate_from_pem(&pem(&[])),
            Err(IndexError::NotDer(_))
        ));
    }

    #[test]
    fn hashes() {
        // SHA-1("abc") and SHA-256("abc"), FIPS 180 test vectors.
        assert_eq!(
            certificate_hash(b"abc"),
            "A9993E364706816ABA3E25717850C26C9CD0D89D"
        );
        assert_eq!(
            ldif_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn folding_follows_rfc_2849() {
        let mut out = String::new();
        push_folded(&mut out, &"a".repeat(76));
        assert_eq!(out, format!("{}\n", "a".repeat(76)));

        let mut out = String::new();
        let line = format!("x: {}", "b".repeat(200));
        push_folded(&mut out, &line);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0].len(), 76);
        assert!(
            lines[1..]
                .iter()
                .all(|l| l.starts_with(' ') && l.len() <= 76)
        );
        assert_eq!(lines.last().map(|l| l.len()), Some(1 + (203 - 76) % 75));
        // Unfolding gives the line back.
        let unfolded: String = lines
            .iter()
            .enumerate()
            .map(|(i, l)| if i == 0 { *l } else { &l[1..] })
            .collect();
        assert_eq!(unfolded, line);
    }

    #[test]
    fn unsafe_values_are_base64() {
        assert!(is_safe_string(b"Esempio PEC S.p.A."));
        assert!(is_safe_string(b""));
        for bad in [
            &b" lead"[..],
            b":colon",
            b"<url",
            b"trail ",
            b"a\nb",
            "Società".as_bytes(),
        ] {
            assert!(!is_safe_string(bad), "{bad:?}");
        }
        let mut out = String::new();
        push_attribute(&mut out, "providerName", "Società PEC".as_bytes());
        assert_eq!(
            out,
            format!("providerName:: {}\n", BASE64.encode("Società PEC"))
        );
    }

    #[test]
    fn dn_values_are_escaped() {
        assert_eq!(
            escape_dn_value("Rossi, Bianchi & C."),
            "Rossi\\, Bianchi & C."
        );
        assert_eq!(escape_dn_value("#1 PEC "), "\\#1 PEC\\ ");
        assert_eq!(escape_dn_value("a+b=c"), "a\\+b=c");
        let mut p = provider();
        p.name = "A, B".into();
        assert_eq!(p.dn(), "providerName=A\\, B,o=postacert");
        p.base_dn = String::new();
        assert_eq!(p.dn(), "providerName=A\\, B");
    }

    #[test]
    fn the_entry_has_every_attribute_and_only_the_given_domains() {
        let p = provider();
        let ldif = render(&p, ["pec.b.it", "pec.a.it", "pec.b.it"]);
        assert!(ldif.starts_with(
            "version: 1\ndn: providerName=Esempio PEC S.p.A.,o=postacert\n\
             objectClass: top\nobjectClass: provider\nproviderName: Esempio PEC S.p.A.\n\
             providerUnit: Posta certificata\n\
             mailReceipt: posta-certificata@pec.esempio.it\n"
        ));
        assert!(ldif.ends_with(
            "LDIFLocationURL: https://index.pec.esempio.it/provider.ldif\n\
             managedDomains: pec.a.it\nmanagedDomains: pec.b.it\n"
        ));
        assert!(ldif.lines().all(|l| l.len() <= LINE_WIDTH));
        let attributes = parse_attributes(&ldif);
        let get = |name: &str| {
            attributes
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            get("providerCertificate;binary"),
            vec![p.certificate.clone()]
        );
        assert_eq!(
            get("providerCertificateHash"),
            vec![certificate_hash(&p.certificate).into_bytes()]
        );
        assert_eq!(get("managedDomains").len(), 2);
        assert!(get("description").is_empty());
    }

    #[test]
    fn only_certified_and_in_error_domains_are_listed() {
        use crate::lifecycle::State;
        let listed: Vec<&str> = State::ALL
            .into_iter()
            .filter(|state| state.is_published())
            .map(State::as_str)
            .collect();
        assert_eq!(listed, ["certified", "in_error"]);
    }

    #[test]
    fn output_is_deterministic() {
        let p = provider();
        let one = render(&p, ["pec.c.it", "pec.a.it", "pec.b.it"]);
        let two = render(&p, ["pec.b.it", "pec.c.it", "pec.a.it"]);
        assert_eq!(one, two);
        assert_eq!(ldif_hash(&one), ldif_hash(&two));
        let none = render(&p, []);
        assert!(!none.contains("managedDomains"));
    }
}

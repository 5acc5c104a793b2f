//! Domain names as users type them, and the one normal form pecwatch works with.
//!
//! Everything that enters pecwatch as a domain (a command-line argument, a line of a
//! list, an API request) goes through [`DomainName::parse`] first. It accepts what people
//! actually paste — `PEC.Example.IT.`, `mario.rossi@pec.example.it`, `pec.caffè.it` — and
//! produces the lower-case A-label form without a trailing dot, or an [`InputError`] that
//! says what is wrong. An input error is never a DNS finding: the checker only ever sees
//! names that are syntactically host names.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use hickory_proto::rr::Name;
use serde::{Serialize, Serializer};

/// Longest domain name in presentation form without the trailing dot (RFC 1035 §2.3.4).
const MAX_NAME_LEN: usize = 253;
/// Longest label (RFC 1035 §2.3.4).
const MAX_LABEL_LEN: usize = 63;

/// A host name in normal form: A-labels, lower case, no trailing dot, at least two labels.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainName(String);

/// Why an input is not a domain name pecwatch can check.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// Nothing but white space.
    #[error("empty input")]
    Empty,
    /// An IP address instead of a name.
    #[error("{0:?} is an IP address, not a domain name")]
    IpLiteral(String),
    /// A URL (scheme, path or port) instead of a name.
    #[error("{0:?} looks like a URL, not a domain name")]
    Url(String),
    /// Two dots in a row, or a leading dot.
    #[error("{0:?} has an empty label")]
    EmptyLabel(String),
    /// A label over 63 octets (after IDNA conversion).
    #[error("{0:?} has a label longer than 63 characters")]
    LabelTooLong(String),
    /// A name over 253 octets (after IDNA conversion).
    #[error("{0:?} is longer than 253 characters")]
    NameTooLong(String),
    /// A character that is not allowed in a host name, or an invalid IDN.
    #[error("{0:?} contains characters not allowed in a host name")]
    BadCharacters(String),
    /// A label that starts or ends with a hyphen.
    #[error("{0:?} has a label starting or ending with '-'")]
    BadHyphen(String),
    /// A single label such as `localhost` or `it`: not a name that can be certified.
    #[error("{0:?} is a single label, not a domain that can be certified")]
    SingleLabel(String),
    /// An all-numeric top-level label, which no real TLD has.
    #[error("{0:?} has an all-numeric top-level label")]
    NumericTld(String),
}

impl InputError {
    /// The message in the given language.
    pub fn message(&self, lang: crate::Lang) -> String {
        if lang == crate::Lang::En {
            return self.to_string();
        }
        match self {
            Self::Empty => "input vuoto".into(),
            Self::IpLiteral(s) => format!("{s:?} è un indirizzo IP, non un nome di dominio"),
            Self::Url(s) => format!("{s:?} sembra un URL, non un nome di dominio"),
            Self::EmptyLabel(s) => format!("{s:?} contiene un'etichetta vuota"),
            Self::LabelTooLong(s) => format!("{s:?} ha un'etichetta più lunga di 63 caratteri"),
            Self::NameTooLong(s) => format!("{s:?} è più lungo di 253 caratteri"),
            Self::BadCharacters(s) => {
                format!("{s:?} contiene caratteri non ammessi in un nome di host")
            }
            Self::BadHyphen(s) => format!("{s:?} ha un'etichetta che inizia o finisce con '-'"),
            Self::SingleLabel(s) => {
                format!("{s:?} è un'etichetta singola, non un dominio certificabile")
            }
            Self::NumericTld(s) => format!("{s:?} ha un dominio di primo livello numerico"),
        }
    }
}

impl DomainName {
    /// Normalises user input into a domain name.
    ///
    /// Trims white space, takes the domain of an e-mail address, drops one trailing dot,
    /// converts Unicode to A-labels (UTS #46, non-transitional) and lower-cases. Rejects IP
    /// literals, URLs, empty or overlong labels and characters outside letters, digits and
    /// hyphens.
    pub fn parse(input: &str) -> Result<Self, InputError> {
        let raw = input.trim();
        if raw.is_empty() {
            return Err(InputError::Empty);
        }
        let original = || raw.to_string();
        if raw.contains("://") || raw.contains('/') || raw.contains('?') || raw.contains('#') {
            return Err(InputError::Url(original()));
        }
        // An e-mail address: keep what follows the last '@'.
        let host = match raw.rsplit_once('@') {
            Some((local, domain)) if !local.is_empty() => domain,
            Some(_) => return Err(InputError::BadCharacters(original())),
            None => raw,
        };
        let host = host.strip_suffix('.').unwrap_or(host);
        if host.is_empty() {
            return Err(InputError::Empty);
        }
        let bracketless = host.trim_start_matches('[').trim_end_matches(']');
        if bracketless.parse::<IpAddr>().is_ok() {
            return Err(InputError::IpLiteral(original()));
        }
        if host.contains(':') {
            // host:port, or an IPv6 address that did not parse.
            return Err(InputError::Url(original()));
        }
        if host.split('.').any(str::is_empty) {
            return Err(InputError::EmptyLabel(original()));
        }
        if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(InputError::BadCharacters(original()));
        }
        let ascii = if host.is_ascii() {
            host.to_ascii_lowercase()
        } else {
            idna::domain_to_ascii_cow(host.as_bytes(), idna::AsciiDenyList::URL)
                .map_err(|_| InputError::BadCharacters(original()))?
                .into_owned()
        };
        Self::validate_ascii(&ascii, raw)?;
        Ok(Self(ascii))
    }

    fn validate_ascii(ascii: &str, raw: &str) -> Result<(), InputError> {
        let original = || raw.to_string();
        if ascii.len() > MAX_NAME_LEN {
            return Err(InputError::NameTooLong(original()));
        }
        let labels: Vec<&str> = ascii.split('.').collect();
        for label in &labels {
            if label.is_empty() {
                return Err(InputError::EmptyLabel(original()));
            }
            if label.len() > MAX_LABEL_LEN {
                return Err(InputError::LabelTooLong(original()));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(InputError::BadCharacters(original()));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(InputError::BadHyphen(original()));
            }
        }
        if labels.len() < 2 {
            return Err(InputError::SingleLabel(original()));
        }
        if labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(InputError::NumericTld(original()));
        }
        Ok(())
    }

    /// The normal form: lower-case A-labels, no trailing dot.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as a fully qualified DNS name.
    pub fn to_dns(&self) -> Name {
        // Validation above guarantees a well-formed name; fall back to the root only if
        // hickory ever disagrees, which the unit tests would catch.
        Name::from_ascii(format!("{}.", self.0)).unwrap_or_else(|_| Name::root())
    }

    /// The labels of this name relative to `zone` (`pec` for `pec.example.it` in
    /// `example.it`), or `@` when the name is the zone's apex. `None` when the name is not
    /// inside the zone.
    pub fn relative_to(&self, zone: &str) -> Option<String> {
        let zone = zone.trim_end_matches('.').to_ascii_lowercase();
        if zone.is_empty() {
            return Some(self.0.clone());
        }
        if self.0 == zone {
            return Some("@".into());
        }
        self.0
            .strip_suffix(&zone)
            .and_then(|rest| rest.strip_suffix('.'))
            .map(str::to_string)
    }

    /// The Unicode form for display (`pec.caffè.it`); the A-label form if conversion fails.
    pub fn to_unicode(&self) -> String {
        let (unicode, result) = idna::domain_to_unicode(&self.0);
        if result.is_ok() {
            unicode
        } else {
            self.0.clone()
        }
    }
}

impl FromStr for DomainName {
    type Err = InputError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl Serialize for DomainName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// A DNS name in lower case, as text without the trailing dot (`.` for the root).
pub fn display_name(name: &Name) -> String {
    // Fast path (this runs for every name of every report): labels of letters, digits,
    // `_` and inner `-` print as themselves, lower-cased. Anything else (escapes, a
    // leading `-` or `*`, the root, an empty name) takes hickory's presentation form.
    if let Some(text) = plain_text(name) {
        return text;
    }
    let text = name.to_lowercase().to_ascii();
    match text.strip_suffix('.') {
        Some("") | None if name.is_root() => ".".into(),
        Some(stripped) => stripped.to_string(),
        None => text,
    }
}

/// `name` as lower-case text without the trailing dot, when every label is made only of
/// bytes that hickory's ASCII form prints as themselves; `None` otherwise.
fn plain_text(name: &Name) -> Option<String> {
    let mut text = String::with_capacity(name.len());
    for label in name.iter() {
        if !text.is_empty() {
            text.push('.');
        }
        for (index, &byte) in label.iter().enumerate() {
            let byte = byte.to_ascii_lowercase();
            let plain = byte.is_ascii_alphanumeric() || byte == b'_' || (byte == b'-' && index > 0);
            if !plain {
                return None;
            }
            text.push(char::from(byte));
        }
    }
    (!text.is_empty()).then_some(text)
}

/// Whether a name read from DNS data is really an IP address written as a name
/// (`192.0.2.1.` as an MX exchange): such a name has no A record by definition.
pub fn is_ip_literal_name(name: &Name) -> bool {
    let text = display_name(name);
    text.parse::<IpAddr>().is_ok()
        || text
            .rsplit('.')
            .next()
            .is_some_and(|last| !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(input: &str) -> String {
        DomainName::parse(input)
            .unwrap_or_else(|e| panic!("{input}: {e}"))
            .to_string()
    }

    #[test]
    fn normalises_case_dots_and_space() {
        assert_eq!(ok("  PEC.Example.IT.  "), "pec.example.it");
        assert_eq!(ok("pec.example.it"), "pec.example.it");
    }

    #[test]
    fn takes_domain_of_email() {
        assert_eq!(ok("Mario.Rossi@PEC.example.it"), "pec.example.it");
        assert!(DomainName::parse("@pec.example.it").is_err());
    }

    #[test]
    fn converts_unicode_to_a_labels() {
        assert_eq!(ok("pec.caffè.it"), "pec.xn--caff-8oa.it");
        assert_eq!(ok("PEC.CAFFÈ.IT"), "pec.xn--caff-8oa.it");
        let name = DomainName::parse("pec.caffè.it").unwrap();
        assert_eq!(name.to_unicode(), "pec.caffè.it");
    }

    #[test]
    fn rejects_what_is_not_a_host_name() {
        type Expect = fn(&InputError) -> bool;
        let cases: &[(&str, Expect)] = &[
            ("", |e| matches!(e, InputError::Empty)),
            ("   ", |e| matches!(e, InputError::Empty)),
            (".", |e| matches!(e, InputError::Empty)),
            ("192.0.2.1", |e| matches!(e, InputError::IpLiteral(_))),
            ("[2001:db8::1]", |e| matches!(e, InputError::IpLiteral(_))),
            ("2001:db8::1", |e| matches!(e, InputError::IpLiteral(_))),
            ("https://pec.example.it/", |e| {
                matches!(e, InputError::Url(_))
            }),
            ("pec.example.it:25", |e| matches!(e, InputError::Url(_))),
            ("pec..example.it", |e| {
                matches!(e, InputError::EmptyLabel(_))
            }),
            (".pec.example.it", |e| {
                matches!(e, InputError::EmptyLabel(_))
            }),
            ("pec_x.example.it", |e| {
                matches!(e, InputError::BadCharacters(_))
            }),
            ("pec example.it", |e| {
                matches!(e, InputError::BadCharacters(_))
            }),
            ("-pec.example.it", |e| matches!(e, InputError::BadHyphen(_))),
            ("localhost", |e| matches!(e, InputError::SingleLabel(_))),
            ("pec.example.123", |e| {
                matches!(e, InputError::NumericTld(_))
            }),
        ];
        for (input, expected) in cases {
            let err = DomainName::parse(input).expect_err(input);
            assert!(expected(&err), "{input:?} gave {err:?}");
        }
        let long_label = format!("{}.it", "a".repeat(64));
        assert!(matches!(
            DomainName::parse(&long_label),
            Err(InputError::LabelTooLong(_))
        ));
        let long_name = format!("{}it", "abcdefghi.".repeat(26));
        assert!(matches!(
            DomainName::parse(&long_name),
            Err(InputError::NameTooLong(_))
        ));
    }

    #[test]
    fn messages_exist_in_both_languages() {
        let err = DomainName::parse("192.0.2.1").unwrap_err();
        assert!(err.message(crate::Lang::It).contains("indirizzo IP"));
        assert!(err.message(crate::Lang::En).contains("IP address"));
    }

    #[test]
    fn relative_names() {
        let name = DomainName::parse("pec.example.it").unwrap();
        assert_eq!(name.relative_to("example.it.").as_deref(), Some("pec"));
        assert_eq!(name.relative_to("pec.example.it").as_deref(), Some("@"));
        assert_eq!(name.relative_to("other.it"), None);
        assert_eq!(name.relative_to("ample.it"), None);
    }

    #[test]
    fn ip_literal_names() {
        assert!(is_ip_literal_name(&Name::from_ascii("192.0.2.1.").unwrap()));
        assert!(!is_ip_literal_name(
            &Name::from_ascii("mx.pec.aruba.it.").unwrap()
        ));
        assert_eq!(display_name(&Name::root()), ".");
    }

    /// The fast path of `display_name` gives what hickory's presentation form gives.
    #[test]
    fn display_name_is_hickorys_form() {
        let reference = |name: &Name| {
            let text = name.to_lowercase().to_ascii();
            match text.strip_suffix('.') {
                Some("") | None if name.is_root() => ".".to_string(),
                Some(stripped) => stripped.to_string(),
                None => text,
            }
        };
        let mut names: Vec<Name> = [
            ".",
            "MX.Pec.Aruba.IT.",
            "mx.pec.aruba.it",
            "_dmarc.example.it.",
            "a-b.c_d.e9.",
            "a\\.b.example.it.",
        ]
        .iter()
        .map(|text| Name::from_ascii(text).unwrap())
        .collect();
        for labels in [
            &[&b"-lead"[..], b"it"][..],
            &[b"trail-", b"it"],
            &[b"*", b"example", b"it"],
            &[b"xn--caff-dsa", b"it"],
        ] {
            names.push(Name::from_labels(labels.iter().copied()).unwrap());
        }
        names.push(Name::from_labels(vec![&b"caf\xc3\xa9"[..], b"it"]).unwrap());
        names.push(Name::from_labels(vec![&b"a.b"[..], b"it"]).unwrap());
        names.push(Name::from_labels(vec![&b"sp ace"[..], b"\x00\x7f"]).unwrap());
        names.push(Name::new());
        let mut relative = Name::from_ascii("pec.example.it.").unwrap();
        relative.set_fqdn(false);
        names.push(relative);
        for name in &names {
            assert_eq!(display_name(name), reference(name), "{name:?}");
        }
        // Every single-byte label, first and inner.
        for byte in 0..=u8::MAX {
            for label in [vec![byte], vec![b'a', byte]] {
                let name = Name::from_labels(vec![label.as_slice(), b"it"]).unwrap();
                assert_eq!(display_name(&name), reference(&name), "{byte}");
            }
        }
        assert_eq!(
            display_name(&Name::from_ascii("MX.Pec.Aruba.IT.").unwrap()),
            "mx.pec.aruba.it"
        );
    }
}

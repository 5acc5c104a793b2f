//! The people a domain's notices go to, as they enter pecwatch: the holder's name and
//! e-mail address, and the reseller (a name, or an address that gets copies).
//!
//! Every entry — the command line, the API, the import files of domains and orders, the
//! console — checks these values through [`Contact::parse`] (or the single-value
//! parsers), so that a notice is never stopped by a value the mail composer or the relay
//! refuses: no control characters (CR, LF, a bare CR from a CSV file, TAB…), a length cap,
//! and an address that is really one (parsed by lettre's [`Address`], plus a host name of
//! at least two labels and an ASCII local part without quotes). A [`ContactError`] names
//! the field and says what is wrong, in Italian or English.
//!
//! [`parse_address`] is the one check of an e-mail address in pecwatch: these values,
//! the mailboxes of certified domains and the configuration's own addresses all go
//! through it.

use std::fmt;

use lettre::Address;
use serde::Serialize;

use crate::Lang;
use crate::name::{DomainName, InputError};

/// Who holds a certified domain: notices go to them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Holder {
    /// The holder's name, for the salutation of notices.
    pub name: Option<String>,
    /// Where notices are sent.
    pub email: String,
    /// The language of notices.
    pub lang: Lang,
}

/// The longest holder or reseller name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The longest e-mail address, in octets (RFC 5321 §4.5.3.1.3: a path of 256 octets
/// including the angle brackets).
pub const MAX_ADDRESS_LEN: usize = 254;

/// Which value is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// The holder's e-mail address.
    HolderEmail,
    /// The holder's name.
    HolderName,
    /// The reseller.
    Reseller,
}

impl Field {
    /// The field's name as the API and the import files spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HolderEmail => "holder_email",
            Self::HolderName => "holder_name",
            Self::Reseller => "reseller",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is wrong with a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Empty (where a value is required).
    Empty,
    /// A control character (CR, LF, TAB, NUL, …).
    ControlCharacter,
    /// Longer than allowed.
    TooLong {
        /// The most allowed (characters for names, octets for addresses).
        max: usize,
    },
    /// Not an e-mail address.
    NotAnAddress,
}

/// A value that cannot be accepted: which field, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message(Lang::En))]
pub struct ContactError {
    /// The field.
    pub field: Field,
    /// What is wrong.
    pub problem: Problem,
    /// The value as the message quotes it: escaped (`\r`, `\n`), at most
    /// [`QUOTED_CHARS`] characters.
    pub quoted: String,
}

/// The most characters of a wrong value a message quotes.
pub const QUOTED_CHARS: usize = 60;

impl ContactError {
    fn new(field: Field, problem: Problem, value: &str) -> Self {
        let mut quoted: String = value.chars().take(QUOTED_CHARS).collect();
        if value.chars().nth(QUOTED_CHARS).is_some() {
            quoted.push('…');
        }
        Self {
            field,
            problem,
            quoted: format!("{quoted:?}"),
        }
    }

    /// The message in Italian and English (`… / …`), for the command line.
    pub fn both(&self) -> String {
        format!("{} / {}", self.message(Lang::It), self.message(Lang::En))
    }

    /// The message in `lang`, naming the field and quoting the start of the value
    /// (escaped: it may hold control characters, or 100,000 characters).
    pub fn message(&self, lang: Lang) -> String {
        let field = match self.problem {
            Problem::Empty => self.field.as_str().to_owned(),
            _ => format!("{} {}", self.field, self.quoted),
        };
        match (self.problem, lang) {
            (Problem::Empty, Lang::It) => format!("{field}: manca il valore"),
            (Problem::Empty, Lang::En) => format!("{field}: the value is missing"),
            (Problem::ControlCharacter, Lang::It) => format!(
                "{field}: contiene caratteri di controllo (a capo, tabulazione…), non ammessi"
            ),
            (Problem::ControlCharacter, Lang::En) => {
                format!("{field}: contains control characters (line breaks, tabs…), not allowed")
            }
            (Problem::TooLong { max }, Lang::It) => {
                format!("{field}: troppo lungo (al massimo {max} caratteri)")
            }
            (Problem::TooLong { max }, Lang::En) => {
                format!("{field}: too long (at most {max} characters)")
            }
            (Problem::NotAnAddress, Lang::It) => format!(
                "{field}: non è un indirizzo e-mail valido (serve nome@dominio.it, senza spazi)"
            ),
            (Problem::NotAnAddress, Lang::En) => format!(
                "{field}: not a valid e-mail address (expected name@domain.it, without spaces)"
            ),
        }
    }
}

/// Which hosts an e-mail address may name ([`parse_address`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hosts {
    /// A domain of two labels or more: the addresses of holders, resellers and
    /// mailboxes, which the Internet must reach.
    Internet,
    /// Any host name, a single label too (`noreply@localhost`): the configuration's own
    /// addresses (the sender, the operators), which a local relay may serve.
    Local,
}

/// The one check of an e-mail address, for every entry (the holder's and reseller's
/// addresses, mailboxes, the configuration's sender and operators): trimmed, no control
/// characters, at most [`MAX_ADDRESS_LEN`] octets, `local@host` with an ASCII dot-atom
/// local part of at most 64 octets (no quotes, no spaces; checked by lettre's
/// [`Address`]) and a host name as `hosts` allows (IDN converted to A-labels, lower
/// case). Returns the local part as written and the host in normal form.
pub fn parse_address(input: &str, hosts: Hosts) -> Result<(String, String), Problem> {
    let text = input.trim();
    if text.is_empty() {
        return Err(Problem::Empty);
    }
    if text.chars().any(char::is_control) {
        return Err(Problem::ControlCharacter);
    }
    if text.len() > MAX_ADDRESS_LEN {
        return Err(Problem::TooLong {
            max: MAX_ADDRESS_LEN,
        });
    }
    let (local, host) = text.rsplit_once('@').ok_or(Problem::NotAnAddress)?;
    if local.is_empty()
        || !local.is_ascii()
        || local.contains(['"', '\\'])
        || local.chars().any(char::is_whitespace)
        || host.starts_with('[')
    {
        return Err(Problem::NotAnAddress);
    }
    let host = match (DomainName::parse(host), hosts) {
        (Ok(name), _) => name.as_str().to_owned(),
        // A single label passed every other check of a host name.
        (Err(InputError::SingleLabel(_)), Hosts::Local) if host.is_ascii() => {
            host.to_ascii_lowercase()
        }
        (Err(_), _) => return Err(Problem::NotAnAddress),
    };
    let address = Address::new(local, &host).map_err(|_| Problem::NotAnAddress)?;
    Ok((address.user().to_owned(), address.domain().to_owned()))
}

/// An e-mail address pecwatch can send to: `local@host`, ASCII local part without
/// quotes or spaces, host name of two labels or more (IDN converted to A-labels).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Parses an address typed or imported for `field` ([`parse_address`] for the
    /// Internet).
    pub fn parse(input: &str, field: Field) -> Result<Self, ContactError> {
        let (local, host) = parse_address(input, Hosts::Internet)
            .map_err(|problem| ContactError::new(field, problem, input.trim()))?;
        Ok(Self(format!("{local}@{host}")))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A person's or company's name (holder or reseller): trimmed, no control characters,
/// at most [`MAX_NAME_CHARS`] characters. `None` for an empty value.
pub fn parse_name(input: &str, field: Field) -> Result<Option<String>, ContactError> {
    let text = input.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.chars().any(char::is_control) {
        return Err(ContactError::new(field, Problem::ControlCharacter, text));
    }
    if text.chars().count() > MAX_NAME_CHARS {
        return Err(ContactError::new(
            field,
            Problem::TooLong {
                max: MAX_NAME_CHARS,
            },
            text,
        ));
    }
    Ok(Some(text.to_owned()))
}

/// The reseller: a name, or an e-mail address (it gets copies of the notices). A value
/// with an `@` must be a valid address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reseller {
    /// A name only.
    Name(String),
    /// An address.
    Email(EmailAddress),
}

impl Reseller {
    /// Parses a reseller; `None` for an empty value.
    pub fn parse(input: &str) -> Result<Option<Self>, ContactError> {
        let Some(text) = parse_name(input, Field::Reseller)? else {
            return Ok(None);
        };
        if text.contains('@') {
            return EmailAddress::parse(&text, Field::Reseller).map(|a| Some(Self::Email(a)));
        }
        Ok(Some(Self::Name(text)))
    }

    /// The text stored.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Name(name) => name,
            Self::Email(address) => address.as_str(),
        }
    }
}

/// The people of one domain or order, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    /// The holder's name.
    pub holder_name: Option<String>,
    /// The holder's address.
    pub holder_email: EmailAddress,
    /// The reseller.
    pub reseller: Option<Reseller>,
}

impl Contact {
    /// Checks the three values as they came in (the first wrong one is named).
    pub fn parse(
        holder_email: &str,
        holder_name: Option<&str>,
        reseller: Option<&str>,
    ) -> Result<Self, ContactError> {
        Ok(Self {
            holder_email: EmailAddress::parse(holder_email, Field::HolderEmail)?,
            holder_name: holder_name
                .map(|name| parse_name(name, Field::HolderName))
                .transpose()?
                .flatten(),
            reseller: reseller.map(Reseller::parse).transpose()?.flatten(),
        })
    }

    /// Checks a holder and reseller and returns them in normal form.
    pub fn check(
        holder: &Holder,
        reseller: Option<&str>,
    ) -> Result<(Holder, Option<String>), ContactError> {
        let contact = Self::parse(&holder.email, holder.name.as_deref(), reseller)?;
        Ok((
            Holder {
                name: contact.holder_name,
                email: contact.holder_email.0,
                lang: holder.lang,
            },
            contact.reseller.map(|r| r.as_str().to_owned()),
        ))
    }
}

/// A name as a notice can carry it whatever was stored (rows older than these checks):
/// control characters become spaces, runs of spaces one, at most [`MAX_NAME_CHARS`]
/// characters (then `…`). `None` when nothing is left.
pub fn printable_name(stored: &str) -> Option<String> {
    let cleaned: String = stored
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    let joined = words.join(" ");
    if joined.is_empty() {
        return None;
    }
    if joined.chars().count() > MAX_NAME_CHARS {
        let mut cut: String = joined.chars().take(MAX_NAME_CHARS - 1).collect();
        cut.push('…');
        return Some(cut);
    }
    Some(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(text: &str) -> Result<String, Problem> {
        EmailAddress::parse(text, Field::HolderEmail)
            .map(|a| a.to_string())
            .map_err(|e| e.problem)
    }

    #[test]
    fn addresses_are_real_ones() {
        assert_eq!(
            email(" Mario.Rossi@PEC.Esempio.IT ").unwrap(),
            "Mario.Rossi@pec.esempio.it"
        );
        assert_eq!(email("a+b@caffè.it").unwrap(), "a+b@xn--caff-8oa.it");
        for bad in [
            "bad reseller@evil.it",
            "noat.example.it",
            "@esempio.it",
            "a@b",
            "a@[127.0.0.1]",
            "a@127.0.0.1",
            "\"x y\"@esempio.it",
            "a@esempio..it",
            "a@@esempio.it",
            "à@esempio.it",
            "a@esempio.it>",
            "a@esempio.it, b@esempio.it",
        ] {
            assert_eq!(email(bad), Err(Problem::NotAnAddress), "{bad}");
        }
        assert_eq!(
            email("a@esempio.it\r\nBcc: x@evil.it"),
            Err(Problem::ControlCharacter)
        );
        assert_eq!(email(""), Err(Problem::Empty));
        let long = format!("{}@esempio.it", "a".repeat(100_000));
        assert_eq!(email(&long), Err(Problem::TooLong { max: 254 }));
    }

    #[test]
    fn local_addresses_may_name_one_label() {
        assert_eq!(
            parse_address("noreply@LocalHost", Hosts::Local),
            Ok(("noreply".to_owned(), "localhost".to_owned()))
        );
        assert_eq!(
            parse_address("noreply@localhost", Hosts::Internet),
            Err(Problem::NotAnAddress)
        );
        for bad in ["a b@x", "a@b>", "a..b@x.it", "\"a\"@x.it", "a@[127.0.0.1]"] {
            assert_eq!(
                parse_address(bad, Hosts::Local),
                Err(Problem::NotAnAddress),
                "{bad}"
            );
        }
        let long = format!("{}@x.it", "a".repeat(65));
        assert_eq!(
            parse_address(&long, Hosts::Internet),
            Err(Problem::NotAnAddress)
        );
    }

    #[test]
    fn names_have_no_control_characters_and_a_cap() {
        let name = |text: &str| parse_name(text, Field::HolderName).map_err(|e| e.problem);
        assert_eq!(
            name("  Niccolò Rossi <Srl> ").unwrap().as_deref(),
            Some("Niccolò Rossi <Srl>")
        );
        assert_eq!(name("   ").unwrap(), None);
        for bad in [
            "Rossi\r\nBcc: x@evil.it",
            "Rossi\rSrl",
            "Rossi\nSrl",
            "a\tb",
            "a\0",
        ] {
            assert_eq!(name(bad), Err(Problem::ControlCharacter), "{bad:?}");
        }
        assert_eq!(
            name(&"x".repeat(100_000)),
            Err(Problem::TooLong {
                max: MAX_NAME_CHARS
            })
        );
        assert!(name(&"è".repeat(MAX_NAME_CHARS)).is_ok());
    }

    #[test]
    fn resellers_are_names_or_addresses() {
        assert_eq!(
            Reseller::parse("Rivendita Srl").unwrap(),
            Some(Reseller::Name("Rivendita Srl".into()))
        );
        assert_eq!(
            Reseller::parse("partner@rivendita.it")
                .unwrap()
                .map(|r| r.as_str().to_owned()),
            Some("partner@rivendita.it".into())
        );
        assert_eq!(Reseller::parse("").unwrap(), None);
        let error = Reseller::parse("bad reseller@evil.it").unwrap_err();
        assert_eq!(error.field, Field::Reseller);
        assert_eq!(error.problem, Problem::NotAnAddress);
        assert_eq!(
            error.message(Lang::It),
            "reseller \"bad reseller@evil.it\": non è un indirizzo e-mail valido \
             (serve nome@dominio.it, senza spazi)"
        );
        assert!(
            error
                .message(Lang::En)
                .contains("not a valid e-mail address")
        );
        let injected = parse_name("Rossi\r\nBcc: x", Field::HolderName).unwrap_err();
        assert!(
            injected
                .message(Lang::En)
                .starts_with("holder_name \"Rossi\\r\\nBcc: x\": contains control"),
            "{}",
            injected.message(Lang::En)
        );
        let long = parse_name(&"x".repeat(100_000), Field::HolderName).unwrap_err();
        assert!(
            long.message(Lang::It).len() < 200,
            "{}",
            long.message(Lang::It)
        );
    }

    #[test]
    fn contacts_name_the_first_wrong_field() {
        let ok = Contact::parse("t@esempio.it", Some("Rossi"), Some("r@esempio.it")).unwrap();
        assert_eq!(ok.holder_email.as_str(), "t@esempio.it");
        let field =
            |e: &str, n: Option<&str>, r: Option<&str>| Contact::parse(e, n, r).unwrap_err().field;
        assert_eq!(field("t esempio.it", None, None), Field::HolderEmail);
        assert_eq!(field("t@esempio.it", Some("a\rb"), None), Field::HolderName);
        assert_eq!(
            field("t@esempio.it", None, Some("bad reseller@evil.it")),
            Field::Reseller
        );
    }

    #[test]
    fn stored_names_are_made_printable() {
        assert_eq!(
            printable_name("Rossi\r\nBcc: x@evil.it").as_deref(),
            Some("Rossi Bcc: x@evil.it")
        );
        assert_eq!(printable_name("\r\n"), None);
        let long = printable_name(&"x".repeat(100_000)).unwrap();
        assert_eq!(long.chars().count(), MAX_NAME_CHARS);
        assert!(long.ends_with('…'));
    }
}

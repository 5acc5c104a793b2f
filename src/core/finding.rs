//! What a check says about a domain: codes, findings, evidence and fixes.
//!
//! The codes are the contract with domain holders and with the other parts of pecwatch:
//! their names come from the providers' own notices (`NS NON DEFINITO`, `A MULTIPLI`, …,
//! see `SPEC.md` §2) and never change.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::Lang;

/// How bad a finding is.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Reported, never blocks certification on its own.
    Warning,
    /// The domain is not correctly configured for its PEC provider.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Warning => "warning",
            Self::Error => "error",
        })
    }
}

/// Every finding code a check can produce (`SPEC.md` §2).
///
/// Serialized (and stored) as its name (`NS_NON_DEFINITO`); reading a name this version
/// does not know fails with serde's "unknown variant" error.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[allow(non_camel_case_types)]
pub enum Code {
    /// The name's DNS does not work: NXDOMAIN, no authoritative server, or every server fails.
    NS_NON_DEFINITO,
    /// The name exists but has no MX, or only a null MX.
    MX_NON_DEFINITO,
    /// An MX target has no A record, or is not a host name.
    A_NON_DEFINITO,
    /// An MX target's address is not one of the provider's PEC mail servers.
    A_NON_CORRETTO,
    /// An MX target has more than one A record.
    A_MULTIPLI,
    /// The authoritative servers disagree, or one of them does not answer while others do.
    NS_NON_ALLINEATI,
    /// The MX set names more targets than a check resolves ([`crate::check::MAX_MX_TARGETS`]).
    MX_TROPPI,
    /// The authoritative servers report different SOA serials.
    SOA_SERIALI_DIVERSI,
    /// An MX target is an alias (CNAME).
    MX_ALIAS,
    /// An MX target has IPv6 addresses outside the provider's.
    AAAA_NON_CORRETTO,
    /// The MX preference differs from the provider's.
    MX_PRIORITA,
    /// The zone has a single authoritative server.
    NS_SINGOLO,
    /// The parent's delegation differs from the zone's own NS set.
    DELEGA_INCOERENTE,
    /// A server address is loopback, private or link-local and was not queried.
    NS_INDIRIZZO_NON_PUBBLICO,
    /// The MX or an MX target's address does not validate (DNSSEC): validating senders
    /// get SERVFAIL.
    DNSSEC_NON_VALIDO,
    /// Everything validates, but a DNSSEC signature on the path expires soon.
    DNSSEC_IN_SCADENZA,
}

impl Code {
    /// Every code, errors first.
    pub const ALL: [Code; 16] = [
        Code::NS_NON_DEFINITO,
        Code::MX_NON_DEFINITO,
        Code::A_NON_DEFINITO,
        Code::A_NON_CORRETTO,
        Code::A_MULTIPLI,
        Code::NS_NON_ALLINEATI,
        Code::MX_TROPPI,
        Code::DNSSEC_NON_VALIDO,
        Code::SOA_SERIALI_DIVERSI,
        Code::MX_ALIAS,
        Code::AAAA_NON_CORRETTO,
        Code::MX_PRIORITA,
        Code::NS_SINGOLO,
        Code::DELEGA_INCOERENTE,
        Code::NS_INDIRIZZO_NON_PUBBLICO,
        Code::DNSSEC_IN_SCADENZA,
    ];

    /// The severity of every finding with this code.
    pub fn severity(self) -> Severity {
        match self {
            Self::NS_NON_DEFINITO
            | Self::MX_NON_DEFINITO
            | Self::A_NON_DEFINITO
            | Self::A_NON_CORRETTO
            | Self::A_MULTIPLI
            | Self::NS_NON_ALLINEATI
            | Self::MX_TROPPI
            | Self::DNSSEC_NON_VALIDO => Severity::Error,
            _ => Severity::Warning,
        }
    }

    /// The code's name (`NS_NON_DEFINITO`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NS_NON_DEFINITO => "NS_NON_DEFINITO",
            Self::MX_NON_DEFINITO => "MX_NON_DEFINITO",
            Self::A_NON_DEFINITO => "A_NON_DEFINITO",
            Self::A_NON_CORRETTO => "A_NON_CORRETTO",
            Self::A_MULTIPLI => "A_MULTIPLI",
            Self::NS_NON_ALLINEATI => "NS_NON_ALLINEATI",
            Self::MX_TROPPI => "MX_TROPPI",
            Self::SOA_SERIALI_DIVERSI => "SOA_SERIALI_DIVERSI",
            Self::MX_ALIAS => "MX_ALIAS",
            Self::AAAA_NON_CORRETTO => "AAAA_NON_CORRETTO",
            Self::MX_PRIORITA => "MX_PRIORITA",
            Self::NS_SINGOLO => "NS_SINGOLO",
            Self::DELEGA_INCOERENTE => "DELEGA_INCOERENTE",
            Self::NS_INDIRIZZO_NON_PUBBLICO => "NS_INDIRIZZO_NON_PUBBLICO",
            Self::DNSSEC_NON_VALIDO => "DNSSEC_NON_VALIDO",
            Self::DNSSEC_IN_SCADENZA => "DNSSEC_IN_SCADENZA",
        }
    }

    /// The names of `codes`, joined by `separator` (`A_NON_CORRETTO, A_MULTIPLI`).
    pub fn join(codes: &[Code], separator: &str) -> String {
        let names: Vec<&str> = codes.iter().map(|code| code.as_str()).collect();
        names.join(separator)
    }

    /// The label used in the providers' notices (`NS NON DEFINITO`).
    pub fn label(self) -> String {
        self.as_str().replace('_', " ")
    }

    /// Parses a code name (`NS_NON_DEFINITO` or `NS NON DEFINITO`, any case).
    pub fn parse(text: &str) -> Option<Self> {
        let wanted = text.trim().replace(' ', "_").to_ascii_uppercase();
        Self::ALL.into_iter().find(|code| code.as_str() == wanted)
    }

    /// Why this matters for PEC, in plain words.
    pub fn explanation(self, lang: Lang) -> &'static str {
        use Code::*;
        match (self, lang) {
            (NS_NON_DEFINITO, Lang::It) => {
                "Il DNS del dominio non risponde o non esiste: nessun gestore può sapere dove consegnare la posta certificata."
            }
            (NS_NON_DEFINITO, Lang::En) => {
                "The domain's DNS does not answer or does not exist: no provider can find where to deliver certified mail."
            }
            (MX_NON_DEFINITO, Lang::It) => {
                "Senza un record MX verso il gestore la posta certificata per questo dominio non viene consegnata."
            }
            (MX_NON_DEFINITO, Lang::En) => {
                "Without an MX record to the provider, certified mail for this domain is not delivered."
            }
            (A_NON_DEFINITO, Lang::It) => {
                "Il record MX indica un server che non ha un indirizzo: la posta non può essere consegnata."
            }
            (A_NON_DEFINITO, Lang::En) => {
                "The MX record names a server that has no address: mail cannot be delivered."
            }
            (A_NON_CORRETTO, Lang::It) => {
                "Il record MX porta la posta a un server che non è un server PEC del gestore: la posta certificata finirebbe altrove (configurazione ibrida non ammessa)."
            }
            (A_NON_CORRETTO, Lang::En) => {
                "The MX record sends mail to a server that is not one of the provider's PEC servers: certified mail would go elsewhere (hybrid configurations are not allowed)."
            }
            (A_MULTIPLI, Lang::It) => {
                "Il record MX deve puntare a un solo record A: più indirizzi non sono ammessi."
            }
            (A_MULTIPLI, Lang::En) => {
                "The MX record must point to a single A record: several addresses are not allowed."
            }
            (NS_NON_ALLINEATI, Lang::It) => {
                "I server DNS autoritativi non danno tutti la stessa risposta: la modifica va propagata a tutti i server (master e slave)."
            }
            (NS_NON_ALLINEATI, Lang::En) => {
                "The authoritative DNS servers do not all give the same answer: the change must reach every server (master and slaves)."
            }
            (MX_TROPPI, Lang::It) => {
                "Il dominio ha troppi record MX: la posta certificata deve andare solo ai server del gestore, con il record MX che il gestore indica."
            }
            (MX_TROPPI, Lang::En) => {
                "The domain has too many MX records: certified mail must go only to the provider's servers, through the MX record the provider gives."
            }
            (SOA_SERIALI_DIVERSI, Lang::It) => {
                "I server autoritativi hanno versioni diverse della zona: probabilmente la propagazione è in corso."
            }
            (SOA_SERIALI_DIVERSI, Lang::En) => {
                "The authoritative servers hold different versions of the zone: propagation is probably in progress."
            }
            (MX_ALIAS, Lang::It) => {
                "Il record MX punta a un alias (CNAME), vietato dall'RFC 2181: alcuni server di posta lo rifiutano."
            }
            (MX_ALIAS, Lang::En) => {
                "The MX record points to an alias (CNAME), which RFC 2181 forbids: some mail servers refuse it."
            }
            (AAAA_NON_CORRETTO, Lang::It) => {
                "Il server di posta ha indirizzi IPv6 che non sono del gestore: la posta via IPv6 finirebbe altrove."
            }
            (AAAA_NON_CORRETTO, Lang::En) => {
                "The mail server has IPv6 addresses that are not the provider's: mail over IPv6 would go elsewhere."
            }
            (MX_PRIORITA, Lang::It) => {
                "La priorità del record MX è diversa da quella indicata dal gestore."
            }
            (MX_PRIORITA, Lang::En) => {
                "The MX preference differs from the one the provider asks for."
            }
            (NS_SINGOLO, Lang::It) => {
                "La zona ha un solo server DNS: se si ferma, la posta certificata non arriva (RFC 2182)."
            }
            (NS_SINGOLO, Lang::En) => {
                "The zone has a single DNS server: if it stops, certified mail does not arrive (RFC 2182)."
            }
            (DELEGA_INCOERENTE, Lang::It) => {
                "La delega nella zona padre elenca server diversi da quelli della zona stessa."
            }
            (DELEGA_INCOERENTE, Lang::En) => {
                "The delegation in the parent zone lists different servers from the zone's own."
            }
            (NS_INDIRIZZO_NON_PUBBLICO, Lang::It) => {
                "Un server DNS ha un indirizzo privato o locale, irraggiungibile da Internet."
            }
            (NS_INDIRIZZO_NON_PUBBLICO, Lang::En) => {
                "A DNS server has a private or local address, unreachable from the Internet."
            }
            (DNSSEC_NON_VALIDO, Lang::It) => {
                "La zona è firmata con DNSSEC in modo errato: i server di posta dei mittenti che verificano il DNSSEC (la maggior parte dei gestori) ricevono un errore (SERVFAIL) invece del record e non possono consegnare la posta certificata, anche se tutto il resto è corretto."
            }
            (DNSSEC_NON_VALIDO, Lang::En) => {
                "The zone is signed wrongly with DNSSEC: the mail servers of senders that validate DNSSEC (most providers) get an error (SERVFAIL) instead of the record and cannot deliver certified mail, even though everything else is right."
            }
            (DNSSEC_IN_SCADENZA, Lang::It) => {
                "Le firme DNSSEC hanno una scadenza: se non vengono rinnovate in tempo (un firmatario fermo), la zona smette di essere verificabile e la posta certificata non arriva più."
            }
            (DNSSEC_IN_SCADENZA, Lang::En) => {
                "DNSSEC signatures expire: if they are not renewed in time (a stopped signer), the zone stops validating and certified mail no longer arrives."
            }
        }
    }
}

/// A text that names no error or warning code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown code {text:?}: expected one of {}", Code::ALL.map(Code::as_str).join(", "))]
pub struct UnknownCode {
    /// The text as given.
    pub text: String,
}

impl std::str::FromStr for Code {
    type Err = UnknownCode;

    /// [`Code::parse`], with an error that lists the codes.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Code::parse(text).ok_or_else(|| UnknownCode {
            text: text.to_owned(),
        })
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Text in both languages; rendered in the reader's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text {
    /// Italiano.
    pub it: String,
    /// English.
    pub en: String,
}

impl Text {
    /// Builds a text from its two versions.
    pub fn new(it: impl Into<String>, en: impl Into<String>) -> Self {
        Self {
            it: it.into(),
            en: en.into(),
        }
    }

    /// The text in `lang`.
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::It => &self.it,
            Lang::En => &self.en,
        }
    }
}

/// One observation a finding rests on: which server was asked what, and what came back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// The server's name (`ns1.example.it`), or `resolver` for the recursive resolver.
    pub server: Option<String>,
    /// The address that was queried.
    pub address: Option<IpAddr>,
    /// The query (`pec.example.it MX`).
    pub query: String,
    /// What came back (`NXDOMAIN`, `ANSWER: … MX 10 mail.example.it.`).
    pub outcome: String,
}

/// Which of the customer's cases a fix is written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FixCase {
    /// The certified name is a record inside its parent's zone (`pec IN MX …` in `example.it`).
    ParentZone,
    /// The certified name is its own zone (`@ IN MX …` in `pec.example.it`).
    OwnZone,
    /// Delegate the certified name to the provider's name servers (lines in the parent).
    Delegation,
    /// Make every authoritative server serve the current zone (propagation).
    Propagation,
    /// Register or delegate the parent domain itself.
    Registration,
    /// Sign the zone again, or bring its DS and DNSKEY records back in line (DNSSEC).
    Dnssec,
}

impl FixCase {
    /// A short title for this way of fixing.
    pub fn title(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Self::ParentZone, Lang::It) => "Record nella zona padre",
            (Self::ParentZone, Lang::En) => "Record in the parent zone",
            (Self::OwnZone, Lang::It) => "Record nella zona del sottodominio",
            (Self::OwnZone, Lang::En) => "Record in the subdomain's own zone",
            (Self::Delegation, Lang::It) => "Delega ai DNS del gestore",
            (Self::Delegation, Lang::En) => "Delegation to the provider's DNS",
            (Self::Propagation, Lang::It) => "Allineamento dei server",
            (Self::Propagation, Lang::En) => "Server alignment",
            (Self::Registration, Lang::It) => "Registrazione o delega del dominio",
            (Self::Registration, Lang::En) => "Registration or delegation of the domain",
            (Self::Dnssec, Lang::It) => "Firma DNSSEC della zona",
            (Self::Dnssec, Lang::En) => "DNSSEC signing of the zone",
        }
    }
}

impl fmt::Display for FixCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.title(Lang::En))
    }
}

/// One way to fix a finding: the zone to edit and the exact lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Fix {
    /// The customer's case this fix is written for.
    pub case: FixCase,
    /// The zone to edit (`example.it`), without the trailing dot.
    pub zone: String,
    /// Zone-file lines to add.
    pub add: Vec<String>,
    /// Zone-file lines to remove.
    pub remove: Vec<String>,
    /// What else to do, in plain words.
    #[serde(skip)]
    pub note: Option<Text>,
}

/// One finding of a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The code.
    pub code: Code,
    /// What is wrong for this domain, in both languages.
    pub message: Text,
    /// The observations it rests on.
    pub evidence: Vec<Evidence>,
    /// Ways to fix it, the recommended one first.
    pub fixes: Vec<Fix>,
    /// It rests only on timeouts or network errors: it may go away by itself.
    pub transient: bool,
    /// The provider profile lowered this error to a warning (`dnssec = "warning"`): it is
    /// reported, never blocks certification and never starts the 7 days.
    pub lowered: bool,
}

impl Finding {
    /// The finding's severity: its code's, unless the profile lowered it.
    pub fn severity(&self) -> Severity {
        if self.lowered {
            Severity::Warning
        } else {
            self.code.severity()
        }
    }
}

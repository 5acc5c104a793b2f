//! Activation: from an order to a working PEC domain (seeds 002–004).
//!
//! 1. **Order.** [`place`] records an order for the customer's own domain or for an
//!    internal subdomain of the provider (`acme.<internal zone>`, label rules in
//!    [`check_label`]). Names already registered or ordered are refused. Internal orders
//!    (and own ones when `activation.review_own_domains` is set) wait for an operator.
//!    What the provider writes in its own DNS ([`provision`], by RFC 2136 through
//!    [`crate::provision`]) is written after the approval: an internal subdomain's MX, an
//!    own domain's MX when its zone is on the provider's DNS, a delegated zone.
//! 2. **Approval.** [`approve`] registers the domain (`requested`, then `pending_dns`,
//!    both transitions recorded) and marks the order approved. Each step is idempotent:
//!    an approval interrupted half-way is finished by running it again.
//! 3. **Verification.** The sweep rechecks `pending_dns` domains, every 10 minutes at
//!    first and backing off ([`crate::sweep::plan::pending_interval`]); a check that
//!    passes on every authoritative server activates the domain
//!    ([`crate::lifecycle`]): `certified`, published in the index, activation notice
//!    queued.
//! 4. **Activation steps.** Rendering the activation notice runs [`prepare_notice`]: the
//!    postmaster mailbox is created and a single-use, expiring set-password link issued
//!    (only its SHA-256 is stored; the password is hashed with argon2id; neither is ever
//!    logged). [`advance`] records the steps already done (`certified`, `published`) for
//!    the operators' view of each order.
//!
//! Mailboxes ([`add_mailbox`]) exist only in domains whose mail flows (`certified`,
//! `in_error`).

use std::fmt;

use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use std::sync::Arc;

use crate::Lang;
use crate::actions::{self, ActionError, Command};
use crate::instructions::{Case, decide};
use crate::lifecycle::duration_serde as duration_text;
use crate::lifecycle::{DomainStatus, Policy, State};
use crate::name::{DomainName, InputError};
use crate::probe::Prober;
use crate::profile::ProfileLoader;
use crate::provision::{Provisioned, Provisioner};
use crate::registry::{
    Domain, Holder, LinkProblem, Mailbox, NewDomain, NewOrder, Order, OrderKind, OrderState,
    Registry, RegistryError,
};
use crate::settings::Invalid;

/// The actor recorded for what pecwatch does by itself.
pub const SYSTEM: &str = "pecwatch";
/// The mailbox every certified domain has first.
pub const POSTMASTER: &str = "postmaster";
/// The shortest password accepted.
pub const MIN_PASSWORD: usize = 10;
/// The longest password accepted (argon2 takes longer ones, but nobody types them).
pub const MAX_PASSWORD: usize = 256;

/// `[activation]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActivationConfig {
    /// Labels no internal subdomain may have. Default: the names of common services and
    /// roles (`www`, `mail`, `postmaster`, `admin`, …).
    pub reserved_labels: Vec<String>,
    /// Words no internal subdomain may contain (brands, offensive words). Default none.
    pub forbidden_words: Vec<String>,
    /// Whether orders for the customer's own domain also wait for an operator's approval
    /// (internal subdomains always do). Default false.
    pub review_own_domains: bool,
    /// The start of the set-password links sent in activation notices; the token is
    /// appended. Default `http://127.0.0.1:8080/password/` (the web interface).
    pub password_link_url: String,
    /// How long a set-password link can be used. Default 72 hours.
    #[serde(with = "duration_text")]
    pub password_link_ttl: SignedDuration,
}

impl Default for ActivationConfig {
    fn default() -> Self {
        Self {
            reserved_labels: [
                "www",
                "mail",
                "smtp",
                "pop",
                "pop3",
                "imap",
                "mx",
                "ns",
                "dns",
                "webmail",
                "postmaster",
                "abuse",
                "admin",
                "root",
                "hostmaster",
                "pec",
                "posta",
                "autoconfig",
                "autodiscover",
                "ftp",
                "test",
            ]
            .map(String::from)
            .to_vec(),
            forbidden_words: Vec::new(),
            review_own_domains: false,
            password_link_url: "http://127.0.0.1:8080/password/".into(),
            password_link_ttl: SignedDuration::from_hours(72),
        }
    }
}

impl ActivationConfig {
    /// Checks the section: an http(s) link, a positive lifetime, lower-case ASCII words.
    pub fn validate(&self) -> Result<(), Invalid> {
        let url = &self.password_link_url;
        if !(url.starts_with("https://") || url.starts_with("http://"))
            || url.contains(char::is_whitespace)
        {
            return Err(Invalid::new(
                "password_link_url",
                format!("{url:?}"),
                "expected an http:// or https:// URL",
            ));
        }
        if !self.password_link_ttl.is_positive() {
            return Err(Invalid::new(
                "password_link_ttl",
                self.password_link_ttl.to_string(),
                "must be positive",
            ));
        }
        for (key, words) in [
            ("reserved_labels", &self.reserved_labels),
            ("forbidden_words", &self.forbidden_words),
        ] {
            if let Some(bad) = words
                .iter()
                .find(|w| w.is_empty() || *w != &w.to_ascii_lowercase() || !w.is_ascii())
            {
                return Err(Invalid::new(
                    key,
                    format!("{bad:?}"),
                    "expected lower-case ASCII words",
                ));
            }
        }
        Ok(())
    }
}

/// The rules of activation, from the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The provider's zone that internal subdomains are created in (`pec.aruba.it`), if
    /// the provider offers them.
    pub internal_zone: Option<DomainName>,
    /// Labels no internal subdomain may have (`www`, `mail`, `postmaster`, …).
    pub reserved_labels: Vec<String>,
    /// Words no internal subdomain may contain (brands, offensive words), lower case.
    pub forbidden_words: Vec<String>,
    /// Whether own-domain orders also wait for an operator.
    pub review_own_domains: bool,
    /// The start of set-password links: the token is appended.
    pub password_link_url: String,
    /// How long a set-password link can be used.
    pub password_link_ttl: SignedDuration,
    /// The lifecycle policy (for the transitions of the approval).
    pub policy: Policy,
}

impl Settings {
    /// The rules from `[activation]`, the provider's zone of internal subdomains
    /// (`[provision] internal_zone`, empty when there is none) and the lifecycle policy.
    pub fn new(section: &ActivationConfig, internal_zone: &str, policy: Policy) -> Self {
        Self {
            internal_zone: DomainName::parse(internal_zone.trim()).ok(),
            reserved_labels: section.reserved_labels.clone(),
            forbidden_words: section.forbidden_words.clone(),
            review_own_domains: section.review_own_domains,
            password_link_url: section.password_link_url.clone(),
            password_link_ttl: section.password_link_ttl,
            policy,
        }
    }
}

/// Why an order, a mailbox or a password was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ActivationError {
    /// The domain name is not valid.
    #[error("invalid domain name: {0}")]
    Name(#[from] InputError),
    /// The label of an internal subdomain is not acceptable.
    #[error("invalid label {label:?}: {problem}")]
    Label {
        /// The label as given.
        label: String,
        /// What is wrong.
        problem: LabelProblem,
    },
    /// Internal subdomains are not configured (`provision.internal_zone`).
    #[error("this provider offers no internal subdomains (provision.internal_zone is not set)")]
    NoInternalZone,
    /// An own-domain order names a name inside the provider's internal zone.
    #[error("{0} is inside the provider's zone: order it as an internal subdomain")]
    InsideInternalZone(String),
    /// The name is registered or ordered already.
    #[error("{0} is already registered or ordered")]
    Taken(String),
    /// The holder's name or address, or the reseller, is not acceptable.
    #[error(transparent)]
    Contact(#[from] crate::contact::ContactError),
    /// No such order.
    #[error("no order {0}")]
    NoOrder(i64),
    /// The order was decided already.
    #[error("order {id} is {state} already")]
    Decided {
        /// The order.
        id: i64,
        /// Its state.
        state: OrderState,
    },
    /// A mailbox address is not valid.
    #[error("invalid mailbox address {0:?}")]
    Address(String),
    /// The mailbox's domain is not registered.
    #[error("{0} is not a registered domain")]
    UnknownDomain(String),
    /// The mailbox's domain is not certified.
    #[error("{domain} is {state}: mailboxes can be created only in certified domains")]
    NotCertified {
        /// The domain.
        domain: String,
        /// Its state.
        state: State,
    },
    /// The mailbox exists already.
    #[error("mailbox {0} exists already")]
    MailboxExists(String),
    /// No such mailbox.
    #[error("no mailbox {0}")]
    NoMailbox(String),
    /// The set-password link cannot be used.
    #[error("{0}")]
    Link(LinkProblem),
    /// The password is not acceptable.
    #[error("password refused: {0}")]
    Password(PasswordProblem),
    /// An operator action on the domain was refused or failed.
    #[error("{0}")]
    Action(String),
    /// The provider's DNS could not be written (RFC 2136): the message in Italian and
    /// English.
    #[error("{en}")]
    Provision {
        /// In Italian.
        it: String,
        /// In English.
        en: String,
    },
    /// The registry failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl ActivationError {
    /// The message in the given language.
    pub fn message(&self, lang: Lang) -> String {
        if lang == Lang::En {
            return self.to_string();
        }
        match self {
            Self::Name(error) => format!("nome di dominio non valido: {}", error.message(lang)),
            Self::Label { label, problem } => {
                format!("etichetta {label:?} non valida: {}", problem.message(lang))
            }
            Self::NoInternalZone => "questo gestore non offre sottodomini interni \
                 (provision.internal_zone non è impostato)"
                .into(),
            Self::InsideInternalZone(name) => {
                format!("{name} è nella zona del gestore: va ordinato come sottodominio interno")
            }
            Self::Taken(name) => format!("{name} è già registrato o ordinato"),
            Self::Contact(error) => error.message(lang),
            Self::NoOrder(id) => format!("nessun ordine {id}"),
            Self::Decided { id, state } => format!("l'ordine {id} è già {}", state_it(*state)),
            Self::Address(address) => format!("indirizzo di casella non valido {address:?}"),
            Self::UnknownDomain(domain) => format!("{domain} non è un dominio registrato"),
            Self::NotCertified { domain, state } => format!(
                "{domain} è {state}: le caselle si possono creare solo nei domini certificati"
            ),
            Self::MailboxExists(address) => format!("la casella {address} esiste già"),
            Self::NoMailbox(address) => format!("nessuna casella {address}"),
            Self::Link(problem) => match problem {
                LinkProblem::Unknown => "link non valido".into(),
                LinkProblem::Used => "link già usato".into(),
                LinkProblem::Expired => "link scaduto".into(),
            },
            Self::Password(problem) => format!("password rifiutata: {}", problem.message(lang)),
            Self::Action(message) => message.clone(),
            Self::Provision { it, .. } => it.clone(),
            Self::Registry(error) => error.to_string(),
        }
    }

    /// The process exit code for this error: 2 for refused input, 3 for the database.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Registry(_) => 3,
            _ => 2,
        }
    }
}

fn state_it(state: OrderState) -> &'static str {
    match state {
        OrderState::Received => "ricevuto",
        OrderState::Approved => "approvato",
        OrderState::Rejected => "respinto",
    }
}

/// What is wrong with an internal subdomain's label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelProblem {
    /// Empty.
    Empty,
    /// Over 63 characters.
    TooLong,
    /// A character other than a-z, 0-9 and '-'.
    Characters,
    /// Starts or ends with '-'.
    Hyphen,
    /// `xx--`: reserved for IDNA and future use.
    DoubleHyphen,
    /// Only digits.
    Numeric,
    /// On the reserved list.
    Reserved,
    /// Contains a forbidden word.
    Forbidden,
}

impl LabelProblem {
    /// The explanation in the given language.
    pub fn message(self, lang: Lang) -> &'static str {
        match self {
            Self::Empty => lang.pick("etichetta vuota", "empty label"),
            Self::TooLong => lang.pick("più di 63 caratteri", "longer than 63 characters"),
            Self::Characters => lang.pick(
                "ammessi solo lettere a-z, cifre e '-'",
                "only letters a-z, digits and '-' are allowed",
            ),
            Self::Hyphen => lang.pick(
                "non può iniziare o finire con '-'",
                "cannot start or end with '-'",
            ),
            Self::DoubleHyphen => lang.pick(
                "'--' in terza e quarta posizione è riservato",
                "'--' in third and fourth position is reserved",
            ),
            Self::Numeric => lang.pick("non può essere solo numerica", "cannot be all digits"),
            Self::Reserved => lang.pick("nome riservato", "reserved name"),
            Self::Forbidden => lang.pick(
                "contiene una parola non ammessa",
                "contains a forbidden word",
            ),
        }
    }
}

impl fmt::Display for LabelProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message(Lang::En))
    }
}

/// What is wrong with a new password.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordProblem {
    /// Shorter than [`MIN_PASSWORD`].
    TooShort,
    /// Longer than [`MAX_PASSWORD`].
    TooLong,
    /// Only one kind of character (all letters, all digits…).
    TooSimple,
    /// Contains the mailbox's name.
    ContainsName,
}

impl PasswordProblem {
    /// The explanation in the given language.
    pub fn message(self, lang: Lang) -> &'static str {
        match self {
            Self::TooShort => lang.pick("almeno 10 caratteri", "at least 10 characters"),
            Self::TooLong => lang.pick("al massimo 256 caratteri", "at most 256 characters"),
            Self::TooSimple => lang.pick(
                "usi almeno due tipi di carattere (lettere, cifre, simboli)",
                "use at least two kinds of character (letters, digits, symbols)",
            ),
            Self::ContainsName => lang.pick(
                "non può contenere il nome della casella",
                "cannot contain the mailbox's name",
            ),
        }
    }
}

impl fmt::Display for PasswordProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message(Lang::En))
    }
}

// ---------------------------------------------------------------------------------------
// Orders
// ---------------------------------------------------------------------------------------

/// An order as it comes in (from the command line, the API or a file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderRequest {
    /// Own domain or internal subdomain.
    pub kind: OrderKind,
    /// The domain (own) or the label (internal: `acme` for `acme.<internal zone>`; a full
    /// name inside the internal zone is accepted too).
    pub name: String,
    /// Who will hold it.
    pub holder: Holder,
    /// The reseller, if any.
    pub reseller: Option<String>,
    /// The provider profile.
    pub profile: String,
    /// When the certification will expire.
    pub expires: Option<Timestamp>,
}

/// Checks the label of an internal subdomain (LDH, RFC 1123/5891 rules, the provider's
/// reserved and forbidden names).
pub fn check_label(label: &str, settings: &Settings) -> Result<(), LabelProblem> {
    if label.is_empty() {
        return Err(LabelProblem::Empty);
    }
    if label.len() > 63 {
        return Err(LabelProblem::TooLong);
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(LabelProblem::Characters);
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(LabelProblem::Hyphen);
    }
    if label.get(2..4) == Some("--") {
        return Err(LabelProblem::DoubleHyphen);
    }
    if label.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LabelProblem::Numeric);
    }
    if settings.reserved_labels.iter().any(|r| r == label) {
        return Err(LabelProblem::Reserved);
    }
    if settings
        .forbidden_words
        .iter()
        .any(|word| !word.is_empty() && label.contains(word.as_str()))
    {
        return Err(LabelProblem::Forbidden);
    }
    Ok(())
}

/// The full name an order is for, checked: for an internal order the label's rules and
/// the internal zone; for an own domain, that it is not inside the internal zone.
pub fn order_name(
    request: &OrderRequest,
    settings: &Settings,
) -> Result<DomainName, ActivationError> {
    let given = request
        .name
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    match request.kind {
        OrderKind::Internal => {
            let zone = settings
                .internal_zone
                .as_ref()
                .ok_or(ActivationError::NoInternalZone)?;
            let suffix = format!(".{zone}");
            let label = given.strip_suffix(&suffix).unwrap_or(&given).to_owned();
            check_label(&label, settings).map_err(|problem| ActivationError::Label {
                label: label.clone(),
                problem,
            })?;
            Ok(DomainName::parse(&format!("{label}.{zone}"))?)
        }
        OrderKind::Own => {
            let name = DomainName::parse(&given)?;
            if let Some(zone) = &settings.internal_zone
                && (name == *zone || name.as_str().ends_with(&format!(".{zone}")))
            {
                return Err(ActivationError::InsideInternalZone(name.to_string()));
            }
            Ok(name)
        }
    }
}

/// Checks an order without recording it: its name (an internal label's rules, the
/// internal zone), the holder's name and address and the reseller
/// ([`Contact::check`](crate::contact::Contact::check)). Returns the full name it is for.
pub fn check_request(
    request: &OrderRequest,
    settings: &Settings,
) -> Result<DomainName, ActivationError> {
    let name = order_name(request, settings)?;
    crate::contact::Contact::check(&request.holder, request.reseller.as_deref())?;
    Ok(name)
}

/// Records an order. Own-domain orders are approved at once unless
/// `review_own_domains`; internal ones wait for an operator ([`approve`]).
pub async fn place(
    registry: &Registry,
    settings: &Settings,
    request: &OrderRequest,
    now: Timestamp,
) -> Result<Order, ActivationError> {
    let name = order_name(request, settings)?;
    let (holder, reseller) =
        crate::contact::Contact::check(&request.holder, request.reseller.as_deref())?;
    let new = NewOrder {
        name: name.clone(),
        kind: request.kind,
        holder,
        reseller,
        profile: request.profile.clone(),
        expires: request.expires,
    };
    let order = registry
        .add_order(&new, now)
        .await
        .map_err(|error| match error {
            RegistryError::Duplicate(name) => ActivationError::Taken(name),
            other => other.into(),
        })?;
    if order.kind == OrderKind::Own && !settings.review_own_domains {
        return approve(registry, settings, order.id, SYSTEM, now).await;
    }
    Ok(order)
}

/// Approves a received order: registers its domain (`requested` → `pending_dns`) and
/// marks the order approved. Running it again after an interruption finishes the job.
pub async fn approve(
    registry: &Registry,
    settings: &Settings,
    id: i64,
    actor: &str,
    now: Timestamp,
) -> Result<Order, ActivationError> {
    let order = registry
        .order(id)
        .await?
        .ok_or(ActivationError::NoOrder(id))?;
    if order.state != OrderState::Received {
        return Err(ActivationError::Decided {
            id,
            state: order.state,
        });
    }
    let domain = match registry.domain(&order.name).await? {
        // Registered by an earlier, interrupted approval of this very order.
        Some(domain) if matches!(domain.status.state, State::Requested | State::PendingDns) => {
            domain
        }
        Some(_) => return Err(ActivationError::Taken(order.name.to_string())),
        None => {
            let new = NewDomain {
                name: order.name.clone(),
                holder: order.holder.clone(),
                reseller: order.reseller.clone(),
                profile: order.profile.clone(),
                exception: Vec::new(),
                status: DomainStatus::new(State::Requested, now, order.expires),
                next_check: now,
            };
            match registry.add_domain(new, now).await {
                Ok(domain) => domain,
                Err(RegistryError::Duplicate(name)) => return Err(ActivationError::Taken(name)),
                Err(error) => return Err(error.into()),
            }
        }
    };
    if domain.status.state == State::Requested {
        actions::act(
            registry,
            &settings.policy,
            &domain.name,
            &Command::Submit,
            actor,
            now,
        )
        .await
        .map_err(action_error)?;
    }
    registry
        .record_step(domain.id, StepKind::Approved.as_str(), now, actor)
        .await?;
    match registry
        .decide_order(id, OrderState::Approved, actor, None, Some(domain.id), now)
        .await
    {
        Ok(order) => Ok(order),
        Err(RegistryError::Conflict) => Err(decided(registry, id).await),
        Err(error) => Err(error.into()),
    }
}

/// Rejects a received order, with a reason.
pub async fn reject(
    registry: &Registry,
    id: i64,
    actor: &str,
    reason: &str,
    now: Timestamp,
) -> Result<Order, ActivationError> {
    match registry
        .decide_order(
            id,
            OrderState::Rejected,
            actor,
            Some(reason.trim()),
            None,
            now,
        )
        .await
    {
        Ok(order) => Ok(order),
        Err(RegistryError::Conflict) => Err(decided(registry, id).await),
        Err(RegistryError::NotFound(_)) => Err(ActivationError::NoOrder(id)),
        Err(error) => Err(error.into()),
    }
}

async fn decided(registry: &Registry, id: i64) -> ActivationError {
    match registry.order(id).await {
        Ok(Some(order)) => ActivationError::Decided {
            id,
            state: order.state,
        },
        Ok(None) => ActivationError::NoOrder(id),
        Err(error) => error.into(),
    }
}

fn action_error(error: ActionError) -> ActivationError {
    match error {
        ActionError::Registry(error) => ActivationError::Registry(error),
        other => ActivationError::Action(other.message(Lang::En)),
    }
}

/// What the provider needs to write its own DNS at activation: the RFC 2136 client of
/// its primary, a prober to tell the customer's case, and the profiles.
#[derive(Clone)]
pub struct Dns {
    /// Writes the provider's zones.
    pub provisioner: Provisioner,
    /// Observes the customer's DNS (which case an own domain is).
    pub prober: Arc<Prober>,
    /// Loads a domain's profile by name.
    pub profiles: ProfileLoader,
}

/// The records the provider writes itself for an approved order whose domain awaits its
/// DNS (step `dns_provisioned`, once): an internal subdomain's MX in the provider's zone;
/// for an own domain, the MX when its zone is on the provider's DNS, or the whole zone
/// (through the catalog) when the customer delegated it to the provider's name servers.
/// `Ok(None)`: nothing for the provider to write (the customer writes the MX), or done
/// already.
pub async fn provision(
    registry: &Registry,
    dns: &Dns,
    order: &Order,
    now: Timestamp,
) -> Result<Option<Provisioned>, ActivationError> {
    let Some(domain_id) = order.domain_id else {
        return Ok(None);
    };
    if order.state != OrderState::Approved
        || registry
            .steps(domain_id)
            .await?
            .iter()
            .any(|step| step.step == "dns_provisioned")
    {
        return Ok(None);
    }
    let profile = (dns.profiles)(&order.profile).map_err(ActivationError::Action)?;
    let provisioner = &dns.provisioner;
    let outcome = match order.kind {
        OrderKind::Internal => {
            let zone = crate::dns::fqdn(&provisioner.settings().internal_zone);
            let suffix = format!(".{}", zone.trim_end_matches('.'));
            let label = order.name.as_str().strip_suffix(&suffix).ok_or_else(|| {
                ActivationError::Action(format!(
                    "{} is not in the internal zone {zone}",
                    order.name
                ))
            })?;
            provisioner.internal_subdomain(label, &profile).await
        }
        OrderKind::Own => {
            let observation = dns.prober.observe(&order.name).await;
            match decide(order.name.as_str(), &observation, &profile).case {
                Case::ProviderZone { .. } => provisioner.own_domain_mx(&order.name, &profile).await,
                Case::DelegatedToProvider { served: false, .. } => {
                    provisioner.delegated_zone(&order.name, &profile).await
                }
                _ => return Ok(None),
            }
        }
    };
    let provisioned = outcome.map_err(|error| ActivationError::Provision {
        it: error.message(Lang::It),
        en: error.message(Lang::En),
    })?;
    let records = match &provisioned {
        Provisioned::Created { records, .. } | Provisioned::AlreadyPresent { records, .. } => {
            records.join("; ")
        }
    };
    registry
        .record_step(domain_id, StepKind::DnsProvisioned.as_str(), now, &records)
        .await?;
    Ok(Some(provisioned))
}

/// Carries activations forward, for every approved order not yet published: writes
/// what the provider writes itself ([`provision`], when `dns` is given; a failure is
/// logged and retried next time), and records the steps done since the last call:
/// `certified` (when the DNS was verified) and `published` (listed in the index from
/// then on). Returns how many steps it recorded.
pub async fn advance(
    registry: &Registry,
    dns: Option<&Dns>,
    now: Timestamp,
) -> Result<u64, ActivationError> {
    let mut recorded = 0;
    for order in registry.open_activations().await? {
        let Some(domain_id) = order.domain_id else {
            continue;
        };
        let Some(domain) = registry.domain_by_id(domain_id).await? else {
            continue;
        };
        if domain.status.state == State::PendingDns
            && let Some(dns) = dns
        {
            match provision(registry, dns, &order, now).await {
                Ok(Some(_)) => recorded += 1,
                Ok(None) => {}
                Err(ActivationError::Registry(error)) => return Err(error.into()),
                Err(error) => {
                    tracing::warn!(domain = %domain.name, %error, "cannot provision the DNS");
                }
            }
        }
        let Some(at) = certified_at(registry, &domain).await? else {
            continue;
        };
        recorded += u64::from(
            registry
                .record_step(
                    domain_id,
                    StepKind::Certified.as_str(),
                    at,
                    CERTIFIED_DETAIL,
                )
                .await?,
        );
        recorded += u64::from(
            registry
                .record_step(
                    domain_id,
                    StepKind::Published.as_str(),
                    at.max(now.min(at)),
                    "managedDomains",
                )
                .await?,
        );
    }
    Ok(recorded)
}

/// When the domain's DNS was verified (its `pending_dns` → `certified` transition).
async fn certified_at(
    registry: &Registry,
    domain: &Domain,
) -> Result<Option<Timestamp>, ActivationError> {
    Ok(registry
        .transitions(domain.id)
        .await?
        .into_iter()
        .map(|record| record.transition)
        .find(|t| t.from == State::PendingDns && t.to == State::Certified)
        .map(|t| t.at))
}

// ---------------------------------------------------------------------------------------
// Mailboxes and passwords
// ---------------------------------------------------------------------------------------

/// Splits and normalises a mailbox address ([`crate::contact::parse_address`]): a
/// dot-atom local part (RFC 5322, lower case) and a domain name.
pub fn parse_address(address: &str) -> Result<(String, DomainName), ActivationError> {
    let bad = || ActivationError::Address(address.to_owned());
    let (local, host) = crate::contact::parse_address(address, crate::contact::Hosts::Internet)
        .map_err(|_| bad())?;
    let domain = DomainName::parse(&host).map_err(|_| bad())?;
    Ok((local.to_ascii_lowercase(), domain))
}

/// Creates a mailbox in a certified (or `in_error`) domain.
pub async fn add_mailbox(
    registry: &Registry,
    address: &str,
    now: Timestamp,
) -> Result<Mailbox, ActivationError> {
    let (local, domain) = parse_address(address)?;
    let domain = certified_domain(registry, &domain).await?;
    let address = format!("{local}@{}", domain.name);
    registry
        .add_mailbox(domain.id, &address, now)
        .await?
        .ok_or(ActivationError::MailboxExists(address))
}

async fn certified_domain(
    registry: &Registry,
    name: &DomainName,
) -> Result<Domain, ActivationError> {
    let domain = registry
        .domain(name)
        .await?
        .ok_or_else(|| ActivationError::UnknownDomain(name.to_string()))?;
    if !domain.status.state.is_published() {
        return Err(ActivationError::NotCertified {
            domain: name.to_string(),
            state: domain.status.state,
        });
    }
    Ok(domain)
}

/// The SHA-256 of a link token, as stored.
fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Issues a new set-password link for a mailbox (any older unused one stops working)
/// and returns it. The token is 256 random bits; only its hash is stored.
pub async fn issue_link(
    registry: &Registry,
    settings: &Settings,
    mailbox: &Mailbox,
    now: Timestamp,
) -> Result<String, ActivationError> {
    let token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let expires = crate::lifecycle::plus(now, settings.password_link_ttl);
    registry
        .add_password_link(mailbox.id, &token_hash(&token), now, expires)
        .await?;
    Ok(format!("{}{token}", settings.password_link_url))
}

/// Issues a new set-password link for the mailbox at `address`.
pub async fn reissue_link(
    registry: &Registry,
    settings: &Settings,
    address: &str,
    now: Timestamp,
) -> Result<String, ActivationError> {
    let (local, domain) = parse_address(address)?;
    let address = format!("{local}@{domain}");
    let mailbox = registry
        .mailbox(&address)
        .await?
        .ok_or(ActivationError::NoMailbox(address))?;
    issue_link(registry, settings, &mailbox, now).await
}

/// What the activation notice of `domain` needs: the postmaster mailbox (created if
/// missing, step `postmaster`) and, while its password is not set, a fresh set-password
/// link (step `password_link`). Idempotent: a notice rendered again gets a new link and
/// the older one stops working.
pub async fn prepare_notice(
    registry: &Registry,
    settings: &Settings,
    domain: &Domain,
    now: Timestamp,
) -> Result<Option<String>, ActivationError> {
    let address = format!("{POSTMASTER}@{}", domain.name);
    let mailbox = match registry.mailbox(&address).await? {
        Some(mailbox) => mailbox,
        None => match registry.add_mailbox(domain.id, &address, now).await? {
            Some(mailbox) => mailbox,
            // Created meanwhile by another sender.
            None => registry
                .mailbox(&address)
                .await?
                .ok_or(ActivationError::NoMailbox(address.clone()))?,
        },
    };
    registry
        .record_step(domain.id, StepKind::Postmaster.as_str(), now, &address)
        .await?;
    if mailbox.has_password {
        return Ok(None);
    }
    let link = issue_link(registry, settings, &mailbox, now).await?;
    registry
        .record_step(domain.id, StepKind::PasswordLink.as_str(), now, &address)
        .await?;
    Ok(Some(link))
}

/// Checks a new password against the rules.
pub fn check_password(password: &str, local: &str) -> Result<(), PasswordProblem> {
    let length = password.chars().count();
    if length < MIN_PASSWORD {
        return Err(PasswordProblem::TooShort);
    }
    if length > MAX_PASSWORD {
        return Err(PasswordProblem::TooLong);
    }
    let kinds = [
        password.chars().any(char::is_alphabetic),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ];
    if kinds.iter().filter(|&&kind| kind).count() < 2 {
        return Err(PasswordProblem::TooSimple);
    }
    if local.len() >= 4 && password.to_lowercase().contains(local) {
        return Err(PasswordProblem::ContainsName);
    }
    Ok(())
}

/// Hashes a password with argon2id (a PHC string, with its own random salt).
pub fn hash_password(password: &str) -> Result<String, ActivationError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| ActivationError::Action(format!("cannot hash the password: {error}")))
}

/// The mailbox a set-password token is for, if the token can still be used.
pub async fn link_mailbox(
    registry: &Registry,
    token: &str,
    now: Timestamp,
) -> Result<Mailbox, ActivationError> {
    registry
        .password_link(&token_hash(token.trim()), now)
        .await?
        .map_err(ActivationError::Link)
}

/// Sets a mailbox's password through a set-password link: checks the password, hashes
/// it with argon2id and uses up the link, atomically.
pub async fn set_password(
    registry: &Registry,
    token: &str,
    password: &str,
    now: Timestamp,
) -> Result<Mailbox, ActivationError> {
    let mailbox = link_mailbox(registry, token, now).await?;
    let local = mailbox.address.split('@').next().unwrap_or_default();
    check_password(password, local).map_err(ActivationError::Password)?;
    let hash = hash_password(password)?;
    let mailbox = registry
        .redeem_password_link(&token_hash(token.trim()), &hash, now)
        .await?
        .map_err(ActivationError::Link)?;
    registry
        .record_step(
            mailbox.domain_id,
            StepKind::PasswordSet.as_str(),
            now,
            &mailbox.address,
        )
        .await?;
    Ok(mailbox)
}

/// The detail stored with the `certified` step (older registries hold it too).
const CERTIFIED_DETAIL: &str = "dns verified on every server";

/// A step of a domain's activation, as recorded in the registry (`activation_steps`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// An operator approved the order (detail: who).
    Approved,
    /// The provider's DNS was written (detail: the records).
    DnsProvisioned,
    /// The DNS was verified on every server: the domain is certified.
    Certified,
    /// The domain was published in the index (`managedDomains`).
    Published,
    /// The domain's postmaster mailbox was created (detail: its address).
    Postmaster,
    /// A set-password link was sent (detail: the mailbox).
    PasswordLink,
    /// A mailbox's password was set (detail: the mailbox).
    PasswordSet,
}

impl StepKind {
    /// Every step, in the order they happen.
    pub const ALL: [StepKind; 7] = [
        StepKind::Approved,
        StepKind::DnsProvisioned,
        StepKind::Certified,
        StepKind::Published,
        StepKind::Postmaster,
        StepKind::PasswordLink,
        StepKind::PasswordSet,
    ];

    /// The name stored in the registry (`dns_provisioned`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::DnsProvisioned => "dns_provisioned",
            Self::Certified => "certified",
            Self::Published => "published",
            Self::Postmaster => "postmaster",
            Self::PasswordLink => "password_link",
            Self::PasswordSet => "password_set",
        }
    }

    /// The step of a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|step| step.as_str() == text)
    }

    /// What the step did, for people, with its stored detail.
    pub fn describe(self, detail: &str, lang: Lang) -> String {
        match (self, lang) {
            (Self::Approved, Lang::It) => format!("ordine approvato da {detail}"),
            (Self::Approved, Lang::En) => format!("order approved by {detail}"),
            (Self::DnsProvisioned, Lang::It) => format!("DNS del gestore scritto: {detail}"),
            (Self::DnsProvisioned, Lang::En) => format!("provider's DNS written: {detail}"),
            (Self::Certified, Lang::It) => {
                "DNS verificato su ogni server: dominio certificato".into()
            }
            (Self::Certified, Lang::En) => "DNS verified on every server: domain certified".into(),
            (Self::Published, Lang::It) => {
                "pubblicato nell'Indice dei gestori (managedDomains)".into()
            }
            (Self::Published, Lang::En) => {
                "published in the providers' index (managedDomains)".into()
            }
            (Self::Postmaster, Lang::It) => format!("casella postmaster creata: {detail}"),
            (Self::Postmaster, Lang::En) => format!("postmaster mailbox created: {detail}"),
            (Self::PasswordLink, Lang::It) => format!("link per la password inviato per {detail}"),
            (Self::PasswordLink, Lang::En) => format!("set-password link sent for {detail}"),
            (Self::PasswordSet, Lang::It) => format!("password impostata per {detail}"),
            (Self::PasswordSet, Lang::En) => format!("password set for {detail}"),
        }
    }
}

/// A stored step for people: its description, or (a step this version does not know)
/// its name and detail as stored.
pub fn step_text(step: &str, detail: &str, lang: Lang) -> String {
    match StepKind::parse(step) {
        Some(kind) => kind.describe(detail, lang),
        None => format!("{step}: {detail}"),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn steps_are_described_in_both_languages() {
        for step in StepKind::ALL {
            assert_eq!(StepKind::parse(step.as_str()), Some(step));
            let it = step.describe("anna", Lang::It);
            let en = step.describe("anna", Lang::En);
            assert_ne!(it, en, "{step:?}");
        }
        assert_eq!(
            step_text("certified", CERTIFIED_DETAIL, Lang::It),
            "DNS verificato su ogni server: dominio certificato"
        );
        assert_eq!(
            step_text("approved", "anna", Lang::En),
            "order approved by anna"
        );
        assert_eq!(step_text("future_step", "x", Lang::It), "future_step: x");
    }

    use super::*;

    fn settings() -> Settings {
        Settings {
            internal_zone: Some(DomainName::parse("pec.example.it").unwrap()),
            reserved_labels: vec!["www".into(), "postmaster".into()],
            forbidden_words: vec!["truffa".into()],
            review_own_domains: false,
            password_link_url: "https://pec.example.it/password/".into(),
            password_link_ttl: SignedDuration::from_hours(72),
            policy: Policy::default(),
        }
    }

    #[test]
    fn labels() {
        let s = settings();
        assert_eq!(check_label("acme", &s), Ok(()));
        assert_eq!(check_label("acme-srl2", &s), Ok(()));
        for (label, problem) in [
            ("", LabelProblem::Empty),
            (&"a".repeat(64), LabelProblem::TooLong),
            ("Acme", LabelProblem::Characters),
            ("ac_me", LabelProblem::Characters),
            ("caffè", LabelProblem::Characters),
            ("-acme", LabelProblem::Hyphen),
            ("acme-", LabelProblem::Hyphen),
            ("xn--caff-8oa", LabelProblem::DoubleHyphen),
            ("12345", LabelProblem::Numeric),
            ("www", LabelProblem::Reserved),
            ("latruffa", LabelProblem::Forbidden),
        ] {
            assert_eq!(check_label(label, &s), Err(problem), "{label:?}");
        }
    }

    fn request(kind: OrderKind, name: &str) -> OrderRequest {
        OrderRequest {
            kind,
            name: name.into(),
            holder: Holder {
                name: None,
                email: "a@b.it".into(),
                lang: Lang::It,
            },
            reseller: None,
            profile: "aruba".into(),
            expires: None,
        }
    }

    #[test]
    fn order_names() {
        let s = settings();
        let name = |kind, text| order_name(&request(kind, text), &s).map(|n| n.to_string());
        assert_eq!(
            name(OrderKind::Internal, "acme").unwrap(),
            "acme.pec.example.it"
        );
        assert_eq!(
            name(OrderKind::Internal, "acme.pec.example.it.").unwrap(),
            "acme.pec.example.it"
        );
        assert!(matches!(
            name(OrderKind::Internal, "a.b"),
            Err(ActivationError::Label { .. })
        ));
        assert_eq!(name(OrderKind::Own, "PEC.Acme.it").unwrap(), "pec.acme.it");
        assert!(matches!(
            name(OrderKind::Own, "x.pec.example.it"),
            Err(ActivationError::InsideInternalZone(_))
        ));
        let none = Settings {
            internal_zone: None,
            ..settings()
        };
        assert_eq!(
            order_name(&request(OrderKind::Internal, "acme"), &none),
            Err(ActivationError::NoInternalZone)
        );
    }

    #[test]
    fn addresses_and_passwords() {
        let (local, domain) = parse_address(" Mario.Rossi@PEC.Acme.it ").unwrap();
        assert_eq!(
            (local.as_str(), domain.as_str()),
            ("mario.rossi", "pec.acme.it")
        );
        for bad in [
            "nodomain",
            "@pec.acme.it",
            "a..b@pec.acme.it",
            "a b@x.it",
            "a@b",
        ] {
            assert!(parse_address(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            check_password("corta1", "x"),
            Err(PasswordProblem::TooShort)
        );
        assert_eq!(
            check_password("solamentelettere", "x"),
            Err(PasswordProblem::TooSimple)
        );
        assert_eq!(
            check_password("postmaster-2026", "postmaster"),
            Err(PasswordProblem::ContainsName)
        );
        assert_eq!(check_password("Ciao-mondo-2026", "postmaster"), Ok(()));
        let hash = hash_password("Ciao-mondo-2026").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("Ciao"));
    }
}

//! Operator actions on one domain (approve, reject, renew, remove, exception).
//!
//! The command line (`pecwatch domains approve|reject|renew|remove|exception`) and the
//! web API call the same functions, so a decision means the same thing wherever it is
//! taken:
//!
//! - [`act`] reads the domain, applies the operator's [`Command`] as a lifecycle
//!   [`Event`] under the configured [`Policy`], and commits the new status, the
//!   transitions (with the operator as actor) and the side effects (notices,
//!   publication) in one [`DomainUpdate`]. The update names the version it was computed
//!   from; if someone else (a sweep, another operator) changed the domain in the
//!   meantime, the action is recomputed on the fresh domain, a few times at most.
//! - [`change_exception`] edits a domain's hybrid exception: the extra mail server
//!   addresses allowed for that domain only.
//!
//! Time is passed in (the command line takes it from [`crate::clock::now`], so
//! `PECWATCH_NOW` works), and errors are an [`ActionError`] whose
//! [`message`](ActionError::message) is in Italian or English.

use std::net::IpAddr;

use ipnet::IpNet;
use jiff::Timestamp;

use crate::Lang;
use crate::lifecycle::{
    self, DomainStatus, Event, LifecycleError, Policy, Reason, State, Transition,
};
use crate::name::DomainName;
use crate::registry::{Domain, DomainUpdate, Registry, RegistryError};

/// The actor recorded when none is given (and the command line finds no `USER`).
pub const DEFAULT_ACTOR: &str = "operator";

/// How many times an action is computed and committed before a domain that keeps
/// changing under it is reported as a conflict.
const ATTEMPTS: u32 = 5;

/// The lease owner named when committing an operator's update. No worker uses it, so an
/// action never releases a sweep's lease (the sweep's own commit then conflicts and
/// reloads the domain, which is what should happen).
const COMMIT_OWNER: &str = "operator-action";

/// What an operator does to a domain's lifecycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Reinstate an `under_review` domain (back to `certified`).
    Approve,
    /// Refuse to reinstate an `under_review` domain (back to `removed`).
    Reject {
        /// Why, recorded on the transition (may be empty).
        reason: String,
    },
    /// Extend the certification until `expires`.
    Renew {
        /// The new expiry: must be later than now.
        expires: Timestamp,
    },
    /// Submit a `requested` domain for DNS verification (`pending_dns`): an approved
    /// order.
    Submit,
    /// Remove a `certified`, `in_error` or `under_review` domain.
    Remove {
        /// Why, recorded on the transition (may be empty).
        reason: String,
    },
}

impl Command {
    /// The lifecycle event for this command, by `actor` at `at`.
    fn event(&self, actor: &str, at: Timestamp) -> Event {
        let actor = actor.to_owned();
        match self {
            Command::Approve => Event::Approve { at, actor },
            Command::Reject { .. } => Event::Reject { at, actor },
            Command::Renew { expires } => Event::Renew {
                at,
                expires: *expires,
                actor,
            },
            Command::Submit => Event::Submit { at },
            Command::Remove { reason } => Event::Remove {
                at,
                actor,
                reason: one_line(reason),
            },
        }
    }
}

/// What [`act`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acted {
    /// The domain's state before the action.
    pub before: State,
    /// The domain as committed.
    pub domain: Domain,
    /// What was recorded in the domain's history, oldest first: the lifecycle's
    /// transitions (possibly a deadline or an expiry that had fallen due, then the
    /// operator's change) or, for a renewal, which changes no state, one entry from the
    /// state to itself that says who renewed until when.
    pub recorded: Vec<Transition>,
}

/// What [`change_exception`] does to the list of extra allowed addresses: first clear it
/// (if asked), then remove, then add.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExceptionChange {
    /// Start from an empty list.
    pub clear: bool,
    /// Networks to add (ignored when already listed).
    pub add: Vec<IpNet>,
    /// Networks to take out: each must be listed.
    pub remove: Vec<IpNet>,
}

impl ExceptionChange {
    /// Whether the change asks for nothing (then the list is only shown).
    pub fn is_empty(&self) -> bool {
        !self.clear && self.add.is_empty() && self.remove.is_empty()
    }
}

/// Why an action was not carried out. Nothing was changed in any case.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The domain is not in the registry.
    #[error("{0} is not registered")]
    UnknownDomain(DomainName),
    /// The lifecycle does not allow the command in the domain's state.
    #[error("{domain}: {error}")]
    Refused {
        /// The domain.
        domain: DomainName,
        /// Why, from the lifecycle.
        error: LifecycleError,
    },
    /// An exception entry that is neither an address nor a network.
    #[error("invalid address {0:?}: expected an IP address or a network such as 192.0.2.0/24")]
    BadAddress(String),
    /// A network wider than an exception may be (more than a /24 of IPv4 or a /48 of
    /// IPv6: `0.0.0.0/0` would let any server send for the domain).
    #[error(
        "{0} is too wide for a hybrid exception: at most a /24 (IPv4) or a /48 (IPv6), \
         list the provider's servers or networks one by one"
    )]
    TooWide(IpNet),
    /// A network to take out of the exception that is not in it.
    #[error("{domain}: {network} is not in the exception list")]
    NotInException {
        /// The domain.
        domain: DomainName,
        /// The network.
        network: IpNet,
    },
    /// The registry failed ([`RegistryError::Database`]) or refused the update (for
    /// instance [`RegistryError::Conflict`] when the domain kept changing).
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl ActionError {
    /// The message for people, in `lang`.
    pub fn message(&self, lang: Lang) -> String {
        if lang == Lang::En {
            return self.to_string();
        }
        match self {
            ActionError::UnknownDomain(domain) => format!("{domain} non è registrato"),
            ActionError::Refused { domain, error } => {
                format!("{domain}: {}", lifecycle_message_it(error))
            }
            ActionError::BadAddress(text) => format!(
                "indirizzo non valido {text:?}: serve un indirizzo IP o una rete come \
                 192.0.2.0/24"
            ),
            ActionError::TooWide(network) => format!(
                "{network} è troppo ampia per un'eccezione ibrida: al massimo una /24 (IPv4) \
                 o una /48 (IPv6), elencare uno per uno i server o le reti del gestore"
            ),
            ActionError::NotInException { domain, network } => {
                format!("{domain}: {network} non è nell'elenco delle eccezioni")
            }
            // Database messages come from the registry, in English.
            ActionError::Registry(RegistryError::Conflict) => {
                "il dominio è stato modificato da altri nel frattempo; riprovare".to_owned()
            }
            ActionError::Registry(error) => error.to_string(),
        }
    }
}

/// A lifecycle refusal in Italian.
fn lifecycle_message_it(error: &LifecycleError) -> String {
    match error {
        LifecycleError::NotAllowed {
            action,
            state,
            allowed,
        } => {
            let allowed: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
            format!(
                "impossibile {} un dominio in stato {state}: consentito solo in stato {}",
                action.verb(Lang::It),
                allowed.join(", ")
            )
        }
        LifecycleError::Expired { action, expired_at } => format!(
            "impossibile {}: la certificazione è scaduta il {expired_at}; \
             serve una nuova certificazione",
            action.verb(Lang::It)
        ),
        LifecycleError::ExpiryNotLater { expires, at } => format!(
            "impossibile rinnovare fino al {expires}: la nuova scadenza deve essere \
             successiva a {at}"
        ),
        LifecycleError::InvalidPolicy { .. } => error.to_string(),
    }
}

/// Applies an operator's command to the domain `name` as `actor` at `now`, and commits
/// it. Retries on the fresh domain when it changed in the meantime.
///
/// The domain's next check becomes the earlier of its current one and what the new
/// status needs ([`lifecycle::next_due`]), never before `now`; its pending check, if
/// any, is kept. A blank `actor` is recorded as [`DEFAULT_ACTOR`].
pub async fn act(
    registry: &Registry,
    policy: &Policy,
    name: &DomainName,
    command: &Command,
    actor: &str,
    now: Timestamp,
) -> Result<Acted, ActionError> {
    let actor = match one_line(actor) {
        actor if actor.is_empty() => DEFAULT_ACTOR.to_owned(),
        actor => actor,
    };
    let mut attempt = 1;
    loop {
        let domain = read(registry, name).await?;
        let (update, recorded) = plan(&domain, policy, command, &actor, now)?;
        match registry.commit(COMMIT_OWNER, now, update).await {
            Ok(()) => {
                return Ok(Acted {
                    before: domain.status.state,
                    domain: read(registry, name).await?,
                    recorded,
                });
            }
            Err(RegistryError::Conflict) if attempt < ATTEMPTS => {
                tracing::debug!(%name, attempt, "domain changed meanwhile; retrying the action");
                attempt += 1;
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// The update that carries out `command` on `domain`, and what it records in the
/// history. Pure: no I/O.
fn plan(
    domain: &Domain,
    policy: &Policy,
    command: &Command,
    actor: &str,
    now: Timestamp,
) -> Result<(DomainUpdate, Vec<Transition>), ActionError> {
    let mut outcome = lifecycle::apply(&domain.status, &command.event(actor, now), policy)
        .map_err(|error| ActionError::Refused {
            domain: domain.name.clone(),
            error,
        })?;
    match command {
        // The lifecycle's rejection has no reason of its own: add the operator's to the
        // transition they made (the last one; earlier ones are time-driven).
        Command::Reject { reason } => {
            if let Some(last) = outcome.transitions.last_mut()
                && last.actor == actor
                && let Reason::ReinstatementRejected(note) = &mut last.reason
            {
                *note = one_line(reason);
            }
        }
        // A renewal is no state change, so the lifecycle records nothing: keep who
        // renewed until when in the history all the same.
        Command::Renew { expires } => {
            let state = outcome.status.state;
            outcome.transitions.push(Transition {
                from: state,
                to: state,
                at: now,
                reason: Reason::RenewedUntil(*expires),
                actor: actor.to_owned(),
            });
        }
        Command::Approve | Command::Submit | Command::Remove { .. } => {}
    }
    let recorded = outcome.transitions.clone();
    let next_check = next_check(domain, &outcome.status, policy, now);
    let update = DomainUpdate::new(domain, next_check).with_outcome(domain, outcome);
    Ok((update, recorded))
}

/// Makes the domain `name` due for a check now (an operator's or a system's "check it
/// again"): the sweep then checks it, records the check and decides its lifecycle
/// effects like every other check's (`pecwatch serve` within 30 seconds, a cron sweep at
/// its next run). Retried when the domain changes meanwhile. Returns the domain as
/// committed; `Ok(None)` when it is not registered.
pub async fn recheck(
    registry: &Registry,
    name: &DomainName,
    now: Timestamp,
) -> Result<Option<Domain>, RegistryError> {
    for _ in 0..ATTEMPTS {
        let Some(domain) = registry.domain(name).await? else {
            return Ok(None);
        };
        if domain.next_check <= now {
            return Ok(Some(domain));
        }
        match registry
            .commit(COMMIT_OWNER, now, DomainUpdate::new(&domain, now))
            .await
        {
            Ok(()) | Err(RegistryError::Conflict) => {}
            Err(error) => return Err(error),
        }
    }
    Err(RegistryError::Conflict)
}

/// The earlier of the domain's next check and what its new status needs, never before
/// `now`.
fn next_check(
    domain: &Domain,
    status: &DomainStatus,
    policy: &Policy,
    now: Timestamp,
) -> Timestamp {
    let current = domain.next_check;
    lifecycle::next_due(status, policy, now)
        .map_or(current, |due| due.min(current))
        .max(now)
}

/// Changes the hybrid exception of the domain `name` (see [`ExceptionChange`]) and
/// returns the domain with its new list. An empty change, or one that leaves the list as
/// it is, writes nothing and returns the domain as it is.
///
/// The registry replaces the list whole, without a version check: two operators editing
/// the same domain's exception at the same instant may lose one edit.
pub async fn change_exception(
    registry: &Registry,
    name: &DomainName,
    change: &ExceptionChange,
    now: Timestamp,
) -> Result<Domain, ActionError> {
    if let Some(wide) = change.add.iter().find(|network| too_wide(network)) {
        return Err(ActionError::TooWide(*wide));
    }
    let domain = read(registry, name).await?;
    let mut list = if change.clear {
        Vec::new()
    } else {
        domain.exception.clone()
    };
    for network in &change.remove {
        let before = list.len();
        list.retain(|listed| listed != network);
        if list.len() == before && !change.clear {
            return Err(ActionError::NotInException {
                domain: name.clone(),
                network: *network,
            });
        }
    }
    for network in &change.add {
        if !list.contains(network) {
            list.push(*network);
        }
    }
    if list == domain.exception {
        return Ok(domain);
    }
    Ok(registry.set_exception(name, list, now).await?)
}

/// The shortest prefix of an IPv4 network in a hybrid exception.
pub const MIN_PREFIX_V4: u8 = 24;
/// The shortest prefix of an IPv6 network in a hybrid exception.
pub const MIN_PREFIX_V6: u8 = 48;

/// Whether a network is wider than a hybrid exception may be ([`ActionError::TooWide`]).
pub fn too_wide(network: &IpNet) -> bool {
    match network {
        IpNet::V4(net) => net.prefix_len() < MIN_PREFIX_V4,
        IpNet::V6(net) => net.prefix_len() < MIN_PREFIX_V6,
    }
}

/// Parses an exception entry: a network (`192.0.2.0/24`, `2001:db8::/48`) or a single
/// address (`192.0.2.7`, taken as `/32` or `/128`). Host bits are cleared
/// (`192.0.2.7/24` is `192.0.2.0/24`).
pub fn parse_network(text: &str) -> Result<IpNet, ActionError> {
    let text = text.trim();
    if let Ok(network) = text.parse::<IpNet>() {
        return Ok(network.trunc());
    }
    text.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| ActionError::BadAddress(text.to_owned()))
}

/// The domain, or [`ActionError::UnknownDomain`].
async fn read(registry: &Registry, name: &DomainName) -> Result<Domain, ActionError> {
    registry
        .domain(name)
        .await?
        .ok_or_else(|| ActionError::UnknownDomain(name.clone()))
}

/// Text collapsed to one line (runs of white space, new lines included, become one
/// space), for reasons and actors recorded in the history.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::NoticeKind;
    use crate::registry::{Holder, NewDomain, OutboxFilter, OutboxKind};
    use jiff::SignedDuration;

    fn now() -> Timestamp {
        "2026-11-23T09:00:00Z".parse().unwrap()
    }

    fn days(n: i64) -> SignedDuration {
        SignedDuration::from_hours(24 * n)
    }

    fn name(text: &str) -> DomainName {
        DomainName::parse(text).unwrap()
    }

    /// A fresh in-memory registry holding `pec.x.it` in `state` since a day ago,
    /// expiring in a year and due for a check in two days.
    async fn registry_with(state: State) -> Registry {
        let registry = Registry::open("sqlite::memory:").await.unwrap();
        let since = now() - days(1);
        registry
            .add_domain(
                NewDomain {
                    name: name("pec.x.it"),
                    holder: Holder {
                        name: None,
                        email: "admin@x.it".into(),
                        lang: Lang::It,
                    },
                    reseller: None,
                    profile: "aruba".into(),
                    exception: Vec::new(),
                    status: DomainStatus::new(state, since, Some(now() + days(365))),
                    next_check: now() + days(2),
                },
                since,
            )
            .await
            .unwrap();
        registry
    }

    #[test]
    fn exceptions_are_no_wider_than_a_24_or_a_48() {
        for ok in ["192.0.2.0/24", "192.0.2.7", "2001:db8::/48", "2001:db8::1"] {
            assert!(!too_wide(&parse_network(ok).unwrap()), "{ok}");
        }
        for wide in [
            "0.0.0.0/0",
            "::/0",
            "10.0.0.0/8",
            "192.0.2.0/23",
            "2001:db8::/47",
        ] {
            assert!(too_wide(&parse_network(wide).unwrap()), "{wide}");
        }
    }

    #[tokio::test]
    async fn a_wide_exception_is_refused_and_changes_nothing() {
        let registry = registry_with(State::Certified).await;
        let change = ExceptionChange {
            add: vec![
                parse_network("192.0.2.1").unwrap(),
                parse_network("::/0").unwrap(),
            ],
            ..ExceptionChange::default()
        };
        let error = change_exception(&registry, &name("pec.x.it"), &change, now())
            .await
            .unwrap_err();
        assert!(matches!(error, ActionError::TooWide(_)), "{error}");
        assert!(error.message(Lang::It).contains("troppo ampia"));
        let domain = registry.domain(&name("pec.x.it")).await.unwrap().unwrap();
        assert!(domain.exception.is_empty());
    }

    async fn run(registry: &Registry, command: Command) -> Result<Acted, ActionError> {
        act(
            registry,
            &Policy::default(),
            &name("pec.x.it"),
            &command,
            "mario",
            now(),
        )
        .await
    }

    /// The kinds of the queued outbox items, oldest first, and the notices' keys.
    async fn outbox(registry: &Registry) -> (Vec<OutboxKind>, Vec<String>) {
        let items = registry.outbox(&OutboxFilter::default()).await.unwrap();
        let notices = items.iter().filter(|item| item.kind == OutboxKind::Notice);
        let keys = notices.map(|item| item.key.clone()).collect();
        (items.into_iter().map(|item| item.kind).collect(), keys)
    }

    async fn notices(registry: &Registry) -> Vec<String> {
        outbox(registry).await.1
    }

    #[tokio::test]
    async fn approve_reinstates_and_queues_the_notice() {
        let registry = registry_with(State::UnderReview).await;
        let acted = run(&registry, Command::Approve).await.unwrap();
        assert_eq!(acted.before, State::UnderReview);
        assert_eq!(acted.domain.status.state, State::Certified);
        assert_eq!(acted.domain.status.since, now());
        let [transition] = acted.recorded.as_slice() else {
            panic!("one transition: {:?}", acted.recorded);
        };
        assert_eq!(transition.actor, "mario");
        let history = registry.transitions(acted.domain.id).await.unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].transition, *transition);
        let [key] = notices(&registry).await.try_into().unwrap();
        assert!(key.ends_with(&NoticeKind::Reinstated.key()), "{key}");
        // The next check stays where it was: the expiry warnings are further away.
        assert_eq!(acted.domain.next_check, now() + days(2));
    }

    #[tokio::test]
    async fn reject_records_the_reason() {
        let registry = registry_with(State::UnderReview).await;
        let acted = run(
            &registry,
            Command::Reject {
                reason: " MX still\nwrong ".into(),
            },
        )
        .await
        .unwrap();
        assert_eq!(acted.domain.status.state, State::Removed);
        assert_eq!(
            acted.recorded[0].reason.to_string(),
            "reinstatement rejected: MX still wrong"
        );
        assert_eq!(notices(&registry).await.len(), 1);
    }

    #[tokio::test]
    async fn refused_commands_change_nothing() {
        let registry = registry_with(State::Certified).await;
        let before = registry.domain(&name("pec.x.it")).await.unwrap().unwrap();
        let error = run(&registry, Command::Approve).await.unwrap_err();
        assert!(matches!(error, ActionError::Refused { .. }), "{error:?}");
        assert_eq!(
            error.message(Lang::En),
            "pec.x.it: cannot approve a domain that is certified: only allowed when under_review"
        );
        assert_eq!(
            error.message(Lang::It),
            "pec.x.it: impossibile approvare un dominio in stato certified: \
             consentito solo in stato under_review"
        );
        let after = registry.domain(&name("pec.x.it")).await.unwrap().unwrap();
        assert_eq!(after, before);
        assert!(notices(&registry).await.is_empty());

        let error = run(
            &registry,
            Command::Renew {
                expires: now() - days(1),
            },
        )
        .await
        .unwrap_err();
        assert!(error.message(Lang::It).contains("successiva"), "{error}");

        let error = act(
            &registry,
            &Policy::default(),
            &name("pec.nessuno.it"),
            &Command::Approve,
            "mario",
            now(),
        )
        .await
        .unwrap_err();
        assert!(matches!(error, ActionError::UnknownDomain(_)));
        assert_eq!(error.message(Lang::It), "pec.nessuno.it non è registrato");
    }

    #[tokio::test]
    async fn renew_extends_the_expiry_and_records_who() {
        let registry = registry_with(State::Certified).await;
        let expires = now() + days(20);
        let acted = run(&registry, Command::Renew { expires }).await.unwrap();
        assert_eq!(acted.domain.status.state, State::Certified);
        assert_eq!(acted.domain.status.expires, Some(expires));
        let [entry] = acted.recorded.as_slice() else {
            panic!("one entry: {:?}", acted.recorded);
        };
        assert_eq!((entry.from, entry.to), (State::Certified, State::Certified));
        assert_eq!(entry.actor, "mario");
        assert!(
            matches!(entry.reason, Reason::RenewedUntil(_)),
            "{}",
            entry.reason
        );
        // The 30-day warning of the new expiry is due now: the next check moves up.
        assert_eq!(acted.domain.next_check, now());
    }

    #[tokio::test]
    async fn remove_unpublishes_and_notifies() {
        let registry = registry_with(State::Certified).await;
        let acted = act(
            &registry,
            &Policy::default(),
            &name("pec.x.it"),
            &Command::Remove {
                reason: "holder's request".into(),
            },
            "  ",
            now(),
        )
        .await
        .unwrap();
        assert_eq!(acted.domain.status.state, State::Removed);
        assert_eq!(acted.recorded[0].actor, DEFAULT_ACTOR);
        assert_eq!(
            acted.recorded[0].reason.to_string(),
            "removed by operator: holder's request"
        );
        assert_eq!(
            outbox(&registry).await.0,
            [OutboxKind::Unpublish, OutboxKind::Notice]
        );
    }

    #[tokio::test]
    async fn concurrent_actions_are_recomputed_on_the_fresh_domain() {
        // Both read the same version; the one that commits second conflicts and is
        // recomputed: two renewals both apply, a second approval is refused.
        let registry = registry_with(State::UnderReview).await;
        let renew = |days_ahead| Command::Renew {
            expires: now() + days(days_ahead),
        };
        let (first, second) = tokio::join!(run(&registry, renew(400)), run(&registry, renew(500)));
        let (first, second) = (first.unwrap(), second.unwrap());
        assert_eq!(first.domain.version.abs_diff(second.domain.version), 1);
        let history = registry.transitions(first.domain.id).await.unwrap();
        assert_eq!(history.len(), 2);

        let (first, second) = tokio::join!(
            run(&registry, Command::Approve),
            run(&registry, Command::Approve)
        );
        let refused = match (first, second) {
            (Ok(_), Err(error)) | (Err(error), Ok(_)) => error,
            other => panic!("one approval must win: {other:?}"),
        };
        assert!(
            matches!(refused, ActionError::Refused { .. }),
            "{refused:?}"
        );
        assert_eq!(notices(&registry).await.len(), 1);
    }

    #[tokio::test]
    async fn exceptions_are_added_removed_and_cleared() {
        let registry = registry_with(State::Certified).await;
        let x = name("pec.x.it");
        let net = |text: &str| parse_network(text).unwrap();
        let change = |add: &[&str], remove: &[&str], clear: bool| ExceptionChange {
            clear,
            add: add.iter().map(|t| net(t)).collect(),
            remove: remove.iter().map(|t| net(t)).collect(),
        };

        let shown = change_exception(&registry, &x, &ExceptionChange::default(), now())
            .await
            .unwrap();
        assert!(shown.exception.is_empty());
        let version = shown.version;

        let domain = change_exception(
            &registry,
            &x,
            &change(&["192.0.2.7/24", "2001:db8::1", "192.0.2.0/24"], &[], false),
            now(),
        )
        .await
        .unwrap();
        assert_eq!(
            domain.exception,
            [net("192.0.2.0/24"), net("2001:db8::1/128")]
        );
        assert_eq!(domain.version, version + 1);

        // Nothing changes: nothing is written.
        let same = change_exception(&registry, &x, &change(&["192.0.2.0/24"], &[], false), now())
            .await
            .unwrap();
        assert_eq!(same.version, domain.version);

        let error = change_exception(&registry, &x, &change(&[], &["198.51.100.1"], false), now())
            .await
            .unwrap_err();
        assert!(matches!(error, ActionError::NotInException { .. }));

        let domain = change_exception(&registry, &x, &change(&[], &["2001:db8::1"], false), now())
            .await
            .unwrap();
        assert_eq!(domain.exception, [net("192.0.2.0/24")]);
        let domain = change_exception(
            &registry,
            &x,
            &change(&["198.51.100.0/28"], &[], true),
            now(),
        )
        .await
        .unwrap();
        assert_eq!(domain.exception, [net("198.51.100.0/28")]);
    }

    #[test]
    fn network_parsing() {
        assert_eq!(
            parse_network(" 192.0.2.7 ").unwrap().to_string(),
            "192.0.2.7/32"
        );
        assert_eq!(
            parse_network("192.0.2.7/24").unwrap().to_string(),
            "192.0.2.0/24"
        );
        assert_eq!(
            parse_network("2001:db8::/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        for bad in ["", "192.0.2.0/33", "mx.pec.it", "192.0.2"] {
            let error = parse_network(bad).unwrap_err();
            assert!(
                error.message(Lang::It).contains("indirizzo non valido"),
                "{bad}"
            );
            assert!(error.message(Lang::En).contains("invalid address"), "{bad}");
        }
    }
}

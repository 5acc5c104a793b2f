//! The registry's plain data: what goes in and what comes out.

use std::fmt;
use std::str::FromStr;

use ipnet::IpNet;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::Lang;
use crate::finding::Code;
use crate::lifecycle::{DomainStatus, Effect, Event, Outcome, State, Transition};
use crate::name::DomainName;

use super::error::RegistryError;

/// For an enum stored as a name: `ALL`, `as_str` (the stored name), `Display` (the
/// same), and `FromStr`, which refuses a name this version does not know with a clear
/// [`RegistryError::Invalid`] naming the expected ones.
macro_rules! stored_names {
    ($type:ident, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $type {
            /// Every value, in declaration order.
            pub const ALL: &'static [$type] = &[$($type::$variant),+];

            /// The stored name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($type::$variant => $name),+
                }
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $type {
            type Err = RegistryError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $type::ALL
                    .iter()
                    .copied()
                    .find(|value| value.as_str() == s)
                    .ok_or_else(|| {
                        RegistryError::Invalid(format!(
                            "unknown {} {s:?} (expected one of: {})",
                            $what,
                            [$($name),+].join(", ")
                        ))
                    })
            }
        }
    };
}

// ---------------------------------------------------------------------------------------
// Domains
// ---------------------------------------------------------------------------------------

pub use crate::contact::Holder;

/// A domain to register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDomain {
    /// The certified name.
    pub name: DomainName,
    /// Who holds it.
    pub holder: Holder,
    /// The reseller that sold it, if any.
    pub reseller: Option<String>,
    /// The provider profile it is checked against (a built-in name or a file path).
    pub profile: String,
    /// Extra addresses allowed for this domain only (the "hybrid" exception).
    pub exception: Vec<IpNet>,
    /// The starting lifecycle status: usually `DomainStatus::new(State::Requested, now,
    /// expires)`, or `certified` for a domain imported from an existing list.
    pub status: DomainStatus,
    /// When the domain is first due for a check.
    pub next_check: Timestamp,
}

/// A registered domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Domain {
    /// The registry's identifier.
    pub id: i64,
    /// The certified name.
    pub name: DomainName,
    /// Who holds it.
    pub holder: Holder,
    /// The reseller that sold it, if any.
    pub reseller: Option<String>,
    /// The provider profile it is checked against.
    pub profile: String,
    /// Extra addresses allowed for this domain only (the "hybrid" exception).
    pub exception: Vec<IpNet>,
    /// The lifecycle status (state, deadline, expiry, episode, failure run, …).
    pub status: DomainStatus,
    /// When the domain is next due for a check.
    pub next_check: Timestamp,
    /// The latest check, if any.
    pub last_check: Option<CheckSummary>,
    /// The worker checking the domain now, if any.
    pub lease: Option<Lease>,
    /// A check whose lifecycle change awaits its sweep's decision, if any.
    pub pending: Option<PendingCheck>,
    /// Bumped by every committed change: pass it back as
    /// [`DomainUpdate::expected_version`].
    pub version: i64,
    /// When the domain was registered.
    pub created: Timestamp,
    /// When the domain last changed.
    pub updated: Timestamp,
    /// A digest of the latest check's full result (`None`: none, or recorded by an older
    /// pecwatch): a check with the same result stores it once (see
    /// [`CheckRecord::result`]). Internal, not shown.
    #[serde(skip)]
    pub result_digest: Option<i64>,
}

/// The gist of a check, kept on the domain for listing and filtering.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckSummary {
    /// When the check ran.
    pub at: Timestamp,
    /// Whether the domain was correctly configured.
    pub ok: bool,
    /// For a failure: whether it rested only on timeouts.
    pub transient: bool,
    /// The error codes (`A_NON_CORRETTO`, …).
    pub codes: Vec<Code>,
    /// The warning codes.
    pub warnings: Vec<Code>,
}

/// A worker's claim on a domain (see [`Registry::claim_due`](super::Registry::claim_due)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lease {
    /// The worker.
    pub owner: String,
    /// When the claim lapses and another worker may take the domain.
    pub until: Timestamp,
}

/// A check recorded during a sweep whose effect on the lifecycle (a new failure, a
/// correction, …) waits until the sweep decides to apply or hold its changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PendingCheck {
    /// The sweep.
    pub sweep_id: i64,
    /// The lifecycle event to apply ([`Event::Check`]).
    pub event: Event,
}

/// What an update does to the domain's [`PendingCheck`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum PendingChange {
    /// Leave it as it is (operators' commands).
    #[default]
    Keep,
    /// Set it: the update records a check whose lifecycle change must wait.
    Set(PendingCheck),
    /// Clear it: the update applies (or discards) the pending check.
    Clear,
}

/// Which domains to list. The default lists them all, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DomainFilter {
    /// Only domains in this state.
    pub state: Option<State>,
    /// Only domains whose last check reported this error code.
    pub code: Option<Code>,
    /// Only domains with a deadline strictly before this moment.
    pub deadline_before: Option<Timestamp>,
    /// Only domains whose name contains this text (case-insensitive).
    pub name_contains: Option<String>,
    /// Only domains whose name sorts after this one: for paging through many domains
    /// (pass the last name of the previous page).
    pub after_name: Option<String>,
    /// At most this many domains.
    pub limit: Option<u64>,
    /// Skip this many domains first.
    pub offset: u64,
}

// ---------------------------------------------------------------------------------------
// Recording checks
// ---------------------------------------------------------------------------------------

/// A check to record.
#[derive(Clone, Debug, PartialEq)]
pub struct NewCheck {
    /// When the check ran.
    pub at: Timestamp,
    /// Whether the domain was correctly configured.
    pub ok: bool,
    /// For a failure: whether it rested only on timeouts.
    pub transient: bool,
    /// The error codes.
    pub codes: Vec<Code>,
    /// The warning codes.
    pub warnings: Vec<Code>,
    /// The full result, as JSON.
    pub result: ResultJson,
    /// Whether the domain's previous check passed (`None`: never checked before).
    pub previous_ok: Option<bool>,
}

/// A check's full result as JSON text, serialized once where the check is recorded: the
/// registry stores the text (and its digest) as it is, without building a JSON tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultJson(String);

impl ResultJson {
    /// The JSON text of `result` (JSON `null` if it cannot be serialized, which the
    /// report views and `serde_json::Value` never fail to be).
    pub fn of(result: &impl Serialize) -> Self {
        Self(serde_json::to_string(result).unwrap_or_else(|_| "null".to_owned()))
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A side effect to carry out once (a notice, a publication, an alert), queued in the
/// outbox.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEffect {
    /// Unique for the effect, e.g. `pec.x.it/error_found/3`: an effect whose key is
    /// already in the outbox is not queued again, so retrying a batch cannot repeat it.
    pub key: String,
    /// What kind of effect.
    pub kind: OutboxKind,
    /// What the dispatcher needs to carry it out.
    pub payload: serde_json::Value,
}

/// Everything that changes for one domain after a check (or an operator's command),
/// committed atomically by [`Registry::commit_batch`](super::Registry::commit_batch).
#[derive(Clone, Debug, PartialEq)]
pub struct DomainUpdate {
    /// The domain.
    pub domain_id: i64,
    /// The [`Domain::version`] the update was computed from. If the domain has changed
    /// since, the update is skipped and reported as a conflict.
    pub expected_version: i64,
    /// The check to record, if any.
    pub check: Option<NewCheck>,
    /// The new lifecycle status, if it changed.
    pub status: Option<DomainStatus>,
    /// The state changes to record, oldest first.
    pub transitions: Vec<Transition>,
    /// The side effects to queue.
    pub effects: Vec<NewEffect>,
    /// When the domain is next due for a check.
    pub next_check: Timestamp,
    /// The sweep the check and the transitions belong to, if any.
    pub sweep_id: Option<i64>,
    /// What happens to the domain's pending check.
    pub pending: PendingChange,
    /// Notices about the domain delivered, to record as sent.
    pub deliveries: Vec<Delivery>,
    /// Notices about the domain that bounced after their acceptance, to record as failed
    /// (item, and why).
    pub bounces: Vec<(i64, String)>,
    /// The domain's [`Domain::result_digest`] when the update was computed: a check
    /// whose result has this digest is stored without repeating it.
    pub previous_result: Option<i64>,
}

impl DomainUpdate {
    /// An update of `domain` that changes nothing yet but its next check: fill in what
    /// changes.
    pub fn new(domain: &Domain, next_check: Timestamp) -> Self {
        DomainUpdate {
            domain_id: domain.id,
            expected_version: domain.version,
            check: None,
            status: None,
            transitions: Vec::new(),
            effects: Vec::new(),
            next_check,
            sweep_id: None,
            pending: PendingChange::Keep,
            deliveries: Vec::new(),
            bounces: Vec::new(),
            previous_result: domain.result_digest,
        }
    }

    /// Takes a lifecycle outcome computed from `domain`'s status: the new status (when it
    /// differs), the transitions and the effects, queued under keys unique to this
    /// version of the domain (see [`NewEffect::from_lifecycle`]).
    pub fn with_outcome(mut self, domain: &Domain, outcome: Outcome) -> Self {
        if outcome.status != domain.status {
            self.status = Some(outcome.status);
        }
        self.transitions = outcome.transitions;
        self.effects = outcome
            .effects
            .iter()
            .enumerate()
            .map(|(index, effect)| NewEffect::from_lifecycle(domain, index, effect))
            .collect();
        self
    }
}

impl NewEffect {
    /// The outbox item for the `index`-th effect of an event applied to `domain`.
    ///
    /// The key is `NAME/vVERSION/INDEX/WHAT` (`pec.x.it/v12/0/error_found`): the domain's
    /// version makes it unique to the event (an update commits only if the version still
    /// matches, and bumps it), so two notices of the same kind in one episode (a
    /// reinstatement refused twice, say) are both queued, while recomputing the same
    /// event after a crash yields the same key and cannot queue it twice.
    pub fn from_lifecycle(domain: &Domain, index: usize, effect: &Effect) -> Self {
        let kind = OutboxKind::of(effect);
        let what = match effect {
            Effect::SendNotice { kind, .. } => kind.key(),
            Effect::Publish | Effect::Unpublish | Effect::AlertOperators { .. } => {
                kind.as_str().to_owned()
            }
        };
        let mut payload = serde_json::to_value(effect).unwrap_or_default();
        if let Some(object) = payload.as_object_mut() {
            object.insert("domain".into(), domain.name.to_string().into());
        }
        NewEffect {
            key: format!("{}/v{}/{index}/{what}", domain.name, domain.version),
            kind,
            payload,
        }
    }
}

/// What [`Registry::commit_batch`](super::Registry::commit_batch) did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// The domains whose update was applied, in the order given.
    pub applied: Vec<i64>,
    /// The domains whose update was skipped because they changed since they were read
    /// (or no longer exist, or appeared twice in the batch): nothing of their update was
    /// written and their leases are kept; reload and retry them, or release them.
    pub conflicts: Vec<i64>,
    /// The outbox items this batch queued, in the order given.
    pub queued: Vec<i64>,
    /// How many effects were not queued because their key was already in the outbox.
    pub duplicate_effects: usize,
}

// ---------------------------------------------------------------------------------------
// History
// ---------------------------------------------------------------------------------------

/// A recorded check.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckRecord {
    /// The record's identifier.
    pub id: i64,
    /// The domain.
    pub domain_id: i64,
    /// The sweep it belonged to, if any.
    pub sweep_id: Option<i64>,
    /// When it ran, whether it passed, and its codes.
    #[serde(flatten)]
    pub summary: CheckSummary,
    /// The full result. Stored once for a run of checks with the same result, and read
    /// back whole for each of them.
    pub result: serde_json::Value,
}

/// A recorded state change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TransitionRecord {
    /// The record's identifier.
    pub id: i64,
    /// The domain.
    pub domain_id: i64,
    /// The change: from, to, when, why, who.
    #[serde(flatten)]
    pub transition: Transition,
}

/// Where an outbox item is in its delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxState {
    /// Not yet carried out (or to be retried).
    Pending,
    /// Carried out.
    Sent,
    /// Given up on.
    Failed,
}

stored_names!(OutboxState, "outbox state", {
    Pending => "pending",
    Sent => "sent",
    Failed => "failed",
});

/// What an outbox item carries out. Stored as its name (`notice`, `publish`,
/// `unpublish`, `alert`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxKind {
    /// A notice to a domain's holder (or, for an under-review domain, the operators).
    Notice,
    /// List the domain in the index.
    Publish,
    /// Take the domain out of the index.
    Unpublish,
    /// An alert to the operators.
    Alert,
}

stored_names!(OutboxKind, "outbox kind", {
    Notice => "notice",
    Publish => "publish",
    Unpublish => "unpublish",
    Alert => "alert",
});

impl OutboxKind {
    /// The kind of item that carries out a lifecycle effect.
    pub const fn of(effect: &Effect) -> Self {
        match effect {
            Effect::SendNotice { .. } => OutboxKind::Notice,
            Effect::Publish => OutboxKind::Publish,
            Effect::Unpublish => OutboxKind::Unpublish,
            Effect::AlertOperators { .. } => OutboxKind::Alert,
        }
    }

    /// The kind in words, for people.
    pub const fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (OutboxKind::Notice, Lang::It) => "Avviso",
            (OutboxKind::Notice, Lang::En) => "Notice",
            (OutboxKind::Publish, Lang::It) => "Pubblicazione nell'indice",
            (OutboxKind::Publish, Lang::En) => "Published in the index",
            (OutboxKind::Unpublish, Lang::It) => "Tolto dall'indice",
            (OutboxKind::Unpublish, Lang::En) => "Taken out of the index",
            (OutboxKind::Alert, Lang::It) => "Allerta agli operatori",
            (OutboxKind::Alert, Lang::En) => "Operator alert",
        }
    }
}

/// A queued side effect.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutboxItem {
    /// The item's identifier.
    pub id: i64,
    /// The domain it concerns (`None` for operator alerts).
    pub domain_id: Option<i64>,
    /// Its unique key.
    pub key: String,
    /// What kind of effect.
    pub kind: OutboxKind,
    /// What the dispatcher needs.
    pub payload: serde_json::Value,
    /// When it was queued.
    pub created: Timestamp,
    /// Where it is in its delivery.
    pub state: OutboxState,
    /// How many delivery attempts were recorded.
    pub attempts: u32,
    /// The latest attempt's error, if it failed.
    pub last_error: Option<String>,
    /// When the recipient's mail server accepted it (notices).
    pub accepted_at: Option<Timestamp>,
    /// When it last changed.
    pub updated: Timestamp,
    /// Not to be tried again before this (after a temporary failure).
    pub next_attempt: Option<Timestamp>,
    /// The Message-ID its attempts carry (set at the first attempt).
    pub message_id: Option<String>,
    /// The mail server's last reply (`250 2.0.0 Ok: queued as …`, or the refusal).
    pub reply: Option<String>,
}

/// A notice delivered: recorded with the update of its domain, in one transaction, so
/// that the acceptance and its effect on the lifecycle (the grace period starts) are
/// never separated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The outbox item.
    pub item_id: i64,
    /// When the mail server accepted it.
    pub accepted_at: Timestamp,
    /// The Message-ID it carried.
    pub message_id: String,
    /// The server's reply.
    pub reply: String,
}

/// Which outbox items to list. The default lists them all, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutboxFilter {
    /// Only items in this state.
    pub state: Option<OutboxState>,
    /// Only items about this domain.
    pub domain_id: Option<i64>,
    /// Only items with a larger identifier: for paging.
    pub after_id: Option<i64>,
    /// At most this many items.
    pub limit: Option<u64>,
}

// ---------------------------------------------------------------------------------------
// Sweeps and alerts
// ---------------------------------------------------------------------------------------

/// What started a sweep. Stored as its name (`daily`, `recheck`, `sweep`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SweepKind {
    /// The daily check, at its time, by `pecwatch serve`.
    Daily,
    /// A re-check by `pecwatch serve` of the domains that fell due between daily checks.
    Recheck,
    /// A check of every due domain run by hand or by cron (`pecwatch sweep`).
    Sweep,
}

stored_names!(SweepKind, "sweep kind", {
    Daily => "daily",
    Recheck => "recheck",
    Sweep => "sweep",
});

impl SweepKind {
    /// What an operator calls a sweep of this kind.
    pub const fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (SweepKind::Daily, Lang::It) => "Controllo giornaliero",
            (SweepKind::Daily, Lang::En) => "Daily check",
            (SweepKind::Recheck, Lang::It) => "Ricontrollo",
            (SweepKind::Recheck, Lang::En) => "Recheck",
            (SweepKind::Sweep, Lang::It) => "Controllo",
            (SweepKind::Sweep, Lang::En) => "Check",
        }
    }
}

/// A run over the due domains.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sweep {
    /// The sweep's identifier.
    pub id: i64,
    /// What kind of sweep.
    pub kind: SweepKind,
    /// When it started.
    pub started: Timestamp,
    /// When it finished; `None` while running or if the process died during it.
    pub finished: Option<Timestamp>,
    /// Its summary (counts, durations), once finished.
    pub summary: Option<serde_json::Value>,
    /// Whether its lifecycle changes were held back (canaries failed, too many new
    /// failures at once): set when the sweep decides.
    pub held: bool,
    /// When the sweep decided to apply or hold its lifecycle changes (`None` while it
    /// is still checking).
    pub decided: Option<Timestamp>,
    /// Why the sweep is held, if it is (set as soon as the reason is known, possibly
    /// before the decision: canaries failing before the sweep).
    pub hold_reason: Option<String>,
}

/// What an operator alert is about. Stored as its name (`alerts.kind`, and `alert` in an
/// outbox alert's payload).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A sweep held its lifecycle changes back (too many new failures, canaries failing).
    SweepHeld,
    /// The resolver (or the root servers) stopped answering during a sweep.
    ResolverDown,
    /// A notice to a holder could not be delivered after every attempt.
    NoticeFailed,
    /// An alert to the operators could not be delivered after every attempt.
    AlertFailed,
    /// A reseller's copy of a notice could not be delivered.
    ResellerCopyFailed,
    /// A notice came back as a permanent bounce.
    NoticeBounced,
}

stored_names!(AlertKind, "alert kind", {
    SweepHeld => "sweep_held",
    ResolverDown => "resolver_down",
    NoticeFailed => "notice_failed",
    AlertFailed => "alert_failed",
    ResellerCopyFailed => "reseller_copy_failed",
    NoticeBounced => "notice_bounced",
});

/// An alert for the operators.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// The alert's identifier.
    pub id: i64,
    /// When it was raised.
    pub at: Timestamp,
    /// What kind of alert.
    pub kind: AlertKind,
    /// What happened, for people.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each stored name reads back as its value, serializes as itself, and a name this
    /// version does not know is a clear error.
    fn round_trip<T>(all: &[T], what: &str)
    where
        T: Copy + fmt::Debug + PartialEq + Serialize + FromStr<Err = RegistryError>,
        T: fmt::Display,
    {
        for value in all {
            let name = value.to_string();
            assert_eq!(name.parse::<T>().unwrap(), *value);
            assert_eq!(serde_json::to_value(value).unwrap(), name);
        }
        let error = "weekly".parse::<T>().unwrap_err().to_string();
        assert!(error.starts_with(&format!("unknown {what} \"weekly\" (expected one of: ")));
    }

    #[test]
    fn stored_names_read_back_and_unknown_ones_are_clear_errors() {
        round_trip(OutboxState::ALL, "outbox state");
        round_trip(OutboxKind::ALL, "outbox kind");
        round_trip(SweepKind::ALL, "sweep kind");
        assert_eq!(
            "weekly".parse::<SweepKind>().unwrap_err().to_string(),
            "unknown sweep kind \"weekly\" (expected one of: daily, recheck, sweep)"
        );
    }
}

//! The life of a certified domain (`SPEC.md` §4): a pure state machine.
//!
//! [`apply`] takes a domain's persisted [`DomainStatus`], one [`Event`] and the
//! [`Policy`], and returns an [`Outcome`]: the new status, the state [`Transition`]s
//! that happened (zero or more) and the [`Effect`]s the caller must carry out (notices,
//! index publication, operator alerts). It does no I/O and never reads the clock: every
//! event carries its own time, so tests and the scheduler decide what "now" is.
//!
//! ```text
//!  requested ──Submit──▶ pending_dns ──DnsVerified──▶ certified ◀──────────────┐
//!                                                     │     ▲                  │
//!                                  confirmed failure  │     │ passing check    │ Approve
//!                                                     ▼     │                  │
//!                                                    in_error                  │
//!                                                     │                        │
//!                        Tick at the deadline         │                        │
//!                        (notice accepted + grace)    ▼        passing check   │
//!                                                    removed ──────────▶ under_review
//!                                                       ▲ ◀── Reject / failing check
//!
//!  any state ──Tick at expiry──▶ expired (permanent: every later event is ignored)
//!  certified, in_error, under_review ──Remove (operator)──▶ removed
//! ```
//!
//! # Rules
//!
//! - **Activation.** In `pending_dns` a passing check (every authoritative server
//!   correct) is the DNS verification: the domain becomes `certified`, enters the index
//!   and the holder gets the activation notice. Failing checks change nothing there.
//! - **Confirmation.** In `certified` a failing check starts a *failure run*. The run is
//!   confirmed, and the domain goes to `in_error`, by a later failing check when (1) the
//!   run has at least two checks (an error is "seen again"), (2) at least
//!   [`Policy::confirm_after`] has passed since the run's first failure, and (3) the run
//!   contains a failure that is not only timeouts, or it has
//!   [`Policy::transient_confirmations`] consecutive failing checks. A passing check ends
//!   the run. Each confirmation starts a new *episode* ([`DomainStatus::episode`]), which
//!   every notice carries.
//! - **Grace.** The holder has [`Policy::grace`] from the moment the error notice was
//!   accepted by the mail server ([`Event::NoticeAccepted`]); with
//!   [`Policy::start_grace_at_queue`] from the moment it was queued instead. A passing
//!   check before or *at* the deadline returns the domain to `certified`; a [`Event::Tick`]
//!   at or after it removes the domain.
//! - **Reinstatement.** A passing check on a `removed` domain puts it `under_review`; an
//!   operator approves (back to `certified`) or rejects (back to `removed`). A failure
//!   that is not only timeouts (or `transient_confirmations` consecutive timeout-only
//!   failures) while under review puts it back to `removed`.
//! - **Expiry.** When the certification's expiry passes, the domain is `expired` whatever
//!   its state, for good: later events are ignored and operator commands fail.
//!
//! # Time
//!
//! Time never runs backwards within the machine: before an event at time `t` is applied,
//! the deadline and the expiry that fell *strictly before* `t` take effect, exactly as a
//! [`Event::Tick`] at that instant would have done (the transition is recorded at the
//! deadline or expiry instant). So a check that arrives after a missed tick cannot
//! resurrect a domain whose grace had already ended, while a check at the very instant of
//! the deadline still wins. Durations are exact (a day is 24 hours).
//!
//! Publication follows the state: entering a published state ([`State::is_published`])
//! emits [`Effect::Publish`], leaving one emits [`Effect::Unpublish`].

use std::fmt;
use std::str::FromStr;

use jiff::{SignedDuration, Span, SpanRelativeTo, Timestamp};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Lang;
use crate::finding::Code;

/// The actor recorded on transitions made by pecwatch itself rather than an operator.
pub const SYSTEM: &str = "system";

// ---------------------------------------------------------------------------------------
// States
// ---------------------------------------------------------------------------------------

/// Where a domain is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Certification requested, not yet submitted for DNS verification.
    Requested,
    /// Waiting for the holder's DNS to point at the provider.
    PendingDns,
    /// Certified and published in the index; checked every day.
    Certified,
    /// A confirmed failure was notified; the holder is within the grace period. Still
    /// published.
    InError,
    /// Removed from the certified list: PEC mail is blocked and the index no longer lists
    /// it. Still checked, to notice a correction.
    Removed,
    /// A removed domain that passes checks again, waiting for an operator's decision.
    UnderReview,
    /// The certification expired: permanent, a new certification is needed.
    Expired,
}

impl State {
    /// Every state, in lifecycle order.
    pub const ALL: [State; 7] = [
        State::Requested,
        State::PendingDns,
        State::Certified,
        State::InError,
        State::Removed,
        State::UnderReview,
        State::Expired,
    ];

    /// Every state but `expired` (the last of [`State::ALL`]).
    pub const NOT_EXPIRED: &'static [State] = {
        const ALL: &[State] = &State::ALL;
        match ALL.split_last() {
            Some((_, rest)) => rest,
            None => ALL,
        }
    };

    /// The stable snake_case name (`pending_dns`, `in_error`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Requested => "requested",
            State::PendingDns => "pending_dns",
            State::Certified => "certified",
            State::InError => "in_error",
            State::Removed => "removed",
            State::UnderReview => "under_review",
            State::Expired => "expired",
        }
    }

    /// Whether the index lists domains in this state (`certified` and `in_error`).
    pub const fn is_published(self) -> bool {
        matches!(self, State::Certified | State::InError)
    }

    /// Whether the daily sweep checks domains in this state (all but `requested` and
    /// `expired`).
    pub const fn is_monitored(self) -> bool {
        !matches!(self, State::Requested | State::Expired)
    }

    /// Whether the holder is warned of an approaching expiry in this state: every
    /// monitored state except `removed` (a removed domain's holder was already told the
    /// service stopped; renewing alone would not bring it back).
    pub const fn warns_of_expiry(self) -> bool {
        self.is_monitored() && !matches!(self, State::Removed)
    }

    /// The state in words, for people (`in errore`, `in error`).
    pub const fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (State::Requested, Lang::It) => "richiesto",
            (State::Requested, Lang::En) => "requested",
            (State::PendingDns, Lang::It) => "in attesa del DNS",
            (State::PendingDns, Lang::En) => "pending DNS",
            (State::Certified, Lang::It) => "certificato",
            (State::Certified, Lang::En) => "certified",
            (State::InError, Lang::It) => "in errore",
            (State::InError, Lang::En) => "in error",
            (State::Removed, Lang::It) => "rimosso",
            (State::Removed, Lang::En) => "removed",
            (State::UnderReview, Lang::It) => "in revisione",
            (State::UnderReview, Lang::En) => "under review",
            (State::Expired, Lang::It) => "scaduto",
            (State::Expired, Lang::En) => "expired",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        State::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownName {
                what: "lifecycle state",
                name: s.to_owned(),
                expected: "requested, pending_dns, certified, in_error, removed, under_review, expired",
            })
    }
}

/// A name that is not a known [`State`] or [`NoticeKind`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {name:?} (expected one of: {expected})")]
pub struct UnknownName {
    what: &'static str,
    name: String,
    expected: &'static str,
}

// ---------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------

/// A command: an event that can be refused ([`Event::command`]), and the states in
/// which the machine accepts it. Whoever offers a command (the console's buttons, the
/// command line) asks [`Action::allowed_in`] rather than knowing the rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// [`Event::Approve`].
    Approve,
    /// [`Event::Reject`].
    Reject,
    /// [`Event::Renew`].
    Renew,
    /// [`Event::Remove`].
    Remove,
    /// [`Event::DnsVerified`].
    Activate,
    /// [`Event::Submit`].
    Submit,
}

impl Action {
    /// The verb in English (`approve`, `renew`, …), as error messages write it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Approve => "approve",
            Action::Reject => "reject",
            Action::Renew => "renew",
            Action::Remove => "remove",
            Action::Activate => "activate",
            Action::Submit => "submit",
        }
    }

    /// The verb in `lang` (`approvare`, `approve`).
    pub const fn verb(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (action, Lang::En) => action.as_str(),
            (Action::Approve, Lang::It) => "approvare",
            (Action::Reject, Lang::It) => "respingere",
            (Action::Renew, Lang::It) => "rinnovare",
            (Action::Remove, Lang::It) => "rimuovere",
            (Action::Activate, Lang::It) => "attivare",
            (Action::Submit, Lang::It) => "inoltrare",
        }
    }

    /// The states in which the command is accepted (never `expired`: an expired domain
    /// refuses every command).
    pub const fn allowed(self) -> &'static [State] {
        match self {
            Action::Approve | Action::Reject => &[State::UnderReview],
            Action::Renew => State::NOT_EXPIRED,
            Action::Remove => &[State::Certified, State::InError, State::UnderReview],
            Action::Activate => &[State::PendingDns],
            Action::Submit => &[State::Requested],
        }
    }

    /// Whether the command is accepted in `state`.
    pub fn allowed_in(self, state: State) -> bool {
        self.allowed().contains(&state)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------------------
// Notices
// ---------------------------------------------------------------------------------------

/// What a notice is about. Notices go to the domain's holder, except
/// [`NoticeKind::UnderReview`], which goes to the operators.
///
/// Serialized as its [`key`](NoticeKind::key) (`error_found`, `expiry_warning_30`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum NoticeKind {
    /// A confirmed failure: the errors, how to fix them, the grace period.
    ErrorFound,
    /// The failure was corrected within the grace period.
    Corrected,
    /// The domain was removed from the certified list.
    Removed,
    /// (To operators.) A removed domain passes checks again and awaits a decision.
    UnderReview,
    /// An operator reinstated the domain.
    Reinstated,
    /// An operator rejected the reinstatement.
    Rejected,
    /// The certification expired.
    Expired,
    /// The certification expires within `days` days.
    ExpiryWarning {
        /// The configured threshold that fell due (see [`Policy::expiry_warnings`]).
        days: i64,
    },
    /// The domain was activated (certified for the first time).
    Activated,
}

impl NoticeKind {
    /// A stable key for storage and de-duplication: the snake_case name, with the days
    /// for expiry warnings (`expiry_warning_30`).
    pub fn key(self) -> String {
        self.to_string()
    }

    /// Whether the notice goes to the operators rather than the holder.
    pub const fn to_operators(self) -> bool {
        matches!(self, NoticeKind::UnderReview)
    }

    const SIMPLE: [NoticeKind; 8] = [
        NoticeKind::ErrorFound,
        NoticeKind::Corrected,
        NoticeKind::Removed,
        NoticeKind::UnderReview,
        NoticeKind::Reinstated,
        NoticeKind::Rejected,
        NoticeKind::Expired,
        NoticeKind::Activated,
    ];
}

impl fmt::Display for NoticeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NoticeKind::ErrorFound => "error_found",
            NoticeKind::Corrected => "corrected",
            NoticeKind::Removed => "removed",
            NoticeKind::UnderReview => "under_review",
            NoticeKind::Reinstated => "reinstated",
            NoticeKind::Rejected => "rejected",
            NoticeKind::Expired => "expired",
            NoticeKind::ExpiryWarning { days } => return write!(f, "expiry_warning_{days}"),
            NoticeKind::Activated => "activated",
        })
    }
}

impl FromStr for NoticeKind {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(days) = s.strip_prefix("expiry_warning_")
            && let Ok(days) = days.parse::<i64>()
        {
            return Ok(NoticeKind::ExpiryWarning { days });
        }
        NoticeKind::SIMPLE
            .into_iter()
            .find(|kind| kind.to_string() == s)
            .ok_or_else(|| UnknownName {
                what: "notice kind",
                name: s.to_owned(),
                expected: "error_found, corrected, removed, under_review, reinstated, rejected, \
                           expired, expiry_warning_<days>, activated",
            })
    }
}

impl From<NoticeKind> for String {
    fn from(kind: NoticeKind) -> String {
        kind.key()
    }
}

impl TryFrom<String> for NoticeKind {
    type Error = UnknownName;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

// ---------------------------------------------------------------------------------------
// Policy
// ---------------------------------------------------------------------------------------

/// The tunable rules (`[lifecycle]` in the configuration).
///
/// Durations are written like `"1h"`, `"90m"`, `"7d"` or ISO 8601 `"PT1H"`; a day is
/// exactly 24 hours.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// A failure is confirmed only by a failing check at least this long after the first
    /// failure of the run. Default 1 hour.
    #[serde(with = "duration_serde")]
    pub confirm_after: SignedDuration,
    /// A run of failures that rest only on timeouts needs this many consecutive failing
    /// checks to be confirmed (and to revert an `under_review` domain). Default 3.
    pub transient_confirmations: u32,
    /// How long the holder has to correct, from the error notice's acceptance. Default 7
    /// days.
    #[serde(with = "duration_serde")]
    pub grace: SignedDuration,
    /// Days before expiry at which the holder is warned, once each. Default `[30, 7]`.
    pub expiry_warnings: Vec<i64>,
    /// Start the grace period when the error notice is queued instead of when it is
    /// accepted: for installations that do not send notices with pecwatch. Default
    /// `false`.
    pub start_grace_at_queue: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            confirm_after: SignedDuration::from_hours(1),
            transient_confirmations: 3,
            grace: SignedDuration::from_hours(7 * 24),
            expiry_warnings: vec![30, 7],
            start_grace_at_queue: false,
        }
    }
}

impl Policy {
    /// Checks that the values make sense (for configuration loading; [`apply`] copes with
    /// any policy without panicking).
    pub fn validate(&self) -> Result<(), LifecycleError> {
        let invalid = |field, problem: &str| {
            Err(LifecycleError::InvalidPolicy {
                field,
                problem: problem.to_owned(),
            })
        };
        if self.confirm_after.is_negative() {
            return invalid("confirm_after", "must not be negative");
        }
        if self.transient_confirmations == 0 {
            return invalid("transient_confirmations", "must be at least 1");
        }
        if !self.grace.is_positive() {
            return invalid("grace", "must be positive");
        }
        if let Some(days) = self.expiry_warnings.iter().find(|days| **days <= 0) {
            return invalid(
                "expiry_warnings",
                &format!("must be positive numbers of days, not {days}"),
            );
        }
        Ok(())
    }

    /// The number of consecutive timeout-only failures that count as solid evidence.
    fn transient_needed(&self) -> u32 {
        self.transient_confirmations.max(1)
    }
}

/// Parses a duration like `"1h"`, `"90m"`, `"7d"`, `"1 week"` or `"PT1H"`, with days of
/// exactly 24 hours.
pub fn parse_duration(text: &str) -> Result<SignedDuration, String> {
    if let Ok(duration) = text.parse::<SignedDuration>() {
        return Ok(duration);
    }
    let span: Span = text
        .parse()
        .map_err(|e| format!("invalid duration {text:?}: {e}"))?;
    span.to_duration(SpanRelativeTo::days_are_24_hours())
        .map_err(|e| format!("invalid duration {text:?}: {e}"))
}

/// Serde for durations (the [`Policy`]'s and the configuration's): `"7d"` when a whole
/// number of days, else `"90m"`; reads anything [`parse_duration`] accepts.
pub(crate) mod duration_serde {
    use jiff::SignedDuration;
    use serde::{Deserialize, Deserializer, Serializer, de};

    const DAY_SECS: i64 = 24 * 60 * 60;

    pub(crate) fn serialize<S: Serializer>(d: &SignedDuration, s: S) -> Result<S::Ok, S::Error> {
        let secs = d.as_secs();
        if secs != 0 && secs % DAY_SECS == 0 && d.subsec_nanos() == 0 {
            s.collect_str(&format_args!("{}d", secs / DAY_SECS))
        } else {
            // The alternate form is the friendly one (`90m`, not `PT1H30M`).
            s.collect_str(&format_args!("{d:#}"))
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SignedDuration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_duration(&text).map_err(de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------
// Status, events, effects
// ---------------------------------------------------------------------------------------

/// The persisted part of a domain's lifecycle. Plain data: [`apply`] computes the next
/// one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainStatus {
    /// The current state.
    pub state: State,
    /// When the domain entered [`state`](Self::state).
    pub since: Timestamp,
    /// `in_error` only: when the domain will be removed unless corrected. Set when the
    /// error notice is accepted (or queued, with [`Policy::start_grace_at_queue`]).
    #[serde(default)]
    pub deadline: Option<Timestamp>,
    /// When the certification expires, if known.
    #[serde(default)]
    pub expires: Option<Timestamp>,
    /// The number of error episodes so far: incremented at each confirmed failure. Every
    /// notice carries the current episode.
    #[serde(default)]
    pub episode: u32,
    /// The first failing check of the current failure run (none without a run).
    #[serde(default)]
    pub first_failure: Option<Timestamp>,
    /// The latest failing check of the current failure run.
    #[serde(default)]
    pub last_failure: Option<Timestamp>,
    /// Failing checks in the current run (0 without a run).
    #[serde(default)]
    pub consecutive_failures: u32,
    /// Whether every failure of the current run rested only on timeouts.
    #[serde(default)]
    pub failures_all_transient: bool,
    /// The codes of the latest failing check; cleared by a passing check.
    #[serde(default)]
    pub last_codes: Vec<Code>,
    /// When the current episode's error notice was queued.
    #[serde(default)]
    pub error_notice_queued_at: Option<Timestamp>,
    /// When the current episode's error notice was accepted by the holder's mail server.
    #[serde(default)]
    pub error_notice_accepted_at: Option<Timestamp>,
    /// The expiry-warning thresholds (days) already sent for the current
    /// [`expires`](Self::expires), sorted.
    #[serde(default)]
    pub expiry_warnings_sent: Vec<i64>,
}

impl DomainStatus {
    /// A domain entering `state` at `since`, with no history: a new request
    /// (`State::Requested`) or a domain imported as already `certified`.
    pub fn new(state: State, since: Timestamp, expires: Option<Timestamp>) -> Self {
        DomainStatus {
            state,
            since,
            deadline: None,
            expires,
            episode: 0,
            first_failure: None,
            last_failure: None,
            consecutive_failures: 0,
            failures_all_transient: false,
            last_codes: Vec::new(),
            error_notice_queued_at: None,
            error_notice_accepted_at: None,
            expiry_warnings_sent: Vec::new(),
        }
    }

    /// Whether failing checks are accumulating towards a confirmation (or a revert).
    pub fn has_failure_run(&self) -> bool {
        self.consecutive_failures > 0
    }

    fn clear_failure_run(&mut self) {
        self.first_failure = None;
        self.last_failure = None;
        self.consecutive_failures = 0;
        self.failures_all_transient = false;
    }
}

/// Something that happened to a domain. Every event carries its own time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A check of the domain's DNS finished.
    Check {
        /// When the check ran.
        at: Timestamp,
        /// Whether the domain is correctly configured.
        ok: bool,
        /// For a failure: whether it rests only on timeouts (no server gave a wrong
        /// answer). Ignored when `ok`.
        transient: bool,
        /// The failure codes (`A_NON_CORRETTO`, …); empty when `ok`.
        codes: Vec<Code>,
    },
    /// A notice was accepted by the recipient's mail server. Starts the grace period when
    /// it is the current episode's [`NoticeKind::ErrorFound`] and the domain is
    /// `in_error`; otherwise ignored.
    NoticeAccepted {
        /// When the mail server accepted it.
        at: Timestamp,
        /// What the notice was about.
        kind: NoticeKind,
        /// The episode the notice was sent for.
        episode: u32,
    },
    /// A notice that was accepted came back as undeliverable (a bounce, RFC 3464). For
    /// the current episode's [`NoticeKind::ErrorFound`] of an `in_error` domain, the
    /// holder was not told after all: the grace period is taken back (it starts again at
    /// the next accepted notice) and the operators are alerted. Otherwise ignored.
    NoticeBounced {
        /// When the bounce arrived.
        at: Timestamp,
        /// What the notice was about.
        kind: NoticeKind,
        /// The episode the notice was sent for.
        episode: u32,
    },
    /// Time passed: deadlines, expiry and expiry warnings that are due take effect.
    Tick {
        /// The current time.
        now: Timestamp,
    },
    /// An operator reinstates an `under_review` domain.
    Approve {
        /// When.
        at: Timestamp,
        /// Who.
        actor: String,
    },
    /// An operator refuses to reinstate an `under_review` domain.
    Reject {
        /// When.
        at: Timestamp,
        /// Who.
        actor: String,
    },
    /// The certification was renewed until `expires`. Allowed in every state but
    /// `expired`; not a state change, so it yields no transition (the caller's event log
    /// records it).
    Renew {
        /// When.
        at: Timestamp,
        /// The new expiry; must be later than `at`.
        expires: Timestamp,
        /// Who.
        actor: String,
    },
    /// An operator removes a `certified`, `in_error` or `under_review` domain.
    Remove {
        /// When.
        at: Timestamp,
        /// Who.
        actor: String,
        /// Why (recorded on the transition).
        reason: String,
    },
    /// Activation: the DNS of a `pending_dns` domain is correct.
    DnsVerified {
        /// When.
        at: Timestamp,
    },
    /// Activation: a `requested` domain is submitted for DNS verification.
    Submit {
        /// When.
        at: Timestamp,
    },
}

impl Event {
    /// When the event happened.
    pub fn at(&self) -> Timestamp {
        match self {
            Event::Check { at, .. }
            | Event::NoticeAccepted { at, .. }
            | Event::NoticeBounced { at, .. }
            | Event::Approve { at, .. }
            | Event::Reject { at, .. }
            | Event::Renew { at, .. }
            | Event::Remove { at, .. }
            | Event::DnsVerified { at }
            | Event::Submit { at } => *at,
            Event::Tick { now } => *now,
        }
    }

    /// For commands (events that can be refused), which command; `None` for
    /// observations (checks, notice acceptances, ticks), which never fail.
    pub fn command(&self) -> Option<Action> {
        match self {
            Event::Check { .. }
            | Event::NoticeAccepted { .. }
            | Event::NoticeBounced { .. }
            | Event::Tick { .. } => None,
            Event::Approve { .. } => Some(Action::Approve),
            Event::Reject { .. } => Some(Action::Reject),
            Event::Renew { .. } => Some(Action::Renew),
            Event::Remove { .. } => Some(Action::Remove),
            Event::DnsVerified { .. } => Some(Action::Activate),
            Event::Submit { .. } => Some(Action::Submit),
        }
    }
}

/// Something the caller must do as a result of an event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// Send a notice about the domain.
    SendNotice {
        /// What about.
        kind: NoticeKind,
        /// The domain's episode when the notice was decided.
        episode: u32,
    },
    /// List the domain in the index.
    Publish,
    /// Take the domain out of the index (and block its PEC mail).
    Unpublish,
    /// Draw the operators' attention to the domain.
    AlertOperators {
        /// Why.
        reason: String,
    },
}

/// A change of state, for the domain's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// When it took effect (a deadline or expiry instant for time-driven transitions).
    pub at: Timestamp,
    /// Why (stored as short machine-friendly English: `confirmed failure:
    /// A_NON_CORRETTO`).
    pub reason: Reason,
    /// [`SYSTEM`] or the operator who acted.
    pub actor: String,
}

/// Why a domain changed state: the reason recorded on its [`Transition`].
///
/// Stored and serialized as short machine-friendly English (`confirmed failure:
/// A_NON_CORRETTO`, its [`Display`](fmt::Display)); shown to people in Italian or
/// English by [`Reason::text`]. What follows a colon (codes, an operator's words) or
/// the date of a renewal is kept as written in both languages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// `certified` → `in_error`: a failure was confirmed, with the failing check's codes.
    ConfirmedFailure(Vec<Code>),
    /// `in_error` → `certified`: a passing check within the grace period.
    CorrectionVerified,
    /// `in_error` → `removed`: the deadline passed.
    GracePeriodEnded,
    /// any state → `expired`.
    CertificationExpired,
    /// `removed` → `under_review`: a passing check after the removal.
    CorrectionAfterRemoval,
    /// `under_review` → `removed`: the domain fails again.
    CorrectionNoLongerHolds,
    /// `under_review` → `certified`, by an operator.
    ReinstatementApproved,
    /// `under_review` → `removed`, by an operator, with their words (may be empty).
    ReinstatementRejected(String),
    /// → `removed`, by an operator, with their words (may be empty).
    RemovedByOperator(String),
    /// `pending_dns` → `certified`: activation.
    DnsVerified,
    /// `requested` → `pending_dns`.
    Submitted,
    /// No state change: the certification was renewed until this instant.
    RenewedUntil(Timestamp),
    /// A reason this version does not write (recorded by another version, or by hand):
    /// kept, and shown, as recorded.
    Recorded(String),
}

impl Reason {
    /// One of each kind (the payloads are placeholders), for reading recorded text.
    const KINDS: [Reason; 12] = [
        Reason::ConfirmedFailure(Vec::new()),
        Reason::CorrectionVerified,
        Reason::GracePeriodEnded,
        Reason::CertificationExpired,
        Reason::CorrectionAfterRemoval,
        Reason::CorrectionNoLongerHolds,
        Reason::ReinstatementApproved,
        Reason::ReinstatementRejected(String::new()),
        Reason::RemovedByOperator(String::new()),
        Reason::DnsVerified,
        Reason::Submitted,
        Reason::RenewedUntil(Timestamp::UNIX_EPOCH),
    ];

    /// The reason's words in English and in Italian (`None` for [`Reason::Recorded`]).
    const fn words(&self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            Reason::ConfirmedFailure(_) => ("confirmed failure", "errore confermato"),
            Reason::CorrectionVerified => ("correction verified", "correzione verificata"),
            Reason::GracePeriodEnded => ("grace period ended", "termine per la correzione scaduto"),
            Reason::CertificationExpired => ("certification expired", "certificazione scaduta"),
            Reason::CorrectionAfterRemoval => {
                ("correction after removal", "corretto dopo la rimozione")
            }
            Reason::CorrectionNoLongerHolds => {
                ("correction no longer holds", "la correzione non regge più")
            }
            Reason::ReinstatementApproved => ("reinstatement approved", "reintegro approvato"),
            Reason::ReinstatementRejected(_) => ("reinstatement rejected", "reintegro respinto"),
            Reason::RemovedByOperator(_) => ("removed by operator", "rimosso da un operatore"),
            Reason::DnsVerified => ("dns verified", "DNS verificato"),
            Reason::Submitted => ("submitted", "richiesta inoltrata"),
            Reason::RenewedUntil(_) => ("renewed until", "rinnovato fino al"),
            Reason::Recorded(_) => return None,
        })
    }

    /// What follows the words, the same in every language: `: A_NON_CORRETTO,
    /// A_MULTIPLI`, `: the operator's words`, ` 2028-06-30T21:59:59Z`, or nothing.
    fn detail(&self) -> String {
        match self {
            Reason::ConfirmedFailure(codes) if !codes.is_empty() => {
                format!(": {}", Code::join(codes, ", "))
            }
            Reason::ReinstatementRejected(note) | Reason::RemovedByOperator(note)
                if !note.is_empty() =>
            {
                format!(": {note}")
            }
            Reason::RenewedUntil(until) => format!(" {until}"),
            _ => String::new(),
        }
    }

    /// The reason in `lang`, for people: `confirmed failure: A_NON_CORRETTO` is `errore
    /// confermato: A_NON_CORRETTO` in Italian. A [`Reason::Recorded`] is shown as
    /// recorded.
    pub fn text(&self, lang: Lang) -> String {
        match (self, self.words()) {
            (_, Some((english, italian))) => {
                format!("{}{}", lang.pick(italian, english), self.detail())
            }
            (Reason::Recorded(text), None) => text.clone(),
            (_, None) => String::new(),
        }
    }

    /// Reads a recorded reason (its English text). Never fails: text this version does
    /// not write exactly so is kept as [`Reason::Recorded`].
    pub fn parse(text: &str) -> Reason {
        let note = |rest: &str| match rest.strip_prefix(": ") {
            Some(note) => Some(note.to_owned()),
            None => rest.is_empty().then(String::new),
        };
        for kind in Reason::KINDS {
            let Some(rest) = kind
                .words()
                .and_then(|(english, _)| text.strip_prefix(english))
            else {
                continue;
            };
            let read = match kind {
                Reason::ConfirmedFailure(_) => match rest.strip_prefix(": ") {
                    Some(codes) => codes
                        .split(", ")
                        .map(Code::parse)
                        .collect::<Option<Vec<Code>>>()
                        .map(Reason::ConfirmedFailure),
                    None => rest
                        .is_empty()
                        .then_some(Reason::ConfirmedFailure(Vec::new())),
                },
                Reason::ReinstatementRejected(_) => note(rest).map(Reason::ReinstatementRejected),
                Reason::RemovedByOperator(_) => note(rest).map(Reason::RemovedByOperator),
                Reason::RenewedUntil(_) => rest
                    .strip_prefix(' ')
                    .and_then(|until| until.parse().ok())
                    .map(Reason::RenewedUntil),
                fixed => rest.is_empty().then_some(fixed),
            };
            // Only what reads back exactly as recorded: the stored text never changes.
            if let Some(reason) = read.filter(|reason| reason.to_string() == text) {
                return reason;
            }
        }
        Reason::Recorded(text.to_owned())
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text(Lang::En))
    }
}

impl FromStr for Reason {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Reason::parse(s))
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Reason {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|text| Reason::parse(&text))
    }
}

/// The result of applying an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The new status, to persist.
    pub status: DomainStatus,
    /// The state changes, oldest first (several for e.g. a tick that removes then
    /// expires).
    pub transitions: Vec<Transition>,
    /// What the caller must do, in order.
    pub effects: Vec<Effect>,
}

/// A command that is not allowed, or an invalid policy.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    /// The command does not apply to the domain's current state.
    #[error(
        "cannot {action} a domain that is {state}: only allowed when {}",
        join_states(.allowed)
    )]
    NotAllowed {
        /// The command.
        action: Action,
        /// The domain's state.
        state: State,
        /// The states in which the command is allowed.
        allowed: &'static [State],
    },
    /// The certification has expired: nothing can be done to the domain any more.
    #[error(
        "cannot {action}: the certification expired at {expired_at}; \
         the domain needs a new certification from scratch"
    )]
    Expired {
        /// The command.
        action: Action,
        /// When it expired.
        expired_at: Timestamp,
    },
    /// A renewal whose expiry is not in the future.
    #[error("cannot renew until {expires}: the new expiry must be later than {at}")]
    ExpiryNotLater {
        /// The requested expiry.
        expires: Timestamp,
        /// When the renewal was requested.
        at: Timestamp,
    },
    /// A policy value that makes no sense.
    #[error("invalid lifecycle policy: {field} {problem}")]
    InvalidPolicy {
        /// The policy field.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
}

// ---------------------------------------------------------------------------------------
// The machine
// ---------------------------------------------------------------------------------------

/// Applies one event to a domain's status.
///
/// Observations ([`Event::Check`], [`Event::NoticeAccepted`], [`Event::Tick`]) never
/// fail; commands fail with a [`LifecycleError`] when the state does not allow them (the
/// status is then unchanged: nothing of the outcome should be persisted).
pub fn apply(
    status: &DomainStatus,
    event: &Event,
    policy: &Policy,
) -> Result<Outcome, LifecycleError> {
    let mut m = Machine {
        status: status.clone(),
        policy,
        transitions: Vec::new(),
        effects: Vec::new(),
    };

    // 1. Time first: the deadline and the expiry that fell before the event (or, for a
    //    tick, at or before it) take effect.
    match event {
        Event::Tick { now } => m.advance_clock(*now, Bound::Inclusive),
        other => m.advance_clock(other.at(), Bound::Exclusive),
    }

    // 2. An expired domain is final: observations are ignored, commands refused.
    if m.status.state == State::Expired {
        return match event.command() {
            Some(action) => Err(LifecycleError::Expired {
                action,
                expired_at: m.status.since,
            }),
            None => Ok(m.finish()),
        };
    }

    // 3. The event itself.
    match event {
        Event::Check { at, ok: true, .. } => m.check_passed(*at),
        Event::Check {
            at,
            ok: false,
            transient,
            codes,
        } => m.check_failed(*at, *transient, codes),
        Event::NoticeAccepted { at, kind, episode } => m.notice_accepted(*at, *kind, *episode),
        Event::NoticeBounced { kind, episode, .. } => m.notice_bounced(*kind, *episode),
        Event::Tick { now } => m.expiry_warnings(*now),
        Event::Approve { at, actor } => {
            m.require(Action::Approve)?;
            m.go(State::Certified, *at, Reason::ReinstatementApproved, actor);
            m.notify(NoticeKind::Reinstated);
        }
        Event::Reject { at, actor } => {
            m.require(Action::Reject)?;
            let reason = Reason::ReinstatementRejected(String::new());
            m.go(State::Removed, *at, reason, actor);
            m.notify(NoticeKind::Rejected);
        }
        Event::Renew { at, expires, .. } => {
            m.require(Action::Renew)?;
            m.renew(*at, *expires)?;
        }
        Event::Remove { at, actor, reason } => {
            m.require(Action::Remove)?;
            let reason = Reason::RemovedByOperator(reason.trim().to_owned());
            m.go(State::Removed, *at, reason, actor);
            m.notify(NoticeKind::Removed);
        }
        Event::DnsVerified { at } => {
            m.require(Action::Activate)?;
            m.activate(*at);
        }
        Event::Submit { at } => {
            m.require(Action::Submit)?;
            m.go(State::PendingDns, *at, Reason::Submitted, SYSTEM);
        }
    }
    Ok(m.finish())
}

/// Applies events in order, as one outcome: the final status, and every transition and
/// effect, in order. Stops at the first refused command (nothing of the outcome should be
/// persisted then).
///
/// A sweep's check is `[Tick { now: at }, Check { at, .. }]`: time first (a deadline,
/// an expiry, an expiry warning falling due at the check's instant), then what the check
/// saw.
pub fn apply_all(
    status: &DomainStatus,
    events: &[Event],
    policy: &Policy,
) -> Result<Outcome, LifecycleError> {
    let mut outcome = Outcome {
        status: status.clone(),
        transitions: Vec::new(),
        effects: Vec::new(),
    };
    for event in events {
        let next = apply(&outcome.status, event, policy)?;
        outcome.status = next.status;
        outcome.transitions.extend(next.transitions);
        outcome.effects.extend(next.effects);
    }
    Ok(outcome)
}

/// When the domain next needs attention regardless of the daily sweep: its deadline, its
/// expiry, an expiry warning, or a re-check to confirm (or dismiss) a failure run. A
/// moment already past is returned as `now`. `None` when nothing is pending (and always
/// for `expired` domains).
///
/// Every moment returned is consumed by the event the scheduler then applies: a
/// [`Event::Tick`] for deadlines, expiry and warnings, a [`Event::Check`] for re-checks.
pub fn next_due(status: &DomainStatus, policy: &Policy, now: Timestamp) -> Option<Timestamp> {
    if status.state == State::Expired {
        return None;
    }
    let mut candidates = Vec::new();
    if status.state == State::InError {
        candidates.extend(status.deadline);
    }
    if let Some(expires) = status.expires {
        candidates.push(expires);
        if status.state.warns_of_expiry() {
            candidates.extend(
                policy
                    .expiry_warnings
                    .iter()
                    .filter(|days| !status.expiry_warnings_sent.contains(days))
                    .map(|days| plus(expires, -days_duration(*days))),
            );
        }
    }
    if matches!(status.state, State::Certified | State::UnderReview)
        && let Some(last) = status.last_failure
    {
        candidates.push(plus(last, policy.confirm_after));
    }
    candidates.into_iter().min().map(|due| due.max(now))
}

/// Whether a time rule is due when its instant equals the event's time.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Bound {
    /// Ticks: an instant equal to `now` is due.
    Inclusive,
    /// Other events: an event at the very instant of a deadline wins over it.
    Exclusive,
}

/// A status being changed, with what the change produced so far.
struct Machine<'p> {
    status: DomainStatus,
    policy: &'p Policy,
    transitions: Vec<Transition>,
    effects: Vec<Effect>,
}

impl Machine<'_> {
    fn finish(self) -> Outcome {
        Outcome {
            status: self.status,
            transitions: self.transitions,
            effects: self.effects,
        }
    }

    /// Enters `to`: records the transition, follows it in the index, ends the failure run
    /// and, outside `in_error`, the grace period.
    fn go(&mut self, to: State, at: Timestamp, reason: Reason, actor: &str) {
        let from = self.status.state;
        self.transitions.push(Transition {
            from,
            to,
            at,
            reason,
            actor: actor.to_owned(),
        });
        self.status.state = to;
        self.status.since = at;
        self.status.clear_failure_run();
        if to != State::InError {
            self.status.deadline = None;
        }
        match (from.is_published(), to.is_published()) {
            (false, true) => self.effects.push(Effect::Publish),
            (true, false) => self.effects.push(Effect::Unpublish),
            _ => {}
        }
    }

    fn notify(&mut self, kind: NoticeKind) {
        self.effects.push(Effect::SendNotice {
            kind,
            episode: self.status.episode,
        });
    }

    /// Refuses a command unless the domain is in one of the states that allow it.
    fn require(&self, action: Action) -> Result<(), LifecycleError> {
        if action.allowed_in(self.status.state) {
            return Ok(());
        }
        Err(LifecycleError::NotAllowed {
            action,
            state: self.status.state,
            allowed: action.allowed(),
        })
    }

    /// Applies the deadline and the expiry due by `until`, earliest first.
    fn advance_clock(&mut self, until: Timestamp, bound: Bound) {
        let due = |instant: Timestamp| match bound {
            Bound::Inclusive => instant <= until,
            Bound::Exclusive => instant < until,
        };
        if self.status.state == State::InError
            && let Some(deadline) = self.status.deadline
            && due(deadline)
            // An expiry before the deadline pre-empts the removal.
            && self.status.expires.is_none_or(|expires| deadline <= expires)
        {
            self.go(State::Removed, deadline, Reason::GracePeriodEnded, SYSTEM);
            self.notify(NoticeKind::Removed);
        }
        if self.status.state != State::Expired
            && let Some(expires) = self.status.expires
            && due(expires)
        {
            self.go(
                State::Expired,
                expires,
                Reason::CertificationExpired,
                SYSTEM,
            );
            self.notify(NoticeKind::Expired);
        }
    }

    fn check_passed(&mut self, at: Timestamp) {
        self.status.clear_failure_run();
        self.status.last_codes.clear();
        match self.status.state {
            State::InError => {
                self.go(State::Certified, at, Reason::CorrectionVerified, SYSTEM);
                self.notify(NoticeKind::Corrected);
            }
            State::Removed => {
                // The operators are told by the under-review notice, which goes to them:
                // no separate alert for the same event.
                self.go(
                    State::UnderReview,
                    at,
                    Reason::CorrectionAfterRemoval,
                    SYSTEM,
                );
                self.notify(NoticeKind::UnderReview);
            }
            // Awaited DNS, now correct on every server: activation.
            State::PendingDns => self.activate(at),
            // A request is not checked until it is submitted.
            State::Requested | State::Certified | State::UnderReview | State::Expired => {}
        }
    }

    /// `pending_dns` → `certified`: the DNS is verified; the domain enters the certified
    /// list and the index, and the holder is told (with the set-password link).
    fn activate(&mut self, at: Timestamp) {
        self.go(State::Certified, at, Reason::DnsVerified, SYSTEM);
        self.notify(NoticeKind::Activated);
    }

    fn check_failed(&mut self, at: Timestamp, transient: bool, codes: &[Code]) {
        self.status.last_codes = codes.to_vec();
        match self.status.state {
            State::Certified => {
                self.record_failure(at, transient);
                if self.failure_confirmed(at) {
                    self.confirm_failure(at);
                }
            }
            State::UnderReview => {
                self.record_failure(at, transient);
                if self.failure_run_is_solid() {
                    self.go(State::Removed, at, Reason::CorrectionNoLongerHolds, SYSTEM);
                }
            }
            // Already failing, or not yet active: nothing changes.
            State::Requested
            | State::PendingDns
            | State::InError
            | State::Removed
            | State::Expired => {}
        }
    }

    fn record_failure(&mut self, at: Timestamp, transient: bool) {
        let s = &mut self.status;
        if s.has_failure_run() {
            s.consecutive_failures = s.consecutive_failures.saturating_add(1);
            s.failures_all_transient &= transient;
        } else {
            s.first_failure = Some(at);
            s.consecutive_failures = 1;
            s.failures_all_transient = transient;
        }
        s.last_failure = Some(at);
    }

    /// The run shows a real misconfiguration, or enough timeouts in a row to count as one.
    fn failure_run_is_solid(&self) -> bool {
        !self.status.failures_all_transient
            || self.status.consecutive_failures >= self.policy.transient_needed()
    }

    /// The failure was seen again, long enough after the first time, on solid evidence.
    fn failure_confirmed(&self, at: Timestamp) -> bool {
        let Some(first) = self.status.first_failure else {
            return false;
        };
        self.status.consecutive_failures >= 2
            && at.duration_since(first) >= self.policy.confirm_after
            && self.failure_run_is_solid()
    }

    fn confirm_failure(&mut self, at: Timestamp) {
        let reason = Reason::ConfirmedFailure(self.status.last_codes.clone());
        self.status.episode = self.status.episode.saturating_add(1);
        self.go(State::InError, at, reason, SYSTEM);
        self.status.error_notice_queued_at = Some(at);
        self.status.error_notice_accepted_at = None;
        self.status.deadline = self
            .policy
            .start_grace_at_queue
            .then(|| plus(at, self.policy.grace));
        self.notify(NoticeKind::ErrorFound);
    }

    /// The first acceptance of the current episode's error notice starts the grace
    /// period (and overrides a deadline counted from the queue).
    fn notice_accepted(&mut self, at: Timestamp, kind: NoticeKind, episode: u32) {
        let s = &mut self.status;
        if s.state == State::InError
            && kind == NoticeKind::ErrorFound
            && episode == s.episode
            && s.error_notice_accepted_at.is_none()
        {
            s.error_notice_accepted_at = Some(at);
            s.deadline = Some(plus(at, self.policy.grace));
        }
    }

    /// Takes back the grace period started by an error notice that bounced.
    fn notice_bounced(&mut self, kind: NoticeKind, episode: u32) {
        let s = &mut self.status;
        if s.state == State::InError
            && kind == NoticeKind::ErrorFound
            && episode == s.episode
            && s.error_notice_accepted_at.is_some()
        {
            s.error_notice_accepted_at = None;
            if !self.policy.start_grace_at_queue {
                s.deadline = None;
            }
            self.effects.push(Effect::AlertOperators {
                reason: "the error notice bounced: the holder was not told; the grace period \
                         waits for a notice that is delivered"
                    .to_owned(),
            });
        }
    }

    /// Sends the expiry warning that fell due (only the smallest threshold when several
    /// did at once) and marks all the due thresholds sent.
    fn expiry_warnings(&mut self, now: Timestamp) {
        let Some(expires) = self.status.expires else {
            return;
        };
        if !self.status.state.warns_of_expiry() {
            return;
        }
        let left = expires.duration_since(now);
        let mut due: Vec<i64> = self
            .policy
            .expiry_warnings
            .iter()
            .copied()
            .filter(|days| !self.status.expiry_warnings_sent.contains(days))
            .filter(|days| left <= days_duration(*days))
            .collect();
        let Some(smallest) = due.iter().copied().min() else {
            return;
        };
        self.status.expiry_warnings_sent.append(&mut due);
        self.status.expiry_warnings_sent.sort_unstable();
        self.status.expiry_warnings_sent.dedup();
        self.notify(NoticeKind::ExpiryWarning { days: smallest });
    }

    fn renew(&mut self, at: Timestamp, expires: Timestamp) -> Result<(), LifecycleError> {
        if expires <= at {
            return Err(LifecycleError::ExpiryNotLater { expires, at });
        }
        self.status.expires = Some(expires);
        self.status.expiry_warnings_sent.clear();
        Ok(())
    }
}

/// `t + d`, saturating at the ends of time.
/// `t + d`, saturating at the ends of time.
pub(crate) fn plus(t: Timestamp, d: SignedDuration) -> Timestamp {
    t.checked_add(d).unwrap_or(if d.is_negative() {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// `in_error or under_review`, for error messages.
fn join_states(states: &[State]) -> String {
    let names: Vec<&str> = states.iter().map(|state| state.as_str()).collect();
    match names.split_last() {
        None => "never".to_owned(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// `days` days of 24 hours.
fn days_duration(days: i64) -> SignedDuration {
    // Clamped so that the duration can always be negated.
    SignedDuration::from_secs(days.saturating_mul(24 * 60 * 60).max(-i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default policy, spelled out: the grace period starts at the notice's
    /// acceptance.
    fn accepting() -> Policy {
        Policy {
            start_grace_at_queue: false,
            ..Policy::default()
        }
    }

    // -- Helpers ---------------------------------------------------------------------

    fn t0() -> Timestamp {
        "2025-03-03T06:00:00Z".parse().unwrap()
    }

    fn hours(n: i64) -> SignedDuration {
        SignedDuration::from_hours(n)
    }

    fn minutes(n: i64) -> SignedDuration {
        SignedDuration::from_mins(n)
    }

    fn days(n: i64) -> SignedDuration {
        days_duration(n)
    }

    /// `t0 + d`.
    fn at(d: SignedDuration) -> Timestamp {
        plus(t0(), d)
    }

    fn pass(at: Timestamp) -> Event {
        Event::Check {
            at,
            ok: true,
            transient: false,
            codes: vec![],
        }
    }

    fn fail(at: Timestamp) -> Event {
        Event::Check {
            at,
            ok: false,
            transient: false,
            codes: vec![Code::A_NON_CORRETTO],
        }
    }

    fn timeout(at: Timestamp) -> Event {
        Event::Check {
            at,
            ok: false,
            transient: true,
            codes: vec![Code::NS_NON_DEFINITO],
        }
    }

    fn tick(now: Timestamp) -> Event {
        Event::Tick { now }
    }

    fn accepted(at: Timestamp, episode: u32) -> Event {
        Event::NoticeAccepted {
            at,
            kind: NoticeKind::ErrorFound,
            episode,
        }
    }

    fn approve(at: Timestamp) -> Event {
        Event::Approve {
            at,
            actor: "mario.rossi".to_owned(),
        }
    }

    fn reject(at: Timestamp) -> Event {
        Event::Reject {
            at,
            actor: "mario.rossi".to_owned(),
        }
    }

    fn renew(at: Timestamp, expires: Timestamp) -> Event {
        Event::Renew {
            at,
            expires,
            actor: "billing".to_owned(),
        }
    }

    fn remove(at: Timestamp) -> Event {
        Event::Remove {
            at,
            actor: "mario.rossi".to_owned(),
            reason: "holder request".to_owned(),
        }
    }

    fn expires() -> Timestamp {
        at(days(365))
    }

    /// A certified domain with a year to go.
    fn certified() -> DomainStatus {
        DomainStatus::new(State::Certified, at(-days(100)), Some(expires()))
    }

    fn notice(kind: NoticeKind, episode: u32) -> Effect {
        Effect::SendNotice { kind, episode }
    }

    /// Applies events in order (checking the invariants after each), panicking on a
    /// refused command; returns the final status and everything produced on the way.
    fn run(
        status: &DomainStatus,
        events: &[Event],
        policy: &Policy,
    ) -> (DomainStatus, Vec<Transition>, Vec<Effect>) {
        let mut status = status.clone();
        let mut transitions = Vec::new();
        let mut effects = Vec::new();
        for event in events {
            let outcome = apply(&status, event, policy)
                .unwrap_or_else(|e| panic!("{event:?} on {status:?}: {e}"));
            assert_invariants(&status, event, &outcome, policy);
            status = outcome.status;
            transitions.extend(outcome.transitions);
            effects.extend(outcome.effects);
        }
        (status, transitions, effects)
    }

    fn path(transitions: &[Transition]) -> Vec<(State, State)> {
        transitions.iter().map(|t| (t.from, t.to)).collect()
    }

    /// A certified domain confirmed in error at `t0 + 1h` (episode 1).
    fn in_error(policy: &Policy) -> DomainStatus {
        let (status, _, _) = run(&certified(), &[fail(t0()), fail(at(hours(1)))], policy);
        assert_eq!(status.state, State::InError);
        status
    }

    /// What must hold after every successful `apply`.
    fn assert_invariants(before: &DomainStatus, event: &Event, outcome: &Outcome, policy: &Policy) {
        let after = &outcome.status;
        let ctx = || format!("\nbefore: {before:?}\nevent: {event:?}\noutcome: {outcome:?}");

        // Expired is final and silent.
        if before.state == State::Expired {
            assert_eq!(after, before, "{}", ctx());
            assert!(
                outcome.transitions.is_empty() && outcome.effects.is_empty(),
                "{}",
                ctx()
            );
        }

        // Transitions chain from the old state to the new, in time order, no later than
        // the event, and `since` follows them.
        let mut state = before.state;
        let mut last_at = None;
        for t in &outcome.transitions {
            assert_eq!(t.from, state, "{}", ctx());
            assert_ne!(t.from, t.to, "{}", ctx());
            assert!(t.at <= event.at(), "{}", ctx());
            assert!(last_at.is_none_or(|last| last <= t.at), "{}", ctx());
            assert!(
                !t.reason.to_string().is_empty() && !t.actor.is_empty(),
                "{}",
                ctx()
            );
            state = t.to;
            last_at = Some(t.at);
        }
        assert_eq!(after.state, state, "{}", ctx());
        assert_eq!(after.since, last_at.unwrap_or(before.since), "{}", ctx());

        // The index follows the state.
        let mut published = before.state.is_published();
        for effect in &outcome.effects {
            match effect {
                Effect::Publish => {
                    assert!(!published, "{}", ctx());
                    published = true;
                }
                Effect::Unpublish => {
                    assert!(published, "{}", ctx());
                    published = false;
                }
                Effect::SendNotice { episode, .. } => {
                    assert_eq!(*episode, after.episode, "{}", ctx());
                }
                Effect::AlertOperators { reason } => assert!(!reason.is_empty()),
            }
        }
        assert_eq!(published, after.state.is_published(), "{}", ctx());

        // Episodes start exactly with confirmed failures, which send the error notice.
        let confirmed = outcome
            .transitions
            .iter()
            .any(|t| (t.from, t.to) == (State::Certified, State::InError));
        assert_eq!(
            after.episode,
            before.episode + u32::from(confirmed),
            "{}",
            ctx()
        );
        if confirmed {
            assert!(
                outcome
                    .effects
                    .contains(&notice(NoticeKind::ErrorFound, after.episode))
            );
        }

        // A deadline exists exactly while in error with the grace period started.
        let grace_started = after.error_notice_accepted_at.is_some() || policy.start_grace_at_queue;
        assert_eq!(
            after.deadline.is_some(),
            after.state == State::InError && grace_started,
            "{}",
            ctx()
        );

        // Failure runs are whole, and only where they matter.
        let run = (
            after.first_failure,
            after.last_failure,
            after.consecutive_failures,
        );
        match run {
            (None, None, 0) => {}
            (Some(first), Some(last), n) if n > 0 => {
                assert!(first <= last || n > 1, "{}", ctx());
                assert!(
                    matches!(after.state, State::Certified | State::UnderReview),
                    "{}",
                    ctx()
                );
            }
            _ => panic!("broken failure run {run:?}{}", ctx()),
        }

        // Warnings sent are configured thresholds, sorted, once each.
        assert!(after.expiry_warnings_sent.windows(2).all(|w| w[0] < w[1]));
        assert!(
            after
                .expiry_warnings_sent
                .iter()
                .all(|days| policy.expiry_warnings.contains(days))
        );

        // The scheduler is never sent to the past, and never for expired domains.
        let due = next_due(after, policy, event.at());
        assert!(due.is_none_or(|due| due >= event.at()), "{}", ctx());
        if after.state == State::Expired {
            assert_eq!(due, None);
        }
    }

    // -- Names and serialization -----------------------------------------------------

    #[test]
    fn state_names_round_trip() {
        let names: Vec<String> = State::ALL.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "requested",
                "pending_dns",
                "certified",
                "in_error",
                "removed",
                "under_review",
                "expired"
            ]
        );
        for state in State::ALL {
            assert_eq!(state.to_string().parse::<State>(), Ok(state));
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{state}\""));
            assert_eq!(serde_json::from_str::<State>(&json).unwrap(), state);
        }
        let err = "pending-dns".parse::<State>().unwrap_err().to_string();
        assert!(
            err.contains("unknown lifecycle state \"pending-dns\""),
            "{err}"
        );
        assert!(err.contains("pending_dns"), "{err}");

        let published: Vec<State> = State::ALL
            .into_iter()
            .filter(|s| s.is_published())
            .collect();
        assert_eq!(published, [State::Certified, State::InError]);
        let unmonitored: Vec<State> = State::ALL
            .into_iter()
            .filter(|s| !s.is_monitored())
            .collect();
        assert_eq!(unmonitored, [State::Requested, State::Expired]);
    }

    #[test]
    fn notice_kind_keys_round_trip() {
        let kinds = [
            (NoticeKind::ErrorFound, "error_found"),
            (NoticeKind::Corrected, "corrected"),
            (NoticeKind::Removed, "removed"),
            (NoticeKind::UnderReview, "under_review"),
            (NoticeKind::Reinstated, "reinstated"),
            (NoticeKind::Rejected, "rejected"),
            (NoticeKind::Expired, "expired"),
            (NoticeKind::ExpiryWarning { days: 30 }, "expiry_warning_30"),
            (NoticeKind::ExpiryWarning { days: 7 }, "expiry_warning_7"),
            (NoticeKind::Activated, "activated"),
        ];
        for (kind, key) in kinds {
            assert_eq!(kind.key(), key);
            assert_eq!(kind.to_string(), key);
            assert_eq!(key.parse::<NoticeKind>(), Ok(kind));
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{key}\""));
            assert_eq!(
                serde_json::from_str::<NoticeKind>(&format!("\"{key}\"")).unwrap(),
                kind
            );
            assert_eq!(kind.to_operators(), kind == NoticeKind::UnderReview);
        }
        assert!("expiry_warning_x".parse::<NoticeKind>().is_err());
        assert!(serde_json::from_str::<NoticeKind>("\"bounced\"").is_err());
    }

    #[test]
    fn status_events_and_effects_serialize_plainly() {
        let status = in_error(&accepting());
        let json = serde_json::to_string(&status).unwrap();
        assert!(json.contains("\"state\":\"in_error\""), "{json}");
        assert_eq!(serde_json::from_str::<DomainStatus>(&json).unwrap(), status);
        // Optional fields may be missing from older records.
        let minimal: DomainStatus =
            serde_json::from_str(r#"{"state":"certified","since":"2025-03-03T06:00:00Z"}"#)
                .unwrap();
        assert_eq!(minimal, DomainStatus::new(State::Certified, t0(), None));

        let event = accepted(t0(), 2);
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"event": "notice_accepted", "at": "2025-03-03T06:00:00Z",
                               "kind": "error_found", "episode": 2})
        );
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), event);

        let effect = notice(NoticeKind::ExpiryWarning { days: 7 }, 3);
        assert_eq!(
            serde_json::to_value(&effect).unwrap(),
            serde_json::json!({"effect": "send_notice", "kind": "expiry_warning_7", "episode": 3})
        );
        assert_eq!(
            serde_json::to_value(Effect::Unpublish).unwrap(),
            serde_json::json!({"effect": "unpublish"})
        );
    }

    #[test]
    fn policy_defaults_configuration_and_validation() {
        assert_eq!(accepting(), Policy::default());
        let policy = Policy::default();
        assert_eq!(policy.confirm_after, hours(1));
        assert_eq!(policy.transient_confirmations, 3);
        assert_eq!(policy.grace, hours(168));
        assert_eq!(policy.expiry_warnings, [30, 7]);
        assert!(!policy.start_grace_at_queue);
        assert_eq!(policy.validate(), Ok(()));

        let text = toml::to_string(&policy).unwrap();
        assert!(text.contains("confirm_after = \"1h\""), "{text}");
        assert!(text.contains("grace = \"7d\""), "{text}");
        assert_eq!(toml::from_str::<Policy>(&text).unwrap(), policy);

        let custom: Policy = toml::from_str(
            "confirm_after = \"PT90M\"\ngrace = \"1 week\"\nexpiry_warnings = [60]\n",
        )
        .unwrap();
        assert_eq!(custom.confirm_after, minutes(90));
        assert_eq!(custom.grace, days(7));
        assert_eq!(custom.expiry_warnings, [60]);
        assert_eq!(custom.transient_confirmations, 3);
        assert_eq!(parse_duration("2d 12h"), Ok(hours(60)));
        assert!(parse_duration("soon").is_err());
        assert!(toml::from_str::<Policy>("grace = \"a while\"").is_err());
        assert!(toml::from_str::<Policy>("grase = \"7d\"").is_err());

        let bad = |f: fn(&mut Policy)| {
            let mut policy = accepting();
            f(&mut policy);
            policy.validate().unwrap_err().to_string()
        };
        assert_eq!(
            bad(|p| p.grace = SignedDuration::ZERO),
            "invalid lifecycle policy: grace must be positive"
        );
        assert!(bad(|p| p.confirm_after = -hours(1)).contains("confirm_after"));
        assert!(bad(|p| p.transient_confirmations = 0).contains("transient_confirmations"));
        assert!(bad(|p| p.expiry_warnings = vec![30, 0]).contains("not 0"));
    }

    // -- Every state by every event ----------------------------------------------------

    /// A representative status for each state, at `t0`: expiry in a year; `certified`
    /// has a failure run (one real failure two hours ago); the others in episode 1;
    /// `in_error` with its notice accepted a day ago (deadline in six days).
    fn fixture(state: State) -> DomainStatus {
        let mut status = DomainStatus::new(state, at(-days(1)), Some(expires()));
        match state {
            State::Requested | State::PendingDns => {}
            State::Certified => {
                status.first_failure = Some(at(-hours(2)));
                status.last_failure = status.first_failure;
                status.consecutive_failures = 1;
                status.last_codes = vec![Code::A_NON_CORRETTO];
            }
            State::InError => {
                status.episode = 1;
                status.error_notice_queued_at = Some(at(-days(1)));
                status.error_notice_accepted_at = Some(at(-days(1)));
                status.deadline = Some(at(days(6)));
            }
            State::Removed | State::UnderReview => status.episode = 1,
            State::Expired => {
                status.episode = 1;
                status.expires = Some(at(-days(1)));
            }
        }
        status
    }

    #[test]
    fn every_state_by_every_event() {
        use State::*;
        let events: [(&str, Event); 13] = [
            ("pass", pass(t0())),
            ("fail", fail(t0())),
            ("timeout", timeout(t0())),
            ("accepted", accepted(t0(), 1)),
            ("tick", tick(t0())),
            ("tick at deadline", tick(at(days(6)))),
            ("tick at expiry", tick(expires())),
            ("approve", approve(t0())),
            ("reject", reject(t0())),
            ("renew", renew(t0(), at(days(730)))),
            ("remove", remove(t0())),
            ("dns verified", Event::DnsVerified { at: t0() }),
            ("submit", Event::Submit { at: t0() }),
        ];
        let (r, p, c, ie, rm, ur, ex) = (
            Some(Requested),
            Some(PendingDns),
            Some(Certified),
            Some(InError),
            Some(Removed),
            Some(UnderReview),
            Some(Expired),
        );
        let no = None;
        #[rustfmt::skip]
        let table: [(State, [Option<State>; 13]); 7] = [
            //            pass fail tmout acc tick dl  exp appr rej renew remove dns submit
            (Requested,   [r,  r,   r,    r,  r,   r,  ex, no,  no, r,    no,    no, p ]),
            (PendingDns,  [c,  p,   p,    p,  p,   p,  ex, no,  no, p,    no,    c,  no]),
            (Certified,   [c,  ie,  ie,   c,  c,   c,  ex, no,  no, c,    rm,    no, no]),
            (InError,     [c,  ie,  ie,   ie, ie,  rm, ex, no,  no, ie,   rm,    no, no]),
            (Removed,     [ur, rm,  rm,   rm, rm,  rm, ex, no,  no, rm,   no,    no, no]),
            (UnderReview, [ur, rm,  ur,   ur, ur,  ur, ex, c,   rm, ur,   rm,    no, no]),
            (Expired,     [ex, ex,  ex,   ex, ex,  ex, ex, no,  no, no,   no,    no, no]),
        ];
        assert_eq!(table.map(|(state, _)| state), State::ALL);

        let policy = accepting();
        for (state, expected) in table {
            let status = fixture(state);
            for ((name, event), expected) in events.iter().zip(expected) {
                let result = apply(&status, event, &policy);
                match (expected, result) {
                    (Some(want), Ok(outcome)) => {
                        assert_eq!(outcome.status.state, want, "{state} + {name}");
                        assert_invariants(&status, event, &outcome, &policy);
                        if want == state {
                            assert!(outcome.transitions.is_empty(), "{state} + {name}");
                        }
                    }
                    (None, Err(err)) => {
                        assert!(event.command().is_some(), "{state} + {name}: {err}");
                        let expired = matches!(err, LifecycleError::Expired { .. });
                        assert_eq!(expired, state == Expired, "{state} + {name}: {err}");
                    }
                    (want, got) => panic!("{state} + {name}: expected {want:?}, got {got:?}"),
                }
            }
        }
    }

    // -- Confirmation ------------------------------------------------------------------

    #[test]
    fn timeouts_need_three_consecutive_failing_checks() {
        let policy = accepting();
        let (status, transitions, _) = run(
            &certified(),
            &[timeout(t0()), timeout(at(hours(2)))],
            &policy,
        );
        assert!(
            transitions.is_empty(),
            "two timeouts, even hours apart, do not confirm"
        );
        assert_eq!(status.consecutive_failures, 2);
        assert!(status.failures_all_transient);

        let outcome = apply(&status, &timeout(at(hours(3))), &policy).unwrap();
        assert_eq!(
            path(&outcome.transitions),
            [(State::Certified, State::InError)]
        );
        assert_eq!(
            outcome.transitions[0].reason.to_string(),
            "confirmed failure: NS_NON_DEFINITO"
        );
        assert_eq!(outcome.effects, [notice(NoticeKind::ErrorFound, 1)]);

        // Three timeouts within confirm_after are not enough either.
        let (status, transitions, _) = run(
            &certified(),
            &[
                timeout(t0()),
                timeout(at(minutes(10))),
                timeout(at(minutes(20))),
            ],
            &policy,
        );
        assert!(transitions.is_empty());
        assert_eq!(
            next_due(&status, &policy, at(minutes(20))),
            Some(at(minutes(80))),
            "re-check confirm_after after the last failure"
        );

        // A pass in between starts counting again.
        let (status, transitions, _) = run(
            &certified(),
            &[
                timeout(t0()),
                timeout(at(hours(2))),
                pass(at(hours(3))),
                timeout(at(hours(4))),
                timeout(at(hours(6))),
            ],
            &policy,
        );
        assert!(transitions.is_empty());
        assert_eq!(status.consecutive_failures, 2);
    }

    #[test]
    fn a_real_failure_confirms_a_run_that_began_with_timeouts() {
        let (status, transitions, _) = run(
            &certified(),
            &[timeout(t0()), fail(at(hours(2)))],
            &accepting(),
        );
        assert_eq!(status.state, State::InError);
        assert_eq!(
            transitions[0].reason.to_string(),
            "confirmed failure: A_NON_CORRETTO"
        );
        assert_eq!(status.last_codes, [Code::A_NON_CORRETTO]);
    }

    #[test]
    fn a_single_failure_then_a_pass_never_transitions() {
        let policy = accepting();
        let (status, transitions, effects) =
            run(&certified(), &[fail(t0()), pass(at(hours(2)))], &policy);
        assert!(transitions.is_empty() && effects.is_empty());
        assert_eq!(status, certified(), "the run is cleared");
        // Even with no waiting required, one failing check is never confirmed.
        let eager = Policy {
            confirm_after: SignedDuration::ZERO,
            transient_confirmations: 1,
            ..accepting()
        };
        let (status, transitions, _) = run(&certified(), &[fail(t0())], &eager);
        assert!(transitions.is_empty());
        assert_eq!(status.consecutive_failures, 1);
    }

    #[test]
    fn failures_closer_than_confirm_after_do_not_confirm_a_later_one_does() {
        let policy = accepting();
        let (status, transitions, _) =
            run(&certified(), &[fail(t0()), fail(at(minutes(30)))], &policy);
        assert!(transitions.is_empty());
        assert_eq!(status.first_failure, Some(t0()));
        assert_eq!(
            next_due(&status, &policy, at(minutes(30))),
            Some(at(minutes(90)))
        );

        let outcome = apply(&status, &fail(at(minutes(61))), &policy).unwrap();
        assert_eq!(
            outcome.transitions,
            [Transition {
                from: State::Certified,
                to: State::InError,
                at: at(minutes(61)),
                reason: Reason::parse("confirmed failure: A_NON_CORRETTO"),
                actor: SYSTEM.to_owned(),
            }]
        );
        assert_eq!(outcome.effects, [notice(NoticeKind::ErrorFound, 1)]);
        let s = &outcome.status;
        assert_eq!(s.episode, 1);
        assert_eq!(s.error_notice_queued_at, Some(at(minutes(61))));
        assert_eq!(s.deadline, None, "the grace starts at acceptance");
        assert!(!s.has_failure_run());
    }

    #[test]
    fn failing_checks_in_error_update_the_codes_only() {
        let policy = accepting();
        let status = in_error(&policy);
        let event = Event::Check {
            at: at(hours(30)),
            ok: false,
            transient: false,
            codes: vec![Code::MX_NON_DEFINITO],
        };
        let outcome = apply(&status, &event, &policy).unwrap();
        assert!(outcome.transitions.is_empty() && outcome.effects.is_empty());
        assert_eq!(outcome.status.last_codes, [Code::MX_NON_DEFINITO]);
        assert_eq!(outcome.status.state, State::InError);
    }

    // -- Grace period ------------------------------------------------------------------

    #[test]
    fn the_deadline_counts_from_acceptance_not_from_queueing() {
        let policy = accepting();
        let status = in_error(&policy); // queued at t0 + 1h
        assert_eq!(status.deadline, None);
        // No deadline yet: a week after queueing nothing happens.
        let (status, transitions, _) = run(&status, &[tick(at(days(8)))], &policy);
        assert!(transitions.is_empty());

        // Accepted two days after queueing (delivery retries): deadline 7 days later.
        let accepted_at = at(days(2));
        let (status, _, effects) = run(&status, &[accepted(accepted_at, 1)], &policy);
        assert!(effects.is_empty());
        let deadline = plus(accepted_at, days(7));
        assert_eq!(status.deadline, Some(deadline));
        assert_eq!(status.error_notice_accepted_at, Some(accepted_at));
        assert_eq!(next_due(&status, &policy, accepted_at), Some(deadline));

        let just_before = plus(deadline, -SignedDuration::from_secs(1));
        let (status, transitions, _) = run(&status, &[tick(just_before)], &policy);
        assert!(transitions.is_empty());

        let outcome = apply(&status, &tick(deadline), &policy).unwrap();
        assert_eq!(
            path(&outcome.transitions),
            [(State::InError, State::Removed)]
        );
        assert_eq!(
            outcome.transitions[0].reason.to_string(),
            "grace period ended"
        );
        assert_eq!(outcome.transitions[0].at, deadline);
        assert_eq!(
            outcome.effects,
            [Effect::Unpublish, notice(NoticeKind::Removed, 1)]
        );
        assert_eq!(outcome.status.deadline, None);

        // A late tick records the removal at the deadline itself.
        let late = apply(&status, &tick(plus(deadline, days(1))), &policy).unwrap();
        assert_eq!(late.transitions[0].at, deadline);
        assert_eq!(late.status.since, deadline);
    }

    #[test]
    fn start_grace_at_queue_counts_from_queueing_until_acceptance_is_known() {
        let policy = Policy {
            start_grace_at_queue: true,
            ..accepting()
        };
        let status = in_error(&policy);
        let queued = at(hours(1));
        assert_eq!(status.error_notice_queued_at, Some(queued));
        assert_eq!(status.deadline, Some(plus(queued, days(7))));

        let (removed, transitions, _) = run(&status, &[tick(plus(queued, days(7)))], &policy);
        assert_eq!(removed.state, State::Removed);
        assert_eq!(path(&transitions), [(State::InError, State::Removed)]);

        // An acceptance, when reported, is what counts.
        let (status, _, _) = run(&status, &[accepted(at(days(1)), 1)], &policy);
        assert_eq!(status.deadline, Some(at(days(8))));
    }

    #[test]
    fn stale_duplicate_and_unrelated_acceptances_are_ignored() {
        let policy = accepting();
        // Episode 1, corrected, then episode 2.
        let (status, _, effects) = run(
            &in_error(&policy),
            &[
                pass(at(hours(5))),
                fail(at(days(1))),
                fail(at(days(1) + hours(2))),
            ],
            &policy,
        );
        assert_eq!((status.state, status.episode), (State::InError, 2));
        assert_eq!(
            effects,
            [
                notice(NoticeKind::Corrected, 1),
                notice(NoticeKind::ErrorFound, 2)
            ]
        );

        let ignored = [
            accepted(at(days(2)), 1),
            accepted(at(days(2)), 3),
            Event::NoticeAccepted {
                at: at(days(2)),
                kind: NoticeKind::Corrected,
                episode: 2,
            },
        ];
        for event in &ignored {
            let outcome = apply(&status, event, &policy).unwrap();
            assert_eq!(outcome.status, status, "{event:?}");
            assert!(outcome.effects.is_empty() && outcome.transitions.is_empty());
        }

        let (status, _, _) = run(
            &status,
            &[accepted(at(days(2)), 2), accepted(at(days(3)), 2)],
            &policy,
        );
        assert_eq!(
            status.deadline,
            Some(at(days(9))),
            "the first acceptance counts"
        );

        // Outside in_error an acceptance changes nothing.
        let outcome = apply(&certified(), &accepted(t0(), 0), &policy).unwrap();
        assert_eq!(outcome.status, certified());
    }

    #[test]
    fn a_correction_at_the_deadline_instant_wins() {
        let policy = accepting();
        let (status, _, _) = run(&in_error(&policy), &[accepted(at(hours(2)), 1)], &policy);
        let deadline = at(hours(2) + days(7));

        // The sweep applies the check, then the tick, at the same instant.
        let (after, transitions, effects) =
            run(&status, &[pass(deadline), tick(deadline)], &policy);
        assert_eq!(after.state, State::Certified);
        assert_eq!(path(&transitions), [(State::InError, State::Certified)]);
        assert_eq!(transitions[0].reason.to_string(), "correction verified");
        assert_eq!(effects, [notice(NoticeKind::Corrected, 1)]);
        assert_eq!(after.deadline, None);

        // A check after a missed tick comes too late: the removal happened at the
        // deadline, and the correction now needs an operator.
        let late = plus(deadline, SignedDuration::from_secs(1));
        let (after, transitions, effects) = run(&status, &[pass(late)], &policy);
        assert_eq!(
            path(&transitions),
            [
                (State::InError, State::Removed),
                (State::Removed, State::UnderReview)
            ]
        );
        assert_eq!(transitions[0].at, deadline);
        assert_eq!(after.state, State::UnderReview);
        assert_eq!(
            effects,
            [
                Effect::Unpublish,
                notice(NoticeKind::Removed, 1),
                notice(NoticeKind::UnderReview, 1),
            ]
        );
    }

    // -- Removal and reinstatement -------------------------------------------------------

    /// In error at t0 + 1h, notice accepted at t0 + 2h, removed at t0 + 2h + 7d.
    fn removed(policy: &Policy) -> DomainStatus {
        let (status, _, _) = run(
            &in_error(policy),
            &[accepted(at(hours(2)), 1), tick(at(days(8)))],
            policy,
        );
        assert_eq!(status.state, State::Removed);
        status
    }

    #[test]
    fn removal_then_correction_then_approval() {
        let policy = accepting();
        let status = removed(&policy);
        let (status, transitions, effects) = run(
            &status,
            &[fail(at(days(9))), pass(at(days(10))), pass(at(days(11)))],
            &policy,
        );
        assert_eq!(path(&transitions), [(State::Removed, State::UnderReview)]);
        assert_eq!(
            transitions[0].reason.to_string(),
            "correction after removal"
        );
        // One message to the operators: the under-review notice (no separate alert).
        assert_eq!(effects, [notice(NoticeKind::UnderReview, 1)]);

        let outcome = apply(&status, &approve(at(days(12))), &policy).unwrap();
        assert_eq!(
            outcome.transitions,
            [Transition {
                from: State::UnderReview,
                to: State::Certified,
                at: at(days(12)),
                reason: Reason::parse("reinstatement approved"),
                actor: "mario.rossi".to_owned(),
            }]
        );
        assert_eq!(
            outcome.effects,
            [Effect::Publish, notice(NoticeKind::Reinstated, 1)]
        );
    }

    #[test]
    fn removal_then_correction_then_rejection() {
        let policy = accepting();
        let (status, _, _) = run(&removed(&policy), &[pass(at(days(10)))], &policy);
        let outcome = apply(&status, &reject(at(days(11))), &policy).unwrap();
        assert_eq!(
            path(&outcome.transitions),
            [(State::UnderReview, State::Removed)]
        );
        assert_eq!(
            outcome.transitions[0].reason.to_string(),
            "reinstatement rejected"
        );
        assert_eq!(outcome.transitions[0].actor, "mario.rossi");
        assert_eq!(outcome.effects, [notice(NoticeKind::Rejected, 1)]);
    }

    #[test]
    fn under_review_falls_back_to_removed_when_the_correction_no_longer_holds() {
        let policy = accepting();
        let (review, _, _) = run(&removed(&policy), &[pass(at(days(10)))], &policy);

        let outcome = apply(&review, &fail(at(days(11))), &policy).unwrap();
        assert_eq!(
            path(&outcome.transitions),
            [(State::UnderReview, State::Removed)]
        );
        assert_eq!(
            outcome.transitions[0].reason.to_string(),
            "correction no longer holds"
        );
        assert!(outcome.effects.is_empty());

        // Timeouts alone need transient_confirmations in a row.
        let (status, transitions, _) = run(
            &review,
            &[timeout(at(days(11))), timeout(at(days(11) + hours(1)))],
            &policy,
        );
        assert!(transitions.is_empty());
        assert_eq!(status.state, State::UnderReview);
        let outcome = apply(&status, &timeout(at(days(11) + hours(2))), &policy).unwrap();
        assert_eq!(outcome.status.state, State::Removed);
    }

    #[test]
    fn operators_remove_certified_in_error_and_under_review_domains() {
        let policy = accepting();
        let review = {
            let (s, _, _) = run(&removed(&policy), &[pass(at(days(10)))], &policy);
            s
        };
        let cases = [
            (
                certified(),
                vec![Effect::Unpublish, notice(NoticeKind::Removed, 0)],
            ),
            (
                in_error(&policy),
                vec![Effect::Unpublish, notice(NoticeKind::Removed, 1)],
            ),
            (review, vec![notice(NoticeKind::Removed, 1)]),
        ];
        for (status, effects) in cases {
            let outcome = apply(&status, &remove(at(days(20))), &policy).unwrap();
            assert_eq!(outcome.status.state, State::Removed);
            assert_eq!(outcome.status.deadline, None);
            assert_eq!(outcome.effects, effects, "from {}", status.state);
            assert_eq!(
                outcome.transitions[0].reason.to_string(),
                "removed by operator: holder request"
            );
            assert_eq!(outcome.transitions[0].actor, "mario.rossi");
        }
        let silent = Event::Remove {
            at: t0(),
            actor: "op".to_owned(),
            reason: "  ".to_owned(),
        };
        let outcome = apply(&certified(), &silent, &policy).unwrap();
        assert_eq!(
            outcome.transitions[0].reason.to_string(),
            "removed by operator"
        );
    }

    // -- Expiry --------------------------------------------------------------------------

    #[test]
    fn a_removed_domain_expires_for_good() {
        let policy = accepting();
        let outcome = apply(&removed(&policy), &tick(expires()), &policy).unwrap();
        assert_eq!(
            path(&outcome.transitions),
            [(State::Removed, State::Expired)]
        );
        assert_eq!(
            outcome.transitions[0].reason.to_string(),
            "certification expired"
        );
        assert_eq!(
            outcome.effects,
            [notice(NoticeKind::Expired, 1)],
            "not published"
        );

        let expired = outcome.status;
        for event in [
            pass(at(days(400))),
            tick(at(days(800))),
            accepted(at(days(400)), 1),
        ] {
            let outcome = apply(&expired, &event, &policy).unwrap();
            assert_eq!(outcome.status, expired);
            assert!(outcome.transitions.is_empty() && outcome.effects.is_empty());
        }
        let err = apply(&expired, &approve(at(days(400))), &policy).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot approve: the certification expired at 2026-03-03T06:00:00Z; \
             the domain needs a new certification from scratch"
        );
        assert!(matches!(
            apply(&expired, &renew(at(days(400)), at(days(900))), &policy),
            Err(LifecycleError::Expired {
                action: Action::Renew,
                ..
            })
        ));
        assert_eq!(next_due(&expired, &policy, at(days(400))), None);
    }

    #[test]
    fn a_certified_domain_expires_and_leaves_the_index() {
        let policy = accepting();
        let outcome = apply(&certified(), &tick(expires()), &policy).unwrap();
        assert_eq!(
            path(&outcome.transitions),
            [(State::Certified, State::Expired)]
        );
        assert_eq!(
            outcome.effects,
            [Effect::Unpublish, notice(NoticeKind::Expired, 0)]
        );
    }

    #[test]
    fn deadline_and_expiry_due_together_happen_in_order() {
        let policy = accepting();
        let mut status = in_error(&policy);
        status.expires = Some(at(days(5)));
        let (status, _, _) = run(&status, &[accepted(at(hours(2)), 1)], &policy);

        // Expiry before the deadline: expired straight from in_error.
        let outcome = apply(&status, &tick(at(days(30))), &policy).unwrap();
        assert_eq!(
            path(&outcome.transitions),
            [(State::InError, State::Expired)]
        );
        assert_eq!(outcome.transitions[0].at, at(days(5)));
        assert_eq!(
            outcome.effects,
            [Effect::Unpublish, notice(NoticeKind::Expired, 1)]
        );

        // Deadline before the expiry: removed, then expired, in one late tick.
        let mut status = status;
        status.expires = Some(at(days(10)));
        let outcome = apply(&status, &tick(at(days(30))), &policy).unwrap();
        assert_eq!(
            path(&outcome.transitions),
            [
                (State::InError, State::Removed),
                (State::Removed, State::Expired)
            ]
        );
        assert_eq!(
            outcome.effects,
            [
                Effect::Unpublish,
                notice(NoticeKind::Removed, 1),
                notice(NoticeKind::Expired, 1)
            ]
        );
    }

    #[test]
    fn commands_after_a_missed_expiry_are_refused() {
        let policy = accepting();
        let late = plus(expires(), hours(1));
        let err = apply(&certified(), &remove(late), &policy).unwrap_err();
        assert_eq!(
            err,
            LifecycleError::Expired {
                action: Action::Remove,
                expired_at: expires()
            }
        );
        // A check after a missed expiry reports the expiry and nothing else.
        let outcome = apply(&certified(), &fail(late), &policy).unwrap();
        assert_eq!(
            path(&outcome.transitions),
            [(State::Certified, State::Expired)]
        );
    }

    #[test]
    fn a_bounced_error_notice_takes_the_grace_period_back() {
        let policy = accepting();
        let status = in_error(&policy);
        let episode = status.episode;
        let accepted = apply(
            &status,
            &Event::NoticeAccepted {
                at: at(hours(2)),
                kind: NoticeKind::ErrorFound,
                episode,
            },
            &policy,
        )
        .unwrap()
        .status;
        assert_eq!(accepted.deadline, Some(plus(at(hours(2)), policy.grace)));
        let bounce = |kind, episode| Event::NoticeBounced {
            at: at(hours(5)),
            kind,
            episode,
        };
        let bounced = apply(&accepted, &bounce(NoticeKind::ErrorFound, episode), &policy).unwrap();
        assert_eq!(bounced.status.deadline, None);
        assert_eq!(bounced.status.error_notice_accepted_at, None);
        assert_eq!(bounced.status.state, State::InError);
        assert!(bounced.transitions.is_empty());
        assert!(matches!(
            bounced.effects[..],
            [Effect::AlertOperators { .. }]
        ));
        // The next accepted notice starts the 7 days again.
        let again = apply(
            &bounced.status,
            &Event::NoticeAccepted {
                at: at(hours(30)),
                kind: NoticeKind::ErrorFound,
                episode,
            },
            &policy,
        )
        .unwrap();
        assert_eq!(
            again.status.deadline,
            Some(plus(at(hours(30)), policy.grace))
        );
        // Other notices, other episodes, other states: nothing.
        for event in [
            bounce(NoticeKind::Corrected, episode),
            bounce(NoticeKind::ErrorFound, episode + 1),
        ] {
            let outcome = apply(&accepted, &event, &policy).unwrap();
            assert_eq!(outcome.status, accepted);
            assert!(outcome.effects.is_empty());
        }
        let certified = certified();
        let outcome = apply(&certified, &bounce(NoticeKind::ErrorFound, 0), &policy).unwrap();
        assert_eq!(outcome.status, certified);
    }

    #[test]
    fn apply_all_chains_events_into_one_outcome() {
        let policy = accepting();
        let mut status = certified();
        status.expires = Some(expires());
        let at = plus(expires(), -days(20));
        let events = [
            Event::Tick { now: at },
            Event::Check {
                at,
                ok: false,
                transient: false,
                codes: vec![Code::MX_NON_DEFINITO],
            },
        ];
        let all = apply_all(&status, &events, &policy).unwrap();
        let tick = apply(&status, &events[0], &policy).unwrap();
        let then = apply(&tick.status, &events[1], &policy).unwrap();
        assert_eq!(all.status, then.status);
        assert_eq!(all.effects, [tick.effects, then.effects].concat());
        assert_eq!(
            all.effects,
            vec![Effect::SendNotice {
                kind: NoticeKind::ExpiryWarning { days: 30 },
                episode: 0
            }]
        );
        assert_eq!(all.status.consecutive_failures, 1);
        // A refused command refuses the whole sequence.
        let approve = Event::Approve {
            at,
            actor: "noc".into(),
        };
        assert!(apply_all(&status, &[events[0].clone(), approve], &policy).is_err());
        assert_eq!(apply_all(&status, &[], &policy).unwrap().status, status);
    }

    #[test]
    fn expiry_warnings_are_sent_once_each() {
        let policy = accepting();
        let e = expires();
        let before = |d: i64| plus(e, -days(d));
        let (status, _, effects) = run(
            &certified(),
            &[
                tick(before(40)),
                tick(before(30)),
                tick(before(29)),
                tick(before(8)),
                tick(before(7)),
                tick(before(1)),
            ],
            &policy,
        );
        assert_eq!(
            effects,
            [
                notice(NoticeKind::ExpiryWarning { days: 30 }, 0),
                notice(NoticeKind::ExpiryWarning { days: 7 }, 0)
            ]
        );
        assert_eq!(status.expiry_warnings_sent, [7, 30]);
        assert_eq!(next_due(&status, &policy, before(1)), Some(e));

        // Both thresholds passed at once: only the nearer one is sent.
        let (status, _, effects) = run(&certified(), &[tick(before(5))], &policy);
        assert_eq!(effects, [notice(NoticeKind::ExpiryWarning { days: 7 }, 0)]);
        assert_eq!(status.expiry_warnings_sent, [7, 30]);

        // next_due points at the warnings.
        assert_eq!(next_due(&certified(), &policy, t0()), Some(before(30)));
    }

    #[test]
    fn removed_and_requested_domains_get_no_expiry_warnings() {
        let policy = accepting();
        let removed = removed(&policy);
        let outcome = apply(&removed, &tick(plus(expires(), -days(3))), &policy).unwrap();
        assert!(outcome.effects.is_empty());
        assert_eq!(next_due(&removed, &policy, at(days(9))), Some(expires()));

        let requested = DomainStatus::new(State::Requested, t0(), Some(expires()));
        let outcome = apply(&requested, &tick(plus(expires(), -days(3))), &policy).unwrap();
        assert!(outcome.effects.is_empty());
    }

    #[test]
    fn renewal_extends_the_expiry_and_resets_the_warnings() {
        let policy = accepting();
        let (status, _, _) = run(&certified(), &[tick(plus(expires(), -days(10)))], &policy);
        assert_eq!(status.expiry_warnings_sent, [30]);

        let new_expiry = plus(expires(), days(365));
        let outcome = apply(&status, &renew(at(days(360)), new_expiry), &policy).unwrap();
        assert!(outcome.transitions.is_empty() && outcome.effects.is_empty());
        assert_eq!(outcome.status.expires, Some(new_expiry));
        assert!(outcome.status.expiry_warnings_sent.is_empty());
        let (_, _, effects) = run(
            &outcome.status,
            &[tick(expires()), tick(plus(new_expiry, -days(30)))],
            &policy,
        );
        assert_eq!(effects, [notice(NoticeKind::ExpiryWarning { days: 30 }, 0)]);

        let err = apply(&status, &renew(at(days(10)), at(days(10))), &policy).unwrap_err();
        assert_eq!(
            err,
            LifecycleError::ExpiryNotLater {
                expires: at(days(10)),
                at: at(days(10))
            }
        );
        assert!(err.to_string().contains("must be later than"));
    }

    // -- Activation, operators, episodes ----------------------------------------------------

    #[test]
    fn activation_submit_then_dns_verified() {
        let policy = accepting();
        let requested = DomainStatus::new(State::Requested, t0(), Some(expires()));
        let (status, transitions, effects) = run(
            &requested,
            &[
                fail(at(hours(1))),
                Event::Submit { at: at(hours(2)) },
                fail(at(hours(3))),
                fail(at(hours(5))),
                timeout(at(hours(9))),
            ],
            &policy,
        );
        assert_eq!(path(&transitions), [(State::Requested, State::PendingDns)]);
        assert!(effects.is_empty());
        assert_eq!(status.state, State::PendingDns);
        assert!(
            !status.has_failure_run(),
            "activation checks never start a run"
        );

        let outcome = apply(&status, &Event::DnsVerified { at: at(hours(10)) }, &policy).unwrap();
        assert_eq!(
            path(&outcome.transitions),
            [(State::PendingDns, State::Certified)]
        );
        assert_eq!(
            outcome.effects,
            [Effect::Publish, notice(NoticeKind::Activated, 0)]
        );
    }

    #[test]
    fn operator_errors_say_what_is_allowed() {
        let policy = accepting();
        let message = |state: State, event: Event| {
            apply(&fixture(state), &event, &policy)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            message(State::Removed, approve(t0())),
            "cannot approve a domain that is removed: only allowed when under_review"
        );
        assert_eq!(
            message(State::Certified, reject(t0())),
            "cannot reject a domain that is certified: only allowed when under_review"
        );
        assert_eq!(
            message(State::Removed, remove(t0())),
            "cannot remove a domain that is removed: \
             only allowed when certified, in_error or under_review"
        );
        assert_eq!(
            message(State::Certified, Event::DnsVerified { at: t0() }),
            "cannot activate a domain that is certified: only allowed when pending_dns"
        );
        assert_eq!(
            message(State::PendingDns, Event::Submit { at: t0() }),
            "cannot submit a domain that is pending_dns: only allowed when requested"
        );
        assert_eq!(
            message(State::Expired, renew(t0(), at(days(400)))),
            "cannot renew: the certification expired at 2025-03-02T06:00:00Z; \
             the domain needs a new certification from scratch"
        );
    }

    #[test]
    fn the_episode_grows_only_with_new_confirmed_errors() {
        let policy = accepting();
        let mut status = certified();
        let mut episodes = Vec::new();
        let steps: Vec<Vec<Event>> = vec![
            vec![fail(at(hours(0))), fail(at(hours(1)))], // error: episode 1
            vec![pass(at(hours(2)))],                     // corrected
            vec![fail(at(hours(3))), fail(at(hours(5)))], // error: episode 2
            vec![accepted(at(hours(6)), 2)],
            vec![fail(at(days(2)))],
            vec![tick(at(days(8)))], // removed
            vec![fail(at(days(9)))],
            vec![pass(at(days(10)))],    // under review
            vec![approve(at(days(11)))], // reinstated
            vec![remove(at(days(12)))],  // removed by operator
            vec![pass(at(days(13))), approve(at(days(14)))],
            vec![timeout(at(days(15))), fail(at(days(16)))], // error: episode 3
        ];
        for events in &steps {
            let (next, _, effects) = run(&status, events, &policy);
            for effect in &effects {
                if let Effect::SendNotice { episode, .. } = effect {
                    assert_eq!(*episode, next.episode);
                }
            }
            status = next;
            episodes.push((status.state, status.episode));
        }
        use State::*;
        assert_eq!(
            episodes,
            [
                (InError, 1),
                (Certified, 1),
                (InError, 2),
                (InError, 2),
                (InError, 2),
                (Removed, 2),
                (Removed, 2),
                (UnderReview, 2),
                (Certified, 2),
                (Removed, 2),
                (Certified, 2),
                (InError, 3),
            ]
        );
    }

    #[test]
    fn next_due_points_at_what_comes_first() {
        let policy = accepting();
        // A clean certified domain: the first expiry warning.
        assert_eq!(
            next_due(&certified(), &policy, t0()),
            Some(plus(expires(), -days(30)))
        );
        // Nothing known: nothing due.
        let bare = DomainStatus::new(State::Certified, t0(), None);
        assert_eq!(next_due(&bare, &policy, t0()), None);
        // A failure run: the re-check.
        let (status, _, _) = run(&bare, &[fail(t0())], &policy);
        assert_eq!(next_due(&status, &policy, t0()), Some(at(hours(1))));
        // Past moments are due now.
        assert_eq!(next_due(&status, &policy, at(days(3))), Some(at(days(3))));
        // In error without an accepted notice: nothing until the notice is accepted.
        let status = in_error(&policy);
        assert_eq!(
            next_due(&status, &policy, at(hours(1))),
            Some(plus(expires(), -days(30)))
        );
    }

    // -- Random sequences ------------------------------------------------------------------

    /// SplitMix64: a tiny deterministic generator, enough to shuffle events.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn pick<T: Copy>(&mut self, items: &[T]) -> T {
            items[self.below(items.len() as u64) as usize]
        }

        fn chance(&mut self, percent: u64) -> bool {
            self.below(100) < percent
        }
    }

    fn random_event(rng: &mut Rng, status: &DomainStatus, now: Timestamp) -> Event {
        let actor = || "op".to_owned();
        match rng.below(20) {
            0..=8 => Event::Check {
                at: now,
                ok: rng.chance(45),
                transient: rng.chance(50),
                codes: vec![rng.pick(&[
                    Code::A_NON_CORRETTO,
                    Code::MX_NON_DEFINITO,
                    Code::NS_NON_DEFINITO,
                ])],
            },
            9..=11 => Event::Tick { now },
            12 if rng.chance(30) => Event::NoticeBounced {
                at: now,
                kind: NoticeKind::ErrorFound,
                episode: status.episode,
            },
            12 | 13 => Event::NoticeAccepted {
                at: now,
                kind: if rng.chance(85) {
                    NoticeKind::ErrorFound
                } else {
                    rng.pick(&NoticeKind::SIMPLE)
                },
                episode: status
                    .episode
                    .saturating_add(rng.pick(&[0, 0, 0, 1]))
                    .saturating_sub(rng.pick(&[0, 0, 1])),
            },
            14 => Event::Approve {
                at: now,
                actor: actor(),
            },
            15 => Event::Reject {
                at: now,
                actor: actor(),
            },
            16 => Event::Renew {
                at: now,
                expires: plus(now, days(rng.pick(&[-1, 0, 20, 100, 400]))),
                actor: actor(),
            },
            17 => Event::Remove {
                at: now,
                actor: actor(),
                reason: "test".to_owned(),
            },
            18 => Event::DnsVerified { at: now },
            _ => Event::Submit { at: now },
        }
    }

    #[test]
    fn random_event_sequences_keep_the_invariants() {
        let policies = [
            accepting(),
            Policy {
                start_grace_at_queue: true,
                ..accepting()
            },
            Policy {
                confirm_after: SignedDuration::ZERO,
                transient_confirmations: 0,
                grace: hours(12),
                expiry_warnings: vec![1, 30, 7, 30],
                start_grace_at_queue: false,
            },
        ];
        let steps = [
            SignedDuration::ZERO,
            -minutes(1),
            minutes(1),
            minutes(30),
            hours(1),
            hours(2),
            days(1),
            days(3),
            days(8),
            days(40),
        ];
        let mut rng = Rng(0x5EED_1E55);
        let mut states_seen = Vec::new();
        let mut notices_seen = Vec::new();
        for policy in &policies {
            for _ in 0..400 {
                let start = if rng.chance(30) {
                    State::Requested
                } else {
                    State::Certified
                };
                let expires = rng
                    .chance(90)
                    .then(|| at(days(rng.pick(&[5, 60, 200, 500]))));
                let mut status = DomainStatus::new(start, t0(), expires);
                let mut now = t0();
                for _ in 0..250 {
                    now = plus(now, rng.pick(&steps));
                    let event = random_event(&mut rng, &status, now);
                    let was_expired = status.state == State::Expired;
                    match apply(&status, &event, policy) {
                        Ok(outcome) => {
                            assert_invariants(&status, &event, &outcome, policy);
                            for effect in &outcome.effects {
                                if let Effect::SendNotice { kind, .. } = effect
                                    && !notices_seen.contains(&kind.key())
                                {
                                    notices_seen.push(kind.key());
                                }
                            }
                            status = outcome.status;
                        }
                        Err(err) => {
                            assert!(event.command().is_some(), "{event:?}: {err}");
                            assert!(!err.to_string().is_empty());
                        }
                    }
                    assert!(!was_expired || status.state == State::Expired);
                    if !states_seen.contains(&status.state) {
                        states_seen.push(status.state);
                    }
                }
            }
        }
        states_seen.sort();
        assert_eq!(states_seen, State::ALL, "the sequences reach every state");
        notices_seen.sort();
        assert_eq!(
            notices_seen,
            [
                "activated",
                "corrected",
                "error_found",
                "expired",
                "expiry_warning_1",
                "expiry_warning_30",
                "expiry_warning_7",
                "reinstated",
                "rejected",
                "removed",
                "under_review"
            ],
            "the sequences send every kind of notice"
        );
    }

    #[test]
    fn actions_are_allowed_exactly_where_the_machine_accepts_them() {
        let policy = Policy::default();
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let at = t0 + SignedDuration::from_hours(1);
        let later = at + SignedDuration::from_hours(24 * 800);
        let op = || "op".to_owned();
        for state in State::ALL {
            let status = DomainStatus::new(state, t0, Some(later));
            let events = [
                Event::Approve { at, actor: op() },
                Event::Reject { at, actor: op() },
                Event::Renew {
                    at,
                    expires: later + SignedDuration::from_hours(24),
                    actor: op(),
                },
                Event::Remove {
                    at,
                    actor: op(),
                    reason: String::new(),
                },
                Event::DnsVerified { at },
                Event::Submit { at },
            ];
            for event in events {
                let action = event.command().unwrap();
                assert_eq!(
                    apply(&status, &event, &policy).is_ok(),
                    action.allowed_in(state),
                    "{action} in {state}"
                );
            }
        }
        assert_eq!(Action::Approve.verb(crate::Lang::It), "approvare");
        assert!(!State::NOT_EXPIRED.contains(&State::Expired));
        assert_eq!(State::NOT_EXPIRED.len(), State::ALL.len() - 1);
    }

    #[test]
    fn reasons_read_in_italian_and_unknown_ones_as_recorded() {
        use crate::Lang;
        let it = |r: &str| Reason::parse(r).text(Lang::It);
        for (recorded, italian) in [
            (
                "confirmed failure: A_NON_CORRETTO, A_MULTIPLI",
                "errore confermato: A_NON_CORRETTO, A_MULTIPLI",
            ),
            ("confirmed failure", "errore confermato"),
            ("grace period ended", "termine per la correzione scaduto"),
            (
                "removed by operator: MX still wrong",
                "rimosso da un operatore: MX still wrong",
            ),
            (
                "reinstatement rejected: still wrong",
                "reintegro respinto: still wrong",
            ),
            (
                "renewed until 2028-06-30T21:59:59Z",
                "rinnovato fino al 2028-06-30T21:59:59Z",
            ),
            ("submittedx", "submittedx"),
            ("something new", "something new"),
            (
                "confirmed failure: NOT_A_CODE",
                "confirmed failure: NOT_A_CODE",
            ),
            (
                "confirmed failure: a_non_corretto",
                "confirmed failure: a_non_corretto",
            ),
            ("removed by operator: ", "removed by operator: "),
            ("renewed until soon", "renewed until soon"),
            ("", ""),
        ] {
            assert_eq!(it(recorded), italian);
            // Read back, a reason is written exactly as recorded, in English and as JSON.
            let reason = Reason::parse(recorded);
            assert_eq!(reason.to_string(), recorded);
            assert_eq!(reason.text(Lang::En), recorded);
            let json = serde_json::to_value(&reason).unwrap();
            assert_eq!(json, recorded);
            assert_eq!(serde_json::from_value::<Reason>(json).unwrap(), reason);
        }
        assert_eq!(
            Reason::parse("confirmed failure: A_NON_CORRETTO, A_MULTIPLI"),
            Reason::ConfirmedFailure(vec![Code::A_NON_CORRETTO, Code::A_MULTIPLI])
        );
        assert_eq!(
            Reason::parse("removed by operator"),
            Reason::RemovedByOperator(String::new())
        );
        assert_eq!(
            Reason::parse("something new"),
            Reason::Recorded("something new".to_owned())
        );
        // Every reason the machine writes has an Italian text: a life through every
        // transition (grace counted from the queued notice, to need no acceptance).
        let policy = Policy {
            start_grace_at_queue: true,
            ..Policy::default()
        };
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let hours = |n: i64| SignedDuration::from_hours(n);
        let check = |ok: bool| {
            let codes: Vec<Code> = [(Code::MX_NON_DEFINITO, !ok)]
                .iter()
                .filter(|(_, failed)| *failed)
                .map(|(code, _)| *code)
                .collect();
            move |at| Event::Check {
                at,
                ok,
                transient: false,
                codes: codes.clone(),
            }
        };
        let op = || "op".to_owned();
        type Make = Box<dyn Fn(Timestamp) -> Event>;
        let events: Vec<(i64, Make)> = vec![
            (2, Box::new(|at| Event::Submit { at })),
            (2, Box::new(|at| Event::DnsVerified { at })),
            (2, Box::new(check(false))),
            (2, Box::new(check(false))),
            (2, Box::new(check(true))),
            (2, Box::new(check(false))),
            (2, Box::new(check(false))),
            (24 * 8, Box::new(|now| Event::Tick { now })),
            (2, Box::new(check(true))),
            (2, Box::new(check(false))),
            (2, Box::new(check(true))),
            (2, Box::new(move |at| Event::Approve { at, actor: op() })),
            (
                2,
                Box::new(move |at| Event::Remove {
                    at,
                    actor: op(),
                    reason: String::new(),
                }),
            ),
            (2, Box::new(check(true))),
            (2, Box::new(move |at| Event::Reject { at, actor: op() })),
            (24 * 500, Box::new(|now| Event::Tick { now })),
        ];
        let mut status = DomainStatus::new(State::Requested, t0, Some(t0 + hours(24 * 400)));
        let (mut t, mut reasons) = (t0, Vec::new());
        for (after, make) in events {
            t += hours(after);
            let outcome = apply(&status, &make(t), &policy).unwrap();
            reasons.extend(outcome.transitions.iter().map(|tr| tr.reason.clone()));
            status = outcome.status;
        }
        assert_eq!(status.state, State::Expired);
        assert_eq!(reasons.len(), 14, "{reasons:?}");
        for reason in reasons {
            assert!(!matches!(reason, Reason::Recorded(_)), "{reason:?}");
            assert_eq!(Reason::parse(&reason.to_string()), reason);
            assert_ne!(
                reason.text(Lang::It),
                reason.to_string(),
                "no Italian text for {reason:?}"
            );
        }
    }
}

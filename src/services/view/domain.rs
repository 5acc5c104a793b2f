//! A registered domain: in lists, in full with its history, after an action.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Notice;
use crate::Lang;
use crate::finding::Code;
use crate::lifecycle::{State, Transition};
use crate::registry::{
    CheckRecord, CheckSummary, Domain, Holder, Registry, RegistryError, TransitionRecord,
};
use crate::report::CheckResult;

/// The gist of a domain's latest check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LastCheck {
    /// When it ran.
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// The error codes (`MX_NON_DEFINITO`, …), sorted.
    pub codes: Vec<Code>,
    /// Whether the domain was correctly configured.
    pub ok: bool,
    /// For a failure: whether it rested only on timeouts.
    pub transient: bool,
    /// The warning codes, sorted.
    pub warnings: Vec<Code>,
}

impl From<&CheckSummary> for LastCheck {
    fn from(summary: &CheckSummary) -> Self {
        LastCheck {
            at: summary.at,
            codes: summary.codes.clone(),
            ok: summary.ok,
            transient: summary.transient,
            warnings: summary.warnings.clone(),
        }
    }
}

/// A domain as `pecwatch domains list --format json` prints it (one line each) and as
/// `GET /api/v1/domains` pages it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DomainSummary {
    /// The deadline of the correction, when one runs (`in_error`).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deadline: Option<Timestamp>,
    /// The certified name (A-labels).
    pub domain: String,
    /// The expiry of the certification, when known.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires: Option<Timestamp>,
    /// Where the holder's notices go.
    pub holder_email: String,
    /// The latest check, if any.
    pub last_check: Option<LastCheck>,
    /// When the domain is next due for a check.
    #[schema(value_type = String, format = DateTime)]
    pub next_check: Timestamp,
    /// The provider profile it is checked against.
    pub profile: String,
    /// Since when it is in its state.
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
    /// Its state.
    pub state: State,
}

impl From<&Domain> for DomainSummary {
    fn from(domain: &Domain) -> Self {
        DomainSummary {
            deadline: domain.status.deadline,
            domain: domain.name.to_string(),
            expires: domain.status.expires,
            holder_email: domain.holder.email.clone(),
            last_check: domain.last_check.as_ref().map(LastCheck::from),
            next_check: domain.next_check,
            profile: domain.profile.clone(),
            since: domain.status.since,
            state: domain.status.state,
        }
    }
}

/// Who holds a domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HolderView {
    /// Where notices go.
    pub email: String,
    /// The language of notices.
    pub lang: Lang,
    /// The name, for the salutation of notices.
    pub name: Option<String>,
}

impl From<&Holder> for HolderView {
    fn from(holder: &Holder) -> Self {
        HolderView {
            email: holder.email.clone(),
            lang: holder.lang,
            name: holder.name.clone(),
        }
    }
}

/// A recorded change of state (also an operator's command that changes none, such as a
/// renewal).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TransitionView {
    /// `system` or who acted.
    pub actor: String,
    /// When it took effect.
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// The domain's identifier (absent for a change not yet recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_id: Option<i64>,
    /// The state left.
    pub from: State,
    /// The record's identifier (absent for a change not yet recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// Why, in short machine-friendly English (`confirmed failure: A_NON_CORRETTO`).
    pub reason: String,
    /// The state entered.
    pub to: State,
}

impl From<&Transition> for TransitionView {
    fn from(transition: &Transition) -> Self {
        TransitionView {
            actor: transition.actor.clone(),
            at: transition.at,
            domain_id: None,
            from: transition.from,
            id: None,
            reason: transition.reason.to_string(),
            to: transition.to,
        }
    }
}

impl From<&TransitionRecord> for TransitionView {
    fn from(record: &TransitionRecord) -> Self {
        TransitionView {
            domain_id: Some(record.domain_id),
            id: Some(record.id),
            ..TransitionView::from(&record.transition)
        }
    }
}

/// A recorded check, its full result read back as the check's own view.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CheckView {
    /// When it ran.
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// The error codes.
    pub codes: Vec<Code>,
    /// The domain's identifier.
    pub domain_id: i64,
    /// The record's identifier.
    pub id: i64,
    /// Whether the domain was correctly configured.
    pub ok: bool,
    /// The result, as `pecwatch check --format json` printed it then.
    pub result: CheckResult,
    /// The sweep it belonged to, if any.
    pub sweep_id: Option<i64>,
    /// For a failure: whether it rested only on timeouts.
    pub transient: bool,
    /// The warning codes.
    pub warnings: Vec<Code>,
}

impl TryFrom<&CheckRecord> for CheckView {
    type Error = serde_json::Error;

    /// Reads the stored result back; an error if it is not a check's result.
    fn try_from(record: &CheckRecord) -> Result<Self, Self::Error> {
        let summary = &record.summary;
        Ok(CheckView {
            at: summary.at,
            codes: summary.codes.clone(),
            domain_id: record.domain_id,
            id: record.id,
            ok: summary.ok,
            result: CheckResult::deserialize(&record.result)?,
            sweep_id: record.sweep_id,
            transient: summary.transient,
            warnings: summary.warnings.clone(),
        })
    }
}

/// A domain's history: its changes of state and latest checks (newest first), and in the
/// API its latest notices.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct History {
    /// The latest checks, newest first.
    pub checks: Vec<CheckView>,
    /// How many checks are shown at most (the API only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks_shown: Option<u64>,
    /// The latest notices about the domain, oldest first (the API only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notices: Option<Vec<Notice>>,
    /// Every change of state, oldest first.
    pub transitions: Vec<TransitionView>,
}

/// A domain in full, as `pecwatch domains show --format json` prints it and `GET
/// /api/v1/domains/{domain}` answers (with the latest notices).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DomainDetail {
    /// The extra mail server addresses allowed for this domain only (`192.0.2.0/24`).
    pub exception: Vec<String>,
    /// Its history.
    pub history: History,
    /// Who holds it.
    pub holder: HolderView,
    /// The reseller that sold it, if any.
    pub reseller: Option<String>,
    /// What `list` shows.
    #[serde(flatten)]
    pub summary: DomainSummary,
}

/// How many of a domain's latest checks its detail shows.
pub const HISTORY_CHECKS: u64 = 50;

impl DomainDetail {
    /// The view of `domain`, its history read from the registry.
    pub async fn load(registry: &Registry, domain: &Domain) -> Result<Self, RegistryError> {
        let transitions = registry.transitions(domain.id).await?;
        let checks = registry.checks(domain.id, HISTORY_CHECKS).await?;
        DomainDetail::new(domain, &transitions, &checks)
    }

    /// The view of `domain` with its transitions and its latest checks; an error
    /// ([`RegistryError::Unreadable`]) if a check's stored result cannot be read back.
    pub fn new(
        domain: &Domain,
        transitions: &[TransitionRecord],
        checks: &[CheckRecord],
    ) -> Result<Self, RegistryError> {
        Ok(DomainDetail {
            exception: domain.exception.iter().map(ToString::to_string).collect(),
            history: History {
                checks: checks
                    .iter()
                    .map(CheckView::try_from)
                    .collect::<Result<_, _>>()
                    .map_err(|error| {
                        RegistryError::Unreadable(format!(
                            "a recorded check of {} cannot be read: {error}",
                            domain.name
                        ))
                    })?,
                checks_shown: None,
                notices: None,
                transitions: transitions.iter().map(TransitionView::from).collect(),
            },
            holder: HolderView::from(&domain.holder),
            reseller: domain.reseller.clone(),
            summary: DomainSummary::from(domain),
        })
    }
}

/// What an operator's action did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Action {
    /// Who acted (`PERSON (api:TOKEN)` or `api:TOKEN`).
    pub actor: String,
    /// The state after.
    pub after: State,
    /// The state before.
    pub before: State,
    /// What was recorded in the history, oldest first.
    pub recorded: Vec<TransitionView>,
}

/// The answer of an action on a domain: the domain after it, and what it did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ActedDomain {
    /// What the action did.
    pub action: Action,
    /// The domain after it.
    #[serde(flatten)]
    pub domain: DomainDetail,
}

/// When a domain asked to be checked again is due.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Recheck {
    /// Due at (now).
    #[schema(value_type = String, format = DateTime)]
    pub due: Timestamp,
}

/// The answer of `recheck`: the domain, due now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RecheckedDomain {
    /// The domain.
    #[serde(flatten)]
    pub domain: DomainDetail,
    /// When it is due.
    pub recheck: Recheck,
}

/// A domain's hybrid exception.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Exception {
    /// The domain.
    pub domain: String,
    /// The extra addresses and networks allowed (`192.0.2.7/32`, `2001:db8::/48`).
    pub exception: Vec<String>,
}

impl From<&Domain> for Exception {
    fn from(domain: &Domain) -> Self {
        Exception {
            domain: domain.name.to_string(),
            exception: domain.exception.iter().map(ToString::to_string).collect(),
        }
    }
}

/// A page of domains, by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DomainPage {
    /// The domains of this page.
    pub domains: Vec<DomainSummary>,
    /// The next page's URL, if there is one.
    pub next: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(result: serde_json::Value) -> CheckRecord {
        CheckRecord {
            id: 7,
            domain_id: 3,
            sweep_id: None,
            summary: CheckSummary {
                at: Timestamp::UNIX_EPOCH,
                ok: false,
                transient: false,
                codes: vec![Code::MX_NON_DEFINITO],
                warnings: Vec::new(),
            },
            result,
        }
    }

    #[test]
    fn a_stored_result_that_is_not_a_check_is_refused_not_passed_through() {
        for hostile in [
            serde_json::json!({"findings": "not a list"}),
            serde_json::json!(null),
            serde_json::json!("\u{0}\r\n".repeat(1000)),
        ] {
            assert!(CheckView::try_from(&record(hostile)).is_err());
        }
    }
}

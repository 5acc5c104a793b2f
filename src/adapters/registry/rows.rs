//! Reading rows into the registry's types, and the conversions both directions share.
//!
//! Each row type implements [`sqlx::FromRow`] for SQLite and PostgreSQL rows from one
//! body (the [`from_row_for_both`] macro), so queries can use `query_as` on either pool.

use ipnet::IpNet;
use jiff::Timestamp;
use sqlx::Row;
use sqlx::types::Json;

use crate::Lang;
use crate::finding::Code;
use crate::lifecycle::{DomainStatus, Event, Reason, State, Transition};
use crate::name::DomainName;

use super::types::{
    Alert, AlertKind, CheckRecord, CheckSummary, Domain, Holder, Lease, OutboxItem, OutboxKind,
    OutboxState, PendingCheck, Sweep, SweepKind, TransitionRecord,
};

/// The columns [`Domain`] is read from, for `SELECT`s and `RETURNING`s.
macro_rules! domain_columns {
    () => {
        "id, name, holder_name, holder_email, holder_lang, reseller, profile, exception, \
         status, next_check, last_check_at, last_check_ok, last_check_transient, \
         last_check_codes, last_check_warnings, lease_owner, lease_until, pending_sweep, \
         pending_event, version, created, updated, last_result_digest"
    };
}
pub(crate) use domain_columns;

/// The columns [`OutboxItem`] is read from.
macro_rules! outbox_columns {
    () => {
        "id, domain_id, key, kind, payload, created, state, attempts, last_error, accepted_at, \
         updated, next_attempt, message_id, reply"
    };
}
pub(crate) use outbox_columns;

/// Implements `FromRow` for both backends' rows with the same body.
macro_rules! from_row_for_both {
    ($target:ty, |$row:ident| $body:block) => {
        impl<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> for $target {
            fn from_row($row: &'r sqlx::sqlite::SqliteRow) -> Result<Self, sqlx::Error> {
                $body
            }
        }
        impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for $target {
            fn from_row($row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
                $body
            }
        }
    };
}

/// A stored value that does not make sense (a corrupt or hand-edited row).
fn bad(column: &str, problem: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: problem.to_string().into(),
    }
}

/// Epoch seconds as stored.
pub(crate) fn secs(at: Timestamp) -> i64 {
    at.as_second()
}

/// Stored epoch seconds back to a timestamp.
fn timestamp(column: &str, secs: i64) -> Result<Timestamp, sqlx::Error> {
    Timestamp::from_second(secs).map_err(|e| bad(column, e))
}

/// Optional stored epoch seconds back to a timestamp.
fn opt_timestamp(column: &str, secs: Option<i64>) -> Result<Option<Timestamp>, sqlx::Error> {
    secs.map(|secs| timestamp(column, secs)).transpose()
}

/// The stored code of a language.
pub(crate) fn lang_code(lang: Lang) -> &'static str {
    match lang {
        Lang::It => "it",
        Lang::En => "en",
    }
}

pub(crate) fn parse_lang(code: &str) -> Result<Lang, sqlx::Error> {
    match code {
        "it" => Ok(Lang::It),
        "en" => Ok(Lang::En),
        other => Err(bad("holder_lang", format!("unknown language {other:?}"))),
    }
}

fn parse_state(column: &str, text: &str) -> Result<State, sqlx::Error> {
    text.parse().map_err(|e| bad(column, e))
}

from_row_for_both!(Domain, |row| {
    let name: String = row.try_get("name")?;
    let Json(exception): Json<Vec<IpNet>> = row.try_get("exception")?;
    let Json(status): Json<DomainStatus> = row.try_get("status")?;
    let last_check = match row.try_get::<Option<i64>, _>("last_check_at")? {
        None => None,
        Some(at) => Some(CheckSummary {
            at: timestamp("last_check_at", at)?,
            ok: row
                .try_get::<Option<bool>, _>("last_check_ok")?
                .unwrap_or(false),
            transient: row
                .try_get::<Option<bool>, _>("last_check_transient")?
                .unwrap_or(false),
            codes: row
                .try_get::<Option<Json<Vec<Code>>>, _>("last_check_codes")?
                .map(|Json(codes)| codes)
                .unwrap_or_default(),
            warnings: row
                .try_get::<Option<Json<Vec<Code>>>, _>("last_check_warnings")?
                .map(|Json(codes)| codes)
                .unwrap_or_default(),
        }),
    };
    let lease = match (
        row.try_get::<Option<String>, _>("lease_owner")?,
        row.try_get::<Option<i64>, _>("lease_until")?,
    ) {
        (Some(owner), Some(until)) => Some(Lease {
            owner,
            until: timestamp("lease_until", until)?,
        }),
        _ => None,
    };
    let pending = match (
        row.try_get::<Option<i64>, _>("pending_sweep")?,
        row.try_get::<Option<Json<Event>>, _>("pending_event")?,
    ) {
        (Some(sweep_id), Some(Json(event))) => Some(PendingCheck { sweep_id, event }),
        _ => None,
    };
    Ok(Domain {
        id: row.try_get("id")?,
        name: DomainName::parse(&name).map_err(|e| bad("name", e))?,
        holder: Holder {
            name: row.try_get("holder_name")?,
            email: row.try_get("holder_email")?,
            lang: parse_lang(row.try_get("holder_lang")?)?,
        },
        reseller: row.try_get("reseller")?,
        profile: row.try_get("profile")?,
        exception,
        status,
        next_check: timestamp("next_check", row.try_get("next_check")?)?,
        last_check,
        lease,
        pending,
        version: row.try_get("version")?,
        created: timestamp("created", row.try_get("created")?)?,
        updated: timestamp("updated", row.try_get("updated")?)?,
        result_digest: row.try_get("last_result_digest")?,
    })
});

from_row_for_both!(CheckRecord, |row| {
    let Json(codes): Json<Vec<Code>> = row.try_get("codes")?;
    let Json(warnings): Json<Vec<Code>> = row.try_get("warnings")?;
    let Json(result): Json<serde_json::Value> = row.try_get("result")?;
    Ok(CheckRecord {
        id: row.try_get("id")?,
        domain_id: row.try_get("domain_id")?,
        sweep_id: row.try_get("sweep_id")?,
        summary: CheckSummary {
            at: timestamp("at", row.try_get("at")?)?,
            ok: row.try_get("ok")?,
            transient: row.try_get("transient")?,
            codes,
            warnings,
        },
        result,
    })
});

/// A stored check: its record, and whether its result is stored as the previous
/// check's of the same domain (`result` holds JSON null then; see
/// `migrations/sqlite/0009_check_results.sql`).
pub(crate) struct StoredCheck {
    pub record: CheckRecord,
    pub same_result: bool,
}

from_row_for_both!(StoredCheck, |row| {
    let record: CheckRecord = sqlx::FromRow::from_row(row)?;
    Ok(StoredCheck {
        record,
        same_result: row.try_get("same_result")?,
    })
});

from_row_for_both!(TransitionRecord, |row| {
    Ok(TransitionRecord {
        id: row.try_get("id")?,
        domain_id: row.try_get("domain_id")?,
        transition: Transition {
            from: parse_state("from_state", row.try_get("from_state")?)?,
            to: parse_state("to_state", row.try_get("to_state")?)?,
            at: timestamp("at", row.try_get("at")?)?,
            // Never fails: a reason this version does not write is kept as recorded.
            reason: Reason::parse(row.try_get("reason")?),
            actor: row.try_get("actor")?,
        },
    })
});

from_row_for_both!(OutboxItem, |row| {
    let Json(payload): Json<serde_json::Value> = row.try_get("payload")?;
    let kind: &str = row.try_get("kind")?;
    let state: &str = row.try_get("state")?;
    let attempts: i64 = row.try_get("attempts")?;
    Ok(OutboxItem {
        id: row.try_get("id")?,
        domain_id: row.try_get("domain_id")?,
        key: row.try_get("key")?,
        kind: kind.parse::<OutboxKind>().map_err(|e| bad("kind", e))?,
        payload,
        created: timestamp("created", row.try_get("created")?)?,
        state: state.parse::<OutboxState>().map_err(|e| bad("state", e))?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        last_error: row.try_get("last_error")?,
        accepted_at: opt_timestamp("accepted_at", row.try_get("accepted_at")?)?,
        updated: timestamp("updated", row.try_get("updated")?)?,
        next_attempt: opt_timestamp("next_attempt", row.try_get("next_attempt")?)?,
        message_id: row.try_get("message_id")?,
        reply: row.try_get("reply")?,
    })
});

from_row_for_both!(Sweep, |row| {
    let kind: &str = row.try_get("kind")?;
    Ok(Sweep {
        id: row.try_get("id")?,
        kind: kind.parse::<SweepKind>().map_err(|e| bad("kind", e))?,
        started: timestamp("started", row.try_get("started")?)?,
        finished: opt_timestamp("finished", row.try_get("finished")?)?,
        summary: row
            .try_get::<Option<Json<serde_json::Value>>, _>("summary")?
            .map(|Json(summary)| summary),
        held: row.try_get("held")?,
        decided: opt_timestamp("decided", row.try_get("decided")?)?,
        hold_reason: row.try_get("hold_reason")?,
    })
});

from_row_for_both!(Alert, |row| {
    Ok(Alert {
        id: row.try_get("id")?,
        at: timestamp("at", row.try_get("at")?)?,
        kind: row
            .try_get::<String, _>("kind")?
            .parse::<AlertKind>()
            .map_err(|e| bad("kind", e))?,
        message: row.try_get("message")?,
    })
});

/// A `(state, count)` row of [`Registry::count_by_state`](super::Registry::count_by_state).
pub(crate) struct StateCount(pub State, pub u64);

from_row_for_both!(StateCount, |row| {
    let count: i64 = row.try_get("count")?;
    Ok(StateCount(
        parse_state("state", row.try_get("state")?)?,
        u64::try_from(count).unwrap_or_default(),
    ))
});

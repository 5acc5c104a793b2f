//! Sweeps: starting or joining one, its decision, its tally, and its pending checks.
//!
//! A sweep runs in two phases (see `migrations/sqlite/0002_sweeps.sql`): every due domain
//! is checked, the checks that would change a domain's lifecycle are left pending on the
//! domain, and then the sweep decides once whether to apply them or hold them. Several
//! processes may work on the same sweep: the first to start it creates it, the others
//! join it, and whoever decides first decides for all.

use std::collections::{BTreeMap, HashSet};

use futures::TryStreamExt;
use jiff::Timestamp;
use serde::Serialize;
use sqlx::Row;
use sqlx::types::Json;

use crate::lifecycle::State;

use super::domains::{MAX_PARAMS, saturating_i64};
use super::error::Result;
use super::rows::{domain_columns, secs};
use super::{
    AlertKind, Backend, Domain, Registry, RegistryError, Sweep, SweepKind, builder, with_pool,
};

/// The columns [`Sweep`] is read from.
macro_rules! sweep_columns {
    () => {
        "id, kind, started, finished, summary, held, decided, hold_reason"
    };
}

/// What the checks and transitions of one sweep add up to, read back from the registry
/// (so it covers every process that worked on the sweep, and survives restarts).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SweepTally {
    /// Checks recorded.
    pub checked: u64,
    /// Checks that passed.
    pub ok: u64,
    /// Failing checks that rested only on timeouts.
    pub transient: u64,
    /// Checks of domains that were OK before (their previous check passed, or they were
    /// certified and never checked).
    pub previously_ok: u64,
    /// Of those, the ones that failed this time.
    pub new_failures: u64,
    /// Failing checks by error code.
    pub codes: BTreeMap<String, u64>,
    /// State changes made by the sweep, by `(from, to)`.
    pub transitions: BTreeMap<(State, State), u64>,
}

impl SweepTally {
    /// State changes into `to` (from anywhere).
    pub fn into_state(&self, to: State) -> u64 {
        self.transitions
            .iter()
            .filter(|((_, into), _)| *into == to)
            .map(|(_, count)| count)
            .sum()
    }

    /// State changes from `from` to `to`.
    pub fn between(&self, from: State, to: State) -> u64 {
        self.transitions.get(&(from, to)).copied().unwrap_or(0)
    }
}

impl Registry {
    /// Starts a sweep of `kind`, or joins the one already running (whatever its kind):
    /// at most one sweep runs at a time. Returns the sweep and whether it was joined.
    pub async fn begin_sweep(&self, now: Timestamp, kind: SweepKind) -> Result<(Sweep, bool)> {
        self.begin_sweep_as(now, kind, None).await
    }

    /// [`begin_sweep`](Self::begin_sweep), recording `owner` (the worker's `host:pid`)
    /// as the sweep's starter when it starts one.
    pub async fn begin_sweep_as(
        &self,
        now: Timestamp,
        kind: SweepKind,
        owner: Option<&str>,
    ) -> Result<(Sweep, bool)> {
        const INSERT: &str = "INSERT INTO sweeps (kind, started, started_by) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING RETURNING id";
        // Two attempts: the running sweep may finish between the insert and the read.
        for _ in 0..2 {
            let created: Option<i64> = with_pool!(self, |pool| {
                sqlx::query_scalar(INSERT)
                    .bind(kind.as_str())
                    .bind(secs(now))
                    .bind(owner)
                    .fetch_optional(pool)
                    .await
            })?;
            let (id, joined) = match created {
                Some(id) => (id, false),
                None => match self.unfinished_sweep().await? {
                    Some(running) => (running.id, true),
                    None => continue,
                },
            };
            if let Some(sweep) = self.sweep(id).await? {
                return Ok((sweep, joined));
            }
        }
        Err(RegistryError::Database(
            "cannot start a sweep: sweeps keep starting and finishing concurrently".into(),
        ))
    }

    /// Marks a running, undecided sweep as held, for `reason` (the first reason stays).
    /// The sweep goes on checking; its decision will be to hold.
    pub async fn hold_sweep(&self, id: i64, reason: &str) -> Result<()> {
        const SQL: &str = "UPDATE sweeps SET hold_reason = COALESCE(hold_reason, $2) \
             WHERE id = $1 AND decided IS NULL";
        with_pool!(self, |pool| {
            sqlx::query(SQL)
                .bind(id)
                .bind(reason)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Takes the sweep's decision, once: hold its pending lifecycle changes if `hold` is
    /// given (or a hold reason was recorded before), apply them otherwise. A held sweep
    /// raises one operator alert, queued in the same transaction as an outbox item for
    /// `operators` (key `alert/sweep/ID`). If the sweep was already decided (by another
    /// process, or before a restart) that decision stands. Returns the sweep as decided.
    pub async fn decide_sweep(
        &self,
        id: i64,
        now: Timestamp,
        hold: Option<&str>,
        operators: &[String],
    ) -> Result<Sweep> {
        const DECIDE: &str = "UPDATE sweeps SET decided = $2, \
             hold_reason = COALESCE(hold_reason, $3), \
             held = (COALESCE(hold_reason, $3) IS NOT NULL) \
             WHERE id = $1 AND decided IS NULL RETURNING held, hold_reason";
        const ALERT: &str = "INSERT INTO alerts (at, kind, message) VALUES ($1, $2, $3)";
        const NOTICE: &str = "INSERT INTO outbox (domain_id, key, kind, payload, created, updated) \
             VALUES (NULL, $1, 'alert', $2, $3, $3) ON CONFLICT (key) DO NOTHING";
        let backend = self.backend();
        with_pool!(self, |pool| {
            let mut tx = match backend {
                Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
                Backend::Postgres => pool.begin().await?,
            };
            let decided = sqlx::query(DECIDE)
                .bind(id)
                .bind(secs(now))
                .bind(hold)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(row) = decided {
                let held: bool = row.try_get("held")?;
                let reason: Option<String> = row.try_get("hold_reason")?;
                if let (true, Some(reason)) = (held, reason) {
                    let message = format!("sweep {id} held: {reason}");
                    tracing::warn!(sweep = id, %reason, "sweep held: no domain changes state");
                    sqlx::query(ALERT)
                        .bind(secs(now))
                        .bind(AlertKind::SweepHeld.as_str())
                        .bind(&message)
                        .execute(&mut *tx)
                        .await?;
                    let payload = serde_json::json!({
                        "alert": AlertKind::SweepHeld,
                        "sweep": id,
                        "reason": reason,
                        "to": operators,
                    });
                    sqlx::query(NOTICE)
                        .bind(format!("alert/sweep/{id}"))
                        .bind(Json(payload))
                        .bind(secs(now))
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(())
        })?;
        self.sweep(id)
            .await?
            .ok_or_else(|| RegistryError::NotFound(format!("sweep {id}")))
    }

    /// Records the end of a sweep with its summary. Finishing a sweep that another
    /// process already finished is not an error (returns `false`); a sweep that does not
    /// exist is.
    pub async fn finish_sweep(
        &self,
        id: i64,
        now: Timestamp,
        summary: serde_json::Value,
    ) -> Result<bool> {
        const SQL: &str =
            "UPDATE sweeps SET finished = $2, summary = $3 WHERE id = $1 AND finished IS NULL";
        let done = with_pool!(self, |pool| {
            sqlx::query(SQL)
                .bind(id)
                .bind(secs(now))
                .bind(Json(&summary))
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        if done == 0 && self.sweep(id).await?.is_none() {
            return Err(RegistryError::NotFound(format!("sweep {id}")));
        }
        Ok(done > 0)
    }

    /// The sweep with this identifier.
    pub async fn sweep(&self, id: i64) -> Result<Option<Sweep>> {
        const SQL: &str = concat!("SELECT ", sweep_columns!(), " FROM sweeps WHERE id = $1");
        let sweep = with_pool!(self, |pool| {
            sqlx::query_as(SQL).bind(id).fetch_optional(pool).await
        })?;
        Ok(sweep)
    }

    /// The latest sweeps, newest first.
    pub async fn sweeps(&self, limit: u64) -> Result<Vec<Sweep>> {
        const SQL: &str = concat!(
            "SELECT ",
            sweep_columns!(),
            " FROM sweeps ORDER BY id DESC LIMIT $1"
        );
        let sweeps = with_pool!(self, |pool| {
            sqlx::query_as(SQL)
                .bind(saturating_i64(limit))
                .fetch_all(pool)
                .await
        })?;
        Ok(sweeps)
    }

    /// The latest finished sweep, if any.
    pub async fn last_sweep(&self) -> Result<Option<Sweep>> {
        const SQL: &str = concat!(
            "SELECT ",
            sweep_columns!(),
            " FROM sweeps WHERE finished IS NOT NULL ORDER BY finished DESC, id DESC LIMIT 1"
        );
        let sweep = with_pool!(self, |pool| {
            sqlx::query_as(SQL).fetch_optional(pool).await
        })?;
        Ok(sweep)
    }

    /// The sweep that started but has not finished (running, or its process died), if
    /// any: there is at most one.
    pub async fn unfinished_sweep(&self) -> Result<Option<Sweep>> {
        const SQL: &str = concat!(
            "SELECT ",
            sweep_columns!(),
            " FROM sweeps WHERE finished IS NULL ORDER BY id DESC LIMIT 1"
        );
        let sweep = with_pool!(self, |pool| {
            sqlx::query_as(SQL).fetch_optional(pool).await
        })?;
        Ok(sweep)
    }

    /// How many monitored domains are due at `now` and not held by `owner` (free, or
    /// held by other workers), and when the earliest live lease of another worker on them
    /// lapses (`None` if none is held).
    pub async fn due_remaining(
        &self,
        now: Timestamp,
        owner: &str,
    ) -> Result<(u64, Option<Timestamp>)> {
        self.due_remaining_since(now, owner, i64::MAX).await
    }

    /// [`due_remaining`](Self::due_remaining) for `sweep`: only the domains
    /// [`claim_due_in`](Self::claim_due_in) may still claim for it (not checked since the
    /// sweep started).
    pub async fn due_remaining_in(
        &self,
        sweep: &Sweep,
        now: Timestamp,
        owner: &str,
    ) -> Result<(u64, Option<Timestamp>)> {
        self.due_remaining_since(now, owner, secs(sweep.started))
            .await
    }

    async fn due_remaining_since(
        &self,
        now: Timestamp,
        owner: &str,
        started: i64,
    ) -> Result<(u64, Option<Timestamp>)> {
        const SQL: &str = "SELECT COUNT(*) AS due, \
             MIN(CASE WHEN lease_until >= $1 THEN lease_until END) AS lease \
             FROM domains WHERE state NOT IN ('requested', 'expired') AND next_check <= $1 \
             AND (lease_owner IS NULL OR lease_owner <> $2 OR lease_until < $1) \
             AND (last_check_at IS NULL OR last_check_at < $3)";
        let (due, lease): (i64, Option<i64>) = with_pool!(self, |pool| {
            sqlx::query_as(SQL)
                .bind(secs(now))
                .bind(owner)
                .bind(started)
                .fetch_one(pool)
                .await
        })?;
        let lease = lease.and_then(|secs| Timestamp::from_second(secs).ok());
        Ok((u64::try_from(due).unwrap_or(0), lease))
    }

    /// When the next monitored domain falls due (`None` when there is none).
    pub async fn next_due(&self) -> Result<Option<Timestamp>> {
        const SQL: &str = "SELECT MIN(next_check) FROM domains \
             WHERE state NOT IN ('requested', 'expired')";
        let next: Option<i64> = with_pool!(self, |pool| {
            sqlx::query_scalar(SQL).fetch_one(pool).await
        })?;
        Ok(next.and_then(|secs| Timestamp::from_second(secs).ok()))
    }

    /// Up to `limit` domains with a check pending for `sweep_id`, by identifier, after
    /// `after_id` (for paging).
    pub async fn pending_checks(
        &self,
        sweep_id: i64,
        after_id: i64,
        limit: u64,
    ) -> Result<Vec<Domain>> {
        const SQL: &str = concat!(
            "SELECT ",
            domain_columns!(),
            " FROM domains WHERE pending_sweep = $1 AND id > $2 ORDER BY id LIMIT $3"
        );
        let domains = with_pool!(self, |pool| {
            sqlx::query_as(SQL)
                .bind(sweep_id)
                .bind(after_id)
                .bind(saturating_i64(limit))
                .fetch_all(pool)
                .await
        })?;
        Ok(domains)
    }

    /// Which of the domains `ids` already have a check recorded in sweep `sweep_id` (by
    /// any worker): a result for them that comes back as a conflict is a second check of
    /// the same sweep, and is dropped.
    pub async fn checked_in_sweep(&self, sweep_id: i64, ids: &[i64]) -> Result<HashSet<i64>> {
        let mut checked = HashSet::new();
        for chunk in ids.chunks(MAX_PARAMS - 1) {
            let found: Vec<i64> = with_pool!(self, |pool| {
                let mut query = builder(pool);
                query
                    .push("SELECT DISTINCT domain_id FROM checks WHERE sweep_id = ")
                    .push_bind(sweep_id)
                    .push(" AND domain_id IN (");
                let mut list = query.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                query.push(")");
                query.build_query_scalar().fetch_all(pool).await
            })?;
            checked.extend(found);
        }
        Ok(checked)
    }

    /// Takes, or renews, the named lease (`schedule`: the right to start sweeps) for
    /// `owner` until `now + lease`: when nobody holds it, when its holder's lease lapsed,
    /// or when `owner` holds it already. Atomic: of concurrent callers one wins. Returns
    /// whether `owner` holds it now.
    pub async fn hold_lease(
        &self,
        name: &str,
        owner: &str,
        now: Timestamp,
        lease: std::time::Duration,
    ) -> Result<bool> {
        const SQL: &str = "INSERT INTO leases (name, owner, since, lease_until) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET \
             since = CASE WHEN leases.owner = excluded.owner THEN leases.since \
                 ELSE excluded.since END, \
             owner = excluded.owner, lease_until = excluded.lease_until \
             WHERE leases.owner = excluded.owner OR leases.lease_until < excluded.since \
             RETURNING owner";
        let lease_secs = i64::try_from(lease.as_secs().max(1)).unwrap_or(i64::MAX);
        let held: Option<String> = with_pool!(self, |pool| {
            sqlx::query_scalar(SQL)
                .bind(name)
                .bind(owner)
                .bind(secs(now))
                .bind(secs(now).saturating_add(lease_secs))
                .fetch_optional(pool)
                .await
        })?;
        Ok(held.as_deref() == Some(owner))
    }

    /// Gives up the named lease if `owner` holds it (a clean stop: another process may
    /// take it at once). Returns whether it was held.
    pub async fn release_lease(&self, name: &str, owner: &str) -> Result<bool> {
        const SQL: &str = "DELETE FROM leases WHERE name = $1 AND owner = $2";
        let done = with_pool!(self, |pool| {
            sqlx::query(SQL)
                .bind(name)
                .bind(owner)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(done > 0)
    }

    /// Who holds the named lease, since when and until when (`None`: nobody ever did, or
    /// its last holder gave it up).
    pub async fn lease_holder(&self, name: &str) -> Result<Option<(String, Timestamp, Timestamp)>> {
        const SQL: &str = "SELECT owner, since, lease_until FROM leases WHERE name = $1";
        let row: Option<(String, i64, i64)> = with_pool!(self, |pool| {
            sqlx::query_as(SQL).bind(name).fetch_optional(pool).await
        })?;
        Ok(row.and_then(|(owner, since, until)| {
            let since = Timestamp::from_second(since).ok()?;
            let until = Timestamp::from_second(until).ok()?;
            Some((owner, since, until))
        }))
    }

    /// What the sweep's recorded checks and transitions add up to.
    pub async fn sweep_tally(&self, sweep_id: i64) -> Result<SweepTally> {
        const COUNTS: &str = "SELECT COUNT(*), \
             COALESCE(SUM(CASE WHEN ok THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN NOT ok AND transient THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN previous_ok THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN previous_ok AND NOT ok THEN 1 ELSE 0 END), 0) \
             FROM checks WHERE sweep_id = $1";
        const CODES: &str = "SELECT codes FROM checks WHERE sweep_id = $1 AND NOT ok";
        const TRANSITIONS: &str = "SELECT from_state, to_state, COUNT(*) FROM transitions \
             WHERE sweep_id = $1 GROUP BY from_state, to_state";
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        let (checked, ok, transient, previously_ok, new_failures): (i64, i64, i64, i64, i64) =
            with_pool!(self, |pool| {
                sqlx::query_as(COUNTS).bind(sweep_id).fetch_one(pool).await
            })?;
        let mut tally = SweepTally {
            checked: count(checked),
            ok: count(ok),
            transient: count(transient),
            previously_ok: count(previously_ok),
            new_failures: count(new_failures),
            ..SweepTally::default()
        };
        with_pool!(self, |pool| {
            let mut rows = sqlx::query_scalar::<_, Json<Vec<String>>>(CODES)
                .bind(sweep_id)
                .fetch(pool);
            while let Some(Json(codes)) = rows.try_next().await? {
                for code in codes {
                    *tally.codes.entry(code).or_default() += 1;
                }
            }
            Ok::<_, sqlx::Error>(())
        })?;
        let rows: Vec<(String, String, i64)> = with_pool!(self, |pool| {
            sqlx::query_as(TRANSITIONS)
                .bind(sweep_id)
                .fetch_all(pool)
                .await
        })?;
        for (from, to, n) in rows {
            let parse = |text: &str| {
                text.parse::<State>()
                    .map_err(|e| RegistryError::Database(format!("bad stored state: {e}")))
            };
            tally
                .transitions
                .insert((parse(&from)?, parse(&to)?), count(n));
        }
        Ok(tally)
    }
}

//! The sweep's side of the registry: claiming due domains and committing results.

use std::collections::HashSet;
use std::time::Duration;

use jiff::Timestamp;
use sha2::{Digest, Sha256};
use sqlx::types::Json;

use crate::lifecycle::DomainStatus;

use super::domains::{MAX_PARAMS, saturating_i64};
use super::error::{Result, describe, is_retryable};
use super::rows::{domain_columns, secs};
use super::{
    Backend, BatchOutcome, Domain, DomainUpdate, NewCheck, PendingChange, Registry, RegistryError,
    ResultJson, Sweep, builder, with_pool,
};

/// How many times a batch is attempted when PostgreSQL aborts it for a deadlock or a
/// serialization failure (the transaction is rolled back whole, so retrying is safe).
const BATCH_ATTEMPTS: u32 = 3;

/// Claims due domains: sets the lease on up to `$4` domains that are monitored, due at
/// `$3`, not leased (or whose lease lapsed) and not checked since `$5` (a sweep's start:
/// a domain is checked at most once per sweep), earliest due first. `$1` is the owner
/// and `$2` the end of the lease. PostgreSQL adds `FOR UPDATE SKIP LOCKED` so concurrent
/// claimers pass over each other's rows instead of waiting for them.
macro_rules! claim_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE domains SET lease_owner = $1, lease_until = $2 WHERE id IN (",
            "SELECT id FROM domains WHERE state NOT IN ('requested', 'expired') ",
            "AND next_check <= $3 AND (lease_until IS NULL OR lease_until < $3) ",
            "AND (last_check_at IS NULL OR last_check_at < $5) ",
            "ORDER BY next_check, id LIMIT $4",
            $lock,
            ") RETURNING ",
            domain_columns!()
        )
    };
}

/// The values of one domain update, bound per row (SQLite: the `WITH v (…) AS (VALUES
/// …)` of the batch `UPDATE`) or per column (PostgreSQL: one array each, `UNNEST`ed).
macro_rules! update_columns {
    () => {
        "id, expected, has_status, status, state, deadline, expires, has_check, check_at, \
         check_ok, check_transient, check_codes, check_warnings, check_digest, next_check, \
         set_pending, pending_sweep, pending_event"
    };
}
const UPDATE_PARAMS: usize = 18;

/// Applies the rows of `v` to the domains whose version still matches. Each column keeps
/// its value unless the update carries a new status (`has_status`) or a check
/// (`has_check`); the version is bumped, and the lease released when the committer owns
/// it (`$owner`, bound twice on SQLite: the two `CASE`s both see the row as it was).
macro_rules! update_set {
    () => {
        " UPDATE domains SET \
         status = CASE WHEN v.has_status THEN v.status ELSE domains.status END, \
         state = CASE WHEN v.has_status THEN v.state ELSE domains.state END, \
         deadline = CASE WHEN v.has_status THEN v.deadline ELSE domains.deadline END, \
         expires = CASE WHEN v.has_status THEN v.expires ELSE domains.expires END, \
         last_check_at = CASE WHEN v.has_check THEN v.check_at ELSE domains.last_check_at END, \
         last_check_ok = CASE WHEN v.has_check THEN v.check_ok ELSE domains.last_check_ok END, \
         last_check_transient = CASE WHEN v.has_check THEN v.check_transient \
             ELSE domains.last_check_transient END, \
         last_check_codes = CASE WHEN v.has_check THEN v.check_codes \
             ELSE domains.last_check_codes END, \
         last_check_warnings = CASE WHEN v.has_check THEN v.check_warnings \
             ELSE domains.last_check_warnings END, \
         last_result_digest = CASE WHEN v.has_check THEN v.check_digest \
             ELSE domains.last_result_digest END, \
         next_check = v.next_check, \
         pending_sweep = CASE WHEN v.set_pending THEN v.pending_sweep \
             ELSE domains.pending_sweep END, \
         pending_event = CASE WHEN v.set_pending THEN v.pending_event \
             ELSE domains.pending_event END, \
         version = domains.version + 1, \
         updated = "
    };
}
/// The end of the batch `UPDATE`: which rows, and what it returns.
const UPDATE_WHERE: &str =
    " FROM v WHERE domains.id = v.id AND domains.version = v.expected RETURNING domains.id";

/// PostgreSQL's batch `UPDATE`: one array per column of `v`, then `$19` the time and
/// `$20` the committer. The same statement for every batch, so it is prepared once per
/// connection.
const PG_UPDATE: &str = concat!(
    "WITH v AS (SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::bool[], $4::jsonb[], ",
    "$5::text[], $6::int8[], $7::int8[], $8::bool[], $9::int8[], $10::bool[], $11::bool[], ",
    "$12::jsonb[], $13::jsonb[], $14::int8[], $15::int8[], $16::bool[], $17::int8[], ",
    "$18::jsonb[]) AS u (",
    update_columns!(),
    "))",
    update_set!(),
    "$19, lease_owner = CASE WHEN domains.lease_owner = $20 THEN NULL ",
    "ELSE domains.lease_owner END, lease_until = CASE WHEN domains.lease_owner = $20 ",
    "THEN NULL ELSE domains.lease_until END FROM v WHERE domains.id = v.id ",
    "AND domains.version = v.expected RETURNING domains.id"
);

macro_rules! check_columns {
    () => {
        "INSERT INTO checks (domain_id, sweep_id, at, ok, transient, codes, warnings, result, \
         same_result, previous_ok) "
    };
}
const CHECK_COLUMNS: &str = check_columns!();
const CHECK_PARAMS: usize = 10;
/// PostgreSQL's insert of a batch's checks: one array per column. The results go as
/// text into the `json` column, which keeps them as they are (no `jsonb` on the way).
const PG_CHECKS: &str = concat!(
    check_columns!(),
    "SELECT d, s, a, o, t, c, w, r::json, same, p FROM UNNEST($1::int8[], $2::int8[], ",
    "$3::int8[], $4::bool[], $5::bool[], $6::jsonb[], $7::jsonb[], $8::text[], $9::bool[], ",
    "$10::bool[]) AS u (d, s, a, o, t, c, w, r, same, p)"
);
const TRANSITION_COLUMNS: &str =
    "INSERT INTO transitions (domain_id, sweep_id, at, from_state, to_state, reason, actor) ";
const TRANSITION_PARAMS: usize = 7;
const OUTBOX_COLUMNS: &str =
    "INSERT INTO outbox (domain_id, key, kind, payload, created, updated) ";
const OUTBOX_PARAMS: usize = 6;
/// Records a notice that bounced after its acceptance.
const BOUNCED: &str = "UPDATE outbox SET state = 'failed', last_error = $3, updated = $4 \
     WHERE id = $1 AND domain_id = $2";
/// Records a delivered notice (see [`super::Delivery`]).
const DELIVERED: &str = "UPDATE outbox SET state = 'sent', accepted_at = $3, message_id = $4, \
     reply = $5, attempts = attempts + 1, last_error = NULL, next_attempt = NULL, \
     claim_owner = NULL, claim_until = NULL, updated = $6 WHERE id = $1 AND domain_id = $2";

impl Registry {
    /// Claims up to `limit` domains due at `now` for the worker `owner`, until
    /// `now + lease`: monitored domains (not `requested` or `expired`) whose
    /// [`next_check`](Domain::next_check) has come and that no other worker holds (or
    /// whose lease lapsed). Earliest due first. Concurrent claimers, in this process or
    /// others, never get the same domain while a lease lasts.
    pub async fn claim_due(
        &self,
        owner: &str,
        now: Timestamp,
        lease: Duration,
        limit: u64,
    ) -> Result<Vec<Domain>> {
        self.claim_due_since(owner, now, lease, limit, i64::MAX)
            .await
    }

    /// [`claim_due`](Self::claim_due) for `sweep`: passes over the domains checked since
    /// the sweep started, so that no domain is checked twice in one sweep, even one that
    /// falls due again while the sweep runs (it waits for the next sweep) or that a
    /// worker whose lease lapsed committed meanwhile.
    pub async fn claim_due_in(
        &self,
        sweep: &Sweep,
        owner: &str,
        now: Timestamp,
        lease: Duration,
        limit: u64,
    ) -> Result<Vec<Domain>> {
        self.claim_due_since(owner, now, lease, limit, secs(sweep.started))
            .await
    }

    async fn claim_due_since(
        &self,
        owner: &str,
        now: Timestamp,
        lease: Duration,
        limit: u64,
        started: i64,
    ) -> Result<Vec<Domain>> {
        let lease_secs = i64::try_from(lease.as_secs() + u64::from(lease.subsec_nanos() > 0))
            .map_err(|_| RegistryError::Invalid(format!("lease too long: {lease:?}")))?;
        let until = secs(now).saturating_add(lease_secs);
        let sql = match self.backend() {
            Backend::Sqlite => claim_sql!(""),
            Backend::Postgres => claim_sql!(" FOR UPDATE SKIP LOCKED"),
        };
        let mut claimed: Vec<Domain> = match self {
            Registry::Sqlite(pool) => {
                sqlx::query_as(sql)
                    .bind(owner)
                    .bind(until)
                    .bind(secs(now))
                    .bind(saturating_i64(limit))
                    .bind(started)
                    .fetch_all(pool)
                    .await?
            }
            Registry::Postgres(pool) => {
                // Leases are committed without waiting for the disk: one lost in a crash
                // of the server is a lease that lapsed early. Another worker may then
                // check the domain too, and the second result is dropped when committed
                // (the version moved on, and the domain has a check in the sweep). See
                // `commit_batch_once` for the checks.
                let mut tx = pool.begin().await?;
                sqlx::query(ASYNC_COMMIT).execute(&mut *tx).await?;
                let claimed = sqlx::query_as(sql)
                    .bind(owner)
                    .bind(until)
                    .bind(secs(now))
                    .bind(saturating_i64(limit))
                    .bind(started)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                claimed
            }
        };
        // RETURNING does not promise an order.
        claimed.sort_by_key(|domain| (domain.next_check, domain.id));
        Ok(claimed)
    }

    /// Gives up `owner`'s leases on these domains (those it holds), so others may check
    /// them now. Returns how many were released.
    pub async fn release(&self, owner: &str, ids: &[i64]) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut released = 0;
        for chunk in ids.chunks(MAX_PARAMS) {
            released += with_pool!(self, |pool| {
                let mut query = builder(pool);
                query
                    .push("UPDATE domains SET lease_owner = NULL, lease_until = NULL ")
                    .push("WHERE lease_owner = ")
                    .push_bind(owner.to_owned())
                    .push(" AND id IN (");
                let mut list = query.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                query.push(")");
                query
                    .build()
                    .execute(pool)
                    .await
                    .map(|done| done.rows_affected())
            })?;
        }
        Ok(released)
    }

    /// Records a batch of results in one transaction: for each update whose domain is
    /// still at [`expected_version`](DomainUpdate::expected_version), inserts the check,
    /// the transitions and the effects (into the outbox; an effect whose key is already
    /// there is skipped), and updates the domain (status, last check, next check,
    /// version + 1, and releases `owner`'s lease). Updates whose domain moved on are
    /// skipped and listed in [`BatchOutcome::conflicts`].
    ///
    /// `now` is recorded as the domains' `updated` time and the new outbox items'
    /// `created` time.
    ///
    /// All or nothing: if the process dies or the database fails midway, none of the
    /// batch is written, and retrying it is safe (what was committed comes back as
    /// conflicts). On PostgreSQL a batch aborted by a deadlock is retried, up to three
    /// attempts in all.
    pub async fn commit_batch(
        &self,
        owner: &str,
        now: Timestamp,
        updates: Vec<DomainUpdate>,
    ) -> Result<BatchOutcome> {
        self.commit_updates(owner, now, &updates).await
    }

    /// [`commit_batch`](Self::commit_batch) of borrowed updates (kept by the caller, to
    /// retry or plan again).
    pub async fn commit_updates(
        &self,
        owner: &str,
        now: Timestamp,
        updates: &[DomainUpdate],
    ) -> Result<BatchOutcome> {
        if updates.is_empty() {
            return Ok(BatchOutcome::default());
        }
        let results: Vec<Option<StoredResult>> = updates
            .iter()
            .map(|update| {
                let check = update.check.as_ref()?;
                Some(StoredResult::new(&check.result, update.previous_result))
            })
            .collect();
        let rows: Vec<Row> = updates.iter().zip(&results).collect();
        let mut attempt = 1;
        loop {
            match self.commit_batch_once(owner, now, &rows).await {
                Err(e) if is_retryable(&e) && attempt < BATCH_ATTEMPTS => {
                    tracing::debug!(attempt, error = %describe(&e), "retrying a batch");
                    attempt += 1;
                }
                result => return result.map_err(RegistryError::from),
            }
        }
    }

    /// Commits a single update (an operator's command, say), failing with
    /// [`RegistryError::Conflict`] if the domain changed since it was read.
    pub async fn commit(&self, owner: &str, now: Timestamp, update: DomainUpdate) -> Result<()> {
        let outcome = self.commit_batch(owner, now, vec![update]).await?;
        if outcome.applied.is_empty() {
            return Err(RegistryError::Conflict);
        }
        Ok(())
    }

    async fn commit_batch_once(
        &self,
        owner: &str,
        now: Timestamp,
        rows: &[Row<'_>],
    ) -> Result<BatchOutcome, sqlx::Error> {
        // A domain may appear once per batch: later updates of the same domain were
        // computed from the same version and would conflict anyway.
        let mut seen = HashSet::new();
        let (unique, repeated): (Vec<Row>, Vec<Row>) = rows
            .iter()
            .copied()
            .partition(|(u, _)| seen.insert(u.domain_id));

        let backend = self.backend();
        with_pool!(self, |pool| {
            // SQLite: take the write lock up front, so the transaction never has to
            // upgrade a read lock (which fails at once, without waiting, if another
            // writer got in first).
            let mut tx = match backend {
                Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
                Backend::Postgres => pool.begin().await?,
            };
            // PostgreSQL: a batch that only records checks (no new status, transition,
            // notice or delivery: the sweep's first phase) does not wait for its WAL to
            // reach the disk. A crash of the server (not of pecwatch) may then lose the
            // batches of its last moments (PostgreSQL flushes within three
            // `wal_writer_delay`s), each as a whole: their domains keep their old
            // version, next check and last check, so they stay due and are checked again,
            // by the next sweep at the latest. Anything that acts on checks (the sweep's
            // decision, the applied changes, the notices) is committed synchronously,
            // which flushes every earlier commit first: no effect ever rests on a check
            // that could be lost, and the decision counts only checks that are on disk.
            if backend == Backend::Postgres && rows.iter().all(|(u, _)| records_only(u)) {
                sqlx::query(ASYNC_COMMIT).execute(&mut *tx).await?;
            }

            // 1. The domains, where the version matches.
            let applied: HashSet<i64> = BatchRows::update_domains(&mut tx, owner, now, &unique)
                .await?
                .into_iter()
                .collect();
            let done_rows: Vec<Row> = unique
                .iter()
                .copied()
                .filter(|(u, _)| applied.contains(&u.domain_id))
                .collect();
            let done: Vec<&DomainUpdate> = done_rows.iter().map(|(u, _)| *u).collect();

            // 2. The checks.
            let checks: Vec<CheckRow> = done_rows
                .iter()
                .filter_map(|(u, result)| Some((*u, u.check.as_ref()?, result.as_ref()?)))
                .collect();
            BatchRows::insert_checks(&mut tx, &checks).await?;

            // 3. The transitions.
            let transitions: Vec<_> = done
                .iter()
                .flat_map(|u| u.transitions.iter().map(move |t| (*u, t)))
                .collect();
            for chunk in transitions.chunks(MAX_PARAMS / TRANSITION_PARAMS) {
                let mut query = builder(pool);
                query.push(TRANSITION_COLUMNS);
                query.push_values(chunk, |mut row, (update, transition)| {
                    row.push_bind(update.domain_id)
                        .push_bind(update.sweep_id)
                        .push_bind(secs(transition.at))
                        .push_bind(transition.from.as_str())
                        .push_bind(transition.to.as_str())
                        .push_bind(transition.reason.to_string())
                        .push_bind(transition.actor.as_str());
                });
                query.build().execute(&mut *tx).await?;
            }

            // 4. The effects, once per key.
            let effects: Vec<_> = done
                .iter()
                .flat_map(|u| u.effects.iter().map(|e| (u.domain_id, e)))
                .collect();
            let mut queued = Vec::new();
            for chunk in effects.chunks(MAX_PARAMS / OUTBOX_PARAMS) {
                let mut query = builder(pool);
                query.push(OUTBOX_COLUMNS);
                query.push_values(chunk, |mut row, (domain_id, effect)| {
                    row.push_bind(*domain_id)
                        .push_bind(effect.key.as_str())
                        .push_bind(effect.kind.as_str())
                        .push_bind(Json(&effect.payload))
                        .push_bind(secs(now))
                        .push_bind(secs(now));
                });
                query.push(" ON CONFLICT (key) DO NOTHING RETURNING id");
                let ids: Vec<i64> = query.build_query_scalar().fetch_all(&mut *tx).await?;
                queued.extend(ids);
            }

            // 5. The notices delivered, recorded as sent (only the claimant's, only the
            //    domain's own).
            for update in &done {
                for delivery in &update.deliveries {
                    sqlx::query(DELIVERED)
                        .bind(delivery.item_id)
                        .bind(update.domain_id)
                        .bind(secs(delivery.accepted_at))
                        .bind(&delivery.message_id)
                        .bind(&delivery.reply)
                        .bind(secs(now))
                        .execute(&mut *tx)
                        .await?;
                }
            }

            // 6. The notices that bounced, recorded as failed.
            for update in &done {
                for (item_id, error) in &update.bounces {
                    sqlx::query(BOUNCED)
                        .bind(item_id)
                        .bind(update.domain_id)
                        .bind(error)
                        .bind(secs(now))
                        .execute(&mut *tx)
                        .await?;
                }
            }

            tx.commit().await?;

            queued.sort_unstable();
            let duplicate_effects = effects.len() - queued.len();
            let conflicts = unique
                .iter()
                .filter(|(u, _)| !applied.contains(&u.domain_id))
                .chain(&repeated)
                .map(|(u, _)| u.domain_id)
                .collect();
            Ok(BatchOutcome {
                applied: done.iter().map(|u| u.domain_id).collect(),
                conflicts,
                queued,
                duplicate_effects,
            })
        })
    }
}

/// Lets the transaction commit without waiting for the disk (PostgreSQL).
const ASYNC_COMMIT: &str = "SET LOCAL synchronous_commit = off";

/// Whether an update only records a check (and the domain's schedule): no new status,
/// transition, notice, delivery or bounce to record.
fn records_only(update: &DomainUpdate) -> bool {
    update.status.is_none()
        && update.transitions.is_empty()
        && update.effects.is_empty()
        && update.deliveries.is_empty()
        && update.bounces.is_empty()
}

/// An update of a batch, with its check's result as stored (if it has a check).
type Row<'a> = (&'a DomainUpdate, &'a Option<StoredResult<'a>>);
/// A check to insert: its update, the check, and its result as stored.
type CheckRow<'a> = (&'a DomainUpdate, &'a NewCheck, &'a StoredResult<'a>);

/// A check's result as stored.
struct StoredResult<'a> {
    /// Its JSON; `None` when it is the same as the domain's previous check's (stored as
    /// JSON null, with `same_result`).
    json: Option<&'a str>,
    /// The first 8 bytes of the SHA-256 of its JSON, which the domain keeps.
    digest: i64,
}

impl<'a> StoredResult<'a> {
    /// `result` as stored after a check whose result had the digest `previous`.
    fn new(result: &'a ResultJson, previous: Option<i64>) -> Self {
        let json = result.as_str();
        let hash = Sha256::digest(json.as_bytes());
        let mut first = [0; 8];
        first.copy_from_slice(&hash[..8]);
        let digest = i64::from_be_bytes(first);
        StoredResult {
            json: (previous != Some(digest)).then_some(json),
            digest,
        }
    }

    /// The JSON to store.
    fn stored(&self) -> &str {
        self.json.unwrap_or("null")
    }

    /// Whether it repeats the previous check's.
    fn same(&self) -> bool {
        self.json.is_none()
    }
}

/// How each database writes the bulk of a batch: the domains and the checks. SQLite binds
/// multi-row `VALUES` (cheap to prepare there); PostgreSQL binds one array per column and
/// `UNNEST`s them, one statement whatever the batch's size.
trait BatchRows: sqlx::Database {
    /// Updates the domains whose version matches; returns their identifiers.
    fn update_domains<'a>(
        tx: &'a mut sqlx::Transaction<'static, Self>,
        owner: &'a str,
        now: Timestamp,
        rows: &'a [Row<'a>],
    ) -> impl Future<Output = Result<Vec<i64>, sqlx::Error>> + Send + 'a;

    /// Inserts the checks.
    fn insert_checks<'a>(
        tx: &'a mut sqlx::Transaction<'static, Self>,
        checks: &'a [CheckRow<'a>],
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a;
}

/// The pending change of an update: whether it sets the columns, and to what.
fn pending_of(update: &DomainUpdate) -> (bool, Option<&super::PendingCheck>) {
    match &update.pending {
        PendingChange::Keep => (false, None),
        PendingChange::Set(pending) => (true, Some(pending)),
        PendingChange::Clear => (true, None),
    }
}

impl BatchRows for sqlx::Sqlite {
    async fn update_domains<'a>(
        tx: &'a mut sqlx::Transaction<'static, Self>,
        owner: &'a str,
        now: Timestamp,
        rows: &'a [Row<'a>],
    ) -> Result<Vec<i64>, sqlx::Error> {
        let mut applied = Vec::with_capacity(rows.len());
        for chunk in shaped_chunks(rows, MAX_PARAMS / UPDATE_PARAMS) {
            let mut query =
                sqlx::QueryBuilder::<Self>::new(concat!("WITH v (", update_columns!(), ") AS ("));
            query.push_values(chunk, |mut row, (update, result)| {
                let status: Option<&DomainStatus> = update.status.as_ref();
                let check: Option<&NewCheck> = update.check.as_ref();
                let (set_pending, pending) = pending_of(update);
                row.push_bind(update.domain_id)
                    .push_bind(update.expected_version)
                    .push_bind(status.is_some())
                    .push_bind(status.map(Json))
                    .push_bind(status.map(|s| s.state.as_str()))
                    .push_bind(status.and_then(|s| s.deadline).map(secs))
                    .push_bind(status.and_then(|s| s.expires).map(secs))
                    .push_bind(check.is_some())
                    .push_bind(check.map(|c| secs(c.at)))
                    .push_bind(check.map(|c| c.ok))
                    .push_bind(check.map(|c| c.transient))
                    .push_bind(check.map(|c| Json(&c.codes)))
                    .push_bind(check.map(|c| Json(&c.warnings)))
                    .push_bind(result.as_ref().map(|r| r.digest))
                    .push_bind(secs(update.next_check))
                    .push_bind(set_pending)
                    .push_bind(pending.map(|p| p.sweep_id))
                    .push_bind(pending.map(|p| Json(&p.event)));
            });
            query.push(")").push(update_set!()).push_bind(secs(now));
            query
                .push(", lease_owner = CASE WHEN domains.lease_owner = ")
                .push_bind(owner)
                .push(" THEN NULL ELSE domains.lease_owner END")
                .push(", lease_until = CASE WHEN domains.lease_owner = ")
                .push_bind(owner)
                .push(" THEN NULL ELSE domains.lease_until END")
                .push(UPDATE_WHERE);
            let ids: Vec<i64> = query.build_query_scalar().fetch_all(&mut **tx).await?;
            applied.extend(ids);
        }
        Ok(applied)
    }

    async fn insert_checks<'a>(
        tx: &'a mut sqlx::Transaction<'static, Self>,
        checks: &'a [CheckRow<'a>],
    ) -> Result<(), sqlx::Error> {
        for chunk in shaped_chunks(checks, MAX_PARAMS / CHECK_PARAMS) {
            let mut query = sqlx::QueryBuilder::<Self>::new(CHECK_COLUMNS);
            query.push_values(chunk, |mut row, (update, check, result)| {
                row.push_bind(update.domain_id)
                    .push_bind(update.sweep_id)
                    .push_bind(secs(check.at))
                    .push_bind(check.ok)
                    .push_bind(check.transient)
                    .push_bind(Json(&check.codes))
                    .push_bind(Json(&check.warnings))
                    .push_bind(result.stored())
                    .push_bind(result.same())
                    .push_bind(check.previous_ok);
            });
            query.build().execute(&mut **tx).await?;
        }
        Ok(())
    }
}

/// `items` in chunks of at most `max` whose lengths are powers of two, largest first (a
/// batch of 500: 256, 128, 64, 32, 16 and 4). SQLite keeps every statement it prepared,
/// one per length of its `VALUES` list: with any length a sweep's batches would leave
/// hundreds of large statements in each connection's cache (about 130 MB on 100,000
/// domains); with these, ten at most.
fn shaped_chunks<T>(items: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let len = rest.len().min(max.max(1));
        let size = 1 << len.ilog2();
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

/// One PostgreSQL array: a value of each item.
fn array<T, V>(items: &[T], value: impl Fn(&T) -> V) -> Vec<V> {
    items.iter().map(value).collect()
}

impl BatchRows for sqlx::Postgres {
    async fn update_domains<'a>(
        tx: &'a mut sqlx::Transaction<'static, Self>,
        owner: &'a str,
        now: Timestamp,
        rows: &'a [Row<'a>],
    ) -> Result<Vec<i64>, sqlx::Error> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let status = |(u, _): &Row<'a>| u.status.as_ref();
        let check = |(u, _): &Row<'a>| u.check.as_ref();
        let pending = |(u, _): &Row<'a>| pending_of(u);
        sqlx::query_scalar(PG_UPDATE)
            .bind(array(rows, |(u, _)| u.domain_id))
            .bind(array(rows, |(u, _)| u.expected_version))
            .bind(array(rows, |r| status(r).is_some()))
            .bind(array(rows, |r| status(r).map(Json)))
            .bind(array(rows, |r| status(r).map(|s| s.state.as_str())))
            .bind(array(rows, |r| {
                status(r).and_then(|s| s.deadline).map(secs)
            }))
            .bind(array(rows, |r| status(r).and_then(|s| s.expires).map(secs)))
            .bind(array(rows, |r| check(r).is_some()))
            .bind(array(rows, |r| check(r).map(|c| secs(c.at))))
            .bind(array(rows, |r| check(r).map(|c| c.ok)))
            .bind(array(rows, |r| check(r).map(|c| c.transient)))
            .bind(array(rows, |r| check(r).map(|c| Json(&c.codes))))
            .bind(array(rows, |r| check(r).map(|c| Json(&c.warnings))))
            .bind(array(rows, |(_, result)| result.as_ref().map(|r| r.digest)))
            .bind(array(rows, |(u, _)| secs(u.next_check)))
            .bind(array(rows, |r| pending(r).0))
            .bind(array(rows, |r| pending(r).1.map(|p| p.sweep_id)))
            .bind(array(rows, |r| pending(r).1.map(|p| Json(&p.event))))
            .bind(secs(now))
            .bind(owner)
            .fetch_all(&mut **tx)
            .await
    }

    async fn insert_checks<'a>(
        tx: &'a mut sqlx::Transaction<'static, Self>,
        checks: &'a [CheckRow<'a>],
    ) -> Result<(), sqlx::Error> {
        if checks.is_empty() {
            return Ok(());
        }
        sqlx::query(PG_CHECKS)
            .bind(array(checks, |(u, _, _)| u.domain_id))
            .bind(array(checks, |(u, _, _)| u.sweep_id))
            .bind(array(checks, |(_, c, _)| secs(c.at)))
            .bind(array(checks, |(_, c, _)| c.ok))
            .bind(array(checks, |(_, c, _)| c.transient))
            .bind(array(checks, |(_, c, _)| Json(&c.codes)))
            .bind(array(checks, |(_, c, _)| Json(&c.warnings)))
            .bind(array(checks, |(_, _, r)| r.stored()))
            .bind(array(checks, |(_, _, r)| r.same()))
            .bind(array(checks, |(_, c, _)| c.previous_ok))
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::shaped_chunks;

    #[test]
    fn chunks_have_few_lengths_and_cover_everything_in_order() {
        let items: Vec<u32> = (0..500).collect();
        let lengths: Vec<usize> = shaped_chunks(&items, 888).map(<[u32]>::len).collect();
        assert_eq!(lengths, [256, 128, 64, 32, 16, 4]);
        let joined: Vec<u32> = shaped_chunks(&items, 888).flatten().copied().collect();
        assert_eq!(joined, items);
        let lengths: Vec<usize> = shaped_chunks(&items, 100).map(<[u32]>::len).collect();
        assert_eq!(lengths, [64, 64, 64, 64, 64, 64, 64, 32, 16, 4]);
        assert_eq!(shaped_chunks(&items[..1], 0).count(), 1);
        assert_eq!(shaped_chunks::<u32>(&[], 888).count(), 0);
    }
}

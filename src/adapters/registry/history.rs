//! History: checks, transitions, the outbox and alerts.

use jiff::Timestamp;
use sqlx::types::Json;

use super::domains::saturating_i64;
use super::error::Result;
use super::rows::{StoredCheck, outbox_columns, secs};
use super::{
    Alert, AlertKind, CheckRecord, OutboxFilter, OutboxItem, OutboxState, Registry, RegistryError,
    TransitionRecord, builder, with_pool,
};

impl Registry {
    /// A domain's latest checks, newest first, with their full results.
    ///
    /// A check whose result is the same as the domain's previous check's is stored
    /// without it, and read back with it: the result of the nearest earlier check (by
    /// identifier, the order they were committed in) that stored one.
    pub async fn checks(&self, domain_id: i64, limit: u64) -> Result<Vec<CheckRecord>> {
        const SQL: &str = "SELECT id, domain_id, sweep_id, at, ok, transient, codes, warnings, \
             result, same_result FROM checks WHERE domain_id = $1 \
             ORDER BY at DESC, id DESC LIMIT $2";
        // The stored results from the last one before `$3` up to `$2`: every result the
        // checks in between repeat.
        const STORED: &str = "SELECT id, result FROM checks WHERE domain_id = $1 \
             AND NOT same_result AND id < $2 AND id >= COALESCE((SELECT MAX(id) FROM checks \
             WHERE domain_id = $1 AND NOT same_result AND id < $3), 0) ORDER BY id";
        let stored: Vec<StoredCheck> = with_pool!(self, |pool| {
            sqlx::query_as(SQL)
                .bind(domain_id)
                .bind(saturating_i64(limit))
                .fetch_all(pool)
                .await
        })?;
        let repeats = stored.iter().filter(|c| c.same_result).map(|c| c.record.id);
        let (Some(first), Some(last)) = (repeats.clone().min(), repeats.max()) else {
            return Ok(stored.into_iter().map(|c| c.record).collect());
        };
        let results: Vec<(i64, Json<serde_json::Value>)> = with_pool!(self, |pool| {
            sqlx::query_as(STORED)
                .bind(domain_id)
                .bind(last)
                .bind(first)
                .fetch_all(pool)
                .await
        })?;
        Ok(stored
            .into_iter()
            .map(|check| {
                let mut record = check.record;
                if check.same_result {
                    let before = results.partition_point(|(id, _)| *id < record.id);
                    if let Some((_, Json(result))) = before.checked_sub(1).map(|i| &results[i]) {
                        record.result = result.clone();
                    }
                }
                record
            })
            .collect())
    }

    /// A domain's state changes, oldest first.
    pub async fn transitions(&self, domain_id: i64) -> Result<Vec<TransitionRecord>> {
        const SQL: &str = "SELECT id, domain_id, at, from_state, to_state, reason, actor \
             FROM transitions WHERE domain_id = $1 ORDER BY id";
        let transitions = with_pool!(self, |pool| {
            sqlx::query_as(SQL).bind(domain_id).fetch_all(pool).await
        })?;
        Ok(transitions)
    }

    /// The outbox items that match `filter`, oldest first.
    pub async fn outbox(&self, filter: &OutboxFilter) -> Result<Vec<OutboxItem>> {
        let items = with_pool!(self, |pool| {
            let mut query = builder(pool);
            query.push(concat!(
                "SELECT ",
                outbox_columns!(),
                " FROM outbox WHERE TRUE"
            ));
            if let Some(state) = filter.state {
                query.push(" AND state = ").push_bind(state.as_str());
            }
            if let Some(domain_id) = filter.domain_id {
                query.push(" AND domain_id = ").push_bind(domain_id);
            }
            if let Some(after) = filter.after_id {
                query.push(" AND id > ").push_bind(after);
            }
            query.push(" ORDER BY id LIMIT ");
            query.push_bind(filter.limit.map_or(i64::MAX, saturating_i64));
            query.build_query_as().fetch_all(pool).await
        })?;
        Ok(items)
    }

    /// Records a delivery attempt of an outbox item at `now`: its new state, when the
    /// recipient accepted it (kept if already known), and the error if it failed
    /// (cleared otherwise). Every call counts one attempt.
    pub async fn mark_outbox(
        &self,
        id: i64,
        now: Timestamp,
        state: OutboxState,
        accepted_at: Option<Timestamp>,
        error: Option<&str>,
    ) -> Result<()> {
        const SQL: &str = "UPDATE outbox SET state = $2, attempts = attempts + 1, \
             accepted_at = COALESCE($3, accepted_at), last_error = $4, updated = $5 \
             WHERE id = $1";
        let done = with_pool!(self, |pool| {
            sqlx::query(SQL)
                .bind(id)
                .bind(state.as_str())
                .bind(accepted_at.map(secs))
                .bind(error)
                .bind(secs(now))
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        if done == 0 {
            return Err(RegistryError::NotFound(format!("outbox item {id}")));
        }
        Ok(())
    }

    /// Raises an alert for the operators; returns its identifier.
    pub async fn add_alert(&self, now: Timestamp, kind: AlertKind, message: &str) -> Result<i64> {
        const SQL: &str = "INSERT INTO alerts (at, kind, message) VALUES ($1, $2, $3) \
             RETURNING id";
        let id = with_pool!(self, |pool| {
            sqlx::query_scalar(SQL)
                .bind(secs(now))
                .bind(kind.as_str())
                .bind(message)
                .fetch_one(pool)
                .await
        })?;
        Ok(id)
    }

    /// Raises an alert for the operators once per `key`: the alert and its outbox item
    /// (kind `alert`, for `payload["to"]`) in one transaction, unless an outbox item with
    /// that key exists already (raised before, by this process or another). Returns
    /// whether it was raised now.
    pub async fn raise_alert_once(
        &self,
        now: Timestamp,
        key: &str,
        kind: AlertKind,
        message: &str,
        payload: serde_json::Value,
    ) -> Result<bool> {
        const NOTICE: &str = "INSERT INTO outbox (domain_id, key, kind, payload, created, updated) \
             VALUES (NULL, $1, 'alert', $2, $3, $3) ON CONFLICT (key) DO NOTHING";
        const ALERT: &str = "INSERT INTO alerts (at, kind, message) VALUES ($1, $2, $3)";
        let backend = self.backend();
        let raised = with_pool!(self, |pool| {
            let mut tx = match backend {
                super::Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
                super::Backend::Postgres => pool.begin().await?,
            };
            let queued = sqlx::query(NOTICE)
                .bind(key)
                .bind(sqlx::types::Json(&payload))
                .bind(secs(now))
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if queued > 0 {
                sqlx::query(ALERT)
                    .bind(secs(now))
                    .bind(kind.as_str())
                    .bind(message)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(queued > 0)
        })?;
        Ok(raised)
    }

    /// How many alerts were ever raised.
    pub async fn alert_count(&self) -> Result<u64> {
        const SQL: &str = "SELECT COUNT(*) FROM alerts";
        let count: i64 = with_pool!(self, |pool| {
            sqlx::query_scalar(SQL).fetch_one(pool).await
        })?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// The latest alerts, newest first.
    pub async fn alerts(&self, limit: u64) -> Result<Vec<Alert>> {
        const SQL: &str = "SELECT id, at, kind, message FROM alerts \
             ORDER BY at DESC, id DESC LIMIT $1";
        let alerts = with_pool!(self, |pool| {
            sqlx::query_as(SQL)
                .bind(saturating_i64(limit))
                .fetch_all(pool)
                .await
        })?;
        Ok(alerts)
    }
}

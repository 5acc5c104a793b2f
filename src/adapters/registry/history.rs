//! History: checks, transitions, the outbox and alerts.

use jiff::Timestamp;

use super::domains::saturating_i64;
use super::error::Result;
use super::rows::{outbox_columns, secs};
use super::{
    Alert, CheckRecord, OutboxFilter, OutboxItem, OutboxState, Registry, RegistryError,
    TransitionRecord, builder, with_pool,
};

impl Registry {
    /// A domain's latest checks, newest first, with their full results.
    pub async fn checks(&self, domain_id: i64, limit: u64) -> Result<Vec<CheckRecord>> {
        const SQL: &str = "SELECT id, domain_id, sweep_id, at, ok, transient, codes, warnings, \
             result FROM checks WHERE domain_id = $1 ORDER BY at DESC, id DESC LIMIT $2";
        let checks = with_pool!(self, |pool| {
            sqlx::query_as(SQL)
                .bind(domain_id)
                .bind(saturating_i64(limit))
                .fetch_all(pool)
                .await
        })?;
        Ok(checks)
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
    pub async fn add_alert(&self, now: Timestamp, kind: &str, message: &str) -> Result<i64> {
        const SQL: &str = "INSERT INTO alerts (at, kind, message) VALUES ($1, $2, $3) \
             RETURNING id";
        let id = with_pool!(self, |pool| {
            sqlx::query_scalar(SQL)
                .bind(secs(now))
                .bind(kind)
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
        kind: &str,
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
                    .bind(kind)
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

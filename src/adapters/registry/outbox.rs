//! The notice sender's side of the registry: claiming due outbox items and recording
//! each attempt. A delivered notice about a domain is recorded with the domain's update
//! ([`DomainUpdate::deliveries`](super::DomainUpdate::deliveries)); the rest here.

use std::time::Duration;

use jiff::Timestamp;

use super::domains::saturating_i64;
use super::error::Result;
use super::rows::{outbox_columns, secs};
use super::{AlertKind, Backend, OutboxItem, OutboxKind, Registry, RegistryError, with_pool};

/// Claims up to `$4` pending items of the kinds `$5` (a JSON array) due at `$3` and not
/// claimed (or whose claim lapsed), oldest first, for `$1` until `$2`.
macro_rules! claim_outbox_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE outbox SET claim_owner = $1, claim_until = $2 WHERE id IN (",
            "SELECT id FROM outbox WHERE state = 'pending' ",
            "AND (next_attempt IS NULL OR next_attempt <= $3) ",
            "AND (claim_until IS NULL OR claim_until < $3) AND kind IN ($5, $6) ",
            "ORDER BY id LIMIT $4",
            $lock,
            ") RETURNING ",
            outbox_columns!()
        )
    };
}

/// The outcome of one delivery attempt that is not a delivered notice about a domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// Accepted by the mail server (an operator alert, or a notice whose domain is gone).
    Sent {
        /// When.
        accepted_at: Timestamp,
        /// The Message-ID it carried.
        message_id: String,
        /// The server's reply.
        reply: String,
    },
    /// A temporary failure (4xx, no connection): try again at `next_attempt`.
    Retry {
        /// What went wrong.
        error: String,
        /// The Message-ID it carried.
        message_id: String,
        /// Not before this.
        next_attempt: Timestamp,
    },
    /// A permanent failure (5xx, no recipient, a template that does not render): given
    /// up; operators see it among the failed notices.
    Failed {
        /// What went wrong.
        error: String,
        /// The Message-ID it carried, if a message was built.
        message_id: Option<String>,
    },
}

/// An operator alert about a domain (see [`Registry::alert_about_domain`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainAlert<'a> {
    /// The alert's kind.
    pub kind: AlertKind,
    /// The domain's id.
    pub domain_id: i64,
    /// The domain's name.
    pub domain: &'a str,
    /// Why, for people.
    pub reason: &'a str,
    /// The outbox key of the alert: raising the same alert twice queues it once.
    pub key: String,
}

impl Registry {
    /// Claims up to `limit` pending notices and alerts due at `now` for the sender
    /// `owner`, until `now + lease`, oldest first. Concurrent senders never get the same
    /// item while a claim lasts.
    pub async fn claim_outbox(
        &self,
        owner: &str,
        now: Timestamp,
        lease: Duration,
        limit: u64,
    ) -> Result<Vec<OutboxItem>> {
        let until = secs(now).saturating_add(i64::try_from(lease.as_secs()).unwrap_or(i64::MAX));
        let sql = match self.backend() {
            Backend::Sqlite => claim_outbox_sql!(""),
            Backend::Postgres => claim_outbox_sql!(" FOR UPDATE SKIP LOCKED"),
        };
        let mut items: Vec<OutboxItem> = with_pool!(self, |pool| {
            sqlx::query_as(sql)
                .bind(owner)
                .bind(until)
                .bind(secs(now))
                .bind(saturating_i64(limit))
                .bind(OutboxKind::Notice.as_str())
                .bind(OutboxKind::Alert.as_str())
                .fetch_all(pool)
                .await
        })?;
        items.sort_by_key(|item| item.id);
        Ok(items)
    }

    /// When the next pending notice or alert falls due (its next attempt, or now for a
    /// new one: the instant it was queued), whoever holds it; `None` when none is
    /// pending.
    pub async fn next_outbox_attempt(&self) -> Result<Option<Timestamp>> {
        const SQL: &str = "SELECT MIN(COALESCE(next_attempt, created)) FROM outbox \
             WHERE state = 'pending' AND kind IN ($1, $2)";
        let next: Option<i64> = with_pool!(self, |pool| {
            sqlx::query_scalar(SQL)
                .bind(OutboxKind::Notice.as_str())
                .bind(OutboxKind::Alert.as_str())
                .fetch_one(pool)
                .await
        })?;
        Ok(next.and_then(|secs| Timestamp::from_second(secs).ok()))
    }

    /// Records an attempt on an item `owner` claimed, and releases the claim. Returns
    /// `false` if the item is no longer `owner`'s (its claim lapsed and another sender
    /// took it): nothing is written then.
    pub async fn record_attempt(
        &self,
        id: i64,
        owner: &str,
        now: Timestamp,
        attempt: &Attempt,
    ) -> Result<bool> {
        const SQL: &str = "UPDATE outbox SET state = $3, accepted_at = $4, message_id = $5, \
             reply = COALESCE($6, reply), last_error = $7, next_attempt = $8, \
             attempts = attempts + 1, claim_owner = NULL, claim_until = NULL, updated = $9 \
             WHERE id = $1 AND claim_owner = $2";
        let (state, accepted, message_id, reply, error, next) = match attempt {
            Attempt::Sent {
                accepted_at,
                message_id,
                reply,
            } => (
                "sent",
                Some(secs(*accepted_at)),
                Some(message_id.as_str()),
                Some(reply.as_str()),
                None,
                None,
            ),
            Attempt::Retry {
                error,
                message_id,
                next_attempt,
            } => (
                "pending",
                None,
                Some(message_id.as_str()),
                None,
                Some(error.as_str()),
                Some(secs(*next_attempt)),
            ),
            Attempt::Failed { error, message_id } => (
                "failed",
                None,
                message_id.as_deref(),
                None,
                Some(error.as_str()),
                None,
            ),
        };
        let done = with_pool!(self, |pool| {
            sqlx::query(SQL)
                .bind(id)
                .bind(owner)
                .bind(state)
                .bind(accepted)
                .bind(message_id)
                .bind(reply)
                .bind(error)
                .bind(next)
                .bind(secs(now))
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(done > 0)
    }

    /// Puts a notice back in the queue to be sent again at once, as a new message (a new
    /// Message-ID: the recipient asked for it again). Refused while a sender holds it.
    pub async fn requeue_outbox(&self, id: i64, now: Timestamp) -> Result<OutboxItem> {
        const SQL: &str = concat!(
            "UPDATE outbox SET state = 'pending', next_attempt = NULL, message_id = NULL, ",
            "last_error = NULL, updated = $2 WHERE id = $1 ",
            "AND (claim_until IS NULL OR claim_until < $2) RETURNING ",
            outbox_columns!()
        );
        let item: Option<OutboxItem> = with_pool!(self, |pool| {
            sqlx::query_as(SQL)
                .bind(id)
                .bind(secs(now))
                .fetch_optional(pool)
                .await
        })?;
        match item {
            Some(item) => Ok(item),
            None => match self.outbox_item(id).await? {
                None => Err(RegistryError::NotFound(format!("outbox item {id}"))),
                Some(_) => Err(RegistryError::Invalid(format!(
                    "outbox item {id} is being sent right now; try again in a moment"
                ))),
            },
        }
    }

    /// The outbox item whose messages carried this Message-ID (`<…>`), if any.
    pub async fn outbox_by_message_id(&self, message_id: &str) -> Result<Option<OutboxItem>> {
        const SQL: &str = concat!(
            "SELECT ",
            outbox_columns!(),
            " FROM outbox WHERE message_id = $1 ORDER BY id DESC LIMIT 1"
        );
        let item = with_pool!(self, |pool| {
            sqlx::query_as(SQL)
                .bind(message_id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(item)
    }

    /// Raises an operator alert about a domain: a row of `alerts` (`kind`, `message`)
    /// and, in the same transaction, an outbox alert to `operators` (key `key`, unique:
    /// raising it again does nothing) naming the domain and the reason.
    pub async fn alert_about_domain(
        &self,
        now: Timestamp,
        alert: &DomainAlert<'_>,
        operators: &[String],
    ) -> Result<()> {
        const ROW: &str = "INSERT INTO alerts (at, kind, message) VALUES ($1, $2, $3)";
        const ITEM: &str = "INSERT INTO outbox (domain_id, key, kind, payload, created, updated) \
             VALUES ($1, $2, 'alert', $3, $4, $4) ON CONFLICT (key) DO NOTHING";
        let backend = self.backend();
        let payload = serde_json::json!({
            "alert": alert.kind,
            "domain": alert.domain,
            "reason": alert.reason,
            "to": operators,
        });
        let message = format!("{}: {}", alert.domain, alert.reason);
        with_pool!(self, |pool| {
            let mut tx = match backend {
                Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
                Backend::Postgres => pool.begin().await?,
            };
            sqlx::query(ROW)
                .bind(secs(now))
                .bind(alert.kind.as_str())
                .bind(&message)
                .execute(&mut *tx)
                .await?;
            sqlx::query(ITEM)
                .bind(alert.domain_id)
                .bind(alert.key.as_str())
                .bind(sqlx::types::Json(&payload))
                .bind(secs(now))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(())
        })?;
        Ok(())
    }

    /// One outbox item.
    pub async fn outbox_item(&self, id: i64) -> Result<Option<OutboxItem>> {
        const SQL: &str = concat!("SELECT ", outbox_columns!(), " FROM outbox WHERE id = $1");
        let item = with_pool!(self, |pool| {
            sqlx::query_as(SQL).bind(id).fetch_optional(pool).await
        })?;
        Ok(item)
    }
}

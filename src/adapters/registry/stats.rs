//! Counts and times for the web interface: health, metrics and the index's
//! `Last-Modified`.

use jiff::Timestamp;

use crate::lifecycle::State;

use super::error::Result;
use super::{OutboxKind, Registry, RegistryError, Sweep, SweepKind, builder, with_pool};

/// Finished sweeps of one kind: how many, and the latest.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepKindStats {
    /// The kind.
    pub kind: SweepKind,
    /// How many sweeps of this kind finished.
    pub finished: u64,
    /// The latest finished one.
    pub last: Sweep,
}

impl Registry {
    /// Asks the database something trivial: `Ok` when it answers.
    pub async fn ping(&self) -> Result<()> {
        let one: i64 = with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT CAST(1 AS BIGINT)")
                .fetch_one(pool)
                .await
        })?;
        if one != 1 {
            return Err(RegistryError::Database(format!(
                "the database answered {one} to SELECT 1"
            )));
        }
        Ok(())
    }

    /// How many outbox items there are of each kind (`notice`, `alert`, `publish`, …) in
    /// each state, sorted by kind and state.
    pub async fn outbox_counts(&self) -> Result<Vec<(String, String, u64)>> {
        const SQL: &str = "SELECT kind, state, COUNT(*) FROM outbox GROUP BY kind, state \
             ORDER BY kind, state";
        let rows: Vec<(String, String, i64)> =
            with_pool!(self, |pool| sqlx::query_as(SQL).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(kind, state, count)| (kind, state, u64::try_from(count).unwrap_or(0)))
            .collect())
    }

    /// When the oldest outbox item of `kind` still pending (not yet accepted, possibly
    /// deferred after temporary failures) was queued; `None` when none is pending.
    pub async fn oldest_pending_outbox(&self, kind: OutboxKind) -> Result<Option<Timestamp>> {
        const SQL: &str = "SELECT MIN(created) FROM outbox WHERE kind = $1 AND state = 'pending'";
        let oldest: Option<i64> = with_pool!(self, |pool| {
            sqlx::query_scalar(SQL)
                .bind(kind.as_str())
                .fetch_one(pool)
                .await
        })?;
        oldest
            .map(|secs| {
                Timestamp::from_second(secs)
                    .map_err(|e| RegistryError::Database(format!("bad stored time {secs}: {e}")))
            })
            .transpose()
    }

    /// For every kind of sweep that ever finished: how many finished and the latest one,
    /// sorted by kind.
    pub async fn sweep_kinds(&self) -> Result<Vec<SweepKindStats>> {
        const SQL: &str = "SELECT kind, COUNT(*), MAX(id) FROM sweeps \
             WHERE finished IS NOT NULL GROUP BY kind ORDER BY kind";
        let rows: Vec<(String, i64, i64)> =
            with_pool!(self, |pool| sqlx::query_as(SQL).fetch_all(pool).await)?;
        let mut kinds = Vec::with_capacity(rows.len());
        for (_, count, id) in rows {
            let Some(last) = self.sweep(id).await? else {
                continue;
            };
            kinds.push(SweepKindStats {
                kind: last.kind,
                finished: u64::try_from(count).unwrap_or(0),
                last,
            });
        }
        Ok(kinds)
    }

    /// The latest moment the set of domains the index lists ([`State::is_published`])
    /// is known to have changed: the newest transition into or out of a published state,
    /// or the registration of a domain that is published now, whichever is later
    /// (`None`: never). Registrations are counted even when the domain entered the
    /// registry in another state and was published later by a transition: that only makes
    /// the answer later than needed, never earlier.
    pub async fn index_changed_at(&self) -> Result<Option<Timestamp>> {
        let published: Vec<&str> = State::ALL
            .into_iter()
            .filter(|state| state.is_published())
            .map(State::as_str)
            .collect();
        let (transition, registration): (Option<i64>, Option<i64>) = with_pool!(self, |pool| {
            let mut query = builder(pool);
            query.push("SELECT (SELECT MAX(at) FROM transitions WHERE (from_state IN (");
            let mut list = query.separated(", ");
            for state in &published {
                list.push_bind(*state);
            }
            query.push(")) <> (to_state IN (");
            let mut list = query.separated(", ");
            for state in &published {
                list.push_bind(*state);
            }
            query.push("))), (SELECT MAX(created) FROM domains WHERE state IN (");
            let mut list = query.separated(", ");
            for state in &published {
                list.push_bind(*state);
            }
            query.push("))");
            query.build_query_as().fetch_one(pool).await
        })?;
        let latest = transition.max(registration);
        latest
            .map(|secs| {
                Timestamp::from_second(secs)
                    .map_err(|e| RegistryError::Database(format!("bad stored time {secs}: {e}")))
            })
            .transpose()
    }
}

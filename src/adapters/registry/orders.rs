//! Activation's records: orders, the mailboxes of certified domains, set-password links
//! and the recorded steps of each activation.
//!
//! The rules (who may order what, when a mailbox may exist, how a link is redeemed) are
//! in [`crate::activation`]; here is only storage, the same on SQLite and PostgreSQL.

use std::fmt;

use jiff::Timestamp;
use serde::Serialize;

use crate::name::DomainName;

use super::domains::saturating_i64;
use super::error::{Result, is_unique_violation};
use super::rows::{lang_code, parse_lang, secs};
use super::{Holder, Registry, RegistryError, with_pool};

// ---------------------------------------------------------------------------------------
// Orders
// ---------------------------------------------------------------------------------------

/// What is ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    /// The customer's own domain (or a subdomain of it): the customer points its DNS at
    /// the provider.
    Own,
    /// A subdomain of the provider's own zone (`acme.<internal zone>`): the provider
    /// writes its DNS.
    Internal,
}

impl OrderKind {
    /// The stable name (`own`, `internal`).
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderKind::Own => "own",
            OrderKind::Internal => "internal",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "own" => Some(OrderKind::Own),
            "internal" => Some(OrderKind::Internal),
            _ => None,
        }
    }
}

impl fmt::Display for OrderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Where an order stands. An approved order's progress is its domain's state (from
/// `pending_dns` to `certified`) and its recorded activation steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// Received, waiting for an operator's approval.
    Received,
    /// Approved: the domain is registered and its activation runs.
    Approved,
    /// Rejected by an operator (final).
    Rejected,
}

impl OrderState {
    /// The stable name (`received`, `approved`, `rejected`).
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderState::Received => "received",
            OrderState::Approved => "approved",
            OrderState::Rejected => "rejected",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "received" => Some(OrderState::Received),
            "approved" => Some(OrderState::Approved),
            "rejected" => Some(OrderState::Rejected),
            _ => None,
        }
    }
}

impl fmt::Display for OrderState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// An order to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOrder {
    /// The domain to certify.
    pub name: DomainName,
    /// Own domain or internal subdomain.
    pub kind: OrderKind,
    /// Who will hold it.
    pub holder: Holder,
    /// The reseller that sold it, if any (an e-mail address gets the notices' copies).
    pub reseller: Option<String>,
    /// The provider profile it will be checked against.
    pub profile: String,
    /// When the certification will expire, if known.
    pub expires: Option<Timestamp>,
}

/// A recorded order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Order {
    /// Its identifier.
    pub id: i64,
    /// The domain to certify.
    pub name: DomainName,
    /// Own domain or internal subdomain.
    pub kind: OrderKind,
    /// Who will hold it.
    pub holder: Holder,
    /// The reseller, if any.
    pub reseller: Option<String>,
    /// The provider profile.
    pub profile: String,
    /// When the certification will expire, if known.
    pub expires: Option<Timestamp>,
    /// Where it stands.
    pub state: OrderState,
    /// Why it was rejected, if it was.
    pub reason: Option<String>,
    /// Who approved or rejected it.
    pub actor: Option<String>,
    /// The registered domain, once approved.
    pub domain_id: Option<i64>,
    /// When it was received.
    pub created: Timestamp,
    /// When it last changed.
    pub updated: Timestamp,
}

const ORDER_COLUMNS: &str = "id, name, kind, holder_name, holder_email, holder_lang, reseller, \
     profile, expires, state, reason, actor, domain_id, created, updated";

/// An order as stored, in [`ORDER_COLUMNS`] order.
type OrderRow = (
    i64,
    String,
    String,
    Option<String>,
    String,
    String,
    Option<String>,
    String,
    Option<i64>,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    i64,
    i64,
);

fn time(column: &str, seconds: i64) -> Result<Timestamp> {
    Timestamp::from_second(seconds)
        .map_err(|e| RegistryError::Database(format!("bad {column} in the registry: {e}")))
}

fn order(row: OrderRow) -> Result<Order> {
    let (id, name, kind, holder_name, email, lang, reseller, profile, expires, state, reason) = (
        row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9, row.10,
    );
    let bad = |what: &str, value: &str| {
        RegistryError::Database(format!("bad {what} {value:?} in order {id}"))
    };
    Ok(Order {
        id,
        name: DomainName::parse(&name).map_err(|_| bad("name", &name))?,
        kind: OrderKind::parse(&kind).ok_or_else(|| bad("kind", &kind))?,
        holder: Holder {
            name: holder_name,
            email,
            lang: parse_lang(&lang).map_err(|_| bad("language", &lang))?,
        },
        reseller,
        profile,
        expires: expires.map(|s| time("expires", s)).transpose()?,
        state: OrderState::parse(&state).ok_or_else(|| bad("state", &state))?,
        reason,
        actor: row.11,
        domain_id: row.12,
        created: time("created", row.13)?,
        updated: time("updated", row.14)?,
    })
}

impl Registry {
    /// Records an order, `received`. Fails with [`RegistryError::Duplicate`] when the
    /// name is already registered as a domain or has an open (received or approved)
    /// order.
    pub async fn add_order(&self, new: &NewOrder, now: Timestamp) -> Result<Order> {
        let name = new.name.to_string();
        crate::contact::Contact::check(&new.holder, new.reseller.as_deref())
            .map_err(|error| RegistryError::Invalid(format!("{name}: {error}")))?;
        if self.domain(&new.name).await?.is_some() {
            return Err(RegistryError::Duplicate(name));
        }
        let sql = format!(
            "INSERT INTO orders (name, kind, holder_name, holder_email, holder_lang, reseller, \
             profile, expires, state, created, updated) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'received', $9, $9) RETURNING {ORDER_COLUMNS}"
        );
        let row: std::result::Result<OrderRow, sqlx::Error> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(&name)
                .bind(new.kind.as_str())
                .bind(new.holder.name.as_deref())
                .bind(&new.holder.email)
                .bind(lang_code(new.holder.lang))
                .bind(new.reseller.as_deref())
                .bind(&new.profile)
                .bind(new.expires.map(secs))
                .bind(secs(now))
                .fetch_one(pool)
                .await
        });
        match row {
            Ok(row) => order(row),
            Err(error) if is_unique_violation(&error) => Err(RegistryError::Duplicate(name)),
            Err(error) => Err(error.into()),
        }
    }

    /// One order.
    pub async fn order(&self, id: i64) -> Result<Option<Order>> {
        let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1");
        let row: Option<OrderRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        row.map(order).transpose()
    }

    /// The open or latest order for a name.
    pub async fn order_for(&self, name: &DomainName) -> Result<Option<Order>> {
        let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE name = $1 ORDER BY id DESC");
        let row: Option<OrderRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(name.as_str())
                .fetch_optional(pool)
                .await
        })?;
        row.map(order).transpose()
    }

    /// Orders, oldest first, optionally only those in `state`; at most `limit`.
    pub async fn orders(&self, state: Option<OrderState>, limit: u64) -> Result<Vec<Order>> {
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE ($1 IS NULL OR state = $1) \
             ORDER BY id LIMIT $2"
        );
        let rows: Vec<OrderRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(state.map(OrderState::as_str))
                .bind(saturating_i64(limit))
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(order).collect()
    }

    /// The approved orders whose activation is not finished (not yet `published`),
    /// oldest first.
    pub async fn open_activations(&self) -> Result<Vec<Order>> {
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders o WHERE state = 'approved' \
             AND domain_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM activation_steps s \
             WHERE s.domain_id = o.domain_id AND s.step = 'published') ORDER BY id"
        );
        let rows: Vec<OrderRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(order).collect()
    }

    /// Decides a `received` order: `approved` (with its registered domain) or
    /// `rejected` (with a reason). Fails with [`RegistryError::Conflict`] when the order
    /// is no longer `received`.
    pub async fn decide_order(
        &self,
        id: i64,
        state: OrderState,
        actor: &str,
        reason: Option<&str>,
        domain_id: Option<i64>,
        now: Timestamp,
    ) -> Result<Order> {
        let sql = format!(
            "UPDATE orders SET state = $2, actor = $3, reason = $4, domain_id = $5, updated = $6 \
             WHERE id = $1 AND state = 'received' RETURNING {ORDER_COLUMNS}"
        );
        let row: Option<OrderRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(id)
                .bind(state.as_str())
                .bind(actor)
                .bind(reason)
                .bind(domain_id)
                .bind(secs(now))
                .fetch_optional(pool)
                .await
        })?;
        match row {
            Some(row) => order(row),
            None if self.order(id).await?.is_some() => Err(RegistryError::Conflict),
            None => Err(RegistryError::NotFound(format!("order {id}"))),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Mailboxes and set-password links
// ---------------------------------------------------------------------------------------

/// A mailbox of a certified domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mailbox {
    /// Its identifier.
    pub id: i64,
    /// Its domain's identifier.
    pub domain_id: i64,
    /// `local@domain`, lower case.
    pub address: String,
    /// Whether its password has been set.
    pub has_password: bool,
    /// When it was created.
    pub created: Timestamp,
    /// When it last changed.
    pub updated: Timestamp,
}

const MAILBOX_COLUMNS: &str =
    "id, domain_id, address, password_hash IS NOT NULL AS has_password, created, updated";

type MailboxRow = (i64, i64, String, bool, i64, i64);

fn mailbox(row: MailboxRow) -> Result<Mailbox> {
    Ok(Mailbox {
        id: row.0,
        domain_id: row.1,
        address: row.2,
        has_password: row.3,
        created: time("created", row.4)?,
        updated: time("updated", row.5)?,
    })
}

/// Why a set-password link cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum LinkProblem {
    /// No such link (never issued, or its mailbox was removed).
    #[error("unknown link")]
    Unknown,
    /// It was used already.
    #[error("link already used")]
    Used,
    /// It expired.
    #[error("link expired")]
    Expired,
}

impl Registry {
    /// Adds a mailbox to a domain; `None` when the address exists already.
    pub async fn add_mailbox(
        &self,
        domain_id: i64,
        address: &str,
        now: Timestamp,
    ) -> Result<Option<Mailbox>> {
        let sql = format!(
            "INSERT INTO mailboxes (domain_id, address, created, updated) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (address) DO NOTHING RETURNING {MAILBOX_COLUMNS}"
        );
        let row: Option<MailboxRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(domain_id)
                .bind(address)
                .bind(secs(now))
                .fetch_optional(pool)
                .await
        })?;
        row.map(mailbox).transpose()
    }

    /// One mailbox, by address.
    pub async fn mailbox(&self, address: &str) -> Result<Option<Mailbox>> {
        let sql = format!("SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE address = $1");
        let row: Option<MailboxRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(address)
                .fetch_optional(pool)
                .await
        })?;
        row.map(mailbox).transpose()
    }

    /// The mailboxes of one domain, or of every domain, by address.
    pub async fn mailboxes(&self, domain_id: Option<i64>) -> Result<Vec<Mailbox>> {
        let sql = format!(
            "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE ($1 IS NULL OR domain_id = $1) \
             ORDER BY address"
        );
        let rows: Vec<MailboxRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(domain_id)
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(mailbox).collect()
    }

    /// Every mailbox address with its domain's name: what the mail servers' tables are
    /// built from.
    pub async fn mailbox_addresses(&self) -> Result<Vec<(String, String)>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT m.address, d.name FROM mailboxes m JOIN domains d ON d.id = m.domain_id",
            )
            .fetch_all(pool)
            .await
        })?)
    }

    /// A pair that changes whenever a mailbox is added, removed or changed: cheap to
    /// poll for changes.
    pub async fn mailboxes_fingerprint(&self) -> Result<(i64, i64)> {
        const SQL: &str = "SELECT COUNT(*), CAST(COALESCE(SUM(id + updated), 0) AS BIGINT) \
                           FROM mailboxes";
        Ok(with_pool!(self, |pool| sqlx::query_as(SQL)
            .fetch_one(pool)
            .await)?)
    }

    /// Removes a mailbox (and its links); whether it existed.
    pub async fn remove_mailbox(&self, address: &str) -> Result<bool> {
        let removed = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM mailboxes WHERE address = $1")
                .bind(address)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(removed > 0)
    }

    /// Stores a set-password link for a mailbox (only the token's hash), replacing any
    /// unused one: a mailbox has at most one usable link.
    pub async fn add_password_link(
        &self,
        mailbox_id: i64,
        token_hash: &str,
        now: Timestamp,
        expires: Timestamp,
    ) -> Result<()> {
        with_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM password_links WHERE mailbox_id = $1 AND used IS NULL")
                .bind(mailbox_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO password_links (mailbox_id, token_hash, created, expires) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(mailbox_id)
            .bind(token_hash)
            .bind(secs(now))
            .bind(secs(expires))
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        }
        .await)?;
        Ok(())
    }

    /// The mailbox a usable link (by its token's hash) sets the password of.
    pub async fn password_link(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<std::result::Result<Mailbox, LinkProblem>> {
        let row: Option<(i64, i64, Option<i64>)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT mailbox_id, expires, used FROM password_links WHERE token_hash = $1",
            )
            .bind(token_hash)
            .fetch_optional(pool)
            .await
        })?;
        let Some((mailbox_id, expires, used)) = row else {
            return Ok(Err(LinkProblem::Unknown));
        };
        if used.is_some() {
            return Ok(Err(LinkProblem::Used));
        }
        if expires <= secs(now) {
            return Ok(Err(LinkProblem::Expired));
        }
        let sql = format!("SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE id = $1");
        let row: Option<MailboxRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(mailbox_id)
                .fetch_optional(pool)
                .await
        })?;
        match row {
            Some(row) => Ok(Ok(mailbox(row)?)),
            None => Ok(Err(LinkProblem::Unknown)),
        }
    }

    /// Uses a link: marks it used and stores the password hash, atomically (a link
    /// raced by two requests sets the password once). Returns the mailbox.
    pub async fn redeem_password_link(
        &self,
        token_hash: &str,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<std::result::Result<Mailbox, LinkProblem>> {
        let claimed: Option<i64> = with_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            let claimed: Option<i64> = sqlx::query_scalar(
                "UPDATE password_links SET used = $2 \
                 WHERE token_hash = $1 AND used IS NULL AND expires > $2 RETURNING mailbox_id",
            )
            .bind(token_hash)
            .bind(secs(now))
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(mailbox_id) = claimed {
                sqlx::query("UPDATE mailboxes SET password_hash = $2, updated = $3 WHERE id = $1")
                    .bind(mailbox_id)
                    .bind(password_hash)
                    .bind(secs(now))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(claimed)
        }
        .await)?;
        match claimed {
            None => Ok(Err(self
                .password_link(token_hash, now)
                .await?
                .err()
                .unwrap_or(LinkProblem::Used))),
            Some(mailbox_id) => {
                let sql = format!("SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE id = $1");
                let row: MailboxRow = with_pool!(self, |pool| {
                    sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                        .bind(mailbox_id)
                        .fetch_one(pool)
                        .await
                })?;
                Ok(Ok(mailbox(row)?))
            }
        }
    }

    /// The stored password hash of a mailbox (for logging in), if set.
    pub async fn mailbox_password_hash(&self, address: &str) -> Result<Option<String>> {
        let hash: Option<Option<String>> = with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT password_hash FROM mailboxes WHERE address = $1")
                .bind(address)
                .fetch_optional(pool)
                .await
        })?;
        Ok(hash.flatten())
    }
}

// ---------------------------------------------------------------------------------------
// Activation steps
// ---------------------------------------------------------------------------------------

/// One recorded step of a domain's activation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    /// Which step (`dns_provisioned`, `certified`, `published`, `postmaster`, …).
    pub step: String,
    /// When it was done.
    pub at: Timestamp,
    /// What it did.
    pub detail: String,
}

impl Registry {
    /// Records a step of a domain's activation, once: `false` if it was recorded
    /// already (the first record stays).
    pub async fn record_step(
        &self,
        domain_id: i64,
        step: &str,
        at: Timestamp,
        detail: &str,
    ) -> Result<bool> {
        let added = with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO activation_steps (domain_id, step, at, detail) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (domain_id, step) DO NOTHING",
            )
            .bind(domain_id)
            .bind(step)
            .bind(secs(at))
            .bind(detail)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(added > 0)
    }

    /// A domain's recorded activation steps, in order.
    pub async fn steps(&self, domain_id: i64) -> Result<Vec<Step>> {
        let rows: Vec<(String, i64, String)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT step, at, detail FROM activation_steps WHERE domain_id = $1 \
                 ORDER BY at, step",
            )
            .bind(domain_id)
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter()
            .map(|(step, at, detail)| {
                Ok(Step {
                    step,
                    at: time("at", at)?,
                    detail,
                })
            })
            .collect()
    }
}

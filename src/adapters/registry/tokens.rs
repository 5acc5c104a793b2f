//! API tokens: the credentials of machines calling the web API (`Authorization: Bearer
//! …`).
//!
//! A token is 256 random bits, shown once when it is made; the registry keeps only its
//! SHA-256 ([`crate::web::token_hash`]), its name, its [`Role`], when it was made,
//! when it was last used (to the minute) and when it was revoked. A revoked token stays
//! listed and no longer authenticates; its name can be given to a new token.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::Serialize;

use super::error::{Result, is_unique_violation};
use super::rows::secs;
use super::{Registry, RegistryError, with_pool};

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Role {
    /// Every call, the operator's actions included.
    #[serde(rename = "operator")]
    Operator,
    /// Reading only: `GET` and `HEAD`.
    #[serde(rename = "read-only")]
    ReadOnly,
}

impl Role {
    /// The stored name: `operator` or `read-only`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::ReadOnly => "read-only",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = RegistryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "operator" => Ok(Role::Operator),
            "read-only" | "readonly" | "read_only" => Ok(Role::ReadOnly),
            other => Err(RegistryError::Invalid(format!(
                "unknown role {other:?} (expected operator or read-only)"
            ))),
        }
    }
}

/// A token as the registry knows it (never the token itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    /// Its identifier.
    pub id: i64,
    /// Its name (who or what uses it), unique among the tokens that work.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it was made.
    pub created: Timestamp,
    /// When it was last used, to the minute; `None` if never.
    pub last_used: Option<Timestamp>,
    /// When it was revoked; `None` while it works.
    pub revoked: Option<Timestamp>,
}

/// The columns an [`ApiToken`] is read from, in [`TokenRow`]'s order.
const TOKEN_COLUMNS: &str = "id, name, role, created, last_used, revoked";

/// A token as stored: `(id, name, role, created, last_used, revoked)`.
type TokenRow = (i64, String, String, i64, Option<i64>, Option<i64>);

/// How often `last_used` is written: at most once a minute per token, so that a busy
/// client does not turn every request into a write.
const TOUCH_EVERY_SECS: i64 = 60;

fn token((id, name, role, created, last_used, revoked): TokenRow) -> Result<ApiToken> {
    let time = |secs: i64| {
        Timestamp::from_second(secs)
            .map_err(|e| RegistryError::Database(format!("API token {id}: bad time {secs}: {e}")))
    };
    Ok(ApiToken {
        id,
        role: role
            .parse()
            .map_err(|e| RegistryError::Database(format!("API token {id}: {e}")))?,
        name,
        created: time(created)?,
        last_used: last_used.map(time).transpose()?,
        revoked: revoked.map(time).transpose()?,
    })
}

impl Registry {
    /// Records a new token by the SHA-256 of its secret. Fails with
    /// [`RegistryError::Duplicate`] if a working token already has this name, and with
    /// [`RegistryError::Invalid`] for an empty name or one with control characters.
    pub async fn add_token(
        &self,
        name: &str,
        role: Role,
        hash: &str,
        now: Timestamp,
    ) -> Result<ApiToken> {
        let name = name.trim();
        if name.is_empty() || name.chars().any(char::is_control) || name.chars().count() > 100 {
            return Err(RegistryError::Invalid(format!(
                "invalid token name {name:?}: 1 to 100 characters, no control characters"
            )));
        }
        let sql = format!(
            "INSERT INTO api_tokens (name, role, hash, created) VALUES ($1, $2, $3, $4) \
             RETURNING {TOKEN_COLUMNS}"
        );
        let row: std::result::Result<TokenRow, sqlx::Error> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(name)
                .bind(role.as_str())
                .bind(hash)
                .bind(secs(now))
                .fetch_one(pool)
                .await
        });
        match row {
            Ok(row) => token(row),
            Err(e) if is_unique_violation(&e) => {
                Err(RegistryError::Duplicate(format!("API token {name:?}")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Every token, working or revoked, oldest first.
    pub async fn tokens(&self) -> Result<Vec<ApiToken>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY id");
        let rows: Vec<TokenRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(token).collect()
    }

    /// The working (not revoked) token whose secret has this SHA-256, if any.
    pub async fn token_by_hash(&self, hash: &str) -> Result<Option<ApiToken>> {
        let sql =
            format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE hash = $1 AND revoked IS NULL");
        let row: Option<TokenRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(hash)
                .fetch_optional(pool)
                .await
        })?;
        row.map(token).transpose()
    }

    /// Records that the token was used at `now`, unless that was already recorded less
    /// than a minute before (one write a minute at most, however busy the client).
    pub async fn touch_token(&self, id: i64, now: Timestamp) -> Result<()> {
        const SQL: &str = "UPDATE api_tokens SET last_used = $2 \
             WHERE id = $1 AND (last_used IS NULL OR last_used <= $3)";
        with_pool!(self, |pool| {
            sqlx::query(SQL)
                .bind(id)
                .bind(secs(now))
                .bind(secs(now) - TOUCH_EVERY_SECS)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Revokes the working token with this name, or the token with this identifier
    /// (`#12` or `12` when no working token is named so). Fails with
    /// [`RegistryError::NotFound`] when there is none; revoking a revoked token changes
    /// nothing and returns it.
    pub async fn revoke_token(&self, name_or_id: &str, now: Timestamp) -> Result<ApiToken> {
        let text = name_or_id.trim();
        let by_name = format!(
            "UPDATE api_tokens SET revoked = $2 WHERE name = $1 AND revoked IS NULL \
             RETURNING {TOKEN_COLUMNS}"
        );
        let row: Option<TokenRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(by_name.as_str()))
                .bind(text)
                .bind(secs(now))
                .fetch_optional(pool)
                .await
        })?;
        if let Some(row) = row {
            return token(row);
        }
        let Ok(id) = text.trim_start_matches('#').parse::<i64>() else {
            return Err(RegistryError::NotFound(format!("API token {text:?}")));
        };
        let by_id = format!(
            "UPDATE api_tokens SET revoked = COALESCE(revoked, $2) WHERE id = $1 \
             RETURNING {TOKEN_COLUMNS}"
        );
        let row: Option<TokenRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(by_id.as_str()))
                .bind(id)
                .bind(secs(now))
                .fetch_optional(pool)
                .await
        })?;
        row.map(token)
            .transpose()?
            .ok_or_else(|| RegistryError::NotFound(format!("API token {text:?}")))
    }
}

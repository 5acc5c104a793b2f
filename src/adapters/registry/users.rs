//! The operators' web console: its users and their sessions, and the few reads the
//! console needs that the rest of pecwatch does not (a page of domains with its total,
//! the errors of the checks by day).
//!
//! A user's password is stored only as an argon2id PHC string (hashing and verifying are
//! in [`crate::web::hash_password`]); a session only as the SHA-256 of its identifier, so
//! a copy of the database opens no session. Tables: `users`, `sessions` (migration 0007).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::Serialize;

use crate::lifecycle::State;

use super::domains::saturating_i64;
use super::error::{Result, is_unique_violation};
use super::rows::{domain_columns, secs};
use super::{Domain, Registry, RegistryError, builder, with_pool};

/// What a user of the console may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Role {
    /// Sees everything and acts (approve, reject, renew, recheck, exceptions, orders).
    #[serde(rename = "operator")]
    Operator,
    /// Sees everything, acts on nothing.
    #[serde(rename = "read-only")]
    ReadOnly,
}

impl Role {
    /// Both roles.
    pub const ALL: [Role; 2] = [Role::Operator, Role::ReadOnly];

    /// The stored name (`operator`, `read-only`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::ReadOnly => "read-only",
        }
    }

    /// Whether the role may change anything.
    pub const fn can_act(self) -> bool {
        matches!(self, Role::Operator)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = RegistryError;

    fn from_str(text: &str) -> Result<Self> {
        match text.trim() {
            "operator" => Ok(Role::Operator),
            "read-only" | "readonly" | "read_only" => Ok(Role::ReadOnly),
            other => Err(RegistryError::Invalid(format!(
                "unknown role {other:?}: expected operator or read-only"
            ))),
        }
    }
}

/// A user of the console.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    /// The registry's identifier.
    pub id: i64,
    /// The name used to sign in (lower case).
    pub name: String,
    /// What the user may do.
    pub role: Role,
    /// When the user was added.
    pub created: Timestamp,
    /// The latest successful sign-in.
    pub last_login: Option<Timestamp>,
}

/// A user with what signing in needs: the password hash and the recent failures.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user.
    pub user: User,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// Consecutive failed sign-ins since the latest success.
    pub failed_logins: u64,
    /// The latest failed sign-in.
    pub last_failed: Option<Timestamp>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password_hash", &"***")
            .field("failed_logins", &self.failed_logins)
            .field("last_failed", &self.last_failed)
            .finish()
    }
}

/// A session to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSession {
    /// SHA-256 of the session's identifier, lower-case hex.
    pub id_hash: String,
    /// Whose session.
    pub user_id: i64,
    /// The CSRF token of the session's forms.
    pub csrf: String,
    /// When it opens.
    pub created: Timestamp,
    /// When it ends.
    pub expires: Timestamp,
}

/// An open session and its user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 of the session's identifier.
    pub id_hash: String,
    /// The user.
    pub user: User,
    /// The CSRF token of the session's forms.
    pub csrf: String,
    /// When it opened.
    pub created: Timestamp,
    /// When it ends.
    pub expires: Timestamp,
}

/// Which domains a console page lists: all filters are optional and combine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DomainQuery {
    /// Only domains in this state.
    pub state: Option<State>,
    /// Only domains checked against this profile.
    pub profile: Option<String>,
    /// Only domains whose name contains this text (case-insensitive), or whose holder's
    /// e-mail address does.
    pub search: Option<String>,
    /// At most this many domains.
    pub limit: u64,
    /// Skip this many first.
    pub offset: u64,
}

/// The failing checks of one day (UTC), by error code.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DayErrors {
    /// The day, as days since 1970-01-01 (UTC).
    pub day: i64,
    /// Failing checks that reported each code.
    pub codes: BTreeMap<String, u64>,
}

/// The row a [`User`] is read from: id, name, role, created, last_login.
type UserRow = (i64, String, String, i64, Option<i64>);
const USER_COLUMNS: &str = "users.id, users.name, users.role, users.created, users.last_login";

fn time(column: &str, secs: i64) -> Result<Timestamp> {
    Timestamp::from_second(secs)
        .map_err(|e| RegistryError::Database(format!("bad stored time in {column}: {e}")))
}

fn user((id, name, role, created, last_login): UserRow) -> Result<User> {
    Ok(User {
        id,
        name,
        role: role
            .parse()
            .map_err(|e| RegistryError::Database(format!("user {id}: {e}")))?,
        created: time("users.created", created)?,
        last_login: last_login
            .map(|secs| time("users.last_login", secs))
            .transpose()?,
    })
}

/// Checks a user name: 1 to 64 characters, lower-case letters, digits and `. _ - @`.
/// Returns it lower-cased and trimmed.
pub fn normalize_user_name(name: &str) -> Result<String> {
    let name = name.trim().to_lowercase();
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if valid {
        Ok(name)
    } else {
        Err(RegistryError::Invalid(format!(
            "invalid user name {name:?}: 1 to 64 letters, digits, '.', '_', '-' or '@'"
        )))
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl Registry {
    // -----------------------------------------------------------------------------------
    // Users
    // -----------------------------------------------------------------------------------

    /// Adds a user. Fails with [`RegistryError::Duplicate`] if the name is taken, and
    /// with [`RegistryError::Invalid`] for a bad name or a hash that is not argon2id.
    pub async fn add_user(
        &self,
        name: &str,
        role: Role,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<User> {
        let name = normalize_user_name(name)?;
        check_hash(password_hash)?;
        let sql = format!(
            "INSERT INTO users (name, role, password_hash, created, updated) \
             VALUES ($1, $2, $3, $4, $4) RETURNING {USER_COLUMNS}"
        );
        let added: std::result::Result<UserRow, sqlx::Error> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(&name)
                .bind(role.as_str())
                .bind(password_hash)
                .bind(secs(now))
                .fetch_one(pool)
                .await
        });
        match added {
            Ok(row) => user(row),
            Err(error) if is_unique_violation(&error) => Err(RegistryError::Duplicate(name)),
            Err(error) => Err(error.into()),
        }
    }

    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY name");
        let rows: Vec<UserRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(user).collect()
    }

    /// A user and what signing in needs, by name (any case).
    pub async fn credentials(&self, name: &str) -> Result<Option<Credentials>> {
        let Ok(name) = normalize_user_name(name) else {
            return Ok(None);
        };
        let sql = format!(
            "SELECT {USER_COLUMNS}, password_hash, failed_logins, last_failed \
             FROM users WHERE name = $1"
        );
        type Row = (
            i64,
            String,
            String,
            i64,
            Option<i64>,
            String,
            i64,
            Option<i64>,
        );
        let row: Option<Row> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(&name)
                .fetch_optional(pool)
                .await
        })?;
        let Some((id, name, role, created, last_login, hash, failed, last_failed)) = row else {
            return Ok(None);
        };
        Ok(Some(Credentials {
            user: user((id, name, role, created, last_login))?,
            password_hash: hash,
            failed_logins: u64::try_from(failed).unwrap_or(0),
            last_failed: last_failed
                .map(|secs| time("users.last_failed", secs))
                .transpose()?,
        }))
    }

    /// Removes a user and closes their sessions. Fails with [`RegistryError::NotFound`]
    /// if there is no such user.
    pub async fn remove_user(&self, name: &str) -> Result<()> {
        let name = normalize_user_name(name)?;
        let removed = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE name = $1)",
            )
            .bind(&name)
            .execute(&mut *tx)
            .await?;
            let done = sqlx::query("DELETE FROM users WHERE name = $1")
                .bind(&name)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(done.rows_affected())
        })?;
        if removed == 0 {
            return Err(RegistryError::NotFound(format!("user {name}")));
        }
        Ok(())
    }

    /// Replaces a user's password hash, clears the failed sign-ins and closes the user's
    /// sessions.
    pub async fn set_password(
        &self,
        name: &str,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<()> {
        let name = normalize_user_name(name)?;
        check_hash(password_hash)?;
        let changed = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "UPDATE users SET password_hash = $2, updated = $3, failed_logins = 0, \
                 last_failed = NULL WHERE name = $1",
            )
            .bind(&name)
            .bind(password_hash)
            .bind(secs(now))
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE name = $1)",
            )
            .bind(&name)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(done.rows_affected())
        })?;
        if changed == 0 {
            return Err(RegistryError::NotFound(format!("user {name}")));
        }
        Ok(())
    }

    /// Records a failed sign-in of the user: one more consecutive failure, at `now`.
    pub async fn record_login_failure(&self, user_id: i64, now: Timestamp) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE users SET failed_logins = failed_logins + 1, last_failed = $2 \
                 WHERE id = $1",
            )
            .bind(user_id)
            .bind(secs(now))
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(())
    }

    /// Records a successful sign-in: the failures are forgotten.
    pub async fn record_login(&self, user_id: i64, now: Timestamp) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query("UPDATE users SET failed_logins = 0, last_login = $2 WHERE id = $1")
                .bind(user_id)
                .bind(secs(now))
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(())
    }

    // -----------------------------------------------------------------------------------
    // Sessions
    // -----------------------------------------------------------------------------------

    /// Opens a session (and forgets the sessions that have ended).
    pub async fn open_session(&self, session: &NewSession) -> Result<()> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM sessions WHERE expires <= $1")
                .bind(secs(session.created))
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO sessions (id_hash, user_id, csrf, created, expires) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&session.id_hash)
            .bind(session.user_id)
            .bind(&session.csrf)
            .bind(secs(session.created))
            .bind(secs(session.expires))
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        })?;
        Ok(())
    }

    /// The session with this identifier hash, if it is open at `now`.
    pub async fn session(&self, id_hash: &str, now: Timestamp) -> Result<Option<Session>> {
        let sql = format!(
            "SELECT {USER_COLUMNS}, sessions.csrf, sessions.created, sessions.expires \
             FROM sessions JOIN users ON users.id = sessions.user_id \
             WHERE sessions.id_hash = $1 AND sessions.expires > $2"
        );
        type Row = (i64, String, String, i64, Option<i64>, String, i64, i64);
        let row: Option<Row> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(id_hash)
                .bind(secs(now))
                .fetch_optional(pool)
                .await
        })?;
        let Some((id, name, role, user_created, last_login, csrf, created, expires)) = row else {
            return Ok(None);
        };
        Ok(Some(Session {
            id_hash: id_hash.to_owned(),
            user: user((id, name, role, user_created, last_login))?,
            csrf,
            created: time("sessions.created", created)?,
            expires: time("sessions.expires", expires)?,
        }))
    }

    /// Closes a session (signing out). Closing one that is not open is not an error.
    pub async fn close_session(&self, id_hash: &str) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                .bind(id_hash)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(())
    }

    // -----------------------------------------------------------------------------------
    // What the console reads
    // -----------------------------------------------------------------------------------

    /// A page of the domains that match `query`, by name, and how many match in all.
    pub async fn domain_page(&self, query: &DomainQuery) -> Result<(Vec<Domain>, u64)> {
        let (domains, total): (Vec<Domain>, i64) = with_pool!(self, |pool| {
            let mut select = builder(pool);
            select.push(concat!(
                "SELECT ",
                domain_columns!(),
                " FROM domains WHERE TRUE"
            ));
            let mut count = builder(pool);
            count.push("SELECT COUNT(*) FROM domains WHERE TRUE");
            for q in [&mut select, &mut count] {
                if let Some(state) = query.state {
                    q.push(" AND state = ").push_bind(state.as_str().to_owned());
                }
                if let Some(profile) = &query.profile {
                    q.push(" AND profile = ").push_bind(profile.clone());
                }
                if let Some(text) = query.search.as_deref().filter(|t| !t.trim().is_empty()) {
                    let pattern = like_pattern(text);
                    q.push(" AND (name LIKE ")
                        .push_bind(pattern.clone())
                        .push(" ESCAPE '\\' OR LOWER(holder_email) LIKE ")
                        .push_bind(pattern)
                        .push(" ESCAPE '\\')");
                }
            }
            select.push(" ORDER BY name LIMIT ");
            select.push_bind(saturating_i64(query.limit.max(1)));
            select.push(" OFFSET ");
            select.push_bind(saturating_i64(query.offset));
            let domains = select.build_query_as().fetch_all(pool).await?;
            let total = count.build_query_scalar().fetch_one(pool).await?;
            Ok::<_, sqlx::Error>((domains, total))
        })?;
        Ok((domains, u64::try_from(total).unwrap_or(0)))
    }

    /// The distinct profiles of the registered domains, sorted.
    pub async fn domain_profiles(&self) -> Result<Vec<String>> {
        let profiles: Vec<String> = with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT DISTINCT profile FROM domains ORDER BY profile")
                .fetch_all(pool)
                .await
        })?;
        Ok(profiles)
    }

    /// The failing checks since `since`, by day (UTC) and error code, oldest day first;
    /// days without failures are left out.
    pub async fn errors_by_day(&self, since: Timestamp) -> Result<Vec<DayErrors>> {
        const SQL: &str = "SELECT at / 86400, CAST(codes AS TEXT), COUNT(*) FROM checks \
             WHERE at >= $1 AND ok = FALSE GROUP BY 1, 2";
        let rows: Vec<(i64, String, i64)> = with_pool!(self, |pool| {
            sqlx::query_as(SQL).bind(secs(since)).fetch_all(pool).await
        })?;
        let mut days: BTreeMap<i64, DayErrors> = BTreeMap::new();
        for (day, codes, count) in rows {
            let codes: Vec<String> = serde_json::from_str(&codes)
                .map_err(|e| RegistryError::Database(format!("bad stored codes {codes:?}: {e}")))?;
            let entry = days.entry(day).or_insert_with(|| DayErrors {
                day,
                codes: BTreeMap::new(),
            });
            for code in codes {
                *entry.codes.entry(code).or_default() += u64::try_from(count).unwrap_or(0);
            }
        }
        Ok(days.into_values().collect())
    }
}

/// Refuses to store anything but an argon2id PHC string.
fn check_hash(hash: &str) -> Result<()> {
    if hash.starts_with("$argon2id$") {
        Ok(())
    } else {
        Err(RegistryError::Invalid(
            "a password must be stored as an argon2id hash".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("admin".parse::<Role>().is_err());
        assert_eq!(normalize_user_name(" Mario.Rossi ").unwrap(), "mario.rossi");
        for bad in ["", "a b", "x'--", &"a".repeat(65), "<b>"] {
            assert!(normalize_user_name(bad).is_err(), "{bad}");
        }
        assert_eq!(like_pattern("a_b%"), "%a\\_b\\%%");
    }
}

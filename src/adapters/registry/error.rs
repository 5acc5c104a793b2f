//! Registry errors, and keeping passwords out of them.

/// Why a registry operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The database could not be reached or failed (the message says which database,
    /// without its password, and why).
    #[error("{0}")]
    Database(String),
    /// The domain, sweep or outbox item does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A domain with that name is already registered.
    #[error("already registered: {0}")]
    Duplicate(String),
    /// The domain changed since it was read (its version moved on): reload it and retry.
    #[error("the domain was changed by someone else in the meantime; reload it and try again")]
    Conflict,
    /// The request makes no sense (a bad URL, an invalid value).
    #[error("{0}")]
    Invalid(String),
    /// Something stored cannot be read back (damaged, or written by a version that knew
    /// more): the registry's fault, not the request's.
    #[error("{0}")]
    Unreadable(String),
}

/// The registry's result type.
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

impl From<sqlx::Error> for RegistryError {
    fn from(error: sqlx::Error) -> Self {
        RegistryError::Database(describe(&error))
    }
}

/// A one-line description of a database error for people.
pub(crate) fn describe(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::PoolTimedOut => {
            "database error: timed out waiting for a connection (is the database reachable?)"
                .to_owned()
        }
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => format!("database error: {} (code {code})", db.message()),
            None => format!("database error: {}", db.message()),
        },
        other => format!("database error: {other}"),
    }
}

/// Whether an error is worth retrying the whole transaction for: a PostgreSQL deadlock or
/// serialization failure, which roll the transaction back and leave nothing half-done.
pub(crate) fn is_retryable(error: &sqlx::Error) -> bool {
    let code = error.as_database_error().and_then(|db| db.code());
    matches!(code.as_deref(), Some("40P01" | "40001"))
}

/// Whether an error is a violated unique constraint.
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|db| db.is_unique_violation())
}

/// A database URL fit for messages and logs.
pub use crate::settings::redact_url;

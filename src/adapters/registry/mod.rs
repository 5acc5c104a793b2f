//! The registry: the certified domains, their lifecycle and their history, stored in
//! SQLite (the default, `sqlite://pecwatch.db`) or PostgreSQL (`postgres://…`) with one
//! behaviour.
//!
//! # Shape
//!
//! [`Registry`] is an enum over the two connection pools; every method runs the same SQL
//! on either (`$1` placeholders work on both), written once and expanded for each pool by
//! a small macro. Times are stored as Unix epoch seconds. A domain's lifecycle status
//! ([`DomainStatus`](crate::lifecycle::DomainStatus)) is stored whole as JSON, with its
//! state, deadline and expiry copied into columns for filtering.
//!
//! # The sweep
//!
//! Workers share the due domains through *leases*: [`Registry::claim_due`] atomically
//! marks up to `limit` due, unleased domains as theirs until a moment (PostgreSQL:
//! `FOR UPDATE SKIP LOCKED`; SQLite: one `UPDATE … RETURNING`, which holds the write
//! lock). A dead worker's leases lapse and another worker takes the domains over. A sweep's
//! claims ([`Registry::claim_due_in`]) pass over the domains checked since it started, so
//! no domain is checked twice in one sweep. One more lease, by name in the `leases` table
//! ([`Registry::hold_lease`]), elects the one `pecwatch serve` process that runs the
//! schedule (starts the sweeps); the others join them.
//!
//! The results go back in batches through [`Registry::commit_batch`], one transaction per
//! batch: the checks, the transitions, the side effects (into the `outbox`) and the new
//! status of every domain are written together, or not at all. Each update names the
//! domain version it was computed from and is skipped if the domain moved on (optimistic
//! concurrency), so a batch retried after a crash cannot apply a transition twice, and
//! every side effect has a unique key, so it is queued at most once. Killing the process
//! at any moment therefore loses at most the uncommitted checks, which the next sweep
//! repeats once the leases lapse.
//!
//! # Tables
//!
//! `domains` (with the lease and version), `checks` (every check, its full result as JSON
//! when it differs from the domain's previous one),
//! `transitions`, `outbox` (side effects: `pending` → `sent` | `failed`), `sweeps` and
//! `alerts`; the console's `users` and `sessions` ([`users`]). The migrations are in `migrations/sqlite/` and `migrations/postgres/` and
//! are compiled into the binary; [`Registry::open`] applies the missing ones.

mod config;
mod domains;
mod error;
mod history;
pub mod index;
mod orders;
mod outbox;
mod rows;
mod schema;
mod stats;
mod sweeps;
pub mod tokens;
mod types;
pub mod users;
mod work;

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, Database, Pool, QueryBuilder, SqlSafeStr};

pub use config::DatabaseConfig;
pub use error::{RegistryError, Result, redact_url};
pub use orders::{LinkProblem, Mailbox, NewOrder, Order, OrderKind, OrderState, Step};
pub use outbox::{Attempt, DomainAlert};
pub use schema::{MigrationState, SchemaStatus};
pub use stats::SweepKindStats;
pub use sweeps::SweepTally;
pub use types::{
    Alert, AlertKind, BatchOutcome, CheckRecord, CheckSummary, Delivery, Domain, DomainFilter,
    DomainUpdate, Holder, Lease, NewCheck, NewDomain, NewEffect, OutboxFilter, OutboxItem,
    OutboxKind, OutboxState, PendingChange, PendingCheck, ResultJson, Sweep, SweepKind,
    TransitionRecord,
};

/// Connections per pool for a SQLite file (readers run in parallel under WAL; writers
/// take turns).
const SQLITE_CONNECTIONS: u32 = 4;
/// Connections per pool for PostgreSQL.
const POSTGRES_CONNECTIONS: u32 = 8;
/// How long a SQLite writer waits for another to finish before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for a connection from the pool (or to the server).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The SQLite migrations, compiled in.
const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "registry",
        include_str!("../../../migrations/sqlite/0001_registry.sql"),
    ),
    (
        2,
        "sweeps",
        include_str!("../../../migrations/sqlite/0002_sweeps.sql"),
    ),
    (
        3,
        "notices",
        include_str!("../../../migrations/sqlite/0003_notices.sql"),
    ),
    (
        4,
        "index",
        include_str!("../../../migrations/sqlite/0004_index.sql"),
    ),
    (
        5,
        "orders",
        include_str!("../../../migrations/sqlite/0005_orders.sql"),
    ),
    (
        6,
        "api_tokens",
        include_str!("../../../migrations/sqlite/0006_api_tokens.sql"),
    ),
    (
        7,
        "console",
        include_str!("../../../migrations/sqlite/0007_console.sql"),
    ),
    (
        8,
        "workers",
        include_str!("../../../migrations/sqlite/0008_workers.sql"),
    ),
    (
        9,
        "check_results",
        include_str!("../../../migrations/sqlite/0009_check_results.sql"),
    ),
    (
        10,
        "sweep_writes",
        include_str!("../../../migrations/sqlite/0010_sweep_writes.sql"),
    ),
];
/// The PostgreSQL migrations, compiled in.
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "registry",
        include_str!("../../../migrations/postgres/0001_registry.sql"),
    ),
    (
        2,
        "sweeps",
        include_str!("../../../migrations/postgres/0002_sweeps.sql"),
    ),
    (
        3,
        "notices",
        include_str!("../../../migrations/postgres/0003_notices.sql"),
    ),
    (
        4,
        "index",
        include_str!("../../../migrations/postgres/0004_index.sql"),
    ),
    (
        5,
        "orders",
        include_str!("../../../migrations/postgres/0005_orders.sql"),
    ),
    (
        6,
        "api_tokens",
        include_str!("../../../migrations/postgres/0006_api_tokens.sql"),
    ),
    (
        7,
        "console",
        include_str!("../../../migrations/postgres/0007_console.sql"),
    ),
    (
        8,
        "workers",
        include_str!("../../../migrations/postgres/0008_workers.sql"),
    ),
    (
        9,
        "check_results",
        include_str!("../../../migrations/postgres/0009_check_results.sql"),
    ),
    (
        10,
        "sweep_writes",
        include_str!("../../../migrations/postgres/0010_sweep_writes.sql"),
    ),
];

/// The store of domains and their history: a SQLite or PostgreSQL connection pool.
///
/// Cloning is cheap and shares the pool.
#[derive(Clone, Debug)]
pub enum Registry {
    /// A SQLite database file (or an in-memory database, for tests).
    Sqlite(SqlitePool),
    /// A PostgreSQL database.
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the registry's pool, whichever backend it is: the
/// body is expanded once per backend, so it is type-checked against both.
macro_rules! with_pool {
    ($registry:expr, |$pool:ident| $body:expr) => {
        match $registry {
            $crate::registry::Registry::Sqlite($pool) => $body,
            $crate::registry::Registry::Postgres($pool) => $body,
        }
    };
}
use with_pool;

/// An empty query builder for the pool's database (so the body of [`with_pool`] need not
/// name the database type).
fn builder<DB: Database>(_pool: &Pool<DB>) -> QueryBuilder<DB> {
    QueryBuilder::default()
}

/// Which database a registry uses, for the few statements that differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Registry {
    /// Opens the registry at `url` and brings its schema up to date:
    ///
    /// - `sqlite://PATH` (relative) or `sqlite:///ABSOLUTE/PATH`: a SQLite file, created
    ///   if missing with mode 0600 (its directory must exist), in WAL mode with
    ///   `synchronous=NORMAL`;
    /// - `sqlite::memory:`: a private in-memory database (tests);
    /// - `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?…]` (or `postgresql://`).
    ///
    /// Errors name the database without its password.
    pub async fn open(url: &str) -> Result<Self> {
        let registry = Self::connect(url).await?;
        registry.migrate().await?;
        Ok(registry)
    }

    /// Opens the registry at `url` like [`open`](Self::open) but leaves its schema as it
    /// is: for `pecwatch db status` and `pecwatch doctor`, which only look.
    pub async fn connect(url: &str) -> Result<Self> {
        let registry = if url.starts_with("sqlite:") {
            open_sqlite(url).await?
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            open_postgres(url).await?
        } else {
            return Err(RegistryError::Invalid(format!(
                "unsupported database URL {}: use sqlite://PATH or postgres://USER@HOST/DATABASE",
                redact_url(url)
            )));
        };
        tracing::debug!(url = %redact_url(url), "opened the registry");
        Ok(registry)
    }

    /// Applies the migrations the database lacks (idempotent; [`open`](Self::open) does
    /// it). On PostgreSQL concurrent callers take turns through an advisory lock.
    pub async fn migrate(&self) -> Result<()> {
        let migrations = self.known_migrations();
        let migrator = Migrator::with_migrations(
            migrations
                .iter()
                .map(|&(version, description, sql)| {
                    Migration::new(
                        version,
                        description.into(),
                        MigrationType::Simple,
                        sql.into_sql_str(),
                        false,
                    )
                })
                .collect(),
        );
        let result = with_pool!(self, |pool| migrator.run(pool).await);
        result.map_err(|e| {
            RegistryError::Database(format!("cannot bring the database schema up to date: {e}"))
        })
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        match self {
            Registry::Sqlite(_) => Backend::Sqlite,
            Registry::Postgres(_) => Backend::Postgres,
        }
    }

    /// Closes the pool, waiting for the connections in use to be returned.
    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await);
    }
}

/// The error for a database that cannot be opened.
fn cannot_connect(url: &str, detail: impl std::fmt::Display) -> RegistryError {
    RegistryError::Database(format!(
        "cannot connect to the database at {}: {detail}",
        redact_url(url)
    ))
}

/// Why a connection failed, for people: the server's own message (`role "x" does not
/// exist`), or the error followed by its causes when the top line is vague ("error
/// communicating with database: Connection refused (os error 111)").
fn connect_failure(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) => db.message().to_owned(),
        other => with_causes(other),
    }
}

/// An error's message followed by the messages of its causes.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !message.contains(&cause_text) {
            message = format!("{message}: {cause_text}");
        }
        source = cause.source();
    }
    message
}

/// Opens and closes one connection, to report why a database cannot be reached: the
/// pool would keep retrying until its timeout and then only say that it timed out.
async fn probe<C: Connection>(url: &str, options: &C::Options) -> Result<()> {
    let connection = C::connect_with(options)
        .await
        .map_err(|e| cannot_connect(url, connect_failure(&e)))?;
    // Closing cleanly is a courtesy; the connection is dropped either way.
    let _ = connection.close().await;
    Ok(())
}

async fn open_sqlite(url: &str) -> Result<Registry> {
    let options = SqliteConnectOptions::from_str(url).map_err(|e| {
        RegistryError::Invalid(format!("invalid database URL {}: {e}", redact_url(url)))
    })?;
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    let options = options
        .create_if_missing(true)
        .foreign_keys(true)
        .busy_timeout(SQLITE_BUSY_TIMEOUT);
    let pool_options = SqlitePoolOptions::new().acquire_timeout(ACQUIRE_TIMEOUT);
    let (options, pool_options) = if in_memory {
        // One connection, kept forever: the database lives as long as it does.
        let pool_options = pool_options
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None);
        (options, pool_options)
    } else {
        let file = options.get_filename();
        if let Some(dir) = file.parent().filter(|dir| !dir.as_os_str().is_empty())
            && !dir.is_dir()
        {
            return Err(cannot_connect(
                url,
                format_args!("the directory {} does not exist", dir.display()),
            ));
        }
        create_private(file).map_err(|e| {
            cannot_connect(url, format_args!("cannot create {}: {e}", file.display()))
        })?;
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal);
        (options, pool_options.max_connections(SQLITE_CONNECTIONS))
    };
    if !in_memory {
        probe::<sqlx::SqliteConnection>(url, &options).await?;
    }
    let pool = pool_options
        .connect_with(options)
        .await
        .map_err(|e| cannot_connect(url, connect_failure(&e)))?;
    Ok(Registry::Sqlite(pool))
}

/// Creates a missing SQLite file readable and writable by its owner only (0600,
/// whatever the umask): it holds password hashes, sessions' CSRF tokens and the holders'
/// data. SQLite gives its `-wal` and `-shm` files the main file's permissions. An
/// existing file others may read is left as it is, with a warning.
fn create_private(file: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
    {
        // The umask can only take bits away: set the mode exactly.
        Ok(created) => created.set_permissions(std::fs::Permissions::from_mode(0o600)),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            let mode = std::fs::metadata(file)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    file = %file.display(),
                    mode = format!("{mode:o}"),
                    "the registry's SQLite file can be read by other users: chmod 600 it \
                     (and its -wal and -shm files)"
                );
            }
            Ok(())
        }
        Err(error) => Err(error),
    }
}

async fn open_postgres(url: &str) -> Result<Registry> {
    let options = PgConnectOptions::from_str(url).map_err(|e| {
        RegistryError::Invalid(format!("invalid database URL {}: {e}", redact_url(url)))
    })?;
    probe::<sqlx::PgConnection>(url, &options).await?;
    let pool = PgPoolOptions::new()
        .max_connections(POSTGRES_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(|e| cannot_connect(url, connect_failure(&e)))?;
    Ok(Registry::Postgres(pool))
}

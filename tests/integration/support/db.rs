//! Fresh registries for tests, on both backends: a SQLite file in a temporary directory,
//! or a new schema on the PostgreSQL server at `PECWATCH_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`), which must be running.

use std::future::Future;
use std::panic::{AssertUnwindSafe, resume_unwind};
use std::sync::atomic::{AtomicU32, Ordering};

use futures::FutureExt;
use jiff::Timestamp;
use pecwatch::registry::{Backend, Registry};
use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgPool, PgPoolOptions};
use tempfile::TempDir;

/// A fresh registry, and the URL to open more on the same database.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    pub registry: Registry,
}

/// What to remove once a test is over.
pub enum Cleanup {
    /// The SQLite file's directory.
    Dir(TempDir),
    /// The PostgreSQL schema.
    Schema { admin: PgPool, schema: String },
}

pub fn postgres_url() -> String {
    std::env::var("PECWATCH_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A schema name no other test (in this run or a crashed earlier one) uses.
fn unique_schema() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = Timestamp::now().subsec_nanosecond();
    format!(
        "pecwatch_test_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub async fn create(backend: Backend) -> (TestDb, Cleanup) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temporary directory");
            let url = format!("sqlite://{}", dir.path().join("registry.db").display());
            let registry = Registry::open(&url).await.expect("open SQLite registry");
            let db = TestDb {
                backend,
                url,
                registry,
            };
            (db, Cleanup::Dir(dir))
        }
        Backend::Postgres => {
            let base = postgres_url();
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .connect(&base)
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "the registry tests need PostgreSQL at {base} (PECWATCH_TEST_POSTGRES): {e}"
                    )
                });
            let schema = unique_schema();
            sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&admin)
                .await
                .expect("create schema");
            let separator = if base.contains('?') { '&' } else { '?' };
            let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
            let registry = Registry::open(&url)
                .await
                .expect("open PostgreSQL registry");
            let db = TestDb {
                backend,
                url,
                registry,
            };
            (db, Cleanup::Schema { admin, schema })
        }
    }
}

impl Cleanup {
    pub async fn run(self) {
        match self {
            Cleanup::Dir(dir) => drop(dir),
            Cleanup::Schema { admin, schema } => {
                let dropped = sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                    .execute(&admin)
                    .await;
                if let Err(e) = dropped {
                    eprintln!("could not drop schema {schema}: {e}");
                }
                admin.close().await;
            }
        }
    }
}

/// Runs `test` on a fresh SQLite registry, then on a fresh PostgreSQL one, cleaning up
/// after each even if the test fails.
pub async fn on_both<F, Fut>(test: F)
where
    F: Fn(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let (db, cleanup) = create(backend).await;
        let registry = db.registry.clone();
        let outcome = AssertUnwindSafe(test(db)).catch_unwind().await;
        registry.close().await;
        cleanup.run().await;
        if let Err(panic) = outcome {
            eprintln!("registry test failed on {backend:?}");
            resume_unwind(panic);
        }
    }
}

//! Upgrades keep the data: a registry written by the previous schema (the committed
//! fixtures of `tests/fixtures/upgrade/`, made by `scripts/upgrade-fixtures` with every
//! kind of data) is brought up to date by `pecwatch db migrate`, and every row is still
//! there. Whatever migrations this program has beyond the fixture's are the ones applied:
//! a future migration is exercised by this test without changing it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;
use sqlx::Row;

use crate::support::cli::pecwatch;
use crate::support::db::postgres_url;
use crate::support::lab::{lab_profile, repo};

/// When the fixture's `domains list` was taken.
const LISTED_AT: &str = "2026-12-02T04:00:00+01:00";

fn fixtures() -> PathBuf {
    repo().join("tests/fixtures/upgrade")
}

/// The migration versions this program has (from `migrations/sqlite/`).
fn known_versions() -> Vec<i64> {
    let mut versions: Vec<i64> = std::fs::read_dir(repo().join("migrations/sqlite"))
        .unwrap()
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.split('_').next()?.parse().ok()
        })
        .collect();
    versions.sort_unstable();
    versions
}

/// The table row counts the fixture was made with.
fn expected_counts(backend: &str) -> BTreeMap<String, i64> {
    std::fs::read_to_string(fixtures().join(format!("{backend}.counts")))
        .unwrap()
        .lines()
        .filter_map(|line| {
            let (table, count) = line.split_once('\t')?;
            Some((table.to_owned(), count.trim().parse().ok()?))
        })
        .collect()
}

/// Runs pecwatch on the registry at `now`, with the lab's profile; returns stdout.
fn run(url: &str, now: &str, args: &[&str], expected: &[i32]) -> String {
    let profile = lab_profile().display().to_string();
    let output = pecwatch(
        url,
        Some(now),
        args,
        &[("PECWATCH_PROFILES_ARUBA", &profile)],
    )
    .output()
    .expect("run pecwatch");
    let code = output.status.code().unwrap_or(-1);
    assert!(
        expected.contains(&code),
        "pecwatch {args:?} exit {code}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The upgrade, the same on both databases: `count` gives a table's rows.
async fn upgrade_and_find_every_row<F, Fut>(url: &str, backend: &str, count: F)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = i64>,
{
    let now = LISTED_AT;
    // Before: the fixture lacks the newest migrations, and says so.
    let status: Value =
        serde_json::from_str(&run(url, now, &["db", "status", "--format", "json"], &[0])).unwrap();
    let pending: Vec<i64> = status["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["applied_at"].is_null())
        .map(|m| m["version"].as_i64().unwrap())
        .collect();
    let applied: Vec<i64> = status["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| !m["applied_at"].is_null())
        .map(|m| m["version"].as_i64().unwrap())
        .collect();
    let last_applied = *applied.iter().max().unwrap();
    let known = known_versions();
    let newer: Vec<i64> = known
        .iter()
        .copied()
        .filter(|v| *v > last_applied)
        .collect();
    assert!(
        !newer.is_empty(),
        "the fixture is not older than the schema: {status}"
    );
    assert_eq!(pending, newer, "{status}");
    assert_eq!(status["up_to_date"], false);

    // The upgrade.
    let migrated: Value =
        serde_json::from_str(&run(url, now, &["db", "migrate", "--format", "json"], &[0])).unwrap();
    assert_eq!(migrated["up_to_date"], true, "{migrated}");
    assert_eq!(
        migrated["applied_now"].as_array().unwrap().len(),
        newer.len(),
        "{migrated}"
    );
    let again = run(url, now, &["db", "migrate"], &[0]);
    assert!(again.contains("Schema aggiornato."), "{again}");

    // Every row of every table is still there.
    for (table, expected) in expected_counts(backend) {
        assert_eq!(
            count(table.clone()).await,
            expected,
            "rows of {table} on {backend}"
        );
    }
    // And the commands find them.
    let listed = run(url, now, &["domains", "list", "--format", "json"], &[0]);
    let expected = std::fs::read_to_string(fixtures().join("domains.json")).unwrap();
    let parse = |text: &str| -> Vec<Value> {
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    assert_eq!(parse(&listed), parse(&expected));
    let states: Vec<String> = parse(&listed)
        .iter()
        .map(|d| d["state"].as_str().unwrap().to_owned())
        .collect();
    for state in [
        "pending_dns",
        "certified",
        "in_error",
        "removed",
        "under_review",
        "expired",
    ] {
        assert!(
            states.iter().any(|s| s == state),
            "no {state} domain: {states:?}"
        );
    }
    let shown: Value = serde_json::from_str(&run(
        url,
        now,
        &["domains", "show", "pec.nomx.it", "--format", "json"],
        &[0],
    ))
    .unwrap();
    assert!(
        shown.to_string().contains("removed") && shown.to_string().contains("in_error"),
        "history of pec.nomx.it: {shown}"
    );
    let notices = run(url, now, &["notices", "list", "--format", "json"], &[0]);
    assert_eq!(
        notices.lines().count() as i64,
        expected_counts(backend)["outbox"]
    );
    let orders = run(url, now, &["orders", "list"], &[0]);
    for name in [
        "pec.acme.cliente.it",
        "pec.attesa.cliente.it",
        "pec.revisione.it",
    ] {
        assert!(orders.contains(name), "{orders}");
    }
    let users = run(url, now, &["users", "list"], &[0]);
    assert!(
        users.contains("mario.rossi") && users.contains("lucia"),
        "{users}"
    );
    let tokens = run(url, now, &["tokens", "list"], &[0]);
    assert!(
        tokens.contains("crm") && tokens.contains("grafana"),
        "{tokens}"
    );
    let mailboxes = run(url, now, &["mailboxes", "list"], &[0]);
    assert!(mailboxes.contains("mario@pec.ok.it"), "{mailboxes}");
    let diff = run(url, now, &["index", "diff"], &[0, 1]);
    assert!(!diff.is_empty());

    // The upgraded registry works on: the next sweep runs (and uses what the new
    // migrations added).
    let summary = run(
        url,
        "2026-12-03T03:00:00+01:00",
        &["sweep", "--format", "json"],
        &[0, 1],
    );
    let summary: Value = serde_json::from_str(summary.trim()).unwrap();
    assert!(summary["checked"].as_u64().unwrap_or(0) > 0, "{summary}");
}

#[tokio::test]
async fn sqlite_registry_of_the_previous_schema_upgrades_with_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("registry.db");
    std::fs::copy(fixtures().join("registry.sqlite"), &file).unwrap();
    let url = format!("sqlite://{}", file.display());
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    upgrade_and_find_every_row(&url, "sqlite", |table| {
        let pool = pool.clone();
        async move {
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(&pool)
                .await
                .unwrap()
                .get::<i64, _>(0)
        }
    })
    .await;
    pool.close().await;
}

#[tokio::test]
async fn postgres_registry_of_the_previous_schema_upgrades_with_every_row() {
    let base = postgres_url();
    let schema = format!(
        "pecwatch_upgrade_{}_{}",
        std::process::id(),
        jiff::Timestamp::now().subsec_nanosecond()
    );
    let dump = std::fs::read_to_string(fixtures().join("registry.postgres.sql"))
        .unwrap()
        .replace("pecwatch_upgrade_fixture", &schema);
    let mut psql = Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", &base])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("run psql");
    psql.stdin
        .take()
        .unwrap()
        .write_all(dump.as_bytes())
        .unwrap();
    assert!(
        psql.wait().unwrap().success(),
        "psql could not load the dump"
    );
    let url = format!("{base}?options=-c%20search_path%3D{schema}");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
        upgrade_and_find_every_row(&url, "postgres", |table| {
            let pool = pool.clone();
            async move {
                sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                    .fetch_one(&pool)
                    .await
                    .unwrap()
                    .get::<i64, _>(0)
            }
        }),
    ))
    .await;
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&pool)
        .await;
    pool.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

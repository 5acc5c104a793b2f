//! `pecwatch db backup`: a SQLite registry copied while a sweep is writing to it (on the
//! lab) is a consistent registry: used as the database, it has the same domains and
//! history up to the moment of the copy, and its next sweep finishes the interrupted one
//! to the same result as the original's.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::Row;
use sqlx::sqlite::{SqlitePool, SqlitePoolOptions};

use crate::support::cli::{pecwatch, run};
use crate::support::lab::lab_profile;

const NOW: &str = "2026-11-23T03:00:00+01:00";

async fn pool(url: &str) -> SqlitePool {
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap()
}

async fn scalar(pool: &SqlitePool, sql: &'static str) -> i64 {
    sqlx::query(sql).fetch_one(pool).await.unwrap().get(0)
}

/// Every domain's checks (the check ids and the codes found), by domain.
async fn history(pool: &SqlitePool) -> BTreeMap<String, Vec<(i64, String)>> {
    let rows = sqlx::query(
        "SELECT d.name, c.id, c.codes FROM checks c JOIN domains d ON d.id = c.domain_id \
         ORDER BY d.name, c.id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut history: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for row in rows {
        history
            .entry(row.get(0))
            .or_default()
            .push((row.get(1), row.get(2)));
    }
    history
}

fn domains_list(url: &str, env: &[(&str, &str)]) -> Vec<Value> {
    let output = run(url, NOW, &["domains", "list", "--format", "json"], env, 0);
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test]
async fn backup_during_a_sweep_restores_and_sweeps_on() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("registry.db").display());
    let profile = lab_profile().display().to_string();
    // One query at a time, so that the sweep lasts long enough to be caught running.
    let env = [
        ("PECWATCH_PROFILES_ARUBA", profile.as_str()),
        ("PECWATCH_DNS_CONCURRENCY", "1"),
        ("PECWATCH_SWEEP_BATCH_SIZE", "20"),
    ];
    let mut csv = String::from("domain,holder_email,expires\n");
    for name in [
        "pec.ok.it",
        "pec.own.it",
        "pec.nomx.it",
        "pec.wronga.it",
        "pec.cname.it",
    ] {
        csv.push_str(&format!("{name},titolare@esempio.it,2027-06-30\n"));
    }
    for n in 0..600 {
        csv.push_str(&format!("pec{n}.ok.it,titolare@esempio.it,2027-06-30\n"));
    }
    let file = dir.path().join("domains.csv");
    std::fs::write(&file, csv).unwrap();
    run(
        &url,
        NOW,
        &["domains", "import", file.to_str().unwrap()],
        &env,
        0,
    );

    // The sweep runs; the copy is taken once it has committed some checks.
    let original = pool(&url).await;
    let mut sweep = pecwatch(&url, Some(NOW), &["sweep", "--format", "json"], &env)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while scalar(&original, "SELECT COUNT(*) FROM checks").await < 40 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the sweep did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let copy = dir.path().join("copia.db");
    run(
        &url,
        NOW,
        &["db", "backup", copy.to_str().unwrap()],
        &env,
        0,
    );
    let status = sweep.wait().unwrap();
    assert!(matches!(status.code(), Some(0 | 1)), "{status:?}");

    // A second backup into the same file is refused: nothing is overwritten.
    let size = std::fs::metadata(&copy).unwrap().len();
    let refused = run(
        &url,
        NOW,
        &["db", "backup", copy.to_str().unwrap()],
        &env,
        2,
    );
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("already exists"),
        "{refused:?}"
    );
    assert_eq!(std::fs::metadata(&copy).unwrap().len(), size);

    // The copy, used as the database: caught in the middle of the sweep, with the same
    // domains and, for each, the beginning of the original's history.
    let restored_url = format!("sqlite://{}", copy.display());
    let restored = pool(&restored_url).await;
    assert_eq!(
        scalar(
            &restored,
            "SELECT COUNT(*) FROM sweeps WHERE finished IS NULL"
        )
        .await,
        1,
        "the copy was not taken during the sweep"
    );
    let copied_checks = scalar(&restored, "SELECT COUNT(*) FROM checks").await;
    assert!(copied_checks >= 40, "{copied_checks}");
    assert!(copied_checks < scalar(&original, "SELECT COUNT(*) FROM checks").await);
    let before = history(&restored).await;
    let after = history(&original).await;
    for (name, checks) in &before {
        assert_eq!(
            &after[name][..checks.len()],
            checks.as_slice(),
            "history of {name}"
        );
    }
    let names = |list: &[Value]| -> Vec<String> {
        list.iter()
            .map(|d| d["domain"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(&domains_list(&restored_url, &env)),
        names(&domains_list(&url, &env))
    );

    // The next sweep on the copy, once the dead sweep's leases lapse, finishes the
    // interrupted one: same result.
    let later = "2026-11-23T03:11:00+01:00";
    run(
        &restored_url,
        later,
        &["sweep", "--format", "json"],
        &env,
        1,
    );
    assert_eq!(
        scalar(
            &restored,
            "SELECT COUNT(*) FROM sweeps WHERE finished IS NULL"
        )
        .await,
        0
    );
    let strip = |list: Vec<Value>| -> Vec<Value> {
        list.into_iter()
            .map(|mut d| {
                // The times of the checks depend on when they ran; the rest must match.
                if let Some(check) = d.get_mut("last_check").and_then(Value::as_object_mut) {
                    check.remove("at");
                }
                if let Some(domain) = d.as_object_mut() {
                    domain.remove("next_check");
                }
                d
            })
            .collect()
    };
    assert_eq!(
        strip(domains_list(&restored_url, &env)),
        strip(domains_list(&url, &env))
    );
    let restored_history = history(&restored).await;
    for (name, checks) in &after {
        let codes = |c: &[(i64, String)]| c.iter().map(|(_, c)| c.clone()).collect::<Vec<_>>();
        assert_eq!(
            codes(&restored_history[name]),
            codes(checks),
            "history of {name} after the next sweep"
        );
    }
    restored.close().await;
    original.close().await;
}

//! `pecwatch sweep` and `pecwatch serve` end to end: the real binary, the real DNS lab,
//! SQLite and PostgreSQL, and time driven by `PECWATCH_NOW`.
//!
//! - `a_thirty_day_story`: break a domain, fix it, break it past its deadline, fix it
//!   after removal, approve it, let it expire; on both backends.
//! - canaries and the share rule hold a sweep: results recorded, no state change, alert.
//! - `a_killed_sweep_loses_and_repeats_nothing`: SIGKILL at random moments of two sweeps
//!   over 2,000 domains (in the checks and in the applied changes); after the restarts
//!   every check, transition and notice exists once.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use pecwatch::lifecycle::State;
use pecwatch::name::DomainName;
use pecwatch::registry::{Domain, DomainFilter, OutboxFilter, Registry};
use serde_json::Value;

use crate::support::cli::{pecwatch, run};
use crate::support::db::{TestDb, on_both};
use crate::support::lab::{Lab, lab};
use crate::support::smtp::SmtpServer;

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

/// `pecwatch sweep --format json` at `now`: the summary.
fn sweep(url: &str, now: &str, env: &[(&str, &str)], expected: i32) -> Value {
    let output = run(url, now, &["sweep", "--format", "json"], env, expected);
    serde_json::from_slice(&output.stdout).expect("the summary is JSON")
}

/// `pecwatch domains show DOMAIN --format json` at `now`.
fn show(url: &str, now: &str, domain: &str) -> Value {
    let output = run(
        url,
        now,
        &["domains", "show", domain, "--format", "json"],
        &[],
        0,
    );
    serde_json::from_slice(&output.stdout).expect("show prints JSON")
}

fn add(url: &str, now: &str, domain: &str, expires: &str) {
    run(
        url,
        now,
        &[
            "domains",
            "add",
            domain,
            "--holder-email",
            &format!("titolare@{domain}"),
            "--expires",
            expires,
        ],
        &[],
        0,
    );
}

/// The outbox items of a domain, as `kind/what` (the last part of their key).
async fn notices(registry: &Registry, domain: &Domain) -> Vec<String> {
    registry
        .outbox(&OutboxFilter {
            domain_id: Some(domain.id),
            ..OutboxFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|item| {
            let what = item.key.rsplit('/').next().unwrap_or_default().to_owned();
            format!("{}/{what}", item.kind)
        })
        .collect()
}

async fn domain(registry: &Registry, name: &str) -> Domain {
    registry
        .domain(&DomainName::parse(name).unwrap())
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{name} is registered"))
}

/// Breaks (`true`) or restores `pec.story.it` on both of its servers: the MX is replaced
/// by a TXT record (the name stays, without MX), or the zone is reloaded from its file.
fn set_story_broken(lab: &Lab, broken: bool) {
    for server in ["ns1", "ns2"] {
        if broken {
            lab.knotc(server, &["zone-begin", "story.it"]);
            lab.knotc(server, &["zone-unset", "story.it", "pec", "MX"]);
            lab.knotc(
                server,
                &["zone-set", "story.it", "pec", "60", "TXT", "no MX"],
            );
            lab.knotc(server, &["zone-commit", "story.it"]);
        } else {
            lab.knotc(server, &["-b", "zone-reload", "story.it"]);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The 30-day story
// ---------------------------------------------------------------------------------------

/// Day `day` of December 2026 at `time`, Rome (CET, +01:00).
fn dec(day: u32, time: &str) -> String {
    format!("2026-12-{day:02}T{time}:00+01:00")
}

#[tokio::test]
async fn a_thirty_day_story() {
    on_both(story).await;
}

async fn story(db: TestDb) {
    let lab = lab();
    let url = db.url.as_str();
    let r = &db.registry;
    set_story_broken(lab, false);
    // Notices go to a real SMTP server; the 7 days run from their acceptance.
    let smtp = SmtpServer::start();
    let relay = smtp.url();
    let env = [("PECWATCH_SMTP_URL", relay.as_str())];
    // A cron-like day: the sweep, then the notices it queued.
    let day = |now: &str| {
        let summary = sweep(url, now, &env, 0);
        run(url, now, &["notices", "send"], &env, 0);
        summary
    };

    // Day 1: two certified domains; the story's expires on 29 December.
    add(url, &dec(1, "02:00"), "pec.story.it", "2026-12-29");
    add(url, &dec(1, "02:00"), "pec.ok.it", "2027-12-31");
    let day1 = day(&dec(1, "03:00"));
    assert_eq!(
        (day1["checked"].as_u64(), day1["ok"].as_u64()),
        (Some(2), Some(2))
    );
    let story = domain(r, "pec.story.it").await;
    // 29 December is less than 30 days away: the first warning goes out at once.
    assert_eq!(notices(r, &story).await, ["notice/expiry_warning_30"]);

    // Day 2: broken. A first failure is not yet an error...
    set_story_broken(lab, true);
    let first = day(&dec(2, "03:00"));
    assert_eq!(first["failed"], 1);
    assert_eq!(first["codes"]["MX_NON_DEFINITO"], 1);
    assert_eq!(
        show(url, &dec(2, "03:01"), "pec.story.it")["state"],
        "certified"
    );
    // ... the re-check an hour later confirms it: in_error, 7 days from the notice.
    let confirmed = day(&dec(2, "04:00"));
    assert_eq!(
        confirmed["checked"], 1,
        "only the domain awaiting confirmation is due"
    );
    assert_eq!(confirmed["new_errors"], 1);
    let shown = show(url, &dec(2, "04:01"), "pec.story.it");
    assert_eq!(shown["state"], "in_error");
    assert_eq!(shown["deadline"], "2026-12-09T03:00:00Z");

    // Day 3: fixed in time.
    set_story_broken(lab, false);
    let fixed = day(&dec(3, "03:00"));
    assert_eq!(fixed["corrected"], 1);
    assert_eq!(
        show(url, &dec(3, "03:01"), "pec.story.it")["state"],
        "certified"
    );

    // Day 4: broken again, and left broken past the deadline (11 December, 04:00).
    set_story_broken(lab, true);
    day(&dec(4, "03:00"));
    day(&dec(4, "04:00"));
    let shown = show(url, &dec(4, "04:01"), "pec.story.it");
    assert_eq!(shown["state"], "in_error");
    assert_eq!(shown["deadline"], "2026-12-11T03:00:00Z");
    for date in 5..=11 {
        let daily = day(&dec(date, "03:00"));
        assert_eq!(daily["checked"], 2, "day {date}: both domains, daily");
        assert_eq!(daily["removed"], 0, "day {date}: not before the deadline");
    }
    let removal = day(&dec(11, "04:00"));
    assert_eq!(removal["checked"], 1, "due at its deadline");
    assert_eq!(removal["removed"], 1);
    assert_eq!(
        show(url, &dec(11, "04:01"), "pec.story.it")["state"],
        "removed"
    );

    // Day 12: fixed after the removal: an operator must review it.
    set_story_broken(lab, false);
    let review = day(&dec(12, "03:00"));
    assert_eq!(review["under_review"], 1);
    assert_eq!(
        show(url, &dec(12, "03:01"), "pec.story.it")["state"],
        "under_review"
    );
    let approved = run(
        url,
        &dec(12, "09:00"),
        &["domains", "approve", "pec.story.it", "--actor", "noc"],
        &[],
        0,
    );
    assert!(!approved.stdout.is_empty());
    assert_eq!(
        show(url, &dec(12, "09:01"), "pec.story.it")["state"],
        "certified"
    );

    // Days 13 to 30: daily sweeps; the 7-day warning on the 23rd; expired on the 30th.
    for date in 13..=30 {
        day(&dec(date, "03:00"));
    }
    let story = domain(r, "pec.story.it").await;
    assert_eq!(story.status.state, State::Expired);
    assert_eq!(
        story.status.since,
        "2026-12-29T22:59:59Z".parse::<Timestamp>().unwrap()
    );
    // An expired domain is not checked any more.
    let after = day(&dec(31, "03:00"));
    assert_eq!(after["checked"], 1);

    // The whole history, in order.
    let path: Vec<String> = r
        .transitions(story.id)
        .await
        .unwrap()
        .into_iter()
        .map(|t| {
            format!(
                "{}>{}:{}",
                t.transition.from, t.transition.to, t.transition.actor
            )
        })
        .collect();
    assert_eq!(
        path,
        [
            "certified>in_error:system",
            "in_error>certified:system",
            "certified>in_error:system",
            "in_error>removed:system",
            "removed>under_review:system",
            "under_review>certified:noc",
            "certified>expired:system",
        ]
    );
    let sent = notices(r, &story).await;
    for kind in [
        "notice/expiry_warning_30",
        "notice/error_found",
        "notice/corrected",
        "unpublish/unpublish",
        "notice/removed",
        "notice/under_review",
        "notice/reinstated",
        "publish/publish",
        "notice/expiry_warning_7",
        "notice/expired",
    ] {
        assert!(
            sent.contains(&kind.to_owned()),
            "{kind} missing from {sent:?}"
        );
    }
    let errors = sent.iter().filter(|k| *k == "notice/error_found").count();
    assert_eq!(errors, 2, "one error notice per episode: {sent:?}");
    // The operators hear of the review once, by the under-review notice: no second alert.
    assert!(
        !sent.iter().any(|k| k.starts_with("alert/")),
        "no separate alert: {sent:?}"
    );
    // And the holder received them: two error notices, the correction, the removal, the
    // reinstatement, two expiry warnings and the expiry.
    let received: Vec<String> = smtp
        .received()
        .iter()
        .filter(|m| m.rcpt_tos == ["titolare@pec.story.it"])
        .filter_map(|m| m.header("Subject").map(str::to_owned))
        .collect();
    assert_eq!(received.len(), 8, "{received:#?}");
    assert!(
        received.iter().all(|s| s.contains("pec.story.it")),
        "{received:#?}"
    );

    // The control domain never moved, and was checked every day.
    let ok = domain(r, "pec.ok.it").await;
    assert!(r.transitions(ok.id).await.unwrap().is_empty());
    assert!(notices(r, &ok).await.is_empty());
    assert!(r.checks(ok.id, 100).await.unwrap().len() >= 30);
    set_story_broken(lab, false);
}

// ---------------------------------------------------------------------------------------
// Held sweeps
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_failing_canary_holds_every_change_and_alerts_the_operators() {
    on_both(|db| async move {
        let url = db.url.as_str();
        let r = &db.registry;
        let t0 = "2026-11-23T03:00:00+01:00";
        add(url, t0, "pec.ok.it", "2027-12-31");
        add(url, t0, "pec.nomx.it", "2027-12-31");
        let metrics = tempfile::tempdir().unwrap();
        let metrics_file = metrics.path().join("pecwatch.prom");
        let broken_canary = [
            ("PECWATCH_SWEEP_CANARIES", "pec.wronga.it"),
            ("PECWATCH_SWEEP_OPERATORS", "noc@provider.example"),
            (
                "PECWATCH_SWEEP_METRICS_FILE",
                metrics_file.to_str().unwrap(),
            ),
        ];
        // A held sweep does not count the failure: the domain comes back the next day.
        let mut last = Value::Null;
        for now in [t0, "2026-11-24T03:00:00+01:00", "2026-11-25T03:00:00+01:00"] {
            let held = sweep(url, now, &broken_canary, 1);
            last = held.clone();
            assert_eq!(held["held"], true);
            let reason = held["hold_reason"].as_str().unwrap();
            assert!(
                reason.contains("pec.wronga.it (A_NON_CORRETTO)"),
                "{reason}"
            );
            assert_eq!(held["new_errors"], 0);
        }
        // Three checks recorded, none acted upon: still certified, no failure run.
        let nomx = domain(r, "pec.nomx.it").await;
        assert_eq!(nomx.status.state, State::Certified);
        assert_eq!(nomx.status.consecutive_failures, 0);
        assert_eq!(r.checks(nomx.id, 10).await.unwrap().len(), 3);
        assert_eq!(nomx.pending, None);
        assert!(r.transitions(nomx.id).await.unwrap().is_empty());
        assert!(notices(r, &nomx).await.is_empty());
        // One alert per held sweep, and its notice to the operators.
        let alerts = r.alerts(10).await.unwrap();
        assert_eq!(alerts.len(), 3);
        let outbox = r.outbox(&OutboxFilter::default()).await.unwrap();
        let to_operators: Vec<_> = outbox.iter().filter(|i| i.domain_id.is_none()).collect();
        assert_eq!(to_operators.len(), 3);
        assert_eq!(to_operators[0].payload["to"][0], "noc@provider.example");
        // And the metric, for the monitoring system.
        let exposed = std::fs::read_to_string(&metrics_file).unwrap();
        assert!(exposed.contains("\npecwatch_sweep_held 1\n"), "{exposed}");
        assert!(exposed.contains("\npecwatch_alerts_total 3\n"), "{exposed}");
        assert!(exposed.contains("pecwatch_sweep_errors{code=\"MX_NON_DEFINITO\"} 1\n"));
        // /metrics counts the latest sweep's failed canary checks (before and after it).
        let failed_canaries = last["canaries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|canary| canary["ok"] == false)
            .count();
        assert!(failed_canaries >= 1, "{last}");
        let served = pecwatch::web::render_metrics(r).await.unwrap();
        assert!(
            served.contains(&format!(
                "\npecwatch_sweep_canary_failures{{kind=\"sweep\"}} {failed_canaries}\n"
            )),
            "{served}"
        );

        // The text summary says so, in Italian by default.
        let text = run(
            url,
            "2026-11-26T03:00:00+01:00",
            &["sweep"],
            &broken_canary,
            1,
        );
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains("SOSPESO"), "{text}");

        // With a healthy canary the failure counts again: first seen, then confirmed.
        let good_canary = [("PECWATCH_SWEEP_CANARIES", "pec.ok.it")];
        let free = sweep(url, "2026-11-27T03:00:00+01:00", &good_canary, 0);
        assert_eq!(free["held"], false);
        assert_eq!(
            free["canaries"].as_array().unwrap().len(),
            2,
            "before and after"
        );
        sweep(url, "2026-11-27T04:00:00+01:00", &good_canary, 0);
        assert_eq!(domain(r, "pec.nomx.it").await.status.state, State::InError);
    })
    .await;
}

#[tokio::test]
async fn too_many_new_failures_hold_the_sweep() {
    on_both(|db| async move {
        let url = db.url.as_str();
        let r = &db.registry;
        let t0 = "2026-11-23T03:00:00+01:00";
        for name in ["pec.ok.it", "pec.own.it", "pec.wronga.it"] {
            add(url, t0, name, "2027-12-31");
        }
        // One of three previously correct domains failing is 33%: more than 5%.
        let strict = [("PECWATCH_SWEEP_SHARE_MIN_DOMAINS", "3")];
        let held = sweep(url, t0, &strict, 1);
        assert_eq!(
            (held["held"].as_bool(), held["new_failures"].as_u64()),
            (Some(true), Some(1))
        );
        assert!(
            held["hold_reason"]
                .as_str()
                .unwrap()
                .starts_with("1 of 3 previously correct domains failed (33.3%"),
            "{held}"
        );
        let wronga = domain(r, "pec.wronga.it").await;
        assert_eq!(
            wronga.status.consecutive_failures, 0,
            "the failure was not counted"
        );
        assert_eq!(wronga.pending, None, "nothing left pending");
        // The default sample (100 domains) is not reached: the rule does not apply.
        let allowed = sweep(url, "2026-11-24T03:00:00+01:00", &[], 0);
        assert_eq!(allowed["held"], false);
        assert_eq!(
            domain(r, "pec.wronga.it").await.status.consecutive_failures,
            1
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// The commands around the sweep
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn nothing_due_is_said_and_serve_sweeps_until_stopped() {
    on_both(|db| async move {
        let url = db.url.as_str();
        let t0 = "2026-11-23T03:00:00+01:00";
        let empty = run(url, t0, &["sweep", "--lang", "en"], &[], 0);
        let text = String::from_utf8_lossy(&empty.stdout);
        assert!(text.starts_with("No domain is due now"), "{text}");
        add(url, t0, "pec.ok.it", "2027-12-31");

        // serve: sweeps what is due at once, then sleeps until stopped.
        let serve = pecwatch(url, Some(t0), &["serve"], &[])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pecwatch serve");
        let deadline = Instant::now() + Duration::from_secs(60);
        let r = &db.registry;
        while r.last_sweep().await.unwrap().is_none() {
            assert!(Instant::now() < deadline, "serve did not sweep");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // SIGTERM: a clean stop.
        let pid = serve.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        let output = serve.wait_with_output().unwrap();
        assert!(output.status.success(), "{output:?}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("1 domini controllati"), "{stdout}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("controllo giornaliero alle 03:00 Europe/Rome"),
            "{stderr}"
        );
        assert!(stderr.contains("fermato"), "{stderr}");
        let last = r.last_sweep().await.unwrap().unwrap();
        assert_eq!(last.summary.unwrap()["checked"], 1);
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Crash safety
// ---------------------------------------------------------------------------------------

/// A small pseudo-random generator (xorshift), seeded from the clock and printed, so a
/// failing run can be replayed with `PECWATCH_TEST_SEED`.
struct Random(u64);

impl Random {
    fn new() -> Self {
        let seed = std::env::var("PECWATCH_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| Timestamp::now().as_nanosecond() as u64 | 1);
        eprintln!("crash test seed: {seed} (PECWATCH_TEST_SEED)");
        Random(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Writes the CSV of `count` correct and `count` failing domains for `domains import`.
fn write_many(path: &Path, count: usize) {
    let mut csv = String::from("domain,holder_email,expires\n");
    for i in 0..count {
        csv.push_str(&format!("d{i}.many.it,h{i}@example.it,2027-12-31\n"));
        csv.push_str(&format!("d{i}.manybad.it,h{i}@example.it,2027-12-31\n"));
    }
    std::fs::write(path, csv).unwrap();
}

/// A count from the registry's database (for watching a sweep's progress from outside).
async fn count(registry: &Registry, sql: &str) -> i64 {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match registry {
        Registry::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        Registry::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
    }
    .unwrap_or(-1)
}

/// Runs `pecwatch sweep` at `now` and kills it with SIGKILL as soon as `sql` counts at
/// least `target` (or lets it finish). Returns whether it was killed.
async fn sweep_and_kill(
    db: &TestDb,
    now: &str,
    env: &[(&str, &str)],
    sql: &str,
    target: i64,
) -> bool {
    let mut child = pecwatch(&db.url, Some(now), &["sweep", "--format", "json"], env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "sweep at {now} failed: {status}");
            return false;
        }
        if count(&db.registry, sql).await >= target {
            child.kill().unwrap(); // SIGKILL: no chance to clean up
            child.wait().unwrap();
            return true;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn a_killed_sweep_loses_and_repeats_nothing() {
    on_both(|db| async move {
        const PER_KIND: i64 = 1000;
        let url = db.url.as_str();
        let r = &db.registry;
        let csv = tempfile::NamedTempFile::new().unwrap();
        write_many(csv.path(), PER_KIND as usize);
        let path = csv.path().to_str().unwrap();
        run(
            url,
            "2026-11-23T09:00:00+01:00",
            &["domains", "import", path],
            &[],
            0,
        );

        // Short leases (each restart comes a minute later: the dead process's leases have
        // lapsed), small batches, no share brake (half the domains fail on purpose).
        let env = [
            ("PECWATCH_SWEEP_LEASE", "30s"),
            ("PECWATCH_SWEEP_BATCH_SIZE", "50"),
            ("PECWATCH_SWEEP_MAX_NEW_FAILURE_SHARE", "1"),
        ];
        let mut random = Random::new();
        // Two sweeps: at 10:00 every failure is seen once, at 12:00 they are confirmed.
        // Each sweep is killed three times at random moments (by how many checks, or in
        // the second one how many transitions, are committed), each restart a minute
        // later, then run to its end.
        let checks = "SELECT COUNT(*) FROM checks";
        let transitions = "SELECT COUNT(*) FROM transitions";
        let mut killed = 0;
        for (round, hour, done_checks) in [(1, 10, 0), (2, 12, 2 * PER_KIND)] {
            for minute in 0..3 {
                let now = format!("2026-11-23T{hour}:{minute:02}:00+01:00");
                let (what, target) = if round == 2 && random.below(2) == 0 {
                    (transitions, random.below(PER_KIND as u64) as i64)
                } else {
                    let total = if round == 1 { 2 * PER_KIND } else { PER_KIND };
                    (checks, done_checks + random.below(total as u64) as i64)
                };
                let was_killed = sweep_and_kill(&db, &now, &env, what, target).await;
                eprintln!("{now}: {what} >= {target}: killed {was_killed}");
                killed += u32::from(was_killed);
            }
            let end = format!("2026-11-23T{hour}:05:00+01:00");
            let summary = sweep(url, &end, &env, 0);
            eprintln!("{end}: {summary}");
        }
        assert!(
            killed >= 3,
            "most runs must have been killed mid-sweep ({killed})"
        );
        assert_eq!(r.unfinished_sweep().await.unwrap(), None);

        let all = r.domains(&DomainFilter::default()).await.unwrap();
        assert_eq!(all.len() as i64, 2 * PER_KIND);
        for d in &all {
            let transitions = r.transitions(d.id).await.unwrap();
            let sent = notices(r, d).await;
            let checks = r.checks(d.id, 10).await.unwrap().len();
            assert_eq!(d.pending, None, "{}: nothing left pending", d.name);
            assert_eq!(d.lease, None, "{}: no lease left", d.name);
            if d.name.as_str().ends_with(".manybad.it") {
                assert_eq!(d.status.state, State::InError, "{}", d.name);
                assert_eq!(d.status.episode, 1, "{}", d.name);
                assert_eq!(checks, 2, "{}: checked once per sweep", d.name);
                assert_eq!(transitions.len(), 1, "{}: {transitions:?}", d.name);
                assert_eq!(sent, ["notice/error_found"], "{}", d.name);
            } else {
                assert_eq!(d.status.state, State::Certified, "{}", d.name);
                assert_eq!(checks, 1, "{}: checked once", d.name);
                assert!(transitions.is_empty(), "{}: {transitions:?}", d.name);
                assert!(sent.is_empty(), "{}: {sent:?}", d.name);
            }
        }
    })
    .await;
}

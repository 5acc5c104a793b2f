//! Faults of our own infrastructure during sweeps, on instances of the tests' own (never
//! the shared lab or the shared PostgreSQL server):
//!
//! - `a_resolver_paused_mid_check_gives_no_false_verdict`: `pecwatch check` through the
//!   minilab's Unbound, stopped (SIGSTOP) as the check starts and resumed (SIGCONT) a
//!   second later: the patient re-asking gets the real verdicts; stopped throughout:
//!   every error transient, never a missing record.
//! - `a_dead_resolver_stops_the_sweep_before_it_starts`: the minilab's Unbound is dead
//!   when a sweep of 2,000 domains is due: nothing is recorded, `pecwatch sweep` exits 4,
//!   one operator alert however often it is tried; with the resolver back, the sweep
//!   checks every domain once.
//! - `serve_waits_for_a_dead_resolver_and_sweeps_when_it_is_back`: `pecwatch serve`
//!   started with the resolver dead goes on running, alerts once, tries again later and
//!   sweeps once the resolver is back.
//! - `a_resolver_stopped_mid_sweep_pauses_it_until_it_answers`: the Unbound is stopped
//!   (SIGSTOP) in the middle of a sweep of 2,000 domains: the sweep pauses (no check
//!   recorded while it is away), alerts once, and when it is resumed (SIGCONT) goes on:
//!   every domain checked exactly once, no transition, no notice to a holder.
//! - `thirty_percent_packet_loss_gives_no_false_errors`: the customers' authoritative
//!   servers lose 30% of the packets (iptables in the minilab's network namespace) for a
//!   week of sweeps of 2,000 domains, with the default DNS configuration: what failed is
//!   asked again patiently before a result counts, and failures that rest on timeouts
//!   need confirming, so every domain stays certified, with no transition and no notice.
//! - `postgres_restarted_mid_sweep_loses_and_repeats_nothing`: a PostgreSQL cluster of
//!   the test's own is restarted while a sweep checks 2,000 domains and while the next
//!   applies 1,000 confirmations: the same `pecwatch sweep` processes carry on, and every
//!   check, transition and notice exists once.
//! - SMTP down: notices wait, retried, and the 7 days start only at the acceptance:
//!   `outbox::notices_wait_while_the_mail_server_is_down` (not repeated here).

use std::process::Stdio;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use pecwatch::lifecycle::State;
use pecwatch::registry::{AlertKind, Backend, DomainFilter, OutboxFilter, Registry};
use serde_json::Value;

use crate::support::cli::{pecwatch, run};
use crate::support::db::{TestDb, create};
use crate::support::minilab::{MiniLab, Options};
use crate::support::pgcluster::PgCluster;

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

/// A small pseudo-random generator (xorshift), seeded from the clock and printed, so a
/// failing run can be replayed with `PECWATCH_TEST_SEED`.
pub(crate) struct Random(u64);

impl Random {
    pub(crate) fn new(what: &str) -> Self {
        let seed = std::env::var("PECWATCH_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| Timestamp::now().as_nanosecond() as u64 | 1);
        eprintln!("{what}: seed {seed} (PECWATCH_TEST_SEED)");
        Random(seed)
    }

    /// A number in `low..high`.
    pub(crate) fn between(&mut self, low: u64, high: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        low + self.0 % (high - low)
    }
}

/// A number from the registry's database (for watching a sweep from outside).
pub(crate) async fn count(registry: &Registry, sql: &str) -> i64 {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match registry {
        Registry::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        Registry::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
    }
    .unwrap_or(-1)
}

/// Writes a CSV for `domains import`: `names` with holder `h<i>@example.it`.
fn import(lab: &MiniLab, db: &TestDb, now: &str, names: &[String]) {
    let mut csv = String::from("domain,holder_email,expires\n");
    for (i, name) in names.iter().enumerate() {
        csv.push_str(&format!("{name},h{i}@example.it,2027-12-31\n"));
    }
    let path = lab.dir().join("domains.csv");
    std::fs::write(&path, csv).unwrap();
    lab.run(
        &db.url,
        now,
        &["domains", "import", path.to_str().unwrap()],
        &[],
        0,
    );
}

/// The JSON summary a `sweep --format json` printed.
fn summary(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "the summary is JSON ({e}): {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

// ---------------------------------------------------------------------------------------
// The resolver dies
// ---------------------------------------------------------------------------------------

/// The checks of `sweep`: how many, how many domains, how many domains more than once.
async fn sweep_checks(registry: &Registry, sweep: i64) -> (i64, i64, i64) {
    let all = count(
        registry,
        &format!("SELECT COUNT(*) FROM checks WHERE sweep_id = {sweep}"),
    )
    .await;
    let domains = count(
        registry,
        &format!("SELECT COUNT(DISTINCT domain_id) FROM checks WHERE sweep_id = {sweep}"),
    )
    .await;
    let twice = count(
        registry,
        &format!(
            "SELECT COUNT(*) FROM (SELECT domain_id FROM checks WHERE sweep_id = {sweep} \
             GROUP BY domain_id HAVING COUNT(*) > 1) AS twice"
        ),
    )
    .await;
    (all, domains, twice)
}

/// Every domain is certified, with no transition; the outbox holds only `alerts` items
/// for the operators, and the registry as many alerts, all about the resolver.
async fn nothing_changed_but_alerts(registry: &Registry, alerts: usize) {
    for d in registry.domains(&DomainFilter::default()).await.unwrap() {
        assert_eq!(d.status.state, State::Certified, "{}", d.name);
        assert!(
            registry.transitions(d.id).await.unwrap().is_empty(),
            "{}",
            d.name
        );
        assert_eq!(d.pending, None, "{}", d.name);
    }
    let outbox = registry.outbox(&OutboxFilter::default()).await.unwrap();
    assert!(
        outbox.iter().all(|item| item.domain_id.is_none()),
        "no notice to a holder: {outbox:?}"
    );
    assert_eq!(outbox.len(), alerts, "{outbox:?}");
    assert!(
        outbox
            .iter()
            .all(|item| item.payload["to"][0] == "noc@provider.example"),
        "{outbox:?}"
    );
    let raised = registry.alerts(10).await.unwrap();
    assert_eq!(raised.len(), alerts, "{raised:?}");
    assert!(
        raised.iter().all(|a| a.kind == AlertKind::ResolverDown),
        "{raised:?}"
    );
}

/// `pecwatch check --format json` of `names` through the minilab, with `env`: the exit
/// status and one JSON object per name.
fn check(lab: &MiniLab, names: &[&str], env: &[(&str, &str)]) -> (Option<i32>, Vec<Value>) {
    let mut args = vec!["check", "--format", "json"];
    args.extend(names);
    let output = lab
        .pecwatch("sqlite::memory:", None, &args, env)
        .output()
        .unwrap();
    let lines = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    (output.status.code(), lines)
}

#[tokio::test]
async fn a_resolver_paused_mid_check_gives_no_false_verdict() {
    let lab = MiniLab::start(Options {
        zones: 4,
        resolver: true,
        netns: false,
        editable: false,
    });
    let names = ["pec.z0.it", "pec.z1.it", "pec.ok.it", "d1.manybad.it"];

    // Paused as the check starts, resumed 4 s later, after the quick pace gave up (3
    // attempts of 800 ms): the patient re-asking gets the answers, and the verdicts are
    // the real ones (three correct, one definitive MX_NON_DEFINITO).
    lab.pause_resolver();
    let started = Instant::now();
    let child = {
        let mut args = vec!["check", "--format", "json", "--stats", "--lang", "en"];
        args.extend(names);
        lab.pecwatch("sqlite::memory:", None, &args, &[])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    tokio::time::sleep(Duration::from_secs(4)).await;
    lab.resume_resolver();
    let output = child.wait_with_output().unwrap();
    eprintln!("paused then resumed: checked in {:.1?}", started.elapsed());
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), names.len(), "{output:?}");
    assert!(
        started.elapsed() > Duration::from_secs(4),
        "the check waited"
    );
    let stats = String::from_utf8_lossy(&output.stderr);
    let patient: u64 = stats
        .split(", ")
        .find_map(|part| {
            part.trim()
                .strip_suffix(" patient re-queries")?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no patient count in {stats}"));
    assert!(
        patient > 0,
        "what failed was asked again patiently: {stats}"
    );
    for line in &lines {
        if line["domain"] == "d1.manybad.it" {
            assert_eq!(line["verdict"], "error", "{line}");
            assert_eq!(line["codes"][0], "MX_NON_DEFINITO", "{line}");
        } else {
            assert_eq!(line["verdict"], "ok", "{line}");
        }
    }

    // Paused for the whole check (patience shortened so that the test is quick): no
    // verdict at all, every error transient, never a missing record. The provider's
    // addresses are written in a profile of the test's own (else they could not even be
    // resolved: the check says so and stops, exit 3).
    let profile = lab.dir().join("aruba-lab.toml");
    std::fs::write(
        &profile,
        format!(
            "name = \"aruba\"\nmx_host = \"mx.pec.aruba.it\"\nmx_preference = 10\n\
             mail_addresses = [\"{}\"]\n",
            lab.addr(25)
        ),
    )
    .unwrap();
    lab.pause_resolver();
    let patience = [
        ("PECWATCH_DNS_TIMEOUT_MS", "200"),
        ("PECWATCH_DNS_PATIENT_ATTEMPTS", "2"),
        ("PECWATCH_DNS_PATIENT_TIMEOUT_MS", "300"),
        ("PECWATCH_DNS_PATIENT_TCP", "false"),
    ];
    let (status, lines) = check(&lab, &names, &patience);
    assert_eq!(
        status,
        Some(3),
        "the provider's addresses cannot be resolved"
    );
    assert!(lines.is_empty());
    let mut with_profile = names.to_vec();
    with_profile.extend(["--profile", profile.to_str().unwrap()]);
    let (status, lines) = check(&lab, &with_profile, &patience);
    lab.resume_resolver();
    assert_eq!(status, Some(1));
    assert_eq!(lines.len(), names.len());
    for line in &lines {
        assert_eq!(line["verdict"], "transient_error", "{line}");
        assert_eq!(line["transient"], true, "{line}");
        assert_eq!(
            line["codes"],
            serde_json::json!(["NS_NON_DEFINITO"]),
            "{line}"
        );
        assert!(
            line["findings"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["transient"] == true),
            "{line}"
        );
    }

    // Back: the same verdicts as before.
    let (status, lines) = check(&lab, &names, &[]);
    assert_eq!(status, Some(1));
    let mut verdicts: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["domain"].as_str().unwrap(),
                l["verdict"].as_str().unwrap(),
            )
        })
        .collect();
    verdicts.sort_unstable();
    assert_eq!(
        verdicts,
        [
            ("d1.manybad.it", "error"),
            ("pec.ok.it", "ok"),
            ("pec.z0.it", "ok"),
            ("pec.z1.it", "ok")
        ]
    );
}

#[tokio::test]
async fn a_dead_resolver_stops_the_sweep_before_it_starts() {
    const DOMAINS: usize = 2000;
    let mut lab = MiniLab::start(Options {
        zones: DOMAINS,
        resolver: true,
        netns: false,
        editable: false,
    });
    let (db, cleanup) = create(Backend::Sqlite).await;
    let r = &db.registry;
    let names: Vec<String> = (0..DOMAINS).map(|i| format!("pec.z{i}.it")).collect();
    import(&lab, &db, "2026-11-23T02:00:00+01:00", &names);
    // The default DNS and sweep settings.
    let env = [("PECWATCH_SWEEP_OPERATORS", "noc@provider.example")];
    let sweep = ["sweep", "--format", "json"];

    // The resolver is dead at 03:00: no sweep, nothing recorded, one alert, exit 4 with
    // a message; a second try (cron an hour later) alerts no more.
    lab.kill_resolver();
    for (now, alerts) in [
        ("2026-11-23T03:00:00+01:00", 1),
        ("2026-11-23T04:00:00+01:00", 1),
    ] {
        let started = Instant::now();
        let output = lab.run(&db.url, now, &sweep, &env, 4);
        eprintln!(
            "dead resolver found before the sweep in {:.1?}",
            started.elapsed()
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("il resolver") && stderr.contains("non risponde"),
            "{stderr}"
        );
        assert!(output.stdout.is_empty(), "no summary");
        assert_eq!(count(r, "SELECT COUNT(*) FROM sweeps").await, 0);
        assert_eq!(count(r, "SELECT COUNT(*) FROM checks").await, 0);
        nothing_changed_but_alerts(r, alerts).await;
    }
    let alert = &r.alerts(1).await.unwrap()[0];
    assert!(alert.message.contains(&lab.resolver()), "{alert:?}");

    // Back: the sweep checks every domain once, and no new alert.
    lab.start_resolver();
    let output = lab.run(&db.url, "2026-11-23T05:00:00+01:00", &sweep, &env, 0);
    let done = summary(&output);
    assert_eq!(done["held"], false, "{done}");
    assert_eq!(done["checked"], DOMAINS, "{done}");
    assert_eq!(done["failed"], 0, "{done}");
    let id = done["sweep"].as_i64().unwrap();
    assert_eq!(
        sweep_checks(r, id).await,
        (DOMAINS as i64, DOMAINS as i64, 0)
    );
    nothing_changed_but_alerts(r, 1).await;
    db.registry.close().await;
    cleanup.run().await;
}

#[tokio::test]
async fn serve_waits_for_a_dead_resolver_and_sweeps_when_it_is_back() {
    const DOMAINS: usize = 200;
    let mut lab = MiniLab::start(Options {
        zones: DOMAINS,
        resolver: true,
        netns: false,
        editable: false,
    });
    let (db, cleanup) = create(Backend::Sqlite).await;
    let r = &db.registry;
    let names: Vec<String> = (0..DOMAINS).map(|i| format!("pec.z{i}.it")).collect();
    import(&lab, &db, "2026-11-23T02:00:00+01:00", &names);
    // A short patience, so that the dead resolver is found in a few seconds; no mail
    // server (the alert waits in the outbox).
    let env = [
        ("PECWATCH_SWEEP_OPERATORS", "noc@provider.example"),
        ("PECWATCH_SMTP_URL", "smtp://127.0.0.1:9"),
        ("PECWATCH_DNS_PATIENT_ATTEMPTS", "2"),
        ("PECWATCH_DNS_PATIENT_TIMEOUT_MS", "300"),
    ];
    lab.kill_resolver();
    let serve = lab
        .pecwatch(&db.url, Some("2026-11-23T03:00:00+01:00"), &["serve"], &env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while count(r, "SELECT COUNT(*) FROM alerts").await < 1 {
        assert!(Instant::now() < deadline, "no alert");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // It goes on waiting (the next try 30 s after the first), without a sweep.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(count(r, "SELECT COUNT(*) FROM sweeps").await, 0);
    lab.start_resolver();
    while r.last_sweep().await.unwrap().is_none() {
        assert!(Instant::now() < deadline, "serve did not sweep");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pid = serve.id().to_string();
    run_ok_kill(&pid);
    let output = serve.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("non risponde") && stderr.contains("nuovo tentativo fra 30 s"),
        "{stderr}"
    );
    let last = r.last_sweep().await.unwrap().unwrap();
    let summary = last.summary.unwrap();
    assert_eq!(summary["checked"], DOMAINS, "{summary}");
    assert_eq!(
        sweep_checks(r, last.id).await,
        (DOMAINS as i64, DOMAINS as i64, 0)
    );
    nothing_changed_but_alerts(r, 1).await;
    db.registry.close().await;
    cleanup.run().await;
}

/// SIGTERM to a process: a clean stop.
fn run_ok_kill(pid: &str) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", pid])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn a_resolver_stopped_mid_sweep_pauses_it_until_it_answers() {
    const DOMAINS: usize = 2000;
    let lab = MiniLab::start(Options {
        zones: DOMAINS,
        resolver: true,
        netns: false,
        editable: false,
    });
    let (db, cleanup) = create(Backend::Sqlite).await;
    let r = &db.registry;
    let names: Vec<String> = (0..DOMAINS).map(|i| format!("pec.z{i}.it")).collect();
    import(&lab, &db, "2026-11-23T02:00:00+01:00", &names);
    // A canary, small batches and a modest pace, so that the sweep can be caught in the
    // middle; the resolver asked every 2 s, with a short patience, so that the sweep
    // notices while it still has domains to check (with the defaults, 10 s and 5 × 2 s
    // then TCP, it notices within about 25 s: see the test above for the time a probe of a
    // dead resolver takes).
    let env = [
        ("PECWATCH_SWEEP_CANARIES", "pec.ok.it"),
        ("PECWATCH_SWEEP_OPERATORS", "noc@provider.example"),
        ("PECWATCH_SWEEP_BATCH_SIZE", "10"),
        ("PECWATCH_DNS_CONCURRENCY", "4"),
        ("PECWATCH_SWEEP_RESOLVER_PROBE_INTERVAL", "2s"),
        ("PECWATCH_DNS_PATIENT_ATTEMPTS", "2"),
        ("PECWATCH_DNS_PATIENT_TIMEOUT_MS", "500"),
    ];
    let mut random = Random::new("resolver stop");
    let target = random.between(100, 600) as i64;
    let started = Instant::now();
    let mut child = lab
        .pecwatch(
            &db.url,
            Some("2026-11-23T03:00:00+01:00"),
            &["sweep", "--format", "json"],
            &env,
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut stopped_at = None;
    while stopped_at.is_none() {
        assert!(Instant::now() < deadline, "the sweep did not progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sweep ended before the resolver could be stopped"
        );
        let checks = count(r, "SELECT COUNT(*) FROM checks").await;
        if checks >= target {
            lab.pause_resolver();
            stopped_at = Some((checks, Instant::now()));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let (stopped_after, stopped) = stopped_at.unwrap();
    // The sweep notices, pauses and alerts.
    while count(r, "SELECT COUNT(*) FROM alerts").await < 1 {
        assert!(Instant::now() < deadline, "no alert");
        assert!(child.try_wait().unwrap().is_none(), "the sweep ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let detected = stopped.elapsed();
    // Paused: the checks in flight end, then nothing more is recorded.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let paused_at = count(r, "SELECT COUNT(*) FROM checks").await;
    assert!(
        paused_at < DOMAINS as i64,
        "paused in the middle: {paused_at}"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        count(r, "SELECT COUNT(*) FROM checks").await,
        paused_at,
        "no check while the resolver is away"
    );
    lab.resume_resolver();
    let resumed = Instant::now();
    let output = child.wait_with_output().unwrap();
    eprintln!(
        "resolver stopped after {stopped_after} checks; the sweep paused after {paused_at} \
         checks, detected in {detected:.1?}; resumed {:.1?} after SIGCONT; whole test \
         {:.1?}\n{}",
        resumed.elapsed(),
        started.elapsed(),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let done = summary(&output);
    assert_eq!(done["held"], false, "{done}");
    assert_eq!(done["checked"], DOMAINS, "{done}");
    assert_eq!(done["failed"], 0, "{done}");
    let id = done["sweep"].as_i64().unwrap();
    assert_eq!(
        sweep_checks(r, id).await,
        (DOMAINS as i64, DOMAINS as i64, 0),
        "every domain checked exactly once"
    );
    nothing_changed_but_alerts(r, 1).await;
    db.registry.close().await;
    cleanup.run().await;
}

// ---------------------------------------------------------------------------------------
// Packet loss
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn thirty_percent_packet_loss_gives_no_false_errors() {
    const DOMAINS: usize = 2000;
    const DAYS: u32 = 7;
    let started = Instant::now();
    let lab = MiniLab::start(Options {
        zones: DOMAINS,
        resolver: false,
        netns: true,
        editable: false,
    });
    let (db, cleanup) = create(Backend::Sqlite).await;
    let r = &db.registry;
    let names: Vec<String> = (0..DOMAINS).map(|i| format!("pec.z{i}.it")).collect();
    import(&lab, &db, "2026-11-23T02:00:00+01:00", &names);
    lab.drop_packets(0.3);
    // The default configuration: 3 quick attempts of 800 ms (a query and its answer both
    // get through with probability 0.49, so one query in eight fails), then what failed
    // asked again patiently (5 attempts of 2 s, then TCP); the default brakes and
    // confirmation rules.
    let env = [("PECWATCH_SWEEP_OPERATORS", "noc@provider.example")];
    // A week: the daily sweep, then the re-checks of whatever failed, hourly.
    let (mut sweeps, mut held) = (0, 0);
    for day in 23..23 + DAYS {
        for hour in 3..=6 {
            let now = format!("2026-11-{day}T{hour:02}:00:00+01:00");
            let output = lab
                .pecwatch(&db.url, Some(&now), &["sweep", "--format", "json"], &env)
                .output()
                .unwrap();
            let code = output.status.code();
            assert!(matches!(code, Some(0 | 1)), "sweep at {now}: {output:?}");
            let summary = summary(&output);
            if summary["sweep"].is_null() {
                continue; // nothing due
            }
            sweeps += 1;
            held += u32::from(summary["held"] == true);
            eprintln!(
                "{now}: checked {} failed {} (transient {}) held {} in {:.0?}",
                summary["checked"],
                summary["failed"],
                summary["transient"],
                summary["held"],
                started.elapsed()
            );
        }
    }
    let dropped = lab.dropped_packets();
    let checks = count(r, "SELECT COUNT(*) FROM checks").await;
    let failed = count(r, "SELECT COUNT(*) FROM checks WHERE NOT ok").await;
    eprintln!(
        "packet loss: {dropped} packets dropped; {sweeps} sweeps ({held} held), {checks} checks, \
         {failed} failed, in {:.0?}",
        started.elapsed()
    );
    assert!(dropped > 10_000, "the servers lost packets: {dropped}");
    assert!(sweeps >= DAYS, "{sweeps}");
    assert!(checks >= (DOMAINS as i64) * i64::from(DAYS), "{checks}");
    for d in r.domains(&DomainFilter::default()).await.unwrap() {
        assert_eq!(
            d.status.state,
            State::Certified,
            "{}: a false error",
            d.name
        );
        assert!(r.transitions(d.id).await.unwrap().is_empty(), "{}", d.name);
    }
    let notices = r.outbox(&OutboxFilter::default()).await.unwrap();
    assert!(
        notices.iter().all(|item| item.domain_id.is_none()),
        "no notice to a holder: {notices:?}"
    );
    db.registry.close().await;
    cleanup.run().await;
}

// ---------------------------------------------------------------------------------------
// PostgreSQL restarted
// ---------------------------------------------------------------------------------------

/// Runs `pecwatch sweep` at `now` on the cluster and restarts the cluster as soon as
/// `sql` counts at least `target`. The same process must carry the sweep to its end.
/// Returns whether the restart happened while the sweep ran, and the sweep's stderr.
async fn sweep_through_a_restart(
    cluster: &PgCluster,
    registry: &Registry,
    now: &str,
    env: &[(&str, &str)],
    sql: &str,
    target: i64,
) -> (bool, String) {
    let mut child = pecwatch(
        &cluster.url(),
        Some(now),
        &["sweep", "--format", "json"],
        env,
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut restarted = false;
    while !restarted && child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the sweep at {now} did not progress"
        );
        if count(registry, sql).await >= target {
            cluster.restart();
            restarted = true;
        } else {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        output.status.success(),
        "the sweep at {now} did not survive the restart: {stderr}\n{}",
        cluster.log()
    );
    (restarted, stderr)
}

#[tokio::test]
async fn postgres_restarted_mid_sweep_loses_and_repeats_nothing() {
    const PER_KIND: i64 = 1000;
    let cluster = PgCluster::start();
    let url = cluster.url();
    let registry = Registry::open(&url)
        .await
        .expect("open the cluster's registry");
    let r = &registry;
    let csv = tempfile::NamedTempFile::new().unwrap();
    let mut text = String::from("domain,holder_email,expires\n");
    for i in 0..PER_KIND {
        text.push_str(&format!("d{i}.many.it,h{i}@example.it,2027-12-31\n"));
        text.push_str(&format!("d{i}.manybad.it,b{i}@example.it,2027-12-31\n"));
    }
    std::fs::write(csv.path(), text).unwrap();
    run(
        &url,
        "2026-11-23T09:00:00+01:00",
        &["domains", "import", csv.path().to_str().unwrap()],
        &[],
        0,
    );
    let env = [
        ("PECWATCH_SWEEP_BATCH_SIZE", "50"),
        ("PECWATCH_SWEEP_MAX_NEW_FAILURE_SHARE", "1"),
    ];
    let mut random = Random::new("postgres restart");
    // At 10:00 every domain is checked and the failures seen once; the restart comes
    // after a random number of committed checks. At 12:00 the failures are confirmed;
    // the restart comes after a random number of applied transitions.
    let checks_target = random.between(100, (2 * PER_KIND - 200) as u64) as i64;
    let (first, log1) = sweep_through_a_restart(
        &cluster,
        r,
        "2026-11-23T10:00:00+01:00",
        &env,
        "SELECT COUNT(*) FROM checks",
        checks_target,
    )
    .await;
    let transitions_target = random.between(50, (PER_KIND - 100) as u64) as i64;
    let (second, log2) = sweep_through_a_restart(
        &cluster,
        r,
        "2026-11-23T12:00:00+01:00",
        &env,
        "SELECT COUNT(*) FROM transitions",
        transitions_target,
    )
    .await;
    let retries = |log: &str| log.lines().filter(|l| l.contains("retrying")).count();
    eprintln!(
        "restart after {checks_target} checks: {first}, {} retried operations; \
         after {transitions_target} transitions: {second}, {} retried operations",
        retries(&log1),
        retries(&log2)
    );
    assert!(first && second, "both restarts happened mid-sweep");
    let ready = "database system is ready to accept connections";
    assert_eq!(
        cluster.log().matches(ready).count(),
        3,
        "started, restarted twice"
    );

    assert_eq!(r.unfinished_sweep().await.unwrap(), None);
    let all = r.domains(&DomainFilter::default()).await.unwrap();
    assert_eq!(all.len() as i64, 2 * PER_KIND);
    let per_sweep = "SELECT COUNT(*) FROM (SELECT domain_id, sweep_id FROM checks \
                     GROUP BY domain_id, sweep_id HAVING COUNT(*) > 1) AS twice";
    assert_eq!(
        count(r, per_sweep).await,
        0,
        "no domain checked twice in a sweep"
    );
    for d in &all {
        let transitions = r.transitions(d.id).await.unwrap();
        let checks = r.checks(d.id, 10).await.unwrap().len();
        let notices: Vec<String> = r
            .outbox(&OutboxFilter {
                domain_id: Some(d.id),
                ..OutboxFilter::default()
            })
            .await
            .unwrap()
            .into_iter()
            .map(|item| item.key)
            .collect();
        assert_eq!(d.pending, None, "{}: nothing left pending", d.name);
        assert_eq!(d.lease, None, "{}: no lease left", d.name);
        if d.name.as_str().ends_with(".manybad.it") {
            assert_eq!(d.status.state, State::InError, "{}", d.name);
            assert_eq!(checks, 2, "{}: checked once per sweep", d.name);
            assert_eq!(transitions.len(), 1, "{}: {transitions:?}", d.name);
            assert_eq!(notices.len(), 1, "{}: {notices:?}", d.name);
            assert!(notices[0].ends_with("error_found"), "{notices:?}");
        } else {
            assert_eq!(d.status.state, State::Certified, "{}", d.name);
            assert_eq!(checks, 1, "{}: checked once", d.name);
            assert!(transitions.is_empty(), "{}: {transitions:?}", d.name);
            assert!(notices.is_empty(), "{}: {notices:?}", d.name);
        }
    }
    registry.close().await;
}

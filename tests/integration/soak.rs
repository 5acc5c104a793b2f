//! The soak test: `pecwatch serve` over a simulated month (`PECWATCH_NOW` and
//! `PECWATCH_SIMULATE`) on 10,000 domains whose DNS breaks and is fixed following a
//! random script, with operators acting in between; at the end every domain's state,
//! deadline, expiry, history and notices must equal what an independent oracle computed
//! from the script alone ([`oracle`]).
//!
//! - The DNS is real: a minilab of the test's own (Knot DNS, a root, `it.`, the
//!   provider, two customer servers with 100 zones of 100 names each), its zone files
//!   rewritten and reloaded at each step ([`script`]: 03:30 and 12:00 every day).
//! - The service is one `pecwatch serve` process on SQLite, in simulated time: between
//!   steps it runs every sweep, confirmation, deadline and expiry warning due and sends
//!   the notices to a real SMTP server (aiosmtpd); at each step it waits at the horizon
//!   while the test changes the DNS and runs the operators' commands (`domains approve`,
//!   `reject`, `remove`, `renew`), whose acceptance or refusal the oracle also predicts.
//! - The size and length can be changed: `PECWATCH_SOAK_ZONES` (100),
//!   `PECWATCH_SOAK_PER_ZONE` (100), `PECWATCH_SOAK_DAYS` (30), and the database:
//!   `PECWATCH_SOAK_BACKEND=postgres` (default SQLite); the seed is printed
//!   (`PECWATCH_TEST_SEED` replays it).

mod oracle;
mod script;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use pecwatch::registry::{Backend, DomainFilter, OutboxFilter, OutboxState};

use crate::faults::{Random, count};
use crate::support::db::create;
use crate::support::minilab::{MiniLab, Options};
use crate::support::smtp::SmtpServer;
use oracle::St;
use script::{Action, Dns, Script};

/// Where the simulated month starts (a Tuesday midnight, UTC).
const START: &str = "2026-12-01T00:00:00Z";

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The zone files of `zones` for the DNS `dns`, at `serial`.
fn zone_files(
    script: &Script,
    dns: &[Dns],
    zones: &BTreeSet<usize>,
    serial: u32,
) -> Vec<(String, u32, String)> {
    zones
        .iter()
        .map(|&zone| {
            let mut records = String::new();
            for j in 0..script.per_zone {
                let i = zone * script.per_zone + j;
                records.push_str(&dns[i].records(&format!("p{j}")));
            }
            (format!("z{zone}.it"), serial, records)
        })
        .collect()
}

/// Waits until the service says it reached `horizon`.
fn wait_reached(
    reached: &std::path::Path,
    horizon: Timestamp,
    service: &mut Child,
    log: &std::path::Path,
) {
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        if let Ok(text) = std::fs::read_to_string(reached)
            && text.trim().parse::<Timestamp>().ok() == Some(horizon)
        {
            return;
        }
        if let Some(status) = service.try_wait().unwrap() {
            panic!(
                "pecwatch serve stopped ({status}) before {horizon}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "pecwatch serve did not reach {horizon}: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Moves the horizon (atomically: the service never reads half a file).
fn set_horizon(path: &std::path::Path, at: Timestamp) {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, format!("{at}\n")).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

fn st(name: &str) -> St {
    match name {
        "certified" => St::Certified,
        "in_error" => St::InError,
        "removed" => St::Removed,
        "under_review" => St::UnderReview,
        "expired" => St::Expired,
        other => panic!("unexpected state {other}"),
    }
}

#[tokio::test]
async fn a_simulated_month_of_service_matches_the_oracle() {
    let zones = setting("PECWATCH_SOAK_ZONES", 100);
    let per_zone = setting("PECWATCH_SOAK_PER_ZONE", 100);
    let days = setting("PECWATCH_SOAK_DAYS", 30) as i64;
    let start: Timestamp = START.parse().unwrap();
    let mut random = Random::new("soak");
    let script = Script::draw(&mut random, zones, per_zone, start, days);
    let end = script.steps.last().unwrap().at + SignedDuration::from_mins(1);
    let oracle = oracle::run(&script, end);
    let n = script.domains();
    let changes: usize = script.steps.iter().map(|s| s.dns.len()).sum();
    let actions: usize = script.steps.iter().map(|s| s.actions.len()).sum();
    eprintln!(
        "soak: {n} domains, {days} days from {start}, {} steps, {changes} DNS changes, \
         {actions} operator commands",
        script.steps.len()
    );

    let lab = MiniLab::start(Options {
        zones,
        resolver: false,
        netns: false,
        editable: true,
    });
    let mut dns = script.initial.clone();
    let mut serial = 2;
    lab.set_zones(&zone_files(&script, &dns, &(0..zones).collect(), serial));

    let backend = match std::env::var("PECWATCH_SOAK_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    let (db, cleanup) = create(backend).await;
    let r = &db.registry;
    let mut csv = String::from("domain,holder_email,expires\n");
    for i in 0..n {
        csv.push_str(&format!(
            "{},h{i}@example.it,{}\n",
            script.name(i),
            script.expires[i]
        ));
    }
    let list = lab.dir().join("domains.csv");
    std::fs::write(&list, csv).unwrap();
    let registered = (start - SignedDuration::from_hours(24)).to_string();
    lab.run(
        &db.url,
        &registered,
        &["domains", "import", list.to_str().unwrap()],
        &[],
        0,
    );

    let smtp = SmtpServer::start();
    let relay = smtp.url();
    let horizon = lab.dir().join("horizon");
    let reached = lab.dir().join("horizon.reached");
    set_horizon(&horizon, script.steps[0].at);
    let horizon_var = horizon.to_str().unwrap().to_owned();
    let env = [
        ("PECWATCH_SIMULATE", horizon_var.as_str()),
        ("PECWATCH_SWEEP_TIME", "03:00"),
        ("PECWATCH_SWEEP_TIMEZONE", "UTC"),
        ("PECWATCH_SWEEP_CANARIES", "pec.ok.it"),
        ("PECWATCH_SWEEP_OPERATORS", "noc@provider.example"),
        ("PECWATCH_DNS_CONCURRENCY", "64"),
        // Generous timeouts: the servers always answer, and a timeout on a machine busy
        // with the rest of the suite would be a transient failure the script did not
        // cause (its re-check an hour later is not in the oracle).
        ("PECWATCH_DNS_TIMEOUT_MS", "3000"),
        ("PECWATCH_DNS_ATTEMPTS", "4"),
        ("PECWATCH_SMTP_URL", relay.as_str()),
        (
            "PECWATCH_SMTP_FROM",
            "Monitor PEC <monitor@gestore.example>",
        ),
        ("PECWATCH_NOTICES_PROVIDER_NAME", "Gestore PEC di prova"),
    ];
    let log = lab.dir().join("serve.log");
    let started = Instant::now();
    let mut service = lab
        .pecwatch(&db.url, Some(START), &["serve", "--lang", "en"], &env)
        .stdout(File::create(lab.dir().join("serve.out")).unwrap())
        .stderr(File::create(&log).unwrap())
        .stdin(Stdio::null())
        .spawn()
        .expect("start pecwatch serve");

    let (mut accepted, mut refused) = (0, 0);
    for (k, step) in script.steps.iter().enumerate() {
        wait_reached(&reached, step.at, &mut service, &log);
        if !step.dns.is_empty() {
            serial += 1;
            let mut changed = BTreeSet::new();
            for &(i, new) in &step.dns {
                dns[i] = new;
                changed.insert(i / per_zone);
            }
            lab.set_zones(&zone_files(&script, &dns, &changed, serial));
        }
        let now = step.at.to_string();
        for (m, &(i, action)) in step.actions.iter().enumerate() {
            let name = script.name(i);
            let expires;
            let args: Vec<&str> = match action {
                Action::Approve => vec!["domains", "approve", &name],
                Action::Reject => vec!["domains", "reject", &name, "--reason", "soak"],
                Action::Remove => vec!["domains", "remove", &name, "--reason", "soak"],
                Action::Renew(until) => {
                    expires = until.to_string();
                    vec!["domains", "renew", &name, "--expires", &expires]
                }
            };
            let output = lab
                .pecwatch(&db.url, Some(&now), &args, &[])
                .output()
                .unwrap();
            let expected = oracle.accepted[k][m];
            assert_eq!(
                output.status.code(),
                Some(if expected { 0 } else { 2 }),
                "{args:?} at {now}: the oracle says {}: {}{}",
                if expected { "accepted" } else { "refused" },
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            if expected {
                accepted += 1;
            } else {
                refused += 1;
            }
        }
        let next = script.steps.get(k + 1).map_or(end, |s| s.at);
        set_horizon(&horizon, next);
    }
    wait_reached(&reached, end, &mut service, &log);
    let elapsed = started.elapsed();
    if let Ok(keep) = std::env::var("PECWATCH_SOAK_KEEP") {
        let _ = std::fs::copy(lab.dir().join("serve.out"), format!("{keep}.out"));
        let _ = std::fs::copy(&log, format!("{keep}.log"));
    }
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &service.id().to_string()])
        .status();
    let status = service.wait().unwrap();
    assert!(status.success(), "pecwatch serve: {status}");

    // ---------------------------------------------------------------------------------
    // The registry against the oracle.
    // ---------------------------------------------------------------------------------
    let sweeps = count(r, "SELECT COUNT(*) FROM sweeps").await;
    let held = count(r, "SELECT COUNT(*) FROM sweeps WHERE held").await;
    let checks = count(r, "SELECT COUNT(*) FROM checks").await;
    assert_eq!(held, 0, "no sweep was held");
    let expected_checks: u32 = oracle.domains.iter().map(|e| e.checks).sum();
    assert_eq!(
        checks,
        i64::from(expected_checks),
        "one check at each due instant"
    );

    let domains = r.domains(&DomainFilter::default()).await.unwrap();
    assert_eq!(domains.len(), n);
    let by_name: HashMap<String, usize> = (0..n).map(|i| (script.name(i), i)).collect();
    let outbox = r.outbox(&OutboxFilter::default()).await.unwrap();
    let mut notices: BTreeMap<i64, Vec<(String, u32, Timestamp)>> = BTreeMap::new();
    // The index's changes for the publishers: `publish` or `unpublish`, with when.
    let mut publications: BTreeMap<i64, Vec<(String, Timestamp)>> = BTreeMap::new();
    let mut alerts = 0;
    for item in &outbox {
        match (item.kind.as_str(), item.domain_id) {
            ("notice" | "alert", domain) => {
                assert_eq!(
                    item.state,
                    OutboxState::Sent,
                    "every notice was sent: {item:?}"
                );
                assert_eq!(
                    item.accepted_at,
                    Some(item.created),
                    "sent when queued: {item:?}"
                );
                match domain {
                    Some(id) => notices.entry(id).or_default().push((
                        item.payload["kind"].as_str().unwrap().to_owned(),
                        item.payload["episode"].as_u64().unwrap() as u32,
                        item.created,
                    )),
                    None => alerts += 1,
                }
            }
            ("publish" | "unpublish", Some(id)) => publications
                .entry(id)
                .or_default()
                .push((item.kind.as_str().to_owned(), item.created)),
            _ => panic!("unexpected outbox item {item:?}"),
        }
    }
    let mut mismatches = Vec::new();
    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut transitions_total, mut notices_total) = (0, 0);
    for domain in &domains {
        let i = by_name[domain.name.as_str()];
        let expected = &oracle.domains[i];
        *tally.entry(expected.state.name()).or_default() += 1;
        let transitions: Vec<(St, St, Timestamp)> = r
            .transitions(domain.id)
            .await
            .unwrap()
            .into_iter()
            .map(|t| {
                (
                    st(t.transition.from.as_str()),
                    st(t.transition.to.as_str()),
                    t.transition.at,
                )
            })
            .collect();
        let got_notices = notices.remove(&domain.id).unwrap_or_default();
        let got_publications = publications.remove(&domain.id).unwrap_or_default();
        transitions_total += transitions.len();
        notices_total += got_notices.len();
        let status = &domain.status;
        // The last check: at the instant expected, with the error code of what it saw.
        let last_check_ok = match (&domain.last_check, expected.last_check) {
            (Some(got), Some((at, dns))) => {
                got.at == at
                    && match dns.code() {
                        None => got.ok && got.codes.is_empty(),
                        Some(code) => !got.ok && got.codes.iter().any(|c| c.as_str() == code),
                    }
            }
            (None, None) => true,
            _ => false,
        };
        let same = st(status.state.as_str()) == expected.state
            && status.deadline == expected.deadline
            && status.expires == Some(expected.expires)
            && status.episode == expected.episode
            && transitions == expected.transitions
            && got_notices == expected.notices
            && got_publications == expected.publications
            && last_check_ok;
        if !same {
            mismatches.push(format!(
                "{}: registry {} deadline {:?} expires {:?} episode {} transitions {transitions:?} \
                 notices {got_notices:?} index {got_publications:?} last check {:?}\n  oracle {} deadline {:?} expires {} \
                 episode {} transitions {:?} notices {:?} index {:?} last check {:?}",
                domain.name,
                status.state,
                status.deadline,
                status.expires,
                status.episode,
                domain.last_check.as_ref().map(|c| (c.at, &c.codes)),
                expected.state.name(),
                expected.deadline,
                expected.expires,
                expected.episode,
                expected.transitions,
                expected.notices,
                expected.publications,
                expected.last_check,
            ));
        }
    }
    let received = smtp.received().len();
    eprintln!(
        "soak: {} simulated days in {:.1} s: {sweeps} sweeps, {checks} checks, \
         {transitions_total} transitions, {notices_total} notices and {alerts} alerts sent, \
         {received} messages received; commands {accepted} accepted, {refused} refused; \
         final states {tally:?}; {} domains differ from the oracle",
        days,
        elapsed.as_secs_f64(),
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} of {n} domains differ from the oracle (seed above):\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(alerts, 0, "no alert: no sweep held, no notice bounced");
    assert_eq!(
        received,
        notices_total + alerts as usize,
        "one message per notice and alert"
    );
    // At full size, the script did exercise the rules (a small or short run may not).
    if n >= 1000 && days >= 20 {
        for state in [
            "certified",
            "in_error",
            "removed",
            "under_review",
            "expired",
        ] {
            assert!(
                tally.contains_key(state),
                "no domain ends {state}: {tally:?}"
            );
        }
        assert!(accepted > 0 && refused > 0, "{accepted} {refused}");
    }
    db.registry.close().await;
    cleanup.run().await;
}

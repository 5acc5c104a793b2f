//! Several workers on one PostgreSQL database: three `pecwatch serve` processes share
//! the sweeps of 2,000 lab domains; the one running the schedule is killed with SIGKILL
//! in the middle of the first sweep.
//!
//! What must hold, asserted from the database, the processes' output and the mail the
//! test SMTP server received:
//!
//! - **One scheduler at a time.** The first process to start takes the `schedule` lease
//!   and starts the first sweep; the other two join it. After its death exactly one of
//!   the survivors takes the schedule over (once the lease lapsed) and starts the
//!   following sweeps; no process ever starts a sweep without holding the schedule.
//! - **Each domain checked once per sweep.** Every domain has exactly one check in the
//!   first sweep, and every failing domain exactly one in the confirmation sweep. A
//!   domain the dead worker had claimed but not committed (its lease at the moment of
//!   death) was checked by a survivor, only after that lease lapsed (the check's time is
//!   later than the lease's end), and only once.
//! - **Side effects once.** Each failing domain has exactly one transition
//!   (`certified → in_error`), one error notice in the outbox, sent, and the holder got
//!   exactly one message; the correct domains have none.
//! - Nothing is left pending or leased, and no sweep is left unfinished.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use pecwatch::lifecycle::State;
use pecwatch::registry::{Backend, DomainFilter, OutboxFilter, OutboxState, Registry};

use crate::faults::{Random, count};
use crate::support::cli::{pecwatch, run};
use crate::support::db::create;
use crate::support::smtp::SmtpServer;

/// Correct domains (`d<i>.many.it`) and failing ones (`d<i>.manybad.it`).
const PER_KIND: usize = 1000;

/// One `pecwatch serve` process, its output going to files.
struct Worker {
    /// Its PostgreSQL application name (to see its sessions).
    application: String,
    child: Child,
    stdout: tempfile::NamedTempFile,
    stderr: tempfile::NamedTempFile,
}

impl Worker {
    fn start(url: &str, application: String, env: &[(&str, &str)]) -> Self {
        let stdout = tempfile::NamedTempFile::new().unwrap();
        let stderr = tempfile::NamedTempFile::new().unwrap();
        let url = format!("{url}&application_name={application}");
        let child = pecwatch(&url, None, &["serve", "--lang", "en"], env)
            .stdout(File::create(stdout.path()).unwrap())
            .stderr(File::create(stderr.path()).unwrap())
            .stdin(Stdio::null())
            .spawn()
            .expect("start pecwatch serve");
        Worker {
            application,
            child,
            stdout,
            stderr,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its name in leases and in `sweeps.started_by`.
    fn owner(&self) -> String {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default();
        format!("{host}:{}", self.pid())
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {}", self.pid());
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr.path()).unwrap_or_default()
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(self.stdout.path()).unwrap_or_default()
    }

    /// Lines saying this process started running the schedule.
    fn took_schedule(&self) -> usize {
        let line = format!("pecwatch serve: {} runs the schedule", self.owner());
        self.stderr().lines().filter(|l| *l == line).count()
    }
}

/// Runs `sql` with one text parameter and returns the rows' two columns.
async fn pairs(registry: &Registry, sql: &str, param: &str) -> Vec<(i64, i64)> {
    let Registry::Postgres(pool) = registry else {
        panic!("the workers test runs on PostgreSQL");
    };
    sqlx::query_as(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(param)
        .fetch_all(pool)
        .await
        .unwrap()
}

/// How many of the sessions of `application` are running a statement.
async fn active_sessions(registry: &Registry, application: &str) -> i64 {
    let Registry::Postgres(pool) = registry else {
        unreachable!()
    };
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'",
    )
    .bind(application)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn three_workers_share_the_sweeps_and_survive_the_schedulers_death() {
    let (db, cleanup) = create(Backend::Postgres).await;
    let r = &db.registry;
    let url = db.url.as_str();
    let smtp = SmtpServer::start();
    let relay = smtp.url();

    let csv = tempfile::NamedTempFile::new().unwrap();
    let mut text = String::from("domain,holder_email,expires\n");
    for i in 0..PER_KIND {
        text.push_str(&format!("d{i}.many.it,h{i}@example.it,2027-12-31\n"));
        text.push_str(&format!("d{i}.manybad.it,b{i}@example.it,2027-12-31\n"));
    }
    std::fs::write(csv.path(), text).unwrap();
    // Registered a minute ago by the real clock: due at once for the services.
    let registered = (Timestamp::now() - jiff::SignedDuration::from_mins(1)).to_string();
    run(
        url,
        &registered,
        &["domains", "import", csv.path().to_str().unwrap()],
        &[],
        0,
    );

    // Short leases (the schedule's lease too: it is at most sweep.lease), small batches,
    // confirmation as soon as allowed (a minute later), no share brake (half the domains
    // fail on purpose), notices to the test SMTP server, no web interface.
    let env = [
        ("PECWATCH_SWEEP_LEASE", "6s"),
        ("PECWATCH_SWEEP_BATCH_SIZE", "25"),
        ("PECWATCH_DNS_CONCURRENCY", "32"),
        ("PECWATCH_SWEEP_MAX_NEW_FAILURE_SHARE", "1"),
        ("PECWATCH_LIFECYCLE_CONFIRM_AFTER", "10s"),
        ("PECWATCH_SWEEP_RECHECK_PENDING", "10s"),
        ("PECWATCH_SMTP_URL", relay.as_str()),
        (
            "PECWATCH_SMTP_FROM",
            "Monitor PEC <monitor@gestore.example>",
        ),
        ("PECWATCH_NOTICES_PROVIDER_NAME", "Gestore PEC di prova"),
        ("PECWATCH_WEB_ENABLED", "false"),
    ];
    let tag = format!("pwtest-{}", std::process::id());
    let mut workers: Vec<Worker> = (1..=3)
        .map(|n| Worker::start(url, format!("{tag}-w{n}"), &env))
        .collect();

    // The first sweep: wait for a random share of its checks (a quarter to three
    // quarters), then kill the scheduler. It is first stopped (SIGSTOP), so that the
    // domains it holds can be read exactly once its statements are done: those are the
    // ones it claimed and will never commit.
    let mut random = Random::new("workers");
    let total = (2 * PER_KIND) as i64;
    let target = random.between(total as u64 / 4, 3 * total as u64 / 4) as i64;
    let deadline = Instant::now() + Duration::from_secs(300);
    let (victim, orphans, killed_at) = loop {
        assert!(
            Instant::now() < deadline,
            "the first sweep did not progress"
        );
        for worker in &mut workers {
            assert!(
                worker.child.try_wait().unwrap().is_none(),
                "a worker stopped: {}",
                worker.stderr()
            );
        }
        let checked = count(r, "SELECT COUNT(*) FROM checks").await;
        if checked < target {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        let (holder, _, _) = r
            .lease_holder("schedule")
            .await
            .unwrap()
            .expect("a process runs the schedule");
        let victim = workers
            .iter()
            .position(|w| w.owner() == holder)
            .expect("the scheduler is one of the workers");
        workers[victim].signal("STOP");
        while active_sessions(r, &workers[victim].application).await > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let held = pairs(
            r,
            "SELECT id, lease_until FROM domains WHERE lease_owner = $1",
            &holder,
        )
        .await;
        if held.is_empty() {
            // Between two batches: let it claim the next one.
            workers[victim].signal("CONT");
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let checked = count(r, "SELECT COUNT(*) FROM checks").await;
        workers[victim].child.kill().unwrap(); // SIGKILL: no chance to clean up
        workers[victim].child.wait().unwrap();
        break (victim, held, checked);
    };
    let victim_owner = workers[victim].owner();
    eprintln!(
        "killed the scheduler {victim_owner} after {killed_at} of {total} checks, holding {} \
         claimed domains",
        orphans.len()
    );

    // The survivors finish the first sweep, one of them takes the schedule over, the
    // confirmations fall due a minute later and their notices go out.
    let bad = "SELECT COUNT(*) FROM domains WHERE state = 'in_error'";
    let sent = "SELECT COUNT(*) FROM outbox WHERE kind = 'notice' AND state = 'sent'";
    let open = "SELECT COUNT(*) FROM sweeps WHERE finished IS NULL";
    let deadline = Instant::now() + Duration::from_secs(400);
    loop {
        let done = count(r, bad).await == PER_KIND as i64
            && count(r, sent).await == PER_KIND as i64
            && count(r, open).await == 0;
        if done {
            break;
        }
        for (n, worker) in workers.iter_mut().enumerate() {
            if n != victim {
                assert!(
                    worker.child.try_wait().unwrap().is_none(),
                    "a survivor stopped: {}",
                    worker.stderr()
                );
            }
        }
        assert!(
            Instant::now() < deadline,
            "not done: {} in error, {} notices sent, {} sweeps open",
            count(r, bad).await,
            count(r, sent).await,
            count(r, open).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A clean stop of the survivors, the follower first: the scheduler gives the lease up.
    let mut survivors: Vec<usize> = (0..3).filter(|n| *n != victim).collect();
    survivors.sort_by_key(|n| workers[*n].took_schedule());
    for n in survivors.clone() {
        workers[n].signal("TERM");
        let status = workers[n].child.wait().unwrap();
        assert!(status.success(), "{}", workers[n].stderr());
    }
    for worker in &workers {
        eprintln!(
            "--- {} ({})\n{}{}",
            worker.owner(),
            worker.application,
            worker.stderr(),
            worker.stdout()
        );
    }

    // One scheduler at a time: the victim, then exactly one survivor, for good.
    let successor = survivors[1];
    assert_eq!(workers[victim].took_schedule(), 1, "the first scheduler");
    assert_eq!(
        workers[successor].took_schedule(),
        1,
        "took the schedule over"
    );
    assert_eq!(workers[survivors[0]].took_schedule(), 0, "only joined");
    for worker in &workers {
        assert!(!worker.stderr().contains("no longer runs the schedule"));
    }
    let Registry::Postgres(pool) = r else {
        unreachable!()
    };
    let sweeps: Vec<(i64, Option<String>, String)> =
        sqlx::query_as("SELECT id, started_by, kind FROM sweeps ORDER BY id")
            .fetch_all(pool)
            .await
            .unwrap();
    eprintln!("sweeps: {sweeps:?}");
    assert!(sweeps.len() >= 2, "{sweeps:?}");
    let first_sweep = sweeps[0].0;
    assert_eq!(sweeps[0].1.as_deref(), Some(victim_owner.as_str()));
    let successor_owner = workers[successor].owner();
    for (id, started_by, _) in &sweeps[1..] {
        assert_eq!(
            started_by.as_deref(),
            Some(successor_owner.as_str()),
            "sweep {id}"
        );
    }
    assert_eq!(r.lease_holder("schedule").await.unwrap(), None, "given up");

    // Each domain checked once per sweep: all 2,000 in the first, the failing ones once
    // more (the confirmation), nothing twice.
    let twice = "SELECT COUNT(*) FROM (SELECT domain_id, sweep_id FROM checks \
                 GROUP BY domain_id, sweep_id HAVING COUNT(*) > 1) AS twice";
    assert_eq!(
        count(r, twice).await,
        0,
        "a domain checked twice in a sweep"
    );
    let in_first = format!("SELECT COUNT(*) FROM checks WHERE sweep_id = {first_sweep}");
    assert_eq!(count(r, &in_first).await, total);
    // The dead worker's claimed domains: checked by a survivor after the lease lapsed.
    let orphan_ids: Vec<i64> = orphans.iter().map(|(id, _)| *id).collect();
    let mut checked_at: HashMap<i64, i64> = HashMap::new();
    for (domain, at) in sqlx::query_as::<_, (i64, i64)>(
        "SELECT domain_id, at FROM checks WHERE sweep_id = $1 AND domain_id = ANY($2)",
    )
    .bind(first_sweep)
    .bind(&orphan_ids)
    .fetch_all(pool)
    .await
    .unwrap()
    {
        assert!(
            checked_at.insert(domain, at).is_none(),
            "domain {domain} twice"
        );
    }
    for (id, lease_until) in &orphans {
        let at = checked_at
            .get(id)
            .unwrap_or_else(|| panic!("domain {id} never checked"));
        assert!(
            at > lease_until,
            "domain {id} checked at {at}, while the dead worker's lease lasted ({lease_until})"
        );
    }

    // Side effects once.
    let all = r.domains(&DomainFilter::default()).await.unwrap();
    assert_eq!(all.len(), 2 * PER_KIND);
    let outbox = r.outbox(&OutboxFilter::default()).await.unwrap();
    let mut by_domain: BTreeMap<i64, Vec<_>> = BTreeMap::new();
    for item in &outbox {
        if let Some(id) = item.domain_id {
            by_domain.entry(id).or_default().push(item);
        }
    }
    for d in &all {
        let transitions = r.transitions(d.id).await.unwrap();
        let checks = r.checks(d.id, 10).await.unwrap().len();
        let items = by_domain.get(&d.id).cloned().unwrap_or_default();
        assert_eq!(d.pending, None, "{}", d.name);
        assert_eq!(d.lease, None, "{}", d.name);
        if d.name.as_str().ends_with(".manybad.it") {
            assert_eq!(d.status.state, State::InError, "{}", d.name);
            assert_eq!(checks, 2, "{}: once per sweep", d.name);
            assert_eq!(transitions.len(), 1, "{}: {transitions:?}", d.name);
            assert_eq!(items.len(), 1, "{}: {items:?}", d.name);
            assert!(items[0].key.ends_with("error_found"), "{items:?}");
            assert_eq!(items[0].state, OutboxState::Sent, "{items:?}");
        } else {
            assert_eq!(d.status.state, State::Certified, "{}", d.name);
            assert_eq!(checks, 1, "{}: once", d.name);
            assert!(transitions.is_empty(), "{}: {transitions:?}", d.name);
            assert!(items.is_empty(), "{}: {items:?}", d.name);
        }
    }
    let received = smtp.received();
    let mut per_recipient: HashMap<String, usize> = HashMap::new();
    let mut message_ids = HashSet::new();
    for message in &received {
        for to in &message.rcpt_tos {
            *per_recipient.entry(to.clone()).or_default() += 1;
        }
        let id = message.header("Message-ID").unwrap_or_default().to_owned();
        assert!(message_ids.insert(id), "a Message-ID twice");
    }
    assert_eq!(received.len(), PER_KIND, "one message per failing domain");
    for i in 0..PER_KIND {
        assert_eq!(per_recipient.get(&format!("b{i}@example.it")), Some(&1));
    }
    eprintln!(
        "{} sweeps; the dead worker's {} claimed domains taken over; {} messages",
        sweeps.len(),
        orphans.len(),
        received.len()
    );
    r.close().await;
    cleanup.run().await;
}

/// How many of the sessions of `application` are in a statement or inside a transaction.
async fn busy_sessions(registry: &Registry, application: &str) -> (i64, i64) {
    let Registry::Postgres(pool) = registry else {
        unreachable!()
    };
    sqlx::query_as(
        "SELECT COUNT(*) FILTER (WHERE state = 'active'), \
         COUNT(*) FILTER (WHERE state LIKE 'idle in transaction%') \
         FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(application)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// A worker that stalls (SIGSTOP) for longer than its leases, while another takes its
/// domains over, then carries on (SIGCONT): what it checked meanwhile comes back as
/// conflicts with the other worker's checks of the same sweep, and is dropped. Every
/// domain keeps one check in the sweep.
#[tokio::test]
async fn a_worker_slower_than_its_lease_records_no_second_check() {
    const DOMAINS: usize = 600;
    let (db, cleanup) = create(Backend::Postgres).await;
    let r = &db.registry;
    let csv = tempfile::NamedTempFile::new().unwrap();
    let mut text = String::from("domain,holder_email,expires\n");
    for i in 0..DOMAINS {
        text.push_str(&format!("s{i}.many.it,h{i}@example.it,2027-12-31\n"));
    }
    std::fs::write(csv.path(), text).unwrap();
    let registered = (Timestamp::now() - jiff::SignedDuration::from_mins(1)).to_string();
    run(
        &db.url,
        &registered,
        &["domains", "import", csv.path().to_str().unwrap()],
        &[],
        0,
    );
    let env = [
        ("PECWATCH_SWEEP_LEASE", "4s"),
        ("PECWATCH_SWEEP_BATCH_SIZE", "20"),
        ("PECWATCH_DNS_CONCURRENCY", "8"),
        ("PECWATCH_LOG", "info"),
    ];
    let tag = format!("pwslow-{}", std::process::id());
    let start = |n: u32| {
        let application = format!("{tag}-{n}");
        let url = format!("{}&application_name={application}", db.url);
        let log = tempfile::NamedTempFile::new().unwrap();
        let file = File::create(log.path()).unwrap();
        let child = pecwatch(&url, None, &["sweep", "--format", "json"], &env)
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        (application, child, log)
    };

    // The slow worker starts alone; once it has committed some checks it is stopped,
    // outside any statement or transaction, holding claimed domains.
    let (slow_app, mut slow, slow_log) = start(1);
    let slow_owner = {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        format!("{}:{}", host.trim(), slow.id())
    };
    let signal = |signal: &str, pid: u32| {
        let status = Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    let stalled = loop {
        assert!(
            Instant::now() < deadline,
            "the slow worker did not progress"
        );
        assert!(slow.try_wait().unwrap().is_none(), "it finished too soon");
        if count(r, "SELECT COUNT(*) FROM checks").await < 60 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        signal("STOP", slow.id());
        let mut sessions = busy_sessions(r, &slow_app).await;
        while sessions.0 > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            sessions = busy_sessions(r, &slow_app).await;
        }
        let held = pairs(
            r,
            "SELECT id, lease_until FROM domains WHERE lease_owner = $1",
            &slow_owner,
        )
        .await;
        if sessions.1 == 0 && !held.is_empty() {
            break held;
        }
        signal("CONT", slow.id());
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    // Another worker joins, waits for those leases to lapse, takes the domains over and
    // finishes the sweep; then the slow one wakes up.
    let (_, mut fast, fast_log) = start(2);
    let ids: Vec<String> = stalled.iter().map(|(id, _)| id.to_string()).collect();
    let taken = format!(
        "SELECT COUNT(DISTINCT domain_id) FROM checks WHERE domain_id IN ({})",
        ids.join(", ")
    );
    while count(r, &taken).await < stalled.len() as i64 {
        assert!(
            Instant::now() < deadline,
            "the other worker did not take over"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signal("CONT", slow.id());
    for (what, child, log) in [
        ("fast", &mut fast, &fast_log),
        ("slow", &mut slow, &slow_log),
    ] {
        let status = child.wait().unwrap();
        let text = std::fs::read_to_string(log.path()).unwrap();
        assert!(status.success(), "{what}: {text}");
    }
    let slow_text = std::fs::read_to_string(slow_log.path()).unwrap();
    let dropped = slow_text
        .lines()
        .filter(|l| l.contains("results dropped"))
        .count();
    eprintln!(
        "the slow worker held {} domains when stopped; {dropped} batches of its results dropped",
        stalled.len()
    );
    assert!(dropped > 0, "its late results were dropped: {slow_text}");

    let twice = "SELECT COUNT(*) FROM (SELECT domain_id, sweep_id FROM checks \
                 GROUP BY domain_id, sweep_id HAVING COUNT(*) > 1) AS twice";
    assert_eq!(
        count(r, twice).await,
        0,
        "a domain checked twice in a sweep"
    );
    assert_eq!(
        count(r, "SELECT COUNT(*) FROM checks").await,
        DOMAINS as i64
    );
    assert_eq!(count(r, "SELECT COUNT(*) FROM sweeps").await, 1);
    let leased = "SELECT COUNT(*) FROM domains WHERE lease_owner IS NOT NULL";
    assert_eq!(count(r, leased).await, 0, "no lease left");
    let Registry::Postgres(pool) = r else {
        unreachable!()
    };
    for (id, lease_until) in &stalled {
        let at: i64 = sqlx::query_scalar("SELECT at FROM checks WHERE domain_id = $1")
            .bind(id)
            .fetch_one(pool)
            .await
            .unwrap();
        assert!(
            at > *lease_until,
            "domain {id} taken over before its lease lapsed"
        );
    }
    r.close().await;
    cleanup.run().await;
}

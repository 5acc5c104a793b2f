//! The registry on both backends: every test runs on a fresh SQLite file and on a fresh
//! schema of the PostgreSQL server at `PECWATCH_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`), which must be running.
//!
//! `batch_throughput` (ignored) measures committing 100,000 updates in batches of 500:
//! `cargo test --release --test integration -- --ignored batch_throughput --nocapture`.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use jiff::{SignedDuration, Timestamp};
use pecwatch::Lang;
use pecwatch::finding::Code;
use pecwatch::lifecycle::{DomainStatus, Event, Reason, SYSTEM, State, Transition};
use pecwatch::name::DomainName;
use pecwatch::registry::{
    AlertKind, Attempt, Delivery, DomainFilter, DomainUpdate, Holder, NewCheck, NewDomain,
    NewEffect, OutboxFilter, OutboxKind, OutboxState, PendingChange, PendingCheck, Registry,
    RegistryError, ResultJson, SweepKind,
};
use serde_json::json;

use crate::support::db::on_both;

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

fn t0() -> Timestamp {
    "2026-11-02T06:00:00Z".parse().unwrap()
}

fn hours(n: i64) -> SignedDuration {
    SignedDuration::from_hours(n)
}

fn name(text: &str) -> DomainName {
    DomainName::parse(text).unwrap()
}

/// A domain in `state` since `at`, due for a check at `at`.
fn new_domain(domain: &str, state: State, at: Timestamp) -> NewDomain {
    NewDomain {
        name: name(domain),
        holder: Holder {
            name: Some("Mario Rossi".into()),
            email: format!("admin@{domain}"),
            lang: Lang::It,
        },
        reseller: None,
        profile: "aruba".into(),
        exception: Vec::new(),
        status: DomainStatus::new(state, at, Some(at + hours(24 * 365))),
        next_check: at,
    }
}

fn check(at: Timestamp, codes: &[&str]) -> NewCheck {
    NewCheck {
        at,
        ok: codes.is_empty(),
        transient: false,
        codes: codes.iter().map(|c| Code::parse(c).unwrap()).collect(),
        warnings: Vec::new(),
        result: ResultJson::of(&json!({ "codes": codes, "servers": ["192.0.2.53"] })),
        previous_ok: Some(true),
    }
}

/// An update that only records a check and the next check time.
fn checked(id: i64, version: i64, at: Timestamp, codes: &[&str]) -> DomainUpdate {
    DomainUpdate {
        domain_id: id,
        expected_version: version,
        check: Some(check(at, codes)),
        status: None,
        transitions: Vec::new(),
        effects: Vec::new(),
        next_check: at + hours(24),
        sweep_id: None,
        pending: PendingChange::Keep,
        deliveries: Vec::new(),
        bounces: Vec::new(),
        previous_result: None,
    }
}

fn effect(key: &str) -> NewEffect {
    NewEffect {
        key: key.into(),
        kind: OutboxKind::Notice,
        payload: json!({ "notice": "error_found" }),
    }
}

/// Registers `pec.uno.it` and `pec.due.it`, certified at t0.
async fn add_uno_and_due(r: &Registry) {
    r.add_domains(
        &[
            new_domain("pec.uno.it", State::Certified, t0()),
            new_domain("pec.due.it", State::Certified, t0()),
        ],
        t0(),
    )
    .await
    .unwrap();
}

const LEASE: Duration = Duration::from_secs(600);

// ---------------------------------------------------------------------------------------
// Opening
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn migrations_are_idempotent() {
    on_both(|db| async move {
        db.registry
            .add_domain(new_domain("pec.uno.it", State::Certified, t0()), t0())
            .await
            .unwrap();
        db.registry.migrate().await.unwrap();
        let again = Registry::open(&db.url).await.unwrap();
        again.migrate().await.unwrap();
        assert!(again.domain(&name("pec.uno.it")).await.unwrap().is_some());
        let applied: i64 = match &again {
            Registry::Sqlite(pool) => sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
                .fetch_one(pool)
                .await
                .unwrap(),
            Registry::Postgres(pool) => sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
                .fetch_one(pool)
                .await
                .unwrap(),
        };
        assert_eq!(applied, 10, "0001_registry … 0010_sweep_writes");
        again.close().await;
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_postgres_is_a_clear_error_without_the_password() {
    let started = Instant::now();
    let err = Registry::open("postgres://postgres:hunter2@127.0.0.1:1/test")
        .await
        .unwrap_err();
    let RegistryError::Database(message) = &err else {
        panic!("expected a database error, got {err:?}");
    };
    assert!(
        message.starts_with(
            "cannot connect to the database at postgres://postgres:***@127.0.0.1:1/test: "
        ),
        "{message}"
    );
    assert!(message.to_lowercase().contains("refused"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_sqlite_file_in_a_missing_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("pecwatch.db");
    let url = format!("sqlite://{}", path.display());
    let err = Registry::open(&url).await.unwrap_err();
    let RegistryError::Database(message) = &err else {
        panic!("expected a database error, got {err:?}");
    };
    assert!(message.contains(&url), "{message}");
    assert!(message.contains("does not exist"), "{message}");
    assert!(!path.parent().unwrap().exists());
}

#[tokio::test]
async fn other_urls_are_refused() {
    let err = Registry::open("mysql://root:pw@localhost/pec")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::Invalid(m) if m.contains("mysql://root:***@localhost/pec") && !m.contains(":pw@")),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_in_memory_registry_works() {
    let registry = Registry::open("sqlite::memory:").await.unwrap();
    registry
        .add_domain(new_domain("pec.uno.it", State::Certified, t0()), t0())
        .await
        .unwrap();
    assert_eq!(
        registry
            .domains(&DomainFilter::default())
            .await
            .unwrap()
            .len(),
        1
    );
}

// ---------------------------------------------------------------------------------------
// Domains
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn domains_are_added_once_and_read_back() {
    on_both(|db| async move {
        let r = &db.registry;
        let mut new = new_domain("pec.esempio.it", State::Requested, t0());
        new.reseller = Some("rivenditore".into());
        new.exception = vec!["198.51.100.0/24".parse().unwrap()];
        new.holder.lang = Lang::En;
        let added = r.add_domain(new.clone(), t0()).await.unwrap();
        assert_eq!(added.name, new.name);
        assert_eq!(added.holder, new.holder);
        assert_eq!(added.reseller.as_deref(), Some("rivenditore"));
        assert_eq!(added.exception, new.exception);
        assert_eq!(added.status, new.status);
        assert_eq!(added.next_check, t0());
        assert_eq!(
            (added.version, added.created, added.updated),
            (0, t0(), t0())
        );
        assert_eq!(
            (added.last_check.as_ref(), added.lease.as_ref()),
            (None, None)
        );

        assert_eq!(r.domain(&new.name).await.unwrap(), Some(added.clone()));
        assert_eq!(r.domain_by_id(added.id).await.unwrap(), Some(added.clone()));
        assert_eq!(r.domain(&name("pec.altro.it")).await.unwrap(), None);

        let again = r.add_domain(new.clone(), t0()).await.unwrap_err();
        assert_eq!(again, RegistryError::Duplicate("pec.esempio.it".into()));

        let mut bad = new_domain("pec.bad.it", State::Requested, t0());
        bad.holder.email = "not an address".into();
        assert!(matches!(
            r.add_domain(bad, t0()).await,
            Err(RegistryError::Invalid(_))
        ));

        // A bulk import is all or nothing.
        let batch = vec![
            new_domain("pec.a.it", State::Certified, t0()),
            new_domain("pec.esempio.it", State::Certified, t0()),
        ];
        let err = r.add_domains(&batch, t0()).await.unwrap_err();
        assert_eq!(err, RegistryError::Duplicate("pec.esempio.it".into()));
        assert_eq!(r.domain(&name("pec.a.it")).await.unwrap(), None);
        assert_eq!(r.add_domains(&batch[..1], t0()).await.unwrap(), 1);

        let exception = vec!["192.0.2.0/28".parse().unwrap()];
        let later = t0() + hours(1);
        let changed = r
            .set_exception(&new.name, exception.clone(), later)
            .await
            .unwrap();
        assert_eq!((changed.exception, changed.version), (exception, 1));
        assert_eq!(changed.updated, later);
        let missing = r
            .set_exception(&name("pec.nessuno.it"), vec![], later)
            .await;
        assert!(matches!(missing, Err(RegistryError::NotFound(_))));
    })
    .await;
}

#[tokio::test]
async fn domains_are_listed_by_each_filter() {
    on_both(|db| async move {
        let r = &db.registry;
        let mut ids = Vec::new();
        for (domain, state) in [
            ("pec.delta.it", State::Certified),
            ("pec.alfa.it", State::Certified),
            ("pec.charlie.it", State::Removed),
            ("pec.bravo.it", State::Requested),
            ("pec.echo_x.it", State::Certified),
        ] {
            let domain = domain.replace('_', "-");
            ids.push(
                r.add_domain(new_domain(&domain, state, t0()), t0())
                    .await
                    .unwrap()
                    .id,
            );
        }
        // delta fails with two codes and is put in error with a deadline; alfa passes.
        let mut status = DomainStatus::new(State::InError, t0(), None);
        status.deadline = Some(t0() + hours(7 * 24));
        let mut failing = checked(ids[0], 0, t0(), &["A_NON_CORRETTO", "MX_NON_DEFINITO"]);
        failing.status = Some(status);
        let passing = checked(ids[1], 0, t0(), &[]);
        let outcome = r
            .commit_batch("w", t0(), vec![failing, passing])
            .await
            .unwrap();
        assert_eq!(outcome.applied, vec![ids[0], ids[1]]);

        let names = |filter: DomainFilter| async move {
            r.domains(&filter)
                .await
                .unwrap()
                .into_iter()
                .map(|d| d.name.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(DomainFilter::default()).await,
            [
                "pec.alfa.it",
                "pec.bravo.it",
                "pec.charlie.it",
                "pec.delta.it",
                "pec.echo-x.it"
            ]
        );
        let by_state = |state| DomainFilter {
            state: Some(state),
            ..Default::default()
        };
        assert_eq!(
            names(by_state(State::Certified)).await,
            ["pec.alfa.it", "pec.echo-x.it"]
        );
        assert_eq!(names(by_state(State::InError)).await, ["pec.delta.it"]);
        let by_code = |code: &str| DomainFilter {
            code: Some(code.parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(names(by_code("MX_NON_DEFINITO")).await, ["pec.delta.it"]);
        assert!(names(by_code("A_MULTIPLI")).await.is_empty());
        let deadline = |at| DomainFilter {
            deadline_before: Some(at),
            ..Default::default()
        };
        assert_eq!(
            names(deadline(t0() + hours(7 * 24 + 1))).await,
            ["pec.delta.it"]
        );
        assert!(names(deadline(t0() + hours(7 * 24))).await.is_empty());
        let containing = |text: &str| DomainFilter {
            name_contains: Some(text.into()),
            ..Default::default()
        };
        assert_eq!(names(containing("HO-X")).await, ["pec.echo-x.it"]);
        assert!(names(containing("%")).await.is_empty());
        assert!(names(containing("_")).await.is_empty());
        let page = DomainFilter {
            limit: Some(2),
            offset: 1,
            ..Default::default()
        };
        assert_eq!(names(page).await, ["pec.bravo.it", "pec.charlie.it"]);
        let after = DomainFilter {
            after_name: Some("pec.charlie.it".into()),
            ..Default::default()
        };
        assert_eq!(names(after).await, ["pec.delta.it", "pec.echo-x.it"]);
        let offset_only = DomainFilter {
            offset: 4,
            ..Default::default()
        };
        assert_eq!(names(offset_only).await, ["pec.echo-x.it"]);

        let streamed: Vec<String> = r
            .stream_domains(DomainFilter::default(), 2)
            .map_ok(|d| d.name.to_string())
            .try_collect()
            .await
            .unwrap();
        assert_eq!(streamed, names(DomainFilter::default()).await);

        let counts = r.count_by_state().await.unwrap();
        assert_eq!(counts.len(), State::ALL.len());
        let count = |state| counts.iter().find(|(s, _)| *s == state).unwrap().1;
        assert_eq!(
            [
                State::Requested,
                State::Certified,
                State::InError,
                State::Removed,
                State::Expired
            ]
            .map(count),
            [1, 2, 1, 1, 0]
        );

        let delta = r.domain_by_id(ids[0]).await.unwrap().unwrap();
        let last = delta.last_check.unwrap();
        assert_eq!(last.codes, [Code::A_NON_CORRETTO, Code::MX_NON_DEFINITO]);
        assert!(!last.ok);
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Leases
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_leased_domain_is_not_claimed_again_until_the_lease_lapses() {
    on_both(|db| async move {
        let r = &db.registry;
        let mut future = new_domain("pec.futuro.it", State::Certified, t0());
        future.next_check = t0() + hours(2);
        r.add_domain(future, t0()).await.unwrap();
        for (domain, state) in [
            ("pec.uno.it", State::Certified),
            ("pec.due.it", State::Removed),
            ("pec.richiesto.it", State::Requested),
            ("pec.scaduto.it", State::Expired),
        ] {
            r.add_domain(new_domain(domain, state, t0()), t0())
                .await
                .unwrap();
        }
        let now = t0() + hours(1);
        let claimed = r.claim_due("w1", now, LEASE, 10).await.unwrap();
        let claimed_names: HashSet<String> = claimed.iter().map(|d| d.name.to_string()).collect();
        assert_eq!(
            claimed_names,
            HashSet::from(["pec.uno.it".into(), "pec.due.it".into()])
        );
        let lease = claimed[0].lease.clone().unwrap();
        assert_eq!(
            (lease.owner.as_str(), lease.until),
            ("w1", now + SignedDuration::from_secs(600))
        );

        // Held: nobody gets them, not even the holder.
        assert!(r.claim_due("w2", now, LEASE, 10).await.unwrap().is_empty());
        let at_end = now + SignedDuration::from_secs(600);
        assert!(
            r.claim_due("w2", at_end, LEASE, 10)
                .await
                .unwrap()
                .is_empty()
        );
        // Lapsed: another worker takes over.
        let later = at_end + SignedDuration::from_secs(1);
        let taken = r.claim_due("w2", later, LEASE, 1).await.unwrap();
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].lease.as_ref().unwrap().owner, "w2");

        // Released leases are free at once; others' leases are not released.
        let ids: Vec<i64> = claimed.iter().map(|d| d.id).collect();
        assert_eq!(r.release("w1", &ids).await.unwrap(), 1);
        let freed = r.claim_due("w3", later, LEASE, 10).await.unwrap();
        assert_eq!(freed.len(), 1);
        assert_ne!(freed[0].id, taken[0].id);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claimers_share_the_due_domains_without_overlap() {
    on_both(|db| async move {
        const DOMAINS: usize = 1_000;
        let batch: Vec<NewDomain> = (0..DOMAINS)
            .map(|i| new_domain(&format!("pec.d{i:04}.it"), State::Certified, t0()))
            .collect();
        db.registry.add_domains(&batch, t0()).await.unwrap();

        let now = t0() + hours(1);
        let mut workers = Vec::new();
        for worker in 0..4 {
            let registry = Registry::open(&db.url).await.unwrap();
            workers.push(tokio::spawn(async move {
                let owner = format!("w{worker}");
                let mut mine = Vec::new();
                loop {
                    let claimed = registry.claim_due(&owner, now, LEASE, 25).await.unwrap();
                    if claimed.is_empty() {
                        break;
                    }
                    assert!(
                        claimed
                            .iter()
                            .all(|d| d.lease.as_ref().unwrap().owner == owner)
                    );
                    mine.extend(claimed.iter().map(|d| d.id));
                }
                registry.close().await;
                mine
            }));
        }
        let mut all = HashSet::new();
        let mut total = 0;
        for worker in workers {
            let mine = worker.await.unwrap();
            total += mine.len();
            all.extend(mine);
        }
        assert_eq!(total, DOMAINS, "a domain was claimed twice");
        assert_eq!(all.len(), DOMAINS, "a domain was never claimed");
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Committing results
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_batch_writes_checks_transitions_effects_and_status_together() {
    on_both(|db| async move {
        let r = &db.registry;
        add_uno_and_due(r).await;
        let now = t0() + hours(1);
        let (sweep, _) = r.begin_sweep(now, SweepKind::Daily).await.unwrap();
        let sweep = sweep.id;
        let claimed = r.claim_due("w1", now, LEASE, 10).await.unwrap();
        assert_eq!(claimed.len(), 2);
        let (uno, due) = if claimed[0].name.as_str() == "pec.uno.it" {
            (&claimed[0], &claimed[1])
        } else {
            (&claimed[1], &claimed[0])
        };

        // uno: a confirmed failure; due: a passing check.
        let mut status = uno.status.clone();
        status.state = State::InError;
        status.since = now;
        status.episode = 1;
        status.deadline = Some(now + hours(7 * 24));
        let transition = Transition {
            from: State::Certified,
            to: State::InError,
            at: now,
            reason: Reason::ConfirmedFailure(vec![Code::A_NON_CORRETTO]),
            actor: SYSTEM.into(),
        };
        let mut failing = checked(uno.id, uno.version, now, &["A_NON_CORRETTO"]);
        failing.sweep_id = Some(sweep);
        failing.status = Some(status.clone());
        failing.transitions = vec![transition.clone()];
        failing.effects = vec![effect("pec.uno.it/error_found/1")];
        failing.next_check = now + hours(1);
        let passing = checked(due.id, due.version, now, &[]);

        let outcome = r
            .commit_batch("w1", now, vec![failing, passing])
            .await
            .unwrap();
        assert_eq!(outcome.applied, vec![uno.id, due.id]);
        assert!(outcome.conflicts.is_empty());
        assert_eq!((outcome.queued.len(), outcome.duplicate_effects), (1, 0));

        let after = r.domain_by_id(uno.id).await.unwrap().unwrap();
        assert_eq!(after.status, status);
        assert_eq!(after.version, uno.version + 1);
        assert_eq!(after.next_check, now + hours(1));
        assert_eq!(after.lease, None);
        assert_eq!(after.updated, now);
        let last = after.last_check.unwrap();
        assert_eq!(
            (last.at, last.ok, last.codes),
            (now, false, vec![Code::A_NON_CORRETTO])
        );

        let checks = r.checks(uno.id, 10).await.unwrap();
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].sweep_id, Some(sweep));
        assert_eq!(
            checks[0].result,
            json!({ "codes": ["A_NON_CORRETTO"], "servers": ["192.0.2.53"] })
        );
        let transitions = r.transitions(uno.id).await.unwrap();
        assert_eq!(transitions.len(), 1);
        assert_eq!(transitions[0].transition, transition);
        let outbox = r.outbox(&OutboxFilter::default()).await.unwrap();
        assert_eq!(outbox.len(), 1);
        assert_eq!(outbox[0].id, outcome.queued[0]);
        assert_eq!(
            (outbox[0].domain_id, outbox[0].key.as_str(), outbox[0].state),
            (
                Some(uno.id),
                "pec.uno.it/error_found/1",
                OutboxState::Pending
            )
        );
        assert_eq!(outbox[0].payload, json!({ "notice": "error_found" }));

        let due_after = r.domain_by_id(due.id).await.unwrap().unwrap();
        assert_eq!(due_after.status, due.status, "status kept when not given");
        assert!(due_after.last_check.unwrap().ok);
        assert!(r.transitions(due.id).await.unwrap().is_empty());

        // Retrying the same batch (say, after a crash right after the commit) changes
        // nothing: every update is a conflict.
        let failing_again = checked(uno.id, uno.version, now, &["A_NON_CORRETTO"]);
        let retry = r
            .commit_batch("w1", now, vec![failing_again])
            .await
            .unwrap();
        assert_eq!((retry.applied, retry.conflicts), (vec![], vec![uno.id]));
        assert_eq!(r.checks(uno.id, 10).await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn an_outdated_version_is_skipped_as_a_conflict() {
    on_both(|db| async move {
        let r = &db.registry;
        let uno = r
            .add_domain(new_domain("pec.uno.it", State::Certified, t0()), t0())
            .await
            .unwrap();
        let due = r
            .add_domain(new_domain("pec.due.it", State::Certified, t0()), t0())
            .await
            .unwrap();
        let mut stale = checked(uno.id, uno.version + 5, t0(), &["A_NON_CORRETTO"]);
        stale.effects = vec![effect("pec.uno.it/error_found/1")];
        stale.transitions = vec![Transition {
            from: State::Certified,
            to: State::InError,
            at: t0(),
            reason: Reason::Recorded("x".into()),
            actor: SYSTEM.into(),
        }];
        let fresh = checked(due.id, due.version, t0(), &[]);
        let twice = checked(due.id, due.version, t0(), &[]);
        let outcome = r
            .commit_batch("w", t0(), vec![stale, fresh, twice])
            .await
            .unwrap();
        assert_eq!(outcome.applied, vec![due.id]);
        assert_eq!(outcome.conflicts, vec![uno.id, due.id]);
        assert!(outcome.queued.is_empty());
        assert_eq!(r.domain_by_id(uno.id).await.unwrap().unwrap(), uno);
        assert!(r.checks(uno.id, 10).await.unwrap().is_empty());
        assert!(r.transitions(uno.id).await.unwrap().is_empty());
        assert!(r.outbox(&OutboxFilter::default()).await.unwrap().is_empty());
        assert_eq!(r.checks(due.id, 10).await.unwrap().len(), 1);

        let err = r
            .commit("operator", t0(), checked(uno.id, 99, t0(), &[]))
            .await;
        assert_eq!(err, Err(RegistryError::Conflict));
        r.commit("operator", t0(), checked(uno.id, uno.version, t0(), &[]))
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_failing_batch_writes_nothing() {
    on_both(|db| async move {
        let r = &db.registry;
        let uno = r
            .add_domain(new_domain("pec.uno.it", State::Certified, t0()), t0())
            .await
            .unwrap();
        let due = r
            .add_domain(new_domain("pec.due.it", State::Certified, t0()), t0())
            .await
            .unwrap();
        let mut good = checked(uno.id, uno.version, t0(), &[]);
        good.effects = vec![effect("pec.uno.it/corrected/1")];
        let mut bad = checked(due.id, due.version, t0(), &[]);
        // No such sweep: its check goes in (checks have no foreign keys on PostgreSQL),
        // then its transition fails, after the domains and checks were written.
        bad.sweep_id = Some(424_242);
        bad.transitions = vec![Transition {
            from: State::Certified,
            to: State::InError,
            at: t0(),
            reason: Reason::ConfirmedFailure(vec![Code::A_NON_CORRETTO]),
            actor: SYSTEM.into(),
        }];
        let err = r
            .commit_batch("w", t0(), vec![good, bad])
            .await
            .unwrap_err();
        assert!(matches!(err, RegistryError::Database(_)), "{err:?}");
        assert_eq!(r.domain_by_id(uno.id).await.unwrap().unwrap(), uno);
        assert!(r.checks(uno.id, 10).await.unwrap().is_empty());
        assert!(r.outbox(&OutboxFilter::default()).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_repeated_result_is_stored_once_and_read_whole() {
    on_both(|db| async move {
        let r = &db.registry;
        let uno = r
            .add_domain(new_domain("pec.uno.it", State::Certified, t0()), t0())
            .await
            .unwrap();
        let first = json!({ "ok": true, "findings": [], "zone": "uno.it" });
        let second = json!({ "ok": false, "findings": [{ "code": "MX_NON_CORRETTO" }] });
        let results = [&first, &first, &second, &second, &first, &first];
        for (i, result) in (1..).zip(results) {
            let at = t0() + hours(i);
            let domain = r.domain_by_id(uno.id).await.unwrap().unwrap();
            let mut update = DomainUpdate::new(&domain, at + hours(24));
            let mut new = check(at, &[]);
            new.result = ResultJson::of(result);
            update.check = Some(new);
            let outcome = r.commit_batch("w", at, vec![update]).await.unwrap();
            assert_eq!(outcome.applied, [uno.id]);
        }
        // Newest first, every one whole; also when the window starts with repeats.
        let newest_first: Vec<_> = results.iter().rev().map(|r| (*r).clone()).collect();
        for limit in [10, 5, 4, 3, 1] {
            let read: Vec<_> = r
                .checks(uno.id, limit)
                .await
                .unwrap()
                .into_iter()
                .map(|c| c.result)
                .collect();
            assert_eq!(read, newest_first[..limit.min(6) as usize], "limit {limit}");
        }
        // Stored: the three changes, and the three repeats without their result.
        const SQL: &str = "SELECT COUNT(*) FROM checks WHERE same_result";
        let repeats: i64 = match r {
            Registry::Sqlite(pool) => sqlx::query_scalar(SQL).fetch_one(pool).await.unwrap(),
            Registry::Postgres(pool) => sqlx::query_scalar(SQL).fetch_one(pool).await.unwrap(),
        };
        assert_eq!(repeats, 3);
    })
    .await;
}

#[tokio::test]
async fn an_effect_key_is_queued_once() {
    on_both(|db| async move {
        let r = &db.registry;
        let uno = r
            .add_domain(new_domain("pec.uno.it", State::Certified, t0()), t0())
            .await
            .unwrap();
        let mut first = checked(uno.id, 0, t0(), &["A_NON_CORRETTO"]);
        first.effects = vec![effect("pec.uno.it/error_found/1")];
        let outcome = r.commit_batch("w", t0(), vec![first]).await.unwrap();
        assert_eq!((outcome.queued.len(), outcome.duplicate_effects), (1, 0));

        let later = t0() + hours(1);
        let mut second = checked(uno.id, 1, later, &["A_NON_CORRETTO"]);
        second.effects = vec![
            effect("pec.uno.it/error_found/1"),
            effect("pec.uno.it/removed/1"),
        ];
        let outcome = r.commit_batch("w", later, vec![second]).await.unwrap();
        assert_eq!(outcome.applied, vec![uno.id]);
        assert_eq!((outcome.queued.len(), outcome.duplicate_effects), (1, 1));

        let keys: Vec<String> = r
            .outbox(&OutboxFilter::default())
            .await
            .unwrap()
            .into_iter()
            .map(|item| item.key)
            .collect();
        assert_eq!(keys, ["pec.uno.it/error_found/1", "pec.uno.it/removed/1"]);
    })
    .await;
}

#[tokio::test]
async fn a_batch_cut_short_is_all_or_nothing() {
    on_both(|db| async move {
        const DOMAINS: usize = 200;
        let r = &db.registry;
        let batch: Vec<NewDomain> = (0..DOMAINS)
            .map(|i| new_domain(&format!("pec.d{i:03}.it"), State::Certified, t0()))
            .collect();
        r.add_domains(&batch, t0()).await.unwrap();
        // Commit with ever longer time limits, as if the process died at ever later
        // moments; after each attempt the domains must all be at the same version, with
        // one check and one effect per domain per committed batch.
        for step in 0u32.. {
            let domains = r.domains(&DomainFilter::default()).await.unwrap();
            let updates = domains
                .iter()
                .map(|d| {
                    let mut update = checked(d.id, d.version, t0(), &[]);
                    update.effects = vec![effect(&format!("{}/{step}", d.name))];
                    update
                })
                .collect();
            let limit = Duration::from_millis(u64::from(step));
            let finished = tokio::time::timeout(limit, r.commit_batch("w", t0(), updates)).await;

            // One statement, so one snapshot: a commit still finishing in the background
            // (its COMMIT was sent before the cut) is seen whole or not at all.
            let (versions, version, outbox, checks) = totals(r).await;
            assert_eq!(versions, 1, "a batch was applied in part");
            assert_eq!(outbox, DOMAINS as i64 * version);
            assert_eq!(checks, DOMAINS as i64 * version);
            if let Ok(outcome) = finished {
                // Applied whole, or (if an earlier cut batch committed after the versions
                // were read) rejected whole as conflicts.
                let outcome = outcome.unwrap();
                let counts = (outcome.applied.len(), outcome.conflicts.len());
                assert!(
                    counts == (DOMAINS, 0) || counts == (0, DOMAINS),
                    "{counts:?}"
                );
                if counts.0 == DOMAINS {
                    break;
                }
            }
        }
    })
    .await;
}

/// The number of distinct domain versions, the highest version, and the numbers of outbox
/// items and checks, read in one statement.
async fn totals(registry: &Registry) -> (i64, i64, i64, i64) {
    const SQL: &str = "SELECT (SELECT COUNT(DISTINCT version) FROM domains), \
         (SELECT MAX(version) FROM domains), (SELECT COUNT(*) FROM outbox), \
         (SELECT COUNT(*) FROM checks)";
    match registry {
        Registry::Sqlite(pool) => sqlx::query_as(SQL).fetch_one(pool).await.unwrap(),
        Registry::Postgres(pool) => sqlx::query_as(SQL).fetch_one(pool).await.unwrap(),
    }
}

// ---------------------------------------------------------------------------------------
// Outbox, sweeps, alerts
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn outbox_items_are_marked_and_filtered() {
    on_both(|db| async move {
        let r = &db.registry;
        let uno = r
            .add_domain(new_domain("pec.uno.it", State::Certified, t0()), t0())
            .await
            .unwrap();
        let mut update = checked(uno.id, 0, t0(), &[]);
        update.effects = vec![effect("k/1"), effect("k/2"), effect("k/3")];
        let queued = r
            .commit_batch("w", t0(), vec![update])
            .await
            .unwrap()
            .queued;
        assert_eq!(queued.len(), 3);

        let sent_at = t0() + hours(1);
        r.mark_outbox(queued[0], sent_at, OutboxState::Sent, Some(sent_at), None)
            .await
            .unwrap();
        r.mark_outbox(
            queued[1],
            sent_at,
            OutboxState::Pending,
            None,
            Some("450 try later"),
        )
        .await
        .unwrap();
        r.mark_outbox(
            queued[1],
            sent_at,
            OutboxState::Failed,
            None,
            Some("550 no such user"),
        )
        .await
        .unwrap();
        let missing = r
            .mark_outbox(9_999, sent_at, OutboxState::Sent, None, None)
            .await;
        assert!(matches!(missing, Err(RegistryError::NotFound(_))));

        let only = |state| OutboxFilter {
            state: Some(state),
            ..Default::default()
        };
        let sent = r.outbox(&only(OutboxState::Sent)).await.unwrap();
        assert_eq!(sent.len(), 1);
        assert_eq!(
            (sent[0].accepted_at, sent[0].attempts, sent[0].updated),
            (Some(sent_at), 1, sent_at)
        );
        let failed = r.outbox(&only(OutboxState::Failed)).await.unwrap();
        assert_eq!(failed[0].attempts, 2);
        assert_eq!(failed[0].last_error.as_deref(), Some("550 no such user"));
        let pending = r.outbox(&only(OutboxState::Pending)).await.unwrap();
        assert_eq!(
            pending.iter().map(|i| i.id).collect::<Vec<_>>(),
            [queued[2]]
        );

        let paged = OutboxFilter {
            after_id: Some(queued[0]),
            limit: Some(1),
            ..Default::default()
        };
        assert_eq!(r.outbox(&paged).await.unwrap()[0].id, queued[1]);
        let other = OutboxFilter {
            domain_id: Some(uno.id + 1),
            ..Default::default()
        };
        assert!(r.outbox(&other).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn one_sweep_runs_at_a_time_and_decides_once() {
    on_both(|db| async move {
        let r = &db.registry;
        assert_eq!(r.last_sweep().await.unwrap(), None);
        let (first, joined) = r.begin_sweep(t0(), SweepKind::Daily).await.unwrap();
        assert!(!joined);
        assert_eq!(
            (first.kind.as_str(), first.decided, first.held),
            ("daily", None, false)
        );
        // A second starter, in another process, joins the running sweep.
        let other = Registry::open(&db.url).await.unwrap();
        let (again, joined) = other
            .begin_sweep(t0() + hours(1), SweepKind::Recheck)
            .await
            .unwrap();
        assert!(joined);
        assert_eq!(again.id, first.id);

        // A hold reason recorded early wins over the decider's opinion; the first
        // reason stays; the decision is taken once.
        r.hold_sweep(first.id, "canary pec.canary.it failed before the sweep")
            .await
            .unwrap();
        r.hold_sweep(first.id, "another reason").await.unwrap();
        let operators = vec!["noc@provider.example".to_owned()];
        let decided = r
            .decide_sweep(first.id, t0() + hours(1), None, &operators)
            .await
            .unwrap();
        assert!(decided.held);
        assert_eq!(decided.decided, Some(t0() + hours(1)));
        assert_eq!(
            decided.hold_reason.as_deref(),
            Some("canary pec.canary.it failed before the sweep")
        );
        let later = other
            .decide_sweep(first.id, t0() + hours(2), None, &operators)
            .await
            .unwrap();
        assert_eq!(later, decided, "the first decision stands");

        // One alert, and one notice to the operators in the outbox.
        let alerts = r.alerts(10).await.unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].kind, AlertKind::SweepHeld);
        assert!(
            alerts[0].message.contains("canary pec.canary.it"),
            "{alerts:?}"
        );
        let outbox = r.outbox(&OutboxFilter::default()).await.unwrap();
        assert_eq!(outbox.len(), 1);
        assert_eq!(outbox[0].domain_id, None);
        assert_eq!(outbox[0].key, format!("alert/sweep/{}", first.id));
        assert_eq!(outbox[0].payload["to"], json!(operators));

        let summary = json!({ "checked": 10, "failed": 1 });
        assert!(
            r.finish_sweep(first.id, t0() + hours(3), summary.clone())
                .await
                .unwrap()
        );
        assert!(
            !other
                .finish_sweep(first.id, t0() + hours(3), json!({}))
                .await
                .unwrap()
        );
        assert!(matches!(
            r.finish_sweep(first.id + 100, t0(), json!({})).await,
            Err(RegistryError::NotFound(_))
        ));
        assert_eq!(r.unfinished_sweep().await.unwrap(), None);
        let last = r.last_sweep().await.unwrap().unwrap();
        assert_eq!((last.id, last.summary), (first.id, Some(summary)));
        other.close().await;

        // Once it finished, a new sweep starts; an undisturbed one is not held and
        // raises no alert.
        let (second, joined) = r
            .begin_sweep(t0() + hours(24), SweepKind::Daily)
            .await
            .unwrap();
        assert!(!joined && second.id != first.id);
        assert_eq!(r.unfinished_sweep().await.unwrap().unwrap().id, second.id);
        let decided = r
            .decide_sweep(second.id, t0() + hours(25), None, &operators)
            .await
            .unwrap();
        assert!(!decided.held && decided.hold_reason.is_none());
        assert_eq!(r.alerts(10).await.unwrap().len(), 1);
        assert_eq!(r.sweeps(10).await.unwrap().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn alerts_are_listed_newest_first() {
    on_both(|db| async move {
        let r = &db.registry;
        r.add_alert(t0(), AlertKind::NoticeFailed, "40% of checks failed")
            .await
            .unwrap();
        let second = r
            .add_alert(t0() + hours(1), AlertKind::SweepHeld, "sweep held")
            .await
            .unwrap();
        let alerts = r.alerts(10).await.unwrap();
        assert_eq!(alerts.len(), 2);
        assert_eq!(
            (alerts[0].id, alerts[0].kind),
            (second, AlertKind::SweepHeld)
        );
        assert_eq!(alerts[1].message, "40% of checks failed");
        assert_eq!(r.alerts(1).await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn pending_checks_wait_for_their_sweep_and_are_tallied() {
    on_both(|db| async move {
        let r = &db.registry;
        add_uno_and_due(r).await;
        let (sweep, _) = r.begin_sweep(t0(), SweepKind::Daily).await.unwrap();
        let now = t0() + hours(1);
        let (due, lease) = r.due_remaining(now, "w1").await.unwrap();
        assert_eq!((due, lease), (2, None));
        let claimed = r.claim_due("w1", now, LEASE, 10).await.unwrap();
        // The holder does not count its own leases; others wait for them.
        assert_eq!(r.due_remaining(now, "w1").await.unwrap(), (0, None));
        let (due, lease) = r.due_remaining(now, "w2").await.unwrap();
        assert_eq!(due, 2);
        assert!(lease.is_some_and(|until| until > now));
        let uno = claimed
            .iter()
            .find(|d| d.name.as_str() == "pec.uno.it")
            .unwrap();
        let other = claimed
            .iter()
            .find(|d| d.name.as_str() != "pec.uno.it")
            .unwrap();

        let event = Event::Check {
            at: now,
            ok: false,
            transient: false,
            codes: vec![Code::A_NON_CORRETTO],
        };
        let mut failing = checked(uno.id, uno.version, now, &["A_NON_CORRETTO"]);
        failing.sweep_id = Some(sweep.id);
        failing.pending = PendingChange::Set(PendingCheck {
            sweep_id: sweep.id,
            event: event.clone(),
        });
        let mut passing = checked(other.id, other.version, now, &[]);
        passing.sweep_id = Some(sweep.id);
        r.commit_batch("w1", now, vec![failing, passing])
            .await
            .unwrap();
        assert_eq!(r.due_remaining(now, "w2").await.unwrap(), (0, None));
        assert_eq!(r.next_due().await.unwrap(), Some(now + hours(24)));

        let pending = r.pending_checks(sweep.id, 0, 10).await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(
            pending[0].pending,
            Some(PendingCheck {
                sweep_id: sweep.id,
                event
            })
        );
        assert!(
            r.pending_checks(sweep.id, uno.id, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            r.pending_checks(sweep.id + 1, 0, 10)
                .await
                .unwrap()
                .is_empty()
        );

        // An operator's update keeps the pending check; the sweep's decision clears it.
        let keep = DomainUpdate::new(&pending[0], now + hours(24));
        r.commit("operator", now, keep).await.unwrap();
        let reread = r.domain_by_id(uno.id).await.unwrap().unwrap();
        assert!(reread.pending.is_some());
        let mut clear = DomainUpdate::new(&reread, now + hours(24));
        clear.sweep_id = Some(sweep.id);
        clear.pending = PendingChange::Clear;
        clear.transitions = vec![Transition {
            from: State::Certified,
            to: State::InError,
            at: now,
            reason: Reason::ConfirmedFailure(vec![Code::A_NON_CORRETTO]),
            actor: SYSTEM.into(),
        }];
        r.commit("w1", now, clear).await.unwrap();
        assert!(r.pending_checks(sweep.id, 0, 10).await.unwrap().is_empty());

        let tally = r.sweep_tally(sweep.id).await.unwrap();
        assert_eq!(
            (
                tally.checked,
                tally.ok,
                tally.transient,
                tally.previously_ok,
                tally.new_failures
            ),
            (2, 1, 0, 2, 1)
        );
        assert_eq!(tally.codes.get("A_NON_CORRETTO"), Some(&1));
        assert_eq!(tally.between(State::Certified, State::InError), 1);
        assert_eq!(tally.into_state(State::Removed), 0);
    })
    .await;
}

#[tokio::test]
async fn notices_are_claimed_retried_failed_delivered_and_requeued() {
    on_both(|db| async move {
        let r = &db.registry;
        let uno = r
            .add_domain(new_domain("pec.uno.it", State::Certified, t0()), t0())
            .await
            .unwrap();
        let mut queued = checked(uno.id, uno.version, t0(), &["A_NON_CORRETTO"]);
        queued.effects = vec![effect("pec.uno.it/v0/0/error_found")];
        r.commit_batch("sweep", t0(), vec![queued]).await.unwrap();
        let (sweep, _) = r.begin_sweep(t0(), SweepKind::Daily).await.unwrap();
        r.decide_sweep(sweep.id, t0(), Some("canary failed"), &[])
            .await
            .unwrap();

        // Two senders: each item goes to one of them (s1 holds them for 3 hours).
        let long = Duration::from_secs(3 * 3600);
        let claimed = r.claim_outbox("s1", t0(), long, 10).await.unwrap();
        assert_eq!(claimed.len(), 2);
        assert!(
            r.claim_outbox("s2", t0(), LEASE, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let (notice, alert) = (&claimed[0], &claimed[1]);
        assert_eq!((notice.domain_id, alert.domain_id), (Some(uno.id), None));

        // The alert: a temporary failure, retried when due, then sent.
        let retry = Attempt::Retry {
            error: "connection refused".into(),
            message_id: "<a@pecwatch>".into(),
            next_attempt: t0() + hours(1),
        };
        assert!(
            !r.record_attempt(alert.id, "s2", t0(), &retry)
                .await
                .unwrap(),
            "not s2's"
        );
        assert!(
            r.record_attempt(alert.id, "s1", t0(), &retry)
                .await
                .unwrap()
        );
        let waiting = r.outbox_item(alert.id).await.unwrap().unwrap();
        assert_eq!(
            (
                waiting.state,
                waiting.attempts,
                waiting.last_error.as_deref()
            ),
            (OutboxState::Pending, 1, Some("connection refused"))
        );
        assert_eq!(waiting.next_attempt, Some(t0() + hours(1)));
        assert!(
            r.claim_outbox(
                "s2",
                t0() + hours(1) - SignedDuration::from_secs(1),
                LEASE,
                10
            )
            .await
            .unwrap()
            .is_empty()
        );
        let again = r
            .claim_outbox("s2", t0() + hours(1), LEASE, 10)
            .await
            .unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(
            again[0].message_id.as_deref(),
            Some("<a@pecwatch>"),
            "kept for retries"
        );
        let sent = Attempt::Sent {
            accepted_at: t0() + hours(1),
            message_id: "<a@pecwatch>".into(),
            reply: "250 2.0.0 Ok: queued as 4F2".into(),
        };
        assert!(
            r.record_attempt(alert.id, "s2", t0() + hours(1), &sent)
                .await
                .unwrap()
        );
        let done = r.outbox_item(alert.id).await.unwrap().unwrap();
        assert_eq!((done.state, done.attempts), (OutboxState::Sent, 2));
        assert_eq!(done.reply.as_deref(), Some("250 2.0.0 Ok: queued as 4F2"));
        assert_eq!(done.last_error, None);

        // The notice: delivered with its domain's update, in one transaction.
        let domain = r.domain_by_id(uno.id).await.unwrap().unwrap();
        let mut status = domain.status.clone();
        status.deadline = Some(t0() + hours(7 * 24));
        let mut update = DomainUpdate::new(&domain, domain.next_check);
        update.status = Some(status.clone());
        update.deliveries = vec![Delivery {
            item_id: notice.id,
            accepted_at: t0() + hours(2),
            message_id: "<n@pecwatch>".into(),
            reply: "250 ok".into(),
        }];
        r.commit("s1", t0() + hours(2), update).await.unwrap();
        let delivered = r.outbox_item(notice.id).await.unwrap().unwrap();
        assert_eq!(delivered.state, OutboxState::Sent);
        assert_eq!(delivered.accepted_at, Some(t0() + hours(2)));
        assert_eq!(
            r.domain_by_id(uno.id).await.unwrap().unwrap().status,
            status
        );

        // A resend is a new message; a permanent failure is kept for the operators.
        let requeued = r.requeue_outbox(notice.id, t0() + hours(3)).await.unwrap();
        assert_eq!(
            (requeued.state, requeued.message_id),
            (OutboxState::Pending, None)
        );
        let claimed = r
            .claim_outbox("s1", t0() + hours(3), LEASE, 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        assert!(
            matches!(
                r.requeue_outbox(notice.id, t0() + hours(3)).await,
                Err(RegistryError::Invalid(_))
            ),
            "not while a sender holds it"
        );
        let failed = Attempt::Failed {
            error: "550 5.1.1 mailbox unavailable".into(),
            message_id: Some("<n2@pecwatch>".into()),
        };
        r.record_attempt(notice.id, "s1", t0() + hours(3), &failed)
            .await
            .unwrap();
        let item = r.outbox_item(notice.id).await.unwrap().unwrap();
        assert_eq!(item.state, OutboxState::Failed);
        assert!(
            r.claim_outbox("s1", t0() + hours(4), LEASE, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(matches!(
            r.requeue_outbox(9_999, t0()).await,
            Err(RegistryError::NotFound(_))
        ));
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Throughput (ignored: run on demand)
// ---------------------------------------------------------------------------------------

/// Commits `PECWATCH_BENCH_DOMAINS` (default 100,000) check results in batches of 500 on
/// both backends and prints the rates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run with --ignored --nocapture"]
async fn batch_throughput() {
    let total: usize = std::env::var("PECWATCH_BENCH_DOMAINS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    on_both(|db| async move {
        const BATCH: usize = 500;
        let r = &db.registry;
        let domains: Vec<NewDomain> = (0..total)
            .map(|i| new_domain(&format!("pec.d{i:06}.it"), State::Certified, t0()))
            .collect();
        let started = Instant::now();
        for chunk in domains.chunks(5_000) {
            r.add_domains(chunk, t0()).await.unwrap();
        }
        let added = started.elapsed();

        let now = t0() + hours(1);
        let (mut claiming, mut committing) = (Duration::ZERO, Duration::ZERO);
        let (mut rows, mut committed) = (0, 0);
        loop {
            let started = Instant::now();
            let claimed = r.claim_due("bench", now, LEASE, BATCH as u64).await.unwrap();
            claiming += started.elapsed();
            if claimed.is_empty() {
                break;
            }
            let updates: Vec<DomainUpdate> = claimed
                .iter()
                .map(|d| {
                    // Every 100th domain fails and changes state, with a notice.
                    let mut update = checked(d.id, d.version, now, &[]);
                    update.check.as_mut().unwrap().result = ResultJson::of(&json!({
                        "domain": d.name, "ok": true, "zone": "example.it",
                        "servers": [{"name": "dns1.example.it", "address": "192.0.2.53", "rtt_ms": 12},
                                    {"name": "dns2.example.it", "address": "198.51.100.53", "rtt_ms": 15}],
                        "mx": [{"preference": 10, "host": "mx.pec.aruba.it", "addresses": ["192.0.2.25"]}],
                        "findings": []
                    }));
                    if d.id % 100 == 0 {
                        let mut status = d.status.clone();
                        status.state = State::InError;
                        update.status = Some(status);
                        update.transitions = vec![Transition {
                            from: State::Certified,
                            to: State::InError,
                            at: now,
                            reason: Reason::ConfirmedFailure(vec![Code::A_NON_CORRETTO]),
                            actor: SYSTEM.into(),
                        }];
                        update.effects = vec![effect(&format!("{}/error_found/1", d.name))];
                        rows += 2;
                    }
                    rows += 2; // the check and the domain
                    update
                })
                .collect();
            committed += updates.len();
            let started = Instant::now();
            let outcome = r.commit_batch("bench", now, updates).await.unwrap();
            committing += started.elapsed();
            assert!(outcome.conflicts.is_empty());
        }
        assert_eq!(committed, total);
        let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64();
        println!(
            "{:?}: added {total} domains in {added:.2?} ({:.0}/s); claimed in {claiming:.2?} \
             ({:.0}/s); committed {committed} updates in {committing:.2?}: {:.0} updates/s, \
             {:.0} rows/s",
            db.backend,
            rate(total, added),
            rate(total, claiming),
            rate(committed, committing),
            rate(rows, committing),
        );
    })
    .await;
}

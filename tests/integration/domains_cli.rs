//! `pecwatch domains` end to end: the real binary on a real SQLite file (and, for the
//! operator's actions, on a fresh schema of the PostgreSQL server at
//! `PECWATCH_TEST_POSTGRES`, default `postgres://postgres@127.0.0.1:5432/test`).
//!
//! States the command line cannot reach by itself (a domain `under_review`) are prepared
//! through the library's registry, and the outbox is read back through it.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use assert_cmd::Command;
use jiff::Timestamp;
use pecwatch::Lang;
use pecwatch::lifecycle::{DomainStatus, State};
use pecwatch::name::DomainName;
use pecwatch::registry::{Holder, NewDomain, OutboxFilter, OutboxItem, OutboxKind, Registry};
use serde_json::Value;
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgPoolOptions;

/// The instant every command runs at (`PECWATCH_NOW`).
const NOW: &str = "2026-11-23T10:00:00+01:00";

/// A `pecwatch` command on its own database, at a fixed instant.
fn pecwatch(db: &std::path::Path) -> Command {
    pecwatch_on(&sqlite_url(db))
}

/// A `pecwatch` command on the database at `url`, at a fixed instant, with no `USER`
/// (so the default actor is `operator`).
fn pecwatch_on(url: &str) -> Command {
    let mut command = Command::cargo_bin("pecwatch").expect("binary");
    command
        .env("PECWATCH_DATABASE_URL", url)
        .env("PECWATCH_NOW", NOW)
        .env_remove("PECWATCH_CONFIG")
        .env_remove("USER");
    command
}

fn sqlite_url(db: &std::path::Path) -> String {
    format!("sqlite://{}", db.display())
}

/// Runs `test` with the URL of a fresh SQLite file.
fn on_sqlite(test: impl Fn(&str)) {
    let dir = tempfile::tempdir().expect("tempdir");
    test(&sqlite_url(&dir.path().join("pecwatch.db")));
}

fn json_lines(output: &std::process::Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[test]
fn add_list_and_show_a_certified_domain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("pecwatch.db");
    let added = pecwatch(&db)
        .args([
            "domains",
            "add",
            "PEC.Example.IT",
            "--holder-email",
            "mario.rossi@example.it",
            "--holder-name",
            "Mario Rossi",
            "--expires",
            "2027-11-30",
            "--format",
            "json",
        ])
        .output()
        .expect("run");
    assert_eq!(added.status.code(), Some(0), "{added:?}");
    assert!(db.exists(), "the SQLite file is created on first use");
    let added = &json_lines(&added)[0];
    assert_eq!(added["domain"], "pec.example.it");
    assert_eq!(added["state"], "certified");
    assert_eq!(added["since"], "2026-11-23T09:00:00Z");
    assert_eq!(added["expires"], "2027-11-30T22:59:59Z");

    let again = pecwatch(&db)
        .args([
            "domains",
            "add",
            "pec.example.it",
            "--holder-email",
            "a@b.it",
        ])
        .output()
        .expect("run");
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already registered"));

    let shown = pecwatch(&db)
        .args(["domains", "show", "pec.example.it", "--format", "json"])
        .output()
        .expect("run");
    assert_eq!(shown.status.code(), Some(0));
    let shown = &json_lines(&shown)[0];
    for key in ["domain", "state", "deadline", "expires", "history"] {
        assert!(shown.get(key).is_some(), "{key} missing: {shown}");
    }
    assert!(shown["deadline"].is_null());
    assert_eq!(shown["holder"]["name"], "Mario Rossi");

    let certified = pecwatch(&db)
        .args([
            "domains",
            "list",
            "--state",
            "certified",
            "--format",
            "json",
        ])
        .output()
        .expect("run");
    assert_eq!(json_lines(&certified).len(), 1);
    let removed = pecwatch(&db)
        .args(["domains", "list", "--state", "removed", "--format", "json"])
        .output()
        .expect("run");
    assert!(json_lines(&removed).is_empty());
    let text = pecwatch(&db)
        .args(["domains", "list"])
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&text.stdout).contains("pec.example.it"));
}

#[test]
fn bad_input_and_bad_environment_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("pecwatch.db");
    /// Arguments, extra environment, expected exit status, text expected on stderr.
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], i32, &'a str);
    let cases: &[Case] = &[
        (
            &["domains", "add", "http://x.it/", "--holder-email", "a@b.it"],
            &[],
            2,
            "URL",
        ),
        (
            &[
                "domains",
                "add",
                "pec.x.it",
                "--holder-email",
                "not-an-address",
            ],
            &[],
            2,
            "not-an-address",
        ),
        (
            &[
                "domains",
                "add",
                "pec.x.it",
                "--holder-email",
                "a@b.it",
                "--expires",
                "31/12/2027",
            ],
            &[],
            2,
            "invalid date",
        ),
        (&["domains", "list", "--state", "gone"], &[], 2, "gone"),
        (
            &["domains", "list", "--code", "MX_SBAGLIATO"],
            &[],
            2,
            "unknown code \"MX_SBAGLIATO\"",
        ),
        (
            &["domains", "show", "pec.none.it"],
            &[],
            2,
            "not registered",
        ),
        (
            &["domains", "list"],
            &[("PECWATCH_NOW", "yesterday")],
            2,
            "PECWATCH_NOW",
        ),
        (
            &["domains", "list"],
            &[("PECWATCH_SWEEP_MAX_NEW_FAILURE_SHARE", "1.5")],
            2,
            "max_new_failure_share",
        ),
        (
            &["domains", "list"],
            &[(
                "PECWATCH_DATABASE_URL",
                "postgres://pw:hunter2@127.0.0.1:1/test",
            )],
            3,
            "cannot connect",
        ),
    ];
    for (args, env, code, needle) in cases {
        let mut command = pecwatch(&db);
        command.args(*args);
        for (key, value) in *env {
            command.env(key, value);
        }
        let output = command.output().expect("run");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(*code), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn import_is_all_or_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("pecwatch.db");
    let good = dir.path().join("good.csv");
    let mut text = String::from("domain,holder_email,holder_name,lang,expires\n");
    for i in 0..1500 {
        text.push_str(&format!(
            "pec.d{i}.it,holder{i}@d{i}.it,\"Rossi, Mario\",it,2027-06-30\n"
        ));
    }
    std::fs::write(&good, &text).expect("write");
    let output = pecwatch(&db)
        .args(["domains", "import", &good.to_string_lossy()])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("1500"));

    // One name already registered: the whole second file is refused.
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "domain,holder_email\npec.nuovo.it,a@nuovo.it\npec.d7.it,b@d7.it\n",
    )
    .expect("write");
    let output = pecwatch(&db)
        .args(["domains", "import", &bad.to_string_lossy()])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("pec.d7.it"));
    let listed = pecwatch(&db)
        .args(["domains", "list", "--format", "json"])
        .output()
        .expect("run");
    let listed = json_lines(&listed);
    assert_eq!(listed.len(), 1500);
    assert!(listed.iter().all(|d| d["domain"] != "pec.nuovo.it"));
}

// ---------------------------------------------------------------------------------------
// Operator actions
// ---------------------------------------------------------------------------------------

/// Runs a future to completion (for preparing and inspecting the registry).
fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// Registers `domain` directly in `state`, expiring on 2027-06-30.
fn seed(url: &str, domain: &str, state: State) {
    block_on(async {
        let registry = Registry::open(url).await.expect("open the registry");
        let now: Timestamp = NOW.parse().expect("instant");
        let expires = "2027-06-30T21:59:59Z".parse().expect("instant");
        registry
            .add_domain(
                NewDomain {
                    name: DomainName::parse(domain).expect("name"),
                    holder: Holder {
                        name: None,
                        email: format!("admin@{domain}"),
                        lang: Lang::It,
                    },
                    reseller: None,
                    profile: "aruba".into(),
                    exception: Vec::new(),
                    status: DomainStatus::new(state, now, Some(expires)),
                    next_check: now,
                },
                now,
            )
            .await
            .expect("add the domain");
        registry.close().await;
    });
}

/// The outbox, oldest first.
fn outbox(url: &str) -> Vec<OutboxItem> {
    block_on(async {
        let registry = Registry::open(url).await.expect("open the registry");
        let items = registry.outbox(&OutboxFilter::default()).await;
        registry.close().await;
        items.expect("read the outbox")
    })
}

/// Runs `pecwatch ARGS` and returns its exit status, standard output and standard error.
fn run(command: &mut Command, args: &[&str]) -> (i32, String, String) {
    let output = command.args(args).output().expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr,
    )
}

/// Runs `pecwatch ARGS` on `url`, expecting success; returns its standard output.
fn succeeds(url: &str, args: &[&str]) -> String {
    let (code, stdout, stderr) = run(&mut pecwatch_on(url), args);
    assert_eq!(code, 0, "{args:?}: {stderr}");
    stdout
}

/// Runs `pecwatch ARGS` on `url`, expecting a refused request (exit 2, nothing on
/// standard output); returns its standard error.
fn fails(url: &str, args: &[&str]) -> String {
    let (code, stdout, stderr) = run(&mut pecwatch_on(url), args);
    assert_eq!(code, 2, "{args:?}: {stderr}");
    assert!(stdout.is_empty(), "{args:?}: {stdout}");
    stderr
}

/// `domains show DOMAIN --format json`.
fn show(url: &str, domain: &str) -> Value {
    let stdout = succeeds(url, &["domains", "show", domain, "--format", "json"]);
    serde_json::from_str(&stdout).expect("JSON")
}

/// The domain's one recorded transition (or history entry).
fn only_transition(url: &str, domain: &str) -> Value {
    let history = show(url, domain)["history"]["transitions"].clone();
    match history.as_array().map(Vec::as_slice) {
        Some([transition]) => transition.clone(),
        _ => panic!("expected one transition for {domain}: {history}"),
    }
}

/// Adds a certified domain through the command line.
fn add(url: &str, domain: &str) {
    let holder = format!("admin@{domain}");
    succeeds(
        url,
        &[
            "domains",
            "add",
            domain,
            "--holder-email",
            &holder,
            "--expires",
            "2027-06-30",
        ],
    );
}

/// Approval and rejection of domains under review: the state, the actor (from `USER` or
/// `--actor`), the reason and the notices.
fn decide_domains_under_review(url: &str) {
    seed(url, "pec.uno.it", State::UnderReview);
    seed(url, "pec.due.it", State::UnderReview);

    let (code, stdout, stderr) = run(
        pecwatch_on(url).env("USER", "mario"),
        &["domains", "approve", "pec.uno.it"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "pec.uno.it: under_review → certified, reintegro approvato (mario)\n"
    );
    let approved = only_transition(url, "pec.uno.it");
    assert_eq!(approved["from"], "under_review");
    assert_eq!(approved["to"], "certified");
    assert_eq!(approved["actor"], "mario");

    let stdout = succeeds(
        url,
        &[
            "domains",
            "reject",
            "pec.due.it",
            "--actor",
            "anna",
            "--reason",
            "MX ancora errato",
            "--format",
            "json",
        ],
    );
    let rejected: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(rejected["state"], "removed");
    let transition = &rejected["history"]["transitions"][0];
    assert_eq!(transition["actor"], "anna");
    assert_eq!(
        transition["reason"],
        "reinstatement rejected: MX ancora errato"
    );

    let notices: Vec<String> = outbox(url)
        .into_iter()
        .filter(|item| item.kind == OutboxKind::Notice)
        .map(|item| format!("{} {}", item.payload["domain"], item.payload["kind"]))
        .collect();
    assert_eq!(
        notices,
        [r#""pec.uno.it" "reinstated""#, r#""pec.due.it" "rejected""#]
    );
}

#[test]
fn approve_and_reject_decide_a_domain_under_review() {
    on_sqlite(decide_domains_under_review);
}

#[test]
fn a_refused_action_changes_nothing() {
    on_sqlite(|url| {
        add(url, "pec.esempio.it");
        let before = show(url, "pec.esempio.it");

        let stderr = fails(url, &["domains", "approve", "pec.esempio.it"]);
        assert_eq!(
            stderr,
            "pecwatch: pec.esempio.it: impossibile approvare un dominio in stato certified: \
             consentito solo in stato under_review\n"
        );
        let stderr = fails(
            url,
            &["domains", "reject", "pec.esempio.it", "--lang", "en"],
        );
        assert!(
            stderr.contains(
                "cannot reject a domain that is certified: only allowed when under_review"
            ),
            "{stderr}"
        );

        assert_eq!(show(url, "pec.esempio.it"), before);
        assert!(outbox(url).is_empty());
    });
}

#[test]
fn renew_extends_the_expiry() {
    on_sqlite(|url| {
        add(url, "pec.esempio.it");

        let stdout = succeeds(
            url,
            &[
                "domains",
                "renew",
                "pec.esempio.it",
                "--expires",
                "2028-06-30",
                "--actor",
                "anna",
            ],
        );
        assert_eq!(
            stdout,
            "pec.esempio.it: certified, certificazione rinnovata fino al 2028-06-30T21:59:59Z (anna)\n"
        );
        let shown = show(url, "pec.esempio.it");
        assert_eq!(shown["state"], "certified");
        assert_eq!(shown["expires"], "2028-06-30T21:59:59Z");
        let renewal = only_transition(url, "pec.esempio.it");
        assert_eq!(renewal["actor"], "anna");
        assert_eq!(renewal["reason"], "renewed until 2028-06-30T21:59:59Z");

        // Not in the future: refused, nothing changes.
        let stderr = fails(
            url,
            &[
                "domains",
                "renew",
                "pec.esempio.it",
                "--expires",
                "2026-01-31",
                "--lang",
                "en",
            ],
        );
        assert!(stderr.contains("must be later than"), "{stderr}");
        assert_eq!(show(url, "pec.esempio.it")["expires"], shown["expires"]);
    });
}

/// Removal: the transition with its actor and reason, and the notice in the outbox.
fn remove_a_certified_domain(url: &str) {
    add(url, "pec.esempio.it");
    let stdout = succeeds(
        url,
        &[
            "domains",
            "remove",
            "pec.esempio.it",
            "--reason",
            "richiesta del titolare",
            "--actor",
            "anna",
            "--lang",
            "en",
        ],
    );
    assert_eq!(
        stdout,
        "pec.esempio.it: certified → removed, removed from the certified list (anna)\n"
    );
    let removal = only_transition(url, "pec.esempio.it");
    assert_eq!(removal["to"], "removed");
    assert_eq!(removal["actor"], "anna");
    assert_eq!(
        removal["reason"],
        "removed by operator: richiesta del titolare"
    );
    let queued: Vec<(OutboxKind, Value)> = outbox(url)
        .into_iter()
        .filter(|item| item.payload["domain"] == "pec.esempio.it")
        .map(|item| (item.kind, item.payload))
        .collect();
    let kinds: Vec<OutboxKind> = queued.iter().map(|(kind, _)| *kind).collect();
    assert_eq!(kinds, [OutboxKind::Unpublish, OutboxKind::Notice]);
    assert_eq!(queued[1].1["kind"], "removed");
    assert_eq!(queued[1].1["domain"], "pec.esempio.it");

    // Once removed, removing again is refused; the default actor is `operator`.
    let stderr = fails(url, &["domains", "remove", "pec.esempio.it"]);
    assert!(stderr.contains("impossibile rimuovere"), "{stderr}");
}

#[test]
fn remove_records_the_actor_and_queues_the_notice() {
    on_sqlite(remove_a_certified_domain);
}

/// The hybrid exception: shown, added to, removed from, cleared; bad entries refused.
fn edit_the_exception(url: &str) {
    add(url, "pec.ibrido.it");
    fn exception<'a>(args: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec!["domains", "exception", "pec.ibrido.it"];
        all.extend_from_slice(args);
        all
    }
    let ok = |args: &[&str]| succeeds(url, &exception(args));
    assert_eq!(
        ok(&[]),
        "pec.ibrido.it: eccezione ibrida: nessun indirizzo\n"
    );
    assert_eq!(
        ok(&["--add", "192.0.2.7", "--add", "2001:db8::/48"]),
        "pec.ibrido.it: eccezione ibrida aggiornata: 192.0.2.7/32, 2001:db8::/48\n"
    );
    assert_eq!(
        ok(&["--remove", "192.0.2.7/32", "--lang", "en"]),
        "pec.ibrido.it: hybrid exception updated: 2001:db8::/48\n"
    );
    let shown: Value = serde_json::from_str(&ok(&["--format", "json"])).expect("JSON");
    assert_eq!(shown["exception"], serde_json::json!(["2001:db8::/48"]));
    assert_eq!(shown["state"], "certified");

    for (args, needle) in [
        (
            &["--add", "192.0.2.300"][..],
            "indirizzo non valido \"192.0.2.300\"",
        ),
        (&["--add", "mx.pec.it", "--lang", "en"], "invalid address"),
        (&["--remove", "198.51.100.0/24"], "non è nell'elenco"),
        (&["--add", "0.0.0.0/0"], "0.0.0.0/0 è troppo ampia"),
        (&["--add", "::/0", "--lang", "en"], "::/0 is too wide"),
        (&["--add", "192.0.2.0/23"], "al massimo una /24"),
        (
            &["--add", "2001:db8::/47", "--lang", "en"],
            "at most a /24 (IPv4) or a /48",
        ),
    ] {
        let stderr = fails(url, &exception(args));
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    assert_eq!(
        ok(&["--clear"]),
        "pec.ibrido.it: eccezione ibrida aggiornata: nessun indirizzo\n"
    );
    assert_eq!(
        show(url, "pec.ibrido.it")["exception"],
        serde_json::json!([])
    );
}

#[test]
fn exception_add_remove_and_clear() {
    on_sqlite(edit_the_exception);
}

#[test]
fn actions_on_unknown_domains_and_bad_input_are_refused() {
    on_sqlite(|url| {
        let cases: &[(&[&str], &str)] = &[
            (
                &["domains", "approve", "pec.nessuno.it"],
                "pec.nessuno.it non è registrato",
            ),
            (
                &["domains", "remove", "pec.nessuno.it", "--lang", "en"],
                "pec.nessuno.it is not registered",
            ),
            (
                &[
                    "domains",
                    "exception",
                    "pec.nessuno.it",
                    "--add",
                    "192.0.2.1",
                ],
                "non è registrato",
            ),
            (
                &[
                    "domains",
                    "renew",
                    "pec.nessuno.it",
                    "--expires",
                    "31/12/2027",
                ],
                "invalid date",
            ),
            (&["domains", "approve", "http://x.it/"], "sembra un URL"),
            (&["domains", "renew", "pec.x.it"], "--expires"),
        ];
        for (args, needle) in cases {
            let stderr = fails(url, args);
            assert!(stderr.contains(needle), "{args:?}: {stderr}");
        }
    });
}

/// Runs `test` with the URL of a fresh schema of the test PostgreSQL server, and drops
/// the schema afterwards, even if the test fails.
fn on_postgres(test: impl Fn(&str)) {
    let base = std::env::var("PECWATCH_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!(
        "pecwatch_cli_{}_{}",
        std::process::id(),
        Timestamp::now().as_nanosecond()
    );
    let admin = |sql: String| {
        block_on(async {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect(&base)
                .await
                .unwrap_or_else(|e| panic!("these tests need PostgreSQL at {base}: {e}"));
            sqlx::query(AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .expect("schema");
            pool.close().await;
        })
    };
    admin(format!("CREATE SCHEMA {schema}"));
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
    let outcome = catch_unwind(AssertUnwindSafe(|| test(&url)));
    admin(format!("DROP SCHEMA {schema} CASCADE"));
    if let Err(panic) = outcome {
        resume_unwind(panic);
    }
}

#[test]
fn actions_on_postgresql() {
    on_postgres(|url| {
        decide_domains_under_review(url);
        remove_a_certified_domain(url);
        edit_the_exception(url);
    });
}

// ---------------------------------------------------------------------------------------
// Holders' and resellers' values at every command-line entry
// ---------------------------------------------------------------------------------------

/// The values that once stopped a notice, each with the field it must be refused as.
fn hostile_values() -> Vec<(&'static str, String, &'static str)> {
    vec![
        ("reseller", "bad reseller@evil.it".to_owned(), "reseller"),
        (
            "holder_name",
            "Rossi\r\nBcc: spia@evil.it".to_owned(),
            "holder_name",
        ),
        ("holder_name", "Rossi\rSrl".to_owned(), "holder_name"),
        ("holder_name", "N".repeat(100_000), "holder_name"),
        ("reseller", "R".repeat(100_000), "reseller"),
        (
            "holder_email",
            "bad holder@evil.it".to_owned(),
            "holder_email",
        ),
    ]
}

/// Nothing was recorded: no domain, no order.
fn nothing_recorded(url: &str) {
    let domains = succeeds(url, &["domains", "list", "--format", "json"]);
    assert!(domains.trim().is_empty(), "{domains}");
    let orders = succeeds(url, &["orders", "list", "--format", "json"]);
    assert!(orders.trim().is_empty(), "{orders}");
}

#[test]
fn hostile_holder_values_are_refused_at_every_command_line_entry() {
    on_sqlite(|url| {
        for (column, value, field) in hostile_values() {
            let shown: String = value.chars().take(20).collect();
            // domains add, orders add: exit 2 naming the field.
            for command in ["domains", "orders"] {
                let option = format!("--{}", column.replace('_', "-"));
                let mut args = vec![command, "add", "pec.nuovo.it"];
                if column != "holder_email" {
                    args.extend(["--holder-email", "titolare@nuovo.it"]);
                }
                args.extend([option.as_str(), value.as_str()]);
                let stderr = fails(url, &args);
                assert!(stderr.contains(field), "{command} {shown:?}: {stderr}");
                assert!(
                    stderr.len() < 1_000,
                    "{command}: the value is not echoed whole"
                );
            }
            // domains import, orders import: exit 2 naming the line and the field, and
            // nothing imported (the good line before it neither).
            let dir = tempfile::tempdir().expect("tempdir");
            for (command, name) in [("domains", "domain"), ("orders", "name")] {
                let mut line = vec![
                    ("holder_email", "titolare@nuovo.it".to_owned()),
                    ("holder_name", "Mario Rossi".to_owned()),
                    ("reseller", "ordini@rivendita.it".to_owned()),
                ];
                for (key, text) in &mut line {
                    if *key == column {
                        *text = value.clone();
                    }
                }
                let header: Vec<&str> = line.iter().map(|(key, _)| *key).collect();
                // Quoted as a spreadsheet writes them (RFC 4180).
                let fields: Vec<String> = line
                    .iter()
                    .map(|(_, text)| format!("\"{}\"", text.replace('"', "\"\"")))
                    .collect();
                let text = format!(
                    "{name},{}\npec.buono.it,a@buono.it,,\npec.nuovo.it,{}\n",
                    header.join(","),
                    fields.join(",")
                );
                let file = dir.path().join(format!("{command}.csv"));
                std::fs::write(&file, text).expect("write");
                let path = file.to_string_lossy().into_owned();
                let stderr = fails(url, &[command, "import", &path]);
                assert!(
                    stderr.contains("riga 3") || stderr.contains("line 3"),
                    "{command} import {shown:?}: {stderr}"
                );
                if value.contains('\n') {
                    // A line break inside quotes: the line cannot be read at all.
                    assert!(stderr.contains("unterminated"), "{stderr}");
                } else {
                    assert!(
                        stderr.contains(field),
                        "{command} import {shown:?}: {stderr}"
                    );
                }
            }
            nothing_recorded(url);
        }
        // Good values still go in, in normal form.
        succeeds(
            url,
            &[
                "domains",
                "add",
                "pec.nuovo.it",
                "--holder-email",
                " Titolare@Nuovo.IT ",
                "--holder-name",
                "  Niccolò Rossi <Srl> ",
                "--reseller",
                "ordini@rivendita.it",
            ],
        );
        let shown = show(url, "pec.nuovo.it");
        assert_eq!(shown["holder"]["email"], "Titolare@nuovo.it", "{shown}");
        assert_eq!(shown["holder"]["name"], "Niccolò Rossi <Srl>");
        assert_eq!(shown["reseller"], "ordini@rivendita.it");
    });
}

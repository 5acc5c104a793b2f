//! Security (issue 8, point 4), from outside, with the real binary:
//!
//! - `private_name_servers_are_not_queried_by_default`: a customer's NS records point at
//!   loopback addresses (the minilab's Knot servers, which count the requests they get).
//!   Without `dns.allow_private` neither `check` nor `sweep` sends them a single packet
//!   (the domain gets `NS_INDIRIZZO_NON_PUBBLICO`); with it they are asked (the control).
//! - `secrets_never_appear_in_output_logs_or_the_registry`: every command that handles
//!   a secret runs with the most verbose logging (`PECWATCH_LOG=trace`): the database
//!   password (in the URL), the SMTP password (right and wrong), the TSIG key (valid and
//!   invalid), API tokens, set-password links, console and mailbox passwords. None of
//!   them appears in any standard output or error (but the one place each is meant to
//!   be shown once: the new token, the new link) nor, in clear, in the SQLite registry.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use hickory_proto::op::OpCode;
use hickory_proto::rr::rdata::{A, NS, SOA};
use hickory_proto::rr::{Name, RData, Record};
use pecwatch::registry::Backend;
use serde_json::Value;

use crate::support::cli::pecwatch;
use crate::support::db::{create, postgres_url};
use crate::support::fake_dns::{Action, FakeDns, Request, response};
use crate::support::minilab::{CUSTOMER_SERVERS, MiniLab, Options};
use crate::support::smtp::{Security, SmtpServer};
use crate::support::web::{client, start};

// ---------------------------------------------------------------------------------------
// Private name servers
// ---------------------------------------------------------------------------------------

/// A resolver that knows `ok.it` (served by ns1/ns2.cliente.it at the minilab's loopback
/// addresses) and the provider's mail host, without ever asking those servers itself: so
/// every request they count comes from pecwatch.
async fn scripted_resolver(lab: &MiniLab) -> FakeDns {
    let name = |text: &str| Name::from_ascii(text).unwrap();
    let zone = name("ok.it.");
    let soa = SOA::new(
        name("ns1.cliente.it."),
        name("hostmaster.cliente.it."),
        1,
        3600,
        600,
        86400,
        5,
    );
    let records = [
        Record::from_rdata(zone.clone(), 60, RData::SOA(soa.clone())),
        Record::from_rdata(zone.clone(), 60, RData::NS(NS(name("ns1.cliente.it.")))),
        Record::from_rdata(zone.clone(), 60, RData::NS(NS(name("ns2.cliente.it.")))),
        Record::from_rdata(
            name("ns1.cliente.it."),
            60,
            RData::A(A(lab.addr(CUSTOMER_SERVERS[0]))),
        ),
        Record::from_rdata(
            name("ns2.cliente.it."),
            60,
            RData::A(A(lab.addr(CUSTOMER_SERVERS[1]))),
        ),
        Record::from_rdata(name("mx.pec.aruba.it."), 60, RData::A(A(lab.addr(25)))),
    ];
    let script = Arc::new(move |request: &Request| {
        let query = &request.message;
        let mut reply = response(query);
        reply.metadata.authoritative = false;
        reply.metadata.recursion_available = true;
        reply.metadata.op_code = OpCode::Query;
        if let Some(question) = query.queries.first() {
            let qname = question.name.to_lowercase();
            reply.add_answers(
                records
                    .iter()
                    .filter(|r| r.name == qname && r.record_type() == question.query_type)
                    .cloned(),
            );
            if reply.answers.is_empty() && zone.zone_of(&qname) {
                reply.add_authority(Record::from_rdata(
                    zone.clone(),
                    60,
                    RData::SOA(soa.clone()),
                ));
            }
        }
        vec![Action::Send(reply)]
    });
    FakeDns::with_script(script).await
}

/// Requests the two customer servers have received so far.
fn customer_requests(lab: &MiniLab) -> u64 {
    lab.requests("ns1") + lab.requests("ns2")
}

#[tokio::test]
async fn private_name_servers_are_not_queried_by_default() {
    let lab = MiniLab::start(Options::default());
    let resolver = scripted_resolver(&lab).await;
    let resolver_addr = resolver.addr().to_string();
    let (db, cleanup) = create(Backend::Sqlite).await;
    let now = "2026-11-23T03:00:00+01:00";
    let with = |allow: &str| {
        [
            ("PECWATCH_DNS_RESOLVER", resolver_addr.clone()),
            ("PECWATCH_DNS_ALLOW_PRIVATE", allow.to_owned()),
            ("PECWATCH_DNS_TIMEOUT_MS", "300".to_owned()),
            ("PECWATCH_DNS_ROOT_HINTS", String::new()),
        ]
    };
    let env =
        |pairs: &[(&'static str, String); 4]| -> Vec<(&'static str, String)> { pairs.to_vec() };
    let run = |args: &[&str], pairs: Vec<(&'static str, String)>| -> Output {
        let env: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        lab.pecwatch(&db.url, Some(now), args, &env)
            .output()
            .unwrap()
    };
    let before = customer_requests(&lab);

    // `check`, the default: the resolver is asked, the servers are not.
    let output = run(
        &["check", "--format", "json", "pec.ok.it"],
        env(&with("false")),
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        report["codes"],
        serde_json::json!(["NS_NON_DEFINITO"]),
        "{report}"
    );
    assert_eq!(
        report["warnings"],
        serde_json::json!(["NS_INDIRIZZO_NON_PUBBLICO"]),
        "{report}"
    );
    assert!(resolver.udp_queries() > 0, "the resolver was asked");

    // The sweep, the same.
    let added = run(
        &["domains", "add", "pec.ok.it", "--holder-email", "t@ok.it"],
        env(&with("false")),
    );
    assert!(added.status.success(), "{added:?}");
    let swept = run(&["sweep", "--format", "json"], env(&with("false")));
    assert!(swept.status.success(), "{swept:?}");
    let summary: Value = serde_json::from_slice(&swept.stdout).unwrap();
    assert_eq!(summary["codes"]["NS_NON_DEFINITO"], 1, "{summary}");
    assert_eq!(
        customer_requests(&lab),
        before,
        "a name server at a loopback address was queried"
    );

    // The control: allowed, they are asked (and the counting works).
    let output = run(
        &["check", "--format", "json", "pec.ok.it"],
        env(&with("true")),
    );
    assert!(output.status.code().is_some(), "{output:?}");
    assert!(customer_requests(&lab) > before, "asked when allowed");
    db.registry.close().await;
    cleanup.run().await;
}

// ---------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------

const DB_SECRET: &str = "Db-Secret-4f1c9";
const SMTP_SECRET: &str = "Smtp-Secret-9d2e7";
const WRONG_SMTP_SECRET: &str = "Wrong-Smtp-77ab";
/// base64 of `Tsig-Secret-31a7-key-material`.
const TSIG_SECRET: &str = "VHNpZy1TZWNyZXQtMzFhNy1rZXktbWF0ZXJpYWw=";
const TSIG_PLAIN: &str = "Tsig-Secret-31a7-key-material";
const BAD_TSIG_SECRET: &str = "Bad-Tsig-Secret-0042";
const USER_SECRET: &str = "Console-Secret-6b3d";
const MAILBOX_SECRET: &str = "Mailbox-Secret-55aa";

/// Everything a process printed.
fn printed(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Panics if `text` (what `what` printed) contains one of `secrets`.
fn assert_clean(what: &str, text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "{what} shows a secret ({secret}):\n{text}"
        );
    }
}

/// An `application/x-www-form-urlencoded` body.
fn form(pairs: &[(&str, &str)]) -> String {
    let encode = |text: &str| {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The value of a hidden form field in a page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in {page}"))
        + marker.len();
    page[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn secrets_never_appear_in_output_logs_or_the_registry() {
    let (db, cleanup) = create(Backend::Sqlite).await;
    let url = db.url.clone();
    let user = "pecwatch";
    let smtp = SmtpServer::start_with(Security::StartTls, Some(&format!("{user}:{SMTP_SECRET}")));
    let relay = smtp.url();
    let ca = smtp.ca_file();
    let ca = ca.to_str().unwrap();
    let tsig = format!("pecwatch-test.:hmac-sha256:{TSIG_SECRET}");
    let secrets = [
        ("PECWATCH_LOG", "trace"),
        ("PECWATCH_SMTP_URL", relay.as_str()),
        ("PECWATCH_SMTP_CA_FILE", ca),
        ("PECWATCH_SMTP_USERNAME", user),
        ("PECWATCH_SMTP_PASSWORD", SMTP_SECRET),
        (
            "PECWATCH_SMTP_FROM",
            "Monitor PEC <monitor@gestore.example>",
        ),
        ("PECWATCH_PROVISION_TSIG_KEY", tsig.as_str()),
        ("PECWATCH_PROVISION_PRIMARY", "127.0.0.1:9"),
        ("PECWATCH_PROVISION_INTERNAL_ZONE", "pec.aruba.it"),
        ("PECWATCH_PROVISION_TIMEOUT_MS", "300"),
    ];
    let outputs: std::cell::RefCell<Vec<(String, String)>> = Default::default();
    let run = |now: &str, args: &[&str], extra: &[(&str, &str)]| -> Output {
        let mut env = secrets.to_vec();
        env.extend_from_slice(extra);
        let started = std::time::Instant::now();
        let output = pecwatch(&url, Some(now), args, &env).output().unwrap();
        eprintln!("{args:?}: {:?}", started.elapsed());
        outputs
            .borrow_mut()
            .push((format!("pecwatch {args:?} {extra:?}"), printed(&output)));
        output
    };

    // A domain whose error notice is sent over STARTTLS with authentication: first with
    // a wrong password (refused, retried later), then with the right one.
    let t = |hm: &str| format!("2026-11-23T{hm}:00+01:00");
    for (now, args) in [
        (
            t("02:00"),
            vec![
                "domains",
                "add",
                "pec.wronga.it",
                "--holder-email",
                "t@esempio.it",
            ],
        ),
        (
            t("02:00"),
            vec!["domains", "add", "pec.ok.it", "--holder-email", "t@ok.it"],
        ),
        (t("03:00"), vec!["sweep"]),
        (t("04:00"), vec!["sweep"]),
    ] {
        let output = run(&now, &args, &[]);
        assert!(output.status.code().is_some_and(|c| c <= 1), "{output:?}");
    }
    // With the wrong password. (This attempt sometimes hangs until the server drops the
    // connection, 300 s later, whatever `smtp.timeout` says: not waited for here; what
    // it printed until then is checked like the rest.)
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut env = secrets.to_vec();
    env.push(("PECWATCH_SMTP_PASSWORD", WRONG_SMTP_SECRET));
    let file = std::fs::File::create(log.path()).unwrap();
    let mut refused = pecwatch(&url, Some(&t("04:05")), &["notices", "send"], &env)
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while refused.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    if refused.try_wait().unwrap().is_none() {
        eprintln!("notices send with a wrong SMTP password still runs after 20 s: killed");
        let _ = refused.kill();
    }
    let _ = refused.wait();
    outputs.borrow_mut().push((
        "notices send (wrong SMTP password)".into(),
        std::fs::read_to_string(log.path()).unwrap_or_default(),
    ));
    assert!(smtp.received().is_empty(), "refused");
    let sent = run(&t("04:30"), &["notices", "send"], &[]);
    assert!(printed(&sent).contains("1 inviate"), "{}", printed(&sent));
    assert_eq!(smtp.received().len(), 1);

    // The TSIG key: an order whose provisioning fails (nobody answers at the primary),
    // and a key that does not parse.
    run(
        &t("05:00"),
        &[
            "orders",
            "add",
            "acme",
            "--kind",
            "internal",
            "--holder-email",
            "t@acme.it",
        ],
        &[],
    );
    run(&t("05:01"), &["orders", "approve", "1"], &[]);
    // The sweep writes the provider's DNS for approved orders first: a signed UPDATE.
    let provisioning = run(&t("05:02"), &["sweep"], &[]);
    assert!(
        printed(&provisioning).contains("cannot provision"),
        "{}",
        printed(&provisioning)
    );
    let bad_key = format!("pecwatch-test.:hmac-md5:{BAD_TSIG_SECRET}");
    let refused_key = run(
        &t("05:02"),
        &["orders", "list"],
        &[("PECWATCH_PROVISION_TSIG_KEY", &bad_key)],
    );
    assert_eq!(
        refused_key.status.code(),
        Some(2),
        "{}",
        printed(&refused_key)
    );

    // An API token and a set-password link: each shown once, on standard output, by the
    // command that makes it.
    let made = run(
        &t("06:00"),
        &["tokens", "add", "ci", "--role", "operator"],
        &[],
    );
    let token = String::from_utf8_lossy(&made.stdout).trim().to_owned();
    assert!(token.starts_with("pw_"), "{}", printed(&made));
    outputs.borrow_mut().pop();
    outputs.borrow_mut().push((
        "tokens add (stderr)".into(),
        String::from_utf8_lossy(&made.stderr).into(),
    ));
    run(&t("06:01"), &["tokens", "list"], &[]);
    let mailbox = run(&t("06:02"), &["mailboxes", "add", "mario@pec.ok.it"], &[]);
    let shown = String::from_utf8_lossy(&mailbox.stdout).to_string();
    let link = shown
        .split("/password/")
        .nth(1)
        .map(|rest| {
            rest.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .unwrap_or_else(|| panic!("no link in {}", printed(&mailbox)));
    assert!(link.len() > 30, "{link}");
    outputs.borrow_mut().pop();
    outputs.borrow_mut().push((
        "mailboxes add (stderr)".into(),
        String::from_utf8_lossy(&mailbox.stderr).into(),
    ));
    run(&t("06:03"), &["mailboxes", "list"], &[]);

    // A console user, its password on standard input.
    let mut adding = pecwatch(
        &url,
        Some(&t("06:04")),
        &["users", "add", "ada", "--role", "operator"],
        &secrets,
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    adding
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{USER_SECRET}\n").as_bytes())
        .unwrap();
    let added = adding.wait_with_output().unwrap();
    assert!(added.status.success(), "{}", printed(&added));
    outputs
        .borrow_mut()
        .push(("users add".into(), printed(&added)));

    // The web interface, logging everything: API calls with the token, the set-password
    // page and form, a console sign-in.
    let server = start(&url, &t("07:00"), &secrets).await;
    let http = client();
    let bearer = format!("Bearer {token}");
    let api = http
        .get(server.url("/api/v1/domains"))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert!(api.status().is_success(), "{api:?}");
    let _ = http
        .get(server.url(&format!("/api/v1/domains?token={token}")))
        .send()
        .await
        .unwrap();
    let page = http
        .get(server.url(&format!("/password/{link}")))
        .send()
        .await
        .unwrap();
    assert!(page.status().is_success(), "{page:?}");
    let set = http
        .post(server.url(&format!("/password/{link}")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("password", MAILBOX_SECRET),
            ("confirm", MAILBOX_SECRET),
        ]))
        .send()
        .await
        .unwrap();
    assert!(
        set.status().is_success() || set.status().is_redirection(),
        "{set:?}"
    );
    let login = http.get(server.url("/console/login")).send().await.unwrap();
    let cookie = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect::<Vec<_>>()
        .join("; ");
    let login_page = login.text().await.unwrap();
    let csrf = hidden(&login_page, "csrf");
    let _ = http
        .post(server.url("/console/login"))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("name", "ada"),
            ("password", USER_SECRET),
            ("csrf", &csrf),
            ("next", "/console"),
        ]))
        .send()
        .await
        .unwrap();
    let (_, web_log) = server.stop();
    // The requests are logged (so a token in them would show), with their paths.
    assert!(web_log.contains("/api/v1/domains"), "{web_log}");
    assert!(web_log.contains("/password/"), "{web_log}");
    outputs.borrow_mut().push(("pecwatch web".into(), web_log));

    // The database password: a server that is not there, a URL that does not parse, and
    // the real server (which trusts loopback and ignores it), for a command and for the
    // service's start-up line.
    let with_password = |base: &str| {
        base.replacen(
            "postgres://postgres@",
            &format!("postgres://postgres:{DB_SECRET}@"),
            1,
        )
    };
    let (pg, pg_cleanup) = create(Backend::Postgres).await;
    for (database, expected) in [
        (
            format!("postgres://postgres:{DB_SECRET}@127.0.0.1:9/none"),
            Some(3),
        ),
        (
            format!("postgres://postgres:{DB_SECRET}@127.0.0.1:port/none"),
            None,
        ),
        (with_password(&pg.url), Some(0)),
    ] {
        let output = pecwatch(
            &database,
            Some(&t("08:00")),
            &["domains", "list"],
            &[("PECWATCH_LOG", "trace")],
        )
        .output()
        .unwrap();
        if let Some(code) = expected {
            assert_eq!(output.status.code(), Some(code), "{}", printed(&output));
        }
        outputs
            .borrow_mut()
            .push((format!("domains list on {database}"), printed(&output)));
    }
    assert!(with_password(&postgres_url()).contains(DB_SECRET));
    let mut serve = pecwatch(
        &with_password(&pg.url),
        Some(&t("08:00")),
        &["serve"],
        &[("PECWATCH_LOG", "trace"), ("PECWATCH_WEB_ENABLED", "false")],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while pg.registry.last_sweep().await.unwrap().is_none()
        && pg
            .registry
            .lease_holder("schedule")
            .await
            .unwrap()
            .is_none()
    {
        assert!(std::time::Instant::now() < deadline, "serve did not start");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status();
    let _ = serve.stdin.take();
    let served = serve.wait_with_output().unwrap();
    let served = printed(&served);
    assert!(
        served.contains("postgres://postgres:***@127.0.0.1"),
        "{served}"
    );
    outputs.borrow_mut().push(("pecwatch serve".into(), served));
    pg.registry.close().await;
    pg_cleanup.run().await;

    let all_secrets = [
        DB_SECRET,
        SMTP_SECRET,
        WRONG_SMTP_SECRET,
        TSIG_SECRET,
        TSIG_PLAIN,
        BAD_TSIG_SECRET,
        USER_SECRET,
        MAILBOX_SECRET,
        token.as_str(),
        link.as_str(),
    ];
    for (what, text) in outputs.borrow().iter() {
        assert_clean(what, text, &all_secrets);
    }
    // Nor in clear in the registry (tokens and links as SHA-256, passwords as argon2id).
    db.registry.close().await;
    let file = url.trim_start_matches("sqlite://");
    let mut stored = std::fs::read(file).unwrap();
    stored.extend(std::fs::read(format!("{file}-wal")).unwrap_or_default());
    let stored = String::from_utf8_lossy(&stored);
    assert_clean("the registry", &stored, &all_secrets);
    cleanup.run().await;
}

#[tokio::test]
async fn the_sqlite_file_and_its_wal_and_shm_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("registry.db");
    let url = format!("sqlite://{}", file.display());
    let port = crate::support::web::free_port();
    let listen = format!("127.0.0.1:{port}");
    // `pecwatch web` started under umask 000, as a careless service manager may.
    let prepared = pecwatch(&url, None, &["web", "--listen", &listen], &[]);
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg("umask 000; exec \"$0\" \"$@\"")
        .arg(prepared.get_program())
        .args(prepared.get_args());
    for (key, value) in prepared.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    if let Some(dir) = prepared.get_current_dir() {
        command.current_dir(dir);
    }
    let server = crate::support::web::spawn(&mut command, port).await;
    let response = client().get(server.url("/healthz")).send().await.unwrap();
    assert!(response.status().is_success());
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", file.display());
        let mode = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{path}: {mode:o}");
    }
    drop(server);
    // The umask really was 000: what the shell creates there is world-writable.
    let probe = dir.path().join("probe");
    let status = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("umask 000; : > '{}'", probe.display()))
        .status()
        .unwrap();
    assert!(status.success());
    let mode = std::fs::metadata(&probe).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666);
}

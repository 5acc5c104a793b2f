//! Golden files of every output format: the JSON (and text) that the command line and the
//! API print, kept byte for byte in `tests/fixtures/golden/`. A change of any output shows
//! here as a diff; a deliberate one is accepted by running the tests with
//! `PECWATCH_BLESS=1` (which rewrites the files) and committing the diff after reading it.
//!
//! Everything runs against the shared lab at fixed instants (`PECWATCH_NOW`) on a fresh
//! SQLite registry, so the outputs are the same on every run; the only values that vary
//! (a sweep's `seconds`) are replaced by `0` before the comparison.

use std::path::PathBuf;
use std::process::Output;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::cli::{pecwatch, run};
use crate::support::db::create;
use crate::support::lab::{lab_profile, repo};
use crate::support::web::{client, start, token};

const T0: &str = "2026-11-23T03:00:00+01:00";
const T1: &str = "2026-11-23T05:00:00+01:00";

/// Every lab scenario `check` knows (lab/README.md), one output each, in this order.
const NAMES: &[&str] = &[
    "pec.ok.it",
    "pec.own.it",
    "pec.delegato.it",
    "pec.upper.it",
    "pec.caffè.it",
    "Mario.Rossi@PEC.OK.IT",
    "cert.infook.it",
    "pec.nomx.it",
    "pec.nullmx.it",
    "pec.noa.it",
    "pec.onlyaaaa.it",
    "pec.iplit.it",
    "pec.wronga.it",
    "pec.hybrid.it",
    // Not pec.multi.it: its two A records come from the resolver in either order.
    "pec.aaaa.it",
    "pec.prio.it",
    "pec.single.it",
    "pec.incoerente.it",
    "pec.serial.it",
    "pec.stale.it",
    "pec.lame.it",
    "pec.dead.it",
    "pec.alldead.it",
    "pec.servfail.it",
    "pec.nxparent.it",
    "pec.nodeleg.it",
    "pec.nxname.it",
    "pec.bigmx.it",
    "pec.conflitto.it",
    "not a domain",
    "http://pec.ok.it/",
];

fn golden_path(name: &str) -> PathBuf {
    repo().join("tests/fixtures/golden").join(name)
}

/// Compares `actual` with the golden file `name`, or rewrites it with `PECWATCH_BLESS=1`.
fn assert_golden(name: &str, actual: &str) {
    let path = golden_path(name);
    if std::env::var_os("PECWATCH_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no golden file {}: run the tests with PECWATCH_BLESS=1 to write it",
            path.display()
        )
    });
    if expected == actual {
        return;
    }
    let (line, (want, got)) = expected
        .lines()
        .zip(actual.lines())
        .enumerate()
        .find(|(_, (want, got))| want != got)
        .map(|(i, pair)| (i + 1, pair))
        .unwrap_or((
            expected.lines().count().min(actual.lines().count()) + 1,
            ("(end or more lines)", "(end or more lines)"),
        ));
    panic!(
        "{name} differs from {} at line {line}:\n  golden: {want}\n  actual: {got}\n\
         (if the change is deliberate: PECWATCH_BLESS=1 cargo test --test integration golden)",
        path.display()
    );
}

/// Replaces the number after every `"seconds":` by `0` (how long a sweep took).
fn scrub(text: &str) -> String {
    let key = "\"seconds\":";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(key) {
        out.push_str(&rest[..at + key.len()]);
        rest = &rest[at + key.len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-')))
            .unwrap_or(rest.len());
        if end > 0 {
            out.push('0');
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// A registry URL for commands that open none (a file in a fresh directory).
fn no_registry() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("unused.db").display());
    (dir, url)
}

/// Standard output, with the repository's path (in profile paths) as `<repo>`.
fn stdout(output: &Output) -> String {
    let text = String::from_utf8(output.stdout.clone()).expect("UTF-8 output");
    text.replace(repo().to_str().unwrap(), "<repo>")
}

/// `pecwatch check ARGS… NAME` for each lab name, one after the other (a run of several
/// names prints them as they finish), joined.
fn check_all(args: &[&str]) -> String {
    let profile = lab_profile();
    let profile = profile.to_str().unwrap();
    let (_dir, url) = no_registry();
    let url = url.as_str();
    let outputs: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = NAMES
            .iter()
            .map(|name| {
                scope.spawn(move || {
                    let mut full = vec!["check", "--profile", profile];
                    full.extend_from_slice(args);
                    full.push(name);
                    // No log lines (they carry the time): only what the command says.
                    let quiet = [("PECWATCH_LOG", "off")];
                    let output = pecwatch(url, Some(T0), &full, &quiet).output().unwrap();
                    assert!(
                        matches!(output.status.code(), Some(0..=2)),
                        "{name}: {output:?}"
                    );
                    // An input error is said on standard error (text) or standard output
                    // (JSON): both are part of the output.
                    let mut text = stdout(&output);
                    for line in String::from_utf8_lossy(&output.stderr).lines() {
                        text.push_str(&format!("[stderr] {line}\n"));
                    }
                    assert!(!text.is_empty(), "{name}: no output");
                    format!("[exit {}]\n{text}", output.status.code().unwrap_or(-1))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    outputs.concat()
}

#[test]
fn golden_check_outputs() {
    assert_golden("check.jsonl", &check_all(&["--format", "json"]));
    assert_golden("check.it.txt", &check_all(&[]));
    assert_golden("check.en.txt", &check_all(&["--lang", "en"]));
}

#[test]
fn golden_instructions_outputs() {
    let profile = lab_profile();
    let profile = profile.to_str().unwrap();
    let names = [
        "pec.nuovo.it",
        "pec.propria.it",
        "pec.ospitato.it",
        "pec.attesa.it",
        "pec.ok.it",
        "pec.delegato.it",
        "pec.conflitto.it",
    ];
    let (_dir, url) = no_registry();
    let mut json = String::new();
    let mut text = String::new();
    for name in names {
        for (format, out) in [("json", &mut json), ("text", &mut text)] {
            let output = pecwatch(
                &url,
                Some(T0),
                &[
                    "instructions",
                    "--profile",
                    profile,
                    "--format",
                    format,
                    name,
                ],
                &[],
            )
            .output()
            .unwrap();
            assert!(
                matches!(output.status.code(), Some(0..=1)) && !output.stdout.is_empty(),
                "{name}: {output:?}"
            );
            out.push_str(&stdout(&output));
        }
    }
    assert_golden("instructions.jsonl", &json);
    assert_golden("instructions.it.txt", &text);
}

/// A small registry's life: two domains, two sweeps (one failure confirmed), an order, and
/// every listing of it, from the command line and the API.
#[tokio::test]
async fn golden_registry_outputs() {
    let (db, cleanup) = create(pecwatch::registry::Backend::Sqlite).await;
    let url = db.url.clone();
    let profile = lab_profile();
    let profile = profile.to_str().unwrap();
    let add = |domain: &str, email: &str| {
        run(
            &url,
            T0,
            &[
                "domains",
                "add",
                domain,
                "--holder-email",
                email,
                "--holder-name",
                "Studio Rossi",
                "--profile",
                profile,
                "--expires",
                "2027-12-31",
                "--format",
                "json",
            ],
            &[],
            0,
        )
    };
    let mut cli = String::new();
    let mut section = |title: &str, output: &Output| {
        cli.push_str(&format!("==> {title} <==\n"));
        cli.push_str(&scrub(&stdout(output)));
    };
    // One domain in the sweeps: the checks of several are recorded as they finish.
    section("domains add", &add("pec.nomx.it", "titolare@nomx.it"));
    let sweep = ["sweep", "--format", "json", "--no-progress"];
    section("sweep", &run(&url, T0, &sweep, &[], 0));
    section("sweep", &run(&url, T1, &sweep, &[], 0));
    section("domains add", &add("pec.ok.it", "titolare@ok.it"));
    let order = [
        "orders",
        "add",
        "pec.nuovo.it",
        "--holder-email",
        "titolare@nuovo.it",
        "--profile",
        profile,
        "--format",
        "json",
    ];
    section("orders add", &run(&url, T1, &order, &[], 0));
    for (title, args, status) in [
        (
            "domains list",
            &["domains", "list", "--format", "json"][..],
            0,
        ),
        (
            "domains show",
            &["domains", "show", "pec.nomx.it", "--format", "json"][..],
            0,
        ),
        (
            "domains show (text)",
            &["domains", "show", "pec.nomx.it"][..],
            0,
        ),
        (
            "notices list",
            &["notices", "list", "--format", "json"][..],
            0,
        ),
        (
            "notices show",
            &["notices", "show", "1", "--format", "json"][..],
            0,
        ),
        (
            "orders list",
            &["orders", "list", "--format", "json"][..],
            0,
        ),
        (
            "orders show",
            &["orders", "show", "1", "--format", "json"][..],
            0,
        ),
        ("index diff", &["index", "diff", "--format", "json"][..], 1),
    ] {
        section(title, &run(&url, T1, args, &[], status));
    }
    assert_golden("registry-cli.txt", &cli);

    // The API over the same registry.
    let operator = token(&url, T1, "golden", "operator");
    let server = start(&url, T1, &[]).await;
    let http = client();
    let mut api = String::new();
    for path in [
        "/api/v1/domains",
        "/api/v1/domains/pec.nomx.it",
        "/api/v1/domains/nessuno.it",
        "/api/v1/domains/not..valid",
        "/api/v1/notices",
        "/api/v1/notices/1",
        "/api/v1/notices/999",
        "/api/v1/orders",
        "/api/v1/orders/1",
        "/api/v1/index/diff",
        "/api/v1/index/publications",
        "/api/v1/instructions/pec.nuovo.it",
    ] {
        let response = http
            .get(server.url(path))
            .bearer_auth(&operator)
            .header("accept-language", "it")
            .send()
            .await
            .unwrap();
        let (status, body) = held_text("get", response).await;
        let body = scrub(&body).replace(repo().to_str().unwrap(), "<repo>");
        api.push_str(&format!("==> GET {path} {status} <==\n{body}\n"));
    }
    let response = http
        .post(server.url("/api/v1/check"))
        .bearer_auth(&operator)
        .json(&json!({ "names": ["pec.ok.it", "pec.nomx.it", "not a domain"], "lang": "en" }))
        .send()
        .await
        .unwrap();
    let (status, body) = held_text("post", response).await;
    api.push_str(&format!("==> POST /api/v1/check {status} <==\n{body}\n"));
    let unauthorized = http
        .get(server.url("/api/v1/domains"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
    let (status, body) = held_text("get", unauthorized).await;
    api.push_str(&format!(
        "==> GET /api/v1/domains (no token) {status} <==\n{body}\n"
    ));
    assert_golden("api.txt", &api);

    let document = http.get(server.url("/openapi.json")).send().await.unwrap();
    assert_eq!(document.status(), StatusCode::OK);
    let document: serde_json::Value = document.json().await.unwrap();
    assert_golden(
        "openapi.json",
        &(serde_json::to_string_pretty(&document).unwrap() + "\n"),
    );
    server.stop();
    cleanup.run().await;
}

/// The status and text of an API answer to `method`, its JSON held to the contract
/// (`support::contract`).
async fn held_text(method: &str, response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let path = response.url().path().to_owned();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = response.text().await.unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    crate::support::contract::hold(Some(method), &path, status.as_u16(), &content_type, &value);
    (status, text)
}

#[test]
fn scrub_replaces_only_the_seconds() {
    assert_eq!(
        scrub(r#"{"seconds":0.05,"sweep":1,"x":"seconds"}"#),
        r#"{"seconds":0,"sweep":1,"x":"seconds"}"#
    );
}

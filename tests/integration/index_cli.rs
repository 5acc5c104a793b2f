//! `pecwatch index` end to end: the real binary on a real SQLite file, and the registry's
//! publications on both backends (PostgreSQL at `PECWATCH_TEST_POSTGRES`, default
//! `postgres://postgres@127.0.0.1:5432/test`). No DNS: nothing here needs the lab.
//!
//! Domains are registered with `domains add` at a fixed instant; states the command line
//! cannot reach by itself (`in_error`, `expired`, …) are prepared through the registry.
//! The certificate is `tests/fixtures/index/provider.pem`, a self-signed test
//! certificate whose fingerprint and DER are checked against `openssl`'s.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use jiff::Timestamp;
use pecwatch::Lang;
use pecwatch::lifecycle::{DomainStatus, State};
use pecwatch::name::DomainName;
use pecwatch::registry::{Holder, NewDomain, Registry};
use serde_json::Value;

use crate::support::db::on_both;

/// The instant every command runs at (`PECWATCH_NOW`).
const NOW: &str = "2026-11-23T10:00:00+01:00";

/// The test certificate.
fn certificate() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/index/provider.pem")
}

/// A `pecwatch` command on the SQLite file `url`, at [`NOW`], with a complete `[index]`
/// from the environment.
fn pecwatch(url: &str) -> Command {
    let mut command = Command::cargo_bin("pecwatch").expect("binary");
    command
        .env_remove("PECWATCH_CONFIG")
        .env("PECWATCH_DATABASE_URL", url)
        .env("PECWATCH_NOW", NOW)
        .env("PECWATCH_LOG", "warn")
        .env("PECWATCH_INDEX_PROVIDER_NAME", "Esempio PEC S.p.A.")
        .env("PECWATCH_INDEX_PROVIDER_UNIT", "Servizio PEC")
        .env(
            "PECWATCH_INDEX_MAIL_RECEIPT",
            "posta-certificata@pec.esempio.it",
        )
        .env("PECWATCH_INDEX_CERTIFICATE", certificate())
        .env(
            "PECWATCH_INDEX_LDIF_URL",
            "https://www.esempio.it/pec/provider.ldif",
        );
    command
}

/// Runs `pecwatch ARGS`; panics with its output unless it exits with `expected`.
fn run(command: &mut Command, args: &[&str], expected: i32) -> Output {
    let output = command.args(args).output().expect("run pecwatch");
    assert_eq!(
        output.status.code(),
        Some(expected),
        "pecwatch {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Registers `domain` as certified through the command line.
fn add(url: &str, domain: &str) {
    run(
        pecwatch(url).args([
            "domains",
            "add",
            domain,
            "--holder-email",
            &format!("admin@{domain}"),
            "--expires",
            "2027-11-30",
        ]),
        &[],
        0,
    );
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

fn new_domain(domain: &str, state: State) -> NewDomain {
    let now: Timestamp = NOW.parse().expect("instant");
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
        status: DomainStatus::new(state, now, Some("2027-06-30T21:59:59Z".parse().expect("t"))),
        next_check: now,
    }
}

/// Registers `domain` directly in `state` through the registry.
fn seed(url: &str, domain: &str, state: State) {
    block_on(async {
        let registry = Registry::open(url).await.expect("open the registry");
        let now: Timestamp = NOW.parse().expect("instant");
        registry
            .add_domain(new_domain(domain, state), now)
            .await
            .expect("add the domain");
        registry.close().await;
    });
}

/// The `(attribute, value)` lines of an LDIF, unfolded, `::` values decoded.
fn attributes(ldif: &str) -> Vec<(String, Vec<u8>)> {
    let mut lines: Vec<String> = Vec::new();
    for line in ldif.lines() {
        assert!(line.len() <= 76, "line longer than 76: {line}");
        match line.strip_prefix(' ') {
            Some(rest) => lines.last_mut().expect("a line to continue").push_str(rest),
            None => lines.push(line.to_owned()),
        }
    }
    lines
        .iter()
        .map(|line| {
            let (name, value) = line.split_once(':').expect("attribute: value");
            let value = match value.strip_prefix(": ") {
                Some(encoded) => BASE64.decode(encoded).expect("base64"),
                None => value.trim_start().as_bytes().to_vec(),
            };
            (name.to_owned(), value)
        })
        .collect()
}

fn values(attributes: &[(String, Vec<u8>)], name: &str) -> Vec<String> {
    attributes
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .collect()
}

/// `openssl` on the fixture: the SHA-1 fingerprint (hex, no colons) and the DER.
fn openssl_fingerprint_and_der() -> (String, Vec<u8>) {
    let cert = certificate();
    let fingerprint = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha1", "-in"])
        .arg(&cert)
        .output()
        .expect("run openssl");
    let fingerprint = String::from_utf8_lossy(&fingerprint.stdout);
    let hex = fingerprint
        .trim()
        .rsplit('=')
        .next()
        .expect("fingerprint")
        .replace(':', "");
    let der = std::process::Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(&cert)
        .output()
        .expect("run openssl")
        .stdout;
    (hex, der)
}

/// Six domains in every state: certified (two, by the command line), in_error, removed,
/// expired, under_review, pending_dns and requested.
fn registry_in_every_state(url: &str) {
    add(url, "pec.zeta.it");
    add(url, "pec.alfa.it");
    seed(url, "pec.errore.it", State::InError);
    seed(url, "pec.rimosso.it", State::Removed);
    seed(url, "pec.scaduto.it", State::Expired);
    seed(url, "pec.revisione.it", State::UnderReview);
    seed(url, "pec.attesa.it", State::PendingDns);
    seed(url, "pec.richiesto.it", State::Requested);
}

#[test]
fn export_lists_certified_and_in_error_domains_with_the_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("pecwatch.db").display());
    registry_in_every_state(&url);

    let ldif = stdout(&run(&mut pecwatch(&url), &["index", "export"], 0));
    assert!(
        ldif.starts_with(
            "version: 1\ndn: providerName=Esempio PEC S.p.A.,o=postacert\n\
             objectClass: top\nobjectClass: provider\n"
        ),
        "{ldif}"
    );
    let attributes = attributes(&ldif);
    assert_eq!(
        values(&attributes, "managedDomains"),
        ["pec.alfa.it", "pec.errore.it", "pec.zeta.it"]
    );
    assert_eq!(values(&attributes, "providerName"), ["Esempio PEC S.p.A."]);
    assert_eq!(values(&attributes, "providerUnit"), ["Servizio PEC"]);
    assert_eq!(
        values(&attributes, "mailReceipt"),
        ["posta-certificata@pec.esempio.it"]
    );
    assert_eq!(
        values(&attributes, "LDIFLocationURL"),
        ["https://www.esempio.it/pec/provider.ldif"]
    );
    let (fingerprint, der) = openssl_fingerprint_and_der();
    assert_eq!(
        values(&attributes, "providerCertificateHash"),
        [fingerprint]
    );
    let certificate: Vec<&Vec<u8>> = attributes
        .iter()
        .filter(|(n, _)| n == "providerCertificate;binary")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(certificate, [&der]);
    assert!(
        ldif.contains("\nproviderCertificate;binary:: "),
        "binary form: {ldif}"
    );

    // Deterministic: a second export is the same, byte for byte; so is the file.
    let again = stdout(&run(&mut pecwatch(&url), &["index", "export"], 0));
    assert_eq!(again, ldif);
    let file = dir.path().join("provider.ldif");
    let file_arg = file.display().to_string();
    let written = run(
        &mut pecwatch(&url),
        &["index", "export", "--output", &file_arg],
        0,
    );
    assert_eq!(std::fs::read_to_string(&file).expect("the LDIF"), ldif);
    assert!(stdout(&written).contains("3 domains, sha256 "));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn publish_then_diff_shows_added_and_removed_domains() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("pecwatch.db").display());
    registry_in_every_state(&url);

    // Nothing published yet: every listed domain is new.
    let diff = run(&mut pecwatch(&url), &["index", "diff"], 1);
    assert_eq!(
        stdout(&diff),
        "no publication recorded yet: the index lists 3 domains now, all new\n\
         + pec.alfa.it\n+ pec.errore.it\n+ pec.zeta.it\n"
    );

    let file = dir.path().join("provider.ldif");
    let file_arg = file.display().to_string();
    let published = run(
        &mut pecwatch(&url),
        &["index", "export", "--output", &file_arg, "--record"],
        0,
    );
    let stderr = String::from_utf8_lossy(&published.stderr);
    assert!(
        stderr.contains("publication 1 recorded at 2026-11-23T09:00:00Z: 3 domains"),
        "{stderr}"
    );
    let unchanged = run(&mut pecwatch(&url), &["index", "diff"], 0);
    assert_eq!(
        stdout(&unchanged),
        "since publication 1 (2026-11-23T09:00:00Z, 3 domains): 0 added, 0 removed; \
         the index lists 3 domains now\n"
    );

    // A removal and a new certified domain.
    run(
        &mut pecwatch(&url),
        &["domains", "remove", "pec.zeta.it", "--reason", "test"],
        0,
    );
    add(&url, "pec.nuovo.it");
    let changed = run(&mut pecwatch(&url), &["index", "diff"], 1);
    assert_eq!(
        stdout(&changed),
        "since publication 1 (2026-11-23T09:00:00Z, 3 domains): 1 added, 1 removed; \
         the index lists 3 domains now\n+ pec.nuovo.it\n- pec.zeta.it\n"
    );
    let json = run(
        &mut pecwatch(&url),
        &["index", "diff", "--format", "json"],
        1,
    );
    let json: Value = serde_json::from_str(stdout(&json).trim()).expect("JSON");
    assert_eq!(json["added"], serde_json::json!(["pec.nuovo.it"]));
    assert_eq!(json["removed"], serde_json::json!(["pec.zeta.it"]));
    assert_eq!(json["domains"], 3);
    assert_eq!(json["since"]["id"], 1);
    assert_eq!(json["since"]["domains"], 3);
    assert_eq!(json["entry_changed"], false);
    let hash = json["since"]["hash"].as_str().expect("hash").to_owned();
    assert_eq!(
        hash,
        pecwatch::index::ldif_hash(&std::fs::read_to_string(&file).expect("LDIF"))
    );

    // Publishing again makes the diff empty.
    run(&mut pecwatch(&url), &["index", "export", "--record"], 0);
    run(&mut pecwatch(&url), &["index", "diff"], 0);

    // Another attribute (here the unit; a renewed certificate alike): the entry changed
    // though its domains did not.
    let attribute = run(
        pecwatch(&url).env("PECWATCH_INDEX_PROVIDER_UNIT", "Altro servizio"),
        &["index", "diff"],
        1,
    );
    assert_eq!(
        stdout(&attribute),
        "since publication 2 (2026-11-23T09:00:00Z, 3 domains): 0 added, 0 removed; \
         the index lists 3 domains now\n\
         the entry's other attributes changed too (name, unit, receipt, certificate or URL)\n"
    );
    // Without a complete [index] only the domains are compared.
    let domains_only = run(
        pecwatch(&url).env("PECWATCH_INDEX_CERTIFICATE", ""),
        &["index", "diff", "--format", "json"],
        0,
    );
    let json: Value = serde_json::from_str(stdout(&domains_only).trim()).expect("JSON");
    assert!(json["entry_changed"].is_null());
}

#[test]
fn export_refuses_a_missing_or_bad_certificate_and_an_incomplete_section() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("pecwatch.db").display());
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "just text\n").expect("write");
    let missing = dir.path().join("missing.pem");
    let cases = [
        (
            "PECWATCH_INDEX_CERTIFICATE",
            not_pem.display().to_string(),
            "no PEM certificate",
        ),
        (
            "PECWATCH_INDEX_CERTIFICATE",
            missing.display().to_string(),
            "cannot read it",
        ),
        (
            "PECWATCH_INDEX_CERTIFICATE",
            String::new(),
            "needs the provider's certificate",
        ),
        (
            "PECWATCH_INDEX_MAIL_RECEIPT",
            String::new(),
            "[index] mail_receipt = \"\": must be set",
        ),
    ];
    for (var, value, problem) in cases {
        let output = run(pecwatch(&url).env(var, &value), &["index", "export"], 2);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(problem), "{var}={value}: {stderr}");
        assert!(output.stdout.is_empty());
    }
    // A failed write leaves nothing recorded.
    let no_dir = dir.path().join("no/such/dir/provider.ldif");
    let no_dir = no_dir.display().to_string();
    run(
        &mut pecwatch(&url),
        &["index", "export", "--output", &no_dir, "--record"],
        3,
    );
    let diff = run(&mut pecwatch(&url), &["index", "diff"], 0);
    assert!(stdout(&diff).starts_with("no publication recorded yet"));
}

#[tokio::test]
async fn publications_are_recorded_on_both_backends() {
    on_both(|db| async move {
        let r = &db.registry;
        let now: Timestamp = NOW.parse().unwrap();
        for (name, state) in [
            ("pec.b.it", State::Certified),
            ("pec.a.it", State::InError),
            ("pec.c.it", State::Removed),
            ("pec.d.it", State::Expired),
            ("pec.e.it", State::UnderReview),
            ("pec.f.it", State::PendingDns),
            ("pec.g.it", State::Requested),
            ("pec-z.it", State::Certified),
        ] {
            r.add_domain(new_domain(name, state), now).await.unwrap();
        }
        let listed = r.published_domains().await.unwrap();
        // Byte order, whatever the database's collation.
        assert_eq!(listed, ["pec-z.it", "pec.a.it", "pec.b.it"]);
        assert!(r.last_publication().await.unwrap().is_none());

        let first = r
            .record_publication(now, "ldif one\n", &listed)
            .await
            .unwrap();
        assert_eq!(first.at, now);
        assert_eq!(first.domains, listed);
        assert_eq!(first.hash, pecwatch::index::ldif_hash("ldif one\n"));
        assert_eq!(first.ldif, "ldif one\n");

        let later = now + jiff::SignedDuration::from_hours(24);
        let unsorted = vec!["pec.b.it".to_owned(), "pec.a.it".to_owned()];
        let second = r
            .record_publication(later, "ldif two\n", &unsorted)
            .await
            .unwrap();
        assert!(second.id > first.id);
        assert_eq!(second.domains, ["pec.a.it", "pec.b.it"]);
        assert_eq!(r.last_publication().await.unwrap(), Some(second.clone()));
        assert_eq!(r.publications(10).await.unwrap(), [second, first]);

        let empty = r.record_publication(later, "x", &[]).await.unwrap();
        assert!(empty.domains.is_empty());
        let bad = r.record_publication(later, "x", &["a\nb".to_owned()]).await;
        assert!(bad.is_err());
    })
    .await;
}

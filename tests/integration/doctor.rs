//! `pecwatch doctor` against the lab's real services (Unbound, Knot with TSIG, aiosmtpd,
//! SQLite and PostgreSQL), each made to fail in turn: the report names what failed, the
//! exit status is 1, and the rest still works.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::cli::pecwatch;
use crate::support::db::postgres_url;
use crate::support::lab::{PROVIDER_PRIMARY, lab_key, lab_profile};
use crate::support::smtp::SmtpServer;
use crate::support::web::free_port;

/// Runs `pecwatch doctor --format json` with the lab's resolver and `env`; returns the
/// exit status and the report.
fn doctor(url: &str, env: &[(&str, String)]) -> (i32, Value) {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let output = pecwatch(url, None, &["doctor", "--format", "json"], &env)
        .output()
        .expect("run pecwatch doctor");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "doctor printed no JSON ({e}): {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap_or(-1), report)
}

/// The check with this id.
fn item<'a>(report: &'a Value, check: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["check"] == check))
        .unwrap_or_else(|| panic!("no check {check} in {report:#}"))
}

fn status(report: &Value, check: &str) -> String {
    item(report, check)["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A self-signed certificate valid for `days` (-1: expired yesterday), made by openssl.
fn certificate(dir: &Path, days: i32) -> String {
    let key = dir.join(format!("key{days}.pem"));
    let csr = dir.join(format!("req{days}.csr"));
    let cert = dir.join(format!("cert{days}.pem"));
    let run = |args: &[&str]| {
        let output = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let (key, csr, cert_s) = (
        key.to_str().unwrap(),
        csr.to_str().unwrap(),
        cert.to_str().unwrap(),
    );
    run(&["genpkey", "-algorithm", "ed25519", "-out", key]);
    run(&[
        "req",
        "-new",
        "-key",
        key,
        "-subj",
        "/CN=PEC di prova",
        "-out",
        csr,
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        csr,
        "-signkey",
        key,
        "-days",
        &days.to_string(),
        "-out",
        cert_s,
    ]);
    cert_s.to_owned()
}

/// A working configuration on the lab: every check passes; then each service is broken
/// in turn.
#[test]
fn doctor_finds_each_broken_service() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("registry.db").display());
    let smtp = SmtpServer::start_with(
        crate::support::smtp::Security::StartTls,
        Some("pec:segreto"),
    );
    let cert = certificate(dir.path(), 365);
    let key = lab_key("dns1/pecwatch-lab-test-only.key");
    let (web, policy, socketmap) = (free_port(), free_port(), free_port());
    let base: Vec<(&str, String)> = vec![
        (
            "PECWATCH_PROFILES_ARUBA",
            lab_profile().display().to_string(),
        ),
        ("PECWATCH_SMTP_URL", smtp.url()),
        (
            "PECWATCH_SMTP_CA_FILE",
            smtp.ca_file().display().to_string(),
        ),
        ("PECWATCH_SMTP_USERNAME", "pec".into()),
        ("PECWATCH_SMTP_PASSWORD", "segreto".into()),
        ("PECWATCH_PROVISION_PRIMARY", PROVIDER_PRIMARY.into()),
        ("PECWATCH_PROVISION_INTERNAL_ZONE", "aruba.it".into()),
        (
            "PECWATCH_PROVISION_TSIG_KEY_FILE",
            key.display().to_string(),
        ),
        ("PECWATCH_INDEX_CERTIFICATE", cert.clone()),
        ("PECWATCH_WEB_LISTEN", format!("127.0.0.1:{web}")),
        (
            "PECWATCH_POSTFIX_POLICY_LISTEN",
            format!("127.0.0.1:{policy}"),
        ),
        (
            "PECWATCH_POSTFIX_SOCKETMAP_LISTEN",
            format!("127.0.0.1:{socketmap}"),
        ),
    ];
    let with = |changes: &[(&'static str, String)]| {
        let mut env = base.clone();
        for (key, value) in changes {
            env.retain(|(k, _)| k != key);
            env.push((key, value.clone()));
        }
        env
    };

    // A new database: migrations pending is a warning, not a failure.
    let (code, report) = doctor(&url, &base);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(status(&report, "database"), "warning", "{report:#}");
    let output = pecwatch(&url, None, &["db", "migrate"], &[])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");

    let (code, report) = doctor(&url, &base);
    assert_eq!(code, 0, "{report:#}");
    for check in [
        "configuration",
        "database",
        "resolver",
        "mx:aruba",
        "smtp",
        "provision",
        "certificate",
        "listen:web",
        "listen:policy",
        "listen:socketmap",
    ] {
        assert_eq!(status(&report, check), "ok", "{check}: {report:#}");
    }
    assert_eq!(report["ok"], true);
    assert!(
        item(&report, "mx:aruba")["result"]
            .as_str()
            .unwrap()
            .contains("mx.pec.aruba.it → 127.53."),
        "{report:#}"
    );
    assert!(
        !report.to_string().contains("segreto"),
        "a secret in the report: {report}"
    );
    assert!(smtp.received().is_empty(), "the doctor sent mail");

    // Each failure in turn: only that check fails, with a fix.
    let dead_resolver = format!("127.0.0.1:{}", free_port());
    let mut wrong_key = std::fs::read_to_string(&key).unwrap();
    wrong_key = wrong_key.replace(
        "secret: ",
        "secret: QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=\n    # was: ",
    );
    let wrong_key_file = dir.path().join("wrong.key");
    std::fs::write(&wrong_key_file, wrong_key).unwrap();
    let cases: Vec<(&str, Vec<(&'static str, String)>)> = vec![
        (
            "resolver",
            vec![
                ("PECWATCH_DNS_RESOLVER", dead_resolver),
                ("PECWATCH_DNS_TIMEOUT_MS", "200".into()),
                ("PECWATCH_DNS_ATTEMPTS", "1".into()),
            ],
        ),
        ("smtp", vec![("PECWATCH_SMTP_PASSWORD", "sbagliata".into())]),
        ("smtp", vec![("PECWATCH_SMTP_CA_FILE", String::new())]),
        (
            "provision",
            vec![(
                "PECWATCH_PROVISION_TSIG_KEY_FILE",
                wrong_key_file.display().to_string(),
            )],
        ),
        (
            "certificate",
            vec![("PECWATCH_INDEX_CERTIFICATE", certificate(dir.path(), -1))],
        ),
        (
            "database",
            vec![(
                "PECWATCH_DATABASE_URL",
                format!("{}_no_such_database", postgres_url()),
            )],
        ),
        (
            "database",
            vec![(
                "PECWATCH_DATABASE_URL",
                "sqlite:///nonexistent/pecwatch/registry.db".into(),
            )],
        ),
    ];
    for (check, changes) in &cases {
        let (code, report) = doctor(&url, &with(changes));
        assert_eq!(code, 1, "{check} {changes:?}: {report:#}");
        assert_eq!(status(&report, check), "failed", "{check}: {report:#}");
        assert!(
            item(&report, check)["fix"]
                .as_str()
                .is_some_and(|f| !f.is_empty()),
            "{report:#}"
        );
        let failed: Vec<&str> = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["status"] == "failed")
            .filter_map(|c| c["check"].as_str())
            .collect();
        assert_eq!(failed, [*check], "{changes:?}: {report:#}");
    }

    // A certificate near its expiry is a warning: exit 0.
    let (code, report) = doctor(
        &url,
        &with(&[("PECWATCH_INDEX_CERTIFICATE", certificate(dir.path(), 10))]),
    );
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(status(&report, "certificate"), "warning", "{report:#}");
    let result = item(&report, "certificate")["result"].as_str().unwrap();
    assert!(
        result.contains("tra 9 giorni") || result.contains("tra 10 giorni"),
        "{report:#}"
    );

    // SMTP down.
    let mut smtp = smtp;
    smtp.stop();
    let (code, report) = doctor(&url, &base);
    assert_eq!(code, 1);
    assert_eq!(status(&report, "smtp"), "failed", "{report:#}");
    smtp.resume();

    // A port taken by another program fails; held by a running pecwatch is fine.
    let taken = TcpListener::bind(("127.0.0.1", policy)).unwrap();
    let (code, report) = doctor(&url, &base);
    assert_eq!(code, 1);
    assert_eq!(status(&report, "listen:policy"), "failed", "{report:#}");
    drop(taken);
}

/// PostgreSQL works as well, and ports held by a running `pecwatch web` and `pecwatch
/// postfix` are fine.
#[tokio::test]
async fn doctor_on_postgres_with_pecwatch_running() {
    let (db, cleanup) = crate::support::db::create(pecwatch::registry::Backend::Postgres).await;
    let server = crate::support::web::start(&db.url, "2026-12-05T10:00:00Z", &[]).await;
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let postfix = crate::support::postfix::PecwatchPostfix::start(&db.url, &[]);
    let (policy, socketmap) = (postfix.policy, postfix.socketmap);
    let dead_relay = format!("smtp://127.0.0.1:{}", free_port());
    let (code, report) = tokio::task::spawn_blocking({
        let url = db.url.clone();
        move || {
            doctor(
                &url,
                &[
                    (
                        "PECWATCH_PROFILES_ARUBA",
                        lab_profile().display().to_string(),
                    ),
                    ("PECWATCH_WEB_LISTEN", format!("127.0.0.1:{port}")),
                    ("PECWATCH_SMTP_URL", dead_relay),
                    (
                        "PECWATCH_POSTFIX_POLICY_LISTEN",
                        format!("127.0.0.1:{policy}"),
                    ),
                    (
                        "PECWATCH_POSTFIX_SOCKETMAP_LISTEN",
                        format!("127.0.0.1:{socketmap}"),
                    ),
                ],
            )
        }
    })
    .await
    .unwrap();
    let _ = server.stop();
    drop(postfix);
    db.registry.close().await;
    cleanup.run().await;
    assert_eq!(status(&report, "database"), "ok", "{report:#}");
    assert!(
        item(&report, "database")["result"]
            .as_str()
            .unwrap()
            .starts_with("PostgreSQL"),
        "{report:#}"
    );
    assert_eq!(status(&report, "listen:web"), "ok", "{report:#}");
    assert!(
        item(&report, "listen:web")["result"]
            .as_str()
            .unwrap()
            .contains("pecwatch"),
        "{report:#}"
    );
    // The Postfix service's addresses, held by `pecwatch postfix`, are fine too.
    for check in ["listen:policy", "listen:socketmap"] {
        assert_eq!(status(&report, check), "ok", "{check}: {report:#}");
        assert!(
            item(&report, check)["result"]
                .as_str()
                .unwrap()
                .contains("pecwatch"),
            "{report:#}"
        );
    }
    // Only SMTP fails (no relay there).
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(status(&report, "smtp"), "failed", "{report:#}");
}

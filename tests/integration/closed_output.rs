//! Output that cannot be written is not a crash: `check`, `sweep` and `serve` with their
//! standard output and error closed, or read by a reader that stops early (`| head -1`),
//! with the log at debug level. No command panics (exit 101, "panicked") or hangs: a
//! command whose output was closed ends quietly with 141, as a Unix tool stopped by
//! SIGPIPE does in a shell; `serve` goes on answering `/healthz`.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use pecwatch::registry::Backend;

use crate::support::cli::{pecwatch, run};
use crate::support::db::create;
use crate::support::web::{client, free_port};

const NOW: &str = "2026-11-23T10:00:00+01:00";
/// The longest any of these commands may take before it counts as hung.
const BOUND: Duration = Duration::from_secs(120);

/// Waits for `child` at most [`BOUND`]; kills it and fails if it is still running.
fn finish(mut child: Child, what: &str) -> (ExitStatus, Duration) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return (status, started.elapsed());
        }
        if started.elapsed() > BOUND {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} hung with its output closed");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A list of `count` inputs for `check --from`: one lab domain, then inputs that are not
/// domain names (reported at once, without DNS).
fn inputs(count: usize) -> tempfile::NamedTempFile {
    let mut text = String::from("pec.ok.it\n");
    for i in 0..count {
        text.push_str(&format!("nome non valido {i}\n"));
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    file
}

#[test]
fn check_ends_quietly_when_its_reader_stops() {
    let list = inputs(100_000);
    let from = list.path().to_str().unwrap();
    // `pecwatch check … | head -1`, the log at debug level into a file.
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut child = pecwatch(
        "sqlite::memory:",
        None,
        &["check", "--format", "json", "--from", from],
        &[("PECWATCH_LOG", "debug")],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(log.reopen().unwrap())
    .spawn()
    .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with('{'), "{first}");
    let (status, took) = finish(child, "check | head -1");
    let log = std::fs::read_to_string(log.path()).unwrap();
    eprintln!("check | head -1: {status} after {took:?}");
    assert_eq!(status.code(), Some(141), "{}", tail(&log));
    assert!(!log.contains("panicked"), "{}", tail(&log));
    for message in ["standard output closed", "Broken pipe", "ERROR"] {
        assert!(
            !log.contains(message),
            "a message about the closed output:\n{}",
            tail(&log)
        );
    }

    // Both standard output and error closed before it writes anything.
    let mut child = pecwatch(
        "sqlite::memory:",
        None,
        &["check", "--from", from],
        &[("PECWATCH_LOG", "debug")],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());
    let (status, _) = finish(child, "check with its output closed");
    assert_ne!(status.code(), Some(101), "panicked: {status}");
    assert!(status.code().is_some(), "killed by a signal: {status}");
}

#[tokio::test]
async fn sweep_ends_quietly_with_its_output_closed() {
    let (db, cleanup) = create(Backend::Sqlite).await;
    for domain in ["pec.ok.it", "pec.story.it"] {
        run(
            &db.url,
            NOW,
            &["domains", "add", domain, "--holder-email", "h@esempio.it"],
            &[],
            0,
        );
    }
    // Standard error read by a reader that stops after its first line, standard output
    // closed at once.
    let mut child = pecwatch(&db.url, Some(NOW), &["sweep"], &[("PECWATCH_LOG", "debug")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut first = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(!first.contains("panicked"), "{first}");
    let (status, took) = finish(child, "sweep");
    eprintln!("sweep with its output closed: {status} after {took:?}");
    assert_ne!(status.code(), Some(101), "panicked: {status}");
    assert!(status.code().is_some(), "killed by a signal: {status}");
    // The sweep was done all the same: nothing is due any more.
    let output = run(&db.url, NOW, &["sweep", "--format", "json"], &[], 0);
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(summary["sweep"].is_null(), "{summary}");
    cleanup.run().await;
}

#[tokio::test]
async fn serve_goes_on_after_its_standard_error_is_closed() {
    let (db, cleanup) = create(Backend::Sqlite).await;
    run(
        &db.url,
        NOW,
        &[
            "domains",
            "add",
            "pec.ok.it",
            "--holder-email",
            "h@esempio.it",
        ],
        &[],
        0,
    );
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = pecwatch(
        &db.url,
        Some(NOW),
        &["serve"],
        &[
            ("PECWATCH_LOG", "debug"),
            ("PECWATCH_WEB_LISTEN", listen.as_str()),
        ],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // Its first line of standard error is read, then the reader goes away; standard
    // output is closed at once.
    drop(child.stdout.take());
    let mut stderr = child.stderr.take().unwrap();
    let mut start = [0u8; 4096];
    let read = stderr.read(&mut start).unwrap();
    let start = String::from_utf8_lossy(&start[..read]).into_owned();
    drop(stderr);
    assert!(!start.contains("panicked"), "{start}");

    // It answers, request after request (each one logged into the closed pipe).
    let client = client();
    let mut answered = 0;
    let started = Instant::now();
    while answered < 20 {
        assert!(
            started.elapsed() < BOUND,
            "serve stopped answering /healthz"
        );
        if let Ok(Some(status)) = child.try_wait() {
            panic!("serve ended with its standard error closed: {status}");
        }
        match client.get(format!("http://{listen}/healthz")).send().await {
            Ok(response) => {
                assert_eq!(response.status(), 200);
                answered += 1;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    // Its sweep ran too (the domain was checked), with nowhere to print its summary.
    let registry = db.registry.clone();
    let name = pecwatch::name::DomainName::parse("pec.ok.it").unwrap();
    let checked = async {
        loop {
            let domain = registry.domain(&name).await.unwrap().unwrap();
            if domain.last_check.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(BOUND, checked)
        .await
        .expect("serve did not sweep");
    assert!(matches!(child.try_wait(), Ok(None)), "serve ended");

    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let (status, _) = finish(child, "serve after SIGTERM");
    assert_eq!(status.code(), Some(0), "{status}");
    cleanup.run().await;
}

/// The end of a log, for a failure message.
fn tail(log: &str) -> &str {
    &log[log.len().saturating_sub(3000)..]
}

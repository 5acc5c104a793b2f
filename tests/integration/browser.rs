//! The pages in a real browser: Debian's headless Chromium (`chromium`, installed by
//! `scripts/setup`) driven by `playwright-core` (`tests/browser/`, installed with `npm ci`
//! when missing; no browser is downloaded).
//!
//! The registry gets a domain `under_review` and an operator (made with `pecwatch users
//! add`, as a person would); the real `pecwatch web` serves it against the DNS lab; the
//! script `tests/browser/run.mjs` then checks pec.ok.it (verdict OK) and pec.nomx.it
//! (MX NON DEFINITO with its fix line) through the form, switches language, signs in,
//! approves the reinstatement on the domain page, and renders the pages at phone width
//! (390×844). Afterwards `pecwatch domains show` must agree that the domain is certified.
//! Screenshots go to `target/screenshots/`; with `PECWATCH_UPDATE_SCREENSHOTS=1` the
//! self-service and dashboard ones are also copied to `docs/screenshots/` for the README.

use std::path::{Path, PathBuf};
use std::process::Command;

use jiff::Timestamp;
use pecwatch::lifecycle::State;

use crate::support::cli::{pecwatch, run};
use crate::support::db::create;
use crate::support::lab::{lab, repo};
use crate::support::web::start;
use crate::web_pages::{PASSWORD, add_domain, add_user};

/// Installs playwright-core in `tests/browser/node_modules` if it is not there (offline
/// when the npm cache has it).
fn playwright(dir: &Path) {
    if dir
        .join("node_modules/playwright-core/package.json")
        .is_file()
    {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefer-offline"])
        .current_dir(dir)
        .status()
        .expect("run npm ci in tests/browser (is Node.js installed? scripts/setup)");
    assert!(status.success(), "npm ci in tests/browser failed");
}

/// Lab domains, correct and not, registered five days ago and swept every day since by
/// the real `pecwatch sweep` (canary pec.ok.it, grace counted from the notice's queueing):
/// checks, errors by code, a last sweep, domains in error with their deadlines.
fn history(url: &str, now: Timestamp) {
    let today = now.in_tz("Europe/Rome").unwrap().date();
    let at = |days: i64, hour: i8, minute: i8| {
        let date = today.checked_sub(jiff::Span::new().days(days)).unwrap();
        date.at(hour, minute, 0, 0)
            .in_tz("Europe/Rome")
            .unwrap()
            .timestamp()
            .to_string()
    };
    let env = [
        ("PECWATCH_SWEEP_CANARIES", "pec.ok.it"),
        ("PECWATCH_LIFECYCLE_START_GRACE_AT_QUEUE", "true"),
    ];
    for domain in [
        "pec.ok.it",
        "pec.own.it",
        "pec.delegato.it",
        "pec.cname.it",
        "pec.nomx.it",
        "pec.wronga.it",
        "pec.hybrid.it",
        "pec.multi.it",
        "pec.noa.it",
        "pec.stale.it",
    ] {
        let holder = format!("--holder-email=amministrazione@{}", &domain[4..]);
        run(
            url,
            &at(5, 12, 0),
            &["domains", "add", domain, &holder, "--expires", "2027-12-31"],
            &env,
            0,
        );
    }
    // The first failures, their confirmation an hour later, then one sweep a day.
    for (days, hour, minute) in [(4, 3, 5), (4, 4, 10), (3, 3, 5), (2, 3, 5), (1, 3, 5)] {
        let output = pecwatch(
            url,
            Some(&at(days, hour, minute)),
            &["sweep", "--no-progress"],
            &env,
        )
        .output()
        .expect("run pecwatch sweep");
        assert_eq!(output.status.code(), Some(0), "sweep: {output:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_work_in_a_real_browser() {
    let chromium =
        std::env::var("PECWATCH_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).is_file(),
        "{chromium} is missing: run scripts/setup (Debian package chromium)"
    );
    let browser_dir = repo().join("tests/browser");
    playwright(&browser_dir);

    let lab = lab();
    let (db, cleanup) = create(pecwatch::registry::Backend::Sqlite).await;
    let now = Timestamp::now();
    history(&db.url, now);
    add_domain(&db.registry, "pec.review.it", State::UnderReview, now).await;
    let out = add_user(&db.url, "mario", "operator", PASSWORD);
    assert!(out.status.success(), "users add: {out:?}");
    // The default cookies (`Secure`): Chromium keeps them at http://127.0.0.1, which it
    // treats as a secure origin.
    let server = start(
        &db.url,
        &now.to_string(),
        &[("PECWATCH_DNS_RESOLVER", &lab.resolver)],
    )
    .await;

    let out_dir = repo().join("target/screenshots");
    let params = serde_json::json!({
        "base": server.base,
        "out": out_dir,
        "user": "mario",
        "password": PASSWORD,
        "review": "pec.review.it",
        "ok": "pec.ok.it",
        "failing": "pec.nomx.it",
        "failing_code": "MX_NON_DEFINITO",
        "fix_line": "pec IN MX 10 mx.pec.aruba.it.",
    });
    let output = tokio::process::Command::new("node")
        .arg(browser_dir.join("run.mjs"))
        .arg(params.to_string())
        .env("PECWATCH_CHROMIUM", &chromium)
        .current_dir(&browser_dir)
        .output()
        .await
        .expect("run node tests/browser/run.mjs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: serde_json::Value = stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| {
            panic!(
                "no result from the browser script: {stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    assert_eq!(report["ok"], true, "browser test failed: {report:#}");
    assert!(output.status.success());
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 7, "{steps:?}");

    // The command line sees what the browser did.
    let show = pecwatch(
        &db.url,
        None,
        &["domains", "show", "pec.review.it", "--format", "json"],
        &[],
    )
    .output()
    .unwrap();
    assert!(show.status.success(), "{show:?}");
    let shown: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(shown["state"], "certified", "{shown:#}");
    let text = pecwatch(&db.url, None, &["domains", "show", "pec.review.it"], &[])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("certified") && text.contains("mario"),
        "{text}"
    );

    // Every screenshot is a PNG; the README's two are copied to docs/screenshots.
    let shots: Vec<PathBuf> = report["screenshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| PathBuf::from(p.as_str().unwrap()))
        .collect();
    for shot in &shots {
        let bytes = std::fs::read(shot).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{} is not a PNG",
            shot.display()
        );
    }
    // The README's two, refreshed on request (they carry dates: a plain test run must
    // not change the repository).
    if std::env::var_os("PECWATCH_UPDATE_SCREENSHOTS").is_some() {
        let docs = repo().join("docs/screenshots");
        std::fs::create_dir_all(&docs).unwrap();
        for name in ["self-service-error.png", "dashboard.png"] {
            std::fs::copy(out_dir.join(name), docs.join(name)).unwrap();
        }
    }
    drop(server);
    cleanup.run().await;
}

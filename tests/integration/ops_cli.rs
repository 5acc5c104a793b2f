//! What a first run of the documented commands showed, fixed: `check` with nothing to
//! check is a usage error, `notices show` names the recipients, `mailboxes set-password`
//! answers in JSON, and the sweep summary speaks an operator's words.

use serde_json::Value;

use crate::support::cli::{pecwatch, run};
use crate::support::lab::lab_profile;

fn text(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn check_without_domains_is_a_usage_error() {
    let output = pecwatch("sqlite::memory:", None, &["check"], &[])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--from"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn notices_show_names_the_recipients_and_set_password_speaks_json() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("registry.db").display());
    let profile = lab_profile().display().to_string();
    let env = [("PECWATCH_PROFILES_ARUBA", profile.as_str())];
    run(
        &url,
        "2026-11-20T10:00:00+01:00",
        &[
            "domains",
            "add",
            "pec.nomx.it",
            "--holder-email",
            "titolare@nomx.it",
            "--holder-name",
            "Mario Rossi",
            "--reseller",
            "rivenditore@esempio.it",
        ],
        &env,
        0,
    );
    let first = run(&url, "2026-11-23T03:00:00+01:00", &["sweep"], &env, 0);
    assert!(
        text(&first).starts_with("Controllo n. 1: 1 domini controllati"),
        "{}",
        text(&first)
    );
    run(&url, "2026-11-23T04:00:00+01:00", &["sweep"], &env, 0);
    let shown = text(&run(
        &url,
        "2026-11-23T04:01:00+01:00",
        &["notices", "show", "1"],
        &env,
        0,
    ));
    assert!(
        shown
            .contains("  to:         \"Mario Rossi\" <titolare@nomx.it>, rivenditore@esempio.it\n"),
        "{shown}"
    );
    let json: Value = serde_json::from_str(&text(&run(
        &url,
        "2026-11-23T04:01:00+01:00",
        &["notices", "show", "1", "--format", "json"],
        &env,
        0,
    )))
    .unwrap();
    assert_eq!(
        json["to"],
        serde_json::json!([
            "\"Mario Rossi\" <titolare@nomx.it>",
            "rivenditore@esempio.it"
        ])
    );
    // Without the reseller's copy, the holder alone.
    let alone = text(&run(
        &url,
        "2026-11-23T04:01:00+01:00",
        &["notices", "show", "1"],
        &[
            ("PECWATCH_PROFILES_ARUBA", profile.as_str()),
            ("PECWATCH_NOTICES_RESELLER_COPY", "false"),
        ],
        0,
    ));
    assert!(
        alone.contains("  to:         \"Mario Rossi\" <titolare@nomx.it>\n"),
        "{alone}"
    );

    // A mailbox of a certified domain, and its password set through the link, in JSON.
    run(
        &url,
        "2026-11-23T04:02:00+01:00",
        &["domains", "add", "pec.ok.it", "--holder-email", "a@ok.it"],
        &env,
        0,
    );
    let added: Value = serde_json::from_str(&text(&run(
        &url,
        "2026-11-23T04:03:00+01:00",
        &["mailboxes", "add", "mario@pec.ok.it", "--format", "json"],
        &env,
        0,
    )))
    .unwrap();
    let link = added["link"].as_str().unwrap().to_owned();
    let password = dir.path().join("pw.txt");
    std::fs::write(&password, "una-parola-lunga-abbastanza\n").unwrap();
    // The link from a file: on the command line it would show in `ps`.
    let link_file = dir.path().join("link.txt");
    std::fs::write(&link_file, format!("{link}\n")).unwrap();
    let set: Value = serde_json::from_str(&text(&run(
        &url,
        "2026-11-23T04:04:00+01:00",
        &[
            "mailboxes",
            "set-password",
            "--link-file",
            link_file.to_str().unwrap(),
            "--password-file",
            password.to_str().unwrap(),
            "--format",
            "json",
        ],
        &env,
        0,
    )))
    .unwrap();
    assert_eq!(
        set,
        serde_json::json!({"address": "mario@pec.ok.it", "password_set": true})
    );
}

#[test]
fn serve_refuses_a_bad_configuration_naming_every_problem() {
    let env = [
        ("PECWATCH_DNS_TIMEOUT_MS", "0"),
        ("PECWATCH_SWEEP_BATCH_SIZE", "0"),
        ("PECWATCH_SMTP_PASSWORD", "segreto"),
    ];
    let output = pecwatch("sqlite::memory:", None, &["serve"], &env)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("pecwatch: invalid configuration: 3 problems\n"),
        "{stderr}"
    );
    for expected in [
        "PECWATCH_DNS_TIMEOUT_MS: [dns] timeout_ms = 0",
        "PECWATCH_SWEEP_BATCH_SIZE: [sweep] batch_size = 0",
        "PECWATCH_SMTP_PASSWORD: [smtp] password = ***",
    ] {
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
    assert!(!stderr.contains("segreto"), "{stderr}");

    // config check reports the same, in JSON, with each value's origin.
    let output = pecwatch(
        "sqlite::memory:",
        None,
        &["config", "check", "--format", "json"],
        &env,
    )
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["problems"].as_array().unwrap().len(), 3);
    let values = report["values"].as_array().unwrap();
    let resolver = values
        .iter()
        .find(|v| v["section"] == "dns" && v["key"] == "resolver")
        .unwrap();
    assert_eq!(
        resolver["origin"],
        serde_json::json!({"kind": "environment", "name": "PECWATCH_DNS_RESOLVER"})
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains("segreto"));
    // A valid configuration: exit 0.
    let output = pecwatch("sqlite::memory:", None, &["config", "check"], &[])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
}

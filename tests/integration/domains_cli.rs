//! `pecwatch domains` end to end: the real binary on a real SQLite file.

use assert_cmd::Command;
use serde_json::Value;

/// A `pecwatch` command on its own database, at a fixed instant.
fn pecwatch(db: &std::path::Path) -> Command {
    let mut command = Command::cargo_bin("pecwatch").expect("binary");
    command
        .env(
            "PECWATCH_DATABASE_URL",
            format!("sqlite://{}", db.display()),
        )
        .env("PECWATCH_NOW", "2026-11-23T10:00:00+01:00")
        .env_remove("PECWATCH_CONFIG");
    command
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

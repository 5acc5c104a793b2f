//! `scripts/audit` (run by `.ci/run`): the dependency tree checked against the RustSec
//! snapshot in `../shared/rustsec-advisory-db` when the live database cannot be fetched,
//! failing on any advisory. An advisory written for a crate of our tree into a copy of the
//! snapshot must fail the check; the real snapshot is then restored and passes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::support::lab::repo;

fn audit(snapshot: &Path) -> Output {
    Command::new("bash")
        .arg(repo().join("scripts/audit"))
        .env("PECWATCH_ADVISORY_SNAPSHOT", snapshot)
        .output()
        .expect("run scripts/audit")
}

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-R")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(status.success());
    let status = Command::new("chmod")
        .args(["-R", "u+w"])
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn advisories_fail_the_audit_and_the_snapshot_passes() {
    let real: PathBuf = repo().join("../shared/rustsec-advisory-db");
    if !real.join("SNAPSHOT").exists() {
        // The snapshot is part of the workplace's shared folder; without it the audit
        // itself fails loudly in .ci/run, which is the check that matters.
        eprintln!("no RustSec snapshot at {}: skipped", real.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("db");
    copy_dir(&real, &fake);
    let snapshot = std::fs::read_to_string(fake.join("SNAPSHOT")).unwrap();
    let snapshot: String = snapshot
        .lines()
        .map(|line| {
            if line.starts_with("commit:") {
                "commit: test-with-an-advisory-for-base64".to_owned()
            } else {
                line.to_owned()
            }
        })
        .map(|line| line + "\n")
        .collect();
    std::fs::write(fake.join("SNAPSHOT"), snapshot).unwrap();
    std::fs::create_dir_all(fake.join("crates/base64")).unwrap();
    std::fs::write(
        fake.join("crates/base64/RUSTSEC-2099-0001.md"),
        "```toml\n[advisory]\nid = \"RUSTSEC-2099-0001\"\npackage = \"base64\"\n\
         date = \"2026-08-01\"\n\n\
         [versions]\npatched = [\">= 99.0.0\"]\n```\n\n# A test advisory\n\nWritten by a test.\n",
    )
    .unwrap();

    let failed = audit(&fake);
    let stderr = String::from_utf8_lossy(&failed.stderr).to_string()
        + &String::from_utf8_lossy(&failed.stdout);
    // The restore runs whatever the first run gave.
    let restored = audit(&real);
    let restored_err = String::from_utf8_lossy(&restored.stderr).to_string()
        + &String::from_utf8_lossy(&restored.stdout);

    if stderr.contains("live RustSec database") {
        // A machine that reaches GitHub checks the live database: the snapshot is unused.
        return;
    }
    assert!(!failed.status.success(), "an advisory must fail: {stderr}");
    assert!(
        stderr.contains("error[vulnerability]: A test advisory"),
        "{stderr}"
    );
    assert!(stderr.contains("advisories FAILED"), "{stderr}");
    assert!(restored.status.success(), "{restored_err}");
    assert!(
        restored_err.contains("RustSec snapshot of 20"),
        "{restored_err}"
    );
    assert!(restored_err.contains("advisories ok"), "{restored_err}");
}

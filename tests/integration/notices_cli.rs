//! `pecwatch notices preview` end to end: the real binary renders sample notices, with
//! the built-in templates or an operator's overrides. No DNS lab and no database needed.

use std::path::Path;

use assert_cmd::Command;
use pecwatch::notice::Preview;

/// A `pecwatch` command with the built-in configuration, run in an empty directory (so
/// that no `./pecwatch.toml` is picked up).
fn pecwatch(dir: &Path) -> Command {
    let mut command = Command::cargo_bin("pecwatch").expect("binary");
    command
        .current_dir(dir)
        .env_remove("PECWATCH_CONFIG")
        .env_remove("PECWATCH_CHECK_PROFILE")
        .env_remove("PECWATCH_NOTICES_TEMPLATES")
        .env_remove("PECWATCH_NOTICES_PROVIDER_NAME")
        .env_remove("PECWATCH_NOTICES_SUPPORT");
    command
}

/// A directory of template overrides holding one file, `name` (`it/error_found.txt`).
fn override_dir(name: &str, content: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, content).expect("write");
    dir
}

/// Runs `notices preview ARGS…` and returns its standard output; panics unless it exits 0.
fn preview(args: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = pecwatch(dir.path())
        .args(["notices", "preview"])
        .args(args)
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

#[test]
fn preview_renders_the_italian_error_notice() {
    let text = preview(&["error_found", "--lang", "it", "--part", "text"]);
    assert!(
        text.starts_with("Gentile Studio Legale Ferrè & Associati,\n"),
        "{text}"
    );
    assert!(text.contains("entro il 30 novembre 2026 alle 04:00 (ora italiana)"));
    assert!(text.contains("1. A NON CORRETTO"));
    assert!(text.contains("Perché blocca la PEC:"));
    assert!(text.contains("togliere:   pec IN MX 10 mail.esempio.it."));
    assert!(text.contains("aggiungere: pec IN MX 10 mx.pec.aruba.it."));

    let subject = preview(&["error_found", "--part", "subject"]);
    assert_eq!(
        subject,
        "[PEC] Errore di configurazione DNS per pec.esempio.it: correggere entro il 30/11/2026\n"
    );
}

#[test]
fn preview_prints_every_part_by_default() {
    let all = preview(&["corrected", "--lang", "en"]);
    let subject = all.find("==> subject <==\n[PEC] DNS configuration fixed for pec.esempio.it\n");
    let text = all.find("==> txt <==\nDear Studio Legale Ferrè & Associati,\n");
    let html = all.find("==> html <==\n<!DOCTYPE html>");
    assert!(
        matches!((subject, text, html), (Some(s), Some(t), Some(h)) if s < t && t < h),
        "{all}"
    );
    assert!(all.contains("<p>Dear Studio Legale Ferrè &amp; Associati,</p>"));
}

#[test]
fn preview_renders_every_event_in_both_languages() {
    let events: Vec<String> = Preview::every()
        .iter()
        .map(ToString::to_string)
        .chain([
            "reseller_copy".to_owned(),
            "reseller_copy_removed".to_owned(),
        ])
        .collect();
    for lang in ["it", "en"] {
        for event in &events {
            let subject = preview(&[event, "--lang", lang, "--part", "subject"]);
            assert!(subject.starts_with("[PEC] "), "{event} {lang}: {subject}");
            let html = preview(&[event, "--lang", lang, "--part", "html"]);
            assert!(
                html.contains(&format!("<html lang=\"{lang}\">")),
                "{event} {lang}"
            );
        }
    }
    let warning = preview(&["expiry_warning_7", "--part", "text"]);
    assert!(
        warning.contains("scade tra 7 giorni, il 30 novembre 2026 alle 23:59"),
        "{warning}"
    );
    let activation = preview(&["activated", "--part", "text"]);
    assert!(activation.contains("https://pec-esempio.it/imposta-password?token="));
}

#[test]
fn preview_uses_the_configured_profile_provider_and_templates() {
    let templates = override_dir("it/error_found.subject", "Oggetto su misura");
    let dir = tempfile::tempdir().expect("tempdir");
    let output = pecwatch(dir.path())
        .env("PECWATCH_CHECK_PROFILE", "infocert")
        .env("PECWATCH_NOTICES_PROVIDER_NAME", "Legalmail Esempio")
        .env("PECWATCH_NOTICES_SUPPORT", "supporto@esempio.it")
        .env("PECWATCH_NOTICES_TEMPLATES", templates.path())
        .args(["notices", "preview", "error_found", "--part", "text"])
        .output()
        .expect("runs");
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("aggiungere: pec IN MX 10 mx.cert.legalmail.it."),
        "{text}"
    );
}

#[test]
fn preview_takes_an_operators_template_directory() {
    let templates = override_dir(
        "it/error_found.subject",
        "Avviso per {{ domain.display }} — {{ deadline.the_datetime }}",
    );
    let dir = templates.path().display().to_string();
    let subject = preview(&["error_found", "--part", "subject", "--templates", &dir]);
    assert_eq!(
        subject,
        "Avviso per pec.esempio.it — il 30 novembre 2026 alle 04:00\n"
    );
    // The other files stay built in.
    let text = preview(&["error_found", "--part", "text", "--templates", &dir]);
    assert!(text.contains("Perché blocca la PEC:"));
}

#[test]
fn a_broken_override_is_a_clear_error() {
    let templates = override_dir(
        "en/removed.txt",
        "Dear {{ holder.name }},\n{% for x in %}\n",
    );
    let file = templates.path().join("en/removed.txt");
    let dir = tempfile::tempdir().expect("tempdir");
    let output = pecwatch(dir.path())
        .args([
            "notices",
            "preview",
            "removed",
            "--lang",
            "en",
            "--templates",
        ])
        .arg(templates.path())
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    assert!(
        stderr.contains("line 2") && stderr.contains("syntax error"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn an_unknown_event_or_missing_directory_is_bad_usage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = pecwatch(dir.path())
        .args(["notices", "preview", "error_fund"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("\"error_fund\"") && stderr.contains("reseller_copy"),
        "{stderr}"
    );

    let output = pecwatch(dir.path())
        .args([
            "notices",
            "preview",
            "alert",
            "--templates",
            "/nonexistent/templates",
        ])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/templates"));
}

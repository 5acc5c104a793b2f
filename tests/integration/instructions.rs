//! `pecwatch instructions` end to end: the real binary against the DNS lab, one test per
//! case of [`pecwatch::instructions::Case`] (lab zones: see lab/README.md, "Activation").

use assert_cmd::Command;
use serde_json::Value;

use crate::support::lab::{lab, lab_profile};

/// Runs `pecwatch instructions` against the lab with the lab's aruba profile (provider
/// name servers dns1/dns2.aruba.it); returns (exit status, stdout).
fn instructions(args: &[&str]) -> (i32, String) {
    let lab = lab();
    let profile = lab_profile();
    let mut command = Command::cargo_bin("pecwatch").expect("binary");
    command
        .env_remove("PECWATCH_CONFIG")
        .current_dir(std::env::temp_dir())
        .args([
            "instructions",
            "--resolver",
            &lab.resolver,
            "--allow-private",
        ])
        .args(["--timeout-ms", "300", "--attempts", "2", "--profile"])
        .arg(&profile)
        .args(args);
    let output = command.output().expect("run pecwatch");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).expect("UTF-8"),
    )
}

/// The JSON instructions for `domain`, asserting the exit status.
fn json(domain: &str, status: i32) -> Value {
    let (code, stdout) = instructions(&["--format", "json", "--lang", "en", domain]);
    assert_eq!(code, status, "{domain}: {stdout}");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn case_i_name_missing_add_mx_in_parent_zone() {
    let result = json("pec.nuovo.it", 0);
    assert_eq!(result["case"], "add_to_parent_zone", "{result:#}");
    assert_eq!(result["exists"], false);
    assert_eq!(result["needs_action"], true);
    assert_eq!(result["edit"]["zone"], "nuovo.it");
    assert_eq!(
        strings(&result["edit"]["add"]),
        ["pec IN MX 10 mx.pec.aruba.it."]
    );
    assert_eq!(
        strings(&result["edit"]["servers"]),
        ["ns1.cliente.it (127.53.1.1)", "ns2.cliente.it (127.53.1.2)"]
    );
    assert_eq!(
        strings(&result["delegation"]["add"]),
        ["pec IN NS dns1.aruba.it.", "pec IN NS dns2.aruba.it."]
    );
    // The Italian text (the default) names the zone and the line.
    let (code, text) = instructions(&["pec.nuovo.it"]);
    assert_eq!(code, 0);
    assert!(text.contains("Nella zona nuovo.it"), "{text}");
    assert!(text.contains("+ pec IN MX 10 mx.pec.aruba.it."), "{text}");
    assert!(
        text.contains("In alternativa, delegare pec.nuovo.it"),
        "{text}"
    );
}

#[test]
fn case_ii_own_zone_add_mx_at_apex() {
    let result = json("pec.propria.it", 0);
    assert_eq!(result["case"], "add_to_own_zone", "{result:#}");
    assert_eq!(result["edit"]["zone"], "pec.propria.it");
    assert_eq!(
        strings(&result["edit"]["add"]),
        ["@ IN MX 10 mx.pec.aruba.it."]
    );
    assert_eq!(result["delegation"]["zone"], "propria.it");
    assert_eq!(
        strings(&result["delegation"]["remove"]),
        ["pec IN NS ns1.cliente.it.", "pec IN NS ns2.cliente.it."]
    );
}

#[test]
fn case_iii_zone_on_provider_dns_nothing_to_do() {
    let result = json("pec.ospitato.it", 0);
    assert_eq!(result["case"], "provider_zone", "{result:#}");
    assert_eq!(result["zone"], "ospitato.it");
    assert_eq!(result["needs_action"], false);
    assert!(
        result["text"]
            .as_str()
            .unwrap()
            .contains("aruba writes the MX record")
    );
}

#[test]
fn case_iv_delegated_to_provider_ns_lines_for_parent() {
    let result = json("pec.attesa.it", 0);
    assert_eq!(result["case"], "delegated_to_provider", "{result:#}");
    assert_eq!(result["parent_zone"], "attesa.it");
    assert_eq!(result["served"], false);
    assert_eq!(
        strings(&result["ns"]),
        ["pec IN NS dns1.aruba.it.", "pec IN NS dns2.aruba.it."]
    );
}

#[test]
fn case_v_already_correct() {
    for domain in ["pec.ok.it", "pec.own.it", "pec.delegato.it"] {
        let result = json(domain, 0);
        assert_eq!(result["case"], "already_correct", "{domain}: {result:#}");
        assert_eq!(result["needs_action"], false);
    }
}

#[test]
fn conflicting_records_are_named_for_removal() {
    let hybrid = json("pec.hybrid.it", 0);
    assert_eq!(hybrid["case"], "add_to_parent_zone");
    assert!(strings(&hybrid["edit"]["add"]).is_empty());
    assert_eq!(
        strings(&hybrid["edit"]["remove"]),
        ["pec IN MX 20 mail.hybrid.it."]
    );
    let alias = json("pec.conflitto.it", 0);
    assert_eq!(
        strings(&alias["edit"]["remove"]),
        ["pec IN CNAME www.conflitto.it."]
    );
    assert_eq!(
        strings(&alias["edit"]["add"]),
        ["pec IN MX 10 mx.pec.aruba.it."]
    );
    let wrong = json("pec.wronga.it", 0);
    assert_eq!(
        strings(&wrong["edit"]["remove"]),
        ["pec IN MX 10 mail.wronga.it."]
    );
}

#[test]
fn error_cases_and_email_input() {
    let missing = json("pec.nxparent.it", 1);
    assert_eq!(missing["case"], "parent_not_resolvable", "{missing:#}");
    assert_eq!(missing["registrable"], "nxparent.it");
    let dead = json("pec.alldead.it", 1);
    assert_eq!(dead["case"], "servers_failing", "{dead:#}");
    let email = json("Mario.Rossi@PEC.Nuovo.IT", 0);
    assert_eq!(email["domain"], "pec.nuovo.it");
    assert_eq!(email["from_email"], true);
    assert_eq!(email["case"], "add_to_parent_zone");
    let (code, text) = instructions(&["--lang", "en", "mario@pec.nuovo.it"]);
    assert_eq!(code, 0);
    assert!(
        text.contains("is an e-mail address: its domain pec.nuovo.it is used"),
        "{text}"
    );
    let (code, stdout) = instructions(&["--format", "json", "http://pec.nuovo.it/"]);
    assert_eq!(code, 2, "{stdout}");
    assert!(stdout.contains("\"error\""), "{stdout}");
}

//! `pecwatch check` end to end: the real binary against the real DNS lab.

use assert_cmd::Command;
use serde_json::Value;

use crate::support::lab::lab;

/// Runs `pecwatch check` with the lab's resolver and returns (exit status, JSON lines).
fn check(extra: &[&str]) -> (i32, Vec<Value>) {
    let lab = lab();
    let mut command = Command::cargo_bin("pecwatch").expect("binary");
    command.args([
        "check",
        "--resolver",
        &lab.resolver,
        "--allow-private",
        "--format",
        "json",
        "--timeout-ms",
        "300",
        "--attempts",
        "2",
    ]);
    command.args(extra);
    run(command)
}

fn run(mut command: Command) -> (i32, Vec<Value>) {
    let output = command.output().expect("run pecwatch");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
    let lines = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    (output.status.code().unwrap_or(-1), lines)
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Checks one domain and asserts its exact error and warning codes and transient flag.
fn expect(domain: &str, profile: &str, errors: &[&str], warnings: &[&str], transient: bool) {
    let (status, lines) = check(&["--profile", profile, domain]);
    assert_eq!(lines.len(), 1, "{domain}: {lines:?}");
    let result = &lines[0];
    let context = serde_json::to_string_pretty(result).unwrap_or_default();
    assert_eq!(
        strings(&result["codes"]),
        errors,
        "{domain} codes: {context}"
    );
    assert_eq!(
        strings(&result["warnings"]),
        warnings,
        "{domain} warnings: {context}"
    );
    assert_eq!(result["ok"], errors.is_empty(), "{domain}: {context}");
    assert_eq!(result["transient"], transient, "{domain}: {context}");
    assert_eq!(status, if errors.is_empty() { 0 } else { 1 }, "{domain}");
    for finding in result["findings"].as_array().into_iter().flatten() {
        assert!(
            !finding["message"].as_str().unwrap_or("").is_empty(),
            "{domain}: empty message"
        );
        assert!(
            !finding["servers"].as_array().is_none_or(Vec::is_empty)
                || finding["code"] == "NS_SINGOLO"
                || finding["code"] == "DELEGA_INCOERENTE",
            "{domain}: {} without evidence",
            finding["code"]
        );
    }
}

#[test]
fn correct_domains_pass() {
    expect("pec.ok.it", "aruba", &[], &[], false);
    expect("pec.own.it", "aruba", &[], &[], false);
    expect("pec.delegato.it", "aruba", &[], &[], false);
    expect("cert.infook.it", "infocert", &[], &[], false);
    expect("pec.upper.it", "aruba", &[], &[], false);
}

#[test]
fn the_same_domain_fails_for_another_provider() {
    expect("cert.infook.it", "aruba", &["A_NON_CORRETTO"], &[], false);
}

#[test]
fn missing_mx() {
    expect("pec.nomx.it", "aruba", &["MX_NON_DEFINITO"], &[], false);
    expect("pec.nullmx.it", "aruba", &["MX_NON_DEFINITO"], &[], false);
}

#[test]
fn missing_or_invalid_a() {
    expect("pec.noa.it", "aruba", &["A_NON_DEFINITO"], &[], false);
    expect(
        "pec.onlyaaaa.it",
        "aruba",
        &["A_NON_DEFINITO"],
        &["AAAA_NON_CORRETTO"],
        false,
    );
    expect("pec.iplit.it", "aruba", &["A_NON_DEFINITO"], &[], false);
}

#[test]
fn wrong_hybrid_and_multiple_addresses() {
    expect("pec.wronga.it", "aruba", &["A_NON_CORRETTO"], &[], false);
    expect(
        "pec.hybrid.it",
        "aruba",
        &["A_NON_CORRETTO"],
        &["MX_PRIORITA"],
        false,
    );
    expect(
        "pec.multi.it",
        "aruba",
        &["A_MULTIPLI", "A_NON_CORRETTO"],
        &[],
        false,
    );
}

#[test]
fn warnings_do_not_block() {
    expect("pec.cname.it", "aruba", &[], &["MX_ALIAS"], false);
    expect("pec.aaaa.it", "aruba", &[], &["AAAA_NON_CORRETTO"], false);
    expect("pec.prio.it", "aruba", &[], &["MX_PRIORITA"], false);
    expect("pec.single.it", "aruba", &[], &["NS_SINGOLO"], false);
    expect(
        "pec.incoerente.it",
        "aruba",
        &[],
        &["DELEGA_INCOERENTE"],
        false,
    );
    expect(
        "pec.serial.it",
        "aruba",
        &[],
        &["SOA_SERIALI_DIVERSI"],
        false,
    );
}

#[test]
fn servers_that_disagree_or_fail() {
    expect(
        "pec.stale.it",
        "aruba",
        &["NS_NON_ALLINEATI"],
        &["SOA_SERIALI_DIVERSI"],
        false,
    );
    expect("pec.lame.it", "aruba", &["NS_NON_ALLINEATI"], &[], false);
    expect("pec.dead.it", "aruba", &["NS_NON_ALLINEATI"], &[], true);
}

#[test]
fn dns_that_does_not_work() {
    expect("pec.alldead.it", "aruba", &["NS_NON_DEFINITO"], &[], true);
    expect("pec.servfail.it", "aruba", &["NS_NON_DEFINITO"], &[], false);
    expect("pec.nxparent.it", "aruba", &["NS_NON_DEFINITO"], &[], false);
    expect("pec.nodeleg.it", "aruba", &["NS_NON_DEFINITO"], &[], false);
    expect("pec.nxname.it", "aruba", &["NS_NON_DEFINITO"], &[], false);
}

#[test]
fn large_mx_set_over_tcp() {
    // 60 distinct targets: more than a check resolves (16), so MX_TROPPI, although
    // the 16 resolved all have the provider's address.
    expect("pec.bigmx.it", "aruba", &["MX_TROPPI"], &[], false);
    let (_, lines) = check(&["pec.bigmx.it"]);
    let servers = lines[0]["nameservers"].as_array().expect("servers");
    assert!(!servers.is_empty());
    for server in servers {
        assert_eq!(
            server["records"].as_array().map(Vec::len),
            Some(60),
            "{server}"
        );
    }
    let findings = lines[0]["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["code"], "MX_TROPPI");
}

#[test]
fn idn_and_email_input() {
    let (status, lines) = check(&["pec.caffè.it", "Mario.Rossi@PEC.OK.IT"]);
    assert_eq!(status, 0, "{lines:?}");
    let mut domains: Vec<String> = lines
        .iter()
        .map(|l| l["domain"].as_str().unwrap_or("").to_string())
        .collect();
    domains.sort();
    assert_eq!(domains, ["pec.ok.it", "pec.xn--caff-8oa.it"]);
    let inputs: Vec<&str> = lines.iter().filter_map(|l| l["input"].as_str()).collect();
    assert!(inputs.contains(&"pec.caffè.it"));
    assert!(inputs.contains(&"Mario.Rossi@PEC.OK.IT"));
}

#[test]
fn invalid_input_is_exit_2_and_the_rest_is_still_checked() {
    let (status, lines) = check(&["192.0.2.1", "pec.ok.it", "https://x.it/"]);
    assert_eq!(status, 2);
    assert_eq!(lines.len(), 3);
    let errors: Vec<&Value> = lines.iter().filter(|l| l.get("error").is_some()).collect();
    assert_eq!(errors.len(), 2);
    assert!(errors.iter().any(|l| l["input"] == "192.0.2.1"));
    assert!(
        lines
            .iter()
            .any(|l| l["domain"] == "pec.ok.it" && l["ok"] == true)
    );
}

#[test]
fn private_servers_are_not_queried_by_default() {
    let lab = lab();
    let mut command = Command::cargo_bin("pecwatch").expect("binary");
    command.args([
        "check",
        "--resolver",
        &lab.resolver,
        "--format",
        "json",
        "pec.ok.it",
    ]);
    let (status, lines) = run(command);
    assert_eq!(status, 1);
    assert_eq!(strings(&lines[0]["codes"]), ["NS_NON_DEFINITO"]);
    assert_eq!(
        strings(&lines[0]["warnings"]),
        ["NS_INDIRIZZO_NON_PUBBLICO"]
    );
}

#[test]
fn iterative_resolution_from_root_hints() {
    let lab = lab();
    let hints = lab.root_hints.to_string_lossy().to_string();
    let mut command = Command::cargo_bin("pecwatch").expect("binary");
    command.args([
        "check",
        "--root-hints",
        &hints,
        "--allow-private",
        "--format",
        "json",
        "--timeout-ms",
        "300",
        "--attempts",
        "2",
        "pec.ok.it",
        "pec.cname.it",
        "pec.wronga.it",
        "pec.stale.it",
        "pec.nxparent.it",
        "pec.servfail.it",
    ]);
    let (status, lines) = run(command);
    assert_eq!(status, 1);
    let codes = |domain: &str| {
        lines
            .iter()
            .find(|l| l["domain"] == domain)
            .map(|l| (strings(&l["codes"]), strings(&l["warnings"])))
            .unwrap_or_else(|| panic!("{domain} missing: {lines:?}"))
    };
    assert_eq!(codes("pec.ok.it"), (vec![], vec![]));
    assert_eq!(
        codes("pec.cname.it"),
        (vec![], vec!["MX_ALIAS".to_string()])
    );
    assert_eq!(codes("pec.wronga.it").0, ["A_NON_CORRETTO"]);
    assert_eq!(codes("pec.stale.it").0, ["NS_NON_ALLINEATI"]);
    assert_eq!(codes("pec.nxparent.it").0, ["NS_NON_DEFINITO"]);
    assert_eq!(codes("pec.servfail.it").0, ["NS_NON_DEFINITO"]);
}

#[test]
fn text_report_is_italian_by_default_and_english_on_request() {
    let lab = lab();
    let base = [
        "check",
        "--resolver",
        &lab.resolver,
        "--allow-private",
        "pec.wronga.it",
    ];
    let italian = Command::cargo_bin("pecwatch")
        .expect("binary")
        .args(base)
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&italian.stdout);
    assert_eq!(italian.status.code(), Some(1));
    assert!(text.contains("A NON CORRETTO"), "{text}");
    assert!(text.contains("Correzione"), "{text}");
    assert!(text.contains("+ pec IN MX 10 mx.pec.aruba.it."), "{text}");
    assert!(text.contains("- pec IN MX 10 mail.wronga.it."), "{text}");
    let english = Command::cargo_bin("pecwatch")
        .expect("binary")
        .args(base)
        .args(["--lang", "en"])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&english.stdout);
    assert!(text.contains("Fix"), "{text}");
    assert!(text.contains("Why it matters"), "{text}");
}

#[test]
fn from_file_and_stdin_stream_many_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let list = dir.path().join("names.txt");
    let mut text = String::from("# a comment\n\n");
    for _ in 0..50 {
        text.push_str("pec.ok.it\npec.wronga.it\n");
    }
    std::fs::write(&list, &text).expect("write list");
    let (status, lines) = check(&["--from", &list.to_string_lossy()]);
    assert_eq!(status, 1);
    assert_eq!(lines.len(), 100);
    assert_eq!(lines.iter().filter(|l| l["ok"] == true).count(), 50);

    let lab = lab();
    let mut command = Command::cargo_bin("pecwatch").expect("binary");
    command
        .args([
            "check",
            "--resolver",
            &lab.resolver,
            "--allow-private",
            "--format",
            "json",
            "--from",
            "-",
        ])
        .write_stdin("pec.ok.it\npec.prio.it\n");
    let (status, lines) = run(command);
    assert_eq!(status, 0);
    assert_eq!(lines.len(), 2);
}

#[test]
fn bad_usage_is_a_clear_error() {
    let output = Command::cargo_bin("pecwatch")
        .expect("binary")
        .args(["check", "--profile", "nonexistent", "pec.ok.it"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown profile"), "{stderr}");
    let output = Command::cargo_bin("pecwatch")
        .expect("binary")
        .args(["check", "--resolver", "not-an-address", "pec.ok.it"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn custom_profile_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("esempio.toml");
    std::fs::write(
        &path,
        "name = \"esempio\"\nmx_host = \"mx.pec.aruba.it\"\nmx_preference = 20\n\
         mail_addresses = [\"127.53.25.0/24\"]\nextra_addresses = [\"127.53.99.9\"]\n",
    )
    .expect("write profile");
    let profile = path.to_string_lossy().to_string();
    let (_, lines) = check(&["--profile", &profile, "pec.wronga.it", "pec.prio.it"]);
    for line in &lines {
        assert_eq!(line["ok"], true, "{line}");
        assert_eq!(line["profile"], "esempio");
    }
    let prio = lines
        .iter()
        .find(|l| l["domain"] == "pec.prio.it")
        .expect("prio");
    assert!(strings(&prio["warnings"]).is_empty(), "{prio}");
}

/// Every aruba scenario of the lab with its expected (errors, warnings, transient).
const SCENARIOS: &[(&str, &[&str], &[&str], bool)] = &[
    ("pec.ok.it", &[], &[], false),
    ("pec.own.it", &[], &[], false),
    ("pec.delegato.it", &[], &[], false),
    ("pec.upper.it", &[], &[], false),
    ("pec.bigmx.it", &["MX_TROPPI"], &[], false),
    ("pec.xn--caff-8oa.it", &[], &[], false),
    ("cert.infook.it", &["A_NON_CORRETTO"], &[], false),
    ("pec.nomx.it", &["MX_NON_DEFINITO"], &[], false),
    ("pec.nullmx.it", &["MX_NON_DEFINITO"], &[], false),
    ("pec.noa.it", &["A_NON_DEFINITO"], &[], false),
    (
        "pec.onlyaaaa.it",
        &["A_NON_DEFINITO"],
        &["AAAA_NON_CORRETTO"],
        false,
    ),
    ("pec.iplit.it", &["A_NON_DEFINITO"], &[], false),
    ("pec.wronga.it", &["A_NON_CORRETTO"], &[], false),
    (
        "pec.hybrid.it",
        &["A_NON_CORRETTO"],
        &["MX_PRIORITA"],
        false,
    ),
    (
        "pec.multi.it",
        &["A_MULTIPLI", "A_NON_CORRETTO"],
        &[],
        false,
    ),
    ("pec.cname.it", &[], &["MX_ALIAS"], false),
    ("pec.aaaa.it", &[], &["AAAA_NON_CORRETTO"], false),
    ("pec.prio.it", &[], &["MX_PRIORITA"], false),
    ("pec.single.it", &[], &["NS_SINGOLO"], false),
    ("pec.incoerente.it", &[], &["DELEGA_INCOERENTE"], false),
    ("pec.serial.it", &[], &["SOA_SERIALI_DIVERSI"], false),
    (
        "pec.stale.it",
        &["NS_NON_ALLINEATI"],
        &["SOA_SERIALI_DIVERSI"],
        false,
    ),
    ("pec.lame.it", &["NS_NON_ALLINEATI"], &[], false),
    ("pec.dead.it", &["NS_NON_ALLINEATI"], &[], true),
    ("pec.alldead.it", &["NS_NON_DEFINITO"], &[], true),
    ("pec.servfail.it", &["NS_NON_DEFINITO"], &[], false),
    ("pec.nxparent.it", &["NS_NON_DEFINITO"], &[], false),
    ("pec.nodeleg.it", &["NS_NON_DEFINITO"], &[], false),
    ("pec.nxname.it", &["NS_NON_DEFINITO"], &[], false),
];

/// One process checks every scenario three times over: the later rounds go through the
/// run caches (zones found by walking down from known servers, not through the resolver)
/// and must give exactly the same verdicts as the first.
#[test]
fn one_run_with_warm_caches_gives_the_same_verdicts() {
    let mut arguments: Vec<&str> = Vec::new();
    for _ in 0..3 {
        arguments.extend(SCENARIOS.iter().map(|(domain, ..)| *domain));
    }
    arguments.extend(["--concurrency", "16"]);
    let (status, lines) = check(&arguments);
    assert_eq!(status, 1);
    assert_eq!(lines.len(), SCENARIOS.len() * 3);
    for (domain, errors, warnings, transient) in SCENARIOS {
        let results: Vec<&Value> = lines.iter().filter(|l| l["domain"] == *domain).collect();
        assert_eq!(results.len(), 3, "{domain}");
        for result in results {
            assert_eq!(strings(&result["codes"]), *errors, "{domain}: {result}");
            assert_eq!(
                strings(&result["warnings"]),
                *warnings,
                "{domain}: {result}"
            );
            assert_eq!(result["transient"], *transient, "{domain}: {result}");
        }
    }
}

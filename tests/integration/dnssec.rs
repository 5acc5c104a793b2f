//! DNSSEC end to end: `pecwatch check` against a signed private root and `it.` (signed at
//! test time), each case checked through a plain Unbound, a validating Unbound, and
//! iteratively from the root hints, with the same verdict every way.

use serde_json::Value;

use crate::support::dnsseclab::DnssecLab;

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

/// The finding with `code` in a JSON result.
fn finding<'a>(result: &'a Value, code: &str) -> &'a Value {
    result["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["code"] == code))
        .unwrap_or_else(|| panic!("no {code}: {result:#}"))
}

/// The DNSSEC status of each validated RRset (`MX secure`, `A insecure`, …).
fn statuses(result: &Value) -> Vec<String> {
    result["dnssec"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    format!(
                        "{} {}",
                        r["type"].as_str().unwrap_or("?"),
                        r["status"].as_str().unwrap_or("?")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Checks `domain` every way and asserts its error codes, whether `warning` is among its
/// warnings, and the DNSSEC status of its MX and its target's A; returns the result
/// through the validating resolver.
fn expect(
    lab: &DnssecLab,
    domain: &str,
    profile: &std::path::Path,
    errors: &[&str],
    warning: Option<&str>,
    dnssec: [&str; 2],
) -> Value {
    let plain = lab.plain_resolver();
    let validating = lab.validating_resolver();
    let hints = lab.root_hints();
    let hints = hints.to_str().unwrap();
    let mut results = Vec::new();
    for (how, resolution) in [
        ("plain resolver", ["--resolver", plain.as_str()]),
        ("validating resolver", ["--resolver", validating.as_str()]),
        ("root hints", ["--root-hints", hints]),
    ] {
        let result = lab.check(domain, profile, &resolution);
        assert_eq!(
            strings(&result["codes"]),
            errors,
            "{domain} through the {how}: {result:#}"
        );
        let warnings = strings(&result["warnings"]);
        for code in ["DNSSEC_IN_SCADENZA", "DNSSEC_NON_VALIDO"] {
            assert_eq!(
                warnings.iter().any(|w| w == code),
                warning == Some(code),
                "{domain} through the {how}: {result:#}"
            );
        }
        assert_eq!(result["transient"], false, "{domain} ({how}): {result:#}");
        if profile.to_string_lossy().ends_with("-off.toml") {
            assert_eq!(statuses(&result), Vec::<String>::new(), "{domain} ({how})");
        } else {
            assert_eq!(statuses(&result), dnssec, "{domain} ({how}): {result:#}");
        }
        results.push(result);
    }
    results.swap_remove(1)
}

#[test]
fn dnssec_verdicts_are_the_same_through_any_resolver() {
    let lab = DnssecLab::start();
    // The lab is what the cases say: a validating resolver fails exactly the bogus ones.
    let validating = lab.validating_resolver();
    for (name, rtype, status) in [
        ("pec.secure.it", "MX", "NOERROR"),
        ("pec.insecure.it", "MX", "NOERROR"),
        ("pec.cliente.reg.it", "MX", "NOERROR"),
        ("pec.expiring.it", "MX", "NOERROR"),
        ("pec.orphan.it", "MX", "SERVFAIL"),
        ("pec.expired.it", "MX", "SERVFAIL"),
        ("pec.future.it", "MX", "SERVFAIL"),
        ("pec.wrongds.it", "MX", "SERVFAIL"),
        ("mx.bogusprov.it", "A", "SERVFAIL"),
    ] {
        assert_eq!(
            lab.resolver_status(&validating, name, rtype),
            status,
            "{name}"
        );
        let plain = lab.resolver_status(&lab.plain_resolver(), name, rtype);
        assert_eq!(plain, "NOERROR", "{name} through the plain resolver");
    }
    let provider = lab.profile("pecprov", "error");
    let bogus_provider = lab.profile("bogusprov", "error");

    // Secure, insecure (NSEC-proven unsigned delegation), insecure (NSEC3 opt-out).
    for (domain, mx) in [
        ("pec.secure.it", "MX secure"),
        ("pec.insecure.it", "MX insecure"),
        ("pec.cliente.reg.it", "MX insecure"),
    ] {
        expect(&lab, domain, &provider, &[], None, [mx, "A secure"]);
    }

    // A DS left at the registry after the zone moved to a host that does not sign it.
    let orphan = expect(
        &lab,
        "pec.orphan.it",
        &provider,
        &["DNSSEC_NON_VALIDO"],
        None,
        ["MX bogus", "A secure"],
    );
    let found = finding(&orphan, "DNSSEC_NON_VALIDO");
    assert_eq!(found["severity"], "error");
    let message = found["message"].as_str().unwrap();
    assert!(
        message.contains("orphan.it.") && message.contains("SERVFAIL"),
        "{message}"
    );
    let fix = &found["fix"][0];
    assert_eq!(fix["case"], "registration");
    assert!(
        fix["remove"][0]
            .as_str()
            .unwrap()
            .starts_with("orphan.it. IN DS "),
        "{fix}"
    );
    assert!(fix["note"].as_str().unwrap().contains("registrar"), "{fix}");
    let evidence = found["servers"].to_string();
    assert!(
        evidence.contains("DS ") && evidence.contains("DNSKEY"),
        "{evidence}"
    );

    // Signatures expired yesterday, or valid only from tomorrow.
    let expired = expect(
        &lab,
        "pec.expired.it",
        &provider,
        &["DNSSEC_NON_VALIDO"],
        None,
        ["MX bogus", "A secure"],
    );
    let note = finding(&expired, "DNSSEC_NON_VALIDO")["fix"][0]["note"].to_string();
    assert!(
        note.contains("Firmare di nuovo la zona expired.it."),
        "{note}"
    );
    let future = expect(
        &lab,
        "pec.future.it",
        &provider,
        &["DNSSEC_NON_VALIDO"],
        None,
        ["MX bogus", "A secure"],
    );
    let message = finding(&future, "DNSSEC_NON_VALIDO")["message"].to_string();
    assert!(message.contains("valide solo dal"), "{message}");

    // A DS whose digest matches no key.
    let wrong = expect(
        &lab,
        "pec.wrongds.it",
        &provider,
        &["DNSSEC_NON_VALIDO"],
        None,
        ["MX bogus", "A secure"],
    );
    let note = finding(&wrong, "DNSSEC_NON_VALIDO")["fix"][0]["note"].to_string();
    assert!(note.contains("DNSKEY con tag"), "{note}");

    // The MX target is in the provider's bogus zone: contact the provider. Through a
    // validating resolver this used to come out as NS_NON_DEFINITO.
    let target = expect(
        &lab,
        "pec.tobogus.it",
        &bogus_provider,
        &["DNSSEC_NON_VALIDO"],
        None,
        ["MX secure", "A bogus"],
    );
    let found = finding(&target, "DNSSEC_NON_VALIDO");
    assert!(
        found["message"]
            .as_str()
            .unwrap()
            .contains("mx.bogusprov.it"),
        "{found}"
    );
    assert!(
        found["fix"][0]["note"]
            .as_str()
            .unwrap()
            .contains("gestore PEC"),
        "{found}"
    );

    // Signatures expiring in two days: a warning, not an error.
    let expiring = expect(
        &lab,
        "pec.expiring.it",
        &provider,
        &[],
        Some("DNSSEC_IN_SCADENZA"),
        ["MX secure", "A secure"],
    );
    assert_eq!(expiring["ok"], true);

    // A profile that lowers DNSSEC to a warning, and one that turns it off.
    let lenient = lab.profile("pecprov", "warning");
    let result = expect(
        &lab,
        "pec.orphan.it",
        &lenient,
        &[],
        Some("DNSSEC_NON_VALIDO"),
        ["MX bogus", "A secure"],
    );
    assert_eq!(result["ok"], true);
    assert_eq!(finding(&result, "DNSSEC_NON_VALIDO")["severity"], "warning");
    // With pecwatch's built-in IANA anchors this private root does not validate: nothing
    // is judged (no finding, no DNSSEC rows), never blamed on the domain.
    let resolver = lab.plain_resolver();
    let unjudged = lab.check(
        "pec.orphan.it",
        &provider,
        &["--resolver", &resolver, "--built-in-anchors"],
    );
    assert_eq!(unjudged["ok"], true, "{unjudged:#}");
    assert_eq!(statuses(&unjudged), Vec::<String>::new());
    let off = lab.profile("pecprov", "off");
    expect(&lab, "pec.orphan.it", &off, &[], None, ["", ""]);
}

#[tokio::test]
async fn the_check_page_shows_the_dnssec_chain() {
    use crate::support::web::{client, free_port, spawn};
    let lab = DnssecLab::start();
    let profile = lab.profile("pecprov", "error");
    let port = free_port();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_pecwatch"));
    command
        .args(["web", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(lab.dir())
        .env_remove("PECWATCH_CONFIG")
        .env_remove("PECWATCH_NOW")
        .env(
            "PECWATCH_DATABASE_URL",
            format!("sqlite://{}/web.db", lab.dir().display()),
        )
        .env("PECWATCH_DNS_RESOLVER", lab.validating_resolver())
        .env("PECWATCH_DNS_ROOT_HINTS", "")
        .env("PECWATCH_DNS_ALLOW_PRIVATE", "true")
        .env("PECWATCH_DNS_IPV6", "false")
        .env("PECWATCH_DNS_TRUST_ANCHOR", lab.trust_anchor())
        .env("PECWATCH_PROFILES_PECPROV", &profile)
        .env("PECWATCH_CHECK_PROFILE", "pecprov")
        .env("PECWATCH_LOG", "warn");
    let server = spawn(&mut command, port).await;
    let get = |path: &str| {
        let url = server.url(path);
        async move {
            let response = client().get(url).send().await.expect("GET");
            assert!(response.status().is_success(), "{response:?}");
            response.text().await.expect("body")
        }
    };
    let orphan = get("/check/pec.orphan.it?profile=pecprov").await;
    assert!(
        orphan.contains("data-code=\"DNSSEC_NON_VALIDO\""),
        "{orphan}"
    );
    assert!(orphan.contains("data-dnssec=\"bogus\""), "{orphan}");
    assert!(
        orphan.contains("<th scope=\"row\"><code>orphan.it.</code></th>"),
        "{orphan}"
    );
    assert!(orphan.contains("Togliere il DS di orphan.it."), "{orphan}");
    let secure = get("/check/pec.secure.it?profile=pecprov").await;
    assert!(secure.contains("data-verdict=\"ok\""), "{secure}");
    assert!(secure.contains("data-dnssec=\"secure\""), "{secure}");
    assert!(
        secure.contains("<th scope=\"row\"><code>secure.it.</code></th>"),
        "{secure}"
    );
    assert!(secure.contains("Firme valide fino al"), "{secure}");
}

//! A hostile MX set cannot multiply a check's lookups: a name with 301 MX targets (each
//! with an address) is checked with at most `check::MAX_MX_TARGETS` of them resolved, and
//! reported as `MX_TROPPI`. Real Knot servers and a real Unbound (a minilab): the customer
//! servers count the queries they get.

use serde_json::Value;

use crate::support::minilab::{MiniLab, Options};

#[test]
fn three_hundred_mx_targets_cost_at_most_sixteen_lookups() {
    let lab = MiniLab::start(Options {
        zones: 1,
        resolver: true,
        editable: true,
        ..Options::default()
    });
    let provider = lab.addr(25);
    let mut records = String::from("pec MX 10 mx.pec.aruba.it.\n");
    for i in 0..300 {
        records.push_str(&format!("pec MX 20 mx{i:03}\nmx{i:03} A {provider}\n"));
    }
    lab.set_zones(&[("z0.it".to_owned(), 2, records)]);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("unused.db").display());

    let before = lab.requests("ns1") + lab.requests("ns2");
    let output = lab
        .pecwatch(&url, None, &["check", "--format", "json", "pec.z0.it"], &[])
        .output()
        .unwrap();
    let after = lab.requests("ns1") + lab.requests("ns2");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    // The one error (the 15 other targets chosen are the provider's address at another
    // preference: MX_PRIORITA warnings).
    assert_eq!(
        report["codes"],
        serde_json::json!(["MX_TROPPI"]),
        "{report:#}"
    );
    let finding = &report["findings"][0];
    assert_eq!(finding["transient"], false);
    let message = finding["message"].as_str().unwrap();
    assert!(message.contains("301 server di posta diversi"), "{message}");
    // The zone search, the MX on both servers and 16 targets' A and AAAA through the
    // resolver: well under 100 queries (all 301 targets would be at least 602).
    let queries = after - before;
    assert!(
        queries < 100,
        "{queries} queries reached the customer servers"
    );
}

//! Provisioning against the lab's real Knot DNS: dns1.aruba.it (primary, TSIG-signed
//! UPDATEs, catalog zone `catalog.aruba.invalid.`) and dns2.aruba.it (its secondary, NOTIFY
//! and IXFR, consuming the catalog). The lab persists between runs and is shared: every
//! test works on fresh random names, so leftovers of earlier runs never matter.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use hickory_proto::rr::{Name, RecordType};
use pecwatch::config::Config;
use pecwatch::dns::tsig::{TsigKey, error_code};
use pecwatch::dns::update::{Change, Update, UpdateClient, UpdateError, UpdateOutcome};
use pecwatch::dns::{Outcome, Transport, TransportConfig};
use pecwatch::name::DomainName;
use pecwatch::profile::Profile;
use pecwatch::provision::{ProvisionError, Provisioned, Provisioner, Removed};
use tokio::runtime::Runtime;

use crate::support::lab::{
    CUSTOMER_PRIMARY, PROVIDER_PRIMARY, PROVIDER_SECONDARY, lab, lab_key, lab_profile,
};

/// How long a change may take to reach every server (NOTIFY, IXFR, catalog processing).
const PROPAGATION: Duration = Duration::from_secs(30);

fn runtime() -> Runtime {
    Runtime::new().expect("tokio runtime")
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).expect("name")
}

/// A fresh label: the lab keeps what earlier runs wrote.
fn fresh(prefix: &str) -> String {
    format!("{prefix}{:08x}", rand::random::<u32>())
}

fn profile() -> Profile {
    Profile::load(lab_profile().to_str().expect("UTF-8 path")).expect("lab profile")
}

/// The lab's provisioning configuration, through the same `PECWATCH_PROVISION_*`
/// variables an operator would set, signed with `key` (a file under tests/fixtures).
fn provisioner_with(key: &Path) -> Provisioner {
    let lab = lab();
    let env = [
        ("PECWATCH_PROVISION_PRIMARY", PROVIDER_PRIMARY.to_string()),
        ("PECWATCH_PROVISION_INTERNAL_ZONE", "aruba.it".into()),
        (
            "PECWATCH_PROVISION_TSIG_KEY_FILE",
            key.display().to_string(),
        ),
        (
            "PECWATCH_PROVISION_CATALOG_ZONE",
            "catalog.aruba.invalid".into(),
        ),
        (
            "PECWATCH_PROVISION_ZONE_DIR",
            lab.member_dir().display().to_string(),
        ),
        (
            "PECWATCH_PROVISION_HOSTMASTER",
            "hostmaster@aruba.it".into(),
        ),
        ("PECWATCH_PROVISION_TTL", "60".into()),
    ];
    let env = env.map(|(k, v)| (k.to_string(), v));
    let config = Config::from_sources(None, None, env).expect("provision config");
    Provisioner::from_config(&config)
        .expect("provisioner")
        .expect("provisioning on")
}

fn provisioner() -> Provisioner {
    provisioner_with(&lab_key("dns1/pecwatch-lab-test-only.key"))
}

/// Asks `server` directly (recursion off) and returns the outcome and MX set of `qname`.
async fn ask(server: &str, qname: &Name, rtype: RecordType) -> (Outcome, Vec<(u16, String)>) {
    let transport = Transport::new(TransportConfig {
        timeout: Duration::from_millis(300),
        attempts: 2,
        ..TransportConfig::default()
    })
    .expect("transport");
    let server: SocketAddr = server.parse().expect("address");
    let reply = transport.query(server, qname, rtype, false).await;
    let mx = reply
        .mx_set(qname)
        .into_iter()
        .map(|(p, e)| (p, e.to_ascii()))
        .collect();
    (reply.outcome, mx)
}

/// Polls until `check` holds, failing the test after [`PROPAGATION`].
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + PROPAGATION;
    loop {
        if check().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not reached within {PROPAGATION:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Both provider servers answer exactly `MX 10 mx.pec.aruba.it.` for `qname`.
async fn both_serve_the_mx(qname: &Name) {
    let wanted = vec![(10, "mx.pec.aruba.it.".to_string())];
    for server in [PROVIDER_PRIMARY, PROVIDER_SECONDARY] {
        eventually(&format!("{qname} MX on {server}"), || async {
            ask(server, qname, RecordType::MX).await == (Outcome::Answer, wanted.clone())
        })
        .await;
    }
}

/// `pecwatch check` with the lab profile passes for `domain` (polled: the resolver may
/// hold a negative answer for a few seconds).
fn check_passes(domain: &str) {
    let lab = lab();
    let deadline = Instant::now() + PROPAGATION;
    loop {
        let output = assert_cmd::Command::cargo_bin("pecwatch")
            .expect("binary")
            .env_remove("PECWATCH_CONFIG")
            .current_dir(std::env::temp_dir())
            .args(["check", "--resolver", &lab.resolver, "--allow-private"])
            .args(["--format", "json", "--profile"])
            .arg(lab_profile())
            .arg(domain)
            .output()
            .expect("run pecwatch");
        if output.status.code() == Some(0) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "pecwatch check {domain} does not pass: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn internal_subdomain_reaches_every_server_idempotently_and_is_removed() {
    let rt = runtime();
    let provisioner = provisioner();
    let profile = profile();
    let label = fresh("acme");
    let domain = format!("{label}.aruba.it");
    let qname = name(&format!("{domain}."));

    let created = rt
        .block_on(provisioner.internal_subdomain(&label, &profile))
        .expect("provision");
    assert_eq!(
        created,
        Provisioned::Created {
            zone: "aruba.it.".into(),
            records: vec![format!("{domain}. 60 IN MX 10 mx.pec.aruba.it.")],
        }
    );
    rt.block_on(both_serve_the_mx(&qname));
    // Again: nothing changes.
    let again = rt
        .block_on(provisioner.internal_subdomain(&label.to_uppercase(), &profile))
        .expect("again");
    assert!(
        matches!(again, Provisioned::AlreadyPresent { .. }),
        "{again:?}"
    );
    check_passes(&domain);

    // Removal (the order rejected), twice.
    let removed = rt
        .block_on(provisioner.remove_internal_subdomain(&label, &profile))
        .expect("remove");
    assert!(matches!(removed, Removed::Removed { .. }), "{removed:?}");
    let again = rt
        .block_on(provisioner.remove_internal_subdomain(&label, &profile))
        .expect("remove again");
    assert_eq!(again, Removed::AlreadyAbsent);
    rt.block_on(eventually("removal reaches dns2", || async {
        ask(PROVIDER_SECONDARY, &qname, RecordType::MX).await.0 == Outcome::NxDomain
    }));
}

#[test]
fn a_taken_internal_name_is_never_overwritten() {
    let rt = runtime();
    let provisioner = provisioner();
    // dns1.aruba.it exists (the server's own A record).
    let error = rt
        .block_on(provisioner.internal_subdomain("dns1", &profile()))
        .expect_err("taken");
    let ProvisionError::Conflict {
        name: taken,
        existing,
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!(taken, "dns1.aruba.it.");
    assert_eq!(
        existing,
        &vec!["dns1.aruba.it. 60 IN A 127.53.2.1".to_string()]
    );
    assert!(error.message(pecwatch::Lang::It).contains("esiste già"));
    // Still there, unchanged.
    let (outcome, mx) = rt.block_on(ask(
        PROVIDER_PRIMARY,
        &name("dns1.aruba.it."),
        RecordType::MX,
    ));
    assert_eq!((outcome, mx), (Outcome::NoData, Vec::new()));
}

#[test]
fn wrong_or_unknown_keys_are_refused_with_a_clear_error() {
    let rt = runtime();
    let label = fresh("wrongkey");
    // The lab key's name with another secret: BADSIG (an unsigned NOTAUTH, by design).
    let wrong =
        provisioner_with(&crate::support::lab::repo().join("tests/fixtures/tsig/wrong-secret.key"));
    let error = rt
        .block_on(wrong.internal_subdomain(&label, &profile()))
        .expect_err("wrong secret");
    match &error {
        ProvisionError::Update(UpdateError::TsigRejected {
            error: code,
            rcode,
            authenticated,
        }) => {
            assert_eq!(*code, error_code::BADSIG);
            assert_eq!(*rcode, 9, "NOTAUTH");
            assert!(!authenticated);
        }
        other => panic!("{other:?}"),
    }
    assert!(error.to_string().contains("BADSIG"), "{error}");
    assert!(error.message(pecwatch::Lang::It).contains("firma TSIG"));
    // A key dns1 does not know at all: BADKEY.
    let unknown = TsigKey::parse("sconosciuta-lab-test-only:hmac-sha256:AAECAwQFBgcICQoLDA0ODw==")
        .expect("key");
    let client = UpdateClient::new(PROVIDER_PRIMARY.parse().expect("address"), unknown);
    let update = Update::new(name("aruba.it.")).change(Change::DeleteRrset(
        name(&format!("{label}.aruba.it.")),
        RecordType::MX,
    ));
    let result = rt.block_on(client.send(&update));
    assert!(
        matches!(
            result,
            Err(UpdateError::TsigRejected {
                error: error_code::BADKEY,
                ..
            })
        ),
        "{result:?}"
    );
    // Nothing was written.
    let (outcome, _) = rt.block_on(ask(
        PROVIDER_PRIMARY,
        &name(&format!("{label}.aruba.it.")),
        RecordType::MX,
    ));
    assert_eq!(outcome, Outcome::NxDomain);
    // The hmac-sha512 key is accepted.
    let sha512 = provisioner_with(&lab_key("dns1/pecwatch-lab-test-only-sha512.key"));
    let created = rt
        .block_on(sha512.internal_subdomain(&label, &profile()))
        .expect("sha512");
    assert!(matches!(created, Provisioned::Created { .. }));
    rt.block_on(sha512.remove_internal_subdomain(&label, &profile()))
        .expect("cleanup");
}

#[test]
fn own_domain_on_the_provider_dns_gets_its_mx() {
    let rt = runtime();
    let provisioner = provisioner();
    let profile = profile();
    let domain = DomainName::parse(&format!("{}.ospitato.it", fresh("pec"))).expect("name");
    let created = rt
        .block_on(provisioner.own_domain_mx(&domain, &profile))
        .expect("provision");
    assert!(
        matches!(&created, Provisioned::Created { zone, .. } if zone == "ospitato.it."),
        "{created:?}"
    );
    rt.block_on(both_serve_the_mx(&domain.to_dns()));
    let again = rt
        .block_on(provisioner.own_domain_mx(&domain, &profile))
        .expect("again");
    assert!(
        matches!(again, Provisioned::AlreadyPresent { .. }),
        "{again:?}"
    );
    check_passes(domain.as_str());
    let removed = rt
        .block_on(provisioner.remove_own_domain_mx(&domain, &profile))
        .expect("remove");
    assert!(matches!(removed, Removed::Removed { .. }));

    // A zone the primary does not serve.
    let elsewhere = DomainName::parse("pec.nuovo.it").expect("name");
    let error = rt
        .block_on(provisioner.own_domain_mx(&elsewhere, &profile))
        .expect_err("not on the primary");
    assert!(
        matches!(error, ProvisionError::NotOnPrimary { .. }),
        "{error:?}"
    );
}

#[test]
fn delegated_zone_joins_the_catalog_and_is_served_by_both_servers() {
    let rt = runtime();
    let provisioner = provisioner();
    let profile = profile();
    let zone_text = format!("{}.delega.it", fresh("pec"));
    let domain = DomainName::parse(&zone_text).expect("name");
    let zone = domain.to_dns();

    // The customer delegates the name to the provider's name servers (UPDATE to the
    // customer's own primary, with the customer's key).
    let customer_key =
        TsigKey::from_file(&lab_key("dyn/cliente-lab-test-only.key")).expect("customer key");
    let customer = UpdateClient::new(CUSTOMER_PRIMARY.parse().expect("address"), customer_key);
    let mut delegation = Update::new(name("delega.it."));
    for ns in ["dns1.aruba.it.", "dns2.aruba.it."] {
        delegation = delegation.change(Change::Add(hickory_proto::rr::Record::from_rdata(
            zone.clone(),
            60,
            hickory_proto::rr::RData::NS(hickory_proto::rr::rdata::NS(name(ns))),
        )));
    }
    assert_eq!(
        rt.block_on(customer.send(&delegation)),
        Ok(UpdateOutcome::Applied)
    );

    let created = rt
        .block_on(provisioner.delegated_zone(&domain, &profile))
        .expect("provision");
    assert!(
        matches!(&created, Provisioned::Created { zone, records } if zone == "catalog.aruba.invalid." && records[0].ends_with(&format!("PTR {zone_text}."))),
        "{created:?}"
    );
    let file = lab().member_dir().join(format!("{zone_text}.zone"));
    assert!(file.is_file(), "{} written", file.display());
    rt.block_on(both_serve_the_mx(&zone));
    for server in [PROVIDER_PRIMARY, PROVIDER_SECONDARY] {
        let (outcome, _) = rt.block_on(ask(server, &zone, RecordType::SOA));
        assert_eq!(outcome, Outcome::Answer, "{server} serves {zone}");
    }
    let again = rt
        .block_on(provisioner.delegated_zone(&domain, &profile))
        .expect("again");
    assert!(
        matches!(again, Provisioned::AlreadyPresent { .. }),
        "{again:?}"
    );
    check_passes(&zone_text);

    // Out of the catalog: both servers stop serving it.
    let removed = rt
        .block_on(provisioner.remove_delegated_zone(&domain))
        .expect("remove");
    assert!(matches!(removed, Removed::Removed { .. }), "{removed:?}");
    for server in [PROVIDER_PRIMARY, PROVIDER_SECONDARY] {
        rt.block_on(eventually(
            &format!("{server} stops serving {zone}"),
            || async { ask(server, &zone, RecordType::SOA).await.0 == Outcome::Refused },
        ));
    }
    assert_eq!(
        rt.block_on(provisioner.remove_delegated_zone(&domain))
            .expect("remove again"),
        Removed::AlreadyAbsent
    );
    let undo = Update::new(name("delega.it.")).change(Change::DeleteRrset(zone, RecordType::NS));
    assert_eq!(
        rt.block_on(customer.send(&undo)),
        Ok(UpdateOutcome::Applied)
    );
}

#[test]
fn a_zone_already_served_outside_the_catalog_is_a_conflict() {
    let rt = runtime();
    let domain = DomainName::parse("pec.delegato.it").expect("name");
    let error = rt
        .block_on(provisioner().delegated_zone(&domain, &profile()))
        .expect_err("served by configuration");
    assert!(
        matches!(error, ProvisionError::Conflict { .. }),
        "{error:?}"
    );
}

//! The RFC 6109 schema (`schema/rfc6109.ldif`, `schema/rfc6109.schema`) in a real
//! OpenLDAP, and `pecwatch index export` loaded into it: Debian's slapd in a throwaway
//! directory on a free loopback port (`support::ldap`), the real `pecwatch` binary, the
//! registry on SQLite and on PostgreSQL.
//!
//! What this proves: OpenLDAP loads the schema in both forms and they are the same; the
//! directory enforces it (MUST attributes, the Certificate syntax and its `;binary`
//! transfer); the export's entry is accepted and reads back with exactly the published
//! domains, the certificate's DER byte for byte and its SHA-1; the matching rules work
//! (`managedDomains` and the hash match ignoring case); and a later export, applied with
//! `ldapmodify` (replace), brings the entry up to date.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use jiff::Timestamp;
use pecwatch::Lang;
use pecwatch::index::{certificate_hash, parse_attributes};
use pecwatch::lifecycle::{DomainStatus, State};
use pecwatch::name::DomainName;
use pecwatch::registry::{Holder, NewDomain};

use crate::support::db::{TestDb, on_both};
use crate::support::ldap::{Slapd, convert_classic_schema, schema_entry};

/// The instant every command runs at (`PECWATCH_NOW`).
const NOW: &str = "2026-11-23T10:00:00+01:00";
/// The index's base DN: `[index] base_dn`'s default.
const BASE_DN: &str = "o=postacert";
/// The entry the export writes.
const ENTRY_DN: &str = "providerName=Esempio PEC S.p.A.,o=postacert";

/// The test certificate (see `tests/integration/index_cli.rs`).
fn certificate() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/index/provider.pem")
}

/// `pecwatch ARGS` on `db` at [`NOW`], with a complete `[index]` from the environment
/// (and the base DN left at its default).
fn pecwatch(db: &TestDb, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_pecwatch"))
        .args(args)
        .current_dir(std::env::temp_dir())
        .env_remove("PECWATCH_CONFIG")
        .env_remove("PECWATCH_INDEX_BASE_DN")
        .env("PECWATCH_DATABASE_URL", &db.url)
        .env("PECWATCH_NOW", NOW)
        .env("PECWATCH_LOG", "warn")
        .env("PECWATCH_INDEX_PROVIDER_NAME", "Esempio PEC S.p.A.")
        .env("PECWATCH_INDEX_PROVIDER_UNIT", "Servizio PEC")
        .env("PECWATCH_INDEX_DESCRIPTION", "Gestore PEC di prova")
        .env(
            "PECWATCH_INDEX_MAIL_RECEIPT",
            "posta-certificata@pec.esempio.it",
        )
        .env("PECWATCH_INDEX_CERTIFICATE", certificate())
        .env(
            "PECWATCH_INDEX_LDIF_URL",
            "https://www.esempio.it/pec/provider.ldif",
        )
        .output()
        .expect("run pecwatch");
    assert!(
        output.status.success(),
        "pecwatch {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Registers `domain` as certified through the command line.
fn add(db: &TestDb, domain: &str) {
    let holder = format!("admin@{domain}");
    pecwatch(db, &["domains", "add", domain, "--holder-email", &holder]);
}

/// Registers `domain` directly in `state` (states the command line cannot reach alone).
async fn seed(db: &TestDb, domain: &str, state: State) {
    let now: Timestamp = NOW.parse().expect("instant");
    let new = NewDomain {
        name: DomainName::parse(domain).expect("name"),
        holder: Holder {
            name: None,
            email: format!("admin@{domain}"),
            lang: Lang::It,
        },
        reseller: None,
        profile: "aruba".into(),
        exception: Vec::new(),
        status: DomainStatus::new(state, now, Some("2027-06-30T21:59:59Z".parse().expect("t"))),
        next_check: now,
    };
    db.registry
        .add_domain(new, now)
        .await
        .expect("add the domain");
}

/// `index export --output FILE` and the LDIF written.
fn export(db: &TestDb, file: &Path) -> String {
    pecwatch(
        db,
        &["index", "export", "--output", &file.display().to_string()],
    );
    std::fs::read_to_string(file).expect("the exported LDIF")
}

/// An `ldapmodify` record replacing every attribute of the exported entry with the
/// export's values (all but `objectClass` and the RDN's `providerName`), values base64.
fn replace_all(ldif: &str) -> String {
    let attributes = parse_attributes(ldif);
    let dn = attributes
        .iter()
        .find(|(name, _)| name == "dn")
        .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
        .expect("dn");
    let mut names: Vec<&str> = Vec::new();
    for (name, _) in &attributes {
        if !["dn", "objectClass", "providerName"].contains(&name.as_str())
            && !names.contains(&name.as_str())
        {
            names.push(name);
        }
    }
    let mut record = format!("dn: {dn}\nchangetype: modify\n");
    for name in names {
        record.push_str(&format!("replace: {name}\n"));
        for (_, value) in attributes.iter().filter(|(n, _)| n == name) {
            record.push_str(&format!("{name}:: {}\n", BASE64.encode(value)));
        }
        record.push_str("-\n");
    }
    record
}

/// The values of `name` (options such as `;binary` ignored) in an LDIF.
fn values(attributes: &[(String, Vec<u8>)], name: &str) -> Vec<Vec<u8>> {
    attributes
        .iter()
        .filter(|(n, _)| n.split(';').next() == Some(name))
        .map(|(_, v)| v.clone())
        .collect()
}

fn strings(attributes: &[(String, Vec<u8>)], name: &str) -> Vec<String> {
    let mut found: Vec<String> = values(attributes, name)
        .into_iter()
        .map(|v| String::from_utf8(v).expect("UTF-8 value"))
        .collect();
    found.sort();
    found
}

/// `openssl` on the fixture: the SHA-1 fingerprint (hex, no colons) and the DER.
fn openssl_fingerprint_and_der() -> (String, Vec<u8>) {
    let run = |args: &[&str]| {
        let output = Command::new("openssl")
            .args(args)
            .arg("-in")
            .arg(certificate())
            .output()
            .expect("run openssl");
        assert!(output.status.success(), "openssl {args:?}: {output:?}");
        output.stdout
    };
    let fingerprint = run(&["x509", "-noout", "-fingerprint", "-sha1"]);
    let fingerprint = String::from_utf8_lossy(&fingerprint);
    let hex = fingerprint
        .trim()
        .rsplit('=')
        .next()
        .expect("fingerprint")
        .replace(':', "");
    (hex, run(&["x509", "-outform", "DER"]))
}

/// The DNs an LDAP search returned.
fn dns(search: &str) -> Vec<String> {
    strings(&parse_attributes(search), "dn")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn openldap_loads_the_rfc_6109_schema_in_both_forms_and_enforces_it() {
    let slapd = Slapd::start(BASE_DN);

    // schema/rfc6109.ldif (loaded by slapadd) and schema/rfc6109.schema (converted by
    // slaptest) give slapd the same definitions.
    let from_ldif = schema_entry(&slapd.config_dir());
    assert_eq!(from_ldif, convert_classic_schema());
    for (oid, name) in [
        ("1.3.6.1.4.1.16572.2.2.1", "providerCertificateHash"),
        ("1.3.6.1.4.1.16572.2.2.2", "providerCertificate"),
        ("1.3.6.1.4.1.16572.2.2.3", "providerName"),
        ("1.3.6.1.4.1.16572.2.2.4", "mailReceipt"),
        ("1.3.6.1.4.1.16572.2.2.5", "managedDomains"),
        ("1.3.6.1.4.1.16572.2.2.6", "LDIFLocationURL"),
        ("1.3.6.1.4.1.16572.2.2.7", "providerUnit"),
        ("1.3.6.1.4.1.16572.2.1.1", "LDIFLocationURLObject"),
        ("1.3.6.1.4.1.16572.2.1.2", "provider"),
    ] {
        assert!(
            from_ldif.contains(&format!("( {oid} NAME '{name}' ")),
            "{oid} {name} missing from:\n{from_ldif}"
        );
    }

    // The fixture certificate's DER in a file, for `attribute:< file://` lines.
    let files = tempfile::tempdir().expect("temporary directory");
    let der_file = files.path().join("provider.der");
    std::fs::write(&der_file, openssl_fingerprint_and_der().1).expect("write the DER");
    let entry = |extra: &str| {
        format!(
            "dn: providerName=Prova,{BASE_DN}\nobjectClass: provider\nproviderName: Prova\n\
             mailReceipt: posta-certificata@pec.prova.it\n\
             providerCertificateHash: 00\n{extra}"
        )
    };
    let certificate = format!(
        "providerCertificate;binary:< file://{}\n",
        der_file.display()
    );

    // MUST: an entry without managedDomains is refused.
    let refused = slapd.ldapadd(&entry(&certificate));
    assert_eq!(refused.status.code(), Some(65), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("requires attribute 'managedDomains'"),
        "{}",
        stderr(&refused)
    );
    // The Certificate syntax: only with ;binary, and only a certificate.
    let without_binary = format!("providerCertificate:< file://{}\n", der_file.display());
    let refused = slapd.ldapadd(&entry(&format!(
        "{without_binary}managedDomains: pec.prova.it\n"
    )));
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("requires ;binary transfer"),
        "{}",
        stderr(&refused)
    );
    let refused = slapd.ldapadd(&entry(
        "providerCertificate;binary:: bm90IGEgY2VydGlmaWNhdGU=\nmanagedDomains: pec.prova.it\n",
    ));
    assert_eq!(refused.status.code(), Some(21), "{}", stderr(&refused));
    // Everything there: accepted.
    let accepted = slapd.ldapadd(&entry(&format!(
        "{certificate}managedDomains: pec.prova.it\n"
    )));
    slapd.expect_success(&accepted, "ldapadd of a complete provider entry");
    assert_eq!(
        dns(&slapd.search("(managedDomains=PEC.Prova.IT)", &["dn"])),
        [format!("providerName=Prova,{BASE_DN}")]
    );
}

#[tokio::test]
async fn the_index_export_loads_into_openldap_and_a_later_export_updates_it() {
    on_both(|db| async move {
        add(&db, "pec.zeta.it");
        add(&db, "pec.alfa.it");
        seed(&db, "pec.errore.it", State::InError).await;
        seed(&db, "pec.rimosso.it", State::Removed).await;
        seed(&db, "pec.revisione.it", State::UnderReview).await;
        seed(&db, "pec.attesa.it", State::PendingDns).await;
        let dir = tempfile::tempdir().expect("temporary directory");
        let first = export(&db, &dir.path().join("provider.ldif"));
        assert!(
            first.contains(&format!("\ndn: {ENTRY_DN}\n")),
            "the base DN is the default {BASE_DN}: {first}"
        );

        let slapd = Slapd::start(BASE_DN);
        let added = slapd.ldapadd(&first);
        slapd.expect_success(&added, "ldapadd of the index export");

        let entry = parse_attributes(&slapd.search("(objectClass=provider)", &[]));
        assert_eq!(strings(&entry, "dn"), [ENTRY_DN]);
        assert_eq!(strings(&entry, "objectClass"), ["provider", "top"]);
        assert_eq!(
            strings(&entry, "managedDomains"),
            ["pec.alfa.it", "pec.errore.it", "pec.zeta.it"],
            "exactly the certified and in_error domains"
        );
        assert_eq!(strings(&entry, "providerName"), ["Esempio PEC S.p.A."]);
        assert_eq!(strings(&entry, "providerUnit"), ["Servizio PEC"]);
        assert_eq!(strings(&entry, "description"), ["Gestore PEC di prova"]);
        assert_eq!(
            strings(&entry, "mailReceipt"),
            ["posta-certificata@pec.esempio.it"]
        );
        assert_eq!(
            strings(&entry, "LDIFLocationURL"),
            ["https://www.esempio.it/pec/provider.ldif"]
        );
        let (fingerprint, der) = openssl_fingerprint_and_der();
        let stored = values(&entry, "providerCertificate");
        assert_eq!(
            stored,
            std::slice::from_ref(&der),
            "the certificate's DER, byte for byte"
        );
        assert_eq!(
            strings(&entry, "providerCertificateHash"),
            std::slice::from_ref(&fingerprint)
        );
        assert_eq!(certificate_hash(&stored[0]), fingerprint);

        // The matching rules: domains and the hash compare ignoring case; a removed
        // domain is not there.
        assert_eq!(
            dns(&slapd.search("(managedDomains=PEC.ALFA.IT)", &["dn"])),
            [ENTRY_DN]
        );
        let lower = format!("(providerCertificateHash={})", fingerprint.to_lowercase());
        assert_eq!(dns(&slapd.search(&lower, &["dn"])), [ENTRY_DN]);
        for gone in ["pec.rimosso.it", "pec.revisione.it", "pec.attesa.it"] {
            let filter = format!("(managedDomains={gone})");
            assert!(dns(&slapd.search(&filter, &["dn"])).is_empty(), "{gone}");
        }

        // A removal and a new certified domain: the next export, applied with
        // ldapmodify (replace), brings the directory up to date.
        pecwatch(
            &db,
            &["domains", "remove", "pec.alfa.it", "--reason", "test"],
        );
        add(&db, "pec.nuovo.it");
        let second = export(&db, &dir.path().join("provider.ldif"));
        assert_ne!(second, first);
        let modified = slapd.ldapmodify(&replace_all(&second));
        slapd.expect_success(&modified, "ldapmodify with the second export");
        let entry = parse_attributes(&slapd.search("(objectClass=provider)", &[]));
        assert_eq!(
            strings(&entry, "managedDomains"),
            ["pec.errore.it", "pec.nuovo.it", "pec.zeta.it"]
        );
        assert_eq!(values(&entry, "providerCertificate"), [der]);
        assert!(
            dns(&slapd.search("(managedDomains=pec.alfa.it)", &["dn"])).is_empty(),
            "the removed domain left the directory"
        );
        assert_eq!(
            dns(&slapd.search("(managedDomains=pec.nuovo.it)", &["dn"])),
            [ENTRY_DN]
        );
    })
    .await;
}

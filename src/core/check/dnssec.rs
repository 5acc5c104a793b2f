//! The DNSSEC rules: `DNSSEC_NON_VALIDO` when the MX or an MX target's address does not
//! validate (validating senders get SERVFAIL and cannot deliver), `DNSSEC_IN_SCADENZA`
//! when everything validates but a signature on the path expires soon. The profile's
//! `dnssec` policy lowers the error to a warning or turns the rules off.

use std::fmt::Write as _;

use hickory_proto::rr::RecordType;

use super::Draft;
use super::context::Context;
use crate::check::observation::fqdn;
use crate::check::observation::{Bogus, ChainLink, DsInfo, KeyInfo, Security, SigInfo, Validation};
use crate::finding::{Code, Evidence, Fix, FixCase, Text};
use crate::name::display_name;
use crate::profile::DnssecPolicy;

/// The DNSSEC findings of a name whose zone was found.
pub(super) fn findings(cx: &Context<'_>) -> Vec<Draft> {
    let Some(dnssec) = &cx.observation.dnssec else {
        return Vec::new();
    };
    if cx.profile.dnssec == DnssecPolicy::Off {
        return Vec::new();
    }
    let lowered = cx.profile.dnssec == DnssecPolicy::Warning;
    let mut out = Vec::new();
    for validation in std::iter::once(&dnssec.mx).chain(&dnssec.targets) {
        match &validation.security {
            Security::Bogus { bogus, server } => {
                out.push(not_valid(cx, validation, bogus, *server).lowered(lowered));
            }
            Security::Indeterminate {
                transient: true,
                detail,
            } => out.push(undecided(cx, validation, detail).lowered(lowered)),
            Security::Secure {
                first_expiring: Some(signature),
            } if signature.expiration - dnssec.validated_at < dnssec.expiry_warning => {
                out.push(expiring(validation, signature, dnssec.validated_at));
            }
            _ => {}
        }
    }
    out
}

/// What the validated RRset is, in words: the name's MX, or a target's address.
fn subject(validation: &Validation) -> Text {
    let name = display_name(&validation.name);
    if validation.rtype == RecordType::MX {
        Text::new(
            format!("Il record MX di {name}"),
            format!("The MX record of {name}"),
        )
    } else {
        Text::new(
            format!("L'indirizzo (record {}) di {name}", validation.rtype),
            format!("The address ({} record) of {name}", validation.rtype),
        )
    }
}

/// An instant as shown to people (UTC).
fn when(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| seconds.to_string())
}

fn tags_of_ds(ds: &[DsInfo]) -> String {
    let tags: Vec<String> = ds.iter().map(|d| d.key_tag.to_string()).collect();
    tags.join(", ")
}

fn tags_of_keys(keys: &[KeyInfo]) -> String {
    if keys.is_empty() {
        return "-".into();
    }
    let tags: Vec<String> = keys.iter().map(|k| k.key_tag.to_string()).collect();
    tags.join(", ")
}

/// The reason in words, and the action that fixes it.
struct Diagnosis {
    reason: Text,
    fix: Fix,
}

fn dnssec_fix(zone: &str, note: Text) -> Fix {
    Fix {
        case: FixCase::Dnssec,
        zone: zone.trim_end_matches('.').to_string(),
        add: Vec::new(),
        remove: Vec::new(),
        note: Some(note),
    }
}

/// The reason in words, and the action that fixes it, of each way a chain is bogus.
fn diagnose(bogus: &Bogus) -> Diagnosis {
    match bogus {
        Bogus::NoDnskey { zone, ds } => no_dnskey(zone, ds),
        Bogus::NoKeyForDs { zone, ds, keys } => no_key_for_ds(zone, ds, keys),
        Bogus::Expired { signature } => expired(signature),
        Bogus::NotYetValid { signature } => not_yet_valid(signature),
        Bogus::BadSignature { signature } => bad_signature(signature),
        Bogus::UnknownKey { signature, keys } => unknown_key(signature, keys),
        Bogus::Unsigned { rrset, zone } => unsigned(rrset, zone),
        Bogus::NoDenialProof { name, zone } => no_denial_proof(name, zone),
    }
}

/// A DS at the registry for a zone that has no DNSKEY: the DS must go (or the zone be
/// signed again).
fn no_dnskey(zone: &str, ds: &[DsInfo]) -> Diagnosis {
    Diagnosis {
        reason: Text::new(
            format!(
                "il registro pubblica un DS per {zone} (chiave {}), ma la zona non è \
                 firmata: i suoi server non hanno nessuna DNSKEY",
                tags_of_ds(ds)
            ),
            format!(
                "the registry publishes a DS for {zone} (key {}), but the zone is not \
                 signed: its servers have no DNSKEY",
                tags_of_ds(ds)
            ),
        ),
        fix: Fix {
            case: FixCase::Registration,
            zone: zone.trim_end_matches('.').to_string(),
            add: Vec::new(),
            remove: ds
                .iter()
                .map(|d| {
                    format!(
                        "{zone} IN DS {} {} {} {}",
                        d.key_tag, d.algorithm, d.digest_type, d.digest
                    )
                })
                .collect(),
            note: Some(Text::new(
                format!(
                    "Togliere il DS di {zone} presso il registrar (la zona non è più \
                     firmata, ad esempio dopo il passaggio a un DNS che non firma), \
                     oppure firmare di nuovo la zona con la chiave indicata dal DS."
                ),
                format!(
                    "Remove the DS of {zone} at the registrar (the zone is no longer \
                     signed, e.g. after moving to a DNS host that does not sign), or \
                     sign the zone again with the key the DS names."
                ),
            )),
        },
    }
}

/// No DNSKEY matches the registry's DS.
fn no_key_for_ds(zone: &str, ds: &[DsInfo], keys: &[KeyInfo]) -> Diagnosis {
    Diagnosis {
        reason: Text::new(
            format!(
                "nessuna DNSKEY di {zone} (servite: {}) corrisponde al DS del registro \
                 (chiave {}, algoritmo e impronta)",
                tags_of_keys(keys),
                tags_of_ds(ds)
            ),
            format!(
                "no DNSKEY of {zone} (served: {}) matches the registry's DS (key {}, \
                 algorithm and digest)",
                tags_of_keys(keys),
                tags_of_ds(ds)
            ),
        ),
        fix: dnssec_fix(
            zone,
            Text::new(
                format!(
                    "Pubblicare nella zona {zone} la DNSKEY con tag {}, oppure sostituire \
                     il DS presso il registrar con quello di una chiave pubblicata \
                     ({}).",
                    tags_of_ds(ds),
                    tags_of_keys(keys)
                ),
                format!(
                    "Publish the DNSKEY with tag {} in zone {zone}, or replace the DS at \
                     the registrar with the DS of a published key ({}).",
                    tags_of_ds(ds),
                    tags_of_keys(keys)
                ),
            ),
        ),
    }
}

/// Signatures past their expiration.
fn expired(signature: &SigInfo) -> Diagnosis {
    Diagnosis {
        reason: Text::new(
            format!(
                "le firme di {} sono scadute il {}",
                signature.rrset,
                when(signature.expiration)
            ),
            format!(
                "the signatures of {} expired on {}",
                signature.rrset,
                when(signature.expiration)
            ),
        ),
        fix: dnssec_fix(
            &signature.signer,
            Text::new(
                format!(
                    "Firmare di nuovo la zona {} (le firme sono scadute il {}): il \
                     sistema che la firma si è fermato.",
                    signature.signer,
                    when(signature.expiration)
                ),
                format!(
                    "Re-sign zone {} (the signatures expired on {}): the system that \
                     signs it has stopped.",
                    signature.signer,
                    when(signature.expiration)
                ),
            ),
        ),
    }
}

/// Signatures not valid yet.
fn not_yet_valid(signature: &SigInfo) -> Diagnosis {
    Diagnosis {
        reason: Text::new(
            format!(
                "le firme di {} sono valide solo dal {}",
                signature.rrset,
                when(signature.inception)
            ),
            format!(
                "the signatures of {} are valid only from {}",
                signature.rrset,
                when(signature.inception)
            ),
        ),
        fix: dnssec_fix(
            &signature.signer,
            Text::new(
                format!(
                    "Firmare di nuovo la zona {} con un inizio di validità corretto \
                     (l'orologio del sistema che firma è avanti?).",
                    signature.signer
                ),
                format!(
                    "Re-sign zone {} with a correct start of validity (is the signing \
                     system's clock ahead?).",
                    signature.signer
                ),
            ),
        ),
    }
}

/// A signature that does not match its data.
fn bad_signature(signature: &SigInfo) -> Diagnosis {
    Diagnosis {
        reason: Text::new(
            format!(
                "la firma di {} (chiave {}) non corrisponde ai dati",
                signature.rrset, signature.key_tag
            ),
            format!(
                "the signature of {} (key {}) does not match the data",
                signature.rrset, signature.key_tag
            ),
        ),
        fix: dnssec_fix(
            &signature.signer,
            Text::new(
                format!(
                    "Firmare di nuovo la zona {}: i dati sono cambiati dopo la firma.",
                    signature.signer
                ),
                format!(
                    "Re-sign zone {}: the data changed after it was signed.",
                    signature.signer
                ),
            ),
        ),
    }
}

/// A signature by a key the zone does not publish.
fn unknown_key(signature: &SigInfo, keys: &[KeyInfo]) -> Diagnosis {
    Diagnosis {
        reason: Text::new(
            format!(
                "{} è firmato con la chiave {}, che la zona non pubblica (o che il DS \
                 non indica); chiavi pubblicate: {}",
                signature.rrset,
                signature.key_tag,
                tags_of_keys(keys)
            ),
            format!(
                "{} is signed with key {}, which the zone does not publish (or the DS \
                 does not name); published keys: {}",
                signature.rrset,
                signature.key_tag,
                tags_of_keys(keys)
            ),
        ),
        fix: dnssec_fix(
            &signature.signer,
            Text::new(
                format!(
                    "Pubblicare nella zona {} la DNSKEY con tag {}, oppure firmare di \
                     nuovo la zona con le chiavi pubblicate.",
                    signature.signer, signature.key_tag
                ),
                format!(
                    "Publish the DNSKEY with tag {} in zone {}, or re-sign the zone \
                     with the published keys.",
                    signature.key_tag, signature.signer
                ),
            ),
        ),
    }
}

/// An RRset without signatures in a signed zone.
fn unsigned(rrset: &str, zone: &str) -> Diagnosis {
    Diagnosis {
        reason: Text::new(
            format!("{rrset} non ha firme, ma la zona {zone} risulta firmata"),
            format!("{rrset} has no signature, but zone {zone} is signed"),
        ),
        fix: dnssec_fix(
            zone,
            Text::new(
                format!(
                    "Firmare di nuovo la zona {zone} su tutti i suoi server, oppure, se \
                     non deve più essere firmata, togliere il suo DS presso il registrar."
                ),
                format!(
                    "Re-sign zone {zone} on all its servers or, if it is no longer to be \
                     signed, remove its DS at the registrar."
                ),
            ),
        ),
    }
}

/// No signed proof that a delegation has no DS.
fn no_denial_proof(name: &str, zone: &str) -> Diagnosis {
    Diagnosis {
        reason: Text::new(
            format!("la zona {zone} non dimostra con NSEC/NSEC3 firmati che {name} non ha DS"),
            format!("zone {zone} does not prove with signed NSEC/NSEC3 that {name} has no DS"),
        ),
        fix: dnssec_fix(
            zone,
            Text::new(
                format!("Firmare di nuovo la zona {zone} (catena NSEC/NSEC3 completa)."),
                format!("Re-sign zone {zone} (a complete NSEC/NSEC3 chain)."),
            ),
        ),
    }
}

/// Whether the RRset is the provider's (its MX host): then the provider must act.
fn providers(cx: &Context<'_>, validation: &Validation) -> bool {
    validation.rtype != RecordType::MX && validation.name == cx.profile.mx_host.to_dns()
}

fn not_valid(
    cx: &Context<'_>,
    validation: &Validation,
    bogus: &Bogus,
    server: Option<std::net::IpAddr>,
) -> Draft {
    let what = subject(validation);
    let diagnosis = diagnose(bogus);
    let message = Text::new(
        format!(
            "{} non supera la verifica DNSSEC: {}. I server di posta dei mittenti che \
             verificano il DNSSEC ricevono SERVFAIL e non possono consegnare la posta \
             certificata.",
            what.it, diagnosis.reason.it
        ),
        format!(
            "{} does not validate with DNSSEC: {}. Senders whose mail servers validate \
             DNSSEC get SERVFAIL and cannot deliver certified mail.",
            what.en, diagnosis.reason.en
        ),
    );
    let mut fixes = Vec::new();
    if providers(cx, validation) {
        let zone = bogus
            .zone()
            .map(str::to_string)
            .or_else(|| bogus.signature().map(|s| s.signer.clone()))
            .unwrap_or_else(|| fqdn(&validation.name));
        fixes.push(dnssec_fix(
            &zone,
            Text::new(
                format!(
                    "Il problema è nella zona del gestore ({zone}), non in quella del \
                     cliente: contattare il gestore PEC ({}).",
                    cx.profile.name
                ),
                format!(
                    "The problem is in the provider's zone ({zone}), not the customer's: \
                     contact the PEC provider ({}).",
                    cx.profile.name
                ),
            ),
        ));
    }
    fixes.push(diagnosis.fix);
    let mut evidence = chain_evidence(&validation.chain);
    evidence.push(Evidence {
        server: None,
        address: server,
        query: format!("{} {} (DO)", fqdn(&validation.name), validation.rtype),
        outcome: format!("BOGUS: {}", diagnosis.reason.en),
    });
    Draft::new(
        Code::DNSSEC_NON_VALIDO,
        display_name(&validation.name),
        message,
    )
    .evidence(evidence)
    .fixes(fixes)
}

fn undecided(_cx: &Context<'_>, validation: &Validation, detail: &str) -> Draft {
    let what = subject(validation);
    let message = Text::new(
        format!(
            "{} non è stato possibile verificarlo con DNSSEC (nessuna risposta in tempo): \
             {detail}.",
            what.it
        ),
        format!(
            "{} could not be validated with DNSSEC (no answer in time): {detail}.",
            what.en
        ),
    );
    Draft::new(
        Code::DNSSEC_NON_VALIDO,
        display_name(&validation.name),
        message,
    )
    .evidence(chain_evidence(&validation.chain))
    .transient(true)
}

fn expiring(validation: &Validation, signature: &SigInfo, now: i64) -> Draft {
    let what = subject(validation);
    let hours = (signature.expiration - now).max(0) / 3600;
    let message = Text::new(
        format!(
            "{} è verificato con DNSSEC, ma la firma di {} scade il {} (tra {hours} ore): se \
             non viene rinnovata in tempo, i mittenti che verificano il DNSSEC non potranno \
             più consegnare la posta certificata.",
            what.it,
            signature.rrset,
            when(signature.expiration)
        ),
        format!(
            "{} validates, but the signature of {} expires on {} (in {hours} hours): unless \
             it is renewed in time, senders that validate DNSSEC will no longer be able to \
             deliver certified mail.",
            what.en,
            signature.rrset,
            when(signature.expiration)
        ),
    );
    let fix = dnssec_fix(
        &signature.signer,
        Text::new(
            format!(
                "Verificare che il sistema che firma la zona {} sia attivo e rinnovi le firme \
                 prima del {}.",
                signature.signer,
                when(signature.expiration)
            ),
            format!(
                "Check that the system signing zone {} is running and renews the signatures \
                 before {}.",
                signature.signer,
                when(signature.expiration)
            ),
        ),
    );
    let mut evidence = chain_evidence(&validation.chain);
    if let Some(answer) = &validation.signature {
        evidence.push(Evidence {
            server: None,
            address: validation.server,
            query: format!("{} {} (DO)", fqdn(&validation.name), validation.rtype),
            outcome: format!("SECURE: {}", signature_text(answer)),
        });
    }
    Draft::new(
        Code::DNSSEC_IN_SCADENZA,
        display_name(&validation.name),
        message,
    )
    .evidence(evidence)
    .fixes(vec![fix])
}

fn signature_text(signature: &SigInfo) -> String {
    format!(
        "RRSIG {} key {} alg {} valid {} → {}",
        signature.rrset,
        signature.key_tag,
        signature.algorithm,
        when(signature.inception),
        when(signature.expiration)
    )
}

/// One evidence line per zone on the path: its DS, its DNSKEYs, its signatures' windows.
fn chain_evidence(chain: &[ChainLink]) -> Vec<Evidence> {
    chain
        .iter()
        .map(|link| {
            let mut outcome = String::new();
            let ds: Vec<String> = link.ds.iter().map(ToString::to_string).collect();
            let _ = write!(
                outcome,
                "DS: {}; DNSKEY: {}",
                if ds.is_empty() {
                    "-".to_string()
                } else {
                    ds.join(", ")
                },
                if link.keys.is_empty() {
                    "-".to_string()
                } else {
                    link.keys
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            );
            for signature in &link.signatures {
                let _ = write!(outcome, "; {}", signature_text(signature));
            }
            Evidence {
                server: None,
                address: link.server,
                query: format!("{} DNSKEY (DO)", fqdn(&link.zone)),
                outcome,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use hickory_proto::rr::Name;

    use super::super::evaluate;
    use super::super::observation::{
        Observation, ServerObservation, TargetObservation, ZoneObservation,
    };
    use crate::check::observation::{
        Bogus, ChainLink, DnssecObservation, DsInfo, KeyInfo, Security, SigInfo, Validation,
    };
    use crate::check::observation::{Data, Outcome, Reply, Rr};
    use crate::finding::{Code, FixCase, Severity};
    use crate::name::DomainName;
    use crate::profile::{DnssecPolicy, Profile, parse_net};

    const NOW: i64 = 1_780_000_000;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn answer(records: Vec<Rr>) -> Reply {
        Reply {
            outcome: Outcome::Answer,
            answers: records,
            ..Reply::failed(Outcome::Answer, None)
        }
    }

    fn rr(owner: &str, data: Data) -> Rr {
        Rr {
            name: name(owner),
            ttl: 300,
            data,
        }
    }

    /// `pec.example.it`, correct for Aruba on two servers, with this DNSSEC observation.
    fn observation(dnssec: Option<DnssecObservation>) -> Observation {
        let soa = |serial| {
            answer(vec![rr(
                "example.it.",
                Data::Soa {
                    mname: name("ns1.example.it."),
                    rname: name("hostmaster.example.it."),
                    serial,
                },
            )])
        };
        let mx = answer(vec![rr(
            "pec.example.it.",
            Data::Mx {
                preference: 10,
                exchange: name("mx.pec.aruba.it."),
            },
        )]);
        let servers = ["192.0.2.1", "192.0.2.2"]
            .iter()
            .enumerate()
            .map(|(i, address)| ServerObservation {
                name: name(&format!("ns{}.example.it.", i + 1)),
                address: address.parse::<IpAddr>().unwrap(),
                public: true,
                soa: soa(1),
                mx: mx.clone(),
            })
            .collect();
        let ns = vec![name("ns1.example.it."), name("ns2.example.it.")];
        let a = answer(vec![rr(
            "mx.pec.aruba.it.",
            Data::A {
                address: "192.0.2.25".parse().unwrap(),
            },
        )]);
        Observation {
            domain: DomainName::parse("pec.example.it").unwrap(),
            resolver: None,
            zone: Ok(ZoneObservation {
                apex: name("example.it."),
                zone_ns: Some(ns.clone()),
                parent_ns: Some(ns),
                parent_apex: Some(name("it.")),
                servers,
                unresolved_ns: Vec::new(),
                targets: vec![TargetObservation {
                    name: name("mx.pec.aruba.it."),
                    a: Some(a),
                    aaaa: Some(Reply {
                        outcome: Outcome::NoData,
                        ..Reply::failed(Outcome::NoData, None)
                    }),
                }],
            }),
            dnssec,
        }
    }

    fn aruba(policy: DnssecPolicy) -> Profile {
        let mut profile = Profile::built_in("aruba").unwrap();
        profile.mail_addresses = vec![parse_net("192.0.2.25").unwrap()];
        profile.dnssec = policy;
        profile
    }

    fn signature(rrset: &str, signer: &str, expiration: i64) -> SigInfo {
        SigInfo {
            rrset: rrset.into(),
            signer: signer.into(),
            key_tag: 4242,
            algorithm: 13,
            inception: NOW - 86_400,
            expiration,
        }
    }

    fn link(zone: &str, expiration: i64) -> ChainLink {
        ChainLink {
            zone: name(zone),
            server: Some("192.0.2.1".parse().unwrap()),
            ds: vec![DsInfo {
                key_tag: 4242,
                algorithm: 13,
                digest_type: 2,
                digest: "AB".into(),
            }],
            keys: vec![KeyInfo {
                key_tag: 4242,
                algorithm: 13,
                flags: 257,
            }],
            signatures: vec![signature(&format!("{zone} DNSKEY"), zone, expiration)],
        }
    }

    fn validation(owner: &str, rtype: &str, security: Security) -> Validation {
        Validation {
            name: name(owner),
            rtype: rtype.parse().unwrap(),
            security,
            chain: vec![
                link(".", NOW + 30 * 86_400),
                link("example.it.", NOW + 20 * 86_400),
            ],
            signature: None,
            server: None,
        }
    }

    fn secure(owner: &str, rtype: &str, expiration: i64) -> Validation {
        let sig = signature(&format!("{owner} {rtype}"), "example.it.", expiration);
        let mut v = validation(
            owner,
            rtype,
            Security::Secure {
                first_expiring: Some(sig.clone()),
            },
        );
        v.signature = Some(sig);
        v
    }

    fn dnssec(mx: Validation, target: Validation) -> Option<DnssecObservation> {
        Some(DnssecObservation {
            validated_at: NOW,
            expiry_warning: 3 * 86_400,
            mx,
            targets: vec![target],
        })
    }

    fn orphan() -> Validation {
        validation(
            "pec.example.it.",
            "MX",
            Security::Bogus {
                bogus: Bogus::NoDnskey {
                    zone: "example.it.".into(),
                    ds: vec![DsInfo {
                        key_tag: 4242,
                        algorithm: 13,
                        digest_type: 2,
                        digest: "ABCD".into(),
                    }],
                },
                server: Some("192.0.2.1".parse().unwrap()),
            },
        )
    }

    fn target_ok() -> Validation {
        secure("mx.pec.aruba.it.", "A", NOW + 20 * 86_400)
    }

    #[test]
    fn secure_and_unchecked_names_have_no_dnssec_finding() {
        let profile = aruba(DnssecPolicy::Error);
        for observation in [
            observation(None),
            observation(dnssec(
                secure("pec.example.it.", "MX", NOW + 20 * 86_400),
                target_ok(),
            )),
            observation(dnssec(
                validation(
                    "pec.example.it.",
                    "MX",
                    Security::Indeterminate {
                        transient: false,
                        detail: "the trust anchor does not match".into(),
                    },
                ),
                target_ok(),
            )),
        ] {
            let findings = evaluate(&observation, &profile);
            assert!(findings.is_empty(), "{findings:#?}");
        }
    }

    #[test]
    fn an_orphan_ds_is_an_error_whose_fix_removes_the_ds() {
        let findings = evaluate(
            &observation(dnssec(orphan(), target_ok())),
            &aruba(DnssecPolicy::Error),
        );
        assert_eq!(findings.len(), 1, "{findings:#?}");
        let finding = &findings[0];
        assert_eq!(finding.code, Code::DNSSEC_NON_VALIDO);
        assert_eq!(finding.severity(), Severity::Error);
        assert!(!finding.transient);
        assert!(finding.message.it.contains("SERVFAIL"));
        assert!(finding.message.en.contains("no DNSKEY"));
        assert_eq!(finding.fixes[0].case, FixCase::Registration);
        assert_eq!(
            finding.fixes[0].remove,
            ["example.it. IN DS 4242 13 2 ABCD"]
        );
        // The chain (root and zone) and the failing answer are the evidence.
        assert_eq!(finding.evidence.len(), 3);
        assert!(
            finding.evidence[1]
                .outcome
                .contains("DS 4242 alg 13 digest 2")
        );
    }

    #[test]
    fn the_profile_may_lower_or_turn_off_the_error() {
        let observed = observation(dnssec(orphan(), target_ok()));
        let lowered = evaluate(&observed, &aruba(DnssecPolicy::Warning));
        assert_eq!(lowered.len(), 1);
        assert_eq!(lowered[0].code, Code::DNSSEC_NON_VALIDO);
        assert_eq!(lowered[0].severity(), Severity::Warning);
        assert!(evaluate(&observed, &aruba(DnssecPolicy::Off)).is_empty());
    }

    #[test]
    fn a_bogus_provider_target_asks_to_contact_the_provider() {
        let target = validation(
            "mx.pec.aruba.it.",
            "A",
            Security::Bogus {
                bogus: Bogus::Expired {
                    signature: signature("mx.pec.aruba.it. A", "aruba.it.", NOW - 3600),
                },
                server: None,
            },
        );
        let mx = secure("pec.example.it.", "MX", NOW + 20 * 86_400);
        let findings = evaluate(
            &observation(dnssec(mx, target)),
            &aruba(DnssecPolicy::Error),
        );
        assert_eq!(findings.len(), 1, "{findings:#?}");
        let finding = &findings[0];
        assert!(finding.message.en.contains("mx.pec.aruba.it"));
        assert!(finding.message.en.contains("expired"));
        let provider = finding.fixes[0].note.as_ref().unwrap();
        assert!(provider.it.contains("contattare il gestore PEC (aruba)"));
        assert_eq!(finding.fixes[0].zone, "aruba.it");
        assert!(
            finding.fixes[1]
                .note
                .as_ref()
                .unwrap()
                .en
                .contains("Re-sign zone aruba.it.")
        );
    }

    #[test]
    fn timeouts_are_transient_and_expiring_signatures_warn() {
        let undecided = validation(
            "pec.example.it.",
            "MX",
            Security::Indeterminate {
                transient: true,
                detail: "example.it. DNSKEY: TIMEOUT".into(),
            },
        );
        let findings = evaluate(
            &observation(dnssec(undecided, target_ok())),
            &aruba(DnssecPolicy::Error),
        );
        assert_eq!(findings.len(), 1);
        assert!(findings[0].transient);
        assert_eq!(findings[0].severity(), Severity::Error);

        let soon = secure("pec.example.it.", "MX", NOW + 2 * 86_400);
        let findings = evaluate(
            &observation(dnssec(soon, target_ok())),
            &aruba(DnssecPolicy::Error),
        );
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!(findings[0].code, Code::DNSSEC_IN_SCADENZA);
        assert_eq!(findings[0].severity(), Severity::Warning);
        assert!(findings[0].message.en.contains("in 48 hours"));
        // Four days left: no warning.
        let later = secure("pec.example.it.", "MX", NOW + 4 * 86_400);
        let findings = evaluate(
            &observation(dnssec(later, target_ok())),
            &aruba(DnssecPolicy::Error),
        );
        assert!(findings.is_empty(), "{findings:#?}");
    }
}

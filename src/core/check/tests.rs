//! Tests of [`evaluate`]: observations built by hand, one scenario per behaviour.
//!
//! The baseline is a correct Aruba domain: `pec.example.it`, a record in zone
//! `example.it` served by `ns1.example.it` and `ns2.example.it`, MX `10 mx.pec.aruba.it.`
//! whose A record is the provider's address. Each test changes one thing.

use std::net::IpAddr;

use hickory_proto::rr::{Name, RecordType};

use super::observation::{
    Lookup, Observation, ServerObservation, TargetObservation, ZoneFailure, ZoneObservation,
};
use super::{Draft, evaluate, finish};
use crate::check::observation::{Data, Outcome, Reply, Rr};
use crate::finding::{Code, Finding, FixCase, Text};
use crate::name::DomainName;
use crate::profile::{Profile, parse_net};

const DOMAIN: &str = "pec.example.it";
const ARUBA_V4: &str = "192.0.2.25";
const ARUBA_V6: &str = "2001:db8:25::1";
const FOREIGN_V4: &str = "198.51.100.7";
const CORRECT_LINE: &str = "pec IN MX 10 mx.pec.aruba.it.";

// ---------------------------------------------------------------- builders

fn name(text: &str) -> Name {
    let text = if text.ends_with('.') {
        text.to_string()
    } else {
        format!("{text}.")
    };
    Name::from_ascii(text).expect("test name")
}

fn rr(owner: &str, data: Data) -> Rr {
    Rr {
        name: name(owner),
        ttl: 300,
        data,
    }
}

fn mx(owner: &str, preference: u16, exchange: &str) -> Rr {
    let exchange = if exchange == "." {
        Name::root()
    } else {
        name(exchange)
    };
    rr(
        owner,
        Data::Mx {
            preference,
            exchange,
        },
    )
}

fn a(owner: &str, address: &str) -> Rr {
    rr(
        owner,
        Data::A {
            address: address.parse().expect("ipv4"),
        },
    )
}

fn aaaa(owner: &str, address: &str) -> Rr {
    rr(
        owner,
        Data::Aaaa {
            address: address.parse().expect("ipv6"),
        },
    )
}

fn cname(owner: &str, target: &str) -> Rr {
    rr(
        owner,
        Data::Cname {
            target: name(target),
        },
    )
}

fn soa(owner: &str, serial: u32) -> Rr {
    rr(
        owner,
        Data::Soa {
            mname: name("ns1.example.it"),
            rname: name("hostmaster.example.it"),
            serial,
        },
    )
}

/// A reply that came back with `outcome` and these answer records.
fn reply(outcome: Outcome, answers: Vec<Rr>) -> Reply {
    Reply {
        outcome,
        answers,
        authority: Vec::new(),
        additional: Vec::new(),
        via_tcp: false,
        rcode: Some(0),
        detail: None,
    }
}

fn answer(answers: Vec<Rr>) -> Reply {
    reply(Outcome::Answer, answers)
}

fn nodata() -> Reply {
    reply(Outcome::NoData, Vec::new())
}

fn nxdomain() -> Reply {
    reply(Outcome::NxDomain, Vec::new())
}

fn failed(outcome: Outcome) -> Reply {
    Reply::failed(outcome, None)
}

/// The name's MX answer with these (preference, exchange) records.
fn mx_answer(records: &[(u16, &str)]) -> Reply {
    answer(
        records
            .iter()
            .map(|(preference, exchange)| mx(DOMAIN, *preference, exchange))
            .collect(),
    )
}

fn good_mx() -> Reply {
    mx_answer(&[(10, "mx.pec.aruba.it")])
}

/// A public server that answered the zone's SOA with `serial` and the name's MX with `mx`.
fn server(ns: &str, address: &str, serial: u32, mx: Reply) -> ServerObservation {
    ServerObservation {
        name: name(ns),
        address: address.parse().expect("address"),
        public: true,
        soa: answer(vec![soa("example.it", serial)]),
        mx,
    }
}

/// A server that failed both queries with `outcome`.
fn failing_server(ns: &str, address: &str, outcome: Outcome) -> ServerObservation {
    ServerObservation {
        name: name(ns),
        address: address.parse().expect("address"),
        public: true,
        soa: failed(outcome),
        mx: failed(outcome),
    }
}

/// A server with a private address that was not queried.
fn private_server(ns: &str, address: &str) -> ServerObservation {
    ServerObservation {
        name: name(ns),
        address: address.parse().expect("address"),
        public: false,
        soa: failed(Outcome::NotQueried),
        mx: failed(Outcome::NotQueried),
    }
}

fn target(exchange: &str, a: Reply, aaaa: Option<Reply>) -> TargetObservation {
    TargetObservation {
        name: name(exchange),
        a: Some(a),
        aaaa,
    }
}

fn aruba_target() -> TargetObservation {
    target(
        "mx.pec.aruba.it",
        answer(vec![a("mx.pec.aruba.it", ARUBA_V4)]),
        Some(answer(vec![aaaa("mx.pec.aruba.it", ARUBA_V6)])),
    )
}

/// A target with one A record and no AAAA.
fn target_at(exchange: &str, addresses: &[&str]) -> TargetObservation {
    let records = addresses.iter().map(|ip| a(exchange, ip)).collect();
    target(exchange, answer(records), Some(nodata()))
}

fn ns_names(names: &[&str]) -> Vec<Name> {
    names.iter().map(|n| name(n)).collect()
}

/// The correct baseline.
fn ok_zone() -> ZoneObservation {
    ZoneObservation {
        apex: name("example.it"),
        zone_ns: Some(ns_names(&["ns1.example.it", "ns2.example.it"])),
        parent_ns: Some(ns_names(&["ns1.example.it", "ns2.example.it"])),
        parent_apex: Some(name("it")),
        servers: vec![
            server("ns1.example.it", "198.51.100.1", 7, good_mx()),
            server("ns2.example.it", "198.51.100.2", 7, good_mx()),
        ],
        unresolved_ns: Vec::new(),
        targets: vec![aruba_target()],
    }
}

/// The baseline with both servers answering `records` and these targets.
fn zone_with_mx(records: &[(u16, &str)], targets: Vec<TargetObservation>) -> ZoneObservation {
    let mut zone = ok_zone();
    for server in &mut zone.servers {
        server.mx = mx_answer(records);
    }
    zone.targets = targets;
    zone
}

fn observation(zone: Result<ZoneObservation, ZoneFailure>) -> Observation {
    Observation {
        domain: DomainName::parse(DOMAIN).expect("domain"),
        resolver: Some("127.0.0.53:53".parse().expect("socket")),
        zone,
        dnssec: None,
    }
}

/// Aruba, with its mail addresses resolved as the prober would.
fn aruba() -> Profile {
    let mut profile = Profile::built_in("aruba").expect("aruba");
    profile.mail_addresses = ["192.0.2.25/32", "2001:db8:25::/48"]
        .iter()
        .filter_map(|net| parse_net(net))
        .collect();
    profile
}

/// Evaluates a zone for `pec.example.it` with Aruba's profile and checks the properties
/// every result must have.
fn check(zone: ZoneObservation) -> Vec<Finding> {
    check_with(observation(Ok(zone)), &aruba())
}

fn check_with(observation: Observation, profile: &Profile) -> Vec<Finding> {
    let findings = evaluate(&observation, profile);
    assert_well_formed(&findings, observation.domain.as_str());
    findings
}

/// Sorted, one per code and subject (checked through the messages), both languages
/// present and naming the domain.
fn assert_well_formed(findings: &[Finding], domain: &str) {
    for pair in findings.windows(2) {
        let key = |f: &Finding| (std::cmp::Reverse(f.severity()), f.code);
        assert!(key(&pair[0]) <= key(&pair[1]), "not sorted: {findings:#?}");
    }
    for finding in findings {
        let Text { it, en } = &finding.message;
        assert!(!it.is_empty() && !en.is_empty(), "{finding:#?}");
        assert!(it.contains(domain), "Italian text without the domain: {it}");
        assert!(en.contains(domain), "English text without the domain: {en}");
        assert!(it.starts_with(&finding.code.label()), "{it}");
        assert!(en.starts_with(&finding.code.label()), "{en}");
        assert_ne!(it, en, "the two languages are the same text");
        assert!(!finding.evidence.is_empty(), "no evidence: {finding:#?}");
        for fix in &finding.fixes {
            assert!(
                !fix.add.is_empty() || !fix.remove.is_empty() || fix.note.is_some(),
                "empty fix: {fix:#?}"
            );
        }
    }
}

fn codes(findings: &[Finding]) -> Vec<Code> {
    findings.iter().map(|f| f.code).collect()
}

fn only(findings: &[Finding], code: Code) -> &Finding {
    let matching: Vec<&Finding> = findings.iter().filter(|f| f.code == code).collect();
    assert_eq!(matching.len(), 1, "expected one {code}: {findings:#?}");
    matching[0]
}

// ---------------------------------------------------------------- a correct domain

#[test]
fn correct_domain_has_no_findings() {
    assert_eq!(check(ok_zone()), Vec::new());
}

#[test]
fn correct_domain_as_its_own_zone_has_no_findings() {
    let mut zone = ok_zone();
    zone.apex = name(DOMAIN);
    zone.parent_apex = Some(name("example.it"));
    assert_eq!(check(zone), Vec::new());
}

#[test]
fn infocert_domain_with_its_own_profile() {
    let mut profile = Profile::built_in("infocert").expect("infocert");
    profile.mail_addresses = vec![parse_net("192.0.2.26").expect("net")];
    let zone = zone_with_mx(
        &[(10, "mx.cert.legalmail.it")],
        vec![target_at("mx.cert.legalmail.it", &["192.0.2.26"])],
    );
    assert_eq!(
        check_with(observation(Ok(zone.clone())), &profile),
        Vec::new()
    );
    // The same domain against Aruba's profile points elsewhere.
    let findings = check(zone);
    assert_eq!(codes(&findings), vec![Code::A_NON_CORRETTO]);
}

// ---------------------------------------------------------------- the zone cannot be found

#[test]
fn zone_not_found_by_timeouts_is_transient() {
    let failure = ZoneFailure {
        lookups: vec![
            Lookup {
                name: name(DOMAIN),
                rtype: RecordType::SOA,
                reply: failed(Outcome::Timeout),
            },
            Lookup {
                name: name("example.it"),
                rtype: RecordType::SOA,
                reply: failed(Outcome::NetworkError),
            },
        ],
    };
    let findings = check_with(observation(Err(failure)), &aruba());
    let finding = only(&findings, Code::NS_NON_DEFINITO);
    assert!(finding.transient);
    assert_eq!(finding.evidence.len(), 2);
    assert_eq!(finding.evidence[0].server.as_deref(), Some("resolver"));
    assert_eq!(
        finding.evidence[0].address,
        Some("127.0.0.53".parse::<IpAddr>().expect("ip"))
    );
    assert_eq!(finding.evidence[0].query, "pec.example.it SOA");
    assert_eq!(finding.evidence[0].outcome, "TIMEOUT");
    assert!(finding.fixes.is_empty(), "nothing to fix yet: {finding:#?}");
}

#[test]
fn a_zone_search_that_stops_at_a_timeout_is_transient() {
    // The incident of a stalled resolver: the name's, its parent's and `it`'s lookups
    // timed out, the root's answered; the search ended there. Nothing was seen of the
    // name's servers: no verdict.
    let lookup = |owner: &str, reply: Reply| Lookup {
        name: name(owner),
        rtype: RecordType::SOA,
        reply,
    };
    let failure = ZoneFailure {
        lookups: vec![
            lookup(DOMAIN, failed(Outcome::Timeout)),
            lookup("example.it", failed(Outcome::Timeout)),
            lookup("it", failed(Outcome::Timeout)),
            lookup(".", answer(vec![soa(".", 1)])),
        ],
    };
    let findings = check_with(observation(Err(failure)), &aruba());
    let finding = only(&findings, Code::NS_NON_DEFINITO);
    assert!(finding.transient, "{finding:#?}");
    assert!(finding.message.en.contains("TIMEOUT, ANSWER"));
}

#[test]
fn a_zone_search_failed_by_the_resolver_is_transient() {
    // A resolver's SERVFAIL or REFUSED says that the resolver failed, not that the name's
    // servers did: they were never reached.
    for outcome in [Outcome::ServFail, Outcome::Refused, Outcome::NotQueried] {
        let failure = ZoneFailure {
            lookups: vec![
                Lookup {
                    name: name(DOMAIN),
                    rtype: RecordType::SOA,
                    reply: reply(outcome, Vec::new()),
                },
                Lookup {
                    name: name("example.it"),
                    rtype: RecordType::SOA,
                    reply: reply(Outcome::ServFail, Vec::new()),
                },
            ],
        };
        let findings = check_with(observation(Err(failure)), &aruba());
        assert!(
            only(&findings, Code::NS_NON_DEFINITO).transient,
            "{outcome}"
        );
    }
}

// ---------------------------------------------------------------- servers that cannot be asked

#[test]
fn private_servers_only_means_no_dns_and_one_warning_per_address() {
    let mut zone = ok_zone();
    zone.servers = vec![
        private_server("ns1.example.it", "10.0.0.1"),
        private_server("ns2.example.it", "192.168.1.2"),
        private_server("ns2.example.it", "fe80::2"),
    ];
    let findings = check(zone);
    assert_eq!(
        codes(&findings),
        vec![
            Code::NS_NON_DEFINITO,
            Code::NS_INDIRIZZO_NON_PUBBLICO,
            Code::NS_INDIRIZZO_NON_PUBBLICO,
            Code::NS_INDIRIZZO_NON_PUBBLICO,
        ]
    );
    let broken = only(&findings, Code::NS_NON_DEFINITO);
    assert!(!broken.transient);
    assert!(broken.message.it.contains("10.0.0.1"));
    let warning = &findings[1];
    assert_eq!(
        warning.evidence[0].server.as_deref(),
        Some("ns1.example.it")
    );
    assert_eq!(
        warning.evidence[0].address,
        Some("10.0.0.1".parse::<IpAddr>().expect("ip"))
    );
    assert!(warning.message.it.contains("10.0.0.1") && warning.message.en.contains("10.0.0.1"));
}

#[test]
fn a_private_server_beside_public_ones_is_only_a_warning() {
    let mut zone = ok_zone();
    zone.servers
        .push(private_server("ns3.example.it", "10.0.0.3"));
    let findings = check(zone);
    assert_eq!(codes(&findings), vec![Code::NS_INDIRIZZO_NON_PUBBLICO]);
}

#[test]
fn a_private_server_that_was_queried_is_not_reported() {
    let mut zone = ok_zone();
    zone.servers[0].public = false;
    assert_eq!(check(zone), Vec::new());
}

#[test]
fn name_servers_without_address_by_timeout_is_transient() {
    let mut zone = ok_zone();
    zone.servers.clear();
    zone.unresolved_ns = vec![
        (
            name("ns1.example.it"),
            vec![Lookup {
                name: name("ns1.example.it"),
                rtype: RecordType::A,
                reply: failed(Outcome::Timeout),
            }],
        ),
        (
            name("ns2.example.it"),
            vec![Lookup {
                name: name("ns2.example.it"),
                rtype: RecordType::A,
                reply: failed(Outcome::Timeout),
            }],
        ),
    ];
    let findings = check(zone.clone());
    let finding = only(&findings, Code::NS_NON_DEFINITO);
    assert!(finding.transient);
    assert_eq!(finding.evidence.len(), 2);
    // An NXDOMAIN for one server's name is definitive for that one, but the other may
    // have an address: still open.
    zone.unresolved_ns[1].1[0].reply = nxdomain();
    assert!(only(&check(zone.clone()), Code::NS_NON_DEFINITO).transient);
    // A resolver's SERVFAIL is no evidence either.
    zone.unresolved_ns[0].1[0].reply = reply(Outcome::ServFail, Vec::new());
    assert!(only(&check(zone.clone()), Code::NS_NON_DEFINITO).transient);
    // Both names settled without an address: definitive.
    zone.unresolved_ns[0].1[0].reply = nodata();
    assert!(!only(&check(zone), Code::NS_NON_DEFINITO).transient);
}

#[test]
fn zone_whose_servers_were_not_learned_is_transient() {
    // No server known at all: the lookups of the NS sets failed (a zone always has NS
    // records), so nothing is known about its servers.
    let mut zone = ok_zone();
    zone.servers.clear();
    zone.zone_ns = Some(Vec::new());
    zone.parent_ns = Some(Vec::new());
    let findings = check(zone);
    assert_eq!(codes(&findings), vec![Code::NS_NON_DEFINITO]);
    assert!(findings[0].transient);
}

// ---------------------------------------------------------------- servers that fail

#[test]
fn all_servers_time_out_is_transient_and_stops_there() {
    let mut zone = ok_zone();
    zone.servers = vec![
        failing_server("ns1.example.it", "198.51.100.1", Outcome::Timeout),
        failing_server("ns2.example.it", "198.51.100.2", Outcome::NetworkError),
    ];
    zone.targets.clear();
    let findings = check(zone);
    assert_eq!(codes(&findings), vec![Code::NS_NON_DEFINITO]);
    let finding = &findings[0];
    assert!(finding.transient);
    assert_eq!(finding.evidence.len(), 2);
    assert_eq!(finding.evidence[0].query, "pec.example.it MX");
    assert_eq!(finding.evidence[0].outcome, "TIMEOUT");
    assert!(
        finding
            .message
            .it
            .contains("ns1.example.it (198.51.100.1): TIMEOUT")
    );
}

#[test]
fn servfail_everywhere_is_not_transient() {
    let mut zone = ok_zone();
    zone.servers = vec![
        failing_server("ns1.example.it", "198.51.100.1", Outcome::ServFail),
        failing_server("ns2.example.it", "198.51.100.2", Outcome::ServFail),
    ];
    let findings = check(zone);
    assert_eq!(codes(&findings), vec![Code::NS_NON_DEFINITO]);
    assert!(!findings[0].transient);
    assert_eq!(findings[0].fixes[0].case, FixCase::Propagation);
}

#[test]
fn servfail_on_one_server_and_a_timeout_on_the_other_is_transient() {
    // Every server of the zone must fail definitively: the one that timed out may work.
    let mut zone = ok_zone();
    zone.servers = vec![
        failing_server("ns1.example.it", "198.51.100.1", Outcome::ServFail),
        failing_server("ns2.example.it", "198.51.100.2", Outcome::Timeout),
    ];
    let findings = check(zone.clone());
    assert_eq!(codes(&findings), vec![Code::NS_NON_DEFINITO]);
    assert!(findings[0].transient);
    // So may a third server whose address lookup timed out.
    zone.servers[1] = failing_server("ns2.example.it", "198.51.100.2", Outcome::Refused);
    zone.unresolved_ns = vec![(
        name("ns3.example.it"),
        vec![Lookup {
            name: name("ns3.example.it"),
            rtype: RecordType::A,
            reply: failed(Outcome::Timeout),
        }],
    )];
    assert!(check(zone.clone())[0].transient);
    zone.unresolved_ns[0].1[0].reply = nxdomain();
    assert!(!check(zone)[0].transient);
}

#[test]
fn a_referral_down_to_the_name_is_a_search_cut_short() {
    // The servers of example.it refer pec.example.it to servers of its own: the name is a
    // zone whose servers the search did not reach (a timeout on the way). Open.
    let mut zone = ok_zone();
    let mut referral = reply(Outcome::Referral, Vec::new());
    referral.authority = vec![rr(
        DOMAIN,
        Data::Ns {
            host: name("ns.pec.example.it"),
        },
    )];
    for server in &mut zone.servers {
        server.mx = referral.clone();
    }
    let findings = check(zone.clone());
    assert_eq!(codes(&findings), vec![Code::NS_NON_DEFINITO]);
    assert!(findings[0].transient);
    // An upward referral (a lame server sending to the root) is what the server says.
    for server in &mut zone.servers {
        server.mx.authority = vec![rr(
            ".",
            Data::Ns {
                host: name("a.root-servers.net"),
            },
        )];
    }
    assert!(!check(zone)[0].transient);
}

#[test]
fn non_authoritative_answers_everywhere_are_no_dns() {
    for outcome in [
        Outcome::Refused,
        Outcome::NotAuthoritative,
        Outcome::Referral,
        Outcome::Malformed,
        Outcome::OtherRcode,
    ] {
        let mut zone = ok_zone();
        for server in &mut zone.servers {
            server.mx = reply(outcome, Vec::new());
        }
        let findings = check(zone);
        assert_eq!(codes(&findings), vec![Code::NS_NON_DEFINITO], "{outcome}");
        assert!(!findings[0].transient, "{outcome}");
    }
}

#[test]
fn own_zone_whose_servers_fail_can_be_delegated_to_the_provider() {
    let mut zone = ok_zone();
    zone.apex = name(DOMAIN);
    zone.parent_apex = Some(name("example.it"));
    zone.servers = vec![
        failing_server("ns1.example.it", "198.51.100.1", Outcome::Refused),
        failing_server("ns2.example.it", "198.51.100.2", Outcome::Refused),
    ];
    let findings = check(zone);
    let finding = only(&findings, Code::NS_NON_DEFINITO);
    assert_eq!(finding.fixes[0].case, FixCase::Propagation);
    assert_eq!(finding.fixes[0].zone, "pec.example.it");
    let delegation = &finding.fixes[1];
    assert_eq!(delegation.case, FixCase::Delegation);
    assert_eq!(delegation.zone, "example.it");
    assert_eq!(delegation.add[0], "pec IN NS dns.technorail.com.");
    assert_eq!(
        delegation.remove,
        vec!["pec IN NS ns1.example.it.", "pec IN NS ns2.example.it."]
    );
}

#[test]
fn one_of_two_servers_times_out_is_transient_misalignment() {
    let mut zone = ok_zone();
    zone.servers[1] = failing_server("ns2.example.it", "198.51.100.2", Outcome::Timeout);
    let findings = check(zone);
    assert_eq!(codes(&findings), vec![Code::NS_NON_ALLINEATI]);
    let finding = &findings[0];
    assert!(finding.transient);
    assert_eq!(finding.evidence.len(), 2, "every server is listed");
    let fix = &finding.fixes[0];
    assert_eq!(fix.case, FixCase::Propagation);
    assert_eq!(fix.zone, "example.it");
    assert_eq!(fix.add, vec![CORRECT_LINE]);
    let note = fix.note.as_ref().expect("note");
    assert!(note.it.contains("ns2.example.it (198.51.100.2)") && note.it.contains("TIMEOUT"));
}

#[test]
fn refused_lame_server_is_not_transient() {
    let mut zone = ok_zone();
    zone.servers.push(failing_server(
        "lame.example.it",
        "198.51.100.4",
        Outcome::Refused,
    ));
    zone.servers.push(failing_server(
        "dead.example.it",
        "198.51.100.5",
        Outcome::Timeout,
    ));
    let findings = check(zone);
    assert_eq!(codes(&findings), vec![Code::NS_NON_ALLINEATI]);
    assert!(!findings[0].transient);
    assert_eq!(findings[0].evidence.len(), 4);
    assert!(
        findings[0]
            .message
            .en
            .contains("lame.example.it (198.51.100.4)")
    );
    assert!(findings[0].message.en.contains("REFUSED"));
}

// ---------------------------------------------------------------- servers that disagree

#[test]
fn stale_server_with_another_mx_set() {
    let mut zone = ok_zone();
    zone.servers[0].soa = answer(vec![soa("example.it", 2)]);
    zone.servers[1] = server(
        "ns3.example.it",
        "198.51.100.3",
        1,
        mx_answer(&[(10, "mail.example.it")]),
    );
    zone.targets
        .push(target_at("mail.example.it", &[FOREIGN_V4]));
    let findings = check(zone);
    assert_eq!(
        codes(&findings),
        vec![
            Code::A_NON_CORRETTO,
            Code::NS_NON_ALLINEATI,
            Code::SOA_SERIALI_DIVERSI
        ]
    );
    let misaligned = only(&findings, Code::NS_NON_ALLINEATI);
    assert!(!misaligned.transient);
    let note = misaligned.fixes[0].note.as_ref().expect("note");
    assert!(
        note.it.contains("ns3.example.it (198.51.100.3)")
            && note.it.contains("seriale 1, gli altri 2"),
        "{}",
        note.it
    );
    assert!(note.en.contains("serial 1, the others 2"), "{}", note.en);
    assert!(note.it.contains("MX 10 mail.example.it."));
    // The union of the MX sets is what the A checks see: the stale target is foreign.
    let wrong = only(&findings, Code::A_NON_CORRETTO);
    assert!(wrong.message.it.contains("mail.example.it (198.51.100.7)"));
    let serials = only(&findings, Code::SOA_SERIALI_DIVERSI);
    assert_eq!(serials.evidence.len(), 2);
    assert_eq!(serials.evidence[0].query, "example.it SOA");
    assert!(serials.evidence[1].outcome.contains("serial 1"));
}

#[test]
fn servers_disagree_on_existence() {
    let mut zone = ok_zone();
    zone.servers[1].mx = nxdomain();
    let findings = check(zone);
    assert_eq!(codes(&findings), vec![Code::NS_NON_ALLINEATI]);
    assert!(!findings[0].transient);
    assert!(findings[0].message.it.contains("NXDOMAIN"));
}

#[test]
fn nodata_on_one_server_is_a_disagreement_not_a_missing_mx() {
    let mut zone = ok_zone();
    zone.servers[1].mx = nodata();
    let findings = check(zone);
    assert_eq!(codes(&findings), vec![Code::NS_NON_ALLINEATI]);
}

#[test]
fn upper_case_exchanges_are_the_same_exchange() {
    let mut zone = ok_zone();
    zone.servers[0].mx = mx_answer(&[(10, "MX.PEC.ARUBA.IT")]);
    zone.servers[1].mx = mx_answer(&[(10, "Mx.Pec.Aruba.It")]);
    assert_eq!(check(zone.clone()), Vec::new());
    zone.targets = vec![target(
        "MX.Pec.ARUBA.it",
        answer(vec![a("MX.PEC.ARUBA.IT", ARUBA_V4)]),
        None,
    )];
    assert_eq!(check(zone), Vec::new());
}

#[test]
fn different_serials_alone_are_a_warning() {
    let mut zone = ok_zone();
    zone.servers[1].soa = answer(vec![soa("example.it", 8)]);
    let findings = check(zone);
    assert_eq!(codes(&findings), vec![Code::SOA_SERIALI_DIVERSI]);
    assert!(
        findings[0]
            .message
            .it
            .contains("ns2.example.it (198.51.100.2): seriale 8")
    );
    assert!(
        findings[0]
            .message
            .en
            .contains("ns2.example.it (198.51.100.2): serial 8")
    );
    assert!(findings[0].fixes.is_empty());
}

// ---------------------------------------------------------------- the name does not exist

#[test]
fn nxdomain_name_inside_the_zone() {
    let mut zone = ok_zone();
    for server in &mut zone.servers {
        server.mx = nxdomain();
    }
    zone.targets.clear();
    let findings = check(zone);
    assert_eq!(codes(&findings), vec![Code::NS_NON_DEFINITO]);
    let finding = &findings[0];
    assert!(!finding.transient);
    assert!(finding.message.en.contains("does not exist"));
    assert_eq!(finding.fixes[0].case, FixCase::ParentZone);
    assert_eq!(finding.fixes[0].zone, "example.it");
    assert_eq!(finding.fixes[0].add, vec![CORRECT_LINE]);
    assert!(finding.fixes[0].remove.is_empty());
    assert_eq!(finding.fixes[1].case, FixCase::Delegation);
    assert_eq!(
        finding.fixes[1].add,
        vec![
            "pec IN NS dns.technorail.com.",
            "pec IN NS dns2.technorail.com.",
            "pec IN NS dns3.arubadns.net.",
            "pec IN NS dns4.arubadns.cz.",
        ]
    );
}

#[test]
fn nxdomain_under_the_tld_asks_to_register_the_domain() {
    let zone = ZoneObservation {
        apex: name("it"),
        // One server and serials that differ: with no name, nothing more is said.
        zone_ns: Some(ns_names(&["a.nic.it"])),
        parent_ns: Some(ns_names(&["a.nic.it", "b.nic.it"])),
        parent_apex: Some(Name::root()),
        servers: vec![
            server("a.nic.it", "198.51.100.10", 1, nxdomain()),
            server("b.nic.it", "198.51.100.11", 2, nxdomain()),
        ],
        unresolved_ns: Vec::new(),
        targets: Vec::new(),
    };
    let findings = check(zone);
    assert_eq!(codes(&findings), vec![Code::NS_NON_DEFINITO]);
    assert!(
        findings[0]
            .message
            .it
            .contains("example.it non risulta registrato")
    );
    assert_eq!(findings[0].fixes.len(), 1);
    let fix = &findings[0].fixes[0];
    assert_eq!(fix.case, FixCase::Registration);
    assert_eq!(fix.zone, "example.it");
    assert_eq!(fix.add, vec![CORRECT_LINE]);
    assert!(fix.note.is_some());
}

#[test]
fn nxdomain_with_a_failing_server_is_only_no_dns() {
    let mut zone = ok_zone();
    zone.servers[0].mx = nxdomain();
    zone.servers[1] = failing_server("ns2.example.it", "198.51.100.2", Outcome::Timeout);
    let findings = check(zone);
    assert_eq!(codes(&findings), vec![Code::NS_NON_DEFINITO]);
    assert!(!findings[0].transient, "an authoritative NXDOMAIN is final");
    assert_eq!(
        findings[0].evidence.len(),
        2,
        "the failing server is listed too"
    );
}

#[test]
fn delegation_warnings_wait_until_the_dns_works() {
    let mut zone = ok_zone();
    zone.zone_ns = None;
    zone.parent_ns = Some(ns_names(&["dead.example.it"]));
    zone.servers = vec![failing_server(
        "dead.example.it",
        "198.51.100.5",
        Outcome::Timeout,
    )];
    zone.servers
        .push(private_server("ns9.example.it", "10.9.9.9"));
    let findings = check(zone);
    assert_eq!(
        codes(&findings),
        vec![Code::NS_NON_DEFINITO, Code::NS_INDIRIZZO_NON_PUBBLICO]
    );
    assert!(findings[0].transient);
}

// ---------------------------------------------------------------- the MX set

#[test]
fn no_mx_is_mx_non_definito() {
    let mut zone = ok_zone();
    for server in &mut zone.servers {
        server.mx = nodata();
    }
    zone.targets.clear();
    let findings = check(zone);
    assert_eq!(codes(&findings), vec![Code::MX_NON_DEFINITO]);
    let finding = &findings[0];
    assert!(!finding.transient);
    assert!(
        finding
            .message
            .it
            .contains("Serve il record «MX 10 mx.pec.aruba.it.».")
    );
    assert_eq!(finding.fixes[0].case, FixCase::ParentZone);
    assert_eq!(finding.fixes[0].add, vec![CORRECT_LINE]);
    assert!(finding.fixes[0].remove.is_empty());
    assert_eq!(finding.fixes[1].case, FixCase::Delegation);
}

#[test]
fn no_mx_with_a_timeout_elsewhere_is_still_a_missing_mx() {
    let mut zone = ok_zone();
    zone.servers[0].mx = nodata();
    zone.servers[1] = failing_server("ns2.example.it", "198.51.100.2", Outcome::Timeout);
    let findings = check(zone);
    assert_eq!(
        codes(&findings),
        vec![Code::MX_NON_DEFINITO, Code::NS_NON_ALLINEATI]
    );
    assert!(!findings[0].transient);
}

#[test]
fn only_a_null_mx_is_mx_non_definito() {
    let zone = zone_with_mx(&[(0, ".")], Vec::new());
    let findings = check(zone);
    assert_eq!(codes(&findings), vec![Code::MX_NON_DEFINITO]);
    assert!(findings[0].message.it.contains("RFC 7505"));
    assert!(findings[0].message.en.contains("null MX"));
    assert_eq!(findings[0].fixes[0].add, vec![CORRECT_LINE]);
    assert_eq!(findings[0].fixes[0].remove, vec!["pec IN MX 0 ."]);
}

#[test]
fn a_null_mx_among_others_is_an_invalid_target() {
    let zone = zone_with_mx(&[(0, "."), (10, "mx.pec.aruba.it")], vec![aruba_target()]);
    let findings = check(zone);
    assert_eq!(codes(&findings), vec![Code::A_NON_DEFINITO]);
    assert!(findings[0].message.en.contains("null MX"));
    assert!(
        findings[0].fixes[0].add.is_empty(),
        "the correct line is there"
    );
    assert_eq!(findings[0].fixes[0].remove, vec!["pec IN MX 0 ."]);
}

#[test]
fn ip_literal_exchange_is_not_a_host_name() {
    let zone = zone_with_mx(
        &[(10, "192.0.2.25")],
        vec![TargetObservation {
            name: name("192.0.2.25"),
            a: None,
            aaaa: None,
        }],
    );
    let findings = check(zone);
    assert_eq!(codes(&findings), vec![Code::A_NON_DEFINITO]);
    assert!(findings[0].message.it.contains("192.0.2.25"));
    assert!(findings[0].message.en.contains("not a host name"));
    assert_eq!(
        findings[0].fixes[0].remove,
        vec!["pec IN MX 10 192.0.2.25."]
    );
}

#[test]
fn mx_priority_is_a_warning_with_the_line_to_change() {
    let zone = zone_with_mx(&[(20, "mx.pec.aruba.it")], vec![aruba_target()]);
    let findings = check(zone);
    assert_eq!(codes(&findings), vec![Code::MX_PRIORITA]);
    let finding = &findings[0];
    assert!(finding.message.it.contains("priorità 20"));
    assert_eq!(finding.fixes[0].add, vec![CORRECT_LINE]);
    assert_eq!(
        finding.fixes[0].remove,
        vec!["pec IN MX 20 mx.pec.aruba.it."]
    );
}

// ---------------------------------------------------------------- the MX targets

#[test]
fn target_without_a_record_nxdomain_or_nodata() {
    for missing in [nxdomain(), nodata()] {
        let outcome = missing.outcome;
        let zone = zone_with_mx(
            &[(10, "mail.example.it")],
            vec![target("mail.example.it", missing, None)],
        );
        let findings = check(zone);
        assert_eq!(codes(&findings), vec![Code::A_NON_DEFINITO], "{outcome}");
        let finding = &findings[0];
        assert!(finding.message.it.contains(outcome.label()));
        assert_eq!(finding.evidence.len(), 2);
        assert_eq!(
            finding.evidence[0].server.as_deref(),
            Some("ns1.example.it")
        );
        assert_eq!(finding.evidence[1].server.as_deref(), Some("resolver"));
        assert_eq!(finding.evidence[1].query, "mail.example.it A");
        assert_eq!(finding.fixes[0].add, vec![CORRECT_LINE]);
        assert_eq!(
            finding.fixes[0].remove,
            vec!["pec IN MX 10 mail.example.it."]
        );
    }
}

#[test]
fn target_with_only_ipv6_has_no_a_record() {
    let zone = zone_with_mx(
        &[(10, "mail.example.it")],
        vec![target(
            "mail.example.it",
            nodata(),
            Some(answer(vec![aaaa("mail.example.it", "2001:db8::25")])),
        )],
    );
    assert_eq!(
        codes(&check(zone)),
        vec![Code::A_NON_DEFINITO, Code::AAAA_NON_CORRETTO]
    );
}

#[test]
fn target_timeout_is_transient_and_never_a_missing_record() {
    for outcome in [Outcome::Timeout, Outcome::NetworkError] {
        let zone = zone_with_mx(
            &[(10, "mx.pec.aruba.it")],
            vec![target(
                "mx.pec.aruba.it",
                failed(outcome),
                Some(failed(outcome)),
            )],
        );
        let findings = check(zone);
        assert_eq!(codes(&findings), vec![Code::NS_NON_DEFINITO], "{outcome}");
        assert!(findings[0].transient);
        assert!(findings[0].fixes.is_empty());
        assert!(findings[0].message.it.contains("mx.pec.aruba.it"));
    }
}

#[test]
fn target_servfail_is_transient_with_the_fix() {
    // A resolver's SERVFAIL may hide its own timeouts: no verdict on one check, but the
    // way out is shown.
    let zone = zone_with_mx(
        &[(10, "mail.example.it")],
        vec![target(
            "mail.example.it",
            reply(Outcome::ServFail, Vec::new()),
            None,
        )],
    );
    let findings = check(zone);
    assert_eq!(codes(&findings), vec![Code::NS_NON_DEFINITO]);
    assert!(findings[0].transient);
    assert_eq!(findings[0].fixes[0].add, vec![CORRECT_LINE]);
}

#[test]
fn target_not_looked_up_is_transient() {
    let zone = zone_with_mx(&[(10, "mx.pec.aruba.it")], Vec::new());
    let findings = check(zone);
    assert_eq!(codes(&findings), vec![Code::NS_NON_DEFINITO]);
    assert!(findings[0].transient);
}

#[test]
fn cname_to_an_allowed_address_is_only_an_alias_warning() {
    let zone = zone_with_mx(
        &[(10, "pecmx.example.it")],
        vec![target(
            "pecmx.example.it",
            answer(vec![
                cname("pecmx.example.it", "mx.pec.aruba.it"),
                a("mx.pec.aruba.it", ARUBA_V4),
            ]),
            None,
        )],
    );
    let findings = check(zone);
    assert_eq!(codes(&findings), vec![Code::MX_ALIAS]);
    let finding = &findings[0];
    assert!(!finding.transient);
    assert!(
        finding
            .message
            .it
            .contains("alias (CNAME) di mx.pec.aruba.it")
    );
    assert_eq!(finding.fixes[0].add, vec![CORRECT_LINE]);
    assert_eq!(
        finding.fixes[0].remove,
        vec!["pec IN MX 10 pecmx.example.it."]
    );
}

#[test]
fn cname_to_a_foreign_address_is_wrong_too() {
    let zone = zone_with_mx(
        &[(10, "pecmx.example.it")],
        vec![target(
            "pecmx.example.it",
            answer(vec![
                cname("pecmx.example.it", "mail.example.it"),
                a("mail.example.it", FOREIGN_V4),
            ]),
            None,
        )],
    );
    let findings = check(zone);
    assert_eq!(codes(&findings), vec![Code::A_NON_CORRETTO, Code::MX_ALIAS]);
}

#[test]
fn cname_to_nothing_is_a_missing_address() {
    let zone = zone_with_mx(
        &[(10, "pecmx.example.it")],
        vec![target(
            "pecmx.example.it",
            reply(
                Outcome::NxDomain,
                vec![cname("pecmx.example.it", "gone.example.it")],
            ),
            None,
        )],
    );
    let findings = check(zone);
    assert_eq!(codes(&findings), vec![Code::A_NON_DEFINITO, Code::MX_ALIAS]);
}

#[test]
fn hybrid_mx_set_flags_only_the_foreign_target() {
    let zone = zone_with_mx(
        &[(10, "mx.pec.aruba.it"), (20, "mail.example.it")],
        vec![aruba_target(), target_at("mail.example.it", &[FOREIGN_V4])],
    );
    let findings = check(zone);
    assert_eq!(
        codes(&findings),
        vec![Code::A_NON_CORRETTO, Code::MX_PRIORITA]
    );
    assert!(
        findings[1]
            .message
            .it
            .contains("verso mail.example.it ha priorità 20")
    );
    let finding = &findings[0];
    assert_eq!(
        finding.message.it,
        "A NON CORRETTO: il record MX di pec.example.it punta a mail.example.it (198.51.100.7), che non è un server di posta PEC di Aruba (mx.pec.aruba.it)."
    );
    assert_eq!(finding.evidence[1].query, "mail.example.it A");
    assert_eq!(
        finding.evidence[1].outcome,
        "ANSWER: mail.example.it A 198.51.100.7"
    );
    assert!(finding.fixes[0].add.is_empty());
    assert_eq!(
        finding.fixes[0].remove,
        vec!["pec IN MX 20 mail.example.it."]
    );
    assert_eq!(finding.fixes[1].case, FixCase::Delegation);
    assert_eq!(
        finding.fixes[1].remove,
        vec![CORRECT_LINE, "pec IN MX 20 mail.example.it."]
    );
}

#[test]
fn two_addresses_one_foreign() {
    let zone = zone_with_mx(
        &[(10, "mail.example.it")],
        vec![target_at("mail.example.it", &[ARUBA_V4, FOREIGN_V4])],
    );
    let findings = check(zone);
    assert_eq!(
        codes(&findings),
        vec![Code::A_NON_CORRETTO, Code::A_MULTIPLI]
    );
    let wrong = only(&findings, Code::A_NON_CORRETTO);
    assert!(
        wrong.message.it.contains("(198.51.100.7)"),
        "only the foreign one"
    );
    let multiple = only(&findings, Code::A_MULTIPLI);
    assert!(
        multiple
            .message
            .it
            .contains("2 record A (192.0.2.25, 198.51.100.7)")
    );
}

#[test]
fn two_allowed_addresses_are_still_multiple() {
    let mut profile = aruba();
    profile.mail_addresses = vec![parse_net("192.0.2.0/24").expect("net")];
    let zone = zone_with_mx(
        &[(10, "mail.example.it")],
        vec![target_at("mail.example.it", &["192.0.2.25", "192.0.2.26"])],
    );
    let findings = check_with(observation(Ok(zone)), &profile);
    assert_eq!(codes(&findings), vec![Code::A_MULTIPLI]);
    assert_eq!(findings[0].fixes[0].add, vec![CORRECT_LINE]);
    assert_eq!(
        findings[0].fixes[0].remove,
        vec!["pec IN MX 10 mail.example.it."]
    );
}

#[test]
fn the_providers_own_host_may_have_several_addresses() {
    let mut profile = aruba();
    profile.mail_addresses = vec![parse_net("192.0.2.0/24").expect("net")];
    let zone = zone_with_mx(
        &[(10, "mx.pec.aruba.it")],
        vec![target_at("mx.pec.aruba.it", &["192.0.2.25", "192.0.2.26"])],
    );
    assert_eq!(check_with(observation(Ok(zone)), &profile), Vec::new());
}

#[test]
fn duplicate_a_records_count_once() {
    let zone = zone_with_mx(
        &[(10, "mx.pec.aruba.it")],
        vec![target_at("mx.pec.aruba.it", &[ARUBA_V4, ARUBA_V4])],
    );
    assert_eq!(check(zone), Vec::new());
}

#[test]
fn extra_addresses_are_allowed() {
    let zone = zone_with_mx(
        &[(10, "mail.example.it")],
        vec![target_at("mail.example.it", &[FOREIGN_V4])],
    );
    assert_eq!(codes(&check(zone.clone())), vec![Code::A_NON_CORRETTO]);
    let mut profile = aruba();
    profile.extra_addresses = vec![parse_net("198.51.100.0/24").expect("net")];
    assert_eq!(check_with(observation(Ok(zone)), &profile), Vec::new());
}

#[test]
fn ipv6_allowed_through_a_cidr() {
    let zone = zone_with_mx(
        &[(10, "mx.pec.aruba.it")],
        vec![target(
            "mx.pec.aruba.it",
            answer(vec![a("mx.pec.aruba.it", ARUBA_V4)]),
            Some(answer(vec![
                aaaa("mx.pec.aruba.it", "2001:db8:25::1"),
                aaaa("mx.pec.aruba.it", "2001:db8:25:ffff::9"),
            ])),
        )],
    );
    assert_eq!(check(zone), Vec::new());
}

#[test]
fn foreign_ipv6_is_a_warning_with_the_aaaa_lines_to_remove() {
    let mut profile = aruba();
    profile.extra_addresses = vec![parse_net("198.51.100.7").expect("net")];
    let zone = zone_with_mx(
        &[(10, "mail.example.it")],
        vec![target(
            "mail.example.it",
            answer(vec![a("mail.example.it", FOREIGN_V4)]),
            Some(answer(vec![aaaa("mail.example.it", "2001:db8:99::1")])),
        )],
    );
    let findings = check_with(observation(Ok(zone)), &profile);
    assert_eq!(codes(&findings), vec![Code::AAAA_NON_CORRETTO]);
    let finding = &findings[0];
    assert!(finding.message.en.contains("2001:db8:99::1"));
    assert_eq!(finding.evidence[1].query, "mail.example.it AAAA");
    assert_eq!(finding.fixes[0].zone, "example.it");
    assert_eq!(finding.fixes[0].remove, vec!["mail IN AAAA 2001:db8:99::1"]);
    assert_eq!(finding.fixes[1].add, vec![CORRECT_LINE]);
}

#[test]
fn failed_aaaa_lookups_are_ignored() {
    for outcome in [Outcome::Timeout, Outcome::ServFail, Outcome::NxDomain] {
        let zone = zone_with_mx(
            &[(10, "mx.pec.aruba.it")],
            vec![target(
                "mx.pec.aruba.it",
                answer(vec![a("mx.pec.aruba.it", ARUBA_V4)]),
                Some(failed(outcome)),
            )],
        );
        assert_eq!(check(zone), Vec::new(), "{outcome}");
    }
}

#[test]
fn a_wrong_target_also_gets_its_warnings() {
    let zone = zone_with_mx(
        &[(10, "mx.pec.aruba.it"), (20, "mail.example.it")],
        vec![
            aruba_target(),
            target(
                "mail.example.it",
                answer(vec![a("mail.example.it", FOREIGN_V4)]),
                Some(answer(vec![aaaa("mail.example.it", "2001:db8:99::1")])),
            ),
        ],
    );
    assert_eq!(
        codes(&check(zone)),
        vec![
            Code::A_NON_CORRETTO,
            Code::AAAA_NON_CORRETTO,
            Code::MX_PRIORITA
        ]
    );
}

// ---------------------------------------------------------------- delegation warnings

#[test]
fn single_name_server_is_a_warning() {
    let mut zone = ok_zone();
    zone.zone_ns = Some(ns_names(&["ns1.example.it"]));
    zone.parent_ns = Some(ns_names(&["NS1.example.it"]));
    zone.servers.truncate(1);
    let findings = check(zone);
    assert_eq!(codes(&findings), vec![Code::NS_SINGOLO]);
    let finding = &findings[0];
    assert!(finding.message.it.contains("ns1.example.it"));
    assert!(finding.fixes[0].note.is_some());
    assert_eq!(finding.fixes[0].zone, "example.it");
}

#[test]
fn single_name_server_from_the_parent_when_the_zone_set_is_unknown() {
    let mut zone = ok_zone();
    zone.zone_ns = None;
    zone.parent_ns = Some(ns_names(&["ns1.example.it"]));
    assert_eq!(codes(&check(zone)), vec![Code::NS_SINGOLO]);
}

#[test]
fn one_server_in_the_zone_but_two_in_the_delegation_is_only_inconsistent() {
    let mut zone = ok_zone();
    zone.zone_ns = Some(ns_names(&["ns1.example.it"]));
    assert_eq!(codes(&check(zone)), vec![Code::DELEGA_INCOERENTE]);
}

#[test]
fn inconsistent_delegation_is_a_warning_listing_both_sets() {
    let mut zone = ok_zone();
    zone.parent_ns = Some(ns_names(&["ns1.example.it", "ns3.example.it"]));
    let findings = check(zone);
    assert_eq!(codes(&findings), vec![Code::DELEGA_INCOERENTE]);
    let finding = &findings[0];
    assert!(
        finding
            .message
            .it
            .contains("ns1.example.it, ns3.example.it")
    );
    assert!(
        finding
            .message
            .it
            .contains("ns1.example.it, ns2.example.it")
    );
    assert!(finding.message.en.contains("zone it delegates example.it"));
    let note = finding.fixes[0].note.as_ref().expect("note");
    assert!(note.en.contains("ns3.example.it") && note.en.contains("ns2.example.it"));
    assert_eq!(finding.evidence.len(), 2);
}

#[test]
fn delegation_compares_case_insensitively_and_needs_both_sets() {
    let mut zone = ok_zone();
    zone.parent_ns = Some(ns_names(&["NS2.EXAMPLE.IT", "ns1.Example.it"]));
    assert_eq!(check(zone.clone()), Vec::new());
    zone.parent_ns = None;
    assert_eq!(check(zone), Vec::new());
}

// ---------------------------------------------------------------- fixes for an own zone

#[test]
fn own_zone_fix_lines_and_delegation_alternative() {
    let mut zone = zone_with_mx(
        &[(10, "mail.example.it")],
        vec![target_at("mail.example.it", &[FOREIGN_V4])],
    );
    zone.apex = name(DOMAIN);
    zone.parent_apex = Some(name("example.it"));
    zone.parent_ns = Some(ns_names(&["ns1.example.it", "ns2.example.it"]));
    let findings = check(zone);
    let finding = only(&findings, Code::A_NON_CORRETTO);
    let own = &finding.fixes[0];
    assert_eq!(own.case, FixCase::OwnZone);
    assert_eq!(own.zone, "pec.example.it");
    assert_eq!(own.add, vec!["@ IN MX 10 mx.pec.aruba.it."]);
    assert_eq!(own.remove, vec!["@ IN MX 10 mail.example.it."]);
    let delegation = &finding.fixes[1];
    assert_eq!(delegation.case, FixCase::Delegation);
    assert_eq!(delegation.zone, "example.it");
    assert_eq!(delegation.add.len(), 4);
    assert_eq!(
        delegation.remove,
        vec!["pec IN NS ns1.example.it.", "pec IN NS ns2.example.it."]
    );
}

#[test]
fn zone_on_the_providers_dns_gets_no_delegation_alternative() {
    let mut zone = zone_with_mx(
        &[(10, "mail.example.it")],
        vec![target_at("mail.example.it", &[FOREIGN_V4])],
    );
    zone.apex = name(DOMAIN);
    let aruba_ns = ns_names(&["dns.technorail.com", "dns2.technorail.com"]);
    zone.zone_ns = Some(aruba_ns.clone());
    zone.parent_ns = Some(aruba_ns);
    let findings = check(zone);
    let finding = only(&findings, Code::A_NON_CORRETTO);
    assert_eq!(finding.fixes.len(), 1);
    let note = finding.fixes[0].note.as_ref().expect("note");
    assert!(note.it.contains("sui DNS di Aruba"));
}

// ---------------------------------------------------------------- sorting and deduplication

#[test]
fn findings_are_sorted_errors_first_then_by_code_and_subject() {
    let mut zone = zone_with_mx(
        &[
            (10, "zz.example.it"),
            (20, "aa.example.it"),
            (10, "mx.pec.aruba.it"),
        ],
        vec![
            target_at("zz.example.it", &[FOREIGN_V4]),
            target_at("aa.example.it", &[FOREIGN_V4, "198.51.100.8"]),
            target(
                "mx.pec.aruba.it",
                answer(vec![a("mx.pec.aruba.it", ARUBA_V4)]),
                Some(answer(vec![aaaa("mx.pec.aruba.it", "2001:db8:99::1")])),
            ),
        ],
    );
    zone.parent_ns = Some(ns_names(&["ns1.example.it", "ns3.example.it"]));
    zone.servers
        .push(private_server("ns9.example.it", "10.9.9.9"));
    zone.servers[1].soa = answer(vec![soa("example.it", 9)]);
    let findings = check(zone);
    assert_eq!(
        codes(&findings),
        vec![
            Code::A_NON_CORRETTO,
            Code::A_NON_CORRETTO,
            Code::A_MULTIPLI,
            Code::SOA_SERIALI_DIVERSI,
            Code::AAAA_NON_CORRETTO,
            Code::MX_PRIORITA,
            Code::DELEGA_INCOERENTE,
            Code::NS_INDIRIZZO_NON_PUBBLICO,
        ]
    );
    assert!(findings[0].message.it.contains("aa.example.it"));
    assert!(findings[1].message.it.contains("zz.example.it"));
}

#[test]
fn one_exchange_with_two_preferences_is_one_finding() {
    let zone = zone_with_mx(
        &[(10, "mail.example.it"), (20, "mail.example.it")],
        vec![target_at("mail.example.it", &[FOREIGN_V4])],
    );
    let findings = check(zone);
    assert_eq!(
        codes(&findings),
        vec![Code::A_NON_CORRETTO, Code::MX_PRIORITA]
    );
    assert_eq!(
        findings[0].fixes[0].remove,
        vec![
            "pec IN MX 10 mail.example.it.",
            "pec IN MX 20 mail.example.it."
        ]
    );
}

#[test]
fn finish_keeps_one_finding_per_code_and_subject() {
    let text = || Text::new("it", "en");
    let drafts = vec![
        Draft::new(Code::MX_ALIAS, "b", text()),
        Draft::new(Code::A_NON_CORRETTO, "b", text()),
        Draft::new(Code::A_NON_CORRETTO, "a", text()),
        Draft::new(Code::A_NON_CORRETTO, "b", Text::new("dup", "dup")),
        Draft::new(Code::NS_NON_DEFINITO, "z", text()),
    ];
    let findings = finish(drafts);
    assert_eq!(
        codes(&findings),
        vec![
            Code::NS_NON_DEFINITO,
            Code::A_NON_CORRETTO,
            Code::A_NON_CORRETTO,
            Code::MX_ALIAS
        ]
    );
    assert!(findings.iter().all(|f| f.message.it != "dup"));
}

// ---------------------------------------------------------------- people's text

#[test]
fn unicode_domains_are_shown_in_both_forms() {
    let mut zone = ok_zone();
    for server in &mut zone.servers {
        server.mx = nodata();
    }
    zone.apex = name("xn--caff-8oa.it");
    let observation = Observation {
        domain: DomainName::parse("pec.caffè.it").expect("domain"),
        resolver: None,
        zone: Ok(zone),
        dnssec: None,
    };
    let findings = check_with(observation, &aruba());
    let finding = only(&findings, Code::MX_NON_DEFINITO);
    assert!(
        finding
            .message
            .it
            .contains("pec.caffè.it (pec.xn--caff-8oa.it)")
    );
    assert_eq!(finding.fixes[0].zone, "xn--caff-8oa.it");
    assert_eq!(finding.evidence[0].query, "pec.xn--caff-8oa.it MX");
}

// ---------------------------------------------------------------- the cap on MX targets

#[test]
fn targets_to_resolve_are_capped_by_preference_then_name() {
    let mut records = vec![(0u16, name("."))];
    for i in 0..40u16 {
        records.push((100 - i, name(&format!("mx{i:02}.example.it"))));
    }
    // A target listed twice counts once, with its lowest preference.
    records.push((1, name("mx00.example.it")));
    let chosen = super::targets_to_resolve(records);
    assert_eq!(chosen.len(), super::MAX_MX_TARGETS);
    assert_eq!(chosen[0], name("mx00.example.it"));
    assert_eq!(chosen[1], name("mx39.example.it"));
    assert!(!chosen.contains(&Name::root()));
    assert!(!chosen.contains(&name("mx01.example.it")));
}

#[test]
fn more_mx_targets_than_the_cap_is_an_error_and_only_the_chosen_are_judged() {
    // 301 targets, as a hostile zone had: the provider's at preference 10, the others at 20.
    let mut records: Vec<(u16, String)> = vec![(10, "mx.pec.aruba.it".to_owned())];
    records.extend((0..300).map(|i| (20, format!("mx{i:03}.example.it"))));
    let refs: Vec<(u16, &str)> = records.iter().map(|(p, n)| (*p, n.as_str())).collect();
    // The prober resolved only the chosen ones: the provider's and 15 foreign ones.
    let chosen = super::targets_to_resolve(refs.iter().map(|(p, n)| (*p, name(n))));
    let targets = chosen
        .iter()
        .map(|target| {
            let text = target.to_ascii();
            if text == "mx.pec.aruba.it." {
                aruba_target()
            } else {
                target_at(&text, &[FOREIGN_V4])
            }
        })
        .collect();
    let findings = check(zone_with_mx(&refs, targets));
    let too_many = only(&findings, Code::MX_TROPPI);
    assert!(!too_many.transient);
    assert!(
        too_many
            .message
            .it
            .contains("indica 301 server di posta diversi"),
        "{}",
        too_many.message.it
    );
    assert!(too_many.message.it.contains("i primi 16"));
    assert!(
        too_many
            .message
            .en
            .contains("names 301 different mail servers")
    );
    // The fix keeps the provider's line and removes the 300 others.
    assert!(too_many.fixes[0].add.is_empty());
    assert_eq!(too_many.fixes[0].remove.len(), 300);
    assert!(!too_many.fixes[0].remove.contains(&CORRECT_LINE.to_owned()));
    // The 15 foreign targets that were resolved are judged; the 285 others are not
    // reported as unchecked (no transient NS_NON_DEFINITO per target).
    let foreign = findings
        .iter()
        .filter(|f| f.code == Code::A_NON_CORRETTO)
        .count();
    assert_eq!(foreign, 15);
    assert!(!codes(&findings).contains(&Code::NS_NON_DEFINITO));
}

#[test]
fn sixteen_targets_are_not_too_many() {
    let records: Vec<(u16, String)> = (0..16)
        .map(|i| (10, format!("mx{i:02}.example.it")))
        .collect();
    let refs: Vec<(u16, &str)> = records.iter().map(|(p, n)| (*p, n.as_str())).collect();
    let targets = records
        .iter()
        .map(|(_, n)| target_at(n, &[ARUBA_V4]))
        .collect();
    let findings = check(zone_with_mx(&refs, targets));
    assert!(!codes(&findings).contains(&Code::MX_TROPPI));
}

//! The zone-file lines that fix a finding, for one certified name and one provider.
//!
//! Everything here is a small pure function of a [`Site`]: where the certified name lives in
//! the DNS (its zone, the zone above), which MX records it has now, which name servers
//! serve it, and what the provider wants. The two customer cases of the providers' guides
//! are both covered (InfoCert's wording):
//!
//! - the name is a record inside its parent's zone: `cert IN MX 10 mx.cert.legalmail.it.`
//!   in zone `example.it` ([`FixCase::ParentZone`]);
//! - the name is its own zone: `@ IN MX 10 mx.cert.legalmail.it.` in zone
//!   `cert.example.it` ([`FixCase::OwnZone`]);
//!
//! and, when the provider publishes name servers, Aruba's alternative: delegate the name
//! to the provider's DNS ([`FixCase::Delegation`]).

use crate::finding::{Fix, FixCase, Text};
use crate::name::DomainName;
use crate::profile::Profile;

/// Where a certified name lives in the DNS and what its provider expects.
#[derive(Clone, Debug)]
pub(super) struct Site<'a> {
    /// The certified name.
    pub domain: &'a DomainName,
    /// The apex of the zone that holds the name's records (`example.it`), no trailing dot.
    pub apex: String,
    /// The apex of the zone above it (`it`), when known.
    pub parent_apex: Option<String>,
    /// The provider.
    pub profile: &'a Profile,
    /// The MX records the name has now: preference and exchange with its trailing dot.
    pub current_mx: Vec<(u16, String)>,
    /// The name servers of zone `apex` (lower case, no trailing dot): the parent's
    /// delegation when known, else the zone's own NS set.
    pub zone_ns: Vec<String>,
}

/// The owner of `domain` written relative to `zone` (`pec`, or `@` at the apex); the fully
/// qualified name when `domain` is not inside `zone`.
pub(super) fn relative_owner(domain: &DomainName, zone: &str) -> String {
    domain
        .relative_to(zone)
        .unwrap_or_else(|| format!("{domain}."))
}

/// An MX line: `pec IN MX 10 mx.pec.aruba.it.` (`exchange` already ends with a dot).
pub(super) fn mx_line(owner: &str, preference: u16, exchange: &str) -> String {
    format!("{owner} IN MX {preference} {exchange}")
}

/// An NS line: `pec IN NS dns.technorail.com.` (`host` without the trailing dot).
pub(super) fn ns_line(owner: &str, host: &str) -> String {
    format!("{owner} IN NS {host}.")
}

/// An AAAA line: `mail IN AAAA 2001:db8::1`.
pub(super) fn aaaa_line(owner: &str, address: &str) -> String {
    format!("{owner} IN AAAA {address}")
}

/// A fix that is only advice, for `zone`.
pub(super) fn note_only(case: FixCase, zone: &str, note: Text) -> Fix {
    Fix {
        case,
        zone: zone.to_string(),
        add: Vec::new(),
        remove: Vec::new(),
        note: Some(note),
    }
}

/// The parent of a name in text form (`example.it` for `pec.example.it`).
fn parent_of(name: &str) -> Option<String> {
    name.split_once('.').map(|(_, parent)| parent.to_string())
}

/// The host meant by an MX exchange written without its final dot, to which the zone's
/// origin was appended (`mx.pec.aruba.it.pec.example.it.` in zone `pec.example.it`:
/// `mx.pec.aruba.it`): the exchange ends with one of `origins`, and what comes before is
/// the provider's host `expected` or a full host name of its own (a top-level label like
/// the origin's, or a common one). `None` for a name that is simply inside the zone
/// (`mail.example.it`).
pub(super) fn missing_final_dot(
    exchange: &str,
    origins: &[&str],
    expected: &str,
) -> Option<String> {
    const COMMON_TLDS: [&str; 8] = ["it", "com", "net", "org", "eu", "cz", "info", "biz"];
    let exchange = exchange.trim_end_matches('.').to_ascii_lowercase();
    let expected = expected.trim_end_matches('.').to_ascii_lowercase();
    origins.iter().find_map(|origin| {
        let origin = origin.trim_end_matches('.').to_ascii_lowercase();
        let prefix = exchange.strip_suffix(&format!(".{origin}"))?;
        if prefix == expected {
            return Some(prefix.to_owned());
        }
        let (rest, tld) = prefix.rsplit_once('.')?;
        let origin_tld = origin.rsplit('.').next().unwrap_or_default();
        let full_host = rest.contains('.') && (tld == origin_tld || COMMON_TLDS.contains(&tld));
        full_host.then(|| prefix.to_owned())
    })
}

/// Whether a zone apex looks like a top-level domain (`it`): a certified name whose
/// closest existing zone is a TLD has no registered parent domain.
pub(super) fn is_tld_like(apex: &str) -> bool {
    !apex.contains('.')
}

impl Site<'_> {
    /// The name's owner in its zone: `pec`, or `@` when the name is its own zone.
    pub(super) fn label(&self) -> String {
        relative_owner(self.domain, &self.apex)
    }

    /// Whether the name is the apex of its own zone.
    pub(super) fn is_own_zone(&self) -> bool {
        self.label() == "@"
    }

    /// The MX line the provider asks for, written for the name's zone.
    pub(super) fn correct_line(&self) -> String {
        mx_line(
            &self.label(),
            self.profile.mx_preference,
            &format!("{}.", self.profile.mx_host),
        )
    }

    /// The name's current MX lines, as written in its zone.
    pub(super) fn current_lines(&self) -> Vec<String> {
        let label = self.label();
        self.current_mx
            .iter()
            .map(|(preference, exchange)| mx_line(&label, *preference, exchange))
            .collect()
    }

    /// Whether the zone is already served by the provider's own name servers.
    pub(super) fn served_by_provider(&self) -> bool {
        self.zone_ns.iter().any(|ns| {
            self.profile
                .nameservers
                .iter()
                .any(|own| own.as_str() == ns.as_str())
        })
    }

    /// The fixes for a wrong or missing MX set: the records to write in the name's zone
    /// (when there is anything to write), then (when the provider has name servers) the
    /// delegation alternative.
    pub(super) fn mx_fixes(&self) -> Vec<Fix> {
        let record = self.record_fix();
        let has_work = !record.add.is_empty() || !record.remove.is_empty() || record.note.is_some();
        let mut fixes: Vec<Fix> = has_work.then_some(record).into_iter().collect();
        fixes.extend(self.delegation_fix());
        fixes
    }

    /// Make the name's MX set exactly the provider's line, in the zone that holds it.
    pub(super) fn record_fix(&self) -> Fix {
        let correct = self.correct_line();
        let current = self.current_lines();
        let add = if current.contains(&correct) {
            Vec::new()
        } else {
            vec![correct.clone()]
        };
        let remove = current
            .into_iter()
            .filter(|line| *line != correct)
            .collect();
        let case = if self.is_own_zone() {
            FixCase::OwnZone
        } else {
            FixCase::ParentZone
        };
        Fix {
            case,
            zone: self.apex.clone(),
            add,
            remove,
            note: self
                .missing_dot_note()
                .or_else(|| self.provider_hosted_note()),
        }
    }

    /// When an MX exchange was written without its final dot (the zone's origin was
    /// appended to it), says so: the usual cause of `mx.pec.aruba.it.example.it`.
    fn missing_dot_note(&self) -> Option<Text> {
        let origins = [self.apex.as_str(), self.domain.as_str()];
        let expected = self.profile.mx_host.as_str();
        self.current_mx.iter().find_map(|(_, exchange)| {
            let meant = missing_final_dot(exchange, &origins, expected)?;
            let written = exchange.trim_end_matches('.');
            Some(Text::new(
                format!(
                    "Il record MX punta a {written}: probabilmente nel file di zona manca il punto finale dopo {meant}, e il DNS vi ha aggiunto il nome della zona. Scrivere «{meant}.», con il punto."
                ),
                format!(
                    "The MX record points to {written}: the zone file probably lacks the final dot after {meant}, so the DNS appended the zone's name. Write \"{meant}.\", with the dot."
                ),
            ))
        })
    }

    /// When the zone is on the provider's DNS, the provider writes the MX itself.
    fn provider_hosted_note(&self) -> Option<Text> {
        if !self.served_by_provider() {
            return None;
        }
        let provider = &self.profile.display_name;
        Some(Text::new(
            format!(
                "La zona {} è sui DNS di {provider}: il record MX viene scritto dal gestore all'attivazione; chiedere a {provider} di ripristinarlo.",
                self.apex
            ),
            format!(
                "Zone {} is on {provider}'s DNS: the provider writes the MX record at activation; ask {provider} to restore it.",
                self.apex
            ),
        ))
    }

    /// Delegate the name to the provider's name servers, in the zone that holds the
    /// delegation point. `None` when the provider has no name servers or the zone is
    /// already on them.
    pub(super) fn delegation_fix(&self) -> Option<Fix> {
        if self.profile.nameservers.is_empty() || self.served_by_provider() {
            return None;
        }
        let own_zone = self.is_own_zone();
        let zone = if own_zone {
            self.parent_apex
                .clone()
                .or_else(|| parent_of(self.domain.as_str()))?
        } else {
            self.apex.clone()
        };
        let owner = relative_owner(self.domain, &zone);
        let add = self
            .profile
            .nameservers
            .iter()
            .map(|ns| ns_line(&owner, ns.as_str()))
            .collect();
        // A delegation point holds no other data: in the parent zone the name's MX lines
        // go; when the name is already its own zone, its current NS lines go instead.
        let remove = if own_zone {
            self.zone_ns.iter().map(|ns| ns_line(&owner, ns)).collect()
        } else {
            self.current_lines()
        };
        Some(Fix {
            case: FixCase::Delegation,
            zone,
            add,
            remove,
            note: Some(self.delegation_note()),
        })
    }

    fn delegation_note(&self) -> Text {
        let provider = &self.profile.display_name;
        let domain = self.domain;
        Text::new(
            format!(
                "In alternativa, delegare {domain} ai DNS di {provider}: sarà {provider} a pubblicare il record MX."
            ),
            format!(
                "Alternatively, delegate {domain} to {provider}'s DNS: {provider} then publishes the MX record."
            ),
        )
    }

    /// Make every authoritative server of the zone serve the same, current zone.
    pub(super) fn propagation_fix(&self, note: Text) -> Fix {
        Fix {
            case: FixCase::Propagation,
            zone: self.apex.clone(),
            add: vec![self.correct_line()],
            remove: Vec::new(),
            note: Some(note),
        }
    }

    /// The registrable domain above the name when the closest zone is a TLD
    /// (`example.it` for `pec.example.it` under `it`).
    pub(super) fn registrable(&self) -> String {
        let keep = self.apex.split('.').count() + 1;
        let labels: Vec<&str> = self.domain.as_str().split('.').collect();
        let skip = labels.len().saturating_sub(keep);
        labels[skip..].join(".")
    }

    /// The fixes for a name that does not exist (NXDOMAIN): create the record in the
    /// zone (or delegate), or, when not even the registrable domain exists, register it.
    pub(super) fn nxdomain_fixes(&self) -> Vec<Fix> {
        if is_tld_like(&self.apex) && !self.is_own_zone() {
            vec![self.registration_fix()]
        } else {
            self.mx_fixes()
        }
    }

    /// Register the parent domain, then write the MX in its zone.
    pub(super) fn registration_fix(&self) -> Fix {
        let registrable = self.registrable();
        let owner = relative_owner(self.domain, &registrable);
        let host = format!("{}.", self.profile.mx_host);
        let domain = self.domain;
        let apex = &self.apex;
        Fix {
            case: FixCase::Registration,
            zone: registrable.clone(),
            add: vec![mx_line(&owner, self.profile.mx_preference, &host)],
            remove: Vec::new(),
            note: Some(Text::new(
                format!(
                    "Il dominio {registrable} non esiste nella zona {apex}: registrarlo (o verificarne la delega presso il registro), poi inserire nella sua zona il record indicato per {domain}."
                ),
                format!(
                    "Domain {registrable} does not exist in zone {apex}: register it (or check its delegation with the registry), then add the line shown for {domain} to its zone."
                ),
            )),
        }
    }

    /// Remove the foreign AAAA records of an MX target that lives in the name's zone;
    /// `None` when the target is elsewhere.
    pub(super) fn aaaa_fix(&self, target: &str, addresses: &[String]) -> Option<Fix> {
        let owner = relative_owner(&DomainName::parse(target).ok()?, &self.apex);
        if owner.ends_with('.') {
            return None;
        }
        let case = if self.is_own_zone() {
            FixCase::OwnZone
        } else {
            FixCase::ParentZone
        };
        Some(Fix {
            case,
            zone: self.apex.clone(),
            add: Vec::new(),
            remove: addresses.iter().map(|a| aaaa_line(&owner, a)).collect(),
            note: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(text: &str) -> DomainName {
        DomainName::parse(text).expect("test domain")
    }

    fn aruba() -> Profile {
        Profile::built_in("aruba").expect("aruba profile")
    }

    fn infocert() -> Profile {
        Profile::built_in("infocert").expect("infocert profile")
    }

    fn site<'a>(domain: &'a DomainName, apex: &str, profile: &'a Profile) -> Site<'a> {
        Site {
            domain,
            apex: apex.into(),
            parent_apex: Some("it".into()),
            profile,
            current_mx: Vec::new(),
            zone_ns: vec!["ns1.example.it".into(), "ns2.example.it".into()],
        }
    }

    #[test]
    fn an_exchange_without_its_final_dot_is_recognised() {
        let expected = "mx.pec.aruba.it";
        let origins = ["pec.example.it", "pec.example.it"];
        assert_eq!(
            missing_final_dot("mx.pec.aruba.it.pec.example.it.", &origins, expected).as_deref(),
            Some("mx.pec.aruba.it")
        );
        // Another provider's host, without its dot, in the parent zone.
        assert_eq!(
            missing_final_dot(
                "mx.cert.legalmail.it.example.it.",
                &["example.it", "pec.example.it"],
                expected
            )
            .as_deref(),
            Some("mx.cert.legalmail.it")
        );
        // Names meant to be inside the zone, and correct names: no hint.
        for exchange in [
            "mail.example.it.",
            "mx.pec.example.it.",
            "mx.pec.aruba.it.",
            "smtp.mail.example.it.",
        ] {
            assert_eq!(
                missing_final_dot(exchange, &["example.it", "pec.example.it"], expected),
                None,
                "{exchange}"
            );
        }
    }

    #[test]
    fn the_fix_says_the_final_dot_is_missing() {
        let name = domain("pec.example.it");
        let profile = aruba();
        let mut site = site(&name, "pec.example.it", &profile);
        site.current_mx = vec![(10, "mx.pec.aruba.it.pec.example.it.".into())];
        let fix = site.record_fix();
        assert_eq!(fix.add, vec!["@ IN MX 10 mx.pec.aruba.it."]);
        assert_eq!(
            fix.remove,
            vec!["@ IN MX 10 mx.pec.aruba.it.pec.example.it."]
        );
        let note = fix.note.expect("a note");
        assert!(
            note.it
                .contains("manca il punto finale dopo mx.pec.aruba.it"),
            "{}",
            note.it
        );
        assert!(
            note.en
                .contains("lacks the final dot after mx.pec.aruba.it"),
            "{}",
            note.en
        );
    }

    #[test]
    fn lines_are_zone_file_lines() {
        assert_eq!(
            mx_line("pec", 10, "mx.pec.aruba.it."),
            "pec IN MX 10 mx.pec.aruba.it."
        );
        assert_eq!(
            ns_line("pec", "dns.technorail.com"),
            "pec IN NS dns.technorail.com."
        );
        assert_eq!(aaaa_line("mail", "2001:db8::1"), "mail IN AAAA 2001:db8::1");
        let name = domain("pec.example.it");
        assert_eq!(relative_owner(&name, "example.it"), "pec");
        assert_eq!(relative_owner(&name, "pec.example.it."), "@");
        assert_eq!(relative_owner(&name, "other.it"), "pec.example.it.");
    }

    #[test]
    fn name_inside_parent_zone_infocert_case_1() {
        let name = domain("cert.example.it");
        let profile = infocert();
        let site = site(&name, "example.it", &profile);
        let fix = site.record_fix();
        assert_eq!(fix.case, FixCase::ParentZone);
        assert_eq!(fix.zone, "example.it");
        assert_eq!(fix.add, vec!["cert IN MX 10 mx.cert.legalmail.it."]);
        assert!(fix.remove.is_empty());
        // InfoCert publishes no name servers: no delegation alternative.
        assert_eq!(site.mx_fixes(), vec![fix]);
    }

    #[test]
    fn name_as_own_zone_infocert_case_2() {
        let name = domain("cert.example.it");
        let profile = infocert();
        let site = site(&name, "cert.example.it", &profile);
        let fix = site.record_fix();
        assert_eq!(fix.case, FixCase::OwnZone);
        assert_eq!(fix.zone, "cert.example.it");
        assert_eq!(fix.add, vec!["@ IN MX 10 mx.cert.legalmail.it."]);
    }

    #[test]
    fn wrong_line_is_removed_and_correct_line_kept() {
        let name = domain("pec.example.it");
        let profile = aruba();
        let mut site = site(&name, "example.it", &profile);
        site.current_mx = vec![
            (10, "mail.example.it.".into()),
            (10, "mx.pec.aruba.it.".into()),
            (20, "mx.pec.aruba.it.".into()),
        ];
        let fix = site.record_fix();
        assert!(fix.add.is_empty(), "the correct line is already there");
        assert_eq!(
            fix.remove,
            vec![
                "pec IN MX 10 mail.example.it.",
                "pec IN MX 20 mx.pec.aruba.it."
            ]
        );
    }

    #[test]
    fn delegation_alternative_in_parent_zone_with_arubas_servers() {
        let name = domain("pec.example.it");
        let profile = aruba();
        let mut site = site(&name, "example.it", &profile);
        site.current_mx = vec![(10, "mail.example.it.".into())];
        let fixes = site.mx_fixes();
        assert_eq!(fixes.len(), 2);
        assert_eq!(fixes[0].add, vec!["pec IN MX 10 mx.pec.aruba.it."]);
        assert_eq!(fixes[0].remove, vec!["pec IN MX 10 mail.example.it."]);
        let delegation = &fixes[1];
        assert_eq!(delegation.case, FixCase::Delegation);
        assert_eq!(delegation.zone, "example.it");
        assert_eq!(
            delegation.add,
            vec![
                "pec IN NS dns.technorail.com.",
                "pec IN NS dns2.technorail.com.",
                "pec IN NS dns3.arubadns.net.",
                "pec IN NS dns4.arubadns.cz.",
            ]
        );
        assert_eq!(delegation.remove, vec!["pec IN MX 10 mail.example.it."]);
        assert!(delegation.note.is_some());
    }

    #[test]
    fn delegation_of_an_own_zone_replaces_its_ns_lines_in_the_parent() {
        let name = domain("pec.example.it");
        let profile = aruba();
        let mut site = site(&name, "pec.example.it", &profile);
        site.parent_apex = Some("example.it".into());
        site.zone_ns = vec!["ns1.example.it".into()];
        let delegation = site.delegation_fix().expect("delegation");
        assert_eq!(delegation.zone, "example.it");
        assert_eq!(delegation.add[0], "pec IN NS dns.technorail.com.");
        assert_eq!(delegation.remove, vec!["pec IN NS ns1.example.it."]);
        // Parent apex unknown: the name's parent is used.
        site.parent_apex = None;
        assert_eq!(
            site.delegation_fix().expect("delegation").zone,
            "example.it"
        );
    }

    #[test]
    fn no_delegation_when_already_on_the_providers_dns() {
        let name = domain("pec.example.it");
        let profile = aruba();
        let mut site = site(&name, "pec.example.it", &profile);
        site.zone_ns = vec!["dns.technorail.com".into(), "dns2.technorail.com".into()];
        assert!(site.delegation_fix().is_none());
        let fixes = site.mx_fixes();
        assert_eq!(fixes.len(), 1);
        assert!(
            fixes[0].note.is_some(),
            "tells the holder to ask the provider"
        );
    }

    #[test]
    fn nxdomain_under_a_tld_asks_for_registration() {
        let name = domain("pec.example.it");
        let profile = aruba();
        let site = site(&name, "it", &profile);
        assert_eq!(site.registrable(), "example.it");
        let fixes = site.nxdomain_fixes();
        assert_eq!(fixes.len(), 1);
        assert_eq!(fixes[0].case, FixCase::Registration);
        assert_eq!(fixes[0].zone, "example.it");
        assert_eq!(fixes[0].add, vec!["pec IN MX 10 mx.pec.aruba.it."]);
        let note = fixes[0].note.as_ref().expect("note");
        assert!(note.it.contains("example.it") && note.en.contains("register"));
    }

    #[test]
    fn nxdomain_inside_a_zone_adds_the_record_or_delegates() {
        let name = domain("pec.example.it");
        let profile = aruba();
        let site = site(&name, "example.it", &profile);
        let fixes = site.nxdomain_fixes();
        assert_eq!(fixes[0].case, FixCase::ParentZone);
        assert_eq!(fixes[0].add, vec!["pec IN MX 10 mx.pec.aruba.it."]);
        assert_eq!(fixes[1].case, FixCase::Delegation);
        assert!(fixes[1].remove.is_empty());
    }

    #[test]
    fn aaaa_fix_only_for_targets_in_the_zone() {
        let name = domain("pec.example.it");
        let profile = aruba();
        let site = site(&name, "example.it", &profile);
        let fix = site
            .aaaa_fix("mail.example.it", &["2001:db8::1".into()])
            .expect("target in zone");
        assert_eq!(fix.remove, vec!["mail IN AAAA 2001:db8::1"]);
        assert!(
            site.aaaa_fix("mail.other.it", &["2001:db8::1".into()])
                .is_none()
        );
    }

    #[test]
    fn tld_like_apexes() {
        assert!(is_tld_like("it"));
        assert!(!is_tld_like("example.it"));
    }
}

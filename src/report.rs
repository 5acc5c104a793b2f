//! The result of checking one domain, and its two renderings: text for people, JSON
//! Lines for programs.
//!
//! The JSON shape is a contract that scripts and the rest of pecwatch rely on: one object
//! per input with `domain`, `input`, `ok`, `transient`, `codes` (sorted error codes),
//! `warnings` (sorted warning codes) and `findings` (`code`, `severity`, `message`,
//! `transient`, `servers`, `fix`), plus `verdict`, `profile`, `zone` and a per-server table.

use std::fmt::{self, Write as _};
use std::net::IpAddr;

use owo_colors::OwoColorize;
use serde::Serialize;
use serde_json::{Value, json};

use crate::Lang;
use crate::check::observation::Observation;
use crate::dns::Outcome;
use crate::finding::{Code, Finding, Fix, Severity};
use crate::name::{DomainName, display_name};

/// The overall verdict of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// No error (warnings may be present).
    Ok,
    /// At least one error that does not rest only on timeouts.
    Error,
    /// Errors that rest only on timeouts or network failures: may go away by itself.
    TransientError,
}

impl Verdict {
    /// The verdict in the given language, as shown in reports.
    pub fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Self::Ok, _) => "OK",
            (Self::Error, Lang::It) => "ERRORE",
            (Self::Error, Lang::En) => "ERROR",
            (Self::TransientError, Lang::It) => "ERRORE TEMPORANEO",
            (Self::TransientError, Lang::En) => "TRANSIENT ERROR",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::TransientError => "transient_error",
        })
    }
}

/// One row of the per-server table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServerRow {
    /// Server name.
    pub name: String,
    /// Address.
    pub address: IpAddr,
    /// SOA serial, when the server gave one.
    pub serial: Option<u32>,
    /// The outcome of the SOA query.
    pub soa: Outcome,
    /// The outcome of the MX query.
    pub mx: Outcome,
    /// The MX records it returned, as zone-file text.
    pub records: Vec<String>,
}

/// How one RRset fared under DNSSEC validation, for reports and pages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DnssecRow {
    /// The owner (`pec.example.it`).
    pub name: String,
    /// The type (`MX`, `A`).
    #[serde(rename = "type")]
    pub rtype: String,
    /// `secure`, `insecure`, `bogus` or `indeterminate`.
    pub status: &'static str,
    /// Why, for anything but secure.
    pub detail: Option<String>,
    /// The signed zones on the path, from the root down.
    pub chain: Vec<ChainRow>,
}

/// One signed zone on a DNSSEC path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainRow {
    /// The zone (`example.it.`).
    pub zone: String,
    /// Its DS records (`DS 12345 alg 13 digest 2`).
    pub ds: Vec<String>,
    /// The key tags of the DNSKEYs it serves.
    pub keys: Vec<u16>,
    /// Until when the signatures checked for this zone are valid (Unix seconds).
    pub valid_until: Option<i64>,
}

impl DnssecRow {
    fn of(validation: &crate::dnssec::Validation) -> Self {
        use crate::dnssec::Security;
        let (status, detail) = match &validation.security {
            Security::Secure { .. } => ("secure", None),
            Security::Insecure { zone, why } => (
                "insecure",
                Some(format!("{why:?} at {}", crate::dns::fqdn(zone))),
            ),
            Security::Bogus { bogus, .. } => (
                "bogus",
                Some(serde_json::to_string(bogus).unwrap_or_default()),
            ),
            Security::Indeterminate { detail, .. } => ("indeterminate", Some(detail.clone())),
        };
        Self {
            name: display_name(&validation.name),
            rtype: validation.rtype.clone(),
            status,
            detail,
            chain: validation
                .chain
                .iter()
                .map(|link| ChainRow {
                    zone: crate::dns::fqdn(&link.zone),
                    ds: link.ds.iter().map(ToString::to_string).collect(),
                    keys: link.keys.iter().map(|k| k.key_tag).collect(),
                    valid_until: link.signatures.iter().map(|s| s.expiration).min(),
                })
                .collect(),
        }
    }
}

/// The result of checking one domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The name checked.
    pub domain: DomainName,
    /// The input as given.
    pub input: String,
    /// The profile's name.
    pub profile: String,
    /// The provider's name for people (the profile's display name; by default the
    /// profile's name).
    pub provider: String,
    /// The enclosing zone's apex, when found.
    pub zone: Option<String>,
    /// The findings, errors first.
    pub findings: Vec<Finding>,
    /// What every server said.
    pub servers: Vec<ServerRow>,
    /// The DNSSEC validation of the MX and the MX targets' addresses (empty when not done).
    pub dnssec: Vec<DnssecRow>,
}

impl Report {
    /// Builds the report of one observation and its findings.
    pub fn new(
        input: &str,
        observation: &Observation,
        profile: &str,
        findings: Vec<Finding>,
    ) -> Self {
        // Parsed once, not once per server.
        let qname = observation.domain.to_dns();
        let (zone, servers) = match &observation.zone {
            Ok(zone) => (
                Some(display_name(&zone.apex)),
                zone.servers
                    .iter()
                    .map(|server| ServerRow {
                        name: display_name(&server.name),
                        address: server.address,
                        serial: server.soa.soa_serial(),
                        soa: server.soa.outcome,
                        mx: server.mx.outcome,
                        records: server
                            .mx
                            .mx_set(&qname)
                            .iter()
                            .map(|(p, e)| format!("MX {p} {}", crate::dns::fqdn(e)))
                            .collect(),
                    })
                    .collect(),
            ),
            Err(_) => (None, Vec::new()),
        };
        let dnssec = observation
            .dnssec
            .iter()
            .flat_map(|d| std::iter::once(&d.mx).chain(&d.targets))
            .map(DnssecRow::of)
            .collect();
        Self {
            domain: observation.domain.clone(),
            input: input.to_string(),
            profile: profile.to_string(),
            provider: profile.to_string(),
            zone,
            findings,
            servers,
            dnssec,
        }
    }

    /// The same report naming the provider for people (`Aruba` for profile `aruba`).
    pub fn with_provider(mut self, display_name: &str) -> Self {
        self.provider = display_name.to_owned();
        self
    }

    /// The verdict.
    pub fn verdict(&self) -> Verdict {
        let errors: Vec<&Finding> = self
            .findings
            .iter()
            .filter(|f| f.severity() == Severity::Error)
            .collect();
        if errors.is_empty() {
            Verdict::Ok
        } else if errors.iter().all(|f| f.transient) {
            Verdict::TransientError
        } else {
            Verdict::Error
        }
    }

    /// No error.
    pub fn ok(&self) -> bool {
        self.verdict() == Verdict::Ok
    }

    /// The sorted, distinct codes of the given severity.
    pub fn codes_of(&self, severity: Severity) -> Vec<Code> {
        let mut codes: Vec<Code> = self
            .findings
            .iter()
            .filter(|f| f.severity() == severity)
            .map(|f| f.code)
            .collect();
        codes.sort();
        codes.dedup();
        codes
    }

    /// The JSON object for this report (one line of JSON Lines output).
    pub fn to_json(&self, lang: Lang) -> Value {
        let verdict = self.verdict();
        let by_name = |codes: Vec<Code>| {
            let mut names: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
            names.sort_unstable();
            names
        };
        json!({
            "domain": self.domain,
            "input": self.input,
            "ok": verdict == Verdict::Ok,
            "transient": verdict == Verdict::TransientError,
            "verdict": verdict,
            "codes": by_name(self.codes_of(Severity::Error)),
            "warnings": by_name(self.codes_of(Severity::Warning)),
            "profile": self.profile,
            "provider": self.provider,
            "zone": self.zone,
            "findings": self.findings.iter().map(|f| finding_json(f, lang)).collect::<Vec<_>>(),
            "nameservers": self.servers,
            "dnssec": self.dnssec,
        })
    }

    /// The text report, for people.
    pub fn to_text(&self, lang: Lang, color: bool) -> String {
        let mut out = String::new();
        let verdict = self.verdict();
        let shown = self.domain.to_unicode();
        let title = if shown == self.domain.as_str() {
            shown
        } else {
            format!("{shown} ({})", self.domain)
        };
        let label = verdict.label(lang);
        let label = match (verdict, color) {
            (_, false) => label.to_string(),
            (Verdict::Ok, true) => label.green().bold().to_string(),
            (Verdict::Error, true) => label.red().bold().to_string(),
            (Verdict::TransientError, true) => label.yellow().bold().to_string(),
        };
        let _ = writeln!(
            out,
            "{} — {label}  ({} {})",
            paint_bold(&title, color),
            lang.pick("profilo", "profile"),
            self.profile
        );
        if let Some(zone) = &self.zone {
            let servers: Vec<String> = self
                .servers
                .iter()
                .map(|s| match s.serial {
                    Some(serial) => format!("{} {} [{serial}]", s.name, s.address),
                    None => format!("{} {} [{}]", s.name, s.address, s.soa),
                })
                .collect();
            let _ = writeln!(
                out,
                "  {} {zone} · {}: {}",
                lang.pick("zona", "zone"),
                lang.pick("server", "servers"),
                if servers.is_empty() {
                    "-".to_string()
                } else {
                    servers.join(", ")
                }
            );
        }
        // Undecided validations (no trust anchor for this root, timeouts) are left out: the
        // timeouts have their own findings.
        for row in self.dnssec.iter().filter(|r| r.status != "indeterminate") {
            let zones: Vec<&str> = row.chain.iter().map(|c| c.zone.as_str()).collect();
            let status = match (row.status, lang) {
                ("secure", Lang::It) => "sicuro",
                ("insecure", Lang::It) => "non firmato",
                ("bogus", Lang::It) => "NON VALIDO",
                ("bogus", Lang::En) => "BOGUS",
                (status, _) => status,
            };
            let path = if zones.is_empty() {
                String::new()
            } else {
                format!(" ({})", zones.join(" → "))
            };
            let _ = writeln!(out, "  DNSSEC {} {}: {status}{path}", row.name, row.rtype);
        }
        let mut shown_fixes: Vec<&Fix> = Vec::new();
        for finding in &self.findings {
            write_finding(&mut out, finding, lang, color, &mut shown_fixes);
        }
        out
    }
}

fn paint_bold(text: &str, color: bool) -> String {
    if color {
        text.bold().to_string()
    } else {
        text.to_string()
    }
}

fn finding_json(finding: &Finding, lang: Lang) -> Value {
    let fixes: Vec<Value> = finding
        .fixes
        .iter()
        .map(|fix| {
            json!({
                "case": fix.case,
                "zone": fix.zone,
                "add": fix.add,
                "remove": fix.remove,
                "note": fix.note.as_ref().map(|n| n.get(lang)),
            })
        })
        .collect();
    json!({
        "code": finding.code,
        "severity": finding.severity(),
        "message": finding.message.get(lang),
        "transient": finding.transient,
        "servers": finding.evidence,
        "fix": fixes,
    })
}

/// Writes one finding; a fix already shown for an earlier finding is only referred to.
fn write_finding<'a>(
    out: &mut String,
    finding: &'a Finding,
    lang: Lang,
    color: bool,
    shown_fixes: &mut Vec<&'a Fix>,
) {
    let (mark, code) = match finding.severity() {
        Severity::Error => ("✗", finding.code.label()),
        Severity::Warning => ("!", finding.code.label()),
    };
    let head = format!("{mark} {code}");
    let head = match (finding.severity(), color) {
        (_, false) => head,
        (Severity::Error, true) => head.red().bold().to_string(),
        (Severity::Warning, true) => head.yellow().bold().to_string(),
    };
    let transient = if finding.transient {
        lang.pick(" (temporaneo: solo timeout)", " (transient: timeouts only)")
    } else {
        ""
    };
    let _ = writeln!(out, "\n  {head}{transient}");
    let _ = writeln!(out, "    {}", finding.message.get(lang));
    let _ = writeln!(
        out,
        "    {}: {}",
        lang.pick("Perché conta", "Why it matters"),
        finding.code.explanation(lang)
    );
    if !finding.evidence.is_empty() {
        let _ = writeln!(out, "    {}:", lang.pick("Evidenze", "Evidence"));
        for evidence in &finding.evidence {
            let server = match (&evidence.server, evidence.address) {
                (Some(name), Some(address)) => format!("{name} ({address})"),
                (Some(name), None) => name.clone(),
                (None, Some(address)) => address.to_string(),
                (None, None) => "-".into(),
            };
            let _ = writeln!(
                out,
                "      {server}: {} → {}",
                evidence.query, evidence.outcome
            );
        }
    }
    if !finding.fixes.is_empty() && finding.fixes.iter().all(|f| shown_fixes.contains(&f)) {
        let _ = writeln!(
            out,
            "    {}",
            lang.pick(
                "Correzione: la stessa indicata sopra.",
                "Fix: the same as above."
            )
        );
        return;
    }
    shown_fixes.extend(finding.fixes.iter());
    for (index, fix) in finding.fixes.iter().enumerate() {
        let heading = if index == 0 {
            lang.pick("Correzione", "Fix")
        } else {
            lang.pick("In alternativa", "Alternatively")
        };
        let _ = writeln!(
            out,
            "    {heading} — {} ({} {}):",
            fix.case.title(lang),
            lang.pick("zona", "zone"),
            fix.zone
        );
        for line in &fix.remove {
            let line = format!("- {line}");
            let _ = writeln!(
                out,
                "      {}",
                if color { line.red().to_string() } else { line }
            );
        }
        for line in &fix.add {
            let line = format!("+ {line}");
            let _ = writeln!(
                out,
                "      {}",
                if color {
                    line.green().to_string()
                } else {
                    line
                }
            );
        }
        if let Some(note) = &fix.note {
            let _ = writeln!(out, "      {}", note.get(lang));
        }
    }
}

/// The JSON line for an input that is not a domain name.
pub fn input_error_json(input: &str, message: &str) -> Value {
    json!({ "input": input, "ok": false, "error": message })
}

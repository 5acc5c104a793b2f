//! The result of checking one domain, and its two renderings: text for people, JSON
//! Lines for programs.
//!
//! The JSON shape is a contract that scripts and the rest of pecwatch rely on: one object
//! per input with `domain`, `input`, `ok`, `transient`, `codes` (sorted error codes),
//! `warnings` (sorted warning codes) and `findings` (`code`, `severity`, `message`,
//! `transient`, `servers`, `fix`), plus `verdict`, `profile`, `zone` and a per-server table.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::net::IpAddr;

use owo_colors::OwoColorize;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::Lang;
use crate::check::observation::Observation;
use crate::check::observation::Outcome;
use crate::finding::{Code, Evidence, Finding, Fix, FixCase, Severity};
use crate::name::{DomainName, display_name};

/// The overall verdict of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
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

/// One row of the per-server table (members in alphabetical order: see [`crate::view`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ServerRow {
    /// Address.
    #[schema(value_type = String)]
    pub address: IpAddr,
    /// The outcome of the MX query.
    pub mx: Outcome,
    /// Server name.
    pub name: String,
    /// The MX records it returned, as zone-file text.
    pub records: Vec<String>,
    /// SOA serial, when the server gave one.
    pub serial: Option<u32>,
    /// The outcome of the SOA query.
    pub soa: Outcome,
}

/// How one RRset fared under DNSSEC validation, for reports and pages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DnssecRow {
    /// The signed zones on the path, from the root down.
    pub chain: Vec<ChainRow>,
    /// Why, for anything but secure.
    pub detail: Option<String>,
    /// The owner (`pec.example.it`).
    pub name: String,
    /// `secure`, `insecure`, `bogus` or `indeterminate`.
    #[schema(value_type = String)]
    pub status: Cow<'static, str>,
    /// The type (`MX`, `A`).
    #[serde(rename = "type")]
    pub rtype: String,
}

/// One signed zone on a DNSSEC path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChainRow {
    /// Its DS records (`DS 12345 alg 13 digest 2`).
    pub ds: Vec<String>,
    /// The key tags of the DNSKEYs it serves.
    pub keys: Vec<u16>,
    /// Until when the signatures checked for this zone are valid (Unix seconds).
    pub valid_until: Option<i64>,
    /// The zone (`example.it.`).
    pub zone: String,
}

impl DnssecRow {
    fn of(validation: &crate::check::observation::Validation) -> Self {
        use crate::check::observation::Security;
        let (status, detail) = match &validation.security {
            Security::Secure { .. } => ("secure", None),
            Security::Insecure { zone, why } => (
                "insecure",
                Some(format!(
                    "{why:?} at {}",
                    crate::check::observation::fqdn(zone)
                )),
            ),
            Security::Bogus { bogus, .. } => (
                "bogus",
                Some(serde_json::to_string(bogus).unwrap_or_default()),
            ),
            Security::Indeterminate { detail, .. } => ("indeterminate", Some(detail.clone())),
        };
        Self {
            name: display_name(&validation.name),
            rtype: validation.rtype.to_string(),
            status: Cow::Borrowed(status),
            detail,
            chain: validation
                .chain
                .iter()
                .map(|link| ChainRow {
                    zone: crate::check::observation::fqdn(&link.zone),
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
                            .map(|(p, e)| format!("MX {p} {}", crate::check::observation::fqdn(e)))
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

    /// The JSON view of this report (one line of `check --format json`), its texts in
    /// `lang`.
    pub fn view(&self, lang: Lang) -> CheckResult {
        let verdict = self.verdict();
        let by_name = |codes: Vec<Code>| {
            let mut names: Vec<String> = codes.iter().map(|c| c.as_str().to_owned()).collect();
            names.sort_unstable();
            names
        };
        CheckResult {
            codes: by_name(self.codes_of(Severity::Error)),
            dnssec: Some(self.dnssec.clone()),
            domain: self.domain.to_string(),
            findings: self
                .findings
                .iter()
                .map(|f| FindingView::new(f, lang))
                .collect(),
            input: self.input.clone(),
            nameservers: self.servers.clone(),
            ok: verdict == Verdict::Ok,
            profile: self.profile.clone(),
            provider: Some(self.provider.clone()),
            transient: verdict == Verdict::TransientError,
            verdict,
            warnings: by_name(self.codes_of(Severity::Warning)),
            zone: self.zone.clone(),
        }
    }

    /// The line of `check --format json`: the [`view`](Self::view) written in one go
    /// (its members are declared in the order a `serde_json::Value` would write them).
    pub fn to_json_line(&self, lang: Lang) -> String {
        serde_json::to_string(&self.view(lang)).unwrap_or_default()
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
            let status = match (row.status.as_ref(), lang) {
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
pub fn input_error_json(input: &str, message: &str) -> String {
    serde_json::to_string(&InputError::new(input, message)).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// A recorded result read back leniently
// ---------------------------------------------------------------------------------------

/// The parts of a recorded check result that notices and the console show, read
/// leniently: a result recorded by another version of pecwatch, or cut short, still
/// reads. A member that is missing or not of its type reads as empty, unknown members
/// are ignored and codes stay text (a code this version does not know is still shown).
/// The strict reading is [`CheckResult`] (the API and `domains show`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct RecordedResult {
    /// The findings, errors first; `None` when the result has no `findings` list (then it
    /// is not a check result at all).
    #[serde(default, deserialize_with = "lenient")]
    pub findings: Option<Vec<RecordedFinding>>,
    /// What every server of the zone said.
    #[serde(default, deserialize_with = "lenient")]
    pub nameservers: Vec<RecordedServer>,
}

impl RecordedResult {
    /// Reads a recorded result; anything that is not a JSON object reads as `None`.
    pub fn read(value: &Value) -> Option<Self> {
        value
            .is_object()
            .then(|| Self::deserialize(value).unwrap_or_default())
    }
}

/// One recorded finding (see [`FindingView`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct RecordedFinding {
    /// The code as recorded (`MX_NON_DEFINITO`); `None` when missing.
    #[serde(default, deserialize_with = "lenient")]
    pub code: Option<String>,
    /// Error or warning; `None` when missing or unknown.
    #[serde(default, deserialize_with = "lenient")]
    pub severity: Option<Severity>,
    /// What is wrong, in the language of the check.
    #[serde(default, deserialize_with = "lenient")]
    pub message: String,
    /// Whether it rested only on timeouts.
    #[serde(default, deserialize_with = "lenient")]
    pub transient: bool,
    /// The ways to fix it, the first preferred.
    #[serde(default, deserialize_with = "lenient")]
    pub fix: Vec<RecordedFix>,
}

/// One recorded way to fix a finding (see [`FixView`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct RecordedFix {
    /// The case it is written for, as recorded (`parent_zone`).
    #[serde(default, deserialize_with = "lenient")]
    pub case: String,
    /// The zone to edit.
    #[serde(default, deserialize_with = "lenient")]
    pub zone: String,
    /// Zone-file lines to add.
    #[serde(default, deserialize_with = "lenient")]
    pub add: Vec<String>,
    /// Zone-file lines to remove.
    #[serde(default, deserialize_with = "lenient")]
    pub remove: Vec<String>,
    /// What else to do, in plain words.
    #[serde(default, deserialize_with = "lenient")]
    pub note: Option<String>,
}

/// What one server said, as recorded (see [`ServerRow`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct RecordedServer {
    /// The server's name.
    #[serde(default, deserialize_with = "lenient")]
    pub name: String,
    /// The address asked, as text.
    #[serde(default, deserialize_with = "lenient")]
    pub address: String,
    /// The MX records it answered.
    #[serde(default, deserialize_with = "lenient")]
    pub records: Vec<String>,
    /// The zone's SOA serial it answered.
    #[serde(default, deserialize_with = "lenient")]
    pub serial: Option<u64>,
    /// The outcome of the MX query when it was not an answer (`timeout`), as recorded.
    #[serde(default, deserialize_with = "lenient")]
    pub mx: String,
}

/// Reads a member as `T`, or as `T`'s default when it is of another type: for reading
/// records stored by another version (`#[serde(default, deserialize_with = "lenient")]`).
pub fn lenient<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned + Default,
{
    let value = Value::deserialize(deserializer)?;
    Ok(T::deserialize(value).unwrap_or_default())
}

// ---------------------------------------------------------------------------------------
// The JSON view (members in alphabetical order: see `crate::view`)
// ---------------------------------------------------------------------------------------

/// The result of checking one name, as `pecwatch check --format json` prints it (one
/// line), `POST /api/v1/check` answers it and a recorded check keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CheckResult {
    /// The error codes, sorted.
    pub codes: Vec<String>,
    /// The DNSSEC validation of the MX and the MX targets' addresses (absent in checks
    /// recorded before DNSSEC was checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnssec: Option<Vec<DnssecRow>>,
    /// The name checked (A-labels).
    pub domain: String,
    /// The findings, errors first.
    pub findings: Vec<FindingView>,
    /// The input as given.
    pub input: String,
    /// What every server of the zone said.
    pub nameservers: Vec<ServerRow>,
    /// No error.
    pub ok: bool,
    /// The profile's name.
    pub profile: String,
    /// The provider's name for people (absent in checks recorded before it was named).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Errors resting only on timeouts.
    pub transient: bool,
    /// The verdict.
    pub verdict: Verdict,
    /// The warning codes, sorted.
    pub warnings: Vec<String>,
    /// The enclosing zone's apex, when found.
    pub zone: Option<String>,
}

/// One finding of a check, its texts in one language.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FindingView {
    /// The code (`MX_NON_DEFINITO`).
    pub code: Code,
    /// The ways to fix it, the first preferred.
    pub fix: Vec<FixView>,
    /// What is wrong, for people.
    pub message: String,
    /// What it rests on.
    pub servers: Vec<EvidenceView>,
    /// Error or warning.
    pub severity: Severity,
    /// Whether it rests only on timeouts.
    pub transient: bool,
}

impl FindingView {
    fn new(finding: &Finding, lang: Lang) -> Self {
        FindingView {
            code: finding.code,
            fix: finding
                .fixes
                .iter()
                .map(|fix| FixView::new(fix, lang))
                .collect(),
            message: finding.message.get(lang).to_owned(),
            servers: finding.evidence.iter().map(EvidenceView::from).collect(),
            severity: finding.severity(),
            transient: finding.transient,
        }
    }
}

/// One way to fix a finding: the zone to edit and the exact lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FixView {
    /// Zone-file lines to add.
    pub add: Vec<String>,
    /// The customer's case it is written for.
    pub case: FixCase,
    /// What else to do, in plain words.
    pub note: Option<String>,
    /// Zone-file lines to remove.
    pub remove: Vec<String>,
    /// The zone to edit.
    pub zone: String,
}

impl FixView {
    fn new(fix: &Fix, lang: Lang) -> Self {
        FixView {
            add: fix.add.clone(),
            case: fix.case,
            note: fix.note.as_ref().map(|note| note.get(lang).to_owned()),
            remove: fix.remove.clone(),
            zone: fix.zone.clone(),
        }
    }
}

/// What a finding rests on: which server was asked what, and what came back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EvidenceView {
    /// The address queried.
    #[schema(value_type = Option<String>)]
    pub address: Option<IpAddr>,
    /// What came back (`NXDOMAIN`, `ANSWER: … MX 10 mail.example.it.`).
    pub outcome: String,
    /// The query (`pec.example.it MX`).
    pub query: String,
    /// The server's name, or `resolver`.
    pub server: Option<String>,
}

impl From<&Evidence> for EvidenceView {
    fn from(evidence: &Evidence) -> Self {
        EvidenceView {
            address: evidence.address,
            outcome: evidence.outcome.clone(),
            query: evidence.query.clone(),
            server: evidence.server.clone(),
        }
    }
}

/// The line for an input that is not a domain name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InputError {
    /// Why it is not one.
    pub error: String,
    /// The input as given.
    pub input: String,
    /// Always false.
    pub ok: bool,
}

impl InputError {
    /// The line for `input`, refused with `message`.
    pub fn new(input: &str, message: &str) -> Self {
        InputError {
            error: message.to_owned(),
            input: input.to_owned(),
            ok: false,
        }
    }
}

/// One line of `check --format json`: a result, or an input that is not a name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum CheckLine {
    /// A name checked.
    Result(Box<CheckResult>),
    /// An input refused.
    InputError(InputError),
}

impl CheckLine {
    /// Whether it is a result without error.
    pub fn ok(&self) -> bool {
        match self {
            CheckLine::Result(result) => result.ok,
            CheckLine::InputError(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_result_reads_leniently() {
        let stored = serde_json::json!({
            "findings": [
                {"code": "MX_NON_DEFINITO", "severity": "error", "message": "m",
                 "transient": true, "fix": [{"case": "own_zone", "zone": "esempio.it",
                 "add": ["a"], "remove": [], "note": null}], "servers": []},
                {"code": "CODICE_FUTURO", "severity": "critical", "message": 5}
            ],
            "nameservers": [{"name": "ns1", "address": "192.0.2.1", "records": ["10 mx."],
                             "serial": 7, "mx": "answer", "soa": "answer"}],
            "verdict": "error"
        });
        let read = RecordedResult::read(&stored).expect("an object");
        let findings = read.findings.expect("a findings list");
        assert_eq!(findings[0].code.as_deref(), Some("MX_NON_DEFINITO"));
        assert_eq!(findings[0].severity, Some(Severity::Error));
        assert!(findings[0].transient);
        assert_eq!(findings[0].fix[0].add, ["a"]);
        // An unknown code is kept; a severity or message of another kind reads as empty.
        assert_eq!(findings[1].code.as_deref(), Some("CODICE_FUTURO"));
        assert_eq!(
            (findings[1].severity, findings[1].message.as_str()),
            (None, "")
        );
        assert_eq!(read.nameservers[0].serial, Some(7));
        assert_eq!(read.nameservers[0].records, ["10 mx."]);
        // Without a findings list it is not a check result; not an object reads as None.
        assert_eq!(
            RecordedResult::read(&serde_json::json!({"ok": true}))
                .unwrap()
                .findings,
            None
        );
        assert_eq!(RecordedResult::read(&serde_json::json!([1])), None);
    }
}

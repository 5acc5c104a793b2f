//! The errors of a failing check, as a notice explains them, read from the check's stored
//! JSON (`checks.result`, i.e. the [`Report::view`](crate::report::Report::view) a sweep records).
//!
//! Only findings of severity `error` are kept: warnings never block certification, and a
//! notice that lists them would bury what the holder must do. The message and the fix's
//! note are taken as stored (the sweep stores them in the holder's language); why the
//! error blocks PEC mail comes from [`Code::explanation`] in the notice's language.

use serde::Serialize;
use serde_json::Value;

use crate::Lang;
use crate::finding::{Code, FixCase, Severity};
use crate::report::{RecordedFix, RecordedResult};

use super::NoticeError;

/// One error of the last failing check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorDetail {
    /// The code (`A_NON_CORRETTO`).
    pub code: String,
    /// The code as the providers write it (`A NON CORRETTO`).
    pub label: String,
    /// What is wrong for this domain, in plain words.
    pub message: String,
    /// Why it matters for PEC mail (empty for a code this version does not know).
    pub why: String,
    /// The error rests only on timeouts: it may go away by itself.
    pub transient: bool,
    /// Ways to fix it, the recommended first (empty when the same fixes were already
    /// given for an earlier error: see [`same_fix_as_above`](Self::same_fix_as_above)).
    pub fixes: Vec<FixLines>,
    /// The fixes are the same as an earlier error's, which the notice already shows.
    pub same_fix_as_above: bool,
}

/// One way to fix an error: the zone to edit and the exact zone-file lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FixLines {
    /// The kind of fix (`parent_zone`, `own_zone`, `delegation`, `propagation`,
    /// `registration`).
    pub case: String,
    /// Its title in the notice's language (`Record nella zona padre`).
    pub title: String,
    /// The zone to edit (`esempio.it`).
    pub zone: String,
    /// Lines to add.
    pub add: Vec<String>,
    /// Lines to remove.
    pub remove: Vec<String>,
    /// What else to do, in plain words.
    pub note: Option<String>,
}

impl ErrorDetail {
    /// The errors of a stored check result, in order; empty for a passing check.
    ///
    /// Fails only when `result` is not a check result at all (not an object, no
    /// `findings` list, a finding without a `code`): fields added in later versions are
    /// ignored and missing optional ones are empty.
    pub fn from_check(result: &Value, lang: Lang) -> Result<Vec<Self>, NoticeError> {
        let bad = |what: &str| NoticeError::BadCheck(what.to_owned());
        let findings = RecordedResult::read(result)
            .and_then(|result| result.findings)
            .ok_or_else(|| bad("no \"findings\" list"))?;
        let mut errors: Vec<ErrorDetail> = Vec::new();
        for finding in findings {
            if finding.severity != Some(Severity::Error) {
                continue;
            }
            let code = finding
                .code
                .ok_or_else(|| bad("a finding without a \"code\""))?;
            errors.push(ErrorDetail {
                label: code.replace('_', " "),
                why: Code::parse(&code)
                    .map(|code| code.explanation(lang).to_owned())
                    .unwrap_or_default(),
                message: plain_message(&finding.message, &code),
                transient: finding.transient,
                code,
                fixes: finding
                    .fix
                    .into_iter()
                    .map(|fix| FixLines::new(fix, lang))
                    .collect(),
                same_fix_as_above: false,
            });
        }
        // An error whose fixes were shown for an earlier one refers to them instead.
        let mut shown: Vec<Vec<FixLines>> = Vec::new();
        for error in &mut errors {
            if !error.fixes.is_empty() && shown.contains(&error.fixes) {
                error.same_fix_as_above = true;
                error.fixes.clear();
            } else {
                shown.push(error.fixes.clone());
            }
        }
        Ok(errors)
    }
}

impl FixLines {
    fn new(fix: RecordedFix, lang: Lang) -> Self {
        FixLines {
            title: fix_case(&fix.case)
                .map_or_else(|| fix.case.clone(), |c| c.title(lang).to_owned()),
            zone: fix.zone,
            add: fix.add,
            remove: fix.remove,
            note: fix.note,
            case: fix.case,
        }
    }
}

/// A finding's message without the code it starts with (the notice shows the code as a
/// heading), starting with a capital letter: "A NON CORRETTO: il record MX…" becomes "Il
/// record MX…". A message that starts with a domain name keeps it as written
/// ("pec.esempio.it esiste…").
fn plain_message(message: &str, code: &str) -> String {
    let label = code.replace('_', " ");
    let rest = message
        .strip_prefix(label.as_str())
        .and_then(|rest| rest.strip_prefix(':'))
        .map_or(message, str::trim_start);
    let first_word = rest.split_whitespace().next().unwrap_or_default();
    if first_word.contains('.') {
        return rest.to_owned();
    }
    let mut chars = rest.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A fix case from its stored name.
fn fix_case(name: &str) -> Option<FixCase> {
    [
        FixCase::ParentZone,
        FixCase::OwnZone,
        FixCase::Delegation,
        FixCase::Propagation,
        FixCase::Registration,
        FixCase::Dnssec,
    ]
    .into_iter()
    .find(|case| {
        serde_json::to_value(case)
            .ok()
            .is_some_and(|value| value.as_str() == Some(name))
    })
}

//! What a sweep did, for the operator's terminal, the logs and the registry.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::Lang;
use crate::lifecycle::State;
use crate::registry::{Sweep, SweepKind, SweepTally};
use crate::report::lenient;

use super::HoldReason;

/// One canary check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CanaryResult {
    /// The canary domain.
    pub domain: String,
    /// `before` or `after` the sweep.
    pub when: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// Its error codes (or why it could not be checked).
    pub codes: Vec<String>,
}

/// A stored sweep summary read back leniently, for the console: a summary stored by
/// another version of pecwatch, or cut short, still reads (a missing member, or one not
/// of its type, reads as empty; codes stay text).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct RecordedSummary {
    /// Domains checked.
    #[serde(default, deserialize_with = "lenient")]
    pub checked: u64,
    /// Checks without errors.
    #[serde(default, deserialize_with = "lenient")]
    pub ok: u64,
    /// Checks with errors.
    #[serde(default, deserialize_with = "lenient")]
    pub failed: u64,
    /// Failing checks whose errors rest only on timeouts.
    #[serde(default, deserialize_with = "lenient")]
    pub transient: u64,
    /// Domains that went into error.
    #[serde(default, deserialize_with = "lenient")]
    pub new_errors: u64,
    /// Domains corrected.
    #[serde(default, deserialize_with = "lenient")]
    pub corrected: u64,
    /// Domains removed.
    #[serde(default, deserialize_with = "lenient")]
    pub removed: u64,
    /// Domains put under review.
    #[serde(default, deserialize_with = "lenient")]
    pub under_review: u64,
    /// Domains whose certification expired.
    #[serde(default, deserialize_with = "lenient")]
    pub expired: u64,
    /// How long the sweep took, when recorded.
    #[serde(default, deserialize_with = "lenient")]
    pub seconds: Option<f64>,
    /// Failing checks by error code.
    #[serde(default, deserialize_with = "lenient")]
    pub codes: BTreeMap<String, u64>,
    /// The canary checks.
    #[serde(default, deserialize_with = "lenient")]
    pub canaries: Vec<RecordedCanary>,
}

impl RecordedSummary {
    /// Reads a stored summary; anything that is not a JSON object reads as empty.
    pub fn read(value: &serde_json::Value) -> Self {
        Self::deserialize(value).unwrap_or_default()
    }
}

/// One stored canary check (see [`CanaryResult`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct RecordedCanary {
    /// The canary domain.
    #[serde(default, deserialize_with = "lenient")]
    pub domain: String,
    /// `before` or `after` the sweep.
    #[serde(default, deserialize_with = "lenient")]
    pub when: String,
    /// Whether it passed.
    #[serde(default, deserialize_with = "lenient")]
    pub ok: bool,
    /// Its error codes (or why it could not be checked).
    #[serde(default, deserialize_with = "lenient")]
    pub codes: Vec<String>,
}

/// The summary of a sweep: printed at its end and stored with it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// The sweep's identifier.
    pub sweep: i64,
    /// Its kind.
    pub kind: SweepKind,
    /// When it started.
    pub started: Timestamp,
    /// When it finished.
    pub finished: Timestamp,
    /// How long this process worked on it, in seconds.
    pub seconds: f64,
    /// Domains checked (by every process that worked on the sweep).
    pub checked: u64,
    /// Checks that passed.
    pub ok: u64,
    /// Checks that failed.
    pub failed: u64,
    /// Failing checks that rested only on timeouts.
    pub transient: u64,
    /// Previously correct domains that failed.
    pub new_failures: u64,
    /// Domains whose error was confirmed (`certified` → `in_error`): notice sent.
    pub new_errors: u64,
    /// Domains corrected in time (`in_error` → `certified`).
    pub corrected: u64,
    /// Domains activated: their awaited DNS verified (`pending_dns` → `certified`).
    pub activated: u64,
    /// Domains removed at their deadline.
    pub removed: u64,
    /// Removed domains now correct, awaiting an operator's review.
    pub under_review: u64,
    /// Domains whose certification expired.
    pub expired: u64,
    /// Failing checks by error code.
    pub codes: BTreeMap<String, u64>,
    /// Whether the lifecycle changes were held back.
    pub held: bool,
    /// Why, as recorded (in English).
    pub hold_reason: Option<String>,
    /// Why, in detail, when this process found the reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_cause: Option<HoldReason>,
    /// The canary checks this process made.
    pub canaries: Vec<CanaryResult>,
}

impl Summary {
    /// The summary of a decided sweep from its tally.
    pub fn new(
        sweep: &Sweep,
        tally: SweepTally,
        canaries: Vec<CanaryResult>,
        hold_cause: Option<HoldReason>,
        finished: Timestamp,
        elapsed: Duration,
    ) -> Self {
        Summary {
            sweep: sweep.id,
            kind: sweep.kind,
            started: sweep.started,
            finished,
            seconds: (elapsed.as_secs_f64() * 100.0).round() / 100.0,
            checked: tally.checked,
            ok: tally.ok,
            failed: tally.checked - tally.ok.min(tally.checked),
            transient: tally.transient,
            new_failures: tally.new_failures,
            new_errors: tally.between(State::Certified, State::InError),
            corrected: tally.between(State::InError, State::Certified),
            activated: tally.between(State::PendingDns, State::Certified),
            removed: tally.into_state(State::Removed),
            under_review: tally.into_state(State::UnderReview),
            expired: tally.into_state(State::Expired),
            codes: tally.codes,
            held: sweep.held,
            hold_reason: sweep.hold_reason.clone(),
            hold_cause,
            canaries,
        }
    }

    /// The summary as metrics in the Prometheus text exposition format, for a textfile
    /// collector. `alerts_total` is the number of operator alerts ever raised.
    pub fn to_prometheus(&self, alerts_total: u64) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, help: &str, kind: &str, samples: &[(String, f64)]| {
            let _ = writeln!(out, "# HELP pecwatch_{name} {help}");
            let _ = writeln!(out, "# TYPE pecwatch_{name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "pecwatch_{name}{labels} {value}");
            }
        };
        let one = |value: f64| vec![(String::new(), value)];
        metric(
            "sweep_last_finished_timestamp_seconds",
            "When the last sweep finished.",
            "gauge",
            &one(self.finished.as_second() as f64),
        );
        metric(
            "sweep_duration_seconds",
            "How long the last sweep took in this process.",
            "gauge",
            &one(self.seconds),
        );
        metric(
            "sweep_held",
            "Whether the last sweep's lifecycle changes were held back (1) or applied (0).",
            "gauge",
            &one(f64::from(u8::from(self.held))),
        );
        metric(
            "sweep_checks",
            "Checks of the last sweep, by result.",
            "gauge",
            &[
                ("{result=\"ok\"}".to_owned(), self.ok as f64),
                ("{result=\"failed\"}".to_owned(), self.failed as f64),
                ("{result=\"transient\"}".to_owned(), self.transient as f64),
            ],
        );
        let codes: Vec<(String, f64)> = self
            .codes
            .iter()
            .map(|(code, count)| (format!("{{code=\"{code}\"}}"), *count as f64))
            .collect();
        metric(
            "sweep_errors",
            "Failing checks of the last sweep, by error code.",
            "gauge",
            &codes,
        );
        metric(
            "sweep_transitions",
            "State changes made by the last sweep, by kind.",
            "gauge",
            &[
                ("{to=\"in_error\"}".to_owned(), self.new_errors as f64),
                ("{to=\"certified\"}".to_owned(), self.corrected as f64),
                ("{to=\"removed\"}".to_owned(), self.removed as f64),
                ("{to=\"under_review\"}".to_owned(), self.under_review as f64),
                ("{to=\"expired\"}".to_owned(), self.expired as f64),
            ],
        );
        metric(
            "alerts_total",
            "Operator alerts raised (held sweeps, …).",
            "counter",
            &one(alerts_total as f64),
        );
        out
    }

    /// The summary for people, a few lines.
    pub fn to_text(&self, lang: Lang) -> String {
        let mut out = String::new();
        let rate = self.checked as f64 / self.seconds.max(0.01);
        let _ = writeln!(
            out,
            "{} {} {}: {} {} {:.2} s ({rate:.0}/s)",
            self.kind.label(lang),
            lang.pick("n.", "no."),
            self.sweep,
            self.checked,
            lang.pick("domini controllati in", "domains checked in"),
            self.seconds,
        );
        let _ = writeln!(
            out,
            "  {} {} · {} {} ({} {})",
            lang.pick("corretti", "ok"),
            self.ok,
            lang.pick("con errori", "failing"),
            self.failed,
            self.transient,
            lang.pick("solo per timeout", "timeouts only"),
        );
        let _ = writeln!(
            out,
            "  {} {} · {} {} · {} {} · {} {} · {} {}",
            lang.pick("nuovi errori", "new errors"),
            self.new_errors,
            lang.pick("corretti in tempo", "corrected"),
            self.corrected,
            lang.pick("rimossi", "removed"),
            self.removed,
            lang.pick("in revisione", "under review"),
            self.under_review,
            lang.pick("scaduti", "expired"),
            self.expired,
        );
        if self.activated > 0 {
            let _ = writeln!(
                out,
                "  {} {}",
                lang.pick("attivati (DNS verificato)", "activated (DNS verified)"),
                self.activated
            );
        }
        if !self.codes.is_empty() {
            let codes: Vec<String> = self
                .codes
                .iter()
                .map(|(code, count)| format!("{code} {count}"))
                .collect();
            let _ = writeln!(
                out,
                "  {}: {}",
                lang.pick("per codice", "by code"),
                codes.join(", ")
            );
        }
        if !self.canaries.is_empty() {
            let canaries: Vec<String> = self
                .canaries
                .iter()
                .map(|c| {
                    let when = match (c.when, lang) {
                        ("before", Lang::It) => "prima",
                        (_, Lang::It) => "dopo",
                        (when, Lang::En) => when,
                    };
                    let verdict = if c.ok {
                        "ok".to_owned()
                    } else {
                        c.codes.join(" ")
                    };
                    format!("{} {when}: {verdict}", c.domain)
                })
                .collect();
            let _ = writeln!(
                out,
                "  {}: {}",
                lang.pick("domini sentinella", "canaries"),
                canaries.join(" · ")
            );
        }
        if self.held {
            let _ = writeln!(
                out,
                "  {}: {}",
                lang.pick(
                    "SOSPESO, nessun dominio cambia stato e gli operatori sono avvisati",
                    "HELD, no domain changes state and the operators are alerted"
                ),
                match (&self.hold_cause, &self.hold_reason) {
                    (Some(cause), _) => cause.text(lang),
                    (None, Some(reason)) => reason.clone(),
                    (None, None) => "-".to_owned(),
                },
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_names_every_count_and_the_hold() {
        let t0: Timestamp = "2026-11-23T02:00:00Z".parse().unwrap();
        let sweep = Sweep {
            id: 7,
            kind: SweepKind::Daily,
            started: t0,
            finished: None,
            summary: None,
            held: true,
            decided: Some(t0),
            hold_reason: Some("canary domains failed after the sweep".into()),
        };
        let mut tally = SweepTally {
            checked: 1000,
            ok: 990,
            transient: 4,
            previously_ok: 995,
            new_failures: 6,
            ..SweepTally::default()
        };
        tally.codes.insert("A_NON_CORRETTO".into(), 6);
        tally
            .transitions
            .insert((State::Certified, State::InError), 2);
        tally
            .transitions
            .insert((State::InError, State::Removed), 1);
        let canaries = vec![CanaryResult {
            domain: "pec.canary.it".into(),
            when: "after",
            ok: false,
            codes: vec!["NS_NON_DEFINITO".into()],
        }];
        let cause = HoldReason::Canaries {
            when: "after",
            failed: vec!["pec.canary.it (NS_NON_DEFINITO)".into()],
        };
        let summary = Summary::new(
            &sweep,
            tally,
            canaries,
            Some(cause),
            t0,
            Duration::from_secs(2),
        );
        assert_eq!(
            (summary.failed, summary.new_errors, summary.removed),
            (10, 2, 1)
        );
        // Stored, then read back by the console: every count, the codes, the canaries.
        let stored = serde_json::to_value(&summary).unwrap();
        let read = RecordedSummary::read(&stored);
        assert_eq!(
            (read.checked, read.failed, read.new_errors, read.removed),
            (1000, 10, 2, 1)
        );
        assert_eq!(read.seconds, Some(2.0));
        assert_eq!(read.codes.get("A_NON_CORRETTO"), Some(&6));
        assert_eq!(read.canaries[0].domain, "pec.canary.it");
        assert!(!read.canaries[0].ok);
        // A summary cut short or of another version still reads, what is missing as empty.
        let odd = serde_json::json!({"checked": "many", "ok": 3, "canaries": [{"ok": true}]});
        let read = RecordedSummary::read(&odd);
        assert_eq!((read.checked, read.ok, read.canaries.len()), (0, 3, 1));
        assert_eq!(
            RecordedSummary::read(&serde_json::json!("text")),
            RecordedSummary::default()
        );
        let it = summary.to_text(Lang::It);
        assert!(
            it.starts_with("Controllo giornaliero n. 7: 1000 domini controllati in 2.00 s (500/s)"),
            "{it}"
        );
        assert!(
            it.contains("nuovi errori 2 · corretti in tempo 0 · rimossi 1"),
            "{it}"
        );
        assert!(it.contains("per codice: A_NON_CORRETTO 6"), "{it}");
        assert!(
            it.contains("domini sentinella: pec.canary.it dopo: NS_NON_DEFINITO"),
            "{it}"
        );
        assert!(it.contains("SOSPESO, nessun dominio cambia stato e gli operatori sono avvisati: domini sentinella in errore dopo il controllo"), "{it}");
        let en = summary.to_text(Lang::En);
        assert!(en.contains("HELD, no domain changes state"), "{en}");
        let metrics = summary.to_prometheus(3);
        assert!(metrics.contains("\npecwatch_sweep_held 1\n"), "{metrics}");
        assert!(
            metrics.contains("pecwatch_sweep_checks{result=\"failed\"} 10\n"),
            "{metrics}"
        );
        assert!(metrics.contains("pecwatch_sweep_errors{code=\"A_NON_CORRETTO\"} 6\n"));
        assert!(
            metrics.contains("# TYPE pecwatch_alerts_total counter\npecwatch_alerts_total 3\n")
        );
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["held"], true);
        assert_eq!(json["codes"]["A_NON_CORRETTO"], 6);
    }
}

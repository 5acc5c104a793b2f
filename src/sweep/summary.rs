//! What a sweep did, for the operator's terminal, the logs and the registry.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use crate::Lang;
use crate::lifecycle::State;
use crate::registry::{Sweep, SweepTally};

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

/// The summary of a sweep: printed at its end and stored with it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// The sweep's identifier.
    pub sweep: i64,
    /// Its kind (`sweep`, `daily`, `recheck`).
    pub kind: String,
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
    /// Why.
    pub hold_reason: Option<String>,
    /// The canary checks this process made.
    pub canaries: Vec<CanaryResult>,
}

impl Summary {
    /// The summary of a decided sweep from its tally.
    pub fn new(
        sweep: &Sweep,
        tally: SweepTally,
        canaries: Vec<CanaryResult>,
        finished: Timestamp,
        elapsed: Duration,
    ) -> Self {
        Summary {
            sweep: sweep.id,
            kind: sweep.kind.clone(),
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
            removed: tally.into_state(State::Removed),
            under_review: tally.into_state(State::UnderReview),
            expired: tally.into_state(State::Expired),
            codes: tally.codes,
            held: sweep.held,
            hold_reason: sweep.hold_reason.clone(),
            canaries,
        }
    }

    /// The summary for people, a few lines.
    pub fn to_text(&self, lang: Lang) -> String {
        let mut out = String::new();
        let rate = self.checked as f64 / self.seconds.max(0.01);
        let _ = writeln!(
            out,
            "{} {} ({}): {} {} {:.1} s ({rate:.0}/s)",
            lang.pick("Giro", "Sweep"),
            self.sweep,
            self.kind,
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
        let failed_canaries = self.canaries.iter().filter(|c| !c.ok).count();
        if !self.canaries.is_empty() {
            let _ = writeln!(
                out,
                "  {}: {} {}, {} {}",
                lang.pick("canarini", "canaries"),
                self.canaries.len() - failed_canaries,
                lang.pick("corretti", "ok"),
                failed_canaries,
                lang.pick("falliti", "failed"),
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
                self.hold_reason.as_deref().unwrap_or("-"),
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
            kind: "daily".into(),
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
        let summary = Summary::new(&sweep, tally, canaries, t0, Duration::from_secs(2));
        assert_eq!(
            (summary.failed, summary.new_errors, summary.removed),
            (10, 2, 1)
        );
        let it = summary.to_text(Lang::It);
        assert!(
            it.starts_with("Giro 7 (daily): 1000 domini controllati in 2.0 s (500/s)"),
            "{it}"
        );
        assert!(
            it.contains("nuovi errori 2 · corretti in tempo 0 · rimossi 1"),
            "{it}"
        );
        assert!(it.contains("per codice: A_NON_CORRETTO 6"), "{it}");
        assert!(it.contains("canarini: 0 corretti, 1 falliti"), "{it}");
        assert!(it.contains("SOSPESO"), "{it}");
        let en = summary.to_text(Lang::En);
        assert!(en.contains("HELD, no domain changes state"), "{en}");
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["held"], true);
        assert_eq!(json["codes"]["A_NON_CORRETTO"], 6);
    }
}

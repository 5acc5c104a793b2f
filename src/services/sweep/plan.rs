//! The sweep's pure decisions: when a domain is next checked, whether a check's lifecycle
//! change must wait for the sweep's decision, and whether a sweep is held. No I/O: the
//! engine in [`super`] feeds these with what it read and checked.

use std::fmt;

use jiff::civil::DateTime;
use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};

use serde::Serialize;

use crate::Lang;
use crate::lifecycle::{self, DomainStatus, Outcome, Policy, State, plus};

/// The shortest wait before a domain is checked again: a domain is never due again
/// within the sweep that checked it, even when the clock stands still (`PECWATCH_NOW`).
pub const MIN_RECHECK: SignedDuration = SignedDuration::from_mins(1);

/// When the daily sweep runs: a local time in a time zone (03:00 Europe/Rome).
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    /// The local time of day.
    pub time: Time,
    /// The zone of `time`.
    pub zone: TimeZone,
}

impl Schedule {
    /// The first daily slot strictly after `after`. On a day when the local time does
    /// not exist (a DST gap) the slot moves forward by the gap (02:30 becomes 03:30);
    /// when it occurs twice, the first is taken.
    pub fn next_slot(&self, after: Timestamp) -> Timestamp {
        let local = self.zone.to_datetime(after);
        let today = self.slot_on(&local, 0);
        if today > after {
            today
        } else {
            self.slot_on(&local, 1)
        }
    }

    /// The latest daily slot at or before `at`.
    pub fn previous_slot(&self, at: Timestamp) -> Timestamp {
        let local = self.zone.to_datetime(at);
        let today = self.slot_on(&local, 0);
        if today <= at {
            today
        } else {
            self.slot_on(&local, -1)
        }
    }

    /// The slot on the day `days` after `local`'s date.
    fn slot_on(&self, local: &DateTime, days: i64) -> Timestamp {
        let date = local
            .date()
            .checked_add(days.days())
            .unwrap_or_else(|_| local.date());
        self.zone
            .to_ambiguous_timestamp(date.to_datetime(self.time))
            .compatible()
            // Only out-of-range dates fail (year 9999): the end of time, then.
            .unwrap_or(Timestamp::MAX)
    }
}

/// When a domain with `status` is next due for a check, having been checked (or acted
/// upon) at `now`: at the next daily slot, or sooner when its lifecycle needs it (a
/// failure to confirm, a deadline, an expiry or an expiry warning), or while its DNS is
/// awaited by [`pending_interval`]. Never sooner than [`MIN_RECHECK`].
pub fn next_check(
    status: &DomainStatus,
    policy: &Policy,
    schedule: &Schedule,
    recheck_pending: SignedDuration,
    now: Timestamp,
) -> Timestamp {
    let mut next = schedule.next_slot(now);
    if let Some(due) = lifecycle::next_due(status, policy, now) {
        next = next.min(due);
    }
    if status.state == State::PendingDns {
        let waited = now.duration_since(status.since);
        next = next.min(plus(now, pending_interval(recheck_pending, waited)));
    }
    next.max(plus(now, MIN_RECHECK))
}

/// How long to wait before checking again a domain whose DNS has been awaited for
/// `waited`: `recheck_pending` (10 minutes by default) at first, while the holder is
/// likely at work on the zone, then a sixth of the time waited (an hour after 6 hours,
/// 4 hours after a day); the daily slot caps it in [`next_check`].
pub fn pending_interval(recheck_pending: SignedDuration, waited: SignedDuration) -> SignedDuration {
    recheck_pending.max(waited / 6)
}

/// What to do with one check's lifecycle outcome during a sweep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Nothing in the domain's lifecycle changes: commit the check now.
    Commit,
    /// The check changes the domain's lifecycle (its status, a transition, an effect):
    /// record it and leave the change pending until the sweep decides.
    Defer,
}

/// Whether the outcome of applying a check to `before` must wait for the sweep's
/// decision.
pub fn disposition(before: &DomainStatus, outcome: &Outcome) -> Disposition {
    if outcome.status == *before && outcome.transitions.is_empty() && outcome.effects.is_empty() {
        Disposition::Commit
    } else {
        Disposition::Defer
    }
}

/// The share rule's parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShareRule {
    /// Hold when more than this share (0 to 1) of the previously OK domains fail.
    pub max_new_failure_share: f64,
    /// The rule applies only when at least this many previously OK domains were
    /// checked: in a small re-check run one failure is not a trend.
    pub min_domains: u64,
}

/// Why a sweep holds its lifecycle changes: the fault is more likely ours (the resolver,
/// the network, a profile) than the domains'.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum HoldReason {
    /// Canary domains, known to be correct, failed.
    Canaries {
        /// `before` or `after` the sweep.
        when: &'static str,
        /// Each failed canary with its codes: `pec.x.it (A_NON_CORRETTO)`.
        failed: Vec<String>,
    },
    /// Too many previously correct domains failed at once.
    Share {
        /// How many failed.
        failed: u64,
        /// Of how many previously correct domains checked.
        of: u64,
        /// The largest share allowed (0 to 1).
        max: f64,
    },
}

impl HoldReason {
    /// The reason for people.
    pub fn text(&self, lang: Lang) -> String {
        match (self, lang) {
            (HoldReason::Canaries { when, failed }, Lang::It) => format!(
                "domini sentinella in errore {} controllo: {}",
                if *when == "before" {
                    "prima del"
                } else {
                    "dopo il"
                },
                failed.join("; ")
            ),
            (HoldReason::Canaries { when, failed }, Lang::En) => {
                format!(
                    "canary domains failed {when} the sweep: {}",
                    failed.join("; ")
                )
            }
            (HoldReason::Share { failed, of, max }, Lang::It) => format!(
                "{failed} domini corretti su {of} sono ora in errore ({:.1}%, oltre il {:.1}% \
                 ammesso da sweep.max_new_failure_share): più probabile un guasto del \
                 resolver o della rete che tanti domini guasti",
                percent(*failed, *of),
                max * 100.0
            ),
            (HoldReason::Share { failed, of, max }, Lang::En) => format!(
                "{failed} of {of} previously correct domains failed ({:.1}%, more than the \
                 {:.1}% allowed by sweep.max_new_failure_share): a resolver or network fault \
                 is more likely than so many broken domains",
                percent(*failed, *of),
                max * 100.0
            ),
        }
    }
}

/// In English, as recorded in the registry, the logs and the operators' alert.
impl fmt::Display for HoldReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text(Lang::En))
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    part as f64 * 100.0 / whole.max(1) as f64
}

/// Whether the share rule holds a sweep in which `new_failures` of the `previously_ok`
/// domains checked failed.
pub fn share_hold_reason(
    rule: ShareRule,
    previously_ok: u64,
    new_failures: u64,
) -> Option<HoldReason> {
    if previously_ok == 0 || previously_ok < rule.min_domains {
        return None;
    }
    let share = new_failures as f64 / previously_ok as f64;
    (share > rule.max_new_failure_share).then_some(HoldReason::Share {
        failed: new_failures,
        of: previously_ok,
        max: rule.max_new_failure_share,
    })
}

/// How a sweep watches the resolver it depends on (`[sweep] resolver_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResolverWatch {
    /// Ask the resolver at least this often while checking.
    pub probe_interval: std::time::Duration,
    /// Ask it at once when this many checks' lookups through it failed since it was last
    /// asked.
    pub threshold: u32,
    /// How long a sweep waits, paused, for a resolver that stopped answering before it
    /// gives up (it stays unfinished; the next run resumes it).
    pub wait: std::time::Duration,
}

impl Default for ResolverWatch {
    fn default() -> Self {
        Self {
            probe_interval: std::time::Duration::from_secs(10),
            threshold: 5,
            wait: std::time::Duration::from_secs(30 * 60),
        }
    }
}

/// The wait before asking a resolver that does not answer again, after `attempts` tries:
/// 1, 2, 4, … seconds, at most a minute (a sweep in progress resumes soon after it is
/// back).
pub fn resolver_backoff(attempts: u32) -> std::time::Duration {
    let seconds = 1_u64.checked_shl(attempts.min(16)).unwrap_or(u64::MAX);
    std::time::Duration::from_secs(seconds.min(60))
}

/// The wait before `serve` tries again to start a sweep that the resolver stopped, after
/// `failures` tries in a row: 30 s, 1, 2, 4 … minutes, at most 15 minutes.
pub fn start_backoff(failures: u32) -> std::time::Duration {
    let factor = 1_u64.checked_shl(failures.min(16)).unwrap_or(u64::MAX);
    std::time::Duration::from_secs(30_u64.saturating_mul(factor).min(15 * 60))
}

/// Why a check waits for the resolver before it counts: its lookups through the
/// resolver failed and either the resolver was then found stopped (an outage was declared
/// after it started: it is checked again once the resolver is back) or it has not been
/// asked since.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suspicion {
    /// Nothing rests on the resolver's failure: record it.
    Record,
    /// Keep it until the resolver is next asked (if it answers, record it).
    Hold,
    /// Check it again after the resolver is back.
    Recheck,
}

/// What to do with one check's result: `resolution_failed` says whether its lookups
/// through the resolver failed; `outages_at_start` and `outages_now` count the outages
/// declared when the check started and now; `paused` says whether one is in progress.
pub fn suspicion(
    resolution_failed: bool,
    outages_at_start: u64,
    outages_now: u64,
    paused: bool,
) -> Suspicion {
    if !resolution_failed {
        Suspicion::Record
    } else if paused || outages_at_start != outages_now {
        Suspicion::Recheck
    } else {
        Suspicion::Hold
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Code;
    use crate::lifecycle::{Event, apply};

    #[test]
    fn a_check_that_met_an_outage_is_checked_again() {
        // A check whose lookups all settled does not rest on the resolver.
        assert_eq!(suspicion(false, 0, 1, true), Suspicion::Record);
        // One whose lookups failed waits for the next question to the resolver…
        assert_eq!(suspicion(true, 2, 2, false), Suspicion::Hold);
        // …unless an outage was declared while it ran, or is in progress.
        assert_eq!(suspicion(true, 2, 3, false), Suspicion::Recheck);
        assert_eq!(suspicion(true, 3, 3, true), Suspicion::Recheck);
    }

    #[test]
    fn backoffs_grow_and_stop_growing() {
        let secs = |d: std::time::Duration| d.as_secs();
        let waits: Vec<u64> = (0..8).map(|n| secs(resolver_backoff(n))).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(secs(resolver_backoff(u32::MAX)), 60);
        let starts: Vec<u64> = (0..7).map(|n| secs(start_backoff(n))).collect();
        assert_eq!(starts, vec![30, 60, 120, 240, 480, 900, 900]);
        assert_eq!(secs(start_backoff(u32::MAX)), 900);
    }

    fn rome() -> Schedule {
        Schedule {
            time: Time::constant(3, 0, 0, 0),
            zone: TimeZone::get("Europe/Rome").unwrap(),
        }
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn slots_are_local_time_across_dst() {
        let s = rome();
        // Winter: 03:00 in Rome is 02:00Z.
        assert_eq!(
            s.next_slot(at("2026-11-23T01:00:00Z")),
            at("2026-11-23T02:00:00Z")
        );
        assert_eq!(
            s.next_slot(at("2026-11-23T02:00:00Z")),
            at("2026-11-24T02:00:00Z")
        );
        assert_eq!(
            s.previous_slot(at("2026-11-23T02:00:00Z")),
            at("2026-11-23T02:00:00Z")
        );
        assert_eq!(
            s.previous_slot(at("2026-11-23T01:59:59Z")),
            at("2026-11-22T02:00:00Z")
        );
        // Summer: 01:00Z.
        assert_eq!(
            s.next_slot(at("2026-07-01T12:00:00Z")),
            at("2026-07-02T01:00:00Z")
        );
        // 2026-03-29: 02:00 → 03:00, so 03:00 local exists (01:00Z); the day has 23 h.
        assert_eq!(
            s.next_slot(at("2026-03-28T03:00:00Z")),
            at("2026-03-29T01:00:00Z")
        );
        // A slot in the gap (02:30 on the switch day) moves forward by the gap: 03:30 CEST.
        let gap = Schedule {
            time: Time::constant(2, 30, 0, 0),
            ..rome()
        };
        assert_eq!(
            gap.next_slot(at("2026-03-28T12:00:00Z")),
            at("2026-03-29T01:30:00Z")
        );
        // 2026-10-25: 03:00 → 02:00; 02:30 happens twice, the first is taken.
        assert_eq!(
            gap.next_slot(at("2026-10-24T12:00:00Z")),
            at("2026-10-25T00:30:00Z")
        );
    }

    #[test]
    fn next_check_is_the_next_slot_unless_the_lifecycle_needs_sooner() {
        let s = rome();
        let policy = Policy::default();
        let now = at("2026-11-23T02:05:00Z");
        let pending = SignedDuration::from_mins(10);
        let certified = DomainStatus::new(State::Certified, now, None);
        assert_eq!(
            next_check(&certified, &policy, &s, pending, now),
            at("2026-11-24T02:00:00Z")
        );
        // A first failure: back in confirm_after (1 h) to confirm it.
        let failed = apply(
            &certified,
            &Event::Check {
                at: now,
                ok: false,
                transient: false,
                codes: vec![Code::A_NON_CORRETTO],
            },
            &policy,
        )
        .unwrap()
        .status;
        assert_eq!(
            next_check(&failed, &policy, &s, pending, now),
            now + SignedDuration::from_hours(1)
        );
        // Awaiting DNS: every recheck_pending at first, then backing off with the wait.
        let dns = DomainStatus::new(State::PendingDns, now, None);
        assert_eq!(next_check(&dns, &policy, &s, pending, now), now + pending);
        let later = now + SignedDuration::from_hours(6);
        assert_eq!(
            next_check(&dns, &policy, &s, pending, later),
            later + SignedDuration::from_hours(1)
        );
        let next_day = now + SignedDuration::from_hours(24);
        assert_eq!(
            next_check(&dns, &policy, &s, pending, next_day),
            next_day + SignedDuration::from_hours(4)
        );
        // Waiting for days: the daily slot comes first.
        let days_later = now + SignedDuration::from_hours(24 * 6);
        assert_eq!(
            next_check(&dns, &policy, &s, pending, days_later),
            s.next_slot(days_later)
        );
        // Expiring in 5 minutes: at the expiry, but never within MIN_RECHECK.
        let expiring = DomainStatus::new(State::Certified, now, Some(now));
        assert_eq!(
            next_check(&expiring, &policy, &s, pending, now),
            now + MIN_RECHECK
        );
    }

    #[test]
    fn only_lifecycle_changes_wait_for_the_decision() {
        let policy = Policy::default();
        let now = at("2026-11-23T02:05:00Z");
        let certified = DomainStatus::new(State::Certified, now, None);
        let check = |ok: bool| Event::Check {
            at: now,
            ok,
            transient: false,
            codes: if ok {
                vec![]
            } else {
                vec![Code::MX_NON_DEFINITO]
            },
        };
        let passed = apply(&certified, &check(true), &policy).unwrap();
        assert_eq!(disposition(&certified, &passed), Disposition::Commit);
        let failed = apply(&certified, &check(false), &policy).unwrap();
        assert!(
            failed.transitions.is_empty(),
            "a first failure only starts a run"
        );
        assert_eq!(disposition(&certified, &failed), Disposition::Defer);
    }

    #[test]
    fn the_share_rule_needs_a_sample_and_a_share() {
        let rule = ShareRule {
            max_new_failure_share: 0.05,
            min_domains: 100,
        };
        assert_eq!(share_hold_reason(rule, 0, 0), None);
        assert_eq!(share_hold_reason(rule, 99, 99), None, "too few to judge");
        assert_eq!(
            share_hold_reason(rule, 1000, 50),
            None,
            "exactly 5% is allowed"
        );
        let reason = share_hold_reason(rule, 1000, 51).unwrap();
        let en = reason.to_string();
        assert!(
            en.starts_with("51 of 1000 previously correct domains failed (5.1%"),
            "{en}"
        );
        let it = reason.text(Lang::It);
        assert!(
            it.starts_with("51 domini corretti su 1000 sono ora in errore (5.1%"),
            "{it}"
        );
        let canaries = HoldReason::Canaries {
            when: "after",
            failed: vec!["pec.canary.it (NS_NON_DEFINITO)".into()],
        };
        assert_eq!(
            canaries.text(Lang::It),
            "domini sentinella in errore dopo il controllo: pec.canary.it (NS_NON_DEFINITO)"
        );
    }
}

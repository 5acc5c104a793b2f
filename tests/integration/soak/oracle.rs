//! The soak's oracle: what every domain's state, deadline, history and notices must be
//! after the script, computed from the script alone.
//!
//! It is written from `SPEC.md` §4 and the documented configuration, not from pecwatch's
//! code (it does not call the `lifecycle` module): a second, small implementation of the
//! rules, for one domain at a time, driven by the same instants the service must act at.
//!
//! - The service checks each domain when it is due: at the start (imported domains are
//!   due at once), at each daily slot (03:00 UTC here), one `confirm_after` (1 hour)
//!   after a failure while `certified` or `under_review`, at a deadline, at the expiry
//!   and at each expiry warning (30 and 7 days before); never twice within a minute.
//!   Time stands still while it works, so a check and what follows from it (the
//!   transition, the notice, its acceptance by the mail server) share one instant.
//! - A check first lets time act (a deadline not later than the expiry removes the
//!   domain, the expiry expires it, a warning that fell due is sent: the smallest one if
//!   several), then applies what it saw. A removal or expiry is recorded at its own
//!   instant, its notice and index change at the check's (up to a minute later, when a
//!   check just before the deadline pushed the next one past it).
//! - `certified`: a failure seen again at least an hour after the first of its run (no
//!   timeouts here) makes it `in_error` with a new episode and an error notice; the 7
//!   days run from its acceptance. `in_error`: correct again → `certified` and a
//!   "corrected" notice. `removed`: correct again → `under_review` and a notice to the
//!   operators. `under_review`: any failure → `removed`, silently.
//! - Operators: approve (`under_review` → `certified`, "reinstated"), reject
//!   (`under_review` → `removed`, "rejected"), remove (`certified`, `in_error` or
//!   `under_review` → `removed`, "removed"), renew (any state but `expired`, to a later
//!   instant: the expiry warnings start over); anything else is refused and changes
//!   nothing.

use jiff::{SignedDuration, Timestamp};

use super::script::{Action, Dns, Script};

const CONFIRM_AFTER: SignedDuration = SignedDuration::from_hours(1);
const GRACE: SignedDuration = SignedDuration::from_hours(7 * 24);
const WARNINGS: [i64; 2] = [30, 7];
const MIN_RECHECK: SignedDuration = SignedDuration::from_mins(1);
/// The daily slot: 03:00 UTC.
const SLOT_SECONDS: i64 = 3 * 3600;

/// A domain's state, as the registry names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum St {
    Certified,
    InError,
    Removed,
    UnderReview,
    Expired,
}

impl St {
    pub fn name(self) -> &'static str {
        match self {
            St::Certified => "certified",
            St::InError => "in_error",
            St::Removed => "removed",
            St::UnderReview => "under_review",
            St::Expired => "expired",
        }
    }
}

/// What the oracle expects of one domain at the end.
#[derive(Clone, Debug)]
pub struct Expected {
    pub state: St,
    pub deadline: Option<Timestamp>,
    pub expires: Timestamp,
    pub episode: u32,
    /// `(from, to, at)`; a renewal is `(s, s, at)`.
    pub transitions: Vec<(St, St, Timestamp)>,
    /// `(kind, episode, at)`: queued, sent and accepted at `at`.
    pub notices: Vec<(String, u32, Timestamp)>,
    /// `(publish or unpublish, when the service acted)`: entering or leaving the index.
    pub publications: Vec<(String, Timestamp)>,
    /// The DNS at the end.
    pub dns: Dns,
    /// How many checks.
    pub checks: u32,
    /// The last check: when, and the DNS it saw.
    pub last_check: Option<(Timestamp, Dns)>,
}

/// One domain being simulated.
struct Model {
    out: Expected,
    run_first: Option<Timestamp>,
    run_count: u32,
    run_last: Option<Timestamp>,
    warned: Vec<i64>,
    next: Timestamp,
    /// The instant the service acts at (a check's, a command's): a transition due
    /// earlier (a deadline, an expiry) is recorded at its own instant, but its notice and
    /// its index change happen when the service gets to it.
    acting: Timestamp,
}

impl Model {
    fn new(start: Timestamp, expires: Timestamp, dns: Dns) -> Self {
        Model {
            out: Expected {
                state: St::Certified,
                deadline: None,
                expires,
                episode: 0,
                transitions: Vec::new(),
                notices: Vec::new(),
                publications: Vec::new(),
                dns,
                checks: 0,
                last_check: None,
            },
            run_first: None,
            run_count: 0,
            run_last: None,
            warned: Vec::new(),
            next: start,
            acting: start,
        }
    }

    fn go(&mut self, to: St, at: Timestamp) {
        let listed = |s: St| matches!(s, St::Certified | St::InError);
        if listed(self.out.state) != listed(to) {
            let kind = if listed(to) { "publish" } else { "unpublish" };
            self.out.publications.push((kind.to_owned(), self.acting));
        }
        self.out.transitions.push((self.out.state, to, at));
        self.out.state = to;
        self.clear_run();
        if to != St::InError {
            self.out.deadline = None;
        }
    }

    fn clear_run(&mut self) {
        self.run_first = None;
        self.run_last = None;
        self.run_count = 0;
    }

    /// A notice, queued (and sent, and accepted) when the service acts.
    fn notice(&mut self, kind: &str) {
        let notice = (kind.to_owned(), self.out.episode, self.acting);
        self.out.notices.push(notice);
    }

    /// The deadline and the expiry that fell due by `now` (`inclusive`: at `now` too).
    fn time_passes(&mut self, now: Timestamp, inclusive: bool) {
        let due = |instant: Timestamp| {
            if inclusive {
                instant <= now
            } else {
                instant < now
            }
        };
        if self.out.state == St::InError
            && let Some(deadline) = self.out.deadline
            && due(deadline)
            && deadline <= self.out.expires
        {
            self.go(St::Removed, deadline);
            self.notice("removed");
        }
        if self.out.state != St::Expired && due(self.out.expires) {
            let expires = self.out.expires;
            self.go(St::Expired, expires);
            self.notice("expired");
        }
    }

    fn warns(&self) -> bool {
        matches!(
            self.out.state,
            St::Certified | St::InError | St::UnderReview
        )
    }

    fn expiry_warnings(&mut self, now: Timestamp) {
        if !self.warns() {
            return;
        }
        let left = self.out.expires.duration_since(now);
        let due: Vec<i64> = WARNINGS
            .iter()
            .copied()
            .filter(|days| !self.warned.contains(days))
            .filter(|days| left <= SignedDuration::from_hours(24 * days))
            .collect();
        if let Some(smallest) = due.iter().min() {
            let kind = format!("expiry_warning_{smallest}");
            self.warned.extend(&due);
            self.notice(&kind);
        }
    }

    /// The earliest instant the domain's rules need it again, if any.
    fn due(&self) -> Option<Timestamp> {
        if self.out.state == St::Expired {
            return None;
        }
        let mut due = vec![self.out.expires];
        if self.out.state == St::InError {
            due.extend(self.out.deadline);
        }
        if self.warns() {
            for days in WARNINGS {
                if !self.warned.contains(&days) {
                    due.push(self.out.expires - SignedDuration::from_hours(24 * days));
                }
            }
        }
        if matches!(self.out.state, St::Certified | St::UnderReview)
            && let Some(last) = self.run_last
        {
            due.push(last + CONFIRM_AFTER);
        }
        due.into_iter().min()
    }

    /// One check at `at`, seeing `dns`.
    fn check(&mut self, at: Timestamp, dns: Dns) {
        self.out.checks += 1;
        self.out.last_check = Some((at, dns));
        self.acting = at;
        self.time_passes(at, true);
        self.expiry_warnings(at);
        if self.out.state == St::Expired {
            return;
        }
        if dns == Dns::Ok {
            self.clear_run();
            match self.out.state {
                St::InError => {
                    self.go(St::Certified, at);
                    self.notice("corrected");
                }
                St::Removed => {
                    self.go(St::UnderReview, at);
                    self.notice("under_review");
                }
                St::Certified | St::UnderReview | St::Expired => {}
            }
        } else {
            match self.out.state {
                St::Certified => {
                    self.run_count += 1;
                    let first = *self.run_first.get_or_insert(at);
                    self.run_last = Some(at);
                    if self.run_count >= 2 && at.duration_since(first) >= CONFIRM_AFTER {
                        self.out.episode += 1;
                        self.go(St::InError, at);
                        self.notice("error_found");
                        // Sent and accepted at once: the 7 days start now.
                        self.out.deadline = Some(at + GRACE);
                    }
                }
                St::UnderReview => self.go(St::Removed, at),
                St::InError | St::Removed | St::Expired => {}
            }
        }
        let mut next = next_slot(at);
        if let Some(due) = self.due() {
            next = next.min(due.max(at));
        }
        self.next = next.max(at + MIN_RECHECK);
    }

    /// The checks due up to `until` (inclusive), seeing `dns`.
    fn run_until(&mut self, until: Timestamp, dns: Dns) {
        while self.out.state != St::Expired && self.next <= until {
            self.check(self.next, dns);
        }
    }

    /// An operator's command at `at`: whether it is accepted.
    fn act(&mut self, at: Timestamp, action: Action) -> bool {
        // A command lets time act first (strictly before it); nothing is due here, as
        // the service already checked the domain at every due instant up to `at`.
        self.acting = at;
        let before = (self.out.state, self.out.transitions.len());
        self.time_passes(at, false);
        assert_eq!(
            before,
            (self.out.state, self.out.transitions.len()),
            "oracle: time acted at a command"
        );
        let state = self.out.state;
        let accepted = match action {
            Action::Approve if state == St::UnderReview => {
                self.go(St::Certified, at);
                self.notice("reinstated");
                true
            }
            Action::Reject if state == St::UnderReview => {
                self.go(St::Removed, at);
                self.notice("rejected");
                true
            }
            Action::Remove if matches!(state, St::Certified | St::InError | St::UnderReview) => {
                self.go(St::Removed, at);
                self.notice("removed");
                true
            }
            Action::Renew(expires) if state != St::Expired && expires > at => {
                self.out.expires = expires;
                self.warned.clear();
                self.out.transitions.push((state, state, at));
                true
            }
            _ => false,
        };
        if accepted && let Some(due) = self.due() {
            self.next = self.next.min(due).max(at);
        }
        accepted
    }
}

/// The first 03:00 UTC strictly after `at`.
fn next_slot(at: Timestamp) -> Timestamp {
    let day = 86_400;
    let second = at.as_second();
    let today = second - second.rem_euclid(day) + SLOT_SECONDS;
    let slot = if today > second { today } else { today + day };
    Timestamp::from_second(slot).unwrap()
}

/// The oracle's answer: every domain's expectation, and whether each scripted command is
/// accepted (`accepted[step][n]` for the step's `n`th action).
pub struct Oracle {
    pub domains: Vec<Expected>,
    pub accepted: Vec<Vec<bool>>,
}

/// Runs the script through the rules, up to `end` (after the last step).
pub fn run(script: &Script, end: Timestamp) -> Oracle {
    let n = script.domains();
    let mut models: Vec<Model> = (0..n)
        .map(|i| Model::new(script.start, script.expires[i], script.initial[i]))
        .collect();
    let mut accepted = Vec::with_capacity(script.steps.len());
    for step in &script.steps {
        // The service works up to the step (with the DNS as it was), the DNS changes,
        // the operators act, the service looks again at what their commands made due.
        for model in &mut models {
            let dns = model.out.dns;
            model.run_until(step.at, dns);
        }
        for &(i, dns) in &step.dns {
            models[i].out.dns = dns;
        }
        let mut answers = Vec::with_capacity(step.actions.len());
        let mut touched = Vec::new();
        for &(i, action) in &step.actions {
            answers.push(models[i].act(step.at, action));
            touched.push(i);
        }
        for i in touched {
            let dns = models[i].out.dns;
            models[i].run_until(step.at, dns);
        }
        accepted.push(answers);
    }
    for model in &mut models {
        let dns = model.out.dns;
        model.run_until(end, dns);
    }
    Oracle {
        domains: models.into_iter().map(|m| m.out).collect(),
        accepted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn slots_are_at_three_utc() {
        assert_eq!(
            next_slot(t("2026-12-01T00:00:00Z")),
            t("2026-12-01T03:00:00Z")
        );
        assert_eq!(
            next_slot(t("2026-12-01T03:00:00Z")),
            t("2026-12-02T03:00:00Z")
        );
        assert_eq!(
            next_slot(t("2026-12-01T04:00:00Z")),
            t("2026-12-02T03:00:00Z")
        );
    }

    #[test]
    fn a_failure_confirmed_then_not_fixed_is_removed_after_seven_days() {
        let start = t("2026-12-01T00:00:00Z");
        let mut m = Model::new(start, t("2027-12-31T23:00:00Z"), Dns::NoMx);
        m.run_until(t("2026-12-01T12:00:00Z"), Dns::NoMx);
        // 00:00 first failure, 01:00 confirmed, 03:00 daily check.
        assert_eq!(m.out.state, St::InError);
        assert_eq!(m.out.deadline, Some(t("2026-12-08T01:00:00Z")));
        assert_eq!(m.out.checks, 3);
        m.run_until(t("2026-12-09T12:00:00Z"), Dns::NoMx);
        assert_eq!(m.out.state, St::Removed);
        assert_eq!(
            m.out.transitions.last(),
            Some(&(St::InError, St::Removed, t("2026-12-08T01:00:00Z")))
        );
        let kinds: Vec<&str> = m.out.notices.iter().map(|n| n.0.as_str()).collect();
        assert_eq!(kinds, ["error_found", "removed"]);
    }
}

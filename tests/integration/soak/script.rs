//! The soak's script: what happens to every domain's DNS, and what operators do, at each
//! step of the simulated month. Drawn at random from a seed (printed, replayable with
//! `PECWATCH_TEST_SEED`), then read by both the harness (which makes it happen) and the
//! oracle (which says what must follow).

use jiff::{SignedDuration, Timestamp};

use crate::faults::Random;

/// What a domain's DNS looks like (the name `pJ` in zone `zI.it`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dns {
    /// `MX 10 mx.pec.aruba.it.`: correct.
    Ok,
    /// The name exists (a TXT record) but has no MX.
    NoMx,
    /// The name does not exist (NXDOMAIN).
    Gone,
    /// The MX points to a host at an address that is not the provider's.
    WrongA,
    /// The MX points to a host with two addresses.
    MultiA,
    /// The MX points to a host without an address.
    NoA,
    /// Two MX: the provider's and a host of the customer's own (a hybrid).
    Hybrid,
}

impl Dns {
    /// Every broken configuration.
    pub const BROKEN: [Dns; 6] = [
        Dns::NoMx,
        Dns::Gone,
        Dns::WrongA,
        Dns::MultiA,
        Dns::NoA,
        Dns::Hybrid,
    ];

    /// The zone-file lines for the name `label`.
    pub fn records(self, label: &str) -> String {
        match self {
            Dns::Ok => format!("{label} MX 10 mx.pec.aruba.it.\n"),
            Dns::NoMx => format!("{label} TXT \"no mail here\"\n"),
            Dns::Gone => String::new(),
            Dns::WrongA => format!("{label} MX 10 wrong.cliente.it.\n"),
            Dns::MultiA => format!("{label} MX 10 multi.cliente.it.\n"),
            Dns::NoA => format!("{label} MX 10 noa.cliente.it.\n"),
            Dns::Hybrid => {
                format!("{label} MX 10 mx.pec.aruba.it.\n{label} MX 20 wrong.cliente.it.\n")
            }
        }
    }

    /// The error code a check must report for this configuration (`None`: correct).
    pub fn code(self) -> Option<&'static str> {
        match self {
            Dns::Ok => None,
            Dns::NoMx => Some("MX_NON_DEFINITO"),
            Dns::Gone => Some("NS_NON_DEFINITO"),
            Dns::WrongA | Dns::Hybrid => Some("A_NON_CORRETTO"),
            Dns::MultiA => Some("A_MULTIPLI"),
            Dns::NoA => Some("A_NON_DEFINITO"),
        }
    }
}

/// An operator's command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `domains approve`.
    Approve,
    /// `domains reject`.
    Reject,
    /// `domains remove`.
    Remove,
    /// `domains renew --expires`.
    Renew(Timestamp),
}

/// One step: at `at`, the DNS changes, then the operators act.
#[derive(Clone, Debug)]
pub struct Step {
    pub at: Timestamp,
    /// `(domain, new configuration)`.
    pub dns: Vec<(usize, Dns)>,
    /// `(domain, command)`, in order.
    pub actions: Vec<(usize, Action)>,
}

/// The whole script.
pub struct Script {
    pub zones: usize,
    pub per_zone: usize,
    /// When the service starts.
    pub start: Timestamp,
    /// Each domain's DNS at the start.
    pub initial: Vec<Dns>,
    /// Each domain's certification expiry.
    pub expires: Vec<Timestamp>,
    pub steps: Vec<Step>,
}

impl Script {
    /// The domain `i`'s name.
    pub fn name(&self, i: usize) -> String {
        format!("p{}.z{}.it", i % self.per_zone, i / self.per_zone)
    }

    pub fn domains(&self) -> usize {
        self.zones * self.per_zone
    }

    /// Draws a script over `days` days from `start` (a midnight): two steps a day, at
    /// 03:30 (after the daily sweep at 03:00, before the confirmations at 04:00) and at
    /// 12:00.
    ///
    /// - At the start 1% of the domains are broken; half of those are fixed within ten
    ///   days.
    /// - Each day at 12:00 each correct domain breaks with probability 0.4%, and then is
    ///   fixed within 6 days (35%: the grace period), after 7 to 11 days (25%: after its
    ///   removal; an operator then approves or rejects, or nobody acts), is broken
    ///   differently after 2 days and fixed 4 days later (10%), or never (30%).
    /// - Each day, 0.15% of the correct domains break at 12:00 and are fixed at 03:30 the
    ///   next night: seen failing once by the daily sweep, correct at the confirmation.
    /// - A domain fixed after its removal breaks again with probability 20% two days
    ///   later (it falls from review back to removal).
    /// - Each day operators try to approve three domains at random (mostly refused: they
    ///   are not under review) and remove one with probability 30%.
    /// - 3% of the certifications expire within the month and a half (at a random
    ///   second); 40% of those are renewed for a year on a random day, before or after
    ///   the expiry (then refused).
    pub fn draw(
        random: &mut Random,
        zones: usize,
        per_zone: usize,
        start: Timestamp,
        days: i64,
    ) -> Script {
        let n = zones * per_zone;
        let day = SignedDuration::from_hours(24);
        let at = |d: i64, minutes: i64| start + day * d as i32 + SignedDuration::from_mins(minutes);
        let chance = |random: &mut Random, per_10000: u64| random.between(0, 10_000) < per_10000;
        let steps_count = 2 * (days as usize + 1);
        let mut steps: Vec<Step> = (0..steps_count)
            .map(|k| Step {
                at: at(k as i64 / 2, if k % 2 == 0 { 3 * 60 + 30 } else { 12 * 60 }),
                dns: Vec::new(),
                actions: Vec::new(),
            })
            .collect();
        // Steps `k` by day: 03:30 is 2d, 12:00 is 2d + 1.
        let noon = |d: i64| 2 * d as usize + 1;
        let night = |d: i64| 2 * d as usize;

        let mut initial = vec![Dns::Ok; n];
        // Until which step the domain's DNS is scripted already (no new breakage before).
        let mut busy_until = vec![0usize; n];
        let broken = |random: &mut Random| Dns::BROKEN[random.between(0, 6) as usize];
        for i in 0..n {
            if chance(random, 100) {
                initial[i] = broken(random);
                busy_until[i] = usize::MAX;
                if chance(random, 5000) {
                    let fix = noon(random.between(1, 11) as i64);
                    if fix < steps.len() {
                        steps[fix].dns.push((i, Dns::Ok));
                        busy_until[i] = fix;
                    }
                }
            }
        }
        for d in 0..=days {
            let k = noon(d);
            for (i, busy) in busy_until.iter_mut().enumerate() {
                if *busy >= k {
                    continue;
                }
                let roll = random.between(0, 10_000);
                if roll < 40 {
                    steps[k].dns.push((i, broken(random)));
                    let fate = random.between(0, 100);
                    let mut plan: Vec<(i64, Dns)> = Vec::new();
                    if fate < 35 {
                        plan.push((random.between(1, 7) as i64, Dns::Ok));
                    } else if fate < 60 {
                        let fixed = random.between(7, 12) as i64;
                        plan.push((fixed, Dns::Ok));
                        if chance(random, 2000) {
                            plan.push((fixed + 2, broken(random)));
                        } else {
                            let decision = random.between(0, 100);
                            let when = fixed + random.between(1, 3) as i64;
                            if decision < 60 {
                                push_action(&mut steps, noon(when), i, Action::Approve);
                            } else if decision < 85 {
                                push_action(&mut steps, noon(when), i, Action::Reject);
                            }
                        }
                    } else if fate < 70 {
                        plan.push((2, broken(random)));
                        plan.push((6, Dns::Ok));
                    }
                    // Free to break again once the plan ends with the domain fixed.
                    *busy = usize::MAX;
                    for (after, dns) in plan {
                        let step = noon(d + after);
                        let within = step < steps.len();
                        if within {
                            steps[step].dns.push((i, dns));
                        }
                        *busy = if within && dns == Dns::Ok {
                            step
                        } else {
                            usize::MAX
                        };
                    }
                } else if roll < 55 {
                    steps[k].dns.push((i, broken(random)));
                    if night(d + 1) < steps.len() {
                        steps[night(d + 1)].dns.push((i, Dns::Ok));
                        *busy = night(d + 1);
                    } else {
                        *busy = usize::MAX;
                    }
                }
            }
            for _ in 0..3 {
                let i = random.between(0, n as u64) as usize;
                push_action(&mut steps, k, i, Action::Approve);
            }
            if chance(random, 3000) {
                let i = random.between(0, n as u64) as usize;
                push_action(&mut steps, k, i, Action::Remove);
            }
        }

        let far = "2027-12-31T23:00:00Z".parse().unwrap();
        let mut expires = vec![far; n];
        for (i, expiry) in expires.iter_mut().enumerate() {
            if chance(random, 300) {
                let seconds = random.between(2 * 86_400, 45 * 86_400) as i64;
                *expiry = start + SignedDuration::from_secs(seconds);
                if chance(random, 4000) {
                    let d = random.between(1, days as u64 + 1) as i64;
                    let renewed = *expiry + day * 365;
                    push_action(&mut steps, noon(d), i, Action::Renew(renewed));
                }
            }
        }
        Script {
            zones,
            per_zone,
            start,
            initial,
            expires,
            steps,
        }
    }
}

fn push_action(steps: &mut [Step], k: usize, i: usize, action: Action) {
    if let Some(step) = steps.get_mut(k) {
        step.actions.push((i, action));
    }
}

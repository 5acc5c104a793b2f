//! `[sweep]`: the settings of the daily sweep, checked here; the configuration only reads
//! them from the file and the environment.

use std::path::PathBuf;

use jiff::SignedDuration;
use jiff::civil::Time;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use super::{ResolverWatch, ShareRule};
use crate::lifecycle::duration_serde;
use crate::name::DomainName;
use crate::outbox::check_mailbox;
use crate::settings::{Invalid, positive};

/// `[sweep]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SweepConfig {
    /// When the daily sweep starts, local time of `timezone` (`"03:00"`).
    #[serde(with = "crate::clock::time_of_day")]
    pub time: Time,
    /// The IANA time zone of `time`. Default `Europe/Rome`.
    pub timezone: String,
    /// If more than this share (0 to 1) of the previously correct domains fail in one
    /// sweep, the failures are not acted upon and the operators are alerted (a resolver or
    /// network problem, not thousands of broken domains). Default 0.05.
    pub max_new_failure_share: f64,
    /// The share rule applies only to sweeps that checked at least this many previously
    /// correct domains (one failure in a re-check of ten is no trend). Default 100.
    pub share_min_domains: u64,
    /// Domains known to be correct, checked before and after every sweep: if one fails,
    /// the results are recorded but no domain changes state, and the operators are
    /// alerted. Normalised at load. Default none.
    pub canaries: Vec<String>,
    /// Domains claimed from the queue at a time. Default 500.
    pub batch_size: usize,
    /// How long a claimed batch stays reserved to one worker before others may take it
    /// over. Default 10 minutes.
    #[serde(with = "duration_serde")]
    pub lease: SignedDuration,
    /// How soon domains awaiting confirmation of a failure, or pending DNS, are checked
    /// again (pending DNS backs off with the wait, see
    /// [`pending_interval`](crate::sweep::plan::pending_interval)). Default 10 minutes.
    #[serde(with = "duration_serde")]
    pub recheck_pending: SignedDuration,
    /// E-mail addresses that receive operator alerts. Default none.
    pub operators: Vec<String>,
    /// While a sweep checks, the resolver (or the root servers) is asked `. NS` at least
    /// this often; when it does not answer, the sweep pauses. Default 10 seconds.
    #[serde(with = "duration_serde")]
    pub resolver_probe_interval: SignedDuration,
    /// The resolver is asked at once when this many checks' lookups through it failed.
    /// Default 5.
    pub resolver_threshold: u32,
    /// How long a paused sweep waits for the resolver before it gives up (it stays
    /// unfinished, and the next run resumes it). Default 30 minutes.
    #[serde(with = "duration_serde")]
    pub resolver_wait: SignedDuration,
    /// Where to write the last sweep's metrics in the Prometheus text format (for
    /// node_exporter's textfile collector), replaced atomically after every sweep. Empty:
    /// none. Default empty.
    pub metrics_file: PathBuf,
}

impl Default for SweepConfig {
    fn default() -> Self {
        Self {
            time: Time::constant(3, 0, 0, 0),
            timezone: "Europe/Rome".into(),
            max_new_failure_share: 0.05,
            share_min_domains: 100,
            canaries: Vec::new(),
            batch_size: 500,
            lease: SignedDuration::from_mins(10),
            recheck_pending: SignedDuration::from_mins(10),
            operators: Vec::new(),
            resolver_probe_interval: SignedDuration::from_secs(10),
            resolver_threshold: 5,
            resolver_wait: SignedDuration::from_mins(30),
            metrics_file: PathBuf::new(),
        }
    }
}

impl SweepConfig {
    /// Checks every key: the time zone, the share, the canaries, the sizes, the durations
    /// and the operators' addresses.
    pub fn validate(&self) -> Result<(), Invalid> {
        self.time_zone()?;
        let share = self.max_new_failure_share;
        if !(0.0..=1.0).contains(&share) {
            return Err(Invalid::new(
                "max_new_failure_share",
                share.to_string(),
                "must be between 0 and 1",
            ));
        }
        self.canaries()?;
        if self.batch_size == 0 {
            return Err(Invalid::new("batch_size", "0", "must be at least 1"));
        }
        if self.resolver_threshold == 0 {
            return Err(Invalid::new(
                "resolver_threshold",
                "0",
                "must be at least 1",
            ));
        }
        positive(&[
            ("lease", self.lease),
            ("recheck_pending", self.recheck_pending),
            ("resolver_probe_interval", self.resolver_probe_interval),
            ("resolver_wait", self.resolver_wait),
        ])?;
        for operator in &self.operators {
            check_mailbox(operator)
                .map_err(|problem| Invalid::new("operators", format!("{operator:?}"), problem))?;
        }
        Ok(())
    }

    /// The time zone of `time`.
    pub fn time_zone(&self) -> Result<TimeZone, Invalid> {
        let name = &self.timezone;
        TimeZone::get(name).map_err(|error| {
            Invalid::new(
                "timezone",
                format!("{name:?}"),
                format!("not a known IANA time zone such as Europe/Rome ({error})"),
            )
        })
    }

    /// The canary domains, parsed.
    pub fn canaries(&self) -> Result<Vec<DomainName>, Invalid> {
        self.canaries
            .iter()
            .map(|canary| {
                DomainName::parse(canary)
                    .map_err(|error| Invalid::new("canaries", format!("{canary:?}"), error))
            })
            .collect()
    }

    /// When too many new failures hold a sweep.
    pub fn share_rule(&self) -> ShareRule {
        ShareRule {
            max_new_failure_share: self.max_new_failure_share,
            min_domains: self.share_min_domains,
        }
    }

    /// How sweeps watch the resolver (`resolver_*`).
    pub fn resolver_watch(&self) -> ResolverWatch {
        ResolverWatch {
            probe_interval: self.resolver_probe_interval.unsigned_abs(),
            threshold: self.resolver_threshold.max(1),
            wait: self.resolver_wait.unsigned_abs(),
        }
    }
}

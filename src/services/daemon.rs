//! The daily service behind `pecwatch serve`: sweeps on schedule, activation steps,
//! notices, until stopped.
//!
//! [`Daemon::run`] resumes a sweep left unfinished, then runs a sweep whenever domains
//! fall due: all of them at the daily slot, the re-checks (confirmations, deadlines,
//! pending DNS) in between; between sweeps it sends the notices due.
//!
//! Several processes may share one registry (PostgreSQL, or SQLite on one machine): one
//! of them runs the schedule (it holds the `schedule` lease in the registry) and starts
//! the sweeps and the activation steps; the others join each sweep it starts and share its
//! domains through their leases. All of them send notices (each claims the ones it sends).
//! When the scheduler dies, its lease lapses and another process takes the schedule over.
//!
//! The daemon prints nothing itself: what a person should read goes to a [`Report`] (the
//! command line writes it out), and the configuration comes in assembled ([`Settings`]).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicI64};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::Lang;
use crate::activation::Dns;
use crate::clock::Clock;
use crate::outbox::{SendError, SendSummary, Sender};
use crate::registry::{Registry, RegistryError, SweepKind};
use crate::sweep::{Quiet, Summary, SweepError, Sweeper};

/// How often the service looks for notices to send.
const NOTICE_POLL: Duration = Duration::from_secs(30);

/// The name of the lease that lets one process run the schedule.
const SCHEDULE: &str = "schedule";

/// The longest the schedule's lease lasts (`sweep.lease` if shorter): how long the
/// schedule may stand still after its holder died.
const SCHEDULE_LEASE_MAX: Duration = Duration::from_secs(60);

/// How often a process that does not run the schedule looks for a sweep to join.
const JOIN_POLL: Duration = Duration::from_secs(2);

/// Where the service says what it does: the command line writes it out.
pub trait Report: Send + Sync {
    /// A line about the service itself (the schedule changing hands, the resolver not
    /// answering): standard error for the command line.
    fn status(&self, line: &str);
    /// A summary (of a sweep, of the notices sent): the service's report, standard output
    /// for the command line.
    fn summary(&self, text: &str);
}

/// How the service runs, from `[sweep]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// How often notices are looked for: at most every 30 seconds, and at least as often
    /// as pending domains are re-checked.
    pub notice_poll: Duration,
    /// How long the schedule's lease lasts.
    pub schedule_lease: Duration,
    /// Where the last sweep's metrics are written (empty: nowhere).
    pub metrics_file: PathBuf,
    /// The language of what it reports.
    pub lang: Lang,
}

impl Settings {
    /// The settings of `[sweep]` `recheck_pending`, `lease` and `metrics_file`.
    pub fn new(
        recheck_pending: SignedDuration,
        lease: SignedDuration,
        metrics_file: PathBuf,
        lang: Lang,
    ) -> Self {
        Self {
            notice_poll: NOTICE_POLL.min(recheck_pending.unsigned_abs()),
            schedule_lease: lease.unsigned_abs().min(SCHEDULE_LEASE_MAX),
            metrics_file,
            lang,
        }
    }
}

/// Why the service stopped before it was asked to.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The registry failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A sweep could not run.
    #[error(transparent)]
    Sweep(#[from] SweepError),
    /// The metrics file could not be written.
    #[error("{0}")]
    Metrics(std::io::Error),
}

/// The service: what it works with.
pub struct Daemon {
    /// The registry.
    pub registry: Registry,
    /// Runs and joins the sweeps (its settings hold the schedule, the clock, this
    /// process's name).
    pub sweeper: Sweeper,
    /// What activation needs to write the provider's DNS, when `[provision]` is set.
    pub activation: Option<Dns>,
    /// Sends the notices.
    pub sender: Sender,
    /// How it runs.
    pub settings: Settings,
}

impl Daemon {
    /// Runs until `stop` resolves (then gives the schedule up), or until the registry
    /// fails.
    pub async fn run(
        &self,
        stop: impl Future<Output = ()>,
        report: Arc<dyn Report>,
    ) -> Result<(), DaemonError> {
        let mut stop = std::pin::pin!(stop);
        let settings = &self.settings;
        let lang = settings.lang;
        let clock = self.sweeper.settings().clock;
        let service_now = || clock.now();
        let registry = &self.registry;
        let sweeper = &self.sweeper;
        let schedule = sweeper.settings().schedule.clone();
        let poll = settings.notice_poll;
        let mut last_slot = schedule.previous_slot(service_now());
        // While the resolver does not answer: how many sweeps it stopped in a row, and
        // when to try again.
        let mut resolver_failures = 0_u32;
        let mut retry_at: Option<std::time::Instant> = None;
        let leadership = Leadership::start(Holder {
            registry: registry.clone(),
            owner: sweeper.settings().owner.clone(),
            clock,
            lease: settings.schedule_lease,
            lang,
            report: Arc::clone(&report),
        })
        .await;
        loop {
            let now = service_now();
            let slot = schedule.previous_slot(now);
            let kind = if slot > last_slot {
                SweepKind::Daily
            } else {
                SweepKind::Recheck
            };
            let leading = leadership.holds(now).await;
            if leading {
                record_activations(registry, self.activation.as_ref(), now).await;
                let waiting = retry_at.is_some_and(|at| std::time::Instant::now() < at);
                if !waiting && sweeper.has_work().await? {
                    let run = sweeper.run(kind, &Quiet);
                    let result = tokio::select! {
                        result = run => result,
                        () = &mut stop => break,
                    };
                    let summary = match result {
                        Err(SweepError::ResolverDown(down)) => {
                            // The service goes on (notices, the web interface); the sweep
                            // is tried again later, the operators alerted once.
                            let wait = crate::sweep::plan::start_backoff(resolver_failures);
                            resolver_failures = resolver_failures.saturating_add(1);
                            retry_at = Some(std::time::Instant::now() + wait);
                            report.status(&format!(
                                "{}; {} {} s",
                                down.text(lang),
                                lang.pick("nuovo tentativo fra", "trying again in"),
                                wait.as_secs()
                            ));
                            None
                        }
                        result => Some(result?),
                    };
                    if let Some(summary) = summary {
                        resolver_failures = 0;
                        retry_at = None;
                        report.summary(summary.to_text(lang).trim_end());
                        write_metrics(&settings.metrics_file, registry, &summary).await?;
                        record_activations(registry, self.activation.as_ref(), service_now()).await;
                        if kind == SweepKind::Daily {
                            last_slot = slot;
                        }
                    }
                }
            } else {
                // Not the scheduler: work on the sweep it started, if one is running.
                let joined = tokio::select! {
                    summary = sweeper.join(&Quiet) => summary,
                    () = &mut stop => break,
                };
                let joined = match joined {
                    // The scheduler alerts and tries again; this process joins when it
                    // does.
                    Err(SweepError::ResolverDown(down)) => {
                        report.status(&down.text(lang));
                        None
                    }
                    joined => joined?,
                };
                if let Some(summary) = joined {
                    report.summary(summary.to_text(lang).trim_end());
                    write_metrics(&settings.metrics_file, registry, &summary).await?;
                }
                // Should it take the schedule over, the daily sweep it may have joined is
                // not started again.
                last_slot = slot;
            }
            let sent = tokio::select! {
                sent = self.sender.send_due() => sent,
                () = &mut stop => break,
            };
            match sent {
                Ok(sent) if sent == SendSummary::default() => {}
                Ok(sent) => report.summary(&sent.to_text(lang)),
                // The database: fatal, as for the sweep. The relay's problems are per
                // notice.
                Err(SendError::Registry(error)) => return Err(error.into()),
                Err(error) => tracing::error!(%error, "cannot send notices"),
            }
            // Sleep until the next slot, the next due domain, the next notice to retry, or
            // a poll, whichever is first.
            let now = service_now();
            let mut wake = schedule.next_slot(now);
            if let Some(next) = registry.next_due().await? {
                wake = wake.min(next);
            }
            if let Some(next) = registry.next_outbox_attempt().await? {
                wake = wake.min(next);
            }
            let mut wait = wake
                .duration_since(now)
                .unsigned_abs()
                .clamp(Duration::from_secs(1), poll.max(Duration::from_secs(1)));
            if !leadership.holds(now).await {
                wait = wait.min(JOIN_POLL);
            }
            if let Some(at) = retry_at {
                // Waiting for the resolver: not before the retry (due domains stay due).
                let until_retry = at.saturating_duration_since(std::time::Instant::now());
                wait = until_retry.clamp(Duration::from_secs(1), poll.max(Duration::from_secs(1)));
            }
            tokio::select! {
                () = clock.idle(wake, wait) => {}
                () = &mut stop => break,
            }
        }
        leadership.stop().await;
        Ok(())
    }
}

/// Whether this process runs the schedule: it holds the `schedule` lease in the registry,
/// renewed by a background task every third of the lease. A process that cannot renew it
/// (the database is unreachable) stops running the schedule when its lease ends; a
/// process whose holder died (or lost the database) takes it over once it lapsed. The
/// lease is in the database's time, written by each process's clock: the machines' clocks
/// must agree to well within the lease.
struct Leadership {
    holder: Holder,
    /// Until when this process holds the lease (Unix seconds; 0: it does not).
    until: Arc<AtomicI64>,
    /// Whether it held the lease at the last attempt (to say when that changes).
    held: Arc<AtomicBool>,
    renewal: tokio::task::JoinHandle<()>,
}

/// Who takes and renews the schedule's lease, and where it says so.
#[derive(Clone)]
struct Holder {
    registry: Registry,
    owner: String,
    clock: Clock,
    lease: Duration,
    lang: Lang,
    report: Arc<dyn Report>,
}

impl Leadership {
    /// Tries to take the lease now, then keeps it (or keeps trying) in the background.
    async fn start(holder: Holder) -> Self {
        let lang = holder.lang;
        let until = Arc::new(AtomicI64::new(0));
        let held = Arc::new(AtomicBool::new(false));
        holder.renew(&until, &held).await;
        if !held.load(SeqCst) {
            let current = holder.registry.lease_holder(SCHEDULE).await.ok().flatten();
            let current = current.map_or_else(|| "?".to_owned(), |(current, _, _)| current);
            holder.report.status(&format!(
                "{current} {} {} {}",
                lang.pick(
                    "gestisce la pianificazione dei controlli; questo processo",
                    "runs the schedule; this process"
                ),
                holder.owner,
                lang.pick("partecipa ai controlli", "joins its sweeps"),
            ));
        }
        let renewal = {
            let holder = holder.clone();
            let (until, held) = (until.clone(), held.clone());
            let every = (holder.lease / 3).max(Duration::from_millis(200));
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    holder.renew(&until, &held).await;
                }
            })
        };
        Self {
            holder,
            until,
            held,
            renewal,
        }
    }

    /// Whether this process runs the schedule at `now`. A lease with less than two thirds
    /// of its length left is renewed first (the background renewal keeps it fresher in
    /// real time; this matters when time jumps, in a simulation).
    async fn holds(&self, now: Timestamp) -> bool {
        let lease_secs = i64::try_from(self.holder.lease.as_secs().max(1)).unwrap_or(i64::MAX);
        let until = self.until.load(SeqCst);
        if until > 0 && until.saturating_sub(now.as_second()) < lease_secs * 2 / 3 {
            self.holder.renew(&self.until, &self.held).await;
        }
        now.as_second() < self.until.load(SeqCst)
    }

    /// Stops renewing and gives the lease up, so another process takes it at once.
    async fn stop(self) {
        self.renewal.abort();
        let holder = &self.holder;
        if let Err(error) = holder.registry.release_lease(SCHEDULE, &holder.owner).await {
            tracing::warn!(%error, "cannot give up the schedule");
        }
    }
}

impl Holder {
    /// One attempt to take or renew the schedule's lease; says so when this process
    /// starts or stops running the schedule.
    async fn renew(&self, until: &AtomicI64, held: &AtomicBool) {
        let (owner, lang) = (self.owner.as_str(), self.lang);
        let now = self.clock.now();
        let lease_secs = i64::try_from(self.lease.as_secs().max(1)).unwrap_or(i64::MAX);
        match self
            .registry
            .hold_lease(SCHEDULE, owner, now, self.lease)
            .await
        {
            Ok(true) => until.store(now.as_second().saturating_add(lease_secs), SeqCst),
            Ok(false) => until.store(0, SeqCst),
            // Not renewed: what was held lapses by itself.
            Err(error) => tracing::warn!(%error, "cannot renew the schedule's lease"),
        }
        let holds = now.as_second() < until.load(SeqCst);
        if held.swap(holds, SeqCst) != holds {
            let what = if holds {
                lang.pick(
                    "gestisce la pianificazione dei controlli",
                    "runs the schedule",
                )
            } else {
                lang.pick(
                    "non gestisce più la pianificazione dei controlli",
                    "no longer runs the schedule",
                )
            };
            self.report.status(&format!("{owner} {what}"));
            tracing::info!(owner, holds, "schedule");
        }
    }
}

/// Carries activations forward: before a sweep, writes the provider's own DNS for
/// approved orders (with `[provision]`), so the sweep can verify it; after, records the
/// steps the sweep completed (domains verified and published). A failure is logged; the
/// next run does it.
pub async fn record_activations(registry: &Registry, dns: Option<&Dns>, now: Timestamp) {
    if let Err(error) = crate::activation::advance(registry, dns, now).await {
        tracing::warn!(%error, "cannot carry activations forward");
    }
}

/// Writes the sweep's metrics to `path` (`sweep.metrics_file`), unless it is empty: to a
/// temporary file next to it, then renamed over it, so a collector never reads half a
/// file.
pub async fn write_metrics(
    path: &Path,
    registry: &Registry,
    summary: &Summary,
) -> Result<(), DaemonError> {
    if path.as_os_str().is_empty() {
        return Ok(());
    }
    let text = summary.to_prometheus(registry.alert_count().await?);
    let mut temporary = path.to_path_buf().into_os_string();
    temporary.push(".tmp");
    let write = async {
        tokio::fs::write(&temporary, text).await?;
        tokio::fs::rename(&temporary, path).await
    };
    write.await.map_err(|error| {
        DaemonError::Metrics(std::io::Error::new(
            error.kind(),
            format!("cannot write the metrics file {}: {error}", path.display()),
        ))
    })
}

//! The sweep: checking every due domain once, then applying or holding the lifecycle
//! changes the checks call for.
//!
//! A sweep has two phases, so that one decision can cover all of it:
//!
//! 1. **Check.** Claim due domains in batches (leases, so several processes can share
//!    the work), check them concurrently, and commit the results in batches. A check that
//!    changes nothing in the domain's lifecycle (the usual case: still correct) is
//!    committed whole. One that would change it (a first failure, a confirmation, a
//!    correction, a deadline) is recorded and left *pending* on the domain.
//! 2. **Decide and apply.** Check the canaries again and count how many previously
//!    correct domains failed. If a canary failed (before or after) or the share of new
//!    failures exceeds `sweep.max_new_failure_share`, the sweep is *held*: the pending
//!    changes are dropped (the checks stay recorded), no domain changes state, and the
//!    operators are alerted. Otherwise every pending change is applied through the
//!    [`lifecycle`](crate::lifecycle::apply) machine, with its transitions and notices, in
//!    batches.
//!
//! Every check depends on the resolver. A sweep asks it (`. NS`) before it starts: if it
//! does not answer, nothing is recorded and the operators are alerted
//! ([`SweepError::ResolverDown`]). While checking, the sweep asks it again at intervals
//! and whenever checks' lookups through it fail; a check whose lookups failed is recorded
//! only once the resolver answered after it. A resolver that does not answer pauses the
//! sweep (no new check; the checks that met the outage are checked again) until it is
//! back, with one alert: a stalled resolver never becomes a verdict on a domain.
//!
//! Everything a sweep does is committed in transactions keyed on the domain's version,
//! so a process killed at any moment loses at most the checks in flight: the next run
//! resumes the unfinished sweep, checks what was not committed and applies what is
//! pending, and nothing is applied twice. The pure decisions (next check, defer or
//! commit, the share rule) are in [`plan`]; the summary is [`Summary`].

mod config;
pub mod plan;
mod summary;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt, stream};
use jiff::{SignedDuration, Timestamp};
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore, mpsc, watch};

use crate::check::evaluate;
use crate::clock::Clock;
use crate::finding::Severity;
use crate::lifecycle::{self, Event, Policy, State};
use crate::name::DomainName;
use crate::probe::{Prober, ResolutionDown, resolution_failed};
use crate::profile::{Profile, ProfileLoader};
use crate::registry::{
    AlertKind, Domain, DomainUpdate, NewCheck, PendingChange, PendingCheck, Registry,
    RegistryError, ResultJson, Sweep, SweepKind,
};
use crate::report::{Report, Verdict};

pub use config::SweepConfig;
pub use plan::{HoldReason, ResolverWatch, Schedule, ShareRule};
pub use summary::{CanaryResult, RecordedCanary, RecordedSummary, Summary};

/// How long to keep retrying a commit while the database is unreachable before the
/// sweep gives up (its work is not lost: the next run resumes it).
const COMMIT_PATIENCE: Duration = Duration::from_secs(60);

/// How long the claimer waits at most before looking again for domains held by other
/// workers.
const LEASE_POLL: Duration = Duration::from_secs(2);

/// How many rounds of phase 2 may apply nothing (every update conflicting with concurrent
/// changes) before the sweep gives up.
const APPLY_ROUNDS_WITHOUT_PROGRESS: u32 = 5;

/// Told how far a sweep has come, to show it (the command line draws a progress bar; the
/// service shows none, [`Quiet`]).
pub trait Progress: Send + Sync {
    /// The domains due in this pass of the sweep.
    fn set_length(&self, due: u64);
    /// `count` more domains were checked and recorded.
    fn inc(&self, count: u64);
}

/// Progress that nobody watches.
#[derive(Clone, Copy, Debug, Default)]
pub struct Quiet;

impl Progress for Quiet {
    fn set_length(&self, _due: u64) {}
    fn inc(&self, _count: u64) {}
}

/// What a sweep needs to know besides the registry and the prober.
#[derive(Clone)]
pub struct Settings {
    /// This worker's name in leases (unique per process: `host:pid`).
    pub owner: String,
    /// Domains claimed, and results committed, at a time.
    pub batch_size: usize,
    /// Domains checked at once.
    pub concurrency: usize,
    /// How long a claimed domain stays reserved to this worker.
    pub lease: Duration,
    /// When the daily sweep runs.
    pub schedule: Schedule,
    /// How often domains awaiting DNS are checked.
    pub recheck_pending: SignedDuration,
    /// The lifecycle's rules.
    pub policy: Policy,
    /// When too many new failures hold a sweep.
    pub share: ShareRule,
    /// Domains known to be correct, checked before and after.
    pub canaries: Vec<DomainName>,
    /// The profile the canaries are checked against.
    pub canary_profile: String,
    /// Where operator alerts go.
    pub operators: Vec<String>,
    /// How the sweep watches the resolver.
    pub resolver: ResolverWatch,
    /// Loads the domains' profiles.
    pub profiles: ProfileLoader,
    /// The time: the system's, or `PECWATCH_NOW`'s.
    pub clock: Clock,
}

/// Why a sweep could not run to its end. Whatever was committed stays, and the next run
/// resumes the sweep.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The registry failed (and kept failing for a while).
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The resolver (or the root servers) does not answer: before the sweep (nothing was
    /// recorded), or for longer than `[sweep] resolver_wait` during it (what was checked
    /// stays; the next run resumes the sweep). The operators were alerted.
    #[error(transparent)]
    ResolverDown(#[from] ResolutionDown),
    /// Other workers hold due domains and, the clock being fixed, their leases will never
    /// lapse in this run.
    #[error(
        "{count} due domains are being checked by other workers until {until}, and \
         PECWATCH_NOW stops the clock: run the sweep again when they are done"
    )]
    Busy {
        /// How many domains.
        count: u64,
        /// When the earliest lease lapses.
        until: Timestamp,
    },
}

/// The result of checking one claimed domain.
struct Checked {
    /// The domain as claimed.
    domain: Domain,
    /// The check to record and its lifecycle event; `None` when the domain could not be
    /// checked (its profile would not load): it is tried again later.
    check: Option<(NewCheck, Event)>,
    /// Its lookups through the resolver failed ([`resolution_failed`]).
    resolution_failed: bool,
    /// Resolver outages declared when the check started.
    outages: u64,
    /// When it finished.
    finished: std::time::Instant,
    /// Keeps a place in the pipeline until the result is committed.
    _permit: OwnedSemaphorePermit,
}

/// Whether checks may start: the resolver answers (open), does not (paused), or the
/// sweep gave up waiting for it (closed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gate {
    Open,
    Paused,
    Closed,
}

/// The sweep's view of the resolver, shared by the checks and the committer.
struct ResolverGate {
    state: watch::Sender<Gate>,
    /// Outages declared so far in this pass.
    outages: std::sync::atomic::AtomicU64,
}

impl ResolverGate {
    fn new() -> Self {
        Self {
            state: watch::Sender::new(Gate::Open),
            outages: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn outages(&self) -> u64 {
        self.outages.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn paused(&self) -> bool {
        *self.state.borrow() != Gate::Open
    }

    fn set(&self, gate: Gate) {
        if gate == Gate::Paused {
            self.outages
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        self.state.send_replace(gate);
    }

    /// Waits while the sweep is paused; the outages so far when it may go on, `None`
    /// once it gave up.
    async fn pass(&self) -> Option<u64> {
        let mut state = self.state.subscribe();
        loop {
            match *state.borrow_and_update() {
                Gate::Open => return Some(self.outages()),
                Gate::Closed => return None,
                Gate::Paused => {}
            }
            state.changed().await.ok()?;
        }
    }
}

/// Runs sweeps: owns the registry, the prober and the settings.
pub struct Sweeper {
    registry: Registry,
    prober: Arc<Prober>,
    settings: Settings,
    /// Profiles by name, with their addresses resolved, loaded on first use.
    profiles: Mutex<HashMap<String, Result<Arc<Profile>, String>>>,
}

impl Sweeper {
    /// A sweeper over `registry`, checking with `prober`.
    pub fn new(registry: Registry, prober: Arc<Prober>, settings: Settings) -> Self {
        Self {
            registry,
            prober,
            settings,
            profiles: Mutex::new(HashMap::new()),
        }
    }

    /// The prober the sweep checks with (shared with other work of the same process).
    pub fn prober(&self) -> &Arc<Prober> {
        &self.prober
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Whether a sweep has anything to do now: domains due, or a sweep left unfinished.
    pub async fn has_work(&self) -> Result<bool, SweepError> {
        let now = self.settings.clock.now();
        let (due, _) = self
            .registry
            .due_remaining(now, &self.settings.owner)
            .await?;
        Ok(due > 0 || self.registry.unfinished_sweep().await?.is_some())
    }

    /// Runs one sweep of `kind` over the due domains (or joins, or resumes, the sweep
    /// already running), to its end: checks, decision, applied changes, summary.
    /// `progress` counts the checked domains.
    pub async fn run(
        &self,
        kind: SweepKind,
        progress: &dyn Progress,
    ) -> Result<Summary, SweepError> {
        let started = std::time::Instant::now();
        // A sweep through a resolver that does not answer would record failures that are
        // ours: record nothing, alert the operators (once for the outage), and stop.
        if let Err(down) = self.prober.resolution_answers().await {
            self.alert_resolution_down(None, &down).await?;
            return Err(down.into());
        }
        let now = self.settings.clock.now();
        let owner = self.settings.owner.as_str();
        let (sweep, joined) = retrying("start a sweep", || {
            self.registry.begin_sweep_as(now, kind, Some(owner))
        })
        .await?;
        self.run_sweep(sweep, joined, started, progress).await
    }

    /// Joins the sweep another worker started (the one running the schedule), if one is
    /// running, and works on it to its end like [`run`](Self::run); never starts one.
    /// `None` when no sweep is running.
    pub async fn join(&self, progress: &dyn Progress) -> Result<Option<Summary>, SweepError> {
        let started = std::time::Instant::now();
        let running = retrying("look for a running sweep", || {
            self.registry.unfinished_sweep()
        })
        .await?;
        match running {
            Some(sweep) => Ok(Some(self.run_sweep(sweep, true, started, progress).await?)),
            None => Ok(None),
        }
    }

    /// Works on `sweep` (started by this worker, or `joined`) to its end.
    async fn run_sweep(
        &self,
        sweep: Sweep,
        joined: bool,
        started: std::time::Instant,
        progress: &dyn Progress,
    ) -> Result<Summary, SweepError> {
        // Every sweep sees the DNS as it is now: nothing cached by an earlier one (in
        // `serve`, the prober lives for days), profiles included.
        self.prober.expire(Duration::ZERO);
        self.profiles.lock().await.clear();
        let now = self.settings.clock.now();
        // A sweep left unfinished before the latest daily slot is closed without
        // checking more: today's domains belong to a new sweep.
        let stale = joined && sweep.started < self.settings.schedule.previous_slot(now);
        tracing::info!(sweep = sweep.id, joined, stale, owner = %self.settings.owner, "sweep");

        let mut canaries = Vec::new();
        // Why this process holds the sweep, if it does (the registry keeps the first
        // reason of any process, in English).
        let mut cause = None;
        if sweep.decided.is_none() && !stale {
            if !joined {
                let before = self.check_canaries("before").await;
                cause = canary_failure(&before);
                if let Some(reason) = &cause {
                    let reason = reason.to_string();
                    retrying("hold the sweep", || {
                        self.registry.hold_sweep(sweep.id, &reason)
                    })
                    .await?;
                }
                canaries.extend(before);
            }
            let (due, _) = retrying("count the due domains", || {
                self.registry
                    .due_remaining_in(&sweep, now, &self.settings.owner)
            })
            .await?;
            progress.set_length(due);
            self.check_due(&sweep, progress).await?;
        }

        let sweep = if sweep.decided.is_none() {
            // With empty caches: through the resolver, like the first checks of a run (a
            // warm prober would still answer the canaries after the resolver died).
            self.prober.expire(Duration::ZERO);
            let after = self.check_canaries("after").await;
            if cause.is_none() {
                cause = canary_failure(&after);
            }
            canaries.extend(after);
            if cause.is_none() {
                let tally = retrying("count the sweep's checks", || {
                    self.registry.sweep_tally(sweep.id)
                })
                .await?;
                cause = plan::share_hold_reason(
                    self.settings.share,
                    tally.previously_ok,
                    tally.new_failures,
                );
            }
            let reason = cause.as_ref().map(ToString::to_string);
            let now = self.settings.clock.now();
            retrying("decide the sweep", || {
                self.registry.decide_sweep(
                    sweep.id,
                    now,
                    reason.as_deref(),
                    &self.settings.operators,
                )
            })
            .await?
        } else {
            sweep
        };
        self.apply_pending(&sweep).await?;

        let tally = retrying("count the sweep's checks", || {
            self.registry.sweep_tally(sweep.id)
        })
        .await?;
        let finished = self.settings.clock.now();
        let cause = cause.filter(|_| sweep.held);
        let summary = Summary::new(&sweep, tally, canaries, cause, finished, started.elapsed());
        let json = serde_json::to_value(&summary).unwrap_or_default();
        retrying("finish the sweep", || {
            self.registry.finish_sweep(sweep.id, finished, json.clone())
        })
        .await?;
        Ok(summary)
    }

    // -----------------------------------------------------------------------------------
    // Phase 1: check
    // -----------------------------------------------------------------------------------

    /// Checks every due domain and commits the results, until no due domain is left
    /// (including those other workers hold). A pass ends with domains released when the
    /// resolver stopped answering while they were checked: they are checked again.
    async fn check_due(&self, sweep: &Sweep, progress: &dyn Progress) -> Result<(), SweepError> {
        loop {
            let released = self.check_pass(sweep, progress).await?;
            if released == 0 {
                return Ok(());
            }
            tracing::info!(
                sweep = sweep.id,
                released,
                "checking again the domains checked while the resolver did not answer"
            );
        }
    }

    /// One pass of [`check_due`](Self::check_due): claims, checks and commits while the
    /// resolver answers; returns how many domains it released to be checked again.
    ///
    /// The resolver is asked (`. NS`) at least every `resolver.probe_interval`, at once
    /// when `resolver.threshold` checks' lookups through it failed, and at the end. A
    /// check whose lookups through it failed is held until then: recorded if it answers,
    /// released (checked again) if not. When it does not answer the sweep pauses: no new
    /// check starts, the operators are alerted (once), and the resolver is asked again
    /// with a growing wait until it answers (the sweep goes on) or `resolver.wait` has
    /// passed ([`SweepError::ResolverDown`]; the sweep stays unfinished).
    async fn check_pass(&self, sweep: &Sweep, progress: &dyn Progress) -> Result<u64, SweepError> {
        let settings = &self.settings;
        // Claimed-but-uncommitted domains are bounded, so a slow database slows the
        // claiming instead of piling up results in memory.
        let permits = Arc::new(Semaphore::new(
            settings.concurrency + 2 * settings.batch_size,
        ));
        let (sender, mut receiver) = mpsc::unbounded_channel::<Result<Checked, SweepError>>();
        let gate = ResolverGate::new();
        // Domains claimed but not checked because the sweep gave up.
        let abandoned = std::sync::Mutex::new(Vec::<i64>::new());

        // The checks run while the committer waits for the database, and the other way
        // round: two futures of one task, joined.
        let checking = async {
            let results = self
                .claimed(sweep, permits, &gate)
                .map(|claimed| {
                    let (gate, abandoned) = (&gate, &abandoned);
                    async move {
                        let (domain, permit) = claimed?;
                        match gate.pass().await {
                            Some(outages) => {
                                Ok(Some(self.check_one(domain, permit, outages).await))
                            }
                            None => {
                                abandoned
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .push(domain.id);
                                Ok(None)
                            }
                        }
                    }
                })
                .buffer_unordered(settings.concurrency.max(1));
            futures::pin_mut!(results);
            while let Some(result) = results.next().await {
                let result = match result {
                    Ok(Some(checked)) => Ok(checked),
                    Ok(None) => continue,
                    Err(error) => Err(error),
                };
                if sender.send(result).is_err() {
                    break; // the committer gave up
                }
            }
            drop(sender);
        };
        let committing = self.commit_pass(sweep, progress, &mut receiver, &gate);
        let ((), result) = tokio::join!(checking, committing);
        let abandoned = abandoned.into_inner().unwrap_or_else(|e| e.into_inner());
        if !abandoned.is_empty() {
            let owner = settings.owner.as_str();
            retrying("release leases", || {
                self.registry.release(owner, &abandoned)
            })
            .await?;
        }
        result
    }

    /// The committer of a pass: commits results in batches, holds the ones that rest on
    /// a failed resolver until it is asked, and pauses the pass when it does not answer.
    async fn commit_pass(
        &self,
        sweep: &Sweep,
        progress: &dyn Progress,
        receiver: &mut mpsc::UnboundedReceiver<Result<Checked, SweepError>>,
        gate: &ResolverGate,
    ) -> Result<u64, SweepError> {
        let settings = &self.settings;
        let watch = settings.resolver;
        let mut incoming = Vec::with_capacity(settings.batch_size);
        let mut held: Vec<Checked> = Vec::new();
        let mut released = 0_u64;
        let mut failed_since_probe = 0_u32;
        let mut last_probe = std::time::Instant::now();
        let mut open = true;
        while open {
            let wait = watch.probe_interval.saturating_sub(last_probe.elapsed());
            match tokio::time::timeout(wait, receiver.recv_many(&mut incoming, settings.batch_size))
                .await
            {
                Ok(0) => open = false,
                Ok(_) if incoming.len() < settings.batch_size => {
                    // Let a few more arrive: fewer, larger transactions.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    while incoming.len() < settings.batch_size {
                        match receiver.try_recv() {
                            Ok(item) => incoming.push(item),
                            Err(_) => break,
                        }
                    }
                }
                Ok(_) | Err(_) => {}
            }
            let before = held.len();
            let (record, recheck) = self.sort_checked(&mut incoming, &mut held, gate)?;
            let newly_held = held.len() - before + recheck.len();
            failed_since_probe =
                failed_since_probe.saturating_add(u32::try_from(newly_held).unwrap_or(u32::MAX));
            released += self.release_checked(recheck).await?;
            self.commit_recorded(sweep, progress, record).await?;
            let probe_due = !open
                || last_probe.elapsed() >= watch.probe_interval
                || failed_since_probe >= watch.threshold.max(1);
            if !probe_due {
                continue;
            }
            let asked = std::time::Instant::now();
            let answer = self.prober.resolution_answers().await;
            last_probe = std::time::Instant::now();
            failed_since_probe = 0;
            match answer {
                Ok(()) => {
                    // The resolver answered after these checks: what they saw stands.
                    let (ready, later): (Vec<Checked>, Vec<Checked>) = std::mem::take(&mut held)
                        .into_iter()
                        .partition(|c| c.finished <= asked && c.outages == gate.outages());
                    held = later;
                    self.commit_recorded(sweep, progress, ready).await?;
                }
                Err(down) => {
                    released += self.release_checked(std::mem::take(&mut held)).await?;
                    released += self.outage(sweep, receiver, gate, progress, down).await?;
                    last_probe = std::time::Instant::now();
                }
            }
            // At the end, whatever is still held was checked before the last answer.
            if !open && !held.is_empty() {
                open = true;
                last_probe = std::time::Instant::now() - watch.probe_interval;
            }
        }
        Ok(released)
    }

    /// Sorts arrived results: to record now, to hold (appended to `held`), to check again.
    fn sort_checked(
        &self,
        incoming: &mut Vec<Result<Checked, SweepError>>,
        held: &mut Vec<Checked>,
        gate: &ResolverGate,
    ) -> Result<(Vec<Checked>, Vec<Checked>), SweepError> {
        let (mut record, mut recheck) = (Vec::new(), Vec::new());
        for item in incoming.drain(..) {
            let item = item?;
            let outages = gate.outages();
            match plan::suspicion(item.resolution_failed, item.outages, outages, gate.paused()) {
                plan::Suspicion::Record => record.push(item),
                plan::Suspicion::Hold => held.push(item),
                plan::Suspicion::Recheck => recheck.push(item),
            }
        }
        Ok((record, recheck))
    }

    /// Commits checked domains (none: nothing) and counts them as done.
    async fn commit_recorded(
        &self,
        sweep: &Sweep,
        progress: &dyn Progress,
        checked: Vec<Checked>,
    ) -> Result<(), SweepError> {
        if checked.is_empty() {
            return Ok(());
        }
        let count = checked.len() as u64;
        self.commit_checked(sweep, checked).await?;
        progress.inc(count);
        Ok(())
    }

    /// Releases checked domains without recording their checks: they are due again, and
    /// checked again in this sweep.
    async fn release_checked(&self, checked: Vec<Checked>) -> Result<u64, SweepError> {
        if checked.is_empty() {
            return Ok(0);
        }
        let ids: Vec<i64> = checked.iter().map(|c| c.domain.id).collect();
        let owner = self.settings.owner.as_str();
        retrying("release leases", || self.registry.release(owner, &ids)).await?;
        Ok(ids.len() as u64)
    }

    /// The resolver does not answer: pauses the pass, alerts the operators (once per
    /// sweep), and asks again with a growing wait until it answers or `resolver.wait`
    /// has passed. Results that arrive meanwhile are recorded when they do not rest on
    /// the resolver, released otherwise. Returns how many were released.
    async fn outage(
        &self,
        sweep: &Sweep,
        receiver: &mut mpsc::UnboundedReceiver<Result<Checked, SweepError>>,
        gate: &ResolverGate,
        progress: &dyn Progress,
        down: ResolutionDown,
    ) -> Result<u64, SweepError> {
        gate.set(Gate::Paused);
        let paused = std::time::Instant::now();
        tracing::warn!(sweep = sweep.id, %down, "sweep paused: the resolver does not answer");
        self.alert_resolution_down(Some(sweep), &down).await?;
        let mut released = 0;
        let mut incoming = Vec::new();
        for attempt in 0.. {
            tokio::time::sleep(plan::resolver_backoff(attempt)).await;
            while let Ok(item) = receiver.try_recv() {
                incoming.push(item);
            }
            let mut held = Vec::new();
            let (record, recheck) = self.sort_checked(&mut incoming, &mut held, gate)?;
            released += self.release_checked(recheck).await?;
            released += self.release_checked(held).await?;
            self.commit_recorded(sweep, progress, record).await?;
            match self.prober.resolution_answers().await {
                Ok(()) => break,
                Err(still) if paused.elapsed() >= self.settings.resolver.wait => {
                    gate.set(Gate::Closed);
                    // The checks in flight end without being recorded: release them.
                    while let Some(item) = receiver.recv().await {
                        if let Ok(item) = item {
                            self.release_checked(vec![item]).await?;
                        }
                    }
                    tracing::error!(sweep = sweep.id, %still, "gave up waiting for the resolver");
                    return Err(still.into());
                }
                Err(_) => {}
            }
        }
        tracing::warn!(
            sweep = sweep.id,
            paused = ?paused.elapsed(),
            "the resolver answers again: the sweep goes on"
        );
        gate.set(Gate::Open);
        Ok(released)
    }

    /// Alerts the operators that the resolver does not answer: once per sweep it paused,
    /// and once per outage before a sweep (the alert's key names the latest sweep).
    async fn alert_resolution_down(
        &self,
        sweep: Option<&Sweep>,
        down: &ResolutionDown,
    ) -> Result<(), SweepError> {
        let now = self.settings.clock.now();
        let (key, message) = match sweep {
            Some(sweep) => (
                format!("alert/resolver/{}/during", sweep.id),
                format!("sweep {} paused: {down}", sweep.id),
            ),
            None => {
                let latest = retrying("read the latest sweep", || self.registry.sweeps(1))
                    .await?
                    .into_iter()
                    .next();
                // A sweep left unfinished was (most likely) stopped by this same outage.
                let key = match &latest {
                    Some(s) if s.finished.is_none() => format!("alert/resolver/{}/during", s.id),
                    Some(s) => format!("alert/resolver/{}/after", s.id),
                    None => "alert/resolver/0/after".to_owned(),
                };
                (key, format!("no sweep started: {down}"))
            }
        };
        let payload = serde_json::json!({
            "alert": AlertKind::ResolverDown,
            "sweep": sweep.map(|s| s.id),
            "reason": message,
            "to": self.settings.operators,
        });
        let raised = retrying("alert the operators", || {
            self.registry.raise_alert_once(
                now,
                &key,
                AlertKind::ResolverDown,
                &message,
                payload.clone(),
            )
        })
        .await?;
        if raised {
            tracing::warn!(%message, "operators alerted");
        }
        Ok(())
    }

    /// The due domains, claimed a batch at a time, each with a place in the pipeline.
    /// Ends when no due domain is left that this worker does not already hold; while
    /// other workers hold some, waits for them to commit or for their leases to lapse.
    fn claimed<'a>(
        &'a self,
        sweep: &'a Sweep,
        permits: Arc<Semaphore>,
        gate: &'a ResolverGate,
    ) -> impl Stream<Item = Result<(Domain, OwnedSemaphorePermit), SweepError>> + 'a {
        stream::unfold(
            (VecDeque::<Domain>::new(), false),
            move |(mut buffer, finished)| {
                let permits = permits.clone();
                async move {
                    loop {
                        if let Some(domain) = buffer.pop_front() {
                            let permit = permits.acquire_owned().await.ok()?;
                            return Some((Ok((domain, permit)), (buffer, false)));
                        }
                        if finished {
                            return None;
                        }
                        // No new domains while the resolver is away; none once given up.
                        gate.pass().await?;
                        match self.claim_batch(sweep).await {
                            Ok(Some(batch)) => buffer.extend(batch),
                            Ok(None) => return None,
                            Err(error) => return Some((Err(error), (buffer, true))),
                        }
                    }
                }
            },
        )
    }

    /// Claims the next batch: `Some` non-empty batch, or `None` when nothing is left (or
    /// another worker already decided the sweep: what falls due now is for the next one).
    async fn claim_batch(&self, sweep: &Sweep) -> Result<Option<Vec<Domain>>, SweepError> {
        let settings = &self.settings;
        loop {
            let current = retrying("read the sweep", || self.registry.sweep(sweep.id)).await?;
            if current.is_none_or(|current| current.decided.is_some()) {
                return Ok(None);
            }
            let now = settings.clock.now();
            let batch = retrying("claim due domains", || {
                self.registry.claim_due_in(
                    sweep,
                    &settings.owner,
                    now,
                    settings.lease,
                    settings.batch_size as u64,
                )
            })
            .await?;
            if !batch.is_empty() {
                return Ok(Some(batch));
            }
            let (count, lease) = retrying("count the due domains", || {
                self.registry.due_remaining_in(sweep, now, &settings.owner)
            })
            .await?;
            let Some(until) = lease.filter(|_| count > 0) else {
                return Ok(None);
            };
            if settings.clock.is_fixed() {
                return Err(SweepError::Busy { count, until });
            }
            let wait = until
                .duration_since(now)
                .unsigned_abs()
                .clamp(Duration::from_millis(100), LEASE_POLL);
            // In simulated time, the clock moves to the lease's end instead.
            settings.clock.idle(until, wait).await;
        }
    }

    /// Checks one domain against its profile (with its hybrid exception).
    async fn check_one(
        &self,
        domain: Domain,
        permit: OwnedSemaphorePermit,
        outages: u64,
    ) -> Checked {
        let profile = match self.profile(&domain.profile).await {
            Ok(profile) => profile,
            Err(_) => {
                return Checked {
                    domain,
                    check: None,
                    resolution_failed: false,
                    outages,
                    finished: std::time::Instant::now(),
                    _permit: permit,
                };
            }
        };
        let profile = if domain.exception.is_empty() {
            profile
        } else {
            let mut widened = (*profile).clone();
            widened
                .extra_addresses
                .extend(domain.exception.iter().copied());
            Arc::new(widened)
        };
        let observation = self.prober.observe(&domain.name).await;
        let findings = evaluate(&observation, &profile);
        let report = Report::new(domain.name.as_str(), &observation, &profile.name, findings);
        let at = self.settings.clock.now();
        let check = record(&report, &domain, at);
        Checked {
            domain,
            resolution_failed: !report.ok() && resolution_failed(&observation),
            check: Some(check),
            outages,
            finished: std::time::Instant::now(),
            _permit: permit,
        }
    }

    /// A profile by name, loaded and resolved once per sweeper. A profile that fails
    /// holds the sweep (the fault is ours or the provider's, not the domains').
    async fn profile(&self, name: &str) -> Result<Arc<Profile>, String> {
        let mut profiles = self.profiles.lock().await;
        if let Some(known) = profiles.get(name) {
            return known.clone();
        }
        let loaded = match (self.settings.profiles)(name) {
            Ok(profile) => self
                .prober
                .resolve_profile(&profile)
                .await
                .map(Arc::new)
                .map_err(|error| error.to_string()),
            Err(error) => Err(error),
        };
        if let Err(error) = &loaded {
            tracing::error!(profile = name, %error, "cannot load a provider profile");
        }
        profiles.insert(name.to_owned(), loaded.clone());
        loaded
    }

    /// Commits phase-1 results; updates that conflict with a concurrent change (an
    /// operator's command) are recomputed on the domain as it is now and committed again.
    async fn commit_checked(&self, sweep: &Sweep, checked: Vec<Checked>) -> Result<(), SweepError> {
        let now = self.settings.clock.now();
        let mut skipped = Vec::new();
        // The events, to plan again the updates that conflict (their checks stay in
        // `updates`: a result is moved, never copied, on its way to the database).
        let mut events: HashMap<i64, Event> = HashMap::new();
        let mut updates = Vec::with_capacity(checked.len());
        for item in checked {
            match item.check {
                Some((check, event)) => {
                    updates.push(self.plan_checked(
                        sweep,
                        &item.domain,
                        Some((check, &event)),
                        now,
                    ));
                    events.insert(item.domain.id, event);
                }
                None => {
                    skipped.push(item.domain.profile.clone());
                    updates.push(self.plan_checked(sweep, &item.domain, None, now));
                }
            }
        }
        if let Some(profile) = skipped.first() {
            let reason = format!(
                "{} domains could not be checked: provider profile {profile:?} could not be \
                 loaded or resolved",
                skipped.len()
            );
            retrying("hold the sweep", || {
                self.registry.hold_sweep(sweep.id, &reason)
            })
            .await?;
        }

        let owner = self.settings.owner.as_str();
        for _ in 0..APPLY_ROUNDS_WITHOUT_PROGRESS {
            let outcome = retrying("commit checks", || {
                self.registry.commit_updates(owner, now, &updates)
            })
            .await?;
            if outcome.conflicts.is_empty() {
                return Ok(());
            }
            // A domain that moved on may have been checked in this sweep meanwhile: by
            // another worker that took it over when this worker's lease lapsed (a slow
            // worker, not a dead one), or by this very batch when the database failed
            // after committing it but before saying so. That check stands and this one
            // is dropped: a domain is checked once per sweep. The others moved on
            // because of an operator's command: their check is planned again on the
            // domain as it is now.
            let checked = retrying("look for checks of this sweep", || {
                self.registry.checked_in_sweep(sweep.id, &outcome.conflicts)
            })
            .await?;
            let (dropped, replan): (Vec<i64>, Vec<i64>) = outcome
                .conflicts
                .iter()
                .partition(|id| checked.contains(id));
            if !dropped.is_empty() {
                tracing::info!(
                    count = dropped.len(),
                    "results dropped: these domains were already checked in this sweep"
                );
                retrying("release leases", || self.registry.release(owner, &dropped)).await?;
            }
            let mut checks: HashMap<i64, NewCheck> = updates
                .drain(..)
                .filter_map(|update| Some((update.domain_id, update.check?)))
                .collect();
            for id in replan {
                let domain = retrying("read a domain", || self.registry.domain_by_id(id)).await?;
                if let Some(domain) = domain {
                    let check = checks.remove(&id).zip(events.get(&id));
                    updates.push(self.plan_checked(sweep, &domain, check, now));
                }
            }
            if updates.is_empty() {
                return Ok(());
            }
        }
        let ids: Vec<i64> = updates.iter().map(|u| u.domain_id).collect();
        retrying("release leases", || self.registry.release(owner, &ids)).await?;
        tracing::warn!(
            ?ids,
            "domains kept changing during the sweep; left for the next run"
        );
        Ok(())
    }

    /// The phase-1 update of one checked domain: the whole outcome when the check changes
    /// nothing in its lifecycle, else the check with its event left pending.
    fn plan_checked(
        &self,
        sweep: &Sweep,
        domain: &Domain,
        check: Option<(NewCheck, &Event)>,
        now: Timestamp,
    ) -> DomainUpdate {
        let settings = &self.settings;
        let Some((check, event)) = check else {
            // Not checked: try again in a while, changing nothing else.
            return DomainUpdate::new(domain, lifecycle::plus(now, settings.recheck_pending));
        };
        let next_check = |status| self.next_check(status, now);
        let mut update = match apply_check(&domain.status, event, &settings.policy) {
            Ok(outcome)
                if plan::disposition(&domain.status, &outcome) == plan::Disposition::Commit =>
            {
                let mut update = DomainUpdate::new(domain, next_check(&domain.status));
                update.pending = PendingChange::Clear;
                update
            }
            _ => {
                let mut update = DomainUpdate::new(domain, settings.schedule.next_slot(now));
                update.pending = PendingChange::Set(PendingCheck {
                    sweep_id: sweep.id,
                    event: event.clone(),
                });
                update
            }
        };
        update.sweep_id = Some(sweep.id);
        update.check = Some(check);
        update
    }

    // -----------------------------------------------------------------------------------
    // Canaries
    // -----------------------------------------------------------------------------------

    /// Checks the canaries against the canary profile.
    async fn check_canaries(&self, when: &'static str) -> Vec<CanaryResult> {
        if self.settings.canaries.is_empty() {
            return Vec::new();
        }
        let profile = self.profile(&self.settings.canary_profile).await;
        let checks = self.settings.canaries.iter().map(|canary| {
            let profile = profile.clone();
            async move {
                let codes = match profile {
                    Err(error) => vec![format!("PROFILE: {error}")],
                    Ok(profile) => {
                        let observation = self.prober.observe(canary).await;
                        let findings = evaluate(&observation, &profile);
                        let report =
                            Report::new(canary.as_str(), &observation, &profile.name, findings);
                        error_codes(&report)
                    }
                };
                CanaryResult {
                    domain: canary.to_string(),
                    when,
                    ok: codes.is_empty(),
                    codes,
                }
            }
        });
        let results = futures::future::join_all(checks).await;
        for failed in results.iter().filter(|r| !r.ok) {
            tracing::warn!(canary = %failed.domain, when, codes = ?failed.codes, "canary failed");
        }
        results
    }

    // -----------------------------------------------------------------------------------
    // Phase 2: apply (or drop) the pending changes
    // -----------------------------------------------------------------------------------

    /// Applies the sweep's pending lifecycle changes (or, for a held sweep, drops them),
    /// a batch at a time, until none is left.
    ///
    /// Every worker on the sweep does this at its end: they page through the same pending
    /// domains, and the version check lets one of them apply each change (the others'
    /// updates conflict and are skipped). A round that applied nothing still counts as
    /// progress when its page differs from the previous one (another worker applied it).
    async fn apply_pending(&self, sweep: &Sweep) -> Result<(), SweepError> {
        let mut rounds_without_progress = 0;
        let mut previous_page: Vec<i64> = Vec::new();
        loop {
            let page = retrying("read the pending changes", || {
                self.registry
                    .pending_checks(sweep.id, 0, self.settings.batch_size as u64)
            })
            .await?;
            if page.is_empty() {
                return Ok(());
            }
            let ids: Vec<i64> = page.iter().map(|domain| domain.id).collect();
            if ids != previous_page {
                rounds_without_progress = 0;
            }
            previous_page = ids;
            let now = self.settings.clock.now();
            let updates: Vec<DomainUpdate> = page
                .iter()
                .map(|d| self.plan_pending(sweep, d, now))
                .collect();
            let outcome = retrying("apply pending changes", || {
                self.registry
                    .commit_updates(&self.settings.owner, now, &updates)
            })
            .await?;
            if outcome.applied.is_empty() {
                rounds_without_progress += 1;
                if rounds_without_progress >= APPLY_ROUNDS_WITHOUT_PROGRESS {
                    return Err(RegistryError::Conflict.into());
                }
            } else {
                rounds_without_progress = 0;
            }
        }
    }

    /// When a domain with `status`, checked or decided at `now`, is next due.
    fn next_check(&self, status: &lifecycle::DomainStatus, now: Timestamp) -> Timestamp {
        let settings = &self.settings;
        plan::next_check(
            status,
            &settings.policy,
            &settings.schedule,
            settings.recheck_pending,
            now,
        )
    }

    /// The phase-2 update of a domain with a pending check.
    fn plan_pending(&self, sweep: &Sweep, domain: &Domain, now: Timestamp) -> DomainUpdate {
        let settings = &self.settings;
        let next_check = |status| self.next_check(status, now);
        let outcome = match (&domain.pending, sweep.held) {
            (Some(pending), false) => {
                match apply_check(&domain.status, &pending.event, &settings.policy) {
                    Ok(outcome) => Some(outcome),
                    Err(error) => {
                        // Checks are observations, which the machine never refuses.
                        tracing::error!(domain = %domain.name, %error, "check refused");
                        None
                    }
                }
            }
            _ => None,
        };
        let mut update = match outcome {
            Some(outcome) => {
                DomainUpdate::new(domain, next_check(&outcome.status)).with_outcome(domain, outcome)
            }
            None => DomainUpdate::new(domain, next_check(&domain.status)),
        };
        update.sweep_id = Some(sweep.id);
        update.pending = PendingChange::Clear;
        update
    }
}

/// Applies a check to a status: time first (a deadline, expiry or expiry warning due at
/// the check's instant), then what the check saw.
fn apply_check(
    status: &lifecycle::DomainStatus,
    check: &Event,
    policy: &Policy,
) -> Result<lifecycle::Outcome, lifecycle::LifecycleError> {
    let tick = Event::Tick { now: check.at() };
    lifecycle::apply_all(status, &[tick, check.clone()], policy)
}

/// The check record and lifecycle event of a report.
fn record(report: &Report, domain: &Domain, at: Timestamp) -> (NewCheck, Event) {
    let codes = report.codes_of(Severity::Error);
    let warnings = report.codes_of(Severity::Warning);
    let verdict = report.verdict();
    let ok = verdict == Verdict::Ok;
    let transient = verdict == Verdict::TransientError;
    // Previously correct: the last check passed, or there was none and the domain was
    // certified (imported from a list of working domains).
    let previous_ok = match &domain.last_check {
        Some(last) => Some(last.ok),
        None => (domain.status.state == State::Certified).then_some(true),
    };
    let check = NewCheck {
        at,
        ok,
        transient,
        codes: codes.clone(),
        warnings,
        result: ResultJson::of(&report.view(domain.holder.lang)),
        previous_ok,
    };
    let event = Event::Check {
        at,
        ok,
        transient,
        codes,
    };
    (check, event)
}

/// The sorted error codes of a report.
fn error_codes(report: &Report) -> Vec<String> {
    report
        .codes_of(Severity::Error)
        .iter()
        .map(|code| code.as_str().to_owned())
        .collect()
}

/// Why the canaries hold the sweep, if one failed.
fn canary_failure(results: &[CanaryResult]) -> Option<HoldReason> {
    let failed: Vec<String> = results
        .iter()
        .filter(|r| !r.ok)
        .map(|r| format!("{} ({})", r.domain, r.codes.join(", ")))
        .collect();
    let when = results.first()?.when;
    (!failed.is_empty()).then_some(HoldReason::Canaries { when, failed })
}

/// Runs a registry operation, retrying with backoff while the database is unreachable,
/// for up to [`COMMIT_PATIENCE`]. Other errors are returned at once.
async fn retrying<T, F, Fut>(what: &str, mut operation: F) -> Result<T, RegistryError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, RegistryError>>,
{
    let deadline = std::time::Instant::now() + COMMIT_PATIENCE;
    let mut pause = Duration::from_millis(250);
    loop {
        match operation().await {
            Err(RegistryError::Database(error)) if std::time::Instant::now() < deadline => {
                tracing::warn!(%error, "cannot {what}; retrying in {pause:?}");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(8));
            }
            result => return result,
        }
    }
}

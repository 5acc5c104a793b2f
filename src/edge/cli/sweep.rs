//! `pecwatch sweep` (one sweep over the due domains, for cron) and `pecwatch serve` (the
//! daily service: the sweep at `sweep.time`, re-checks as they fall due).

use super::output::{errln, out, outln};
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicI64};
use std::time::Duration;

use clap::Args;
use indicatif::ProgressBar;

use super::{CliError, Exit, Format, load_profile};
use crate::Lang;
use crate::activation::Dns;
use crate::clock::Clock;
use crate::config::Config;
use crate::outbox::{SendError, SendSummary};
use crate::probe::Prober;
use crate::provision::Provisioner;
use crate::registry::{Registry, SweepKind};
use crate::sweep::{Schedule, Settings, ShareRule, Summary, SweepError, Sweeper};

/// How often `serve` looks for notices to send.
const NOTICE_POLL: Duration = Duration::from_secs(30);

/// The name of the lease that lets one `serve` process run the schedule.
const SCHEDULE: &str = "schedule";

/// The longest the schedule's lease lasts (`sweep.lease` if shorter): how long the
/// schedule may stand still after its holder died.
const SCHEDULE_LEASE_MAX: Duration = Duration::from_secs(60);

/// How often a `serve` process that does not run the schedule looks for a sweep to join.
const JOIN_POLL: Duration = Duration::from_secs(2);

/// Arguments of `pecwatch sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Output format of the summary (json: one object with the sweep's counts).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Language of the summary.
    #[arg(long, value_enum, default_value_t)]
    pub lang: Lang,
    /// Never show a progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

/// Arguments of `pecwatch serve`.
#[derive(Debug, Args)]
#[command(after_help = concat!(
    "Environment:\n",
    "  PECWATCH_NOW=INSTANT    start the service's clock at this RFC 3339 instant\n",
    "  PECWATCH_SIMULATE=FILE  with PECWATCH_NOW: run in simulated time, up to the instant\n",
    "                          in FILE, and write FILE.reached on getting there (README,\n",
    "                          \"Rehearsing a month: simulated time\")",
))]
pub struct ServeArgs {
    /// Language of the summaries printed after each sweep.
    #[arg(long, value_enum, default_value_t)]
    pub lang: Lang,
}

impl From<SweepError> for CliError {
    fn from(error: SweepError) -> Self {
        match error {
            SweepError::Registry(error) => CliError::Registry(error),
            busy @ SweepError::Busy { .. } => CliError::Io(std::io::Error::other(busy.to_string())),
            down @ SweepError::ResolverDown(_) => {
                CliError::Io(std::io::Error::other(down.to_string()))
            }
        }
    }
}

/// `pecwatch sweep`: checks every due domain once, applies (or holds) the lifecycle
/// changes, prints the summary. Exit 0, or 1 when the sweep was held (the operators must
/// look at it), or 4 when the resolver does not answer (before the sweep: nothing was
/// recorded; during it, for longer than `[sweep] resolver_wait`: the next run resumes it).
pub async fn sweep(config: &Config, args: SweepArgs) -> Result<Exit, CliError> {
    let clock = Clock::from_env()?;
    let registry = Registry::open(&config.database.url).await?;
    let sweeper = sweeper(config, registry.clone(), clock)?;
    let dns = activation_dns(config, &sweeper)?;
    record_activations(&registry, dns.as_ref(), clock.now()).await;
    if !sweeper.has_work().await? {
        let next = registry.next_due().await?;
        registry.close().await;
        let next = next.map_or_else(|| "-".to_owned(), |at| local_time(at, config));
        match args.format {
            Format::Text => outln!(
                "{} {next}",
                args.lang.pick(
                    "Nessun dominio da controllare ora; il prossimo alle",
                    "No domain is due now; the next one at"
                )
            )?,
            Format::Json => outln!("{}", serde_json::json!({ "sweep": null, "next_due": next }))?,
        }
        return Ok(Exit::Ok);
    }
    let progress = super::progress::domains(!args.no_progress, super::progress::Total::Known);
    let result = sweeper.run(SweepKind::Sweep, &progress).await;
    progress.finish_and_clear();
    if let Err(SweepError::ResolverDown(down)) = &result {
        registry.close().await;
        errln!(
            "pecwatch sweep: {}. {}",
            down.text(args.lang),
            args.lang.pick(
                "Nessun dominio cambia stato; gli operatori sono avvisati. Ripetere il giro quando il resolver risponde.",
                "No domain changes state; the operators are alerted. Run the sweep again when the resolver answers."
            )
        );
        return Ok(Exit::ResolverDown);
    }
    if let Ok(summary) = &result {
        write_metrics(config, &registry, summary).await?;
        record_activations(&registry, dns.as_ref(), clock.now()).await;
    }
    registry.close().await;
    let summary = result?;
    match args.format {
        Format::Text => out!("{}", summary.to_text(args.lang))?,
        Format::Json => outln!("{}", serde_json::to_value(&summary).unwrap_or_default())?,
    }
    Ok(if summary.held {
        Exit::Findings
    } else {
        Exit::Ok
    })
}

/// `pecwatch serve`: runs until stopped (SIGINT or SIGTERM). At start it resumes a sweep
/// left unfinished; then it runs a sweep whenever domains fall due: all of them at the
/// daily slot, the re-checks (confirmations, deadlines, pending DNS) in between.
///
/// Several `serve` processes may share one database (PostgreSQL, or SQLite on one
/// machine): one of them runs the schedule (it holds the `schedule` lease, see
/// `Leadership`) and starts the sweeps and the activation steps; the others join each
/// sweep it starts and share its domains through their leases. All of them send notices
/// (each claims the ones it sends). When the scheduler dies, its lease lapses and another
/// process takes the schedule over.
///
/// The service's clock starts at `PECWATCH_NOW` when it is set and runs from there; with
/// `PECWATCH_SIMULATE` too, it runs in simulated time ([`crate::clock`]).
pub async fn serve(config: &Config, args: ServeArgs) -> Result<Exit, CliError> {
    // Listening from the start: a SIGTERM during the start is not lost.
    let mut stop = Box::pin(shutdown());
    let clock = Clock::service_from_env()?;
    let service_now = || clock.now();
    let registry = Registry::open(&config.database.url).await?;
    let sweeper = sweeper(config, registry.clone(), clock)?;
    let dns = activation_dns(config, &sweeper)?;
    let sender = super::notices::sender(config, registry.clone(), clock)?;
    let schedule = sweeper.settings().schedule.clone();
    // Notices go out within this long of being queued (or of coming due for a retry).
    let poll = NOTICE_POLL.min(config.sweep.recheck_pending.unsigned_abs());
    errln!(
        "pecwatch serve: {} {} {} ({}), {} {}",
        args.lang
            .pick("controllo giornaliero alle", "daily sweep at"),
        config.sweep.time.strftime("%H:%M"),
        config.sweep.timezone,
        config.redacted_database_url(),
        args.lang.pick("prossimo", "next"),
        local_time(schedule.next_slot(service_now()), config),
    );

    // The web interface beside the sweep ([web] enabled). If it cannot listen, the
    // service goes on without it: the daily checks and the deadlines matter more.
    let web = match super::web::spawn(config, registry.clone(), clock, shutdown()).await {
        Ok(web) => web,
        Err(error) => {
            tracing::error!(%error, "the web interface is not served");
            errln!("pecwatch serve: web: {error}");
            None
        }
    };
    let quiet = ProgressBar::hidden();
    let mut last_slot = schedule.previous_slot(service_now());
    // While the resolver does not answer: how many sweeps it stopped in a row, and when
    // to try again.
    let mut resolver_failures = 0_u32;
    let mut retry_at: Option<std::time::Instant> = None;
    let leadership = Leadership::start(
        registry.clone(),
        sweeper.settings().owner.clone(),
        clock,
        config.sweep.lease.unsigned_abs().min(SCHEDULE_LEASE_MAX),
        args.lang,
    )
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
            record_activations(&registry, dns.as_ref(), now).await;
            let waiting = retry_at.is_some_and(|at| std::time::Instant::now() < at);
            if !waiting && sweeper.has_work().await? {
                let run = sweeper.run(kind, &quiet);
                let result = tokio::select! {
                    result = run => result,
                    () = &mut stop => break,
                };
                let summary = match result {
                    Err(SweepError::ResolverDown(down)) => {
                        // The service goes on (notices, the web interface); the sweep is
                        // tried again later, the operators alerted once.
                        let wait = crate::sweep::plan::start_backoff(resolver_failures);
                        resolver_failures = resolver_failures.saturating_add(1);
                        retry_at = Some(std::time::Instant::now() + wait);
                        errln!(
                            "pecwatch serve: {}; {} {} s",
                            down.text(args.lang),
                            args.lang.pick("nuovo tentativo fra", "trying again in"),
                            wait.as_secs()
                        );
                        None
                    }
                    result => Some(result?),
                };
                if let Some(summary) = summary {
                    resolver_failures = 0;
                    retry_at = None;
                    report(summary.to_text(args.lang).trim_end());
                    write_metrics(config, &registry, &summary).await?;
                    record_activations(&registry, dns.as_ref(), service_now()).await;
                    if kind == SweepKind::Daily {
                        last_slot = slot;
                    }
                }
            }
        } else {
            // Not the scheduler: work on the sweep it started, if one is running.
            let joined = tokio::select! {
                summary = sweeper.join(&quiet) => summary,
                () = &mut stop => break,
            };
            let joined = match joined {
                // The scheduler alerts and tries again; this process joins when it does.
                Err(SweepError::ResolverDown(down)) => {
                    errln!("pecwatch serve: {}", down.text(args.lang));
                    None
                }
                joined => joined?,
            };
            if let Some(summary) = joined {
                report(summary.to_text(args.lang).trim_end());
                write_metrics(config, &registry, &summary).await?;
            }
            // Should it take the schedule over, the daily sweep it may have joined is
            // not started again.
            last_slot = slot;
        }
        let sent = tokio::select! {
            sent = sender.send_due() => sent,
            () = &mut stop => break,
        };
        match sent {
            Ok(sent) if sent == SendSummary::default() => {}
            Ok(sent) => report(&sent.to_text(args.lang)),
            // The database: fatal, as for the sweep. The relay's problems are per notice.
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
    if let Some(web) = web {
        // It stops on the same signal, once the requests in flight are answered.
        let _ = tokio::time::timeout(Duration::from_secs(10), web).await;
    }
    errln!("pecwatch serve: {}", args.lang.pick("fermato", "stopped"));
    registry.close().await;
    Ok(Exit::Ok)
}

/// A line of the service's report: on standard output or, when that is closed, in the
/// log. The service goes on either way.
fn report(text: &str) {
    if outln!("{text}").is_err() {
        tracing::info!(target: "pecwatch::serve", "{text}");
    }
}

/// Whether this `serve` process runs the schedule: it holds the `schedule` lease in the
/// registry, renewed by a background task every third of the lease. A process that
/// cannot renew it (the database is unreachable) stops running the schedule when its
/// lease ends; a process whose holder died (or lost the database) takes it over once it
/// lapsed. The lease is in the database's time, written by each process's clock: the
/// machines' clocks must agree to well within the lease.
struct Leadership {
    registry: Registry,
    owner: String,
    clock: Clock,
    lease: Duration,
    lang: Lang,
    /// Until when this process holds the lease (Unix seconds; 0: it does not).
    until: Arc<AtomicI64>,
    /// Whether it held the lease at the last attempt (to say when that changes).
    held: Arc<AtomicBool>,
    renewal: tokio::task::JoinHandle<()>,
}

impl Leadership {
    /// Tries to take the lease now, then keeps it (or keeps trying) in the background.
    async fn start(
        registry: Registry,
        owner: String,
        clock: Clock,
        lease: Duration,
        lang: Lang,
    ) -> Self {
        let until = Arc::new(AtomicI64::new(0));
        let held = Arc::new(AtomicBool::new(false));
        renew_schedule(&registry, &owner, clock, lease, &until, &held, lang).await;
        if !held.load(SeqCst) {
            let holder = registry.lease_holder(SCHEDULE).await.ok().flatten();
            let holder = holder.map_or_else(|| "?".to_owned(), |(holder, _, _)| holder);
            errln!(
                "pecwatch serve: {holder} {} {owner} {}",
                lang.pick(
                    "gestisce la pianificazione dei controlli; questo processo",
                    "runs the schedule; this process"
                ),
                lang.pick("partecipa ai controlli", "joins its sweeps"),
            );
        }
        let renewal = {
            let (registry, owner) = (registry.clone(), owner.clone());
            let (until, held) = (until.clone(), held.clone());
            let every = (lease / 3).max(Duration::from_millis(200));
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    renew_schedule(&registry, &owner, clock, lease, &until, &held, lang).await;
                }
            })
        };
        Self {
            registry,
            owner,
            clock,
            lease,
            lang,
            until,
            held,
            renewal,
        }
    }

    /// Whether this process runs the schedule at `now`. A lease with less than two thirds
    /// of its length left is renewed first (the background renewal keeps it fresher in
    /// real time; this matters when time jumps, in a simulation).
    async fn holds(&self, now: jiff::Timestamp) -> bool {
        let lease_secs = i64::try_from(self.lease.as_secs().max(1)).unwrap_or(i64::MAX);
        let until = self.until.load(SeqCst);
        if until > 0 && until.saturating_sub(now.as_second()) < lease_secs * 2 / 3 {
            renew_schedule(
                &self.registry,
                &self.owner,
                self.clock,
                self.lease,
                &self.until,
                &self.held,
                self.lang,
            )
            .await;
        }
        now.as_second() < self.until.load(SeqCst)
    }

    /// Stops renewing and gives the lease up, so another process takes it at once.
    async fn stop(self) {
        self.renewal.abort();
        if let Err(error) = self.registry.release_lease(SCHEDULE, &self.owner).await {
            tracing::warn!(%error, "cannot give up the schedule");
        }
    }
}

/// One attempt to take or renew the schedule's lease; says so when this process starts
/// or stops running the schedule.
async fn renew_schedule(
    registry: &Registry,
    owner: &str,
    clock: Clock,
    lease: Duration,
    until: &AtomicI64,
    held: &AtomicBool,
    lang: Lang,
) {
    let now = clock.now();
    let lease_secs = i64::try_from(lease.as_secs().max(1)).unwrap_or(i64::MAX);
    match registry.hold_lease(SCHEDULE, owner, now, lease).await {
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
        errln!("pecwatch serve: {owner} {what}");
        tracing::info!(owner, holds, "schedule");
    }
}

/// Carries activations forward: before a sweep, writes the provider's own DNS for
/// approved orders (with `[provision]`), so the sweep can verify it; after, records the
/// steps the sweep completed (domains verified and published). A failure is logged; the
/// next run does it.
async fn record_activations(registry: &Registry, dns: Option<&Dns>, now: jiff::Timestamp) {
    if let Err(error) = crate::activation::advance(registry, dns, now).await {
        tracing::warn!(%error, "cannot carry activations forward");
    }
}

/// What activation needs to write the provider's DNS, when `[provision]` is set.
fn activation_dns(config: &Config, sweeper: &Sweeper) -> Result<Option<Dns>, CliError> {
    Ok(Provisioner::from_config(config)?.map(|provisioner| Dns {
        provisioner,
        prober: Arc::clone(sweeper.prober()),
        profiles: Arc::clone(&sweeper.settings().profiles),
    }))
}

/// Writes the sweep's metrics to `sweep.metrics_file`, if set: to a temporary file next
/// to it, then renamed over it, so a collector never reads half a file.
async fn write_metrics(
    config: &Config,
    registry: &Registry,
    summary: &Summary,
) -> Result<(), CliError> {
    let path = &config.sweep.metrics_file;
    if path.as_os_str().is_empty() {
        return Ok(());
    }
    let text = summary.to_prometheus(registry.alert_count().await?);
    let mut temporary = path.clone().into_os_string();
    temporary.push(".tmp");
    let write = async {
        tokio::fs::write(&temporary, text).await?;
        tokio::fs::rename(&temporary, path).await
    };
    write.await.map_err(|error| {
        CliError::Io(std::io::Error::new(
            error.kind(),
            format!("cannot write the metrics file {}: {error}", path.display()),
        ))
    })
}

/// Resolves when the process is asked to stop (SIGINT or SIGTERM).
///
/// The handlers are installed when this is called, not when the future is first polled:
/// once any part of the process listens for SIGTERM, a signal that arrives before another
/// part's listener exists is lost to that part (the web task stopped while `serve`'s loop,
/// still starting, never heard of it). Call it early, inside the runtime.
pub(crate) fn shutdown() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = signal(SignalKind::terminate()).ok();
    let interrupt = signal(SignalKind::interrupt()).ok();
    async move {
        let wait = |listener: Option<tokio::signal::unix::Signal>| async move {
            match listener {
                Some(mut listener) => {
                    listener.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = wait(terminate) => {}
            () = wait(interrupt) => {}
        }
    }
}

/// The sweeper the configuration describes.
fn sweeper(config: &Config, registry: Registry, clock: Clock) -> Result<Sweeper, CliError> {
    let prober = Arc::new(Prober::new(config.probe_config()?)?);
    let loader_config = config.clone();
    let settings = Settings {
        owner: worker_name(),
        batch_size: config.sweep.batch_size,
        concurrency: config.dns.concurrency.max(1),
        lease: config.sweep.lease.unsigned_abs(),
        schedule: Schedule {
            time: config.sweep.time,
            zone: config.sweep_time_zone()?,
        },
        recheck_pending: config.sweep.recheck_pending,
        policy: config.policy(),
        share: ShareRule {
            max_new_failure_share: config.sweep.max_new_failure_share,
            min_domains: config.sweep.share_min_domains,
        },
        canaries: config.canaries()?,
        canary_profile: config.check.profile.clone(),
        operators: config.sweep.operators.clone(),
        resolver: config.resolver_watch(),
        profiles: Arc::new(move |name| {
            load_profile(&loader_config, name).map_err(|error| error.to_string())
        }),
        clock,
    };
    Ok(Sweeper::new(registry, prober, settings))
}

/// An instant in the sweep's time zone, for people (`2026-11-24 03:00 CET`).
fn local_time(at: jiff::Timestamp, config: &Config) -> String {
    crate::clock::civil(at, &super::time_zone(config), "%Y-%m-%d %H:%M %Z")
}

/// This process's name in leases: `host:pid`.
pub(crate) fn worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "pecwatch".to_owned());
    format!("{host}:{}", std::process::id())
}

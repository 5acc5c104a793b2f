//! `pecwatch sweep` (one sweep over the due domains, for cron) and `pecwatch serve` (the
//! daily service of [`crate::daemon`]: the sweep at `sweep.time`, re-checks as they fall
//! due), with the progress bar of a sweep.

use super::output::{errln, out, outln};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::{CliError, Exit, Format, load_profile};
use crate::Lang;
use crate::activation::Dns;
use crate::clock::Clock;
use crate::config::Config;
use crate::daemon::{self, Daemon, DaemonError};
use crate::probe::Prober;
use crate::registry::Registry;
use crate::registry::SweepKind;
use crate::sweep::{Schedule, Settings, SweepError, Sweeper};

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
    daemon::record_activations(&registry, dns.as_ref(), clock.now()).await;
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
        daemon::write_metrics(&config.sweep.metrics_file, &registry, summary).await?;
        daemon::record_activations(&registry, dns.as_ref(), clock.now()).await;
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

/// `pecwatch serve`: runs the daily service ([`crate::daemon`]) until stopped (SIGINT or
/// SIGTERM), with the web interface beside it (`[web] enabled`).
///
/// The service's clock starts at `PECWATCH_NOW` when it is set and runs from there; with
/// `PECWATCH_SIMULATE` too, it runs in simulated time ([`crate::clock`]).
pub async fn serve(config: &Config, args: ServeArgs) -> Result<Exit, CliError> {
    // Listening from the start: a SIGTERM during the start is not lost.
    let stop = shutdown();
    let clock = Clock::service_from_env()?;
    let registry = Registry::open(&config.database.url).await?;
    let sweeper = sweeper(config, registry.clone(), clock)?;
    let activation = activation_dns(config, &sweeper)?;
    let sender = super::notices::sender(config, registry.clone(), clock)?;
    let schedule = sweeper.settings().schedule.clone();
    errln!(
        "pecwatch serve: {} {} {} ({}), {} {}",
        args.lang
            .pick("controllo giornaliero alle", "daily sweep at"),
        config.sweep.time.strftime("%H:%M"),
        config.sweep.timezone,
        config.redacted_database_url(),
        args.lang.pick("prossimo", "next"),
        local_time(schedule.next_slot(clock.now()), config),
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
    let settings = daemon::Settings::new(
        config.sweep.recheck_pending,
        config.sweep.lease,
        config.sweep.metrics_file.clone(),
        args.lang,
    );
    let daemon = Daemon {
        registry: registry.clone(),
        sweeper,
        activation,
        sender,
        settings,
    };
    daemon.run(stop, Arc::new(ServeReport)).await?;
    if let Some(web) = web {
        // It stops on the same signal, once the requests in flight are answered.
        let _ = tokio::time::timeout(Duration::from_secs(10), web).await;
    }
    errln!("pecwatch serve: {}", args.lang.pick("fermato", "stopped"));
    registry.close().await;
    Ok(Exit::Ok)
}

/// Where `pecwatch serve` says what the service does: its state on standard error, its
/// summaries on standard output or, when that is closed, in the log (the service goes on
/// either way).
struct ServeReport;

impl daemon::Report for ServeReport {
    fn status(&self, line: &str) {
        errln!("pecwatch serve: {line}");
    }

    fn summary(&self, text: &str) {
        if outln!("{text}").is_err() {
            tracing::info!(target: "pecwatch::serve", "{text}");
        }
    }
}

impl From<DaemonError> for CliError {
    fn from(error: DaemonError) -> Self {
        match error {
            DaemonError::Registry(error) => CliError::Registry(error),
            DaemonError::Sweep(error) => error.into(),
            DaemonError::Metrics(error) => CliError::Io(error),
        }
    }
}

/// What activation needs to write the provider's DNS, when `[provision]` is set.
fn activation_dns(config: &Config, sweeper: &Sweeper) -> Result<Option<Dns>, CliError> {
    Ok(config.provisioner()?.map(|provisioner| Dns {
        provisioner,
        prober: Arc::clone(sweeper.prober()),
        profiles: Arc::clone(&sweeper.settings().profiles),
    }))
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
        share: config.sweep.share_rule(),
        canaries: config.canaries()?,
        canary_profile: config.check.profile.clone(),
        operators: config.sweep.operators.clone(),
        resolver: config.sweep.resolver_watch(),
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

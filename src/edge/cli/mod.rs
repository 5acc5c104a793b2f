//! The command line: every subcommand's arguments and what it does.
//!
//! `main.rs` only parses [`Cli`], calls [`run`] and turns the result into an exit status;
//! everything a subcommand does lives here or in the modules it calls.

use output::errln;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use jiff::tz::TimeZone;

pub mod config_check;
mod csv;
pub mod db;
pub mod doctor;
pub mod domains;
pub mod generate;
pub mod index;
pub mod instructions;
pub mod notices;
pub mod orders;
pub mod output;
pub mod postfix;
mod progress;
pub mod sweep;
pub mod tokens;
pub mod users;
pub mod web;
use futures::{Stream, StreamExt, stream};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::Lang;
use crate::check::evaluate;
use crate::config::{Config, ConfigError};
use crate::dns::transport::TransportStats;
use crate::name::DomainName;
use crate::probe::{ProbeConfig, ProbeError, Prober, Resolution, parse_resolver, read_root_hints};
use crate::profile::{Profile, ProfileError};
use crate::report::{Report, input_error_json};

/// pecwatch: checker and monitor for PEC certified domains.
#[derive(Debug, Parser)]
#[command(name = "pecwatch", version = env!("PECWATCH_VERSION"), about, long_about = None)]
pub struct Cli {
    /// Configuration file (default: ./pecwatch.toml if present, else built-in defaults).
    #[arg(long, global = true, env = "PECWATCH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check certified domains' DNS against a PEC provider's requirements.
    Check(CheckArgs),
    /// Say exactly what to write in which zone to activate PEC on a domain.
    Instructions(instructions::InstructionsArgs),
    /// Manage the registry of certified domains.
    #[command(subcommand)]
    Domains(domains::DomainsCommand),
    /// Check every due domain once, apply the lifecycle, print a summary (for cron).
    Sweep(sweep::SweepArgs),
    /// Run the daily service: the sweep at sweep.time, re-checks as they fall due.
    Serve(sweep::ServeArgs),
    /// Serve Postfix: a policy service and a socketmap table refusing uncertified domains.
    Postfix(postfix::PostfixArgs),
    /// Preview the notices sent to holders, resellers and operators.
    #[command(subcommand)]
    Notices(notices::NoticesCommand),
    /// Export this provider's entry of the providers' index (LDIF) and compare it with the
    /// last publication.
    #[command(subcommand)]
    Index(index::IndexCommand),
    /// Serve the web interface: the JSON API, the public check page, the operators'
    /// console, the index (/index.ldif), /metrics and /healthz.
    Web(web::WebArgs),
    /// Manage the API tokens of the web API.
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// Orders of PEC on a domain: record, approve, reject, follow their activation.
    #[command(subcommand)]
    Orders(orders::OrdersCommand),
    /// Mailboxes of certified domains, and their set-password links.
    #[command(subcommand)]
    Mailboxes(orders::MailboxesCommand),
    /// Manage the users of the web console (operators and read-only users).
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Check the configuration: every problem at once, and each value's origin.
    #[command(subcommand)]
    Config(config_check::ConfigCommand),
    /// Try everything the configuration names (database, DNS, SMTP, provisioning,
    /// certificate, listen addresses) and say how to fix what does not work.
    Doctor(doctor::DoctorArgs),
    /// The database: schema status, migrations, backup.
    #[command(subcommand)]
    Db(db::DbCommand),
}

/// Output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Readable text, in the language of --lang.
    #[default]
    Text,
    /// JSON for programs: what each command prints is in its --format description.
    Json,
}

/// Arguments of `pecwatch check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Domains (or e-mail addresses) to check.
    pub domains: Vec<String>,
    /// Read more domains from a file, one per line ('-' for standard input).
    #[arg(long, value_name = "FILE|-")]
    pub from: Option<String>,
    /// Provider profile: aruba, infocert, a name from the configuration's profiles or the path of a TOML profile
    /// (default: check.profile in the configuration, aruba).
    #[arg(long, value_name = "NAME|PATH")]
    pub profile: Option<String>,
    /// Recursive resolver to use instead of the system's.
    #[arg(long, value_name = "ADDR[:PORT]", conflicts_with = "root_hints")]
    pub resolver: Option<String>,
    /// Resolve iteratively from these root servers (zone-file format).
    #[arg(long, value_name = "FILE")]
    pub root_hints: Option<PathBuf>,
    /// DNSSEC trust anchor: DS or DNSKEY records of "." (zone-file format), instead of the
    /// built-in IANA root anchors (default: dns.trust_anchor in the configuration).
    #[arg(long, value_name = "FILE")]
    pub trust_anchor: Option<PathBuf>,
    /// Output format (json: JSON Lines, one object per domain checked).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Language of the report.
    #[arg(long, value_enum, default_value_t)]
    pub lang: Lang,
    /// Domains checked at once (default: dns.concurrency in the configuration, 512).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub concurrency: Option<u32>,
    /// Query name servers at loopback, private and link-local addresses (for labs).
    #[arg(long)]
    pub allow_private: bool,
    /// Do not query name servers over IPv6.
    #[arg(long)]
    pub no_ipv6: bool,
    /// Timeout of one UDP attempt, in milliseconds (default: dns.timeout_ms in the configuration, 800).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub timeout_ms: Option<u64>,
    /// UDP attempts per query before giving up (default: dns.attempts in the configuration, 3).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub attempts: Option<u32>,
    /// Never show a progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// At the end, print to standard error how many names and DNS queries were done, and
    /// how fast.
    #[arg(long)]
    pub stats: bool,
}

/// How a command ended, mapped by `main` to the exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Everything checked is fine (0).
    Ok,
    /// At least one domain has an error (1).
    Findings,
    /// At least one input is not a domain name (2).
    BadInput,
    /// The resolver (or the root servers) does not answer: a sweep did not run, or
    /// stopped (4).
    ResolverDown,
}

impl Exit {
    /// The process exit status.
    pub fn code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Findings => 1,
            Self::BadInput => 2,
            Self::ResolverDown => 4,
        }
    }
}

/// Why a command could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The configuration is invalid (exit 2) or the machine has no resolver (exit 3).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The profile could not be loaded (bad usage: exit 2).
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// The prober could not start, or the profile's host did not resolve (exit 3).
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// The trust anchor file cannot be used.
    #[error(transparent)]
    Anchor(#[from] crate::dnssec::AnchorError),
    /// The registry (database) failed (exit 3) or refused the request (exit 2).
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    /// `PECWATCH_NOW` is not a valid instant (exit 2).
    #[error(transparent)]
    Clock(#[from] crate::clock::ClockError),
    /// A bad argument (exit 2).
    #[error("{0}")]
    Usage(String),
    /// Reading the input list or writing the output failed (exit 3).
    #[error("{0}")]
    Io(std::io::Error),
    /// The standard output was closed by its reader (`… | head`): the command ends
    /// quietly with 141, as a Unix tool ended by `SIGPIPE` does in a shell.
    #[error("standard output closed")]
    OutputClosed,
}

impl From<std::io::Error> for CliError {
    /// An I/O failure; a broken pipe (the only place one can come from is the standard
    /// output, whose reader went away) is [`CliError::OutputClosed`].
    fn from(error: std::io::Error) -> Self {
        output::closed(error)
    }
}

impl From<crate::clock::InstantError> for CliError {
    /// A date or instant argument that is not one: bad usage (exit 2).
    fn from(error: crate::clock::InstantError) -> Self {
        CliError::Usage(error.to_string())
    }
}

impl CliError {
    /// The exit status for this error: 2 for bad usage, 3 for failures of the environment.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config(error) => error.exit_code(),
            Self::Registry(
                crate::registry::RegistryError::Database(_)
                | crate::registry::RegistryError::Unreadable(_),
            ) => 3,
            Self::Registry(_) | Self::Clock(_) | Self::Usage(_) => 2,
            Self::Profile(_) => 2,
            Self::Probe(ProbeError::BadResolver(_) | ProbeError::BadRootHints { .. }) => 2,
            Self::Anchor(_) => 2,
            Self::Probe(_) | Self::Io(_) => 3,
            Self::OutputClosed => 141,
        }
    }
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<Exit, CliError> {
    // These read the configuration themselves, to report every problem in it.
    let command = match cli.command {
        Command::Config(command) => return config_check::run(cli.config.as_deref(), command),
        Command::Doctor(args) => return doctor::run(cli.config.as_deref(), args).await,
        command => command,
    };
    let config = Config::load(cli.config.as_deref())?;
    match command {
        Command::Config(_) | Command::Doctor(_) => Ok(Exit::Ok),
        Command::Db(command) => db::run(&config, command).await,
        Command::Check(args) => check(&config, args).await,
        Command::Instructions(args) => instructions::run(&config, args).await,
        Command::Domains(command) => domains::run(&config, command).await,
        Command::Sweep(args) => sweep::sweep(&config, args).await,
        Command::Serve(args) => sweep::serve(&config, args).await,
        Command::Postfix(args) => postfix::run(&config, args).await,
        Command::Notices(command) => notices::run(&config, command).await,
        Command::Index(command) => index::run(&config, command).await,
        Command::Web(args) => web::run(&config, args).await,
        Command::Tokens(command) => tokens::run(&config, command).await,
        Command::Orders(command) => orders::run_orders(&config, command).await,
        Command::Mailboxes(command) => orders::run_mailboxes(&config, command).await,
        Command::Users(command) => users::run(&config, command).await,
    }
}

/// How tables show an instant (with [`clock::civil`](crate::clock::civil), in the
/// configured zone: [`time_zone`]).
pub(crate) const TABLE_TIME: &str = "%Y-%m-%d %H:%M";
/// How tables show a day.
pub(crate) const TABLE_DATE: &str = "%Y-%m-%d";

/// The time zone people read instants in: `[sweep] timezone` (validated when the
/// configuration is loaded), built once by each command. Tables show instants in it; JSON
/// output keeps RFC 3339 UTC.
pub(crate) fn time_zone(config: &Config) -> TimeZone {
    config
        .sweep_time_zone()
        .unwrap_or_else(|_| crate::clock::default_zone())
}

/// A profile by name (built-in or `[profiles]`) or, failing that, by file path.
fn load_profile(config: &Config, name_or_path: &str) -> Result<Profile, CliError> {
    match config.profile(name_or_path) {
        Ok(profile) => Ok(profile),
        Err(ConfigError::UnknownProfile { .. }) => Ok(Profile::load(name_or_path)?),
        Err(error) => Err(error.into()),
    }
}

/// The prober's configuration: the configuration file's, overridden by the flags.
fn probe_config(config: &Config, args: &CheckArgs) -> Result<ProbeConfig, CliError> {
    let mut probe = match (&args.root_hints, &args.resolver) {
        (Some(path), _) => config.probe_config_using(Resolution::Iterative(read_root_hints(path)?)),
        (None, Some(address)) => {
            config.probe_config_using(Resolution::Recursive(parse_resolver(address)?))
        }
        (None, None) => config.probe_config()?,
    };
    probe.allow_private |= args.allow_private;
    probe.ipv6 &= !args.no_ipv6;
    if let Some(ms) = args.timeout_ms {
        probe.transport.timeout = Duration::from_millis(ms);
    }
    if let Some(attempts) = args.attempts {
        probe.transport.attempts = attempts;
    }
    if let (Some(path), Some(dnssec)) = (&args.trust_anchor, probe.dnssec.as_mut()) {
        dnssec.anchor = crate::dnssec::TrustAnchor::from_file(path)?;
    }
    Ok(probe)
}

/// `pecwatch check`.
pub async fn check(config: &Config, args: CheckArgs) -> Result<Exit, CliError> {
    if args.domains.is_empty() && args.from.is_none() {
        return Err(CliError::Usage(
            "name the domains to check (pecwatch check DOMAIN…, or --from FILE|- for a list)"
                .into(),
        ));
    }
    let profile = match &args.profile {
        Some(name) => load_profile(config, name)?,
        None => config.default_profile()?,
    };
    let mut probe = probe_config(config, &args)?;
    if profile.dnssec == crate::profile::DnssecPolicy::Off {
        // Not judged: not fetched either.
        probe.dnssec = None;
    }
    let prober = Arc::new(Prober::new(probe)?);
    let concurrency = args
        .concurrency
        .map(|c| c as usize)
        .unwrap_or(config.dns.concurrency)
        .max(1);
    let profile = Arc::new(prober.resolve_profile(&profile).await?);

    let started = std::time::Instant::now();
    let progress = progress::domains(
        args.from.is_some() && !args.no_progress,
        progress::Total::Unknown,
    );
    let color = args.format == Format::Text
        && std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none();
    let lang = args.lang;
    let results = inputs(args.domains, args.from.clone())
        .map(|input| {
            let prober = prober.clone();
            let profile = profile.clone();
            async move {
                let input = input?;
                Ok::<_, std::io::Error>(match DomainName::parse(&input) {
                    Err(error) => Err((input, error)),
                    Ok(domain) => {
                        let observation = prober.observe(&domain).await;
                        let findings = evaluate(&observation, &profile);
                        Ok(Report::new(&input, &observation, &profile.name, findings)
                            .with_provider(&profile.display_name))
                    }
                })
            }
        })
        .buffer_unordered(concurrency);
    futures::pin_mut!(results);

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut exit = Exit::Ok;
    let mut checked: u64 = 0;
    while let Some(result) = results.next().await {
        progress.inc(1);
        checked += 1;
        match result? {
            Err((input, error)) => {
                exit = Exit::BadInput;
                let message = error.message(lang);
                match args.format {
                    Format::Json => writeln!(out, "{}", input_error_json(&input, &message))?,
                    Format::Text => {
                        progress.suspend(|| {
                            errln!("{}: {message}", lang.pick("errore", "error"));
                        });
                    }
                }
            }
            Ok(report) => {
                if !report.ok() && exit == Exit::Ok {
                    exit = Exit::Findings;
                }
                match args.format {
                    Format::Json => writeln!(out, "{}", report.to_json_line(lang))?,
                    Format::Text => writeln!(out, "{}", report.to_text(lang, color))?,
                }
            }
        }
        if progress.is_hidden() {
            continue;
        }
        progress.suspend(|| out.flush())?;
    }
    out.flush()?;
    progress.finish_and_clear();
    if args.stats {
        print_stats(checked, started.elapsed(), prober.transport().stats(), lang);
    }
    Ok(exit)
}

/// The `--stats` line: names and queries, and their rates.
fn print_stats(checked: u64, elapsed: Duration, stats: TransportStats, lang: Lang) {
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let sent = stats.udp_sent + stats.tcp_fallbacks;
    errln!(
        "pecwatch: {checked} {} {:.2} s ({:.0}/s), {sent} {} ({:.0}/s), {} timeout, {} TCP, {} {}, {} {}",
        lang.pick("nomi in", "names in"),
        seconds,
        checked as f64 / seconds,
        lang.pick("query DNS", "DNS queries"),
        sent as f64 / seconds,
        stats.timeouts,
        stats.tcp_fallbacks,
        stats.ignored_packets,
        lang.pick("pacchetti ignorati", "packets ignored"),
        stats.patient,
        lang.pick("query ripetute con pazienza", "patient re-queries"),
    );
}

/// The inputs: the arguments, then the lines of `--from`, read lazily so that memory
/// stays bounded whatever the list's length. Blank lines and `#` comments are skipped.
fn inputs(
    arguments: Vec<String>,
    from: Option<String>,
) -> impl Stream<Item = std::io::Result<String>> {
    let listed = stream::iter(arguments.into_iter().map(Ok));
    let file = stream::once(async move {
        let reader: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>> = match from.as_deref() {
            None => None,
            Some("-") => Some(Box::new(tokio::io::stdin())),
            Some(path) => Some(Box::new(tokio::fs::File::open(path).await.map_err(
                |e| std::io::Error::new(e.kind(), format!("cannot read {path}: {e}")),
            )?)),
        };
        Ok::<_, std::io::Error>(reader.map(|r| BufReader::new(r).lines()))
    })
    .flat_map(|opened| match opened {
        Err(error) => stream::once(async move { Err(error) }).boxed(),
        Ok(None) => stream::empty().boxed(),
        Ok(Some(lines)) => stream::unfold(lines, |mut lines| async move {
            match lines.next_line().await {
                Ok(Some(line)) => Some((Ok(line), lines)),
                Ok(None) => None,
                Err(error) => Some((Err(error), lines)),
            }
        })
        .boxed(),
    })
    .filter(|line| {
        let keep = match line {
            Ok(text) => {
                let text = text.trim();
                !text.is_empty() && !text.starts_with('#')
            }
            Err(_) => true,
        };
        async move { keep }
    });
    listed.chain(file)
}

#[cfg(test)]
mod tests {
    use super::CliError;
    use crate::registry::RegistryError;

    #[test]
    fn stored_data_that_cannot_be_read_is_a_failure_not_bad_usage() {
        let code = |error: RegistryError| CliError::Registry(error).exit_code();
        assert_eq!(
            code(RegistryError::Unreadable("a recorded check".into())),
            3
        );
        assert_eq!(code(RegistryError::Database("gone".into())), 3);
        assert_eq!(code(RegistryError::Invalid("a bad name".into())), 2);
    }
}

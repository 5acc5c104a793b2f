//! `pecwatch notices`: the notices pecwatch sends. `send` delivers the due ones over SMTP
//! (`serve` does it continuously); `list`, `show` and `resend` are the operators' view of
//! the outbox; `preview` renders one with sample data, through the built-in templates or an
//! operator's directory of overrides.

use super::output::outln;
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use jiff::tz::TimeZone;

use std::sync::Arc;

use lettre::message::Mailbox;

use super::{CliError, Exit, Format, TABLE_TIME, time_zone};
use crate::Lang;
use crate::clock::{Clock, civil};
use crate::config::Config;
use crate::notice::{NoticeError, Part, Preview, Provider, RenderedNotice, Templates};
use crate::outbox::{
    BounceOutcome, SendError, Sender, SenderSettings, parse_bounce, record_bounce,
};
use crate::registry::{OutboxFilter, OutboxItem, OutboxState, Registry};
use crate::view::{self, Notice};

/// The subcommands of `pecwatch notices`.
#[derive(Debug, Subcommand)]
pub enum NoticesCommand {
    /// Render a notice with sample data (the domain pec.esempio.it), signed and laid out as
    /// configured (`[notices]` provider_name, support, templates; `[check]` profile).
    Preview(PreviewArgs),
    /// Deliver every notice that is due, over SMTP (`[smtp]` url), once (for cron).
    Send(SendArgs),
    /// List notices and alerts, oldest first, with filters.
    List(ListArgs),
    /// Show one notice: recipient, state, attempts, the mail server's reply.
    Show(ShowArgs),
    /// Send a notice again, as a new message (the holder did not get it).
    Resend(ShowArgs),
    /// Record a bounce (an RFC 3464 delivery status notification, read from a file or
    /// standard input: pipe the bounces to pecwatch's sender address here).
    Bounce(BounceArgs),
}

/// Arguments of `notices bounce`.
#[derive(Debug, Args)]
pub struct BounceArgs {
    /// The bounce message ('-' for standard input).
    #[arg(default_value = "-")]
    pub file: String,
    /// Output format (json: one object saying which notice the bounce ended, if any).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Arguments of `notices send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// Output format (json: one object with what was sent, deferred and given up).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Language of the summary.
    #[arg(long, value_enum, default_value_t)]
    pub lang: Lang,
}

/// Arguments of `notices list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only notices in this state: pending, sent or failed.
    #[arg(long)]
    pub state: Option<String>,
    /// Only notices about this domain.
    #[arg(long)]
    pub domain: Option<String>,
    /// Only notices with a larger identifier (for paging).
    #[arg(long, value_name = "ID")]
    pub after: Option<i64>,
    /// At most this many.
    #[arg(long, default_value_t = 100)]
    pub limit: u64,
    /// Output format (json: JSON Lines, one object per notice).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Arguments of `notices show` and `notices resend`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The notice's identifier (see `notices list`).
    pub id: i64,
    /// Output format (json: one object, the notice; `show` adds its recipients `to`).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Arguments of `notices preview`.
#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// What to render: a notice kind (error_found, corrected, removed, under_review,
    /// reinstated, rejected, expired, expiry_warning_30, expiry_warning_7, activated),
    /// reseller_copy (of an error notice; reseller_copy_KIND for another kind) or alert
    /// (a held sweep, to the operators).
    #[arg(value_name = "EVENT")]
    pub event: String,
    /// Language of the notice.
    #[arg(long, value_enum, default_value_t)]
    pub lang: Lang,
    /// Which part to print.
    #[arg(long, value_enum, default_value_t)]
    pub part: PartChoice,
    /// Directory of template overrides (LANG/EVENT.subject, .txt, .html); default:
    /// notices.templates in the configuration.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
}

/// The part(s) of a notice to print.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum PartChoice {
    /// The subject line.
    Subject,
    /// The plain-text part.
    Text,
    /// The HTML part.
    Html,
    /// The subject, then the text and HTML parts, each under a heading.
    #[default]
    All,
}

impl From<NoticeError> for CliError {
    /// A template that does not load or render is the operator's to fix: bad usage.
    fn from(error: NoticeError) -> Self {
        CliError::Usage(error.to_string())
    }
}

/// Runs a `pecwatch notices` subcommand.
pub async fn run(config: &Config, command: NoticesCommand) -> Result<Exit, CliError> {
    if let NoticesCommand::Preview(args) = command {
        return preview(config, args);
    }
    let clock = Clock::from_env()?;
    let registry = Registry::open(&config.database.url).await?;
    let result = match command {
        NoticesCommand::Preview(_) => Ok(Exit::Ok),
        NoticesCommand::Send(args) => send(config, &registry, clock, args).await,
        NoticesCommand::List(args) => list(&registry, args, &time_zone(config)).await,
        NoticesCommand::Show(args) => show(config, &registry, args).await,
        NoticesCommand::Resend(args) => resend(&registry, clock, args).await,
        NoticesCommand::Bounce(args) => bounce(config, &registry, clock, args).await,
    };
    registry.close().await;
    result
}

/// The sender the configuration describes (for `notices send` and `serve`).
pub fn sender(config: &Config, registry: Registry, clock: Clock) -> Result<Sender, CliError> {
    let from: Mailbox = config.smtp.from.parse().map_err(|error| {
        CliError::Usage(format!(
            "invalid [smtp] from {:?}: {error}",
            config.smtp.from
        ))
    })?;
    let loader_config = config.clone();
    let settings = SenderSettings {
        owner: super::sweep::worker_name(),
        from,
        retry_max: config.smtp.retry_max,
        give_up_after: config.smtp.give_up_after,
        policy: config.policy(),
        clock,
        provider: provider(config),
        templates: templates(config, None)?,
        operators: config.sweep.operators.clone(),
        reseller_copy: config.notices.reseller_copy,
        profiles: Arc::new(move |name| {
            super::load_profile(&loader_config, name).map_err(|error| error.to_string())
        }),
        activation: config.activation_settings(),
    };
    Sender::new(registry, &config.smtp, settings).map_err(|error| match error {
        SendError::Registry(error) => CliError::Registry(error),
        relay @ SendError::Relay { .. } => CliError::Usage(relay.to_string()),
    })
}

/// `notices send`: one pass over the due notices.
async fn send(
    config: &Config,
    registry: &Registry,
    clock: Clock,
    args: SendArgs,
) -> Result<Exit, CliError> {
    let sender = sender(config, registry.clone(), clock)?;
    let summary = sender.send_due().await.map_err(|error| match error {
        SendError::Registry(error) => CliError::Registry(error),
        relay @ SendError::Relay { .. } => CliError::Usage(relay.to_string()),
    })?;
    match args.format {
        Format::Text => outln!("{}", summary.to_text(args.lang))?,
        Format::Json => outln!("{}", serde_json::to_value(summary).unwrap_or_default())?,
    }
    Ok(Exit::Ok)
}

/// `notices list`.
async fn list(registry: &Registry, args: ListArgs, zone: &TimeZone) -> Result<Exit, CliError> {
    let state = args
        .state
        .as_deref()
        .map(str::parse::<OutboxState>)
        .transpose()?;
    let domain_id = match &args.domain {
        None => None,
        Some(name) => Some(registered(registry, name).await?.id),
    };
    let items = registry
        .outbox(&OutboxFilter {
            state,
            domain_id,
            after_id: args.after,
            limit: Some(args.limit),
        })
        .await?;
    let mut names = std::collections::HashMap::new();
    let mut out = std::io::stdout().lock();
    if args.format == Format::Text {
        writeln!(
            out,
            "{:>6}  {:<8} {:<32} {:<20} {:<16} {:>3}  last",
            "id", "state", "domain", "what", "queued", "try"
        )?;
    }
    for item in &items {
        let domain = match item.domain_id {
            None => "-".to_owned(),
            Some(id) => match names.get(&id) {
                Some(name) => String::clone(name),
                None => {
                    let name = registry
                        .domain_by_id(id)
                        .await?
                        .map_or_else(|| format!("#{id}"), |d| d.name.to_string());
                    names.insert(id, name.clone());
                    name
                }
            },
        };
        match args.format {
            Format::Json => writeln!(
                out,
                "{}",
                view::to_json_string(&Notice::new(item, Some(&domain)))
            )?,
            Format::Text => writeln!(
                out,
                "{:>6}  {:<8} {:<32} {:<20} {:<16} {:>3}  {}",
                item.id,
                item.state.to_string(),
                domain,
                what(item),
                civil(item.created, zone, TABLE_TIME),
                item.attempts,
                last(item)
            )?,
        }
    }
    Ok(Exit::Ok)
}

/// `notices show`.
async fn show(config: &Config, registry: &Registry, args: ShowArgs) -> Result<Exit, CliError> {
    let item = registry
        .outbox_item(args.id)
        .await?
        .ok_or_else(|| CliError::Usage(format!("no notice {}", args.id)))?;
    let record = match item.domain_id {
        Some(id) => registry.domain_by_id(id).await?,
        None => None,
    };
    let to = crate::outbox::recipients(
        &item,
        record.as_ref(),
        &config.sweep.operators,
        config.notices.reseller_copy,
    );
    let domain = record.map(|d| d.name.to_string());
    match args.format {
        Format::Json => {
            let notice = Notice::new(&item, domain.as_deref()).with_recipients(to);
            outln!("{}", view::to_json_string(&notice))?;
        }
        Format::Text => {
            let zone = time_zone(config);
            let mut out = std::io::stdout().lock();
            writeln!(out, "notice {} — {} ({})", item.id, what(&item), item.state)?;
            writeln!(out, "  domain:     {}", domain.as_deref().unwrap_or("-"))?;
            let to = if to.is_empty() {
                "- (sweep.operators)".to_owned()
            } else {
                to.join(", ")
            };
            writeln!(out, "  to:         {to}")?;
            writeln!(out, "  key:        {}", item.key)?;
            writeln!(
                out,
                "  queued:     {}",
                civil(item.created, &zone, TABLE_TIME)
            )?;
            writeln!(out, "  attempts:   {}", item.attempts)?;
            if let Some(at) = item.accepted_at {
                writeln!(out, "  accepted:   {}", civil(at, &zone, TABLE_TIME))?;
            }
            if let Some(next) = item.next_attempt {
                writeln!(out, "  next try:   {}", civil(next, &zone, TABLE_TIME))?;
            }
            for (label, value) in [
                ("message-id", &item.message_id),
                ("reply", &item.reply),
                ("last error", &item.last_error),
            ] {
                if let Some(value) = value {
                    writeln!(out, "  {label:<11} {value}")?;
                }
            }
        }
    }
    Ok(Exit::Ok)
}

/// `notices resend`.
async fn resend(registry: &Registry, clock: Clock, args: ShowArgs) -> Result<Exit, CliError> {
    let item = registry.requeue_outbox(args.id, clock.now()).await?;
    match args.format {
        Format::Json => outln!("{}", serde_json::to_value(&item).unwrap_or_default())?,
        Format::Text => outln!(
            "notice {} ({}) queued again / di nuovo in coda",
            item.id,
            what(&item)
        )?,
    }
    Ok(Exit::Ok)
}

/// `notices bounce`: a bounce ends the notice's delivery; an error notice's grace period
/// is taken back. A message that is not a bounce of ours is reported and ignored (exit
/// 0, so that a mail server piping everything here does not bounce it again).
async fn bounce(
    config: &Config,
    registry: &Registry,
    clock: Clock,
    args: BounceArgs,
) -> Result<Exit, CliError> {
    let mut message = String::new();
    if args.file == "-" {
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut message)?;
    } else {
        message = String::from_utf8_lossy(&std::fs::read(&args.file)?).into_owned();
    }
    let outcome = match parse_bounce(&message) {
        None => BounceOutcome::Unknown,
        Some(bounce) => record_bounce(registry, &config.policy(), &bounce, clock.now()).await?,
    };
    match args.format {
        Format::Json => outln!("{}", serde_json::to_value(&outcome).unwrap_or_default())?,
        Format::Text => outln!(
            "{}",
            match outcome {
                BounceOutcome::Recorded { item } =>
                    format!("notice {item}: bounced / non recapitata, recorded"),
                BounceOutcome::Delayed => "a delay notice: nothing to do / solo un ritardo".into(),
                BounceOutcome::Unknown =>
                    "not a bounce of a pecwatch notice / non riguarda una comunicazione".into(),
            }
        )?,
    }
    Ok(Exit::Ok)
}

/// A domain by name, or a clear error.
async fn registered(registry: &Registry, name: &str) -> Result<crate::registry::Domain, CliError> {
    let parsed = crate::name::DomainName::parse(name)
        .map_err(|error| CliError::Usage(format!("{name:?}: {}", error.message(Lang::En))))?;
    registry
        .domain(&parsed)
        .await?
        .ok_or_else(|| CliError::Usage(format!("{parsed} is not registered")))
}

/// What an item is: `error_found`, `alert`, … (the last part of its key).
fn what(item: &OutboxItem) -> String {
    item.key
        .rsplit('/')
        .next()
        .unwrap_or(item.kind.as_str())
        .to_owned()
}

/// The last thing that happened to an item: its reply or its error.
fn last(item: &OutboxItem) -> String {
    let text = item
        .last_error
        .as_deref()
        .or(item.reply.as_deref())
        .unwrap_or("-");
    text.chars().take(80).collect()
}

/// The provider as the configuration names it.
fn provider(config: &Config) -> Provider {
    Provider {
        name: config.notices.provider_name.clone(),
        support: config.notices.support.clone(),
    }
}

/// The templates: `dir`, else the configured directory, else the built-in ones.
fn templates(config: &Config, dir: Option<&PathBuf>) -> Result<Templates, CliError> {
    let dir = dir.or_else(|| {
        let configured = &config.notices.templates;
        (!configured.as_os_str().is_empty()).then_some(configured)
    });
    Ok(match dir {
        Some(dir) => Templates::load(dir)?,
        None => Templates::built_in()?,
    })
}

/// `pecwatch notices preview`: renders the sample notice and prints the chosen part.
fn preview(config: &Config, args: PreviewArgs) -> Result<Exit, CliError> {
    let preview: Preview = args
        .event
        .parse()
        .map_err(|error: crate::lifecycle::UnknownName| {
            CliError::Usage(format!(
                "{error}; or reseller_copy, reseller_copy_KIND, alert"
            ))
        })?;
    // The configured provider, profile and template directory, as real notices get them.
    let templates = templates(config, args.templates.as_ref())?;
    let provider = provider(config);
    let profile = config.default_profile()?;
    let notice = preview.render(args.lang, &profile, &provider, &templates)?;
    let mut out = std::io::stdout().lock();
    out.write_all(shown(&notice, args.part).as_bytes())?;
    out.flush()?;
    Ok(Exit::Ok)
}

/// The text printed for `part`.
fn shown(notice: &RenderedNotice, part: PartChoice) -> String {
    let one = |part: Part| match part {
        Part::Subject => format!("{}\n", notice.subject),
        Part::Text => notice.text.clone(),
        Part::Html => notice.html.clone(),
    };
    match part {
        PartChoice::Subject => one(Part::Subject),
        PartChoice::Text => one(Part::Text),
        PartChoice::Html => one(Part::Html),
        PartChoice::All => Part::ALL
            .into_iter()
            .map(|part| format!("==> {} <==\n{}", part.extension(), one(part)))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

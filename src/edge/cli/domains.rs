//! `pecwatch domains`: the operator's view of the registry of certified domains, and
//! the operator's actions on one domain (`approve`, `reject`, `renew`, `remove`,
//! `exception`; the logic is in [`crate::actions`], shared with the web API).

use super::output::outln;
use std::io::Write;

use clap::{Args, Subcommand};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::csv::{self, Table};
use super::{CliError, Exit, Format, TABLE_DATE, TABLE_TIME, load_profile, time_zone};
use crate::Lang;
use crate::actions::{self, Acted, ActionError, Command, DEFAULT_ACTOR, ExceptionChange};
use crate::clock::{self, civil, parse_instant};
use crate::config::Config;
use crate::contact::Contact;
use crate::finding::Code;
use crate::lifecycle::{DomainStatus, Reason, State};
use crate::name::DomainName;
use crate::registry::{Domain, DomainFilter, Holder, NewDomain, Registry, RegistryError};
use crate::view::{self, DomainDetail, DomainSummary, HISTORY_CHECKS};

/// The `domains` subcommands.
#[derive(Debug, Subcommand)]
pub enum DomainsCommand {
    /// Register a domain that is already certified (state `certified`).
    Add(AddArgs),
    /// Register many already-certified domains from a CSV file, all or none.
    Import(ImportArgs),
    /// List registered domains, with filters.
    List(ListArgs),
    /// Show one domain: state, deadline, expiry and history.
    Show(ShowArgs),
    /// Reinstate a domain under review (under_review → certified; notifies the holder).
    Approve(ApproveArgs),
    /// Refuse to reinstate a domain under review (under_review → removed; notifies the
    /// holder).
    Reject(ReasonArgs),
    /// Renew the certification until a new expiry.
    Renew(RenewArgs),
    /// Remove a certified, in_error or under_review domain from the certified list
    /// (notifies the holder).
    Remove(ReasonArgs),
    /// Show or change the hybrid exception: extra mail server addresses allowed for this
    /// domain only.
    Exception(ExceptionArgs),
}

/// Arguments of `domains add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The certified domain.
    pub domain: String,
    /// Where the holder's notices go.
    #[arg(long, value_name = "ADDR")]
    pub holder_email: String,
    /// The holder's name, for the salutation of notices.
    #[arg(long, value_name = "NAME")]
    pub holder_name: Option<String>,
    /// The language of the holder's notices.
    #[arg(long, value_enum, default_value_t)]
    pub lang: Lang,
    /// The reseller that sold the domain.
    #[arg(long)]
    pub reseller: Option<String>,
    /// Provider profile (default: check.profile in the configuration).
    #[arg(long, value_name = "NAME|PATH")]
    pub profile: Option<String>,
    /// Expiry of the certification: a date (end of that day in sweep.timezone) or an RFC 3339
    /// instant.
    #[arg(long, value_name = "DATE")]
    pub expires: Option<String>,
    /// Output format (json: one object, the domain registered).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Arguments of `domains import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// CSV file ('-' for standard input) with a header line naming the columns: `domain`
    /// and `holder_email` (required), `holder_name`, `lang` (it|en), `reseller`, `profile`,
    /// `expires` (a date or an RFC 3339 instant).
    pub file: String,
}

/// Arguments of `domains list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only domains in this state (certified, in_error, removed, …).
    #[arg(long)]
    pub state: Option<String>,
    /// Only domains whose last check reported this error code.
    #[arg(long)]
    pub code: Option<String>,
    /// Only domains with a deadline before this date or instant.
    #[arg(long, value_name = "DATE")]
    pub deadline_before: Option<String>,
    /// Only domains whose name contains this text.
    #[arg(long)]
    pub search: Option<String>,
    /// At most this many domains.
    #[arg(long)]
    pub limit: Option<u64>,
    /// Output format (json: JSON Lines, one object per domain listed).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Arguments of `domains show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The domain.
    pub domain: String,
    /// Output format (json: one object, the domain with its history).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// The output options of the operator's actions.
#[derive(Debug, Args)]
pub struct ActionOutput {
    /// Output format: one line saying what happened, or the domain as `show --format
    /// json` prints it.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Language of messages.
    #[arg(long, value_enum, default_value_t)]
    pub lang: Lang,
}

/// What every lifecycle action names: the domain, who acts, how to print the result.
#[derive(Debug, Args)]
pub struct ActionTarget {
    /// The domain.
    pub domain: String,
    /// Who acts, for the history (default: $USER, else `operator`).
    #[arg(long, value_name = "NAME")]
    pub actor: Option<String>,
    /// Output options.
    #[command(flatten)]
    pub output: ActionOutput,
}

/// Arguments of `domains approve`.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The domain, the actor, the output.
    #[command(flatten)]
    pub target: ActionTarget,
}

/// Arguments of `domains reject` and `domains remove`.
#[derive(Debug, Args)]
pub struct ReasonArgs {
    /// The domain, the actor, the output.
    #[command(flatten)]
    pub target: ActionTarget,
    /// Why, for the history.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

/// Arguments of `domains renew`.
#[derive(Debug, Args)]
pub struct RenewArgs {
    /// The domain, the actor, the output.
    #[command(flatten)]
    pub target: ActionTarget,
    /// The new expiry: a date (end of that day in sweep.timezone) or an RFC 3339 instant.
    #[arg(long, value_name = "DATE")]
    pub expires: String,
}

/// Arguments of `domains exception`.
#[derive(Debug, Args)]
pub struct ExceptionArgs {
    /// The domain.
    pub domain: String,
    /// Allow this address or network (repeatable): 192.0.2.7, 192.0.2.0/24, 2001:db8::/48.
    #[arg(long, value_name = "CIDR")]
    pub add: Vec<String>,
    /// Stop allowing this address or network (repeatable); it must be listed.
    #[arg(long, value_name = "CIDR")]
    pub remove: Vec<String>,
    /// Empty the list first (with --add: replace it).
    #[arg(long)]
    pub clear: bool,
    /// Output options.
    #[command(flatten)]
    pub output: ActionOutput,
}

/// Runs a `domains` subcommand.
pub async fn run(config: &Config, command: DomainsCommand) -> Result<Exit, CliError> {
    // Every command acts at one instant (`PECWATCH_NOW` when set): read it first, so
    // that a bad value is refused whatever the subcommand.
    let now = clock::now()?;
    let zone = time_zone(config);
    let registry = Registry::open(&config.database.url).await?;
    let result = match command {
        DomainsCommand::Add(args) => add(config, &registry, args, now).await,
        DomainsCommand::Import(args) => import(config, &registry, args, now).await,
        DomainsCommand::List(args) => list(&registry, args, &zone).await,
        DomainsCommand::Show(args) => show(&registry, args, &zone).await,
        DomainsCommand::Approve(args) => {
            act(config, &registry, args.target, Command::Approve, now).await
        }
        DomainsCommand::Reject(args) => {
            let command = Command::Reject {
                reason: args.reason.unwrap_or_default(),
            };
            act(config, &registry, args.target, command, now).await
        }
        DomainsCommand::Renew(args) => {
            let command = Command::Renew {
                expires: parse_instant(&args.expires, &zone)?,
            };
            act(config, &registry, args.target, command, now).await
        }
        DomainsCommand::Remove(args) => {
            let command = Command::Remove {
                reason: args.reason.unwrap_or_default(),
            };
            act(config, &registry, args.target, command, now).await
        }
        DomainsCommand::Exception(args) => exception(&registry, args, now).await,
    };
    registry.close().await;
    result
}

async fn add(
    config: &Config,
    registry: &Registry,
    args: AddArgs,
    now: Timestamp,
) -> Result<Exit, CliError> {
    let name =
        DomainName::parse(&args.domain).map_err(|e| CliError::Usage(e.message(args.lang)))?;
    let profile = args
        .profile
        .clone()
        .unwrap_or_else(|| config.check.profile.clone());
    load_profile(config, &profile)?;
    let zone = time_zone(config);
    let expires = args
        .expires
        .as_deref()
        .map(|text| parse_instant(text, &zone))
        .transpose()?;
    let (holder, reseller) = Contact::check(
        &Holder {
            name: args.holder_name,
            email: args.holder_email,
            lang: args.lang,
        },
        args.reseller.as_deref(),
    )
    .map_err(|e| CliError::Usage(e.message(args.lang)))?;
    let domain = registry
        .add_domain(
            NewDomain {
                name,
                holder,
                reseller,
                profile,
                exception: Vec::new(),
                status: DomainStatus::new(State::Certified, now, expires),
                next_check: now,
            },
            now,
        )
        .await?;
    print_domain(&domain, args.format, &zone)?;
    Ok(Exit::Ok)
}

async fn import(
    config: &Config,
    registry: &Registry,
    args: ImportArgs,
    now: Timestamp,
) -> Result<Exit, CliError> {
    let text = csv::read(&args.file).map_err(CliError::Usage)?;
    let domains = parse_import(config, &text, now)
        .map_err(|e| CliError::Usage(format!("{}: {e}; nothing imported", args.file)))?;
    let added = registry.add_domains(&domains, now).await?;
    outln!("{added} domini importati / domains imported")?;
    Ok(Exit::Ok)
}

/// Parses an import file into domains to register (state `certified`, due now).
fn parse_import(config: &Config, text: &str, now: Timestamp) -> Result<Vec<NewDomain>, String> {
    let columns = [&["domain"][..], &csv::HOLDER_COLUMNS].concat();
    let table = Table::parse(text, &columns, &["domain", "holder_email"])?;
    let zone = time_zone(config);
    let mut domains = Vec::new();
    for record in table.records() {
        let name = DomainName::parse(&record.get("domain").unwrap_or_default())
            .map_err(|e| record.problem(e))?;
        let email = record
            .get("holder_email")
            .ok_or_else(|| record.problem("holder_email is empty"))?;
        let lang = parse_lang(record.get("lang").as_deref()).map_err(|e| record.problem(e))?;
        let profile = record
            .get("profile")
            .unwrap_or_else(|| config.check.profile.clone());
        load_profile(config, &profile).map_err(|e| record.problem(e))?;
        let expires = record
            .get("expires")
            .map(|text| parse_instant(&text, &zone))
            .transpose()
            .map_err(|e| record.problem(e))?;
        let (holder, reseller) = Contact::check(
            &Holder {
                name: record.get("holder_name"),
                email,
                lang,
            },
            record.get("reseller").as_deref(),
        )
        .map_err(|e| record.problem(e.both()))?;
        domains.push(NewDomain {
            name,
            holder,
            reseller,
            profile,
            exception: Vec::new(),
            status: DomainStatus::new(State::Certified, now, expires),
            next_check: now,
        });
    }
    Ok(domains)
}

/// A `lang` column: `it` (also when empty) or `en`.
pub(crate) fn parse_lang(value: Option<&str>) -> Result<Lang, String> {
    match value {
        None | Some("it") => Ok(Lang::It),
        Some("en") => Ok(Lang::En),
        Some(other) => Err(format!("lang {other:?}: expected it or en")),
    }
}

async fn list(registry: &Registry, args: ListArgs, zone: &TimeZone) -> Result<Exit, CliError> {
    let state = args
        .state
        .as_deref()
        .map(|s| {
            s.parse::<State>()
                .map_err(|e| CliError::Usage(e.to_string()))
        })
        .transpose()?;
    let filter = DomainFilter {
        state,
        code: args
            .code
            .as_deref()
            .map(|text| {
                text.parse::<Code>()
                    .map_err(|error| CliError::Usage(error.to_string()))
            })
            .transpose()?,
        deadline_before: args
            .deadline_before
            .as_deref()
            .map(|text| parse_instant(text, zone))
            .transpose()?,
        name_contains: args.search,
        limit: args.limit,
        ..DomainFilter::default()
    };
    let domains = registry.domains(&filter).await?;
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            for domain in &domains {
                writeln!(out, "{}", summary_json(domain))?;
            }
        }
        Format::Text => {
            writeln!(
                out,
                "{:<40} {:<13} {:<20} {:<12} last check",
                "domain", "state", "deadline", "expires"
            )?;
            for domain in &domains {
                writeln!(
                    out,
                    "{:<40} {:<13} {:<20} {:<12} {}",
                    domain.name.to_string(),
                    domain.status.state.to_string(),
                    domain
                        .status
                        .deadline
                        .map(|d| civil(d, zone, TABLE_TIME))
                        .unwrap_or_else(|| "-".into()),
                    domain
                        .status
                        .expires
                        .map(|d| civil(d, zone, TABLE_DATE))
                        .unwrap_or_else(|| "-".into()),
                    last_check_text(domain, zone),
                )?;
            }
        }
    }
    Ok(Exit::Ok)
}

async fn show(registry: &Registry, args: ShowArgs, zone: &TimeZone) -> Result<Exit, CliError> {
    let name = DomainName::parse(&args.domain).map_err(|e| CliError::Usage(e.to_string()))?;
    let Some(domain) = registry.domain(&name).await? else {
        return Err(CliError::Usage(format!("{name} is not registered")));
    };
    match args.format {
        Format::Json => outln!("{}", detail_json(registry, &domain).await?)?,
        Format::Text => {
            let transitions = registry.transitions(domain.id).await?;
            let checks = registry.checks(domain.id, HISTORY_CHECKS).await?;
            print_domain(&domain, Format::Text, zone)?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "history:")?;
            for record in &transitions {
                let t = &record.transition;
                writeln!(
                    out,
                    "  {} {} -> {} ({}; {})",
                    t.at, t.from, t.to, t.reason, t.actor
                )?;
            }
            for check in &checks {
                let s = &check.summary;
                writeln!(
                    out,
                    "  {} check {} {}",
                    s.at,
                    if s.ok { "ok" } else { "error" },
                    Code::join(&s.codes, " ")
                )?;
            }
        }
    }
    Ok(Exit::Ok)
}

/// The JSON of a domain as `show` prints it (the view shared with the web API).
async fn detail_json(registry: &Registry, domain: &Domain) -> Result<String, CliError> {
    let detail = DomainDetail::load(registry, domain).await?;
    Ok(view::to_json_string(&detail))
}

/// The JSON of a domain as `list` prints it (the view shared with the web API).
fn summary_json(domain: &Domain) -> String {
    view::to_json_string(&DomainSummary::from(domain))
}

fn last_check_text(domain: &Domain, zone: &TimeZone) -> String {
    match &domain.last_check {
        None => "-".into(),
        Some(check) if check.ok => format!("{} ok", civil(check.at, zone, TABLE_TIME)),
        Some(check) => format!(
            "{} {}",
            civil(check.at, zone, TABLE_TIME),
            Code::join(&check.codes, " ")
        ),
    }
}

fn print_domain(domain: &Domain, format: Format, zone: &TimeZone) -> Result<(), CliError> {
    match format {
        Format::Json => outln!("{}", summary_json(domain))?,
        Format::Text => {
            outln!("{} — {}", domain.name, domain.status.state)?;
            outln!(
                "  holder:   {} ({})",
                domain.holder.email,
                domain.holder.lang.pick("it", "en")
            )?;
            outln!("  profile:  {}", domain.profile)?;
            if let Some(deadline) = domain.status.deadline {
                outln!("  deadline: {deadline}")?;
            }
            if let Some(expires) = domain.status.expires {
                outln!("  expires:  {expires}")?;
            }
            outln!("  last check: {}", last_check_text(domain, zone))?;
        }
    }
    Ok(())
}

/// `domains approve|reject|renew|remove`: applies the operator's command and prints
/// what happened.
async fn act(
    config: &Config,
    registry: &Registry,
    target: ActionTarget,
    command: Command,
    now: Timestamp,
) -> Result<Exit, CliError> {
    let ActionTarget {
        domain,
        actor,
        output,
    } = target;
    let lang = output.lang;
    let name = DomainName::parse(&domain).map_err(|e| CliError::Usage(e.message(lang)))?;
    let actor = actor
        .or_else(|| std::env::var("USER").ok())
        .filter(|actor| !actor.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ACTOR.to_owned());
    let acted = actions::act(registry, &config.policy(), &name, &command, &actor, now)
        .await
        .map_err(|e| action_error(e, lang))?;
    match output.format {
        Format::Json => outln!("{}", detail_json(registry, &acted.domain).await?)?,
        Format::Text => outln!("{}", acted_line(&acted, &command, lang))?,
    }
    Ok(Exit::Ok)
}

/// One line saying what an action did: the state before and after, what changed, the
/// deadline when there is one, and who acted.
fn acted_line(acted: &Acted, command: &Command, lang: Lang) -> String {
    let status = &acted.domain.status;
    let mut line = format!("{}: ", acted.domain.name);
    if acted.before == status.state {
        line.push_str(status.state.as_str());
    } else {
        line.push_str(&format!("{} → {}", acted.before, status.state));
    }
    line.push_str(", ");
    line.push_str(&match command {
        Command::Approve => Reason::ReinstatementApproved.text(lang),
        Command::Reject { .. } => Reason::ReinstatementRejected(String::new()).text(lang),
        Command::Renew { expires } => format!(
            "{} {expires}",
            lang.pick(
                "certificazione rinnovata fino al",
                "certification renewed until"
            )
        ),
        Command::Submit => lang
            .pick("in attesa della verifica DNS", "awaiting DNS verification")
            .to_owned(),
        Command::Remove { .. } => lang
            .pick(
                "rimosso dall'elenco dei domini certificati",
                "removed from the certified list",
            )
            .to_owned(),
    });
    if let Some(deadline) = status.deadline {
        line.push_str(&format!(
            "; {} {deadline}",
            lang.pick("termine per la correzione", "deadline for the correction")
        ));
    }
    if let Some(last) = acted.recorded.last() {
        line.push_str(&format!(" ({})", last.actor));
    }
    line
}

/// `domains exception`: changes the list if asked, then prints it.
async fn exception(
    registry: &Registry,
    args: ExceptionArgs,
    now: Timestamp,
) -> Result<Exit, CliError> {
    let lang = args.output.lang;
    let name = DomainName::parse(&args.domain).map_err(|e| CliError::Usage(e.message(lang)))?;
    let networks = |texts: &[String]| {
        texts
            .iter()
            .map(|text| actions::parse_network(text))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| action_error(e, lang))
    };
    let change = ExceptionChange {
        clear: args.clear,
        add: networks(&args.add)?,
        remove: networks(&args.remove)?,
    };
    let domain = actions::change_exception(registry, &name, &change, now)
        .await
        .map_err(|e| action_error(e, lang))?;
    match args.output.format {
        Format::Json => outln!("{}", detail_json(registry, &domain).await?)?,
        Format::Text => {
            let listed: Vec<String> = domain.exception.iter().map(|n| n.to_string()).collect();
            let what = if change.is_empty() {
                lang.pick("eccezione ibrida", "hybrid exception")
            } else {
                lang.pick("eccezione ibrida aggiornata", "hybrid exception updated")
            };
            let list = if listed.is_empty() {
                lang.pick("nessun indirizzo", "no addresses").to_owned()
            } else {
                listed.join(", ")
            };
            outln!("{name}: {what}: {list}")?;
        }
    }
    Ok(Exit::Ok)
}

/// An action's error for the command line: a failing database is a failure of the
/// environment (exit 3), anything else a bad request (exit 2).
fn action_error(error: ActionError, lang: Lang) -> CliError {
    match error {
        ActionError::Registry(error @ RegistryError::Database(_)) => CliError::Registry(error),
        other => CliError::Usage(other.message(lang)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_files_are_checked_line_by_line() {
        let config = Config::default();
        let now = Timestamp::UNIX_EPOCH;
        let good = "domain,holder_email,holder_name,lang,expires\n\
                    # a comment\n\
                    PEC.Uno.IT,a@uno.it,\"Rossi, Mario\",en,2027-01-31\n\
                    pec.due.it,b@due.it,,,\n";
        let domains = parse_import(&config, good, now).unwrap();
        assert_eq!(domains.len(), 2);
        assert_eq!(domains[0].name.as_str(), "pec.uno.it");
        assert_eq!(domains[0].holder.name.as_deref(), Some("Rossi, Mario"));
        assert_eq!(domains[0].holder.lang, Lang::En);
        assert!(domains[0].status.expires.is_some());
        assert_eq!(domains[1].holder.lang, Lang::It);
        assert_eq!(domains[1].profile, "aruba");
        for (bad, needle) in [
            ("", "empty file"),
            ("domain,email\n", "unknown column"),
            ("domain,holder_name\n", "holder_email"),
            ("domain,holder_email\nhttp://x.it/,a@b.it\n", "line 2"),
            ("domain,holder_email\npec.x.it,\n", "holder_email is empty"),
            ("domain,holder_email,lang\npec.x.it,a@b.it,fr\n", "lang"),
            (
                "domain,holder_email,expires\npec.x.it,a@b.it,31/12\n",
                "invalid date",
            ),
            (
                "domain,holder_email,profile\npec.x.it,a@b.it,nobody\n",
                "nobody",
            ),
        ] {
            let error = parse_import(&config, bad, now).unwrap_err();
            assert!(error.contains(needle), "{bad:?}: {error}");
        }
    }
}

//! `pecwatch domains`: the operator's view of the registry of certified domains.

use std::io::Write;

use clap::{Args, Subcommand};
use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::json;

use super::{CliError, Exit, Format, load_profile};
use crate::Lang;
use crate::clock;
use crate::config::Config;
use crate::lifecycle::{DomainStatus, State};
use crate::name::DomainName;
use crate::registry::{Domain, DomainFilter, Holder, NewDomain, Registry};

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
    /// Expiry of the certification: a date (end of that day, Europe/Rome) or an RFC 3339
    /// instant.
    #[arg(long, value_name = "DATE")]
    pub expires: Option<String>,
    /// Output format.
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
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Arguments of `domains show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The domain.
    pub domain: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Runs a `domains` subcommand.
pub async fn run(config: &Config, command: DomainsCommand) -> Result<Exit, CliError> {
    // Every command acts at one instant (`PECWATCH_NOW` when set): read it first, so
    // that a bad value is refused whatever the subcommand.
    let now = clock::now()?;
    let registry = Registry::open(&config.database.url).await?;
    let result = match command {
        DomainsCommand::Add(args) => add(config, &registry, args, now).await,
        DomainsCommand::Import(args) => import(config, &registry, args, now).await,
        DomainsCommand::List(args) => list(&registry, args).await,
        DomainsCommand::Show(args) => show(&registry, args).await,
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
    let expires = args.expires.as_deref().map(parse_instant).transpose()?;
    let domain = registry
        .add_domain(
            NewDomain {
                name,
                holder: Holder {
                    name: args.holder_name,
                    email: args.holder_email,
                    lang: args.lang,
                },
                reseller: args.reseller,
                profile,
                exception: Vec::new(),
                status: DomainStatus::new(State::Certified, now, expires),
                next_check: now,
            },
            now,
        )
        .await?;
    print_domain(&domain, args.format)?;
    Ok(Exit::Ok)
}

async fn import(
    config: &Config,
    registry: &Registry,
    args: ImportArgs,
    now: Timestamp,
) -> Result<Exit, CliError> {
    let text = if args.file == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(&args.file)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", args.file)))?
    };
    let domains = parse_import(config, &text, now)
        .map_err(|e| CliError::Usage(format!("{}: {e}; nothing imported", args.file)))?;
    let added = registry.add_domains(&domains, now).await?;
    println!("{added} domini importati / domains imported");
    Ok(Exit::Ok)
}

/// Parses an import file into domains to register (state `certified`, due now).
fn parse_import(config: &Config, text: &str, now: Timestamp) -> Result<Vec<NewDomain>, String> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty() && !line.trim_start().starts_with('#'));
    let Some((_, header)) = lines.next() else {
        return Err("empty file: expected a header line such as domain,holder_email".into());
    };
    let header: Vec<String> = csv_fields(header)?
        .into_iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let column = |name: &str| header.iter().position(|h| h == name);
    let known = [
        "domain",
        "holder_email",
        "holder_name",
        "lang",
        "reseller",
        "profile",
        "expires",
    ];
    if let Some(unknown) = header.iter().find(|h| !known.contains(&h.as_str())) {
        return Err(format!(
            "unknown column {unknown:?} (columns: {})",
            known.join(", ")
        ));
    }
    let (Some(domain_at), Some(email_at)) = (column("domain"), column("holder_email")) else {
        return Err("the header must name the columns domain and holder_email".into());
    };
    let mut domains = Vec::new();
    for (index, line) in lines {
        let at = |message: String| format!("line {}: {message}", index + 1);
        let fields = csv_fields(line).map_err(at)?;
        let field = |position: Option<usize>| {
            position
                .and_then(|p| fields.get(p))
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty())
        };
        let name = DomainName::parse(&field(Some(domain_at)).unwrap_or_default())
            .map_err(|e| at(e.to_string()))?;
        let email = field(Some(email_at)).ok_or_else(|| at("holder_email is empty".into()))?;
        let lang = match field(column("lang")).as_deref() {
            None | Some("it") => Lang::It,
            Some("en") => Lang::En,
            Some(other) => return Err(at(format!("lang {other:?}: expected it or en"))),
        };
        let profile = field(column("profile")).unwrap_or_else(|| config.check.profile.clone());
        load_profile(config, &profile).map_err(|e| at(e.to_string()))?;
        let expires = field(column("expires"))
            .map(|text| parse_instant(&text))
            .transpose()
            .map_err(|e| at(e.to_string()))?;
        domains.push(NewDomain {
            name,
            holder: Holder {
                name: field(column("holder_name")),
                email,
                lang,
            },
            reseller: field(column("reseller")),
            profile,
            exception: Vec::new(),
            status: DomainStatus::new(State::Certified, now, expires),
            next_check: now,
        });
    }
    Ok(domains)
}

/// The fields of one CSV line (RFC 4180: commas, double quotes, `""` inside quotes).
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    fields.push(field);
    Ok(fields)
}

async fn list(registry: &Registry, args: ListArgs) -> Result<Exit, CliError> {
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
            .map(|c| c.trim().replace(' ', "_").to_ascii_uppercase()),
        deadline_before: args
            .deadline_before
            .as_deref()
            .map(parse_instant)
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
                        .map(|d| d.strftime("%Y-%m-%d %H:%M").to_string())
                        .unwrap_or_else(|| "-".into()),
                    domain
                        .status
                        .expires
                        .map(|d| d.strftime("%Y-%m-%d").to_string())
                        .unwrap_or_else(|| "-".into()),
                    last_check_text(domain),
                )?;
            }
        }
    }
    Ok(Exit::Ok)
}

async fn show(registry: &Registry, args: ShowArgs) -> Result<Exit, CliError> {
    let name = DomainName::parse(&args.domain).map_err(|e| CliError::Usage(e.to_string()))?;
    let Some(domain) = registry.domain(&name).await? else {
        return Err(CliError::Usage(format!("{name} is not registered")));
    };
    let transitions = registry.transitions(domain.id).await?;
    let checks = registry.checks(domain.id, 50).await?;
    match args.format {
        Format::Json => {
            let mut value = summary_json(&domain);
            value["holder"] = json!(domain.holder);
            value["reseller"] = json!(domain.reseller);
            value["exception"] = json!(domain.exception);
            value["history"] = json!({ "transitions": transitions, "checks": checks });
            println!("{value}");
        }
        Format::Text => {
            print_domain(&domain, Format::Text)?;
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
                    s.codes.join(" ")
                )?;
            }
        }
    }
    Ok(Exit::Ok)
}

/// The JSON of a domain as `list` and `show` print it.
fn summary_json(domain: &Domain) -> serde_json::Value {
    json!({
        "domain": domain.name,
        "state": domain.status.state,
        "since": domain.status.since,
        "deadline": domain.status.deadline,
        "expires": domain.status.expires,
        "profile": domain.profile,
        "holder_email": domain.holder.email,
        "next_check": domain.next_check,
        "last_check": domain.last_check,
    })
}

fn last_check_text(domain: &Domain) -> String {
    match &domain.last_check {
        None => "-".into(),
        Some(check) if check.ok => format!("{} ok", check.at.strftime("%Y-%m-%d %H:%M")),
        Some(check) => format!(
            "{} {}",
            check.at.strftime("%Y-%m-%d %H:%M"),
            check.codes.join(" ")
        ),
    }
}

fn print_domain(domain: &Domain, format: Format) -> Result<(), CliError> {
    match format {
        Format::Json => println!("{}", summary_json(domain)),
        Format::Text => {
            println!("{} — {}", domain.name, domain.status.state);
            println!(
                "  holder:   {} ({})",
                domain.holder.email,
                domain.holder.lang.pick("it", "en")
            );
            println!("  profile:  {}", domain.profile);
            if let Some(deadline) = domain.status.deadline {
                println!("  deadline: {deadline}");
            }
            if let Some(expires) = domain.status.expires {
                println!("  expires:  {expires}");
            }
            println!("  last check: {}", last_check_text(domain));
        }
    }
    Ok(())
}

/// A date (`2027-12-31`: the end of that day in Europe/Rome) or an RFC 3339 instant.
pub fn parse_instant(text: &str) -> Result<Timestamp, CliError> {
    let text = text.trim();
    if let Ok(instant) = text.parse::<Timestamp>() {
        return Ok(instant);
    }
    let date: Date = text.parse().map_err(|_| {
        CliError::Usage(format!(
            "invalid date {text:?}: expected YYYY-MM-DD or an RFC 3339 instant"
        ))
    })?;
    date.at(23, 59, 59, 0)
        .in_tz("Europe/Rome")
        .map(|zoned| zoned.timestamp())
        .map_err(|e| CliError::Usage(format!("invalid date {text:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_follow_rfc_4180() {
        assert_eq!(csv_fields("a,b,,c").unwrap(), ["a", "b", "", "c"]);
        assert_eq!(
            csv_fields(r#"pec.x.it,"Rossi, Mario","say ""ciao""""#).unwrap(),
            ["pec.x.it", "Rossi, Mario", r#"say "ciao""#]
        );
        assert!(csv_fields(r#"a,"open"#).is_err());
    }

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

//! `pecwatch orders` and `pecwatch mailboxes`: activation from the command line (the
//! rules are in [`crate::activation`], shared with the web API).

use super::output::{err, outln};
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::csv;
use super::{CliError, Exit, Format, TABLE_TIME, load_profile, time_zone};
use crate::Lang;
use crate::actions::DEFAULT_ACTOR;
use crate::activation::{self, ActivationError, OrderRequest};
use crate::clock::{self, civil, parse_instant};
use crate::config::Config;
use crate::registry::{Holder, Order, OrderKind, OrderState, Registry};
use crate::view::{
    self, MailboxCreated, MailboxLink, MailboxRemoved, MailboxView, OrderDetail, OrderRefused,
    PasswordSet,
};

/// The `orders` subcommands.
#[derive(Debug, Subcommand)]
pub enum OrdersCommand {
    /// Record an order of PEC on a domain (own domain or internal subdomain).
    Add(OrderAddArgs),
    /// Record the orders of a CSV file (a reseller's batch): every line is checked first,
    /// and nothing is recorded if one is wrong.
    Import(OrderImportArgs),
    /// List orders.
    List(OrderListArgs),
    /// Show one order with its domain's state and activation steps.
    Show(OrderShowArgs),
    /// Approve a received order: the domain is registered and awaits its DNS.
    Approve(OrderDecideArgs),
    /// Reject a received order.
    Reject(OrderRejectArgs),
}

/// Arguments of `orders add`.
#[derive(Debug, Args)]
pub struct OrderAddArgs {
    /// The domain (own) or the label of the internal subdomain (`acme`).
    pub name: String,
    /// Own domain, or internal subdomain of the provider's zone.
    #[arg(long, value_enum, default_value_t = OrderKind::Own)]
    pub kind: OrderKind,
    /// Where the holder's notices go.
    #[arg(long, value_name = "ADDR")]
    pub holder_email: String,
    /// The holder's name.
    #[arg(long, value_name = "NAME")]
    pub holder_name: Option<String>,
    /// The language of the holder's notices.
    #[arg(long, value_enum, default_value_t)]
    pub lang: Lang,
    /// The reseller (an e-mail address gets copies of the notices).
    #[arg(long)]
    pub reseller: Option<String>,
    /// Provider profile (default: check.profile in the configuration).
    #[arg(long, value_name = "NAME|PATH")]
    pub profile: Option<String>,
    /// Expiry of the certification: a date or an RFC 3339 instant.
    #[arg(long, value_name = "DATE")]
    pub expires: Option<String>,
    /// Output format (json: one object, the order recorded).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Arguments of `orders import`.
#[derive(Debug, Args)]
pub struct OrderImportArgs {
    /// The CSV file (`-`: standard input). Its header names the columns: `name` and
    /// `holder_email` (required), `kind` (own|internal, default own), `holder_name`,
    /// `lang` (it|en), `reseller`, `profile`, `expires` (a date or an RFC 3339 instant).
    pub file: String,
    /// Output format (json: one line per order recorded or refused).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Language of the messages.
    #[arg(long, value_enum, default_value_t)]
    pub lang: Lang,
}

/// Arguments of `orders list`.
#[derive(Debug, Args)]
pub struct OrderListArgs {
    /// Only orders in this state.
    #[arg(long, value_enum)]
    pub state: Option<OrderState>,
    /// At most this many.
    #[arg(long, default_value_t = 1000)]
    pub limit: u64,
    /// Output format (json: JSON Lines, one object per order).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Language of the text.
    #[arg(long, value_enum, default_value_t)]
    pub lang: Lang,
}

/// Arguments of `orders show`.
#[derive(Debug, Args)]
pub struct OrderShowArgs {
    /// The order's number.
    pub id: i64,
    /// Output format (json: one object, the order with its domain's state and steps).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Language of the text.
    #[arg(long, value_enum, default_value_t)]
    pub lang: Lang,
}

/// Arguments of `orders approve`.
#[derive(Debug, Args)]
pub struct OrderDecideArgs {
    /// The order's number.
    pub id: i64,
    /// Who decides, for the history (default: $USER, else `operator`).
    #[arg(long, value_name = "NAME")]
    pub actor: Option<String>,
    /// Output format (json: one object, the order as decided).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Language of the text.
    #[arg(long, value_enum, default_value_t)]
    pub lang: Lang,
}

/// Arguments of `orders reject`.
#[derive(Debug, Args)]
pub struct OrderRejectArgs {
    /// The order, the actor, the output.
    #[command(flatten)]
    pub decide: OrderDecideArgs,
    /// Why (recorded, shown to the customer's reseller).
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub reason: String,
}

/// The `mailboxes` subcommands.
#[derive(Debug, Subcommand)]
pub enum MailboxesCommand {
    /// Create a mailbox in a certified domain and print its set-password link.
    Add(MailboxArgs),
    /// List mailboxes (of one domain, or all).
    List(MailboxListArgs),
    /// Delete a mailbox.
    Remove(MailboxArgs),
    /// Issue a new set-password link for a mailbox (the older one stops working).
    Link(MailboxArgs),
    /// Set a mailbox's password with its set-password link (the link and the password are
    /// read from --link-file / --password-file or standard input, never from the command
    /// line: other users see it in `ps`).
    SetPassword(SetPasswordArgs),
}

/// A mailbox address and the output.
#[derive(Debug, Args)]
pub struct MailboxArgs {
    /// The mailbox: `local@domain`.
    pub address: String,
    /// Output format (json: one object, the mailbox and its set-password link).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Language of the text.
    #[arg(long, value_enum, default_value_t)]
    pub lang: Lang,
}

/// Arguments of `mailboxes list`.
#[derive(Debug, Args)]
pub struct MailboxListArgs {
    /// Only this domain's mailboxes.
    pub domain: Option<String>,
    /// Output format (json: JSON Lines, one object per mailbox).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Language of the text.
    #[arg(long, value_enum, default_value_t)]
    pub lang: Lang,
}

/// Arguments of `mailboxes set-password`.
#[derive(Debug, Args)]
pub struct SetPasswordArgs {
    /// Refused: a link on the command line is visible to every user of the machine
    /// (`ps`). Use --link-file, or standard input.
    #[arg(hide = true)]
    pub link: Option<String>,
    /// Read the link (or only its token, the part after the last '/') from this file
    /// (first line) instead of the first line of standard input.
    #[arg(long, value_name = "FILE")]
    pub link_file: Option<PathBuf>,
    /// Read the password from this file (first line) instead of standard input (the
    /// line after the link's, when the link comes from there too).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Output format (json: one object with the mailbox's `address` and `password_set`).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Language of the text.
    #[arg(long, value_enum, default_value_t)]
    pub lang: Lang,
}

fn refused(error: ActivationError, lang: Lang) -> CliError {
    match error {
        ActivationError::Registry(error) => CliError::Registry(error),
        other => CliError::Usage(other.message(lang)),
    }
}

fn actor(actor: Option<String>) -> String {
    actor
        .or_else(|| std::env::var("USER").ok())
        .filter(|actor| !actor.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ACTOR.to_owned())
}

/// Runs an `orders` subcommand.
pub async fn run_orders(config: &Config, command: OrdersCommand) -> Result<Exit, CliError> {
    let now = clock::now()?;
    let registry = Registry::open(&config.database.url).await?;
    let settings = config.activation_settings();
    let zone = time_zone(config);
    let result = match command {
        OrdersCommand::Add(args) => {
            let profile = args
                .profile
                .clone()
                .unwrap_or_else(|| config.check.profile.clone());
            load_profile(config, &profile)?;
            let request = OrderRequest {
                kind: args.kind,
                name: args.name,
                holder: Holder {
                    name: args.holder_name,
                    email: args.holder_email,
                    lang: args.lang,
                },
                reseller: args.reseller,
                profile,
                expires: args
                    .expires
                    .as_deref()
                    .map(|text| parse_instant(text, &zone))
                    .transpose()?,
            };
            let order = activation::place(&registry, &settings, &request, now)
                .await
                .map_err(|e| refused(e, args.lang))?;
            print_order(&registry, &order, args.format, args.lang, &zone).await
        }
        OrdersCommand::Import(args) => import(config, &registry, &settings, args, now).await,
        OrdersCommand::List(args) => list(&registry, args, &zone).await,
        OrdersCommand::Show(args) => {
            let order = registry
                .order(args.id)
                .await?
                .ok_or_else(|| refused(ActivationError::NoOrder(args.id), args.lang))?;
            print_order(&registry, &order, args.format, args.lang, &zone).await
        }
        OrdersCommand::Approve(args) => {
            let order = activation::approve(&registry, &settings, args.id, &actor(args.actor), now)
                .await
                .map_err(|e| refused(e, args.lang))?;
            print_order(&registry, &order, args.format, args.lang, &zone).await
        }
        OrdersCommand::Reject(args) => {
            let decide = args.decide;
            let order = activation::reject(
                &registry,
                decide.id,
                &actor(decide.actor),
                &args.reason,
                now,
            )
            .await
            .map_err(|e| refused(e, decide.lang))?;
            print_order(&registry, &order, decide.format, decide.lang, &zone).await
        }
    };
    registry.close().await;
    result
}

/// `orders import`: checks every line (columns, names and labels, addresses, profiles,
/// dates, a name twice in the file) and records nothing if one is wrong; then places the
/// orders in file order. A name already registered or ordered is refused on its own line
/// and the others go on (exit 1 then).
async fn import(
    config: &Config,
    registry: &Registry,
    settings: &activation::Settings,
    args: OrderImportArgs,
    now: Timestamp,
) -> Result<Exit, CliError> {
    let lang = args.lang;
    let text = csv::read(&args.file).map_err(CliError::Usage)?;
    let nothing = lang.pick("nessun ordine registrato", "nothing recorded");
    let requests = parse_orders(config, settings, &text, lang).map_err(|problems| {
        CliError::Usage(format!("{}: {}; {nothing}", args.file, problems.join("; ")))
    })?;
    let (mut placed, mut refused) = (0, 0);
    for (line, request) in &requests {
        match activation::place(registry, settings, request, now).await {
            Ok(order) => {
                placed += 1;
                match args.format {
                    Format::Json => outln!("{}", order_json(registry, &order).await?)?,
                    Format::Text => outln!(
                        "{} {}: {} #{} ({})",
                        lang.pick("riga", "line"),
                        line,
                        order.name,
                        order.id,
                        order.state
                    )?,
                }
            }
            Err(ActivationError::Registry(error)) => return Err(CliError::Registry(error)),
            Err(error) => {
                refused += 1;
                let message = error.message(lang);
                match args.format {
                    Format::Json => outln!(
                        "{}",
                        view::to_json_string(&OrderRefused {
                            line: *line,
                            name: request.name.clone(),
                            refused: message,
                        })
                    )?,
                    Format::Text => outln!(
                        "{} {}: {}: {} {message}",
                        lang.pick("riga", "line"),
                        line,
                        request.name,
                        lang.pick("rifiutato:", "refused:"),
                    )?,
                }
            }
        }
    }
    if args.format == Format::Text {
        outln!(
            "{placed} {}, {refused} {}",
            lang.pick("ordini registrati", "orders recorded"),
            lang.pick("rifiutati", "refused")
        )?;
    }
    Ok(if refused > 0 {
        Exit::Findings
    } else {
        Exit::Ok
    })
}

/// The orders of an import file, each with its line, or every problem found.
fn parse_orders(
    config: &Config,
    settings: &activation::Settings,
    text: &str,
    lang: Lang,
) -> Result<Vec<(usize, OrderRequest)>, Vec<String>> {
    let columns = [&["name", "kind"][..], &csv::HOLDER_COLUMNS].concat();
    let table =
        csv::Table::parse(text, &columns, &["name", "holder_email"]).map_err(|e| vec![e])?;
    let zone = time_zone(config);
    let mut problems = Vec::new();
    let mut requests = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for record in table.records() {
        let request = (|| {
            let kind = match record.get("kind").as_deref() {
                None | Some("own") => OrderKind::Own,
                Some("internal") => OrderKind::Internal,
                Some(other) => return Err(format!("kind {other:?}: expected own or internal")),
            };
            let profile = record
                .get("profile")
                .unwrap_or_else(|| config.check.profile.clone());
            load_profile(config, &profile).map_err(|e| e.to_string())?;
            let request = OrderRequest {
                kind,
                name: record.get("name").unwrap_or_default(),
                holder: Holder {
                    name: record.get("holder_name"),
                    email: record.get("holder_email").unwrap_or_default(),
                    lang: super::domains::parse_lang(record.get("lang").as_deref())?,
                },
                reseller: record.get("reseller"),
                profile,
                expires: record
                    .get("expires")
                    .map(|text| parse_instant(&text, &zone))
                    .transpose()
                    .map_err(|e| e.to_string())?,
            };
            let name =
                activation::check_request(&request, settings).map_err(|e| e.message(lang))?;
            Ok((name, request))
        })();
        let problem =
            |message: String| format!("{} {}: {message}", lang.pick("riga", "line"), record.line);
        match request {
            Ok((name, request)) => {
                if let Some(first) = seen.insert(name.to_string(), record.line) {
                    problems.push(problem(format!(
                        "{name} {} {first}",
                        lang.pick("è già alla riga", "is already on line")
                    )));
                }
                requests.push((record.line, request));
            }
            Err(message) => problems.push(problem(message)),
        }
    }
    if problems.is_empty() {
        Ok(requests)
    } else {
        Err(problems)
    }
}

async fn list(registry: &Registry, args: OrderListArgs, zone: &TimeZone) -> Result<Exit, CliError> {
    let orders = registry.orders(args.state, args.limit).await?;
    if args.format == Format::Json {
        for order in &orders {
            outln!("{}", order_json(registry, order).await?)?;
        }
        return Ok(Exit::Ok);
    }
    let lang = args.lang;
    outln!(
        "{:>5}  {:<32} {:<8} {:<9} {:<13} {}",
        "#",
        lang.pick("dominio", "domain"),
        lang.pick("tipo", "kind"),
        lang.pick("ordine", "order"),
        lang.pick("stato", "state"),
        lang.pick("ricevuto", "received"),
    )?;
    for order in &orders {
        let state = domain_state(registry, order).await?;
        outln!(
            "{:>5}  {:<32} {:<8} {:<9} {:<13} {}",
            order.id,
            order.name,
            order.kind,
            order.state,
            state.as_deref().unwrap_or("-"),
            civil(order.created, zone, TABLE_TIME),
        )?;
    }
    if orders.is_empty() {
        outln!("{}", lang.pick("nessun ordine", "no orders"))?;
    }
    Ok(Exit::Ok)
}

async fn domain_state(registry: &Registry, order: &Order) -> Result<Option<String>, CliError> {
    Ok(match order.domain_id {
        Some(id) => registry
            .domain_by_id(id)
            .await?
            .map(|domain| domain.status.state.to_string()),
        None => None,
    })
}

/// The JSON of an order (the view shared with the web API).
async fn order_json(registry: &Registry, order: &Order) -> Result<String, CliError> {
    let detail = OrderDetail::load(registry, order).await?;
    Ok(view::to_json_string(&detail))
}

async fn print_order(
    registry: &Registry,
    order: &Order,
    format: Format,
    lang: Lang,
    zone: &TimeZone,
) -> Result<Exit, CliError> {
    if format == Format::Json {
        outln!("{}", order_json(registry, order).await?)?;
        return Ok(Exit::Ok);
    }
    let kind = match (order.kind, lang) {
        (OrderKind::Own, Lang::It) => "dominio proprio",
        (OrderKind::Own, Lang::En) => "own domain",
        (OrderKind::Internal, Lang::It) => "sottodominio interno",
        (OrderKind::Internal, Lang::En) => "internal subdomain",
    };
    let state = match (order.state, lang) {
        (OrderState::Received, Lang::It) => "ricevuto, in attesa di approvazione",
        (OrderState::Received, Lang::En) => "received, awaiting approval",
        (OrderState::Approved, Lang::It) => "approvato",
        (OrderState::Approved, Lang::En) => "approved",
        (OrderState::Rejected, Lang::It) => "respinto",
        (OrderState::Rejected, Lang::En) => "rejected",
    };
    outln!(
        "{} {} — {} ({kind}): {state}",
        lang.pick("ordine", "order"),
        order.id,
        order.name
    )?;
    outln!(
        "  {}: {}",
        lang.pick("intestatario", "holder"),
        order.holder.email
    )?;
    if let Some(reason) = order.reason.as_deref().filter(|r| !r.is_empty()) {
        outln!("  {}: {reason}", lang.pick("motivo", "reason"))?;
    }
    if let Some(state) = domain_state(registry, order).await? {
        outln!(
            "  {}: {state}",
            lang.pick("stato del dominio", "domain state")
        )?;
    }
    if let Some(id) = order.domain_id {
        for step in registry.steps(id).await? {
            outln!(
                "  {}  {}",
                civil(step.at, zone, TABLE_TIME),
                crate::activation::step_text(&step.step, &step.detail, lang)
            )?;
        }
    }
    Ok(Exit::Ok)
}

/// Runs a `mailboxes` subcommand.
pub async fn run_mailboxes(config: &Config, command: MailboxesCommand) -> Result<Exit, CliError> {
    let now = clock::now()?;
    let registry = Registry::open(&config.database.url).await?;
    let settings = config.activation_settings();
    let result = mailboxes(&registry, &settings, command, now, &time_zone(config)).await;
    registry.close().await;
    result
}

async fn mailboxes(
    registry: &Registry,
    settings: &activation::Settings,
    command: MailboxesCommand,
    now: Timestamp,
    zone: &TimeZone,
) -> Result<Exit, CliError> {
    match command {
        MailboxesCommand::Add(args) => add_mailbox(registry, settings, args, now).await?,
        MailboxesCommand::List(args) => list_mailboxes(registry, args, zone).await?,
        MailboxesCommand::Remove(args) => remove_mailbox(registry, args).await?,
        MailboxesCommand::Link(args) => new_link(registry, settings, args, now).await?,
        MailboxesCommand::SetPassword(args) => set_password(registry, args, now).await?,
    }
    Ok(Exit::Ok)
}

/// `mailboxes add`: creates the mailbox and prints its set-password link.
async fn add_mailbox(
    registry: &Registry,
    settings: &activation::Settings,
    args: MailboxArgs,
    now: Timestamp,
) -> Result<(), CliError> {
    let lang = args.lang;
    let mailbox = activation::add_mailbox(registry, &args.address, now)
        .await
        .map_err(|e| refused(e, lang))?;
    let link = activation::issue_link(registry, settings, &mailbox, now)
        .await
        .map_err(|e| refused(e, lang))?;
    match args.format {
        Format::Json => outln!(
            "{}",
            view::to_json_string(&MailboxCreated {
                link,
                mailbox: MailboxView::from(&mailbox),
            })
        )?,
        Format::Text => {
            outln!(
                "{} {}",
                lang.pick("casella creata:", "mailbox created:"),
                mailbox.address
            )?;
            outln!(
                "{} {link}",
                lang.pick(
                    "link per impostare la password:",
                    "link to set the password:"
                )
            )?;
        }
    }
    Ok(())
}

/// `mailboxes list`: of one domain, or all.
async fn list_mailboxes(
    registry: &Registry,
    args: MailboxListArgs,
    zone: &TimeZone,
) -> Result<(), CliError> {
    let lang = args.lang;
    let domain_id = match &args.domain {
        None => None,
        Some(name) => {
            let name = crate::name::DomainName::parse(name)
                .map_err(|e| CliError::Usage(e.message(lang)))?;
            let domain = registry
                .domain(&name)
                .await?
                .ok_or_else(|| refused(ActivationError::UnknownDomain(name.to_string()), lang))?;
            Some(domain.id)
        }
    };
    let list = registry.mailboxes(domain_id).await?;
    for mailbox in &list {
        match args.format {
            Format::Json => outln!("{}", view::to_json_string(&MailboxView::from(mailbox)))?,
            Format::Text => outln!(
                "{:<40} {:<18} {}",
                mailbox.address,
                if mailbox.has_password {
                    lang.pick("password impostata", "password set")
                } else {
                    lang.pick("in attesa", "awaiting password")
                },
                civil(mailbox.created, zone, TABLE_TIME)
            )?,
        }
    }
    if list.is_empty() && args.format == Format::Text {
        outln!("{}", lang.pick("nessuna casella", "no mailboxes"))?;
    }
    Ok(())
}

/// `mailboxes remove`.
async fn remove_mailbox(registry: &Registry, args: MailboxArgs) -> Result<(), CliError> {
    let lang = args.lang;
    let (local, domain) = activation::parse_address(&args.address).map_err(|e| refused(e, lang))?;
    let address = format!("{local}@{domain}");
    if !registry.remove_mailbox(&address).await? {
        return Err(refused(ActivationError::NoMailbox(address), lang));
    }
    match args.format {
        Format::Json => outln!(
            "{}",
            view::to_json_string(&MailboxRemoved { removed: address })
        )?,
        Format::Text => outln!(
            "{} {address}",
            lang.pick("casella eliminata:", "mailbox deleted:")
        )?,
    }
    Ok(())
}

/// `mailboxes link`: a new set-password link (the older one stops working).
async fn new_link(
    registry: &Registry,
    settings: &activation::Settings,
    args: MailboxArgs,
    now: Timestamp,
) -> Result<(), CliError> {
    let lang = args.lang;
    let link = activation::reissue_link(registry, settings, &args.address, now)
        .await
        .map_err(|e| refused(e, lang))?;
    match args.format {
        Format::Json => outln!(
            "{}",
            view::to_json_string(&MailboxLink {
                address: args.address,
                link,
            })
        )?,
        Format::Text => outln!("{link}")?,
    }
    Ok(())
}

/// `mailboxes set-password`: with the link and the password read safely.
async fn set_password(
    registry: &Registry,
    args: SetPasswordArgs,
    now: Timestamp,
) -> Result<(), CliError> {
    let lang = args.lang;
    if args.link.is_some() {
        return Err(CliError::Usage(
            lang.pick(
                "il link non si passa sulla riga di comando (gli altri utenti lo \
                 vedrebbero con ps): usare --link-file FILE, oppure scriverlo sullo \
                 standard input",
                "the link is not taken from the command line (other users would see \
                 it with ps): use --link-file FILE, or write it on standard input",
            )
            .to_owned(),
        ));
    }
    let link = read_secret(
        args.link_file.as_deref(),
        lang.pick("Link per impostare la password", "Set-password link"),
        lang,
    )?;
    let token = link
        .trim()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let password = read_password(args.password_file.as_deref(), lang)?;
    let mailbox = activation::set_password(registry, &token, &password, now)
        .await
        .map_err(|e| refused(e, lang))?;
    match args.format {
        Format::Json => outln!(
            "{}",
            view::to_json_string(&PasswordSet {
                address: mailbox.address,
                password_set: true,
            })
        )?,
        Format::Text => outln!(
            "{} {}",
            lang.pick("password impostata per", "password set for"),
            mailbox.address
        )?,
    }
    Ok(())
}

/// The first line of a file, or of standard input (with a prompt on a terminal).
fn read_password(file: Option<&std::path::Path>, lang: Lang) -> Result<String, CliError> {
    read_secret(file, lang.pick("Nuova password", "New password"), lang)
}

/// The first line of a file, or the next line of standard input (after `prompt` on a
/// terminal).
fn read_secret(
    file: Option<&std::path::Path>,
    prompt: &str,
    lang: Lang,
) -> Result<String, CliError> {
    let line = match file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| {
                CliError::Usage(format!(
                    "{}: {}: {e}",
                    lang.pick("impossibile leggere", "cannot read"),
                    path.display()
                ))
            })?
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
        None => {
            if std::io::stdin().is_terminal() {
                err!("{prompt}: ");
            }
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_files_are_checked_whole_before_anything_is_recorded() {
        let mut config = Config::default();
        config.provision.internal_zone = "legalmail.it".to_owned();
        let settings = config.activation_settings();
        let good = "name,kind,holder_email,holder_name,lang,reseller,expires\n\
                    # a reseller's batch\n\
                    PEC.Uno.IT,,a@uno.it,\"Rossi, Mario\",en,r@rivenditore.it,2027-01-31\n\
                    acme,internal,b@acme.it,,,,\n";
        let orders = parse_orders(&config, &settings, good, Lang::En).unwrap();
        assert_eq!(orders.len(), 2);
        assert_eq!(orders[0].0, 3);
        assert_eq!(orders[0].1.kind, OrderKind::Own);
        assert_eq!(orders[0].1.holder.name.as_deref(), Some("Rossi, Mario"));
        assert_eq!(orders[0].1.holder.lang, Lang::En);
        assert!(orders[0].1.expires.is_some());
        assert_eq!(orders[1].1.kind, OrderKind::Internal);
        assert_eq!(orders[1].1.profile, "aruba");

        // Every wrong line is named, in the chosen language.
        let bad = "name,kind,holder_email,lang,profile,expires\n\
                   pec.ok.it,own,a@ok.it,,,\n\
                   pec.ok.it,own,b@ok.it,,,\n\
                   -acme,internal,c@x.it,,,\n\
                   pec.y.it,resold,d@y.it,,,\n\
                   pec.z.it,own,not-an-address,,,\n\
                   pec.w.it,own,e@w.it,fr,,\n\
                   pec.v.it,own,f@v.it,,nobody,\n\
                   pec.u.it,own,g@u.it,,,31/12\n\
                   x.legalmail.it,own,h@x.it,,,\n";
        let problems = parse_orders(&config, &settings, bad, Lang::En).unwrap_err();
        let text = problems.join("\n");
        for needle in [
            "line 3: pec.ok.it is already on line 2",
            "line 4:",
            "line 5: kind \"resold\"",
            "line 6:",
            "line 7: lang \"fr\"",
            "line 8:",
            "line 9: invalid date",
            "line 10:",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
        assert_eq!(problems.len(), 8, "{text}");
        assert!(!text.contains("line 2:"), "{text}");
        let italian = parse_orders(&config, &settings, bad, Lang::It).unwrap_err();
        assert!(italian[0].contains("è già alla riga 2"), "{italian:?}");
        for (file, needle) in [
            ("", "empty file"),
            ("name,email\n", "unknown column"),
            ("name,kind\n", "holder_email"),
        ] {
            let problems = parse_orders(&config, &settings, file, Lang::En).unwrap_err();
            assert!(problems[0].contains(needle), "{file:?}: {problems:?}");
        }
    }
}

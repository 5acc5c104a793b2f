//! `pecwatch doctor`: tries everything the configuration names (the database, the resolver,
//! each profile's PEC mail host, the SMTP relay, the provisioning primary, the index
//! certificate, the listen addresses) and says for each what was tried, whether it works
//! and how to fix it. Sends no mail and changes nothing.

use super::output::{out, outln};
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use clap::Args;
use hickory_proto::rr::{Name, RecordType};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{CliError, Exit, Format};
use crate::Lang;
use crate::config::{Config, ConfigError};
use crate::dns::Transport;
use crate::dns::outcome::Outcome;
use crate::probe::{Prober, Resolution};
use crate::profile::Profile;
use crate::provision::Provisioner;
use crate::registry::{Backend, Registry};

/// Arguments of `pecwatch doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Output format (json: one object with `ok` and `checks`, each with `check`,
    /// `status`, `title`, `result`, `tried` and `fix`).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Language of the report.
    #[arg(long, value_enum, default_value_t)]
    pub lang: Lang,
}

/// How long a single connection attempt of the doctor may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Days before the certificate's expiry from which the doctor warns.
pub const CERTIFICATE_WARNING_DAYS: i64 = 30;

/// The outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// It works.
    Ok,
    /// It works, but needs attention soon.
    Warning,
    /// It does not work.
    Failed,
    /// Not configured: nothing to try.
    Skipped,
}

impl Status {
    /// The mark shown before the check.
    pub fn mark(self) -> &'static str {
        match self {
            Self::Ok => "✓",
            Self::Warning => "⚠",
            Self::Failed => "✗",
            Self::Skipped => "–",
        }
    }
}

/// One check: what was tried, what came of it, how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Item {
    /// A stable identifier (`database`, `mx:aruba`, `listen:web`).
    pub check: String,
    /// The outcome.
    pub status: Status,
    /// What it is, for people (`Database`).
    pub title: String,
    /// What came of it.
    pub result: String,
    /// What was tried.
    pub tried: String,
    /// How to fix it (failures and warnings).
    pub fix: Option<String>,
}

impl Item {
    fn new(check: impl Into<String>, title: impl Into<String>, tried: impl Into<String>) -> Self {
        Self {
            check: check.into(),
            status: Status::Ok,
            title: title.into(),
            result: String::new(),
            tried: tried.into(),
            fix: None,
        }
    }

    fn ok(mut self, result: impl Into<String>) -> Self {
        self.status = Status::Ok;
        self.result = result.into();
        self
    }

    fn skipped(mut self, result: impl Into<String>) -> Self {
        self.status = Status::Skipped;
        self.result = result.into();
        self
    }

    fn failed(mut self, result: impl Into<String>, fix: impl Into<String>) -> Self {
        self.status = Status::Failed;
        self.result = result.into();
        self.fix = Some(fix.into());
        self
    }

    fn warning(mut self, result: impl Into<String>, fix: impl Into<String>) -> Self {
        self.status = Status::Warning;
        self.result = result.into();
        self.fix = Some(fix.into());
        self
    }
}

/// The report for people.
pub fn text(items: &[Item], lang: Lang) -> String {
    let mut out = String::new();
    for item in items {
        out.push_str(&format!(
            "{} {}: {}\n",
            item.status.mark(),
            item.title,
            item.result
        ));
        out.push_str(&format!(
            "    {}: {}\n",
            lang.pick("provato", "tried"),
            item.tried
        ));
        if let Some(fix) = &item.fix {
            out.push_str(&format!(
                "    {}: {fix}\n",
                lang.pick("come rimediare", "how to fix")
            ));
        }
    }
    let failed = items.iter().filter(|i| i.status == Status::Failed).count();
    let warned = items.iter().filter(|i| i.status == Status::Warning).count();
    out.push_str(&match (lang, failed, warned) {
        (Lang::It, 0, 0) => "Tutto funziona.\n".to_owned(),
        (Lang::It, 0, w) => format!("Tutto funziona; {w} avvisi.\n"),
        (Lang::It, f, w) => format!("{f} controlli falliti, {w} avvisi.\n"),
        (Lang::En, 0, 0) => "Everything works.\n".to_owned(),
        (Lang::En, 0, w) => format!("Everything works; {w} warnings.\n"),
        (Lang::En, f, w) => format!("{f} checks failed, {w} warnings.\n"),
    });
    out
}

/// Runs `pecwatch doctor`.
pub async fn run(path: Option<&Path>, args: DoctorArgs) -> Result<Exit, CliError> {
    let lang = args.lang;
    let checked = Config::check(path)?;
    let mut items = vec![configuration(&checked.problems, lang)];
    let config = checked.config;
    items.push(database(&config, lang).await);
    items.extend(dns(&config, lang).await);
    items.push(smtp(&config, lang).await);
    items.push(provisioning(&config, lang).await);
    items.push(certificate(&config, crate::clock::now()?, lang));
    items.extend(listen_addresses(&config, lang).await);
    match args.format {
        Format::Text => out!("{}", text(&items, lang))?,
        Format::Json => outln!(
            "{}",
            json!({
                "ok": !items.iter().any(|i| i.status == Status::Failed),
                "checks": items,
            })
        )?,
    }
    Ok(if items.iter().any(|i| i.status == Status::Failed) {
        Exit::Findings
    } else {
        Exit::Ok
    })
}

/// The configuration itself.
fn configuration(problems: &[ConfigError], lang: Lang) -> Item {
    let item = Item::new(
        "configuration",
        lang.pick("Configurazione", "Configuration"),
        lang.pick(
            "lettura del file e delle variabili PECWATCH_* come fa serve",
            "reading the file and the PECWATCH_* variables as serve does",
        ),
    );
    if problems.is_empty() {
        return item.ok(lang.pick("valida", "valid"));
    }
    let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
    item.failed(
        list.join("; "),
        lang.pick(
            "correggere i valori indicati (pecwatch config check li mostra con la loro \
             origine); i controlli che seguono usano i valori predefiniti al loro posto",
            "correct the values named (pecwatch config check shows them with their \
             origin); the checks below use the defaults instead",
        ),
    )
}

/// The database: it connects, and its schema is this program's.
async fn database(config: &Config, lang: Lang) -> Item {
    let url = config.redacted_database_url();
    let item = Item::new(
        "database",
        "Database",
        format!(
            "{} {url} {}",
            lang.pick("connessione a", "connecting to"),
            lang.pick(
                "e lettura delle migrazioni applicate",
                "and reading the migrations applied"
            )
        ),
    );
    let postgres = !config.database.url.starts_with("sqlite:");
    let fix_connect = if postgres {
        lang.pick(
            "verificare che PostgreSQL sia in esecuzione e raggiungibile, che utente, password \
             e nome del database in [database] url (o PECWATCH_DATABASE_URL) siano giusti e \
             che il database esista (createdb)",
            "check that PostgreSQL is running and reachable, that the user, password and \
             database name in [database] url (or PECWATCH_DATABASE_URL) are right and that \
             the database exists (createdb)",
        )
    } else {
        lang.pick(
            "verificare che la directory del file in [database] url esista e che l'utente \
             che esegue pecwatch possa scriverci",
            "check that the directory of the file in [database] url exists and that the user \
             running pecwatch can write there",
        )
    };
    let connected =
        tokio::time::timeout(CONNECT_TIMEOUT * 3, Registry::connect(&config.database.url)).await;
    let registry = match connected {
        Ok(Ok(registry)) => registry,
        Ok(Err(error)) => return item.failed(error.to_string(), fix_connect),
        Err(_) => {
            return item.failed(
                lang.pick("nessuna risposta entro 15 s", "no answer within 15 s"),
                fix_connect,
            );
        }
    };
    let status = registry.schema_status().await;
    let backend = match registry.backend() {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    };
    registry.close().await;
    let status = match status {
        Ok(status) => status,
        Err(error) => return item.failed(error.to_string(), fix_connect),
    };
    let applied = status
        .migrations
        .iter()
        .filter(|m| m.applied_at.is_some())
        .count();
    let pending: Vec<String> = status
        .pending()
        .map(|m| format!("{:04} {}", m.version, m.description))
        .collect();
    if status.unknown().next().is_some() {
        return item.failed(
            lang.pick(
                "il database è stato aggiornato da una versione più recente di pecwatch",
                "the database was upgraded by a newer pecwatch",
            ),
            lang.pick(
                "installare la versione di pecwatch che l'ha aggiornato",
                "install the pecwatch version that upgraded it",
            ),
        );
    }
    if !pending.is_empty() {
        return item.warning(
            format!(
                "{backend}, {} {}",
                lang.pick("migrazioni da applicare:", "migrations pending:"),
                pending.join(", ")
            ),
            lang.pick(
                "pecwatch db migrate (pecwatch serve le applica all'avvio)",
                "pecwatch db migrate (pecwatch serve applies them when it starts)",
            ),
        );
    }
    item.ok(format!(
        "{backend}, {} ({applied} {})",
        lang.pick(
            "connesso, schema aggiornato",
            "connected, schema up to date"
        ),
        lang.pick("migrazioni", "migrations")
    ))
}

/// The resolver (or the root servers), then each profile's PEC mail host.
async fn dns(config: &Config, lang: Lang) -> Vec<Item> {
    let probe = match config.probe_config() {
        Ok(probe) => probe,
        Err(error) => {
            let item = Item::new(
                "resolver",
                "Resolver",
                lang.pick(
                    "lettura di [dns] e di /etc/resolv.conf",
                    "reading [dns] and /etc/resolv.conf",
                ),
            );
            return vec![item.failed(
                error.to_string(),
                lang.pick(
                    "indicare un resolver in [dns] resolver (o PECWATCH_DNS_RESOLVER)",
                    "name a resolver in [dns] resolver (or PECWATCH_DNS_RESOLVER)",
                ),
            )];
        }
    };
    let mut items = vec![resolver(config, &probe.resolution, lang).await];
    let prober = match Prober::new(probe) {
        Ok(prober) => prober,
        Err(error) => {
            items.push(
                Item::new(
                    "mx",
                    "MX",
                    lang.pick("avvio delle query DNS", "starting DNS queries"),
                )
                .failed(
                    error.to_string(),
                    lang.pick("vedere il messaggio", "see the message"),
                ),
            );
            return items;
        }
    };
    let mut names = vec![config.check.profile.trim().to_ascii_lowercase()];
    names.extend(config.profiles.keys().cloned());
    names.dedup();
    let resolver_works = items.iter().all(|item| item.status == Status::Ok);
    for name in names {
        if resolver_works {
            items.push(profile_host(config, &prober, &name, lang).await);
        } else {
            items.push(
                Item::new(
                    format!("mx:{name}"),
                    format!("MX {} {name}", lang.pick("del profilo", "of profile")),
                    lang.pick("niente", "nothing"),
                )
                .skipped(lang.pick(
                    "non provato: il resolver non risponde",
                    "not tried: the resolver does not answer",
                )),
            );
        }
    }
    items
}

/// The resolver answers a query (or a root server does).
async fn resolver(config: &Config, resolution: &Resolution, lang: Lang) -> Item {
    let probe = config.probe_config_using(resolution.clone());
    let (servers, recursion, what) = match resolution {
        Resolution::Recursive(address) => (
            vec![*address],
            true,
            format!("{} {address}", lang.pick("al resolver", "to the resolver")),
        ),
        Resolution::Iterative(roots) => (
            roots
                .iter()
                .map(|address| SocketAddr::new(*address, 53))
                .collect(),
            false,
            lang.pick(
                "ai root server dei root hints",
                "to the root servers of the root hints",
            )
            .to_owned(),
        ),
    };
    let item = Item::new(
        "resolver",
        "Resolver",
        format!(
            "{} {what}",
            lang.pick(
                "query . NS (i name server della radice)",
                "query . NS (the root's name servers)"
            )
        ),
    );
    let fix = match resolution {
        Resolution::Recursive(_) => lang.pick(
            "verificare che il resolver in [dns] resolver (o in /etc/resolv.conf) sia in \
             esecuzione e accetti query da questa macchina",
            "check that the resolver in [dns] resolver (or in /etc/resolv.conf) is running \
             and accepts queries from this machine",
        ),
        Resolution::Iterative(_) => lang.pick(
            "verificare il file [dns] root_hints e che i root server siano raggiungibili",
            "check the [dns] root_hints file and that the root servers are reachable",
        ),
    };
    let transport = match Transport::new(probe.transport.clone()) {
        Ok(transport) => transport,
        Err(error) => return item.failed(error.to_string(), fix),
    };
    let mut last = String::new();
    for server in servers {
        let reply = transport
            .query(server, &Name::root(), RecordType::NS, recursion)
            .await;
        if reply.outcome == Outcome::Answer {
            return item.ok(format!("{server} {}", lang.pick("risponde", "answers")));
        }
        last = format!("{server}: {}", reply.summary());
    }
    item.failed(last, fix)
}

/// A profile's PEC mail host resolves, to the profile's addresses when it lists them.
async fn profile_host(config: &Config, prober: &Prober, name: &str, lang: Lang) -> Item {
    let check = format!("mx:{name}");
    let title = format!("MX {} {name}", lang.pick("del profilo", "of profile"));
    let profile = match config.profile(name) {
        Ok(profile) => profile,
        Err(error) => {
            return Item::new(
                check,
                title,
                lang.pick("lettura del profilo", "reading the profile"),
            )
            .failed(
                error.to_string(),
                lang.pick(
                    "correggere [check] profile o [profiles]",
                    "correct [check] profile or [profiles]",
                ),
            );
        }
    };
    let item = Item::new(
        check,
        title,
        format!(
            "{} {} (A, AAAA)",
            lang.pick("risoluzione di", "resolving"),
            profile.mx_host
        ),
    );
    let mut unresolved = profile.clone();
    unresolved.mail_addresses.clear();
    let resolved = match prober.resolve_profile(&unresolved).await {
        Ok(resolved) => resolved,
        Err(error) => {
            return item.failed(
                error.to_string(),
                lang.pick(
                    "verificare il nome mx_host del profilo e che il resolver lo risolva",
                    "check the profile's mx_host and that the resolver resolves it",
                ),
            );
        }
    };
    let found: Vec<std::net::IpAddr> = resolved
        .mail_addresses
        .iter()
        .map(ipnet::IpNet::addr)
        .collect();
    let list = found
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let strangers = foreign_addresses(&profile, &found);
    if !strangers.is_empty() {
        return item.failed(
            format!(
                "{} → {list}: {} {}",
                profile.mx_host,
                strangers
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                lang.pick(
                    "non è tra i mail_addresses del profilo",
                    "is not among the profile's mail_addresses"
                )
            ),
            lang.pick(
                "aggiornare mail_addresses del profilo agli indirizzi dei server PEC del \
                 gestore (o verificare che il resolver dia le risposte giuste)",
                "update the profile's mail_addresses to the provider's PEC servers (or check \
                 that the resolver gives the right answers)",
            ),
        );
    }
    item.ok(format!("{} → {list}", profile.mx_host))
}

/// The addresses of the profile's MX host that are not among its `mail_addresses` (none
/// when the profile lists no addresses: then the host's addresses are the servers).
pub fn foreign_addresses(profile: &Profile, found: &[std::net::IpAddr]) -> Vec<std::net::IpAddr> {
    if profile.mail_addresses.is_empty() {
        return Vec::new();
    }
    found
        .iter()
        .copied()
        .filter(|address| {
            !profile
                .mail_addresses
                .iter()
                .any(|net| net.contains(address))
        })
        .collect()
}

/// The SMTP relay: connects, EHLO, STARTTLS or TLS, AUTH if configured; sends nothing.
async fn smtp(config: &Config, lang: Lang) -> Item {
    let smtp = &config.smtp;
    let url = crate::config::redact_url(&smtp.url);
    let tls = if smtp.url.starts_with("smtps://") {
        lang.pick("TLS dall'inizio", "TLS from the start")
    } else {
        lang.pick("STARTTLS se offerto", "STARTTLS when offered")
    };
    let auth = match &smtp.username {
        Some(user) => format!(", AUTH {} {user}", lang.pick("come", "as")),
        None => String::new(),
    };
    let ca = match &smtp.ca_file {
        Some(path) => format!(" ({} {})", lang.pick("CA", "CA"), path.display()),
        None => String::new(),
    };
    let item = Item::new(
        "smtp",
        "SMTP",
        format!(
            "{} {url}, EHLO, {tls}{ca}{auth}; {}",
            lang.pick("connessione a", "connecting to"),
            lang.pick("nessun messaggio inviato", "no message sent")
        ),
    );
    match crate::outbox::test_relay(smtp).await {
        Ok(()) => item.ok(lang.pick(
            "il relay accetta la connessione",
            "the relay accepts the connection",
        )),
        Err(failure) => {
            let fix = match failure.kind {
                crate::outbox::RelayFailure::Unreachable => lang.pick(
                    "verificare [smtp] url e che il server SMTP sia in esecuzione e raggiungibile",
                    "check [smtp] url and that the SMTP server is running and reachable",
                ),
                crate::outbox::RelayFailure::Tls => lang.pick(
                    "il certificato del relay non è riconosciuto: indicare la CA in [smtp] \
                     ca_file, o verificare il nome dell'host in [smtp] url",
                    "the relay's certificate is not trusted: name its CA in [smtp] ca_file, \
                     or check the host name in [smtp] url",
                ),
                crate::outbox::RelayFailure::Refused => lang.pick(
                    "il relay rifiuta: verificare [smtp] username e password (o password_file)",
                    "the relay refuses: check [smtp] username and password (or password_file)",
                ),
            };
            item.failed(failure.message, fix)
        }
    }
}

/// The provisioning primary accepts a TSIG-signed SOA query for the internal zone.
async fn provisioning(config: &Config, lang: Lang) -> Item {
    let title = lang.pick("Provisioning DNS", "DNS provisioning");
    let settings = match config.provision_settings() {
        Ok(Some(settings)) => settings,
        Ok(None) => {
            return Item::new("provision", title, lang.pick("niente", "nothing")).skipped(
                lang.pick(
                    "non configurato ([provision] primary vuoto)",
                    "not configured ([provision] primary empty)",
                ),
            );
        }
        Err(error) => {
            return Item::new(
                "provision",
                title,
                lang.pick("lettura di [provision]", "reading [provision]"),
            )
            .failed(
                error.to_string(),
                lang.pick("correggere [provision]", "correct [provision]"),
            );
        }
    };
    let (settings, key) = settings;
    let zone = settings.internal_zone.clone();
    let primary = settings.primary;
    let key_name = key.name().to_string();
    let item = Item::new(
        "provision",
        title,
        format!(
            "{} {zone} SOA {} {primary}, {} {key_name}",
            lang.pick("query", "query"),
            lang.pick("al primario", "to the primary"),
            lang.pick("firmata con la chiave TSIG", "signed with the TSIG key"),
        ),
    );
    let fix = lang.pick(
        "verificare che la chiave TSIG ([provision] tsig_key_file o tsig_key) sia quella \
         che il primario conosce (nome, algoritmo, segreto), che il primario la ammetta \
         (acl) e serva la zona [provision] internal_zone",
        "check that the TSIG key ([provision] tsig_key_file or tsig_key) is the one the \
         primary knows (name, algorithm, secret), that the primary allows it (acl) and \
         serves the zone [provision] internal_zone",
    );
    match Provisioner::new(settings, key).serves(&zone).await {
        Ok(true) => item.ok(format!(
            "{primary} {}",
            lang.pick(
                "accetta la query firmata e serve la zona",
                "accepts the signed query and serves the zone"
            )
        )),
        Ok(false) => item.failed(
            format!(
                "{primary} {} {zone}",
                lang.pick("non serve la zona", "does not serve the zone")
            ),
            fix,
        ),
        Err(error) => item.failed(error.message(lang), fix),
    }
}

/// What a certificate's expiry means today: its status and the whole days left.
pub fn certificate_state(not_after: Timestamp, now: Timestamp) -> (Status, i64) {
    let days = (not_after.as_second() - now.as_second()).div_euclid(86_400);
    let status = if not_after <= now {
        Status::Failed
    } else if days < CERTIFICATE_WARNING_DAYS {
        Status::Warning
    } else {
        Status::Ok
    };
    (status, days)
}

/// The index certificate: readable, and how long until it expires.
fn certificate(config: &Config, now: Timestamp, lang: Lang) -> Item {
    let path = &config.index.certificate;
    let title = lang.pick("Certificato dell'indice", "Index certificate");
    if path.as_os_str().is_empty() {
        return Item::new("certificate", title, lang.pick("niente", "nothing")).skipped(lang.pick(
            "non configurato ([index] certificate vuoto)",
            "not configured ([index] certificate empty)",
        ));
    }
    let item = Item::new(
        "certificate",
        title,
        format!("{} {}", lang.pick("lettura di", "reading"), path.display()),
    );
    let fix_read = lang.pick(
        "indicare in [index] certificate un file PEM leggibile dall'utente pecwatch",
        "name in [index] certificate a PEM file the pecwatch user can read",
    );
    let pem = match std::fs::read_to_string(path) {
        Ok(pem) => pem,
        Err(error) => return item.failed(error.to_string(), fix_read),
    };
    let der = match crate::index::certificate_from_pem(&pem) {
        Ok(der) => der,
        Err(error) => return item.failed(error.to_string(), fix_read),
    };
    let not_after = match x509_parser::parse_x509_certificate(&der) {
        Ok((_, certificate)) => {
            Timestamp::from_second(certificate.validity().not_after.timestamp())
        }
        Err(error) => return item.failed(error.to_string(), fix_read),
    };
    let Ok(not_after) = not_after else {
        return item.failed(
            lang.pick("data di scadenza illeggibile", "unreadable expiry date"),
            fix_read,
        );
    };
    let date = crate::clock::civil(not_after, &super::time_zone(config), super::TABLE_DATE);
    let renew = lang.pick(
        "rinnovare il certificato, sostituire il file e ripubblicare l'indice \
         (pecwatch index export)",
        "renew the certificate, replace the file and publish the index again \
         (pecwatch index export)",
    );
    match certificate_state(not_after, now) {
        (Status::Failed, _) => item.failed(
            format!("{} {date}", lang.pick("scaduto il", "expired on")),
            renew,
        ),
        (Status::Warning, days) => item.warning(
            format!(
                "{} {date}, {} {days} {}",
                lang.pick("scade il", "expires on"),
                lang.pick("tra", "in"),
                lang.pick("giorni", "days")
            ),
            renew,
        ),
        (_, days) => item.ok(format!(
            "{} {date}, {} {days} {}",
            lang.pick("scade il", "expires on"),
            lang.pick("tra", "in"),
            lang.pick("giorni", "days")
        )),
    }
}

/// Which service an address is for, and how a running pecwatch answers there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Listener {
    /// The web interface: `GET /healthz`.
    Web,
    /// The Postfix policy service: a policy request.
    Policy,
    /// The socketmap table: a netstring lookup.
    Socketmap,
    /// The Postfix service's metrics: `GET /metrics`.
    Metrics,
}

/// The listen addresses are free, or held by a running pecwatch.
async fn listen_addresses(config: &Config, lang: Lang) -> Vec<Item> {
    let mut wanted = vec![
        (
            "web",
            "[web] listen",
            config.web.listen.to_string(),
            Listener::Web,
        ),
        (
            "policy",
            "[postfix] policy_listen",
            config.postfix.policy_listen.to_string(),
            Listener::Policy,
        ),
        (
            "socketmap",
            "[postfix] socketmap_listen",
            config.postfix.socketmap_listen.to_string(),
            Listener::Socketmap,
        ),
    ];
    if !config.postfix.metrics_listen.trim().is_empty() {
        wanted.push((
            "metrics",
            "[postfix] metrics_listen",
            config.postfix.metrics_listen.trim().to_owned(),
            Listener::Metrics,
        ));
    }
    let mut items = Vec::new();
    for (id, key, address, listener) in wanted {
        items.push(listen_address(id, key, &address, listener, lang).await);
    }
    items
}

async fn listen_address(
    id: &str,
    key: &str,
    address: &str,
    listener: Listener,
    lang: Lang,
) -> Item {
    let item = Item::new(
        format!("listen:{id}"),
        format!("{} {key}", lang.pick("Indirizzo", "Address")),
        format!(
            "{} {address}",
            lang.pick("apertura in ascolto di", "listening on")
        ),
    );
    let Ok(socket) = address.parse::<SocketAddr>() else {
        return item.failed(
            format!(
                "{address:?}: {}",
                lang.pick("non è ADDR:PORTA", "not ADDR:PORT")
            ),
            format!("{} {key}", lang.pick("correggere", "correct")),
        );
    };
    let fix_taken = format!(
        "{} (ss -ltnp 'sport = :{}') {} {key}",
        lang.pick(
            "fermare il programma che la occupa",
            "stop the program holding it"
        ),
        socket.port(),
        lang.pick("o cambiare", "or change"),
    );
    match std::net::TcpListener::bind(socket) {
        Ok(free) => {
            drop(free);
            item.ok(lang.pick("libero", "free"))
        }
        Err(error) if error.kind() == ErrorKind::AddrInUse => {
            if answers_as_pecwatch(socket, listener).await {
                item.ok(lang.pick(
                    "in uso da pecwatch, che risponde",
                    "in use by pecwatch, which answers",
                ))
            } else {
                item.failed(
                    lang.pick("occupato da un altro programma", "held by another program"),
                    fix_taken,
                )
            }
        }
        Err(error) => item.failed(
            error.to_string(),
            format!(
                "{} {key}",
                lang.pick(
                    "usare un indirizzo di questa macchina e una porta permessa in",
                    "use an address of this machine and a permitted port in"
                )
            ),
        ),
    }
}

/// Whether what listens at `address` answers as pecwatch does there.
async fn answers_as_pecwatch(address: SocketAddr, listener: Listener) -> bool {
    let exchange = async {
        let mut stream = TcpStream::connect(address).await.ok()?;
        let request: Vec<u8> = match listener {
            Listener::Web => {
                format!("GET /healthz HTTP/1.0\r\nHost: {address}\r\n\r\n").into_bytes()
            }
            Listener::Metrics => {
                format!("GET /metrics HTTP/1.0\r\nHost: {address}\r\n\r\n").into_bytes()
            }
            Listener::Policy => b"request=smtpd_access_policy\nprotocol_state=RCPT\n\
                sender=doctor@example.invalid\nrecipient=doctor@example.invalid\n\n"
                .to_vec(),
            Listener::Socketmap => {
                let query = "virtual_mailbox_domains doctor.example.invalid";
                format!("{}:{query},", query.len()).into_bytes()
            }
        };
        stream.write_all(&request).await.ok()?;
        let mut answer = Vec::new();
        let mut buffer = [0u8; 4096];
        while answer.len() < 64 * 1024 {
            let read = stream.read(&mut buffer).await.ok()?;
            if read == 0 {
                break;
            }
            answer.extend_from_slice(&buffer[..read]);
            if recognised(listener, &answer) {
                return Some(true);
            }
        }
        Some(recognised(listener, &answer))
    };
    matches!(
        tokio::time::timeout(CONNECT_TIMEOUT, exchange).await,
        Ok(Some(true))
    )
}

/// Whether an answer is pecwatch's for that listener.
fn recognised(listener: Listener, answer: &[u8]) -> bool {
    let text = String::from_utf8_lossy(answer);
    match listener {
        Listener::Web => text.starts_with("HTTP/1.") && text.contains("\"database\""),
        Listener::Metrics => text.starts_with("HTTP/1.") && text.contains("pecwatch_"),
        Listener::Policy => text.starts_with("action=") && text.contains("\n\n"),
        Listener::Socketmap => text.split_once(':').is_some_and(|(length, rest)| {
            length.parse::<usize>().is_ok()
                && ["OK", "NOTFOUND", "PERM", "TEMP", "TIMEOUT"]
                    .iter()
                    .any(|word| rest.starts_with(word))
                && rest.ends_with(',')
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_expiry_is_an_error_a_warning_or_fine() {
        let now: Timestamp = "2026-12-05T12:00:00Z".parse().unwrap();
        let at = |text: &str| text.parse::<Timestamp>().unwrap();
        assert_eq!(
            certificate_state(at("2026-12-01T00:00:00Z"), now).0,
            Status::Failed
        );
        assert_eq!(
            certificate_state(at("2026-12-20T12:00:00Z"), now),
            (Status::Warning, 15)
        );
        assert_eq!(
            certificate_state(at("2027-01-04T12:00:00Z"), now),
            (Status::Ok, 30)
        );
    }

    #[test]
    fn profile_addresses_must_cover_the_host() {
        let mut profile = Profile::built_in("aruba").unwrap();
        let found = [
            "192.0.2.10".parse().unwrap(),
            "198.51.100.1".parse().unwrap(),
        ];
        assert!(foreign_addresses(&profile, &found).is_empty());
        profile.mail_addresses = vec!["192.0.2.0/24".parse().unwrap()];
        assert_eq!(
            foreign_addresses(&profile, &found),
            ["198.51.100.1".parse::<std::net::IpAddr>().unwrap()]
        );
    }

    #[test]
    fn pecwatch_answers_are_recognised() {
        assert!(recognised(
            Listener::Web,
            b"HTTP/1.1 200 OK\r\n\r\n{\"status\":\"ok\",\"database\":\"ok\"}"
        ));
        assert!(!recognised(Listener::Web, b"HTTP/1.1 200 OK\r\n\r\nhello"));
        assert!(recognised(Listener::Policy, b"action=DUNNO\n\n"));
        assert!(recognised(Listener::Socketmap, b"8:NOTFOUND,"));
        assert!(!recognised(Listener::Socketmap, b"220 smtp ready\r\n"));
    }

    #[test]
    fn report_marks_and_fixes() {
        let items = vec![
            Item::new("a", "A", "x").ok("bene"),
            Item::new("b", "B", "y").failed("male", "rimedio"),
        ];
        let shown = text(&items, Lang::It);
        assert!(shown.contains("✓ A: bene\n    provato: x\n"), "{shown}");
        assert!(
            shown.contains("✗ B: male\n    provato: y\n    come rimediare: rimedio\n"),
            "{shown}"
        );
        assert!(
            shown.ends_with("1 controlli falliti, 0 avvisi.\n"),
            "{shown}"
        );
    }
}

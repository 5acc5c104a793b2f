//! The configuration: `pecwatch.toml`, environment overrides, validation.
//!
//! # Where it comes from
//!
//! [`Config::load`] reads one TOML file: the path given (`--config`), else the one named by
//! `PECWATCH_CONFIG`, else `./pecwatch.toml` if it exists; with no file at all the built-in
//! defaults ([`Config::default`]) work as they are (SQLite `sqlite://pecwatch.db`, the system
//! resolver). `examples/pecwatch.toml` documents every key.
//!
//! Then every key can be overridden by an environment variable `PECWATCH_<SECTION>_<KEY>`
//! (`PECWATCH_DATABASE_URL`, `PECWATCH_DNS_ALLOW_PRIVATE`, `PECWATCH_LIFECYCLE_GRACE`, …).
//! The section is the word after `PECWATCH_`, the key is the rest, lower-cased. The value is
//! read as the type the key has: booleans accept `true`/`false`, `yes`/`no`, `on`/`off`,
//! `1`/`0`; lists are comma-separated (`PECWATCH_SWEEP_CANARIES=a.it,b.it`); strings are
//! taken verbatim, so a password `1234` stays a string. An empty value unsets an optional
//! key (`PECWATCH_SMTP_PASSWORD_FILE=`). Profile files are added or replaced with
//! `PECWATCH_PROFILES_<NAME>=path`. A variable of a known section with an unknown key is an
//! error (typo protection); variables of other sections (`PECWATCH_NOW`, `PECWATCH_LOG`,
//! `PECWATCH_CONFIG`, `PECWATCH_LAB_*`, …) belong to someone else and are ignored.
//!
//! Relative paths written in the file (`[dns] root_hints`, `[smtp] password_file`,
//! `[profiles]`) are relative to the file's directory; relative paths from the environment
//! are relative to the working directory.
//!
//! # Errors
//!
//! A [`ConfigError`] is one line that names the file or variable, the key and what is wrong
//! (`invalid configuration /etc/pecwatch.toml: [sweep] max_new_failure_share = 1.5: must be
//! between 0 and 1`). The caller prints it and exits with [`ConfigError::exit_code`] (2 for
//! bad configuration). Loading does not stop at the first problem: a wrong key of the file
//! or a wrong variable is reported and left at its default, every value is checked (after
//! each problem the value blamed is put back to its default and the values are checked
//! again), and several problems come as one [`ConfigError::Several`], one problem a line.
//! [`Config::check`] returns them with the configuration (`pecwatch config check`), and
//! [`Provenance::source`] says where each value came from.
//!
//! # Secrets
//!
//! `[smtp] password` (or the file named by `[smtp] password_file`, read at load) and any
//! password in `[database] url` or `[smtp] url` never appear in `Debug` output or in error
//! messages; use [`Config::redacted`] or [`Config::redacted_database_url`] to show them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use toml::{Table, Value};

pub use crate::activation::ActivationConfig;
use crate::activation::Settings as ActivationSettings;
pub use crate::check::CheckConfig;
use crate::dns::tsig::TsigKey;
pub use crate::index::IndexConfig;
use crate::lifecycle::{LifecycleError, Policy};
use crate::name::DomainName;
pub use crate::notice::NoticesConfig;
pub use crate::outbox::SmtpConfig;
use crate::outbox::check_mailbox;
pub use crate::postfix::PostfixConfig;
pub use crate::probe::DnsConfig;
use crate::probe::{
    ProbeConfig, ProbeError, Resolution, parse_resolver, read_root_hints, system_resolver,
};
use crate::profile::Profile;
pub use crate::provision::ProvisionConfig;
use crate::provision::{Provisioner, Settings as ProvisionSettings};
pub use crate::registry::DatabaseConfig;
pub use crate::settings::redact_url;
use crate::settings::{Invalid, REDACTED};
pub use crate::sweep::SweepConfig;
pub use crate::web::WebConfig;

/// The environment variable naming the configuration file.
pub const CONFIG_VAR: &str = "PECWATCH_CONFIG";
/// The prefix of every override variable.
pub const ENV_PREFIX: &str = "PECWATCH_";
/// The file read from the working directory when no path is given.
pub const DEFAULT_FILE: &str = "pecwatch.toml";
/// Where the system resolver is found when `[dns] resolver` and `root_hints` are empty.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";
/// The sections of the file, which are also the `<SECTION>` of override variables.
pub const SECTIONS: &[&str] = &[
    "database",
    "dns",
    "check",
    "profiles",
    "lifecycle",
    "sweep",
    "smtp",
    "notices",
    "web",
    "index",
    "postfix",
    "activation",
    "provision",
];

/// The origin of values nobody set.
const DEFAULT_ORIGIN: &str = "(built-in default)";
/// The section whose keys are free (profile names) rather than fixed.
const PROFILES: &str = "profiles";
/// Keys holding paths, made relative to the configuration file's directory.
const PATH_KEYS: [(&str, &str); 9] = [
    ("provision", "tsig_key_file"),
    ("provision", "zone_dir"),
    ("dns", "root_hints"),
    ("dns", "trust_anchor"),
    ("smtp", "password_file"),
    ("smtp", "ca_file"),
    ("sweep", "metrics_file"),
    ("notices", "templates"),
    ("index", "certificate"),
];
/// Accepted `[index] ldif_url` schemes.
const LDIF_URL_SCHEMES: [&str; 4] = ["https://", "http://", "ldaps://", "ldap://"];

// ---------------------------------------------------------------------------------------
// The sections
// ---------------------------------------------------------------------------------------

/// The whole configuration. `Default` is the built-in configuration that works with no file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[database]`: where domains, checks and notices are stored.
    pub database: DatabaseConfig,
    /// `[dns]`: how checks query the DNS.
    pub dns: DnsConfig,
    /// `[check]`: defaults for checks.
    pub check: CheckConfig,
    /// `[profiles]`: provider profile files by name, in addition to the built-in `aruba`
    /// and `infocert` (an entry with a built-in's name replaces it).
    pub profiles: BTreeMap<String, PathBuf>,
    /// `[lifecycle]`: confirmation, grace period, expiry warnings.
    pub lifecycle: Policy,
    /// `[sweep]`: the daily check of every monitored domain.
    pub sweep: SweepConfig,
    /// `[smtp]`: how notices are sent.
    pub smtp: SmtpConfig,
    /// `[notices]`: what notices say and who signs them.
    pub notices: NoticesConfig,
    /// `[web]`: the operators' web interface and API.
    pub web: WebConfig,
    /// `[index]`: this provider's entry in the providers' index (RFC 6109).
    pub index: IndexConfig,
    /// `[postfix]`: where `pecwatch postfix` listens.
    pub postfix: PostfixConfig,
    /// `[activation]`: orders, internal subdomains, set-password links.
    pub activation: ActivationConfig,
    /// `[provision]`: where and how the provider's own DNS is written at activation.
    pub provision: ProvisionConfig,
    /// Where each value came from, for error messages. Filled by [`Config::load`] and
    /// [`Config::from_sources`]; not part of the file.
    #[serde(skip)]
    pub provenance: Provenance,
    /// `[index] certificate` as read last, shared by the copies of this configuration.
    #[serde(skip)]
    certificate: CertificateCache,
}

/// The DER of `[index] certificate`, read once and again when the file changes (its
/// modification time or its length): the index is served on every request.
#[derive(Clone, Debug, Default)]
struct CertificateCache(Arc<Mutex<Option<CachedCertificate>>>);

#[derive(Debug)]
struct CachedCertificate {
    path: PathBuf,
    stamp: (SystemTime, u64),
    der: Vec<u8>,
}

impl CertificateCache {
    /// The DER read from `path` if it has not changed since.
    fn get(&self, path: &Path, stamp: (SystemTime, u64)) -> Option<Vec<u8>> {
        let cached = self.0.lock().ok()?;
        cached
            .as_ref()
            .filter(|c| c.path == path && c.stamp == stamp)
            .map(|c| c.der.clone())
    }

    fn put(&self, path: &Path, stamp: (SystemTime, u64), der: &[u8]) {
        if let Ok(mut cached) = self.0.lock() {
            *cached = Some(CachedCertificate {
                path: path.to_path_buf(),
                stamp,
                der: der.to_vec(),
            });
        }
    }
}

impl AsRef<ProvisionConfig> for Config {
    fn as_ref(&self) -> &ProvisionConfig {
        &self.provision
    }
}

// ---------------------------------------------------------------------------------------
// Errors and provenance
// ---------------------------------------------------------------------------------------

/// Why the configuration cannot be used. Every message is one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read configuration {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A value is missing, malformed or out of range.
    #[error("invalid configuration {origin}: {problem}")]
    Invalid {
        /// The file or environment variable the value came from (`(built-in default)` for
        /// a default).
        origin: String,
        /// The key, its value (secrets redacted) and what is wrong.
        problem: String,
    },
    /// A profile name that is neither built in nor in `[profiles]`.
    #[error("unknown profile {name:?}: known profiles are {known}")]
    UnknownProfile {
        /// The name asked for.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// No system resolver to use (`/etc/resolv.conf` has no `nameserver`): a problem of
    /// the environment rather than of the configuration.
    #[error("{0}")]
    NoResolver(ProbeError),
    /// One key's value is wrong: like [`ConfigError::Invalid`], naming the key, so that
    /// checking can go on past it ([`Config::check`]).
    #[error("invalid configuration {origin}: {problem}")]
    Key {
        /// The file or environment variable the value came from.
        origin: String,
        /// The section (`dns`).
        section: String,
        /// The key (`timeout_ms`).
        key: String,
        /// The key, its value (secrets redacted) and what is wrong.
        problem: String,
    },
    /// Several problems, all found at once: one per line.
    #[error("{}", several(.0))]
    Several(Vec<ConfigError>),
}

/// The message of [`ConfigError::Several`]: a first line, then one problem a line.
fn several(problems: &[ConfigError]) -> String {
    let mut text = format!("invalid configuration: {} problems", problems.len());
    for problem in problems {
        text.push_str("\n  - ");
        text.push_str(&problem.to_string());
    }
    text
}

impl ConfigError {
    /// The process exit status for this error: 2 (bad configuration), or 3 when the
    /// environment, not the configuration, is at fault.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::NoResolver(_) => 3,
            Self::Read { .. }
            | Self::Invalid { .. }
            | Self::Key { .. }
            | Self::UnknownProfile { .. } => 2,
            Self::Several(problems) => problems.iter().map(Self::exit_code).max().unwrap_or(2),
        }
    }

    /// The `(section, key)` this error blames, if it names one.
    pub fn key(&self) -> Option<(&str, &str)> {
        match self {
            Self::Key { section, key, .. } => Some((section, key)),
            _ => None,
        }
    }

    /// One error for a list of problems: the problem itself when there is one.
    fn from_problems(mut problems: Vec<ConfigError>) -> Option<ConfigError> {
        match problems.len() {
            0 => None,
            1 => problems.pop(),
            _ => Some(Self::Several(problems)),
        }
    }
}

/// A configuration read with every problem found, rather than stopping at the first
/// ([`Config::check`]).
#[derive(Debug)]
pub struct Checked {
    /// The configuration, with the values that are wrong left at their defaults.
    pub config: Config,
    /// Every problem, in the order found: the file's, the environment's, then the
    /// values'.
    pub problems: Vec<ConfigError>,
}

impl Checked {
    /// The configuration if it has no problem, else the problems as one error.
    pub fn into_result(self) -> Result<Config, ConfigError> {
        match ConfigError::from_problems(self.problems) {
            None => Ok(self.config),
            Some(error) => Err(error),
        }
    }
}

/// Where one value came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Origin {
    /// Nobody set it: the built-in default.
    Default,
    /// The configuration file (its path).
    File(String),
    /// An environment variable (its name).
    Environment(String),
}

/// Where the configuration's values came from.
#[derive(Clone, Debug, Default)]
pub struct Provenance {
    /// The file's name, if one was read.
    file: Option<String>,
    /// `(section, key)` pairs set in the file.
    file_keys: BTreeSet<(String, String)>,
    /// `(section, key)` pairs set by an environment variable, with its name.
    env: BTreeMap<(String, String), String>,
}

impl Provenance {
    /// The configuration file that was read, if any.
    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }

    /// Where a key's value came from, as a kind.
    pub fn source(&self, section: &str, key: &str) -> Origin {
        let id = (section.to_owned(), key.to_owned());
        if let Some(var) = self.env.get(&id) {
            return Origin::Environment(var.clone());
        }
        match &self.file {
            Some(file) if self.file_keys.contains(&id) => Origin::File(file.clone()),
            _ => Origin::Default,
        }
    }

    /// Where a key's value came from: the environment variable, the file, or
    /// `(built-in default)`.
    pub fn origin(&self, section: &str, key: &str) -> String {
        let id = (section.to_owned(), key.to_owned());
        if let Some(var) = self.env.get(&id) {
            return var.clone();
        }
        match &self.file {
            Some(file) if self.file_keys.contains(&id) => file.clone(),
            _ => DEFAULT_ORIGIN.into(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------

impl Config {
    /// Loads the configuration: the file at `path`, else the one named by
    /// `PECWATCH_CONFIG`, else `./pecwatch.toml` if it exists, else the built-in defaults;
    /// then the `PECWATCH_<SECTION>_<KEY>` overrides of the process environment; then
    /// reads `[smtp] password_file` and validates everything (profile and root hints files
    /// included).
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::check(path)?.into_result()
    }

    /// Reads the configuration as [`Config::load`] does, but finds every problem rather
    /// than stopping at the first: for `pecwatch config check` and `pecwatch doctor`.
    /// Fails only when the file cannot be read at all.
    pub fn check(path: Option<&Path>) -> Result<Checked, ConfigError> {
        let env = process_env()?;
        let named = env
            .iter()
            .find(|(var, value)| var == CONFIG_VAR && !value.is_empty())
            .map(|(_, value)| PathBuf::from(value));
        let local = Path::new(DEFAULT_FILE);
        let file = match path {
            Some(path) => Some(path.to_path_buf()),
            None => named.or_else(|| local.is_file().then(|| local.to_path_buf())),
        };
        let file = file
            .map(|path| match std::fs::read_to_string(&path) {
                Ok(text) => Ok((path, text)),
                Err(source) => Err(ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                }),
            })
            .transpose()?;
        Ok(match &file {
            Some((path, text)) => Self::check_sources(Some(text), Some(path), env),
            None => Self::check_sources(None, None, env),
        })
    }

    /// Builds the configuration from a file's text (`None`: no file), the file's path
    /// (`origin`: named in errors and the base of relative paths) and environment variables
    /// (only `PECWATCH_*` ones of known sections matter). Does not read the process
    /// environment; it reads only the files the configuration names.
    pub fn from_sources(
        toml_text: Option<&str>,
        origin: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        Self::check_sources(toml_text, origin, env).into_result()
    }

    /// [`Config::from_sources`] finding every problem: a wrong key or value is reported
    /// and left at its default, and reading goes on.
    pub fn check_sources(
        toml_text: Option<&str>,
        origin: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Checked {
        let label = origin.map_or_else(|| "<configuration>".into(), |p| p.display().to_string());
        let mut problems = Vec::new();
        let mut provenance = Provenance::default();
        let mut table = Table::new();
        if let Some(text) = toml_text {
            match parse_file(text, &label) {
                Ok(parsed) => table = parsed,
                Err((parsed, found)) => {
                    table = parsed;
                    problems.extend(found);
                }
            }
            provenance.file = Some(label.clone());
            for (section, keys) in &table {
                if let Value::Table(keys) = keys {
                    for key in keys.keys() {
                        provenance.file_keys.insert((section.clone(), key.clone()));
                    }
                }
            }
            if let Some(base) = origin.and_then(Path::parent) {
                rebase_paths(&mut table, base);
            }
        }

        let (defaults, template) =
            match (to_table(&Config::default()), to_table(&Config::template())) {
                (Ok(defaults), Ok(template)) => (defaults, template),
                (Err(error), _) | (_, Err(error)) => {
                    problems.push(error);
                    return Checked {
                        config: Config::default(),
                        problems,
                    };
                }
            };
        for (var, raw) in env {
            let change = match parse_override(&var, &raw, &defaults, &template) {
                Ok(Some(change)) => change,
                Ok(None) => continue,
                Err(error) => {
                    problems.push(error);
                    continue;
                }
            };
            let mut changed = table.clone();
            let section = changed
                .entry(change.section.clone())
                .or_insert_with(|| Value::Table(Table::new()));
            if let Value::Table(section) = section {
                match change.value {
                    Some(value) => section.insert(change.key.clone(), value),
                    None => section.remove(&change.key),
                };
            }
            // Deserialize after each override, so a bad value is blamed on its variable.
            if let Err(error) = Value::Table(changed.clone()).try_into::<Config>() {
                problems.push(ConfigError::Key {
                    origin: var.clone(),
                    problem: format!(
                        "[{}] {} = {}: {}",
                        change.section,
                        change.key,
                        shown(&change.section, &change.key, &raw),
                        one_line(error.message())
                    ),
                    section: change.section,
                    key: change.key,
                });
                continue;
            }
            table = changed;
            provenance.env.insert((change.section, change.key), var);
        }

        let mut config: Config = match Value::Table(table).try_into() {
            Ok(config) => config,
            Err(error) => {
                let error: toml::de::Error = error;
                problems.push(ConfigError::Invalid {
                    origin: provenance
                        .file
                        .clone()
                        .unwrap_or_else(|| DEFAULT_ORIGIN.into()),
                    problem: one_line(error.message()),
                });
                Config::default()
            }
        };
        config.provenance = provenance;
        if let Err(error) = config.read_password_file() {
            config.smtp.password_file = None;
            problems.push(error);
        }
        problems.extend(config.validate_all());
        if let Ok(canaries) = config.canaries() {
            config.sweep.canaries = canaries.iter().map(ToString::to_string).collect();
        }
        Checked { config, problems }
    }

    /// Every problem [`Config::validate`] finds: after each, the value blamed is put back
    /// to its default and the values are checked again. The values that are wrong are
    /// left at their defaults.
    fn validate_all(&mut self) -> Vec<ConfigError> {
        let mut problems: Vec<ConfigError> = Vec::new();
        let Ok(defaults) = to_table(&Config::default()) else {
            return self.validate().err().into_iter().collect();
        };
        // Every key can be blamed once at most; the bound is only a safeguard.
        for _ in 0..=Config::keys().len() + self.profiles.len() {
            let Err(error) = self.validate() else { break };
            let message = error.to_string();
            let repeated = problems.iter().any(|p| p.to_string() == message);
            let blamed = error.key().map(|(s, k)| (s.to_owned(), k.to_owned()));
            if !repeated {
                problems.push(error);
            }
            let Some((section, key)) = blamed.filter(|_| !repeated) else {
                break;
            };
            let Ok(mut table) = to_table(self) else { break };
            let default = defaults
                .get(&section)
                .and_then(Value::as_table)
                .and_then(|keys| keys.get(&key))
                .cloned();
            if let Some(keys) = table.get_mut(&section).and_then(Value::as_table_mut) {
                match default {
                    Some(value) => keys.insert(key, value),
                    None => keys.remove(&key),
                };
            }
            let Ok(mut reset) = Value::Table(table).try_into::<Config>() else {
                break;
            };
            reset.provenance = std::mem::take(&mut self.provenance);
            *self = reset;
        }
        problems
    }

    /// The defaults with every optional key and list filled with a sample, so that
    /// serializing it shows every key and the type of each (and of list elements).
    fn template() -> Config {
        let mut config = Config::default();
        config.sweep.canaries = vec!["pec.example.it".into()];
        config.sweep.operators = vec!["ops@example.it".into()];
        config.smtp.username = Some(String::new());
        config.smtp.password = Some(String::new());
        config.smtp.password_file = Some(PathBuf::new());
        config.smtp.ca_file = Some(PathBuf::new());
        config.activation.forbidden_words = vec!["word".into()];
        config.provision.tsig_key_file = Some(PathBuf::new());
        config.provision.tsig_key = Some(String::new());
        config.provision.zone_dir = Some(PathBuf::new());
        config.provision.nameservers = vec!["dns1.example.it".into()];
        config.web.trusted_proxies = vec!["127.0.0.1".into()];
        config
    }

    /// Every fixed `(section, key)` of the configuration, in file order of sections and
    /// alphabetical order of keys. `[profiles]` has no fixed keys and is not listed.
    pub fn keys() -> Vec<(String, String)> {
        let Ok(template) = to_table(&Config::template()) else {
            return Vec::new();
        };
        SECTIONS
            .iter()
            .filter_map(|section| Some((*section, template.get(*section)?.as_table()?)))
            .flat_map(|(section, keys)| {
                keys.keys()
                    .map(move |key| (section.to_owned(), key.to_owned()))
            })
            .collect()
    }

    /// The environment variable that overrides a key: `PECWATCH_DNS_ALLOW_PRIVATE`.
    pub fn env_var(section: &str, key: &str) -> String {
        format!("{ENV_PREFIX}{section}_{key}").to_ascii_uppercase()
    }

    /// Reads `[smtp] password_file` into `[smtp] password`.
    fn read_password_file(&mut self) -> Result<(), ConfigError> {
        let Some(path) = self.smtp.password_file.clone() else {
            return Ok(());
        };
        let shown_path = format!("{:?}", path.display().to_string());
        if self.smtp.password.is_some() {
            let password_origin = self.provenance.origin("smtp", "password");
            return Err(self.invalid(
                "smtp",
                "password_file",
                &shown_path,
                format!("set together with [smtp] password (from {password_origin}): use one"),
            ));
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| self.invalid("smtp", "password_file", &shown_path, e))?;
        let password = text.trim_end_matches(['\n', '\r']);
        if password.is_empty() {
            return Err(self.invalid("smtp", "password_file", &shown_path, "the file is empty"));
        }
        self.smtp.password = Some(password.to_owned());
        Ok(())
    }
}

/// The `PECWATCH_*` variables of the process whose section is a configuration section,
/// plus `PECWATCH_CONFIG`.
fn process_env() -> Result<Vec<(String, String)>, ConfigError> {
    let mut env = Vec::new();
    for (var, value) in std::env::vars_os() {
        let Some(var) = var.to_str() else { continue };
        if var != CONFIG_VAR && override_section(var).is_none() {
            continue;
        }
        match value.into_string() {
            Ok(value) => env.push((var.to_owned(), value)),
            Err(_) => {
                return Err(ConfigError::Invalid {
                    origin: var.to_owned(),
                    problem: "the value is not valid UTF-8".into(),
                });
            }
        }
    }
    Ok(env)
}

/// The (lower-case) section and key of an override variable, if its section is known.
fn override_section(var: &str) -> Option<(&'static str, String)> {
    let rest = var.strip_prefix(ENV_PREFIX)?;
    let (section, key) = rest.split_once('_').unwrap_or((rest, ""));
    let section = SECTIONS
        .iter()
        .copied()
        .find(|known| known.eq_ignore_ascii_case(section))?;
    Some((section, key.to_ascii_lowercase()))
}

/// One environment override: `None` removes the key.
struct Override {
    section: String,
    key: String,
    value: Option<Value>,
}

/// Reads one environment variable as an override; `Ok(None)` if it is not one.
fn parse_override(
    var: &str,
    raw: &str,
    defaults: &Table,
    template: &Table,
) -> Result<Option<Override>, ConfigError> {
    let Some((section, key)) = override_section(var) else {
        return Ok(None);
    };
    let invalid = |problem: String| ConfigError::Invalid {
        origin: var.to_owned(),
        problem,
    };
    if section == PROFILES {
        if key.is_empty() {
            return Err(invalid(format!(
                "name the profile: {ENV_PREFIX}PROFILES_<NAME>=PATH"
            )));
        }
        let value = (!raw.is_empty()).then(|| Value::String(raw.to_owned()));
        return Ok(Some(Override {
            section: section.into(),
            key,
            value,
        }));
    }
    let known = template.get(section).and_then(Value::as_table);
    let Some(sample) = known.and_then(|keys| keys.get(&key)) else {
        let keys = known
            .map(|keys| {
                keys.keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        return Err(invalid(format!(
            "[{section}] has no key {key:?} (keys: {keys})"
        )));
    };
    let optional = defaults
        .get(section)
        .and_then(Value::as_table)
        .is_none_or(|keys| !keys.contains_key(&key));
    let value = if optional && raw.is_empty() {
        None
    } else {
        let value = coerce(raw, sample).map_err(|problem| {
            invalid(format!(
                "[{section}] {key} = {}: {problem}",
                shown(section, &key, raw)
            ))
        })?;
        Some(value)
    };
    Ok(Some(Override {
        section: section.into(),
        key,
        value,
    }))
}

/// Reads an environment value as the type of `sample`.
fn coerce(raw: &str, sample: &Value) -> Result<Value, String> {
    let text = raw.trim();
    match sample {
        Value::String(_) => Ok(Value::String(raw.to_owned())),
        Value::Boolean(_) => match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(Value::Boolean(true)),
            "false" | "no" | "off" | "0" => Ok(Value::Boolean(false)),
            _ => Err("expected true or false (also yes/no, on/off, 1/0)".into()),
        },
        Value::Integer(_) => text
            .parse()
            .map(Value::Integer)
            .map_err(|_| "expected an integer".into()),
        Value::Float(_) => text
            .parse()
            .map(Value::Float)
            .map_err(|_| "expected a number".into()),
        Value::Array(samples) => text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| match samples.first() {
                Some(sample) => coerce(item, sample),
                None => Ok(Value::String(item.to_owned())),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Table(_) | Value::Datetime(_) => Err("cannot be set from the environment".into()),
    }
}

/// Parses the file, with errors located by line and key. On errors, also returns the
/// keys that are right (a file that is not TOML at all: none), so that checking goes on.
fn parse_file(text: &str, label: &str) -> Result<Table, (Table, Vec<ConfigError>)> {
    let invalid = |error: &toml::de::Error| ConfigError::Invalid {
        origin: label.to_owned(),
        problem: describe_toml_error(text, error),
    };
    // Deserializing into `Config` first gives the precise errors (unknown keys, types).
    let first = toml::from_str::<Config>(text).err();
    let mut table = match toml::from_str::<Table>(text) {
        Ok(table) => table,
        Err(error) => return Err((Table::new(), vec![invalid(&error)])),
    };
    let Some(first) = first else {
        return Ok(table);
    };
    // Which keys are wrong: each is tried alone on the defaults.
    let mut wrong = Vec::new();
    for (section, keys) in &table {
        let alone = |key: Option<(&String, &Value)>| {
            let mut one = Table::new();
            let value = match key {
                Some((key, value)) => {
                    Value::Table(Table::from_iter([(key.clone(), value.clone())]))
                }
                None => keys.clone(),
            };
            one.insert(section.clone(), value);
            Value::Table(one).try_into::<Config>().err()
        };
        match keys {
            Value::Table(entries)
                if section != PROFILES && SECTIONS.contains(&section.as_str()) =>
            {
                for (key, value) in entries {
                    if let Some(error) = alone(Some((key, value))) {
                        wrong.push((section.clone(), Some(key.clone()), error));
                    }
                }
            }
            _ => {
                if let Some(error) = alone(None) {
                    wrong.push((section.clone(), None, error));
                }
            }
        }
    }
    if wrong.len() <= 1 {
        // One wrong key (or a problem no single key shows): the precise message.
        let problem = match wrong.pop() {
            Some((section, Some(key), _)) => {
                remove_key(&mut table, &section, Some(&key));
                ConfigError::Key {
                    origin: label.to_owned(),
                    problem: describe_toml_error(text, &first),
                    section,
                    key,
                }
            }
            Some((section, None, _)) => {
                remove_key(&mut table, &section, None);
                invalid(&first)
            }
            None => {
                table = Table::new();
                invalid(&first)
            }
        };
        return Err((table, vec![problem]));
    }
    let problems = wrong
        .into_iter()
        .map(|(section, key, error)| {
            remove_key(&mut table, &section, key.as_deref());
            let message = one_line(error.message());
            match key {
                Some(key) => ConfigError::Key {
                    origin: label.to_owned(),
                    problem: format!(
                        "{}[{section}] {key}: {message}",
                        line_of(text, &section, &key)
                    ),
                    section,
                    key,
                },
                None => ConfigError::Invalid {
                    origin: label.to_owned(),
                    problem: format!("[{section}]: {message}"),
                },
            }
        })
        .collect();
    Err((table, problems))
}

/// Removes a key (or a whole section) from a parsed file.
fn remove_key(table: &mut Table, section: &str, key: Option<&str>) {
    match key {
        Some(key) => {
            if let Some(keys) = table.get_mut(section).and_then(Value::as_table_mut) {
                keys.remove(key);
            }
        }
        None => {
            table.remove(section);
        }
    }
}

/// `line 12 ` for the line of `key` in `[section]` of a file's text, if found.
fn line_of(text: &str, section: &str, key: &str) -> String {
    let mut current = String::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('[') {
            current = line.trim_matches(['[', ']']).trim().to_owned();
        } else if current == section
            && line
                .split_once('=')
                .is_some_and(|(k, _)| k.trim().trim_matches('"') == key)
        {
            return format!("line {} ", index + 1);
        }
    }
    String::new()
}

/// `line 12 ([dns] resolvr): unknown field …` from a TOML error.
fn describe_toml_error(text: &str, error: &toml::de::Error) -> String {
    let message = one_line(error.message());
    let Some(span) = error.span() else {
        return message;
    };
    let before = text.get(..span.start).unwrap_or(text);
    let line_index = before.matches('\n').count();
    let line = text.lines().nth(line_index).unwrap_or("").trim();
    let previous: Vec<&str> = text.lines().take(line_index).collect();
    let section = previous
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('['))
        .map(|header| header.trim_matches(['[', ']']).trim());
    let key = (!line.starts_with('['))
        .then(|| line.split_once('=').map(|(key, _)| key.trim()))
        .flatten();
    let place = match (section, key) {
        (Some(section), Some(key)) => format!(" ([{section}] {key})"),
        (None, Some(key)) => format!(" ({key})"),
        (Some(section), None) if !line.starts_with('[') => format!(" ([{section}])"),
        _ => String::new(),
    };
    format!("line {}{place}: {message}", line_index + 1)
}

/// Joins a possibly multi-line message into one line.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Serializes a configuration into a TOML table.
fn to_table(config: &Config) -> Result<Table, ConfigError> {
    match Value::try_from(config) {
        Ok(Value::Table(table)) => Ok(table),
        Ok(_) => Err(ConfigError::Invalid {
            origin: DEFAULT_ORIGIN.into(),
            problem: "the defaults are not a table".into(),
        }),
        Err(error) => Err(ConfigError::Invalid {
            origin: DEFAULT_ORIGIN.into(),
            problem: one_line(&error.to_string()),
        }),
    }
}

/// Makes the relative paths of the file relative to `base` (the file's directory).
fn rebase_paths(table: &mut Table, base: &Path) {
    if base.as_os_str().is_empty() {
        return;
    }
    let rebase = |value: &mut Value| {
        if let Value::String(path) = value
            && !path.is_empty()
            && Path::new(path.as_str()).is_relative()
            && let Some(joined) = base.join(path.as_str()).to_str()
        {
            *path = joined.to_owned();
        }
    };
    for (section, key) in PATH_KEYS {
        if let Some(value) = table
            .get_mut(section)
            .and_then(Value::as_table_mut)
            .and_then(|keys| keys.get_mut(key))
        {
            rebase(value);
        }
    }
    if let Some(profiles) = table.get_mut(PROFILES).and_then(Value::as_table_mut) {
        profiles.iter_mut().for_each(|(_, value)| rebase(value));
    }
}

/// A value for an error message: quoted, secrets redacted.
fn shown(section: &str, key: &str, raw: &str) -> String {
    match (section, key) {
        ("smtp", "password") | ("provision", "tsig_key") => REDACTED.into(),
        ("database", "url") | ("smtp", "url") => format!("{:?}", redact_url(raw)),
        _ => format!("{raw:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------

impl Config {
    /// An [`ConfigError::Invalid`] for a key, naming where its value came from.
    fn invalid(
        &self,
        section: &str,
        key: &str,
        shown: &str,
        problem: impl fmt::Display,
    ) -> ConfigError {
        ConfigError::Key {
            origin: self.provenance.origin(section, key),
            problem: format!(
                "[{section}] {key} = {shown}: {}",
                one_line(&problem.to_string())
            ),
            section: section.to_owned(),
            key: key.to_owned(),
        }
    }

    /// The error of a component's [`Invalid`] key in `section`.
    fn blame(&self, section: &str, invalid: Invalid) -> ConfigError {
        self.invalid(section, invalid.key, &invalid.shown, invalid.problem)
    }

    /// Checks every value: ranges, names, addresses, the time zone, and that the profile
    /// and root hints files load. [`Config::load`] and [`Config::from_sources`] call it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_database()?;
        self.validate_dns()?;
        self.validate_profiles()?;
        self.lifecycle.validate().map_err(|error| match error {
            LifecycleError::InvalidPolicy { field, problem } => {
                let value = to_table(self)
                    .ok()
                    .and_then(|t| t.get("lifecycle")?.get(field).map(ToString::to_string))
                    .unwrap_or_default();
                self.invalid("lifecycle", field, &value, problem)
            }
            other => ConfigError::Invalid {
                origin: self
                    .provenance
                    .file
                    .clone()
                    .unwrap_or_else(|| DEFAULT_ORIGIN.into()),
                problem: other.to_string(),
            },
        })?;
        self.validate_sweep()?;
        self.validate_smtp()?;
        self.validate_index()?;
        self.validate_activation()?;
        self.validate_provision()?;
        self.validate_web()
    }

    fn validate_database(&self) -> Result<(), ConfigError> {
        self.database
            .validate()
            .map_err(|invalid| self.blame("database", invalid))
    }

    fn validate_dns(&self) -> Result<(), ConfigError> {
        self.dns
            .validate()
            .map_err(|invalid| self.blame("dns", invalid))
    }

    fn validate_profiles(&self) -> Result<(), ConfigError> {
        for (name, path) in &self.profiles {
            let valid_name = !name.is_empty()
                && name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            if !valid_name {
                return Err(self.invalid(
                    PROFILES,
                    name,
                    &format!("{:?}", path.display().to_string()),
                    "profile names are lower-case letters, digits, '-' and '_'",
                ));
            }
            self.profile_file(name, path)?;
        }
        let name = &self.check.profile;
        self.profile(name).map_err(|error| match error {
            ConfigError::UnknownProfile { known, .. } => self.invalid(
                "check",
                "profile",
                &format!("{name:?}"),
                format!("unknown profile; known profiles are {known}"),
            ),
            other => other,
        })?;
        Ok(())
    }

    fn validate_sweep(&self) -> Result<(), ConfigError> {
        self.sweep
            .validate()
            .map_err(|invalid| self.blame("sweep", invalid))
    }

    fn validate_smtp(&self) -> Result<(), ConfigError> {
        self.smtp
            .validate()
            .map_err(|invalid| self.blame("smtp", invalid))
    }
}

impl Config {
    fn validate_provision(&self) -> Result<(), ConfigError> {
        self.provision_settings().map(|_| ())
    }

    /// The provisioning settings and TSIG key, read and checked (the key file is read
    /// here); `None` when `[provision] primary` is empty (provisioning off).
    pub fn provision_settings(&self) -> Result<Option<(ProvisionSettings, TsigKey)>, ConfigError> {
        self.provision
            .settings()
            .map_err(|invalid| self.blame("provision", invalid))
    }

    /// The provisioner of `[provision]`; `None` when `[provision] primary` is empty.
    pub fn provisioner(&self) -> Result<Option<Provisioner>, ConfigError> {
        Ok(self
            .provision_settings()?
            .map(|(settings, key)| Provisioner::new(settings, key)))
    }

    fn validate_activation(&self) -> Result<(), ConfigError> {
        let zone = self.provision.internal_zone.trim();
        if !zone.is_empty()
            && let Err(error) = DomainName::parse(zone)
        {
            return Err(self.invalid("provision", "internal_zone", &format!("{zone:?}"), error));
        }
        self.activation
            .validate()
            .map_err(|invalid| self.blame("activation", invalid))
    }

    /// The rules of activation, from `[activation]`, `[provision] internal_zone` and the
    /// lifecycle policy.
    pub fn activation_settings(&self) -> ActivationSettings {
        ActivationSettings::new(
            &self.activation,
            &self.provision.internal_zone,
            self.policy(),
        )
    }

    fn validate_index(&self) -> Result<(), ConfigError> {
        let index = &self.index;
        let bad = |key: &str, value: &str, problem: &str| {
            self.invalid("index", key, &format!("{value:?}"), problem)
        };
        let texts = [
            ("provider_name", &index.provider_name),
            ("provider_unit", &index.provider_unit),
            ("description", &index.description),
            ("mail_receipt", &index.mail_receipt),
            ("ldif_url", &index.ldif_url),
            ("base_dn", &index.base_dn),
        ];
        for (key, value) in texts {
            if value.chars().any(char::is_control) {
                return Err(bad(key, value, "holds a control character (a line break?)"));
            }
            if value.trim() != value.as_str() {
                return Err(bad(key, value, "has leading or trailing spaces"));
            }
        }
        let receipt = &index.mail_receipt;
        if !receipt.is_empty() {
            let valid = if receipt.contains('@') {
                !receipt.contains(['<', '>']) && check_mailbox(receipt).is_ok()
            } else {
                DomainName::parse(receipt).is_ok()
            };
            if !valid {
                return Err(bad(
                    "mail_receipt",
                    receipt,
                    "expected an address user@domain or a host name",
                ));
            }
        }
        let url = &index.ldif_url;
        if !url.is_empty() {
            let rest = LDIF_URL_SCHEMES
                .iter()
                .find_map(|scheme| url.strip_prefix(scheme));
            if rest.is_none_or(|rest| rest.is_empty() || rest.contains(char::is_whitespace)) {
                return Err(bad(
                    "ldif_url",
                    url,
                    "expected an https://, http://, ldaps:// or ldap:// URL without spaces",
                ));
            }
        }
        let base = &index.base_dn;
        let rdns_ok = base.split(',').all(|rdn| {
            rdn.split_once('=')
                .is_some_and(|(kind, value)| !kind.trim().is_empty() && !value.trim().is_empty())
        });
        if !rdns_ok {
            return Err(bad(
                "base_dn",
                base,
                "expected a DN such as o=postacert (attribute=value, comma-separated)",
            ));
        }
        if !index.certificate.as_os_str().is_empty() {
            self.index_certificate()?;
        }
        Ok(())
    }

    /// The DER of `[index] certificate`: read once, and again when the file changes.
    fn index_certificate(&self) -> Result<Vec<u8>, ConfigError> {
        let path = &self.index.certificate;
        let shown_path = format!("{:?}", path.display().to_string());
        if path.as_os_str().is_empty() {
            return Err(self.invalid(
                "index",
                "certificate",
                &shown_path,
                "the index needs the provider's certificate (a PEM file)",
            ));
        }
        let stamp = std::fs::metadata(path)
            .ok()
            .and_then(|meta| Some((meta.modified().ok()?, meta.len())));
        if let Some(der) = stamp.and_then(|stamp| self.certificate.get(path, stamp)) {
            return Ok(der);
        }
        let text = std::fs::read(path).map_err(|e| {
            self.invalid(
                "index",
                "certificate",
                &shown_path,
                format!("cannot read it: {e}"),
            )
        })?;
        let der = crate::index::certificate_from_pem(&String::from_utf8_lossy(&text))
            .map_err(|e| self.invalid("index", "certificate", &shown_path, e))?;
        if let Some(stamp) = stamp {
            self.certificate.put(path, stamp, &der);
        }
        Ok(der)
    }

    /// This provider's index entry from `[index]`, certificate read: what `pecwatch index
    /// export` needs. Fails if `provider_name`, `mail_receipt` or `certificate` is empty,
    /// or the certificate cannot be read.
    pub fn index_provider(&self) -> Result<crate::index::Provider, ConfigError> {
        let index = &self.index;
        for (key, value) in [
            ("provider_name", &index.provider_name),
            ("mail_receipt", &index.mail_receipt),
        ] {
            if value.is_empty() {
                return Err(self.invalid("index", key, "\"\"", "must be set to export the index"));
            }
        }
        let optional = |value: &String| (!value.is_empty()).then(|| value.clone());
        Ok(crate::index::Provider {
            base_dn: index.base_dn.clone(),
            name: index.provider_name.clone(),
            unit: optional(&index.provider_unit),
            description: optional(&index.description),
            mail_receipt: index.mail_receipt.clone(),
            certificate: self.index_certificate()?,
            ldif_url: optional(&index.ldif_url),
        })
    }
}

impl Config {
    fn validate_web(&self) -> Result<(), ConfigError> {
        self.web
            .validate()
            .map_err(|invalid| self.blame("web", invalid))?;
        self.postfix
            .validate()
            .map_err(|invalid| self.blame("postfix", invalid))
    }
}

// ---------------------------------------------------------------------------------------
// Runtime objects
// ---------------------------------------------------------------------------------------

impl Config {
    /// The prober's configuration: resolver (or the system's, from `/etc/resolv.conf`) or
    /// root hints, private addresses, IPv6, timeout and attempts.
    pub fn probe_config(&self) -> Result<ProbeConfig, ConfigError> {
        self.probe_config_with(Path::new(RESOLV_CONF))
    }

    /// [`Config::probe_config`] with the system resolver read from `resolv_conf`.
    pub fn probe_config_with(&self, resolv_conf: &Path) -> Result<ProbeConfig, ConfigError> {
        let dns = &self.dns;
        let resolution = if !dns.root_hints.as_os_str().is_empty() {
            let hints = format!("{:?}", dns.root_hints.display().to_string());
            Resolution::Iterative(
                read_root_hints(&dns.root_hints)
                    .map_err(|e| self.invalid("dns", "root_hints", &hints, e))?,
            )
        } else if !dns.resolver.is_empty() {
            let resolver = format!("{:?}", dns.resolver);
            Resolution::Recursive(
                parse_resolver(&dns.resolver)
                    .map_err(|e| self.invalid("dns", "resolver", &resolver, e))?,
            )
        } else {
            Resolution::Recursive(system_resolver(resolv_conf).map_err(ConfigError::NoResolver)?)
        };
        Ok(self.probe_config_using(resolution))
    }

    /// The prober's configuration with lookups sent where `resolution` says (a command-line
    /// flag), everything else from `[dns]` (and `[check] dnssec_expiry_warning`).
    pub fn probe_config_using(&self, resolution: Resolution) -> ProbeConfig {
        self.dns
            .probe_config(resolution, self.check.dnssec_expiry_warning)
    }

    /// The lifecycle policy.
    pub fn policy(&self) -> Policy {
        self.lifecycle.clone()
    }

    /// A provider profile by name (case-insensitive): a `[profiles]` entry, else a built-in
    /// one.
    pub fn profile(&self, name: &str) -> Result<Profile, ConfigError> {
        let name = name.trim().to_ascii_lowercase();
        if let Some(path) = self.profiles.get(&name) {
            return self.profile_file(&name, path);
        }
        Profile::built_in(&name).ok_or_else(|| ConfigError::UnknownProfile {
            name,
            known: self.profile_names().join(", "),
        })
    }

    /// The profile of new domains (`[check] profile`).
    pub fn default_profile(&self) -> Result<Profile, ConfigError> {
        self.profile(&self.check.profile)
    }

    /// The names of every usable profile: built-in and `[profiles]`, sorted.
    pub fn profile_names(&self) -> Vec<String> {
        let names: BTreeSet<String> = Profile::BUILT_IN
            .iter()
            .map(|name| (*name).to_owned())
            .chain(self.profiles.keys().cloned())
            .collect();
        names.into_iter().collect()
    }

    /// Loads a `[profiles]` file.
    fn profile_file(&self, name: &str, path: &Path) -> Result<Profile, ConfigError> {
        let shown_path = format!("{:?}", path.display().to_string());
        let text = std::fs::read_to_string(path).map_err(|error| {
            self.invalid(
                PROFILES,
                name,
                &shown_path,
                format!("cannot read it: {error}"),
            )
        })?;
        Profile::from_toml(&text, &path.display().to_string())
            .map_err(|error| self.invalid(PROFILES, name, &shown_path, error))
    }

    /// The time zone of `[sweep] time`.
    pub fn sweep_time_zone(&self) -> Result<TimeZone, ConfigError> {
        self.sweep
            .time_zone()
            .map_err(|invalid| self.blame("sweep", invalid))
    }

    /// The canary domains, parsed.
    pub fn canaries(&self) -> Result<Vec<DomainName>, ConfigError> {
        self.sweep
            .canaries()
            .map_err(|invalid| self.blame("sweep", invalid))
    }

    /// `[database] url` with any password replaced by `***`, for logs and messages.
    pub fn redacted_database_url(&self) -> String {
        redact_url(&self.database.url)
    }

    /// A copy with every secret replaced by `***`: for showing the effective configuration.
    pub fn redacted(&self) -> Config {
        let mut copy = self.clone();
        copy.database.url = redact_url(&self.database.url);
        copy.smtp.url = redact_url(&self.smtp.url);
        if copy.smtp.password.is_some() {
            copy.smtp.password = Some(REDACTED.into());
        }
        if copy.provision.tsig_key.is_some() {
            copy.provision.tsig_key = Some(REDACTED.into());
        }
        copy
    }
}

// ---------------------------------------------------------------------------------------
// Serde helpers
// ---------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn sections_match_the_struct() {
        let table = to_table(&Config::template()).unwrap();
        let names: Vec<&str> = table.keys().map(String::as_str).collect();
        let mut expected = SECTIONS.to_vec();
        expected.sort_unstable();
        assert_eq!(names, expected);
    }

    #[test]
    fn defaults_are_valid_and_round_trip() {
        let config = Config::default();
        config.validate().unwrap();
        let text = toml::to_string(&config).unwrap();
        let again = Config::from_sources(Some(&text), None, []).unwrap();
        assert_eq!(to_table(&again).unwrap(), to_table(&config).unwrap());
    }

    #[test]
    fn questionable_web_settings_are_warned_about() {
        assert_eq!(Config::default().web.warnings(), []);
        let config = Config::from_sources(
            Some(
                "[web]\ntrusted_proxies = [\"10.0.0.1\", \"0.0.0.0/0\", \"::/0\"]\n\
                 check_max_names = 100000000\n",
            ),
            None,
            [],
        )
        .expect("accepted, with warnings");
        let warnings = config.web.warnings();
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(
            warnings[0]
                .message(crate::Lang::En)
                .starts_with("[web] trusted_proxies holds 0.0.0.0/0")
        );
        assert!(warnings[1].message(crate::Lang::It).contains("::/0"));
        assert_eq!(warnings[2], crate::web::WebWarning::ManyNames(100_000_000));
        assert!(warnings[2].message(crate::Lang::It).contains("oltre 1000"));
        let fine = Config::from_sources(
            Some("[web]\ntrusted_proxies = [\"10.0.0.0/8\"]\ncheck_max_names = 1000\n"),
            None,
            [],
        )
        .unwrap();
        assert_eq!(fine.web.warnings(), []);
    }

    #[test]
    fn keys_list_every_fixed_key() {
        let keys = Config::keys();
        assert!(keys.contains(&("smtp".into(), "password_file".into())));
        assert!(keys.contains(&("lifecycle".into(), "start_grace_at_queue".into())));
        assert!(!keys.iter().any(|(section, _)| section == PROFILES));
        assert_eq!(
            Config::env_var("dns", "allow_private"),
            "PECWATCH_DNS_ALLOW_PRIVATE"
        );
    }

    #[test]
    fn override_sections() {
        assert_eq!(
            override_section("PECWATCH_LIFECYCLE_START_GRACE_AT_QUEUE"),
            Some(("lifecycle", "start_grace_at_queue".into()))
        );
        assert_eq!(override_section("PECWATCH_NOW"), None);
        assert_eq!(override_section("PECWATCH_LAB_RESOLVER"), None);
        assert_eq!(override_section("OTHER_DNS_RESOLVER"), None);
        assert_eq!(
            override_section("PECWATCH_DNS"),
            Some(("dns", String::new()))
        );
    }

    #[test]
    fn coercions() {
        let t = Value::Boolean(false);
        for (raw, expected) in [("yes", true), ("ON", true), ("1", true), ("No", false)] {
            assert_eq!(coerce(raw, &t).unwrap(), Value::Boolean(expected));
        }
        assert!(coerce("maybe", &t).is_err());
        assert_eq!(
            coerce(" 42 ", &Value::Integer(0)).unwrap(),
            Value::Integer(42)
        );
        assert_eq!(coerce("1", &Value::Float(0.5)).unwrap(), Value::Float(1.0));
        assert_eq!(
            coerce(" 007 ", &Value::String(String::new())).unwrap(),
            Value::String(" 007 ".into())
        );
        let ints = Value::Array(vec![Value::Integer(1)]);
        assert_eq!(
            coerce("60, 14,,1", &ints).unwrap(),
            Value::Array(vec![
                Value::Integer(60),
                Value::Integer(14),
                Value::Integer(1)
            ])
        );
        assert_eq!(coerce("", &ints).unwrap(), Value::Array(Vec::new()));
        assert!(coerce("1,x", &ints).is_err());
    }

    #[test]
    fn url_redaction() {
        assert_eq!(
            redact_url("postgres://user:s3cret@db.example.it:5432/pec"),
            "postgres://user:***@db.example.it:5432/pec"
        );
        assert_eq!(
            redact_url("postgres://us:er:p@ss@host/db?sslmode=require&password=x"),
            "postgres://us:***@host/db?sslmode=require&password=***"
        );
        assert_eq!(
            redact_url("postgres://user@host/db"),
            "postgres://user@host/db"
        );
        assert_eq!(redact_url("sqlite://pecwatch.db"), "sqlite://pecwatch.db");
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(redact_url("smtps://a:b@mail:465"), "smtps://a:***@mail:465");
        // A careless password holding '/' or '@' is still hidden.
        assert_eq!(
            redact_url("postgres://app:pa/ss@db/pec"),
            "postgres://app:***@db/pec"
        );
        assert_eq!(
            redact_url("postgres://db/pec?user=app&password=s3cret"),
            "postgres://db/pec?user=app&password=***"
        );
    }

    #[test]
    fn toml_errors_are_located() {
        let text = "[dns]\nresolver = \"127.0.0.1\"\nresolvr = \"x\"\n";
        let error = toml::from_str::<Config>(text).unwrap_err();
        let message = describe_toml_error(text, &error);
        assert!(message.starts_with("line 3 ([dns] resolvr): "), "{message}");
        assert!(message.contains("resolvr"), "{message}");
    }

    #[test]
    fn relative_paths_follow_the_file() {
        let text = "[dns]\nroot_hints = \"hints.zone\"\n[profiles]\nx = \"/abs/x.toml\"\n";
        let mut table = toml::from_str::<Table>(text).unwrap();
        rebase_paths(&mut table, Path::new("/etc/pecwatch"));
        assert_eq!(
            table["dns"]["root_hints"].as_str(),
            Some("/etc/pecwatch/hints.zone")
        );
        assert_eq!(table["profiles"]["x"].as_str(), Some("/abs/x.toml"));
    }

    #[test]
    fn index_section_reads_env_and_validates() {
        let config = Config::from_sources(
            Some("[index]\nprovider_name = \"Esempio PEC\"\n"),
            None,
            env(&[
                ("PECWATCH_INDEX_MAIL_RECEIPT", "ricevute@pec.esempio.it"),
                ("PECWATCH_INDEX_LDIF_URL", "https://esempio.it/index.ldif"),
            ]),
        )
        .unwrap();
        assert_eq!(config.index.provider_name, "Esempio PEC");
        assert_eq!(config.index.mail_receipt, "ricevute@pec.esempio.it");
        assert_eq!(config.index.base_dn, "o=postacert");
        // The export needs the certificate.
        let error = config.index_provider().unwrap_err().to_string();
        assert!(error.contains("[index] certificate"), "{error}");

        for (key, value, problem) in [
            ("MAIL_RECEIPT", "not an address!", "user@domain or a host"),
            ("MAIL_RECEIPT", "A <a@b.it>", "user@domain or a host"),
            ("LDIF_URL", "ftp://x/y.ldif", "https://"),
            ("BASE_DN", "postacert", "o=postacert"),
            ("PROVIDER_NAME", "a\nb", "control character"),
            ("PROVIDER_UNIT", " x", "spaces"),
            ("CERTIFICATE", "/nonexistent/cert.pem", "cannot read it"),
        ] {
            let var = format!("PECWATCH_INDEX_{key}");
            let error = Config::from_sources(None, None, env(&[(&var, value)])).unwrap_err();
            assert_eq!(error.exit_code(), 2);
            let message = error.to_string();
            assert!(
                message.contains(&var) && message.contains(problem),
                "{message}"
            );
        }
        assert!(
            Config::from_sources(
                None,
                None,
                env(&[("PECWATCH_INDEX_MAIL_RECEIPT", "mx.pec.esempio.it")])
            )
            .is_ok()
        );
    }

    #[test]
    fn index_provider_needs_a_name() {
        let error = Config::default().index_provider().unwrap_err().to_string();
        assert!(error.contains("[index] provider_name"), "{error}");
    }

    #[test]
    fn empty_env_value_unsets_optional_keys() {
        let text = "[smtp]\nusername = \"u\"\npassword = \"p\"\n";
        let config = Config::from_sources(
            Some(text),
            None,
            env(&[
                ("PECWATCH_SMTP_PASSWORD", ""),
                ("PECWATCH_SMTP_USERNAME", ""),
            ]),
        )
        .unwrap();
        assert_eq!(config.smtp.password, None);
        assert_eq!(config.smtp.username, None);
    }
    #[test]
    fn every_problem_is_found_at_once() {
        let text = "[dns]\ntimeout_ms = 0\nattempts = 99\nipv6 = \"maybe\"\n\
            [sweep]\nbatch_size = \"many\"\nmax_new_failure_share = 2.0\n\
            [smtp]\nurl = \"http://relay\"\n";
        let checked = Config::check_sources(
            Some(text),
            Some(Path::new("/etc/pecwatch.toml")),
            env(&[
                ("PECWATCH_WEB_LISTEN", "not an address"),
                ("PECWATCH_DNS_CONCURRENCY", "7"),
                ("PECWATCH_SMTP_FROM", "not a mailbox"),
            ]),
        );
        let messages: Vec<String> = checked.problems.iter().map(ToString::to_string).collect();
        let all = messages.join("\n");
        for expected in [
            "line 4 [dns] ipv6",
            "line 6 [sweep] batch_size",
            "PECWATCH_WEB_LISTEN: [web] listen",
            "[dns] timeout_ms = 0",
            "[dns] attempts = 99",
            "[sweep] max_new_failure_share = 2",
            "[smtp] url",
            "PECWATCH_SMTP_FROM: [smtp] from",
        ] {
            assert!(all.contains(expected), "{expected} missing from:\n{all}");
        }
        assert_eq!(messages.len(), 8, "{all}");
        // The good values stand, the wrong ones are left at their defaults.
        assert_eq!(checked.config.dns.concurrency, 7);
        assert_eq!(checked.config.dns.attempts, 3);
        let error = checked.into_result().unwrap_err();
        assert_eq!(error.exit_code(), 2);
        let message = error.to_string();
        assert!(
            message.starts_with("invalid configuration: 8 problems\n  - "),
            "{message}"
        );
        // One problem is still one line.
        let one = Config::from_sources(Some("[dns]\nattempts = 0\n"), None, env(&[])).unwrap_err();
        assert!(!one.to_string().contains('\n'), "{one}");
    }

    #[test]
    fn the_index_certificate_is_read_once_and_again_on_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("provider.pem");
        let fixture = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/index/provider.pem"
        ))
        .unwrap();
        std::fs::write(&path, &fixture).unwrap();
        let file = "[index]\nprovider_name = \"Esempio PEC\"\n\
                    mail_receipt = \"ricevute@pec.esempio.it\"\n";
        let shown = path.display().to_string();
        let config = Config::from_sources(
            Some(file),
            None,
            env(&[("PECWATCH_INDEX_CERTIFICATE", &shown)]),
        )
        .unwrap();
        let first = config.index_provider().unwrap().certificate;
        // Other bytes, with the same length and modification time: not read again.
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::fs::write(&path, vec![b'x'; fixture.len()]).unwrap();
        let handle = std::fs::File::options().write(true).open(&path).unwrap();
        handle.set_modified(modified).unwrap();
        assert_eq!(config.index_provider().unwrap().certificate, first);
        // Changed: read again.
        std::fs::write(&path, "no certificate\n").unwrap();
        let error = config.index_provider().unwrap_err().to_string();
        assert!(error.contains("[index] certificate"), "{error}");
    }

    fn dns_name(text: &str) -> hickory_proto::rr::Name {
        hickory_proto::rr::Name::from_ascii(text).unwrap()
    }

    #[test]
    fn provision_section_from_the_environment() {
        // Off by default.
        assert!(
            Config::from_sources(None, None, env(&[]))
                .unwrap()
                .provisioner()
                .unwrap()
                .is_none()
        );
        let secret = "c2VncmV0aXNzaW1vLXNlZ3JldGlzc2ltbw==";
        let key = format!("pecwatch-test:hmac-sha512:{secret}");
        let loaded = Config::from_sources(
            None,
            None,
            env(&[
                ("PECWATCH_PROVISION_PRIMARY", "127.53.2.1"),
                ("PECWATCH_PROVISION_INTERNAL_ZONE", "Pec.Aruba.IT."),
                ("PECWATCH_PROVISION_TSIG_KEY", &key),
                ("PECWATCH_PROVISION_CATALOG_ZONE", "catalog.aruba.invalid"),
                (
                    "PECWATCH_PROVISION_NAMESERVERS",
                    "dns1.aruba.it, dns2.aruba.it",
                ),
                ("PECWATCH_PROVISION_TTL", "60"),
            ]),
        )
        .unwrap();
        for shown in [format!("{loaded:?}"), format!("{:?}", loaded.redacted())] {
            assert!(!shown.contains(secret), "the secret leaks: {shown}");
        }
        let provisioner = loaded.provisioner().unwrap().unwrap();
        let settings = provisioner.settings();
        assert_eq!(settings.primary, "127.53.2.1:53".parse().unwrap());
        assert_eq!(settings.internal_zone, dns_name("pec.aruba.it."));
        assert_eq!(settings.hostmaster, dns_name("hostmaster.pec.aruba.it."));
        assert_eq!(
            settings.catalog_zone,
            Some(dns_name("catalog.aruba.invalid."))
        );
        assert_eq!(settings.nameservers.len(), 2);
        assert_eq!(settings.ttl, 60);
        assert!(!format!("{provisioner:?}").contains(secret));

        for (pairs, problem) in [
            (
                vec![("PECWATCH_PROVISION_PRIMARY", "127.53.2.1")],
                "internal_zone",
            ),
            (
                vec![
                    ("PECWATCH_PROVISION_PRIMARY", "127.53.2.1"),
                    ("PECWATCH_PROVISION_INTERNAL_ZONE", "aruba.it"),
                ],
                "tsig_key_file",
            ),
            (
                vec![
                    ("PECWATCH_PROVISION_PRIMARY", "dns1.aruba.it"),
                    ("PECWATCH_PROVISION_INTERNAL_ZONE", "aruba.it"),
                    ("PECWATCH_PROVISION_TSIG_KEY", key.as_str()),
                ],
                "ADDR or ADDR:PORT",
            ),
            (
                vec![
                    ("PECWATCH_PROVISION_PRIMARY", "127.53.2.1"),
                    ("PECWATCH_PROVISION_INTERNAL_ZONE", "aruba.it"),
                    ("PECWATCH_PROVISION_TSIG_KEY", "k:hmac-md5:c2VncmV0aXNzaW1v"),
                ],
                "unsupported TSIG algorithm",
            ),
            (
                vec![
                    ("PECWATCH_PROVISION_PRIMARY", "127.53.2.1"),
                    ("PECWATCH_PROVISION_INTERNAL_ZONE", "aruba.it"),
                    ("PECWATCH_PROVISION_TSIG_KEY_FILE", "/nonexistent/key"),
                ],
                "cannot read TSIG key file",
            ),
        ] {
            let error = Config::from_sources(None, None, env(&pairs))
                .unwrap_err()
                .to_string();
            assert!(error.contains(problem), "{problem}: {error}");
            assert!(!error.contains("c2VncmV0"), "{error}");
        }
    }
}

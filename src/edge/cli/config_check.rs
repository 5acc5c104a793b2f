//! `pecwatch config check`: the configuration as `serve` reads it, every problem at once,
//! and the effective value of every key with where it came from, secrets hidden.

use super::output::{out, outln};
use std::path::Path;

use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::json;
use toml::Value;

use super::{CliError, Exit, Format};
use crate::Lang;
use crate::config::{Checked, Config, ConfigError, Origin, redact_url};

/// `pecwatch config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Read the configuration as `serve` does (file and PECWATCH_* variables), report
    /// every problem at once and print every key's effective value and origin (secrets
    /// hidden). Exit 0 if it is valid, 2 if not.
    Check(CheckArgs),
}

/// Arguments of `pecwatch config check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Output format (json: one object with `ok`, `problems` and `values`, each value
    /// with its origin).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Language of the report.
    #[arg(long, value_enum, default_value_t)]
    pub lang: Lang,
}

/// What secrets are shown as.
const HIDDEN: &str = "***";

/// One key of the effective configuration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Entry {
    /// The section (`dns`).
    pub section: String,
    /// The key (`resolver`).
    pub key: String,
    /// The value as TOML, secrets replaced by `***`; `None`: not set.
    pub value: Option<String>,
    /// Where it came from.
    pub origin: Origin,
    /// Whether a problem was found with it (then it is shown at its default).
    pub wrong: bool,
}

/// Whether a key holds a secret: its name ends with `password`, `secret`, `key` or
/// `token` (`password`, `tsig_key`), not merely mentions one (`password_file` is a path,
/// `password_link_ttl` a duration).
pub fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    let last = key.rsplit(['_', '-']).next().unwrap_or_default();
    ["password", "secret", "key", "token", "passphrase"].contains(&last)
}

/// A value as shown: secrets hidden, passwords taken out of URLs.
fn shown(key: &str, value: &Value) -> String {
    if is_secret(key) {
        return HIDDEN.into();
    }
    match value {
        Value::String(text) if text.contains("://") => Value::String(redact_url(text)).to_string(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(|item| shown(key, item)).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

/// Every key of the effective configuration, in the file's order of sections: the keys the
/// configuration holds (whatever sections and keys it has) and the optional ones that are
/// not set.
pub fn entries(checked: &Checked) -> Vec<Entry> {
    let config = &checked.config;
    let wrong: Vec<(&str, &str)> = checked
        .problems
        .iter()
        .filter_map(ConfigError::key)
        .collect();
    let Ok(Value::Table(values)) = Value::try_from(config) else {
        return Vec::new();
    };
    let optional = Config::keys();
    let mut sections: Vec<&String> = values.keys().collect();
    let order = |name: &str| {
        crate::config::SECTIONS
            .iter()
            .position(|s| *s == name)
            .unwrap_or(usize::MAX)
    };
    sections.sort_by_key(|s| order(s));
    let mut out = Vec::new();
    for section in sections {
        let Some(keys) = values.get(section.as_str()).and_then(Value::as_table) else {
            continue;
        };
        let mut names: Vec<&str> = keys.keys().map(String::as_str).collect();
        for (s, key) in &optional {
            if s == section && !names.contains(&key.as_str()) {
                names.push(key);
            }
        }
        names.sort_unstable();
        for key in names {
            out.push(Entry {
                section: section.clone(),
                key: key.to_owned(),
                value: keys.get(key).map(|value| shown(key, value)),
                origin: config.provenance.source(section, key),
                wrong: wrong.contains(&(section.as_str(), key)),
            });
        }
    }
    out
}

/// The origin for people.
fn origin_text(origin: &Origin, lang: Lang) -> String {
    match origin {
        Origin::Default => lang.pick("predefinito", "default").into(),
        Origin::File(file) => format!("{} {file}", lang.pick("file", "file")),
        Origin::Environment(var) => format!("{} {var}", lang.pick("variabile", "variable")),
    }
}

/// The report for people.
pub fn text(checked: &Checked, file: Option<&str>, lang: Lang) -> String {
    let mut out = String::new();
    let source = match file {
        Some(file) => file.to_owned(),
        None => lang
            .pick("nessun file (valori predefiniti)", "no file (defaults)")
            .into(),
    };
    out.push_str(&format!(
        "{}: {source}\n",
        lang.pick("Configurazione", "Configuration")
    ));
    if checked.problems.is_empty() {
        out.push_str(&format!(
            "✓ {}\n",
            lang.pick("nessun problema", "no problems")
        ));
    } else {
        out.push_str(&format!(
            "✗ {} {}:\n",
            checked.problems.len(),
            match (lang, checked.problems.len()) {
                (Lang::It, 1) => "problema",
                (Lang::It, _) => "problemi",
                (Lang::En, 1) => "problem",
                (Lang::En, _) => "problems",
            }
        ));
        for problem in &checked.problems {
            out.push_str(&format!("  - {problem}\n"));
        }
    }
    out.push_str(&format!(
        "\n{}:\n",
        lang.pick(
            "Valori in uso (segreti nascosti)",
            "Effective values (secrets hidden)"
        )
    ));
    let mut section = String::new();
    for entry in entries(checked) {
        if entry.section != section {
            section = entry.section.clone();
            out.push_str(&format!("[{section}]\n"));
        }
        let value = entry
            .value
            .clone()
            .unwrap_or_else(|| format!("({})", lang.pick("non impostato", "not set")));
        let mut origin = origin_text(&entry.origin, lang);
        if entry.wrong {
            origin = format!(
                "✗ {}",
                lang.pick(
                    "valore errato, vale il predefinito",
                    "wrong value, the default applies"
                )
            );
        }
        out.push_str(&format!("  {} = {value}  # {origin}\n", entry.key));
    }
    out
}

/// The JSON report.
pub fn json(checked: &Checked, file: Option<&str>) -> serde_json::Value {
    let problems: Vec<serde_json::Value> = checked
        .problems
        .iter()
        .map(|problem| {
            let (section, key) = problem.key().unzip();
            json!({"message": problem.to_string(), "section": section, "key": key})
        })
        .collect();
    json!({
        "ok": checked.problems.is_empty(),
        "file": file,
        "problems": problems,
        "values": entries(checked),
    })
}

/// Runs `pecwatch config …`.
pub fn run(path: Option<&Path>, command: ConfigCommand) -> Result<Exit, CliError> {
    let ConfigCommand::Check(args) = command;
    let checked = Config::check(path)?;
    let file = checked.config.provenance.file().map(str::to_owned);
    match args.format {
        Format::Text => out!("{}", text(&checked, file.as_deref(), args.lang))?,
        Format::Json => outln!("{}", json(&checked, file.as_deref()))?,
    }
    Ok(if checked.problems.is_empty() {
        Exit::Ok
    } else {
        Exit::BadInput
    })
}

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
    fn secrets_are_told_by_their_names() {
        for key in ["password", "tsig_key", "secret", "api_key", "token_secret"] {
            assert!(is_secret(key), "{key}");
        }
        for key in [
            "password_file",
            "tsig_key_file",
            "zone_dir",
            "url",
            "resolver",
            "password_link_ttl",
            "password_link_url",
        ] {
            assert!(!is_secret(key), "{key}");
        }
    }

    #[test]
    fn every_key_with_its_origin_and_no_secret() {
        let file = "[database]\nurl = \"postgres://pec:s3greto@db/pec\"\n\
            [smtp]\nusername = \"u\"\npassword = \"pa55word\"\n[dns]\nattempts = 0\n";
        let checked = Config::check_sources(
            Some(file),
            Some(Path::new("/etc/pecwatch.toml")),
            env(&[
                ("PECWATCH_DNS_RESOLVER", "127.0.0.1"),
                ("PECWATCH_PROVISION_TSIG_KEY", "k:hmac-sha256:c2VncmV0bw=="),
            ]),
        );
        let all = entries(&checked);
        let find = |section: &str, key: &str| {
            all.iter()
                .find(|e| e.section == section && e.key == key)
                .unwrap_or_else(|| panic!("[{section}] {key} missing"))
                .clone()
        };
        assert_eq!(
            find("dns", "resolver").origin,
            Origin::Environment("PECWATCH_DNS_RESOLVER".into())
        );
        assert_eq!(
            find("database", "url").origin,
            Origin::File("/etc/pecwatch.toml".into())
        );
        assert_eq!(find("dns", "timeout_ms").origin, Origin::Default);
        assert!(find("dns", "attempts").wrong);
        assert_eq!(find("dns", "attempts").value.as_deref(), Some("3"));
        assert_eq!(find("smtp", "password").value.as_deref(), Some(HIDDEN));
        assert_eq!(find("provision", "tsig_key").value.as_deref(), Some(HIDDEN));
        assert_eq!(find("smtp", "ca_file").value, None);
        let shown = text(&checked, Some("/etc/pecwatch.toml"), Lang::It);
        let json = json(&checked, Some("/etc/pecwatch.toml")).to_string();
        for output in [&shown, &json] {
            for secret in ["s3greto", "pa55word", "c2VncmV0bw"] {
                assert!(!output.contains(secret), "{secret} shown: {output}");
            }
        }
        assert!(shown.contains("✗ 1 problema:"), "{shown}");
        assert!(
            shown.contains("resolver = \"127.0.0.1\"  # variabile PECWATCH_DNS_RESOLVER"),
            "{shown}"
        );
        assert!(json.contains("\"ok\":false"), "{json}");
    }
}

//! `pecwatch index`: the providers' index entry (RFC 6109) of this provider.
//!
//! - `index export [--output FILE] [--record]` writes the entry as LDIF ([`crate::index`])
//!   to standard output or, atomically, to a file; with `--record` the publication (time,
//!   SHA-256 of the LDIF, the domains listed, the LDIF) is recorded in the registry.
//! - `index diff [--format text|json]` shows which domains the index gained and lost
//!   since the last recorded publication and, when `[index]` is complete, whether the
//!   rest of the entry (names, certificate, URL) changed too. Exit status 0 when nothing
//!   changed, 1 when something did (like `diff`).
//!
//! The entry's attributes come from `[index]` in the configuration; `managedDomains` lists
//! the registry's `certified` and `in_error` domains.

use super::output::{errln, out, outln};
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use jiff::Timestamp;

use crate::clock;
use crate::config::Config;
use crate::index;
use crate::registry::Registry;
use crate::view::{self, IndexDiff};

use super::{CliError, Exit, Format};

/// The `index` subcommands.
#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// Write this provider's index entry as LDIF (managedDomains: every certified and
    /// in_error domain).
    Export(ExportArgs),
    /// Show the domains added to and removed from the index since the last recorded
    /// publication (exit 1 if any).
    Diff(DiffArgs),
}

/// Arguments of `index export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write the LDIF to this file (replaced atomically) instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Record this export as a publication in the registry (what `index diff` compares
    /// with).
    #[arg(long)]
    pub record: bool,
}

/// Arguments of `index diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Output format (json: one object with the domains `added` and `removed` since the last publication).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Runs an `index` subcommand.
pub async fn run(config: &Config, command: IndexCommand) -> Result<Exit, CliError> {
    let now = clock::now()?;
    match command {
        IndexCommand::Export(args) => {
            // Refuse an incomplete [index] before touching the database.
            let provider = config.index_provider()?;
            let registry = Registry::open(&config.database.url).await?;
            let result = export(&registry, &provider, args, now).await;
            registry.close().await;
            result
        }
        IndexCommand::Diff(args) => {
            // Without a complete [index] only the domains are compared.
            let provider = config.index_provider().ok();
            let registry = Registry::open(&config.database.url).await?;
            let result = diff(&registry, provider.as_ref(), args).await;
            registry.close().await;
            result
        }
    }
}

/// `index export`.
async fn export(
    registry: &Registry,
    provider: &index::Provider,
    args: ExportArgs,
    now: Timestamp,
) -> Result<Exit, CliError> {
    let domains = registry.published_domains().await?;
    if domains.is_empty() {
        errln!(
            "pecwatch: warning: no certified or in_error domain: the entry has no \
             managedDomains, which the RFC 6109 schema requires"
        );
    }
    let ldif = index::render(provider, domains.iter().map(String::as_str));
    let hash = index::ldif_hash(&ldif);
    match &args.output {
        Some(path) => {
            write_atomically(path, &ldif)?;
            outln!(
                "{}: {} domains, sha256 {hash}",
                path.display(),
                domains.len()
            )?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            out.write_all(ldif.as_bytes())?;
            out.flush()?;
        }
    }
    if args.record {
        // Recorded after the LDIF is written: a failed write records nothing.
        let publication = registry.record_publication(now, &ldif, &domains).await?;
        errln!(
            "pecwatch: publication {} recorded at {}: {} domains, sha256 {}",
            publication.id,
            publication.at,
            publication.domains.len(),
            publication.hash
        );
    }
    Ok(Exit::Ok)
}

/// Writes `text` to a temporary file next to `path`, flushed to disk, then renames it
/// over `path`: a reader sees the old file or the new one, never half of one.
fn write_atomically(path: &Path, text: &str) -> Result<(), CliError> {
    let cannot = |error: std::io::Error| {
        CliError::Io(std::io::Error::new(
            error.kind(),
            format!("cannot write {}: {error}", path.display()),
        ))
    };
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".tmp.{}", std::process::id()));
    let temporary = PathBuf::from(temporary);
    let written = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if let Err(error) = written {
        // Best effort: the temporary file may not even exist.
        let _ = std::fs::remove_file(&temporary);
        return Err(cannot(error));
    }
    Ok(())
}

/// `index diff`.
async fn diff(
    registry: &Registry,
    provider: Option<&index::Provider>,
    args: DiffArgs,
) -> Result<Exit, CliError> {
    let diff = IndexDiff::load(registry, provider).await?;
    match args.format {
        Format::Json => outln!("{}", view::to_json_string(&diff))?,
        Format::Text => out!("{}", diff_text(&diff))?,
    }
    Ok(if diff.changed() {
        Exit::Findings
    } else {
        Exit::Ok
    })
}

/// The text of `index diff`: a summary line, then `+ name` and `- name` lines.
fn diff_text(changes: &IndexDiff) -> String {
    let now = changes.domains;
    let mut out = match &changes.since {
        Some(p) => format!(
            "since publication {} ({}, {} domains): {} added, {} removed; the index lists {now} domains now\n",
            p.id,
            p.at,
            p.domains,
            changes.added.len(),
            changes.removed.len()
        ),
        None => {
            format!("no publication recorded yet: the index lists {now} domains now, all new\n")
        }
    };
    if changes.entry_changed == Some(true) {
        out.push_str(
            "the entry's other attributes changed too (name, unit, receipt, certificate or URL)\n",
        );
    }
    for name in &changes.added {
        out.push_str(&format!("+ {name}\n"));
    }
    for name in &changes.removed {
        out.push_str(&format!("- {name}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn index_changes_are_sorted_set_differences() {
        let last = crate::registry::index::Publication {
            id: 1,
            at: Timestamp::UNIX_EPOCH,
            hash: String::new(),
            domains: names(&["pec.a.it", "pec.b.it", "pec.c.it"]),
            ldif: String::new(),
        };
        let changes = IndexDiff::new(Some(&last), &names(&["pec.d.it", "pec.a.it", "pec.c.it"]));
        assert_eq!(changes.added, names(&["pec.d.it"]));
        assert_eq!(changes.removed, names(&["pec.b.it"]));
        assert!(changes.changed());
        let text = diff_text(&IndexDiff {
            since: None,
            ..changes
        });
        assert_eq!(
            text,
            "no publication recorded yet: the index lists 3 domains now, all new\n\
             + pec.d.it\n- pec.b.it\n"
        );
    }
}

//! `pecwatch db`: the database's schema (which migrations it has), bringing it up to date
//! on demand, and SQLite's online backup.

use super::output::outln;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;

use super::{CliError, Exit, Format, TABLE_TIME, time_zone};
use crate::Lang;
use crate::config::Config;
use crate::registry::{Backend, Registry, SchemaStatus};

/// `pecwatch db …`.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Show the migrations the database has and the ones still to apply (changes
    /// nothing).
    Status(StatusArgs),
    /// Apply the pending migrations now: what `serve` (and every command that opens the
    /// database) does when it starts.
    Migrate(StatusArgs),
    /// Copy a SQLite database, while pecwatch is running, into a new FILE (never
    /// overwritten). For PostgreSQL use pg_dump.
    Backup(BackupArgs),
}

/// Arguments of `db status` and `db migrate`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Output format (json: one object with `backend`, `up_to_date` and `migrations`, each
    /// with `version`, `description`, `applied_at`).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Language of the report.
    #[arg(long, value_enum, default_value_t)]
    pub lang: Lang,
}

/// Arguments of `db backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The new file to write the copy to (it must not exist).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Language of the messages.
    #[arg(long, value_enum, default_value_t)]
    pub lang: Lang,
}

/// Runs `pecwatch db …`.
pub async fn run(config: &Config, command: DbCommand) -> Result<Exit, CliError> {
    let registry = Registry::connect(&config.database.url).await?;
    let result = match command {
        DbCommand::Status(args) => {
            let status = registry.schema_status().await?;
            print_status(&registry, config, &status, &[], &args)?;
            Ok(Exit::Ok)
        }
        DbCommand::Migrate(args) => {
            let before = registry.schema_status().await?;
            registry.migrate().await?;
            let after = registry.schema_status().await?;
            let applied: Vec<i64> = before.pending().map(|m| m.version).collect();
            print_status(&registry, config, &after, &applied, &args)?;
            Ok(Exit::Ok)
        }
        DbCommand::Backup(args) => {
            registry.backup_to(&args.file).await?;
            outln!(
                "{} {}",
                args.lang.pick("Copia scritta in", "Backup written to"),
                args.file.display()
            )?;
            Ok(Exit::Ok)
        }
    };
    registry.close().await;
    result
}

/// Prints the schema's state (after `migrate`, with the migrations just applied).
fn print_status(
    registry: &Registry,
    config: &Config,
    status: &SchemaStatus,
    applied_now: &[i64],
    args: &StatusArgs,
) -> Result<(), CliError> {
    let lang = args.lang;
    let zone = time_zone(config);
    let backend = match registry.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    if args.format == Format::Json {
        outln!(
            "{}",
            json!({
                "database": config.redacted_database_url(),
                "backend": backend,
                "up_to_date": status.up_to_date(),
                "applied_now": applied_now,
                "migrations": status.migrations,
            })
        )?;
        return Ok(());
    }
    outln!(
        "{}: {} ({backend})",
        lang.pick("Database", "Database"),
        config.redacted_database_url()
    )?;
    for migration in &status.migrations {
        let state = match (&migration.applied_at, migration.known) {
            (_, false) => lang
                .pick(
                    "applicata da una versione più recente di pecwatch",
                    "applied by a newer pecwatch",
                )
                .to_owned(),
            (Some(at), true) if applied_now.contains(&migration.version) => format!(
                "{} {}",
                lang.pick("applicata ora,", "applied now,"),
                crate::clock::civil(*at, &zone, TABLE_TIME)
            ),
            (Some(at), true) => format!(
                "{} {}",
                lang.pick("applicata", "applied"),
                crate::clock::civil(*at, &zone, TABLE_TIME)
            ),
            (None, true) => lang.pick("da applicare", "pending").to_owned(),
        };
        outln!(
            "  {:04} {:<12} {state}",
            migration.version,
            migration.description
        )?;
    }
    let pending = status.pending().count();
    let unknown = status.unknown().count();
    if unknown > 0 {
        outln!(
            "{}",
            lang.pick(
                "Il database è stato aggiornato da una versione più recente di pecwatch: \
                 installare quella versione.",
                "The database was upgraded by a newer pecwatch: install that version."
            )
        )?;
    } else if pending > 0 {
        outln!(
            "{pending} {}",
            lang.pick(
                "migrazioni da applicare: pecwatch db migrate (o l'avvio di pecwatch serve)",
                "migrations pending: pecwatch db migrate (or starting pecwatch serve)"
            )
        )?;
    } else {
        outln!(
            "{}",
            lang.pick("Schema aggiornato.", "The schema is up to date.")
        )?;
    }
    Ok(())
}

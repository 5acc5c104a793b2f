//! `pecwatch tokens`: the API tokens of the web API ([`crate::web::new_token`]).
//!
//! - `tokens add NAME --role operator|read-only` makes a token and prints it once (only
//!   its SHA-256 is kept);
//! - `tokens list [--format json]` lists them (never the tokens themselves);
//! - `tokens revoke NAME|ID` revokes one at once.

use super::output::{errln, outln};
use std::io::Write;

use clap::{Args, Subcommand, ValueEnum};
use jiff::tz::TimeZone;

use super::{CliError, Exit, Format, TABLE_TIME, time_zone};
use crate::clock;
use crate::config::Config;
use crate::registry::Registry;
use crate::registry::tokens::{ApiToken, Role};
use crate::web::{new_token, token_hash};

/// The `tokens` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Make a token and print it (once: it cannot be shown again).
    Add(AddArgs),
    /// List the tokens: name, role, made, last used, revoked.
    List(ListArgs),
    /// Revoke a token (by name, or by identifier).
    Revoke(RevokeArgs),
}

/// A token's role on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// Every call, the operators' actions included.
    Operator,
    /// GET and HEAD only (and the check).
    ReadOnly,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Operator => Role::Operator,
            RoleArg::ReadOnly => Role::ReadOnly,
        }
    }
}

/// Arguments of `tokens add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Who or what uses the token (unique among the working tokens).
    pub name: String,
    /// What it may do.
    #[arg(long, value_enum)]
    pub role: RoleArg,
    /// Output format (json: one object with the token, shown only this once).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Arguments of `tokens list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format (json: JSON Lines, one object per token, never the secret).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Arguments of `tokens revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The token's name, or its identifier (see `tokens list`).
    pub token: String,
}

/// Runs a `tokens` subcommand.
pub async fn run(config: &Config, command: TokensCommand) -> Result<Exit, CliError> {
    let now = clock::now()?;
    let registry = Registry::open(&config.database.url).await?;
    let result = match command {
        TokensCommand::Add(args) => {
            let token = new_token();
            let added = registry
                .add_token(&args.name, args.role.into(), &token_hash(&token), now)
                .await;
            added.map_err(CliError::from).and_then(|added| {
                match args.format {
                    Format::Json => {
                        let mut value = serde_json::to_value(&added).unwrap_or_default();
                        value["token"] = token.into();
                        outln!("{value}")?;
                    }
                    Format::Text => {
                        outln!("{token}")?;
                        errln!(
                            "pecwatch: token {} \"{}\" ({}): conservarlo ora, non sarà più mostrato / keep it now, it will not be shown again",
                            added.id, added.name, added.role
                        );
                    }
                }
                Ok(Exit::Ok)
            })
        }
        TokensCommand::List(args) => {
            registry
                .tokens()
                .await
                .map_err(CliError::from)
                .and_then(|tokens| {
                    print_list(&tokens, args.format, &time_zone(config))?;
                    Ok(Exit::Ok)
                })
        }
        TokensCommand::Revoke(args) => registry
            .revoke_token(&args.token, now)
            .await
            .map_err(CliError::from)
            .and_then(|token| {
                outln!("token {} \"{}\": revocato / revoked", token.id, token.name)?;
                Ok(Exit::Ok)
            }),
    };
    registry.close().await;
    result
}

fn print_list(tokens: &[ApiToken], format: Format, zone: &TimeZone) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            for token in tokens {
                writeln!(out, "{}", serde_json::to_value(token).unwrap_or_default())?;
            }
        }
        Format::Text => {
            writeln!(
                out,
                "{:>4}  {:<24} {:<10} {:<16} {:<16} revoked",
                "id", "name", "role", "created", "last used"
            )?;
            let time = |at: Option<jiff::Timestamp>| {
                at.map_or_else(|| "-".to_owned(), |at| clock::civil(at, zone, TABLE_TIME))
            };
            for token in tokens {
                writeln!(
                    out,
                    "{:>4}  {:<24} {:<10} {:<16} {:<16} {}",
                    token.id,
                    token.name,
                    token.role.as_str(),
                    time(Some(token.created)),
                    time(token.last_used),
                    time(token.revoked),
                )?;
            }
        }
    }
    Ok(())
}

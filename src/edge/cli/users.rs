//! `pecwatch users`: the people who may sign in to the web console (`/console`).
//!
//! A password is never an argument (it would end up in the shell's history and in the
//! process list): it is read from `--password-file`, from a prompt on a terminal (typed
//! twice, not echoed), or from the first line of standard input.

use super::output::outln;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

use super::{CliError, Exit, Format, TABLE_TIME, time_zone};
use crate::Lang;
use crate::clock;
use crate::config::Config;
use crate::registry::Registry;
use crate::registry::users::{Role, normalize_user_name};
use crate::web::{check_new_password, hash_password};

/// The `users` subcommands.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a user of the web console.
    Add(AddArgs),
    /// List the users of the web console.
    List(ListArgs),
    /// Remove a user (and sign them out everywhere).
    Remove(RemoveArgs),
    /// Set a user's password (and sign them out everywhere).
    Password(PasswordArgs),
}

/// What a user may do in the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// Sees everything and acts.
    Operator,
    /// Sees everything, acts on nothing.
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

/// How the password is given.
#[derive(Debug, Args)]
pub struct PasswordSource {
    /// Read the password from the first line of this file (else: a prompt on a
    /// terminal, or the first line of standard input).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

/// Arguments of `users add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The name to sign in with: letters, digits, '.', '_', '-', '@' (lower-cased).
    pub name: String,
    /// What the user may do.
    #[arg(long, value_enum)]
    pub role: RoleArg,
    /// Where the password comes from.
    #[command(flatten)]
    pub password: PasswordSource,
    /// Language of messages.
    #[arg(long, value_enum, default_value_t)]
    pub lang: Lang,
}

/// Arguments of `users list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format (json: JSON Lines, one object per user).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Arguments of `users remove`.
#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The user.
    pub name: String,
}

/// Arguments of `users password`.
#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// The user.
    pub name: String,
    /// Where the password comes from.
    #[command(flatten)]
    pub password: PasswordSource,
    /// Language of messages.
    #[arg(long, value_enum, default_value_t)]
    pub lang: Lang,
}

/// Runs a `users` subcommand.
pub async fn run(config: &Config, command: UsersCommand) -> Result<Exit, CliError> {
    let now = clock::now()?;
    // Check what can be checked before asking for a password.
    match &command {
        UsersCommand::Add(AddArgs { name, .. })
        | UsersCommand::Remove(RemoveArgs { name })
        | UsersCommand::Password(PasswordArgs { name, .. }) => {
            normalize_user_name(name)?;
        }
        UsersCommand::List(_) => {}
    }
    let registry = Registry::open(&config.database.url).await?;
    let result = match command {
        UsersCommand::Add(args) => {
            let name = normalize_user_name(&args.name)?;
            let hash = new_password(&args.password, &name, args.lang)?;
            let user = registry
                .add_user(&name, args.role.into(), &hash, now)
                .await?;
            outln!("{} ({})", user.name, user.role)?;
            Ok(Exit::Ok)
        }
        UsersCommand::List(args) => {
            let users = registry.users().await?;
            let mut out = std::io::stdout().lock();
            match args.format {
                Format::Json => {
                    for user in &users {
                        writeln!(
                            out,
                            "{}",
                            json!({
                                "name": user.name,
                                "role": user.role,
                                "created": user.created,
                                "last_login": user.last_login,
                            })
                        )?;
                    }
                }
                Format::Text => {
                    let zone = time_zone(config);
                    writeln!(
                        out,
                        "{:<32} {:<10} {:<17} last login",
                        "name", "role", "created"
                    )?;
                    for user in &users {
                        writeln!(
                            out,
                            "{:<32} {:<10} {:<17} {}",
                            user.name,
                            user.role.as_str(),
                            clock::civil(user.created, &zone, TABLE_TIME),
                            user.last_login
                                .map(|at| clock::civil(at, &zone, TABLE_TIME))
                                .unwrap_or_else(|| "-".into())
                        )?;
                    }
                }
            }
            Ok(Exit::Ok)
        }
        UsersCommand::Remove(args) => {
            registry.remove_user(&args.name).await?;
            outln!("{}: removed", normalize_user_name(&args.name)?)?;
            Ok(Exit::Ok)
        }
        UsersCommand::Password(args) => {
            let name = normalize_user_name(&args.name)?;
            if registry.credentials(&name).await?.is_none() {
                registry.close().await;
                return Err(
                    crate::registry::RegistryError::NotFound(format!("user {name}")).into(),
                );
            }
            let hash = new_password(&args.password, &name, args.lang)?;
            registry.set_password(&name, &hash, now).await?;
            outln!("{name}: password changed")?;
            Ok(Exit::Ok)
        }
    };
    registry.close().await;
    result
}

/// Reads a new password, checks it against the rules and hashes it.
fn new_password(source: &PasswordSource, name: &str, lang: Lang) -> Result<String, CliError> {
    let password = read_password(source, lang)?;
    check_new_password(&password, name, lang).map_err(|problem| {
        CliError::Usage(format!(
            "{}: {problem}",
            lang.pick("password non accettata", "password refused")
        ))
    })?;
    hash_password(&password).map_err(CliError::Usage)
}

/// The password from the file, the terminal or standard input (first line, without its
/// line ending).
fn read_password(source: &PasswordSource, lang: Lang) -> Result<String, CliError> {
    let first_line = |text: &str| text.lines().next().unwrap_or("").to_owned();
    if let Some(path) = &source.password_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
        return Ok(first_line(&text));
    }
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(lang.pick("Password: ", "Password: "))?;
        let again =
            rpassword::prompt_password(lang.pick("Ripeti la password: ", "Repeat the password: "))?;
        if first != again {
            return Err(CliError::Usage(
                lang.pick("le due password sono diverse", "the two passwords differ")
                    .to_owned(),
            ));
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(first_line(&line))
}

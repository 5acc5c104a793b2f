//! `pecwatch generate`: the man pages and shell completions, written from the command
//! line's own definition, for packaging (`scripts/package` runs it before `cargo deb`).
//! Not part of [`Cli`]: `main` hands `pecwatch generate …` to [`main`] before parsing,
//! so that neither the help, the man pages nor the completions offer it (clap's
//! completions would list even a hidden subcommand). Operators get these files from the
//! package.

use super::output::{errln, outln};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser, Subcommand};
use clap_complete::Shell;

use super::{Cli, CliError, Exit};

/// `pecwatch generate`'s own command line.
#[derive(Debug, Parser)]
#[command(
    name = "pecwatch generate",
    about = "Write the man pages or the shell completions."
)]
pub struct GenerateCli {
    /// What to write.
    #[command(subcommand)]
    pub command: GenerateCommand,
}

/// What to write.
#[derive(Debug, Subcommand)]
pub enum GenerateCommand {
    /// A man page (section 1) for the command and one for every subcommand
    /// (`pecwatch.1`, `pecwatch-domains-add.1`, …) in DIR.
    Man {
        /// The directory to write into (created if missing).
        dir: PathBuf,
    },
    /// Completions in DIR for bash (`bash/pecwatch`), zsh (`zsh/_pecwatch`) and fish
    /// (`fish/pecwatch.fish`), named as the shells look them up.
    Completions {
        /// The directory to write into (created if missing).
        dir: PathBuf,
    },
}

/// The completion files: shell and path under the output directory.
pub const COMPLETIONS: [(Shell, &str); 3] = [
    (Shell::Bash, "bash/pecwatch"),
    (Shell::Zsh, "zsh/_pecwatch"),
    (Shell::Fish, "fish/pecwatch.fish"),
];

/// `pecwatch generate …`: parses the arguments after `generate`, writes, prints the files
/// written; exit 0, 2 on bad usage, 3 when a file cannot be written.
pub fn main() -> std::process::ExitCode {
    let cli = GenerateCli::parse_from(std::env::args_os().skip(1));
    match run(cli.command) {
        Ok(exit) => std::process::ExitCode::from(exit.code()),
        Err(error) => {
            errln!("pecwatch generate: {error}");
            std::process::ExitCode::from(error.exit_code())
        }
    }
}

/// Writes what `command` asks for, printing the files written.
pub fn run(command: GenerateCommand) -> Result<Exit, CliError> {
    let written = match command {
        GenerateCommand::Man { dir } => man_pages(&dir),
        GenerateCommand::Completions { dir } => completions(&dir),
    }?;
    for path in written {
        outln!("{}", path.display())?;
    }
    Ok(Exit::Ok)
}

/// Writes the man pages into `dir`: the command's and every visible subcommand's.
pub fn man_pages(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    create_dir(dir)?;
    let mut written = Vec::new();
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    man_page(command, dir, &mut written)?;
    written.sort();
    Ok(written)
}

fn man_page(
    command: clap::Command,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> Result<(), CliError> {
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        man_page(sub.clone(), dir, written)?;
    }
    let man = clap_mangen::Man::new(command).manual("pecwatch");
    let path = dir.join(man.get_filename());
    let mut text = Vec::new();
    man.render(&mut text)?;
    write(&path, &text)?;
    written.push(path);
    Ok(())
}

/// Writes the completion files into `dir` ([`COMPLETIONS`]).
pub fn completions(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    let mut written = Vec::new();
    for (shell, name) in COMPLETIONS {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            create_dir(parent)?;
        }
        let mut text = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "pecwatch", &mut text);
        write(&path, &text)?;
        written.push(path);
    }
    Ok(written)
}

fn create_dir(dir: &Path) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(|error| io_error(dir, error))
}

fn write(path: &Path, text: &[u8]) -> Result<(), CliError> {
    File::create(path)
        .and_then(|mut file| file.write_all(text))
        .map_err(|error| io_error(path, error))
}

fn io_error(path: &Path, error: std::io::Error) -> CliError {
    CliError::Io(std::io::Error::new(
        error.kind(),
        format!("{}: {error}", path.display()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_pages_cover_every_visible_subcommand_and_not_generate() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let written = man_pages(dir.path()).expect("man pages");
        let names: Vec<String> = written
            .iter()
            .filter_map(|path| path.file_name()?.to_str().map(str::to_owned))
            .collect();
        for name in [
            "pecwatch.1",
            "pecwatch-check.1",
            "pecwatch-domains-add.1",
            "pecwatch-serve.1",
        ] {
            assert!(
                names.iter().any(|n| n == name),
                "{name} missing from {names:?}"
            );
        }
        assert!(
            !names.iter().any(|n| n.starts_with("pecwatch-generate")),
            "{names:?}"
        );
        let top = std::fs::read_to_string(dir.path().join("pecwatch.1")).expect("pecwatch.1");
        assert!(top.contains(".TH pecwatch 1"), "{top}");
        assert!(top.contains("serve"), "{top}");
    }

    #[test]
    fn completions_for_three_shells_name_the_subcommands() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let written = completions(dir.path()).expect("completions");
        assert_eq!(written.len(), 3);
        for path in written {
            let text = std::fs::read_to_string(&path).expect("completion file");
            assert!(text.contains("postfix"), "{}: {text}", path.display());
            assert!(!text.contains("generate"), "{}", path.display());
        }
    }
}

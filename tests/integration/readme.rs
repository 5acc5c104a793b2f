//! The README's examples run as written: every ```console block of README.md is run, in
//! order, against the DNS lab, and each command's output must match what the README
//! shows.
//!
//! A block is one bash session (its `export`s last to its end) in a scratch directory
//! shared by all blocks (so files and SQLite databases carry over from one block to the
//! next), which has the repository's `tests/`, `lab/` and `examples/` linked in, the built
//! `pecwatch` first on the `PATH`, the lab's `lab/lab.sh env` exported and a real SMTP
//! server (aiosmtpd) as `[smtp] url`. Lines starting with `$ ` are commands (a line ending
//! with `\` continues on the next); the lines up to the next command are its output
//! (standard output and standard error together). In the expected output, `[..]` stands
//! for any text within a line (dates, ids, timings) and a line `...` for any number of
//! lines.

use std::path::Path;
use std::process::Command;

use crate::support::lab::{lab, repo};
use crate::support::smtp::SmtpServer;

/// One command of a block and the output the README shows for it.
#[derive(Debug)]
struct Step {
    command: String,
    expected: Vec<String>,
}

/// The ```console blocks of a Markdown text, each with its first line number.
fn console_blocks(markdown: &str) -> Vec<(usize, Vec<Step>)> {
    let mut blocks = Vec::new();
    let mut lines = markdown.lines().enumerate();
    while let Some((number, line)) = lines.next() {
        if line.trim() != "```console" {
            continue;
        }
        let mut steps: Vec<Step> = Vec::new();
        let mut continued = false;
        for (_, line) in lines.by_ref() {
            if line.trim_start().starts_with("```") {
                break;
            }
            if continued {
                let step = steps.last_mut().expect("a command before");
                step.command.push('\n');
                step.command.push_str(line);
                continued = line.ends_with('\\');
            } else if let Some(command) = line.strip_prefix("$ ") {
                steps.push(Step {
                    command: command.to_owned(),
                    expected: Vec::new(),
                });
                continued = command.ends_with('\\');
            } else if let Some(step) = steps.last_mut() {
                step.expected.push(line.to_owned());
            }
        }
        for step in &mut steps {
            while step.expected.last().is_some_and(|l| l.trim().is_empty()) {
                step.expected.pop();
            }
        }
        blocks.push((number + 1, steps));
    }
    blocks
}

/// Whether one line matches a pattern line with `[..]` wildcards.
fn line_matches(pattern: &str, line: &str) -> bool {
    let pattern = pattern.trim_end();
    let line = line.trim_end();
    let parts: Vec<&str> = pattern.split("[..]").collect();
    if parts.len() == 1 {
        return pattern == line;
    }
    let Some(mut rest) = line.strip_prefix(parts[0]) else {
        return false;
    };
    let last = parts.len() - 1;
    for (index, part) in parts.iter().enumerate().skip(1) {
        if index == last {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// Whether the output matches the expected lines (`...` for any lines).
fn output_matches(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.iter().all(|line| line.trim().is_empty()),
        Some((first, rest)) if first.trim() == "..." => {
            (0..=actual.len()).any(|skip| output_matches(rest, &actual[skip..]))
        }
        Some((first, rest)) => match actual.split_first() {
            Some((line, more)) => line_matches(first, line) && output_matches(rest, more),
            None => false,
        },
    }
}

/// The separator printed before each command's output.
const MARK: &str = "@@pecwatch-readme-step@@";

#[test]
fn wildcards_and_skips() {
    assert!(line_matches(
        "Controllo n. [..]: [..] s",
        "Controllo n. 3: 0.04 s"
    ));
    assert!(!line_matches(
        "Controllo n. [..]: [..] s",
        "Ricontrollo n. 3: 0.04 s"
    ));
    assert!(line_matches("a[..]", "abc"));
    let expected = vec!["a".to_owned(), "...".to_owned(), "z".to_owned()];
    assert!(output_matches(&expected, &["a", "b", "c", "z"]));
    assert!(output_matches(&expected, &["a", "z"]));
    assert!(!output_matches(&expected, &["a", "b"]));
}

#[test]
fn readme_console_blocks_run_as_written() {
    let lab = lab();
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let blocks = console_blocks(&readme);
    assert!(
        blocks.len() >= 4,
        "too few console blocks: {}",
        blocks.len()
    );
    let dir = tempfile::tempdir().unwrap();
    for linked in ["tests", "lab", "examples"] {
        std::os::unix::fs::symlink(repo().join(linked), dir.path().join(linked)).unwrap();
    }
    let smtp = SmtpServer::start();
    let bin = Path::new(env!("CARGO_BIN_EXE_pecwatch")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut failures = Vec::new();
    for (line, steps) in &blocks {
        // Each command sees the previous one's exit status (`echo $?`).
        let mut script = String::from("set +e\nstatus=0\n");
        for step in steps {
            script.push_str(&format!(
                "printf '\\n{MARK}\\n'\n(exit $status)\n{{ {}\n}} 2>&1\nstatus=$?\n",
                step.command
            ));
        }
        let output = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", &path)
            .env("HOME", dir.path())
            .env("LANG", "C.UTF-8")
            .env("NO_COLOR", "1")
            .env("PECWATCH_LAB_DIR", &lab.dir)
            .env("PECWATCH_LAB_RESOLVER", &lab.resolver)
            .env("PECWATCH_LAB_ROOT_HINTS", &lab.root_hints)
            .env("PECWATCH_DNS_RESOLVER", &lab.resolver)
            .env("PECWATCH_DNS_ALLOW_PRIVATE", "true")
            .env("PECWATCH_SMTP_URL", smtp.url())
            .env("PECWATCH_LOG", "error")
            .output()
            .expect("run bash");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let outputs: Vec<&str> = text.split(&format!("\n{MARK}\n")).skip(1).collect();
        for (index, step) in steps.iter().enumerate() {
            let mut actual: Vec<&str> = outputs
                .get(index)
                .map(|o| o.lines().collect())
                .unwrap_or_default();
            while actual.last().is_some_and(|l| l.trim().is_empty()) {
                actual.pop();
            }
            if !output_matches(&step.expected, &actual) {
                failures.push(format!(
                    "README.md block at line {line}: $ {}\n--- expected\n{}\n--- got\n{}\n",
                    step.command,
                    step.expected.join("\n"),
                    actual.join("\n")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

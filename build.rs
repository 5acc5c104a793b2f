//! Build script: the version `pecwatch --version` prints, with the git commit it was built
//! from when there is one (`0.1.0 (3e36095)`), as the environment variable
//! `PECWATCH_VERSION` of the crate's compilation.
//!
//! The commit comes from `PECWATCH_GIT_COMMIT` when set (a build from a source tarball that
//! knows its commit), else from `git rev-parse --short HEAD` in the source directory; with
//! neither (no git, not a checkout) the version is the bare crate version. The script runs
//! again when HEAD moves (the files git keeps it in), not on every source change.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PECWATCH_GIT_COMMIT");
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let commit = std::env::var("PECWATCH_GIT_COMMIT")
        .ok()
        .map(|commit| commit.trim().to_owned())
        .filter(|commit| !commit.is_empty())
        .or_else(git_commit);
    let full = match commit {
        Some(commit) => format!("{version} ({commit})"),
        None => version,
    };
    println!("cargo:rustc-env=PECWATCH_VERSION={full}");
    // `mmsg`: the system has sendmmsg and recvmmsg (`src/adapters/dns/batch.rs`).
    println!("cargo::rustc-check-cfg=cfg(mmsg)");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if matches!(os.as_str(), "linux" | "android" | "freebsd" | "netbsd") {
        println!("cargo:rustc-cfg=mmsg");
    }
}

/// The short hash of HEAD, and the files to watch for it to change.
fn git_commit() -> Option<String> {
    let commit = git(&["rev-parse", "--short", "HEAD"])?;
    // HEAD, the branch it names (a loose ref) and the packed refs: whichever exist (a
    // missing file would make cargo run this script on every build).
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--path-format=absolute", "--git-path", &name])
            && Path::new(&path).is_file()
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    Some(commit)
}

/// A git command's trimmed output in the source directory, if it succeeded.
fn git(args: &[&str]) -> Option<String> {
    let directory = std::env::var_os("CARGO_MANIFEST_DIR")?;
    let output = Command::new("git")
        .args(args)
        .current_dir(directory)
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (output.status.success() && !text.is_empty()).then_some(text)
}

//! Running the real `pecwatch` binary against the lab, with time and environment set.

use std::process::{Command, Output};

use super::lab::lab;

/// Runs pecwatch on `url` against the lab, at `now` (`None`: the real clock), with extra
/// environment variables.
pub fn pecwatch(url: &str, now: Option<&str>, args: &[&str], env: &[(&str, &str)]) -> Command {
    let lab = lab();
    let dir = std::env::temp_dir();
    let mut command = Command::new(env!("CARGO_BIN_EXE_pecwatch"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("PECWATCH_CONFIG")
        .env("PECWATCH_DATABASE_URL", url)
        .env("PECWATCH_DNS_RESOLVER", &lab.resolver)
        .env("PECWATCH_DNS_ALLOW_PRIVATE", "true")
        .env("PECWATCH_LOG", "warn")
        .env("NO_COLOR", "1");
    match now {
        Some(now) => command.env("PECWATCH_NOW", now),
        // On the wall clock the daily sweep (03:00 Europe/Rome by default) must not start
        // in the middle of a test that happens to run at that hour: it is put half a day away.
        None => command
            .env_remove("PECWATCH_NOW")
            .env("PECWATCH_SWEEP_TIME", far_from_now()),
    };
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

/// A time of day about twelve hours from now, whatever the zone's offset (`HH:MM`).
pub fn far_from_now() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let utc_hour = seconds / 3600 % 24;
    format!("{:02}:30", (utc_hour + 13) % 24)
}

/// Runs pecwatch to its end and returns its output; panics with its output if the exit
/// status is not `expected`.
pub fn run(url: &str, now: &str, args: &[&str], env: &[(&str, &str)], expected: i32) -> Output {
    let output = pecwatch(url, Some(now), args, env)
        .output()
        .expect("run pecwatch");
    assert_eq!(
        output.status.code(),
        Some(expected),
        "pecwatch {args:?} at {now}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

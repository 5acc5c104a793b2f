//! What every component's settings share: the problem of one key, and secrets kept out of
//! text.
//!
//! Each component defines and checks its own settings (`sweep::SweepConfig`,
//! `probe::DnsConfig`, `web::WebConfig`, `outbox::SmtpConfig`, …) from its section of
//! `pecwatch.toml`;
//! [`crate::config`] only assembles them from the file and the environment, and names where
//! a value came from. A component says what is wrong with one key as an [`Invalid`]; the
//! configuration turns it into its one-line error with the file or variable the value came
//! from.

use std::fmt;

/// What secrets are replaced with in output.
pub const REDACTED: &str = "***";

/// One key of a component's section is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key} = {shown}: {problem}")]
pub struct Invalid {
    /// The key (`timeout_ms`).
    pub key: &'static str,
    /// Its value as shown in messages (quoted text, a number; secrets as `***`).
    pub shown: String,
    /// What is wrong.
    pub problem: String,
}

impl Invalid {
    /// The problem of `key`, whose value is shown as `shown`.
    pub fn new(key: &'static str, shown: impl Into<String>, problem: impl fmt::Display) -> Self {
        Self {
            key,
            shown: shown.into(),
            problem: problem.to_string(),
        }
    }
}

/// The first of `durations` (key, value) that is not positive, as the problem of its key.
pub fn positive(durations: &[(&'static str, jiff::SignedDuration)]) -> Result<(), Invalid> {
    match durations
        .iter()
        .find(|(_, duration)| !duration.is_positive())
    {
        Some((key, duration)) => Err(Invalid::new(
            key,
            format!("\"{duration:#}\""),
            "must be positive",
        )),
        None => Ok(()),
    }
}

/// Replaces the password of a URL (`scheme://user:PASSWORD@host/…`) and the values of
/// query parameters whose name contains `pass` with `***`.
pub fn redact_url(url: &str) -> String {
    let (head, rest) = match url.find("://") {
        Some(at) => url.split_at(at + 3),
        None => ("", url),
    };
    // The user info ends at the last '@' before the query, even when a careless password
    // holds a '/' or an '@'; the authority ends at the first '/', '?' or '#' after it.
    let before_query = rest.split(['?', '#']).next().unwrap_or_default();
    let authority_end = if head.is_empty() {
        0
    } else {
        let from = before_query.rfind('@').unwrap_or(0);
        rest[from..]
            .find(['/', '?', '#'])
            .map_or(rest.len(), |end| from + end)
    };
    let (authority, tail) = rest.split_at(authority_end);
    let mut out = head.to_owned();
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            match userinfo.split_once(':') {
                Some((user, _password)) => out.push_str(&format!("{user}:{REDACTED}")),
                None => out.push_str(userinfo),
            }
            out.push('@');
            out.push_str(host);
        }
        None => out.push_str(authority),
    }
    match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if name.to_ascii_lowercase().contains("pass") => {
                        format!("{name}={REDACTED}")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            out.push_str(path);
            out.push('?');
            out.push_str(&query.join("&"));
        }
        None => out.push_str(tail),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;

    #[test]
    fn the_first_duration_that_is_not_positive_is_named() {
        let ok = SignedDuration::from_secs(1);
        assert_eq!(positive(&[("a", ok), ("b", ok)]), Ok(()));
        let problem = positive(&[("a", ok), ("b", SignedDuration::ZERO), ("c", -ok)]).unwrap_err();
        assert_eq!(problem.key, "b");
        assert_eq!(problem.problem, "must be positive");
        assert_eq!(positive(&[("c", -ok)]).unwrap_err().shown, "\"1s ago\"");
    }
}

//! The current time, injectable from outside.
//!
//! Every command that needs "now" (checks, the daily sweep, deadlines, notices, the web
//! interface) takes it from [`now`] and never from the system clock directly. Setting the
//! environment variable [`NOW_VAR`] (`PECWATCH_NOW`) to an RFC 3339 instant makes every
//! command act as if it ran at that instant:
//!
//! ```text
//! PECWATCH_NOW=2026-11-23T03:00:00+01:00 pecwatch sweep
//! PECWATCH_NOW=2026-11-30T02:00:00Z pecwatch status pec.example.it
//! ```
//!
//! The injected clock does not advance: every call returns the same instant. An empty value
//! counts as unset; any other value that is not an RFC 3339 instant with an offset (`Z` or
//! `±hh:mm`) is a [`ClockError`], which callers report as bad configuration (exit 2).

use jiff::Timestamp;

/// The environment variable that fixes the current time.
pub const NOW_VAR: &str = "PECWATCH_NOW";

/// `PECWATCH_NOW` is set to something that is not an instant.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    /// The value does not parse as an RFC 3339 instant.
    #[error(
        "invalid {NOW_VAR} {value:?}: expected an RFC 3339 instant such as \
         2026-11-23T03:00:00+01:00 or 2026-11-23T02:00:00Z ({problem})"
    )]
    Invalid {
        /// The value of the variable.
        value: String,
        /// What the parser said.
        problem: String,
    },
    /// The value is not valid UTF-8.
    #[error("invalid {NOW_VAR}: the value is not valid UTF-8")]
    NotUnicode,
}

/// The current time: `PECWATCH_NOW` if it is set (and not empty), else the system clock.
pub fn now() -> Result<Timestamp, ClockError> {
    match std::env::var(NOW_VAR) {
        Ok(value) => now_from(Some(&value)),
        Err(std::env::VarError::NotPresent) => now_from(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(ClockError::NotUnicode),
    }
}

/// A source of "now" for long-running work (sweeps, the service).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// The system clock.
    System,
    /// Always the same instant (`PECWATCH_NOW` for one-shot commands).
    Fixed(Timestamp),
    /// Starts at an instant and runs with real time from `started` (`PECWATCH_NOW` for
    /// the service, which must see time pass).
    Running {
        /// The instant the clock started at.
        from: Timestamp,
        /// When it started.
        started: std::time::Instant,
    },
}

impl Clock {
    /// The command's clock: fixed at `PECWATCH_NOW` when it is set, else the system's.
    pub fn from_env() -> Result<Clock, ClockError> {
        Ok(match fixed_instant()? {
            Some(at) => Clock::Fixed(at),
            None => Clock::System,
        })
    }

    /// The service's clock: running from `PECWATCH_NOW` when it is set, else the
    /// system's.
    pub fn running_from_env() -> Result<Clock, ClockError> {
        Ok(match fixed_instant()? {
            Some(from) => Clock::Running {
                from,
                started: std::time::Instant::now(),
            },
            None => Clock::System,
        })
    }

    /// The current instant.
    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            Clock::Fixed(at) => *at,
            Clock::Running { from, started } => {
                let elapsed = jiff::SignedDuration::try_from(started.elapsed()).unwrap_or_default();
                from.saturating_add(elapsed).unwrap_or(*from)
            }
        }
    }

    /// Whether the clock stands still.
    pub fn is_fixed(&self) -> bool {
        matches!(self, Clock::Fixed(_))
    }
}

/// `PECWATCH_NOW` as an instant, if it is set (and not empty).
fn fixed_instant() -> Result<Option<Timestamp>, ClockError> {
    let fixed = match std::env::var(NOW_VAR) {
        Ok(value) if !value.trim().is_empty() => true,
        Ok(_) | Err(std::env::VarError::NotPresent) => false,
        Err(std::env::VarError::NotUnicode(_)) => return Err(ClockError::NotUnicode),
    };
    if fixed { now().map(Some) } else { Ok(None) }
}

/// [`now`] with the variable's value given: `None` or an empty value mean the system clock.
pub fn now_from(var: Option<&str>) -> Result<Timestamp, ClockError> {
    match var.map(str::trim) {
        None | Some("") => Ok(Timestamp::now()),
        Some(value) => value
            .parse::<Timestamp>()
            .map_err(|error| ClockError::Invalid {
                value: value.to_owned(),
                problem: error.to_string(),
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_instants_with_offset_or_z() {
        let rome = now_from(Some("2026-11-23T03:00:00+01:00")).unwrap();
        let utc = now_from(Some("2026-11-23T02:00:00Z")).unwrap();
        assert_eq!(rome, utc);
        assert_eq!(rome.to_string(), "2026-11-23T02:00:00Z");
        assert_eq!(now_from(Some(" 2026-11-23T02:00:00Z\n")).unwrap(), utc);
    }

    #[test]
    fn clocks_fixed_running_and_system() {
        let at = now_from(Some("2026-11-23T02:00:00Z")).unwrap();
        let fixed = Clock::Fixed(at);
        assert!(fixed.is_fixed());
        assert_eq!(fixed.now(), at);
        let running = Clock::Running {
            from: at,
            started: std::time::Instant::now() - std::time::Duration::from_secs(90),
        };
        assert!(!running.is_fixed());
        let later = running.now();
        assert!(later >= at + jiff::SignedDuration::from_secs(90), "{later}");
        assert!(later < at + jiff::SignedDuration::from_secs(120), "{later}");
        let before = Timestamp::now();
        assert!(Clock::System.now() >= before);
    }

    #[test]
    fn unset_or_empty_is_the_system_clock() {
        for var in [None, Some(""), Some("  ")] {
            let before = Timestamp::now();
            let now = now_from(var).unwrap();
            assert!(before <= now && now <= Timestamp::now());
        }
    }

    #[test]
    fn invalid_values_are_clear_errors() {
        for bad in [
            "tomorrow",
            "2026-11-23",
            "2026-11-23T03:00:00",
            "2026-13-01T00:00Z",
        ] {
            let message = now_from(Some(bad)).unwrap_err().to_string();
            assert!(message.contains("PECWATCH_NOW"), "{message}");
            assert!(message.contains(bad), "{message}");
            assert!(message.contains("RFC 3339"), "{message}");
            assert!(!message.contains('\n'), "{message}");
        }
    }
}

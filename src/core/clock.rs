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
//!
//! # Simulated time
//!
//! `pecwatch serve` runs with real time from `PECWATCH_NOW`. With [`SIMULATE_VAR`]
//! (`PECWATCH_SIMULATE`) also set to a file's path, it runs in *simulated time*
//! ([`Simulation`]) instead: time stands still while it works (every check of a sweep
//! happens at the same instant) and, instead of sleeping, the clock jumps to the next
//! moment something is due (a daily slot, a re-check, a deadline, a notice to retry),
//! never past the instant written in the file, the *horizon*. Having done everything up to
//! the horizon, the service writes that instant to `<file>.reached` and waits until the
//! file holds a later one. A month of service takes minutes: for rehearsals on a copy of a
//! registry, and for the soak test, which moves the horizon a step at a time and changes
//! the DNS in between.
//!
//! ```text
//! echo 2026-12-01T12:00:00Z > /tmp/horizon
//! PECWATCH_NOW=2026-11-23T00:00:00Z PECWATCH_SIMULATE=/tmp/horizon pecwatch serve
//! cat /tmp/horizon.reached        # 2026-12-01T12:00:00Z once the service got there
//! ```
//!
//! # Civil time
//!
//! Instants are kept in UTC; people read them in one time zone, `[sweep] timezone`
//! ([`DEFAULT_ZONE`], Europe/Rome, unless configured). [`civil`] writes an instant in that
//! zone and [`parse_instant`] reads one as people type it (a date is the end of that day
//! in that zone): the edge builds the zone from the configuration once and passes it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// The environment variable that fixes the current time.
pub const NOW_VAR: &str = "PECWATCH_NOW";

/// The environment variable that runs the service in simulated time: the path of the
/// horizon file (see [the module's documentation](self)).
pub const SIMULATE_VAR: &str = "PECWATCH_SIMULATE";

/// How often a simulation waiting at its horizon looks at the horizon file again.
const HORIZON_POLL: Duration = Duration::from_millis(10);

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
    /// `PECWATCH_SIMULATE` without `PECWATCH_NOW`: a simulation needs an instant to
    /// start at.
    #[error(
        "{SIMULATE_VAR} is set but {NOW_VAR} is not: a simulation starts at {NOW_VAR} \
         (an RFC 3339 instant such as 2026-11-23T00:00:00Z)"
    )]
    SimulationWithoutStart,
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
#[derive(Clone, Copy, Debug)]
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
    /// Simulated time (`PECWATCH_SIMULATE`): stands still while the service works and
    /// jumps ahead when it would sleep. One per process, for its whole life.
    Simulated(&'static Simulation),
}

impl PartialEq for Clock {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Clock::System, Clock::System) => true,
            (Clock::Fixed(a), Clock::Fixed(b)) => a == b,
            (
                Clock::Running { from, started },
                Clock::Running {
                    from: other_from,
                    started: other_started,
                },
            ) => from == other_from && started == other_started,
            (Clock::Simulated(a), Clock::Simulated(b)) => std::ptr::eq(*a, *b),
            _ => false,
        }
    }
}

impl Eq for Clock {}

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

    /// The service's clock (`pecwatch serve`): simulated when `PECWATCH_SIMULATE` is
    /// set (from `PECWATCH_NOW`, which must be set too), else as
    /// [`running_from_env`](Self::running_from_env).
    pub fn service_from_env() -> Result<Clock, ClockError> {
        let horizon = match std::env::var_os(SIMULATE_VAR) {
            Some(path) if !path.is_empty() => PathBuf::from(path),
            _ => return Self::running_from_env(),
        };
        let start = fixed_instant()?.ok_or(ClockError::SimulationWithoutStart)?;
        // One simulation per process, alive as long as the process: leaked on purpose so
        // that the clock stays a plain `Copy` value everywhere.
        let simulation: &'static Simulation = Box::leak(Box::new(Simulation::new(start, horizon)));
        Ok(Clock::Simulated(simulation))
    }

    /// The current instant.
    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            Clock::Fixed(at) => *at,
            Clock::Simulated(simulation) => simulation.now(),
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

    /// Waits for the service's next round: `wait` of real time, or, in simulated time,
    /// until the clock has moved towards `wake` (see [`Simulation::advance`]).
    pub async fn idle(&self, wake: Timestamp, wait: Duration) {
        match self {
            Clock::Simulated(simulation) => simulation.advance(wake).await,
            Clock::System | Clock::Fixed(_) | Clock::Running { .. } => {
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Simulated time for the service: the current instant, and the horizon file that bounds
/// it (see [the module's documentation](self)).
#[derive(Debug)]
pub struct Simulation {
    now: Mutex<Timestamp>,
    horizon: PathBuf,
    reached: PathBuf,
}

impl Simulation {
    /// A simulation starting at `start`, bounded by the instant in the file `horizon`.
    pub fn new(start: Timestamp, horizon: PathBuf) -> Self {
        let mut reached = horizon.clone().into_os_string();
        reached.push(".reached");
        Simulation {
            now: Mutex::new(start),
            horizon,
            reached: PathBuf::from(reached),
        }
    }

    /// The simulated instant.
    pub fn now(&self) -> Timestamp {
        *self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn set(&self, at: Timestamp) {
        *self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = at;
    }

    /// The file the service writes the horizon it reached to (`<horizon>.reached`).
    pub fn reached_file(&self) -> &Path {
        &self.reached
    }

    /// Moves time on, where the service would sleep until `wake`: to `wake` if the
    /// horizon allows (a `wake` not after now counts as a second later, as the real
    /// service never sleeps less than a second), else to the horizon. At the horizon
    /// already, it writes the horizon to the reached file and returns once the horizon
    /// file holds a later instant, leaving time where it is: the service first looks at
    /// what happened meanwhile (an operator's command) at the instant it had reached.
    ///
    /// A horizon file that is missing or unreadable counts as a horizon at the current
    /// instant (the simulation waits).
    pub async fn advance(&self, wake: Timestamp) {
        let now = self.now();
        let horizon = self.horizon().unwrap_or(now);
        let wake = if wake > now {
            wake
        } else {
            now.saturating_add(SignedDuration::from_secs(1))
                .unwrap_or(now)
        };
        if now < horizon {
            self.set(wake.min(horizon));
            return;
        }
        if let Err(error) = write_atomically(&self.reached, &format!("{now}\n")) {
            tracing::error!(file = %self.reached.display(), %error, "cannot write the simulation's reached instant");
        }
        while self.horizon().is_none_or(|horizon| horizon <= now) {
            tokio::time::sleep(HORIZON_POLL).await;
        }
    }

    /// The instant in the horizon file, if it holds one.
    fn horizon(&self) -> Option<Timestamp> {
        let text = std::fs::read_to_string(&self.horizon).ok()?;
        match text.trim().parse() {
            Ok(at) => Some(at),
            Err(error) => {
                tracing::warn!(file = %self.horizon.display(), %error, "the simulation's horizon is not an instant");
                None
            }
        }
    }
}

/// Writes `text` to `path` through a temporary file renamed over it, so that a reader
/// never sees half of it.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)
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

// ---------------------------------------------------------------------------------------
// Civil time: instants as people read them
// ---------------------------------------------------------------------------------------

/// The time zone people read instants in when the configuration names none
/// (`[sweep] timezone`'s default): the provider's and its holders'.
pub const DEFAULT_ZONE: &str = "Europe/Rome";

/// [`DEFAULT_ZONE`] as a time zone (UTC only if the bundled database lacked it, which the
/// tests rule out).
pub fn default_zone() -> TimeZone {
    TimeZone::get(DEFAULT_ZONE).unwrap_or(TimeZone::UTC)
}

/// `at` in `zone`, written with the `strftime` `format` (`%Y-%m-%d %H:%M`): the one way
/// an instant is shown to people (tables, the console, the service's messages, notices).
/// JSON keeps RFC 3339 UTC.
pub fn civil(at: Timestamp, zone: &TimeZone, format: &str) -> String {
    at.to_zoned_datetime(zone.clone())
        .strftime(format)
        .to_string()
}

/// A text that is not an instant ([`parse_instant`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InstantError {
    /// Neither a date nor an RFC 3339 instant.
    #[error("invalid date {text:?}: expected YYYY-MM-DD or an RFC 3339 instant")]
    Invalid {
        /// The text, trimmed.
        text: String,
    },
    /// A date whose end does not exist in the time zone (out of range).
    #[error("invalid date {text:?}: {problem}")]
    OutOfRange {
        /// The text, trimmed.
        text: String,
        /// What the time zone arithmetic said.
        problem: String,
    },
}

/// An instant as people type it: a date (`2027-12-31`: the end of that day, 23:59:59, in
/// `zone`) or an RFC 3339 instant (`2027-12-31T12:00:00Z`).
pub fn parse_instant(text: &str, zone: &TimeZone) -> Result<Timestamp, InstantError> {
    let text = text.trim();
    if let Ok(instant) = text.parse::<Timestamp>() {
        return Ok(instant);
    }
    let date: Date = text.parse().map_err(|_| InstantError::Invalid {
        text: text.to_owned(),
    })?;
    date.at(23, 59, 59, 0)
        .to_zoned_datetime(zone.clone())
        .map(|zoned| zoned.timestamp())
        .map_err(|error| InstantError::OutOfRange {
            text: text.to_owned(),
            problem: error.to_string(),
        })
}

/// Parses a time of day `HH:MM` or `HH:MM:SS` (00:00 to 23:59:59).
pub fn parse_time_of_day(text: &str) -> Result<Time, String> {
    let bad = || format!("invalid time {text:?}: expected HH:MM between 00:00 and 23:59");
    let parts: Vec<&str> = text.trim().split(':').collect();
    let well_formed = (2..=3).contains(&parts.len())
        && parts.iter().enumerate().all(|(i, part)| {
            let digits = if i == 0 { 1..=2 } else { 2..=2 };
            digits.contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit())
        });
    if !well_formed {
        return Err(bad());
    }
    let number = |i: usize| parts.get(i).map_or(Ok(0), |part| part.parse::<i8>());
    match (number(0), number(1), number(2)) {
        (Ok(hour), Ok(minute), Ok(second)) => Time::new(hour, minute, second, 0).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// Serde of times of day as `"03:00"` (`"03:00:30"` with seconds).
pub mod time_of_day {
    use jiff::civil::Time;
    use serde::{Deserialize, Deserializer, Serializer, de};

    /// Writes `time` as `HH:MM`, or `HH:MM:SS` when it has seconds.
    pub fn serialize<S: Serializer>(time: &Time, s: S) -> Result<S::Ok, S::Error> {
        let (hour, minute, second) = (time.hour(), time.minute(), time.second());
        if second == 0 {
            s.collect_str(&format_args!("{hour:02}:{minute:02}"))
        } else {
            s.collect_str(&format_args!("{hour:02}:{minute:02}:{second:02}"))
        }
    }

    /// Reads `HH:MM` or `HH:MM:SS` ([`parse_time_of_day`](super::parse_time_of_day)).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Time, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_time_of_day(&text).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_time_is_the_zones() {
        let rome = default_zone();
        let winter: Timestamp = "2026-11-23T09:00:00Z".parse().unwrap();
        let summer: Timestamp = "2026-07-23T09:00:00Z".parse().unwrap();
        assert_eq!(civil(winter, &rome, "%Y-%m-%d %H:%M"), "2026-11-23 10:00");
        assert_eq!(civil(summer, &rome, "%d/%m/%Y %H:%M"), "23/07/2026 11:00");
        assert_eq!(civil(winter, &TimeZone::UTC, "%H:%M %Z"), "09:00 UTC");
        let lisbon = TimeZone::get("Europe/Lisbon").unwrap();
        assert_eq!(civil(winter, &lisbon, "%H:%M"), "09:00");
    }

    #[test]
    fn a_date_is_the_end_of_that_day_in_the_zone() {
        let rome = default_zone();
        let end = parse_instant(" 2027-12-31 ", &rome).unwrap();
        assert_eq!(end.to_string(), "2027-12-31T22:59:59Z");
        let summer = parse_instant("2027-07-31", &rome).unwrap();
        assert_eq!(summer.to_string(), "2027-07-31T21:59:59Z");
        let utc = parse_instant("2027-12-31", &TimeZone::UTC).unwrap();
        assert_eq!(utc.to_string(), "2027-12-31T23:59:59Z");
        let instant = parse_instant("2027-12-31T12:00:00+01:00", &rome).unwrap();
        assert_eq!(instant.to_string(), "2027-12-31T11:00:00Z");
        let error = parse_instant("31/12", &rome).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid date \"31/12\": expected YYYY-MM-DD or an RFC 3339 instant"
        );
    }

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

    #[tokio::test]
    async fn a_simulation_jumps_to_what_is_due_and_waits_at_its_horizon() {
        let dir = tempfile::tempdir().unwrap();
        let horizon = dir.path().join("horizon");
        let at = |s: &str| now_from(Some(s)).unwrap();
        std::fs::write(&horizon, "2026-11-23T12:00:00Z\n").unwrap();
        let simulation: &'static Simulation = Box::leak(Box::new(Simulation::new(
            at("2026-11-23T00:00:00Z"),
            horizon.clone(),
        )));
        let clock = Clock::Simulated(simulation);
        assert!(!clock.is_fixed());
        assert_eq!(clock, clock);
        assert_ne!(clock, Clock::System);

        // Within the horizon: straight to what is due, with no real wait.
        let started = std::time::Instant::now();
        clock
            .idle(at("2026-11-23T03:00:00Z"), Duration::from_secs(30))
            .await;
        assert_eq!(clock.now(), at("2026-11-23T03:00:00Z"));
        assert!(started.elapsed() < Duration::from_secs(5));
        // Nothing later due: a second on, as the real service never sleeps less.
        clock
            .idle(at("2026-11-23T02:00:00Z"), Duration::from_secs(1))
            .await;
        assert_eq!(clock.now(), at("2026-11-23T03:00:01Z"));
        // Beyond the horizon: to the horizon, where the service works once more.
        clock
            .idle(at("2026-11-24T03:00:00Z"), Duration::from_secs(30))
            .await;
        assert_eq!(clock.now(), at("2026-11-23T12:00:00Z"));
        assert!(!simulation.reached_file().exists());

        // At the horizon: it says so, and waits until the horizon moves.
        let waiting = tokio::spawn(async move {
            clock
                .idle(at("2026-11-24T03:00:00Z"), Duration::from_secs(30))
                .await;
        });
        let reached = simulation.reached_file().to_owned();
        for _ in 0..500 {
            if reached.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            std::fs::read_to_string(&reached).unwrap().trim(),
            "2026-11-23T12:00:00Z"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "it waits for the horizon to move");
        // Rubbish in the file is not a later horizon.
        std::fs::write(&horizon, "tomorrow").unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());
        std::fs::write(&horizon, "2026-11-25T12:00:00Z").unwrap();
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the horizon moved")
            .unwrap();
        // Time stays at the old horizon for one more round, then moves on.
        assert_eq!(clock.now(), at("2026-11-23T12:00:00Z"));
        clock
            .idle(at("2026-11-24T03:00:00Z"), Duration::from_secs(30))
            .await;
        assert_eq!(clock.now(), at("2026-11-24T03:00:00Z"));
    }

    #[test]
    fn times_of_day() {
        assert_eq!(
            parse_time_of_day("03:00").unwrap(),
            Time::constant(3, 0, 0, 0)
        );
        assert_eq!(
            parse_time_of_day("3:05").unwrap(),
            Time::constant(3, 5, 0, 0)
        );
        assert_eq!(
            parse_time_of_day("23:59:30").unwrap(),
            Time::constant(23, 59, 30, 0)
        );
        for bad in [
            "25:00",
            "24:00",
            "12:60",
            "12",
            "12:5",
            "noon",
            "12:00:00:00",
            "-1:00",
        ] {
            assert!(parse_time_of_day(bad).is_err(), "{bad}");
        }
    }
}

//! Instants as a holder reads them: a date and a time in Europe/Rome, in words.
//!
//! Deadlines and expiries are stored as UTC instants; every notice shows them in Italian
//! civil time (the provider's and the holder's), whatever the season: `2026-11-30T03:00Z`
//! is "30 novembre 2026 alle 04:00", `2026-07-30T02:00Z` is "30 luglio 2026 alle 04:00".
//! Always [`clock::DEFAULT_ZONE`](crate::clock::DEFAULT_ZONE), not `[sweep] timezone`:
//! the templates say "ora italiana", and the deadlines are the Italian ones.

use jiff::Timestamp;
use serde::Serialize;

use crate::Lang;

use super::NoticeError;

/// The time zone of every date in a notice.
pub const ZONE: &str = crate::clock::DEFAULT_ZONE;

const MESI: [&str; 12] = [
    "gennaio",
    "febbraio",
    "marzo",
    "aprile",
    "maggio",
    "giugno",
    "luglio",
    "agosto",
    "settembre",
    "ottobre",
    "novembre",
    "dicembre",
];

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// One instant written out for templates (`deadline.datetime`, `expires.the_date`, …).
///
/// The `the_` forms carry the Italian article, elided where Italian elides it ("entro
/// **l'8** dicembre", "entro **il** 30 novembre"); in English they equal the plain forms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LocalTime {
    /// `30 novembre 2026`, `1º dicembre 2026`; `30 November 2026`.
    pub date: String,
    /// `04:00` (24-hour clock).
    pub time: String,
    /// `30 novembre 2026 alle 04:00`, `2 marzo 2026 all'01:30`; `30 November 2026 at 04:00`.
    pub datetime: String,
    /// `30/11/2026` (day first, in both languages).
    pub short: String,
    /// `il 30 novembre 2026`, `l'8 dicembre 2026`.
    pub the_date: String,
    /// `il 30 novembre 2026 alle 04:00`.
    pub the_datetime: String,
    /// `il 30/11/2026`, `l'08/12/2026`.
    pub the_short: String,
    /// RFC 3339 with the local offset: `2026-11-30T04:00:00+01:00`.
    pub iso: String,
}

impl LocalTime {
    /// `at` in Europe/Rome, in `lang`.
    pub fn new(at: Timestamp, lang: Lang) -> Result<Self, NoticeError> {
        let local = at.to_zoned_datetime(crate::clock::default_zone());
        let (day, month, year) = (local.day(), local.month(), local.year());
        let (hour, minute) = (local.hour(), local.minute());
        let month_index = usize::try_from(month - 1).unwrap_or(0).min(11);
        let time = format!("{hour:02}:{minute:02}");
        let short = format!("{day:02}/{month:02}/{year}");
        let iso = local.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string();
        Ok(match lang {
            Lang::It => {
                let ordinal = if day == 1 {
                    "1º".to_owned()
                } else {
                    day.to_string()
                };
                let date = format!("{ordinal} {} {year}", MESI[month_index]);
                // "alle 04:00", but "all'01:00" (all'una).
                let alle = if hour == 1 { "all'" } else { "alle " };
                let datetime = format!("{date} {alle}{time}");
                // "l'8", "l'11" (otto, undici); "il" otherwise.
                let article = if matches!(day, 8 | 11) { "l'" } else { "il " };
                LocalTime {
                    the_date: format!("{article}{date}"),
                    the_datetime: format!("{article}{datetime}"),
                    the_short: format!("{article}{short}"),
                    date,
                    time,
                    datetime,
                    short,
                    iso,
                }
            }
            Lang::En => {
                let date = format!("{day} {} {year}", MONTHS[month_index]);
                let datetime = format!("{date} at {time}");
                LocalTime {
                    the_date: date.clone(),
                    the_datetime: datetime.clone(),
                    the_short: short.clone(),
                    date,
                    time,
                    datetime,
                    short,
                    iso,
                }
            }
        })
    }
}

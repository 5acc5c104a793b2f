//! The progress shown while a command works through many domains (`check --from`,
//! `sweep`): one drawing, on standard error and only when it is a terminal, so that
//! pipes, files and the service's logs never see it.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// How much is known of the work ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Total {
    /// Nothing: a list read as it comes (a spinner counting the domains).
    Unknown,
    /// The number of domains, set later with [`ProgressBar::set_length`] (a bar with the
    /// time left).
    Known,
}

/// The progress of domains checked: drawn when `wanted` and standard error is a
/// terminal, hidden otherwise (counting still works, nothing is drawn).
pub(crate) fn domains(wanted: bool, total: Total) -> ProgressBar {
    if !wanted || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let (bar, template) = match total {
        Total::Unknown => (
            ProgressBar::new_spinner(),
            "{spinner} {pos} domini · {per_sec} · {elapsed}",
        ),
        Total::Known => (
            ProgressBar::new(0),
            "{bar:30} {pos}/{len} domini · {per_sec} · {elapsed} (ETA {eta})",
        ),
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// The sweep's progress, drawn by the command line's bar.
impl crate::sweep::Progress for ProgressBar {
    fn set_length(&self, due: u64) {
        ProgressBar::set_length(self, due);
    }

    fn inc(&self, count: u64) {
        ProgressBar::inc(self, count);
    }
}

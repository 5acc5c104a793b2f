//! `GET /console`: the dashboard.

use std::collections::BTreeMap;

use axum::extract::State as AxumState;
use axum::http::StatusCode;
use axum::response::Response;
use jiff::{SignedDuration, Timestamp};
use minijinja::{Value, context};

use super::auth::SignedIn;
use super::{day, span, when};
use crate::Lang;
use crate::finding::{Code, Severity};
use crate::lifecycle::State;
use crate::registry::users::{DayErrors, DomainQuery};
use crate::registry::{DomainFilter, OrderState, RegistryError};
use crate::sweep::RecordedSummary;
use crate::web::AppState;
use crate::web::pages::ui::Page;

/// Deadlines shown: those within this many days.
const DEADLINE_DAYS: i64 = 7;
/// Days in the chart of errors.
const CHART_DAYS: i64 = 14;

/// `GET /console`.
pub(super) async fn show(
    AxumState(state): AxumState<AppState>,
    signed: SignedIn,
    page: Page,
) -> Response {
    match context(&state, &page).await {
        Ok(context) => page.render(
            StatusCode::OK,
            "console/dashboard.html",
            minijinja::context! { nav => "dashboard", ..minijinja::context! { ..context, ..signed.context() } },
        ),
        Err(error) => page.internal(&error),
    }
}

async fn context(state: &AppState, page: &Page) -> Result<Value, RegistryError> {
    let lang = page.lang;
    let zone = &state.zone;
    let now = state.clock.now();
    let registry = &state.registry;
    let counts: Vec<Value> = registry
        .count_by_state()
        .await?
        .into_iter()
        .map(|(s, count)| {
            context! { state => s.as_str(), label => s.label(lang), count => count }
        })
        .collect();
    let horizon = now
        .saturating_add(SignedDuration::from_hours(24 * DEADLINE_DAYS))
        .unwrap_or(now);
    let mut due = registry
        .domains(&DomainFilter {
            state: Some(State::InError),
            deadline_before: Some(horizon),
            limit: Some(100),
            ..DomainFilter::default()
        })
        .await?;
    due.sort_by_key(|d| d.status.deadline);
    let deadlines: Vec<Value> = due
        .iter()
        .filter_map(|d| {
            let deadline = d.status.deadline?;
            Some(context! {
                name => d.name.as_str(),
                deadline => when(deadline, lang, zone),
                left => span(now, deadline, lang),
                late => deadline <= now,
                codes => d.status.last_codes.iter().map(|c| c.label()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let (review, review_total) = registry
        .domain_page(&DomainQuery {
            state: Some(State::UnderReview),
            limit: 10,
            ..DomainQuery::default()
        })
        .await?;
    let review: Vec<Value> = review
        .iter()
        .map(|d| context! { name => d.name.as_str(), since => when(d.status.since, lang, zone) })
        .collect();
    let orders_waiting = registry
        .orders(Some(OrderState::Received), 1000)
        .await?
        .len();
    let sweep = registry.last_sweep().await?.map(|sweep| {
        let summary = sweep
            .summary
            .as_ref()
            .map(RecordedSummary::read)
            .unwrap_or_default();
        let canaries: Vec<Value> = summary
            .canaries
            .iter()
            .map(|c| {
                context! {
                    domain => if c.domain.is_empty() { "-" } else { c.domain.as_str() },
                    when => &c.when,
                    ok => c.ok,
                    codes => &c.codes,
                }
            })
            .collect();
        let codes: Vec<(String, u64)> = summary
            .codes
            .iter()
            .map(|(code, n)| (code.replace('_', " "), *n))
            .collect();
        context! {
            id => sweep.id,
            kind => sweep.kind.as_str(),
            started => when(sweep.started, lang, zone),
            finished => sweep.finished.map(|at| when(at, lang, zone)),
            ago => sweep.finished.map(|at| span(at, now, lang)),
            held => sweep.held,
            hold_reason => &sweep.hold_reason,
            checked => summary.checked,
            ok => summary.ok,
            failed => summary.failed,
            transient => summary.transient,
            new_errors => summary.new_errors,
            corrected => summary.corrected,
            removed => summary.removed,
            under_review => summary.under_review,
            expired => summary.expired,
            seconds => summary.seconds,
            codes => codes,
            canaries => canaries,
            canaries_ok => summary.canaries.iter().all(|c| c.ok),
        }
    });
    let since = now
        .saturating_sub(SignedDuration::from_hours(24 * (CHART_DAYS - 1)))
        .unwrap_or(now);
    let days = registry.errors_by_day(since).await?;
    Ok(context! {
        counts => counts,
        total => registry.count_by_state().await?.iter().map(|(_, n)| n).sum::<u64>(),
        deadlines => deadlines,
        deadline_days => DEADLINE_DAYS,
        review => review,
        review_total => review_total,
        orders_waiting => orders_waiting,
        sweep => sweep,
        canaries_configured => &state.site.canaries,
        chart => chart(&days, now, lang),
        chart_days => CHART_DAYS,
    })
}

/// The error codes a chart shows, with their colour class, in a fixed order.
fn error_codes() -> Vec<Code> {
    Code::ALL
        .into_iter()
        .filter(|c| c.severity() == Severity::Error)
        .collect()
}

/// A stacked bar chart of the failing checks of the last [`CHART_DAYS`] days by error
/// code, as SVG shapes for the template (plus the same data as a table).
fn chart(days: &[DayErrors], now: Timestamp, lang: Lang) -> Value {
    const WIDTH: f64 = 640.0;
    const HEIGHT: f64 = 220.0;
    const LEFT: f64 = 40.0;
    const BOTTOM: f64 = 24.0;
    const TOP: f64 = 10.0;
    let today = now.as_second().div_euclid(86_400);
    let first = today - (CHART_DAYS - 1);
    let by_day: BTreeMap<i64, &DayErrors> = days.iter().map(|d| (d.day, d)).collect();
    let codes = error_codes();
    let totals: Vec<u64> = (first..=today)
        .map(|d| by_day.get(&d).map_or(0, |e| e.codes.values().sum()))
        .collect();
    let max = totals.iter().copied().max().unwrap_or(0);
    let top = nice_ceiling(max);
    let plot_height = HEIGHT - BOTTOM - TOP;
    let slot = (WIDTH - LEFT - 8.0) / CHART_DAYS as f64;
    let bar = (slot * 0.7).max(2.0);
    let mut bars = Vec::new();
    let mut labels = Vec::new();
    let mut rows = Vec::new();
    for (index, d) in (first..=today).enumerate() {
        let x = LEFT + slot * index as f64 + (slot - bar) / 2.0;
        let mut y = TOP + plot_height;
        let errors = by_day.get(&d);
        let date = Timestamp::from_second(d * 86_400).unwrap_or(now);
        let date_text = match lang {
            Lang::It => date.strftime("%d/%m").to_string(),
            Lang::En => date.strftime("%m-%d").to_string(),
        };
        let mut cells = Vec::new();
        for (color, code) in codes.iter().enumerate() {
            let count = errors
                .and_then(|e| e.codes.get(code.as_str()))
                .copied()
                .unwrap_or(0);
            cells.push(count);
            if count == 0 || top == 0 {
                continue;
            }
            let h = plot_height * count as f64 / top as f64;
            y -= h;
            bars.push(context! {
                x => round(x), y => round(y), w => round(bar), h => round(h),
                class => format!("c{color}"),
                title => format!("{date_text} · {}: {count}", code.label()),
            });
        }
        if index % 2 == (CHART_DAYS as usize - 1) % 2 {
            labels.push(
                context! { x => round(x + bar / 2.0), y => HEIGHT - 6.0, text => &date_text },
            );
        }
        // The chart's days are UTC days, as their labels above.
        let date = day(date, lang, &jiff::tz::TimeZone::UTC);
        rows.push(context! { date => date, cells => cells, total => totals[index] });
    }
    let gridlines: Vec<Value> = [0, top / 2, top]
        .into_iter()
        .filter(|v| top > 0 || *v == 0)
        .map(|v| {
            let y = TOP + plot_height
                - if top == 0 {
                    0.0
                } else {
                    plot_height * v as f64 / top as f64
                };
            context! { y => round(y), label => v }
        })
        .collect();
    let legend: Vec<Value> = codes
        .iter()
        .enumerate()
        .map(|(i, c)| context! { class => format!("c{i}"), label => c.label() })
        .collect();
    context! {
        width => WIDTH, height => HEIGHT, left => LEFT, right => WIDTH - 8.0,
        bars => bars, labels => labels, gridlines => gridlines, legend => legend,
        rows => rows, empty => max == 0,
        codes => codes.iter().map(|c| c.label()).collect::<Vec<_>>(),
    }
}

/// A round number at least `n` for the top of an axis (1, 2, 5 × 10^k).
fn nice_ceiling(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let mut base = 1;
    loop {
        for step in [1, 2, 5] {
            if step * base >= n {
                return step * base;
            }
        }
        base *= 10;
    }
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(nice_ceiling(0), 0);
        assert_eq!(nice_ceiling(1), 1);
        assert_eq!(nice_ceiling(3), 5);
        assert_eq!(nice_ceiling(7), 10);
        assert_eq!(nice_ceiling(101), 200);
    }

    #[test]
    fn the_chart_stacks_codes_by_day() {
        let now: Timestamp = "2026-11-23T09:00:00Z".parse().unwrap();
        let today = now.as_second() / 86_400;
        let days = vec![DayErrors {
            day: today,
            codes: [
                ("MX_NON_DEFINITO".to_owned(), 3),
                ("A_NON_CORRETTO".to_owned(), 2),
            ]
            .into(),
        }];
        let chart = chart(&days, now, Lang::It);
        let bars = chart.get_attr("bars").unwrap();
        assert_eq!(bars.len(), Some(2));
        let rows = chart.get_attr("rows").unwrap();
        assert_eq!(rows.len(), Some(CHART_DAYS as usize));
        let last = rows.get_item(&Value::from(CHART_DAYS - 1)).unwrap();
        assert_eq!(last.get_attr("total").unwrap(), Value::from(5));
    }
}

//! `/healthz` and `/metrics`.
//!
//! `/healthz` asks the database a trivial question (bounded by [`HEALTH_TIMEOUT`]):
//! `200 {"status": "ok", "database": "ok"}`, or `503 {"status": "error", "database":
//! "error", "detail": …}` when it does not answer.
//!
//! `/metrics` is the Prometheus text exposition format (version 0.0.4), read from the
//! registry at every scrape, so any number of `pecwatch web` processes give the same
//! numbers:
//!
//! - `pecwatch_domains{state}`: domains by lifecycle state;
//! - `pecwatch_outbox_items{kind,state}` and `pecwatch_notices{state}`: the outbox
//!   (notices: pending, sent, failed);
//! - `pecwatch_notices_oldest_pending_timestamp_seconds`: when the oldest notice not yet
//!   accepted was queued (0: none pending), for an alert on notices stuck or deferred;
//! - `pecwatch_alerts_total`: operator alerts ever raised;
//! - `pecwatch_index_domains`: domains the index lists now;
//!   `pecwatch_index_unpublished_changes`: domains added to or removed from it since the
//!   last recorded publication (all of them before the first);
//!   `pecwatch_index_last_published_timestamp_seconds`: when that was (0: never);
//! - per kind of sweep (`daily` from `pecwatch serve`, `recheck`, `sweep` from cron):
//!   `pecwatch_sweeps_total`, and of the latest one `pecwatch_sweep_duration_seconds`,
//!   `pecwatch_sweep_last_finished_timestamp_seconds`, `pecwatch_sweep_held`,
//!   `pecwatch_sweep_checks{result}` (ok, failed, transient) and
//!   `pecwatch_sweep_errors{code}` (failing checks by error code) and
//!   `pecwatch_sweep_canary_failures` (canary checks that failed, before or after), from
//!   the sweeps table and the summary each sweep stores.
//!
//! The Postfix lookups are counted by the process that answers them, `pecwatch postfix`,
//! which serves its own `/metrics` on `[postfix] metrics_listen` ([`postfix_router`]):
//! counting them here would mean a database write per lookup, or counts that lag and
//! merge several processes' lives. Scrape both targets.

use std::fmt::Write;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::{self, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::AppState;
use super::problem::{MetricsProblems, Problem};
use crate::Lang;
use crate::registry::{OutboxKind, Registry, RegistryError, SweepKindStats};
use crate::view::Health;

/// The media type of the text exposition format.
pub(super) const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long `/healthz` waits for the database.
pub(super) const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);

/// `GET /healthz`.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "health",
    tag = "service",
    summary = "Whether the service and its database answer",
    description = "200 when the database answers a trivial query within 3 seconds, 503 otherwise.",
    security(()),
    responses(
        (status = 200, description = "Healthy.", body = Health),
        (status = 503, description = "The database does not answer.", body = Health)
    )
)]
pub(super) async fn healthz(State(state): State<AppState>) -> Response {
    let answer = tokio::time::timeout(HEALTH_TIMEOUT, state.registry.ping()).await;
    let failure = match answer {
        Ok(Ok(())) => None,
        Ok(Err(error)) => Some(error.to_string()),
        Err(_) => Some(format!(
            "the database did not answer within {} s",
            HEALTH_TIMEOUT.as_secs()
        )),
    };
    let status = match &failure {
        None => StatusCode::OK,
        Some(detail) => {
            tracing::warn!(%detail, "health check: the database does not answer");
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    let mut response = (status, Json(Health::new(failure))).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "service",
    summary = "Prometheus metrics",
    description = "The text exposition format 0.0.4: domains by state, notices and outbox items by state, alerts, the index's size, and per kind of sweep the count, the latest one's duration, end, hold, checks by result and failing checks by error code. The Postfix lookups are served by `pecwatch postfix` on `[postfix] metrics_listen`.",
    security(()),
    responses(
        (status = 200, description = "The metrics.", body = String, content_type = "text/plain; version=0.0.4"),
        MetricsProblems
    )
)]
pub(super) async fn metrics(
    State(state): State<AppState>,
    lang: Lang,
) -> Result<Response, Problem> {
    let mut text = render(&state.registry)
        .await
        .map_err(|error| Problem::registry(lang, error))?;
    // This process's own connection counters.
    text.push_str(&crate::net::NET_COUNTERS.to_prometheus("web"));
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROMETHEUS_TEXT),
    );
    Ok(response)
}

/// A metric family being written: `# HELP`, `# TYPE`, then its samples.
struct Exposition(String);

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP pecwatch_{name} {}", escape_help(help));
        let _ = writeln!(self.0, "# TYPE pecwatch_{name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let _ = write!(self.0, "pecwatch_{name}");
        if !labels.is_empty() {
            let labels: Vec<String> = labels
                .iter()
                .map(|(key, value)| format!("{key}=\"{}\"", escape_label(value)))
                .collect();
            let _ = write!(self.0, "{{{}}}", labels.join(","));
        }
        let _ = writeln!(self.0, " {}", number(value));
    }
}

/// A sample value as the format writes it.
fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{value}")
    }
}

/// A label value with `\`, `"` and new lines escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Help text with `\` and new lines escaped.
fn escape_help(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\n', "\\n")
}

/// The metrics, read from the registry now.
pub async fn render(registry: &Registry) -> Result<String, RegistryError> {
    let mut out = Exposition(String::new());
    out.family(
        "domains",
        "gauge",
        "Registered domains, by lifecycle state.",
    );
    for (state, count) in registry.count_by_state().await? {
        out.sample("domains", &[("state", state.as_str())], count as f64);
    }

    outbox_families(&mut out, registry).await?;
    index_families(&mut out, registry).await?;
    let kinds = registry.sweep_kinds().await?;
    sweep_time_families(&mut out, &kinds);
    sweep_result_families(&mut out, &kinds);
    Ok(out.0)
}

/// The outbox: notices by state, every item by kind and state, the oldest pending notice, alerts.
async fn outbox_families(out: &mut Exposition, registry: &Registry) -> Result<(), RegistryError> {
    let outbox = registry.outbox_counts().await?;
    out.family(
        "notices",
        "gauge",
        "Notices to holders, resellers and operators in the outbox, by delivery state.",
    );
    for state in ["pending", "sent", "failed"] {
        let count: u64 = outbox
            .iter()
            .filter(|(kind, s, _)| kind == OutboxKind::Notice.as_str() && s == state)
            .map(|(_, _, count)| count)
            .sum();
        out.sample("notices", &[("state", state)], count as f64);
    }
    out.family(
        "outbox_items",
        "gauge",
        "Items in the outbox (notices, alerts, publications), by kind and state.",
    );
    for (kind, state, count) in &outbox {
        out.sample(
            "outbox_items",
            &[("kind", kind), ("state", state)],
            *count as f64,
        );
    }

    out.family(
        "notices_oldest_pending_timestamp_seconds",
        "gauge",
        "When the oldest notice not yet accepted (pending or deferred) was queued (Unix time; 0: none).",
    );
    let oldest = registry.oldest_pending_outbox(OutboxKind::Notice).await?;
    out.sample(
        "notices_oldest_pending_timestamp_seconds",
        &[],
        oldest.map_or(0, |at| at.as_second()) as f64,
    );

    out.family("alerts_total", "counter", "Operator alerts ever raised.");
    out.sample("alerts_total", &[], registry.alert_count().await? as f64);

    Ok(())
}

/// The providers' index: what it lists, what changed since its last publication.
async fn index_families(out: &mut Exposition, registry: &Registry) -> Result<(), RegistryError> {
    out.family(
        "index_domains",
        "gauge",
        "Domains the providers' index lists now (certified and in_error).",
    );
    let listed = registry.published_domains().await?;
    out.sample("index_domains", &[], listed.len() as f64);
    let last = registry.last_publication().await?;
    out.family(
        "index_unpublished_changes",
        "gauge",
        "Domains added to or removed from the index since its last recorded publication.",
    );
    let published = last.as_ref().map_or(&[][..], |last| &last.domains[..]);
    out.sample(
        "index_unpublished_changes",
        &[],
        unpublished_changes(&listed, published) as f64,
    );
    out.family(
        "index_last_published_timestamp_seconds",
        "gauge",
        "When the index was last recorded as published (Unix time; 0: never).",
    );
    out.sample(
        "index_last_published_timestamp_seconds",
        &[],
        last.map_or(0, |last| last.at.as_second()) as f64,
    );

    Ok(())
}

/// Sweeps: how many finished, how long the latest took, when it finished.
fn sweep_time_families(out: &mut Exposition, kinds: &[SweepKindStats]) {
    out.family("sweeps_total", "counter", "Sweeps finished, by kind.");
    for kind in kinds {
        out.sample(
            "sweeps_total",
            &[("kind", kind.kind.as_str())],
            kind.finished as f64,
        );
    }
    out.family(
        "sweep_duration_seconds",
        "gauge",
        "How long the latest sweep of each kind took, from its start to its end.",
    );
    for kind in kinds {
        let last = &kind.last;
        let seconds = last
            .finished
            .map(|end| end.duration_since(last.started).as_secs_f64().max(0.0))
            .unwrap_or_default();
        out.sample(
            "sweep_duration_seconds",
            &[("kind", kind.kind.as_str())],
            seconds,
        );
    }
    out.family(
        "sweep_last_finished_timestamp_seconds",
        "gauge",
        "When the latest sweep of each kind finished (Unix time).",
    );
    for kind in kinds {
        let finished = kind.last.finished.map_or(0, |at| at.as_second());
        out.sample(
            "sweep_last_finished_timestamp_seconds",
            &[("kind", kind.kind.as_str())],
            finished as f64,
        );
    }
}

/// The latest sweep of each kind: held or applied, its checks, its errors, its canaries.
fn sweep_result_families(out: &mut Exposition, kinds: &[SweepKindStats]) {
    out.family(
        "sweep_held",
        "gauge",
        "Whether the latest sweep of each kind held its lifecycle changes back (1) or applied them (0).",
    );
    for kind in kinds {
        out.sample(
            "sweep_held",
            &[("kind", kind.kind.as_str())],
            f64::from(u8::from(kind.last.held)),
        );
    }
    out.family(
        "sweep_checks",
        "gauge",
        "Checks of the latest sweep of each kind, by result (transient: failures resting only on timeouts).",
    );
    for kind in kinds {
        let summary = kind.last.summary.clone().unwrap_or(Value::Null);
        for result in ["ok", "failed", "transient"] {
            let count = summary[result].as_u64().unwrap_or(0);
            out.sample(
                "sweep_checks",
                &[("kind", kind.kind.as_str()), ("result", result)],
                count as f64,
            );
        }
    }
    out.family(
        "sweep_errors",
        "gauge",
        "Failing checks of the latest sweep of each kind, by error code.",
    );
    for kind in kinds {
        let codes = kind
            .last
            .summary
            .as_ref()
            .and_then(|summary| summary["codes"].as_object().cloned())
            .unwrap_or_default();
        for (code, count) in codes {
            out.sample(
                "sweep_errors",
                &[("kind", kind.kind.as_str()), ("code", &code)],
                count.as_u64().unwrap_or(0) as f64,
            );
        }
    }
    out.family(
        "sweep_canary_failures",
        "gauge",
        "Canary checks of the latest sweep of each kind that failed (before or after it).",
    );
    for kind in kinds {
        let failed = kind
            .last
            .summary
            .as_ref()
            .and_then(|summary| summary["canaries"].as_array())
            .map_or(0, |canaries| {
                canaries
                    .iter()
                    .filter(|canary| canary["ok"] == Value::Bool(false))
                    .count()
            });
        out.sample(
            "sweep_canary_failures",
            &[("kind", kind.kind.as_str())],
            failed as f64,
        );
    }
}

/// How many names are in one sorted list and not the other (both sorted and without
/// duplicates, as [`Registry::published_domains`] and publications keep them).
fn unpublished_changes(listed: &[String], published: &[String]) -> usize {
    let listed: std::collections::BTreeSet<&String> = listed.iter().collect();
    let published: std::collections::BTreeSet<&String> = published.iter().collect();
    listed.symmetric_difference(&published).count()
}

/// The router of `pecwatch postfix`'s own metrics: `GET /metrics` with the lookups this
/// process answered ([`crate::postfix::COUNTERS`]).
pub fn postfix_router() -> Router {
    Router::new().route(
        "/metrics",
        get(|| async {
            (
                [(header::CONTENT_TYPE, PROMETHEUS_TEXT)],
                crate::postfix::COUNTERS.to_prometheus(),
            )
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpublished_changes_count_additions_and_removals() {
        let names = |list: &[&str]| list.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        let now = names(&["pec.a.it", "pec.b.it", "pec.c.it"]);
        assert_eq!(unpublished_changes(&now, &now), 0);
        assert_eq!(unpublished_changes(&now, &[]), 3);
        assert_eq!(
            unpublished_changes(&now, &names(&["pec.a.it", "pec.d.it"])),
            3
        );
    }

    #[test]
    fn labels_and_numbers_are_escaped() {
        let mut out = Exposition(String::new());
        out.family("x", "gauge", "A \\ help\nline.");
        out.sample("x", &[("code", "a\"b\\c\nd")], 1.5);
        out.sample("x", &[], f64::INFINITY);
        assert_eq!(
            out.0,
            "# HELP pecwatch_x A \\\\ help\\nline.\n# TYPE pecwatch_x gauge\n\
             pecwatch_x{code=\"a\\\"b\\\\c\\nd\"} 1.5\npecwatch_x +Inf\n"
        );
    }
}

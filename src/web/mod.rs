//! The web interface: the JSON API for other systems, the public self-service check page,
//! the operators' console, the providers' index over HTTP, `/metrics` and `/healthz`.
//!
//! [`router`] assembles every part on one [`AppState`]: the registry, the configuration,
//! the clock and a prober for on-demand checks. `pecwatch web` serves it alone;
//! `pecwatch serve` serves it beside the sweep.
//!
//! - [`api`]: `/api/v1/…`, JSON, RFC 9457 problems, API tokens, `/openapi.json`.
//! - [`pages`]: the public self-service check (`/`, `/check/…`), without JavaScript.
//! - [`console`]: the operators' console (`/console/…`): login, dashboard, domains,
//!   orders, mailboxes, actions.
//! - [`password`]: the set-password page of activation links (`/password/{token}`).
//! - [`index`]: the providers' index over HTTP (`/index.ldif`, ETag, Last-Modified).
//! - [`metrics`]: `/healthz` and `/metrics` (Prometheus).
//! - [`auth`]: API tokens; [`problem`]: RFC 9457 errors in Italian or English;
//!   [`limit`]: the per-address rate limit of the public endpoints, for every part;
//!   [`openapi`]: the OpenAPI 3.1 document.
//!
//! [`serve`] runs the router on a listener until a shutdown signal, with one log line
//! per request (method, path, status, latency; target `pecwatch::web::access`, shown by
//! default; `PECWATCH_LOG_FORMAT=json` for JSON lines).

pub mod api;
pub mod auth;
pub mod console;
pub mod index;
pub mod limit;
pub mod metrics;
pub mod openapi;
pub mod pages;
pub mod password;
pub mod problem;

use std::sync::Arc;

use axum::{Extension, Router};

use crate::clock::Clock;
use crate::config::Config;
use crate::probe::Prober;
use crate::registry::Registry;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The registry.
    pub registry: Registry,
    /// The configuration, as loaded.
    pub config: Arc<Config>,
    /// Every handler's "now".
    pub clock: Clock,
    /// The prober for checks run on demand (self-service page, API, recheck).
    pub prober: Arc<Prober>,
}

/// The whole web interface.
pub fn router(state: AppState) -> Router {
    let limiter = Arc::new(limit::RateLimiter::new(
        state.config.web.rate_limit_per_minute,
        state.config.trusted_proxies(),
    ));
    Router::new()
        .merge(api::routes())
        .merge(pages::routes())
        .merge(console::routes())
        .merge(password::routes())
        .layer(Extension(limiter))
        .layer(Extension(Arc::new(index::Tracker::default())))
        .layer(axum::middleware::from_fn(access_log))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets the requests in
/// flight finish. Handlers see the client's address (`ConnectInfo<SocketAddr>`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// One log line per request: method, path, status, latency, client.
async fn access_log(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    // A set-password link's token is a credential: never in a log.
    let path = match request.uri().path() {
        path if path.starts_with(password::PREFIX) => format!("{}…", password::PREFIX),
        path => path.to_owned(),
    };
    let client = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip().to_string())
        .unwrap_or_default();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let latency_ms = (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
    if status >= 500 {
        tracing::warn!(target: "pecwatch::web::access", %method, %path, status, latency_ms, %client, "request");
    } else {
        tracing::info!(target: "pecwatch::web::access", %method, %path, status, latency_ms, %client, "request");
    }
    response
}

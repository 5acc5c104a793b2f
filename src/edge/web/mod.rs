//! The web interface: the JSON API for other systems, the public self-service check page,
//! the operators' console, the providers' index over HTTP, `/metrics` and `/healthz`.
//!
//! [`router`] assembles every part on one [`AppState`]: the registry, the [`Site`] (what of
//! the configuration the web serves with),
//! the clock and a prober for on-demand checks. `pecwatch web` serves it alone;
//! `pecwatch serve` serves it beside the sweep.
//!
//! Its parts are private modules; what the command line and the tests use is re-exported
//! here.
//!
//! - `api`: `/api/v1/…`, JSON, RFC 9457 problems, API tokens, `/openapi.json`.
//! - `pages`: the public self-service check (`/`, `/check/…`), without JavaScript.
//! - `console`: the operators' console (`/console/…`): login, dashboard, domains,
//!   orders, mailboxes, actions.
//! - `password`: the set-password page of activation links (`/password/{token}`).
//! - `index`: the providers' index over HTTP (`/index.ldif`, ETag, Last-Modified).
//! - `metrics`: `/healthz` and `/metrics` (Prometheus).
//! - `auth`: API tokens; `problem`: RFC 9457 errors in Italian or English;
//!   `limit`: the per-address rate limit of the public endpoints, for every part;
//!   `openapi`: the OpenAPI 3.1 document.
//!
//! [`serve`] runs the router on a listener until a shutdown signal, with one log line
//! per request (method, path, status, latency; target `pecwatch::web::access`, shown by
//! default; `PECWATCH_LOG_FORMAT=json` for JSON lines). It cannot be held open or
//! filled ([`ServerLimits`], `[web]` in the configuration): a client has
//! `header_read_timeout` to send a request's headers (hyper's timer, which also closes a
//! kept-alive connection waiting that long for its next request), a request takes at most
//! `request_timeout` (then 408, tower-http's timeout), a connection on which nothing moves
//! for `idle_timeout` is closed, and one open `connection_lifetime` is closed after its
//! request in flight; at most `max_connections` are open at once, and
//! `max_connections_per_client` from one address ([`crate::net::Gate`]).

// The parts of the web layer are private; what the rest of the crate (the command line)
// and the tests use is re-exported here.
mod api;
mod auth;
mod console;
mod index;
mod limit;
mod metrics;
mod openapi;
mod pages;
mod password;
mod problem;
mod settings;

pub use auth::{new_token, token_hash};
pub use console::auth::{check_new_password, hash_password, verify_password};
pub use index::parse_http_date;
pub use metrics::{postfix_router, render as render_metrics};
pub use openapi::spec;
pub use settings::{CHECK_MAX_NAMES_WARN, IndexSource, Profiles, Site, WebConfig, WebWarning};

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::{Extension, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;
use tower::ServiceExt;

use crate::activation::Settings as ActivationSettings;
use crate::clock::Clock;
use crate::net::{self, ConnectionLimits, Gate};
use crate::probe::Prober;
use crate::registry::Registry;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The registry.
    pub registry: Registry,
    /// What of the configuration the interface serves with, `[web]` first.
    pub site: Arc<Site>,
    /// Every handler's "now".
    pub clock: Clock,
    /// The time zone people read instants in (`[sweep] timezone`): the console shows
    /// them in it, and a date typed there ends at midnight in it.
    pub zone: jiff::tz::TimeZone,
    /// The prober for checks run on demand (self-service page, API, recheck).
    pub prober: Arc<Prober>,
    /// The rules of activation, with the lifecycle policy: built once at start, not per
    /// request.
    pub activation: Arc<ActivationSettings>,
}

/// The whole web interface.
pub fn router(state: AppState) -> Router {
    let limiter = Arc::new(limit::RateLimiter::new(
        state.site.web.rate_limit_per_minute,
        state.site.web.trusted_proxies(),
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

/// What keeps the web server from being held open or filled (`[web]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// How long a client has to send a request's headers.
    pub header_read_timeout: Duration,
    /// The longest a request may take (then 408).
    pub request_timeout: Duration,
    /// A connection on which nothing is read or written this long is closed.
    pub idle_timeout: Duration,
    /// The longest a connection stays open.
    pub connection_lifetime: Duration,
    /// Connections at once, in all and per client address.
    pub connections: ConnectionLimits,
}

impl Default for ServerLimits {
    /// The defaults of `[web]`.
    fn default() -> Self {
        WebConfig::default().server_limits()
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` resolves, then lets
/// the requests in flight finish (for at most the request timeout). Handlers see the
/// client's address (`ConnectInfo<SocketAddr>`). An accept error such as `EMFILE` does
/// not stop the server: it waits a little and accepts again.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = router.layer(tower_http::timeout::TimeoutLayer::with_status_code(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        limits.request_timeout,
    ));
    let gate = Gate::new(limits.connections.clone());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    // Dropped at shutdown: every connection then finishes its request and closes.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
    // Closed when every connection task has ended.
    let (closed_tx, closed_rx) = tokio::sync::watch::channel(());
    let limits = Arc::new(limits);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer, admission) = tokio::select! {
            accepted = net::accept(&listener, &gate, "web") => accepted,
            () = &mut shutdown => break,
        };
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Watched {
            inner: stream,
            activity: Arc::clone(&activity),
        });
        let router = router.clone();
        let service = hyper::service::service_fn(move |request: axum::http::Request<_>| {
            let mut request = request.map(axum::body::Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let connection = http.serve_connection(io, service);
        let limits = Arc::clone(&limits);
        let mut stop = stop_rx.clone();
        let closed = closed_rx.clone();
        tokio::spawn(async move {
            let _places = (admission, closed);
            let mut connection = std::pin::pin!(connection);
            let mut lifetime = std::pin::pin!(tokio::time::sleep(limits.connection_lifetime));
            let mut closing = false;
            loop {
                let idle_until = activity.last() + limits.idle_timeout;
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(error) = result {
                            tracing::debug!(%peer, %error, "web connection ended");
                        }
                        break;
                    }
                    () = tokio::time::sleep_until(idle_until) => {
                        if activity.last() + limits.idle_timeout <= Instant::now() {
                            tracing::debug!(%peer, "web connection idle, closed");
                            break;
                        }
                    }
                    () = &mut lifetime, if !closing => {
                        closing = true;
                        connection.as_mut().graceful_shutdown();
                    }
                    _ = stop.changed(), if !closing => {
                        closing = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
        });
    }
    drop(listener);
    drop(stop_tx);
    drop(closed_rx);
    let _ = tokio::time::timeout(limits.request_timeout, closed_tx.closed()).await;
    Ok(())
}

/// When a connection last moved a byte.
struct Activity {
    start: Instant,
    /// Milliseconds from `start`.
    last: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let elapsed = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(elapsed, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last.load(Ordering::Relaxed))
    }
}

/// A connection that records in its [`Activity`] every byte read or written.
struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
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

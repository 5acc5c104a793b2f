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

pub mod api;
pub mod console;
pub mod pages;

use std::sync::Arc;

use axum::Router;

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
    Router::new()
        .merge(api::routes())
        .merge(pages::routes())
        .merge(console::routes())
        .with_state(state)
}

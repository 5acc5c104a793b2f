//! `pecwatch web`: the web interface (the JSON API, the public check page, the operators'
//! console, the index, `/metrics`, `/healthz`) on `[web] listen`, until SIGTERM or SIGINT.
//!
//! `pecwatch serve` serves the same interface beside the sweep ([`spawn`]).

use super::output::errln;
use std::net::SocketAddr;
use std::sync::Arc;

use clap::Args;
use tokio::net::TcpListener;

use super::{CliError, Exit};
use crate::clock::Clock;
use crate::config::Config;
use crate::probe::{ProbeConfig, Prober};
use crate::registry::Registry;
use crate::web::{AppState, IndexSource, Profiles, Site, router, serve};

/// Arguments of `pecwatch web`.
#[derive(Debug, Args)]
pub struct WebArgs {
    /// Where to listen (default: web.listen in the configuration, 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
}

/// How long the web interface's checks reuse cached DNS answers (the self-service
/// page also keeps whole results this long).
pub const WEB_CACHE_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(60);

/// The interface's state: the registry, the [`Site`] taken from the configuration, the
/// service's clock, a prober from `[dns]` and the rules of activation.
pub fn state(config: &Config, registry: Registry, clock: Clock) -> Result<AppState, CliError> {
    Ok(AppState {
        registry,
        site: Arc::new(site(config)),
        clock,
        zone: super::time_zone(config),
        prober: Arc::new(Prober::new(ProbeConfig {
            // Checks on demand see DNS changes within a minute.
            cache_max_age: Some(WEB_CACHE_MAX_AGE),
            ..config.probe_config()?
        })?),
        activation: Arc::new(config.activation_settings()),
    })
}

/// What of the configuration the web interface serves with: `[web]`, the profiles by
/// name, the check concurrency, the canaries and the index entry. The web reads nothing
/// else of it.
fn site(config: &Config) -> Site {
    let profiles = {
        let config = config.clone();
        Arc::new(move |name: &str| config.profile(name).map_err(|error| error.to_string()))
    };
    let provider = {
        let config = config.clone();
        Arc::new(move || config.index_provider().map_err(|error| error.to_string()))
    };
    Site {
        web: config.web.clone(),
        profiles: Profiles {
            default: config.check.profile.clone(),
            names: config.profile_names(),
            load: profiles,
        },
        check_concurrency: config.dns.concurrency,
        canaries: config.sweep.canaries.clone(),
        index: IndexSource {
            missing: config
                .index
                .missing()
                .into_iter()
                .map(|key| (key, Config::env_var("index", key)))
                .collect(),
            provider,
        },
    }
}

/// Says what in `[web]` is most likely a mistake ([`crate::web::WebConfig::warnings`]): on standard
/// error at start, in both languages, and in the logs.
pub fn warn_about(config: &Config, command: &str) {
    for warning in config.web.warnings() {
        let (it, en) = (
            warning.message(crate::Lang::It),
            warning.message(crate::Lang::En),
        );
        errln!("pecwatch {command}: attenzione: {it} / warning: {en}");
        tracing::warn!(%en, "a questionable [web] setting");
    }
}

/// Binds `address`, with a clear error.
pub async fn bind(address: SocketAddr) -> Result<TcpListener, CliError> {
    crate::net::bind(address).map_err(|error| {
        CliError::Io(std::io::Error::new(
            error.kind(),
            format!("cannot listen on {address}: {error}"),
        ))
    })
}

/// `pecwatch web`.
pub async fn run(config: &Config, args: WebArgs) -> Result<Exit, CliError> {
    let clock = Clock::running_from_env()?;
    let registry = Registry::open(&config.database.url).await?;
    let state = state(config, registry.clone(), clock)?;
    let address = args.listen.unwrap_or(config.web.listen);
    let listener = bind(address).await?;
    let local = listener.local_addr()?;
    errln!(
        "pecwatch web: http://{local}/ ({})",
        config.redacted_database_url()
    );
    warn_about(config, "web");
    let limits = config.web.server_limits();
    serve(listener, router(state), limits, super::sweep::shutdown()).await?;
    errln!("pecwatch web: fermato / stopped");
    registry.close().await;
    Ok(Exit::Ok)
}

/// For `pecwatch serve`: binds `[web] listen` and serves the interface in a task of its
/// own until `stop` resolves. `Ok(None)` when `[web] enabled` is false. A failure to
/// bind is returned: the caller decides whether the service can go on without it.
pub async fn spawn(
    config: &Config,
    registry: Registry,
    clock: Clock,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Option<tokio::task::JoinHandle<()>>, CliError> {
    if !config.web.enabled {
        return Ok(None);
    }
    let state = state(config, registry, clock)?;
    let listener = bind(config.web.listen).await?;
    let local = listener.local_addr()?;
    errln!("pecwatch serve: web http://{local}/");
    warn_about(config, "serve");
    let limits = config.web.server_limits();
    Ok(Some(tokio::spawn(async move {
        if let Err(error) = serve(listener, router(state), limits, stop).await {
            tracing::error!(%error, "the web interface stopped");
        }
    })))
}

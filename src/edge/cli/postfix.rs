//! `pecwatch postfix`: the Postfix policy service and socketmap table, until stopped.

use super::output::errln;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use clap::Args;

use super::{CliError, Exit};
use crate::config::Config;
use crate::postfix::{ServiceLimits, load, serve_policy, serve_socketmap, watch};
use crate::registry::Registry;

/// Arguments of `pecwatch postfix`.
#[derive(Debug, Args)]
pub struct PostfixArgs {
    /// Where the policy service listens (Postfix: `check_policy_service inet:ADDR`;
    /// default: postfix.policy_listen in the configuration, 127.0.0.1:10040).
    #[arg(long, value_name = "ADDR:PORT")]
    pub policy: Option<SocketAddr>,
    /// Where the socketmap table listens (Postfix: `socketmap:inet:ADDR:NAME`; default:
    /// postfix.socketmap_listen in the configuration, 127.0.0.1:10041).
    #[arg(long, value_name = "ADDR:PORT")]
    pub socketmap: Option<SocketAddr>,
}

/// Runs both services until SIGINT or SIGTERM.
pub async fn run(config: &Config, args: PostfixArgs) -> Result<Exit, CliError> {
    let registry = Registry::open(&config.database.url).await?;
    let mailboxes = config.postfix.check_mailboxes;
    let snapshot = load(&registry, mailboxes).await?;
    let listen = |address: SocketAddr| async move {
        crate::net::bind(address).map_err(|error| {
            CliError::Io(std::io::Error::new(
                error.kind(),
                format!("cannot listen on {address}: {error}"),
            ))
        })
    };
    let policy_address = args.policy.unwrap_or(config.postfix.policy_listen);
    let socketmap_address = args.socketmap.unwrap_or(config.postfix.socketmap_listen);
    let policy = listen(policy_address).await?;
    let socketmap = listen(socketmap_address).await?;
    // Its own Prometheus metrics, when [postfix] metrics_listen is set.
    let metrics = match config.postfix.metrics_listen.parse::<SocketAddr>() {
        Ok(address) => Some(listen(address).await?),
        Err(_) => None,
    };
    let metrics = async move {
        if let Some(listener) = metrics
            && let Err(error) = crate::web::serve(
                listener,
                crate::web::postfix_router(),
                config.web.server_limits(),
                std::future::pending(),
            )
            .await
        {
            tracing::error!(%error, "the postfix metrics stopped");
        }
        std::future::pending::<()>().await
    };
    errln!(
        "pecwatch postfix: policy {policy_address}, socketmap {socketmap_address}, {} domini / domains",
        snapshot.len()
    );
    let shared = Arc::new(RwLock::new(Arc::new(snapshot)));
    let limits = limits(config);
    tokio::select! {
        () = watch(registry.clone(), shared.clone(), mailboxes) => {}
        () = serve_policy(policy, shared.clone(), limits.clone()) => {}
        () = serve_socketmap(socketmap, shared, limits) => {}
        () = metrics => {}
        () = super::sweep::shutdown() => {}
    }
    registry.close().await;
    Ok(Exit::Ok)
}

/// The services' limits from `[postfix]`.
fn limits(config: &Config) -> ServiceLimits {
    let postfix = &config.postfix;
    ServiceLimits {
        max_line: postfix.max_line_bytes,
        max_request: postfix.max_request_bytes,
        max_netstring: postfix.max_netstring_bytes,
        idle_timeout: postfix.idle_timeout.unsigned_abs(),
        request_timeout: postfix.request_timeout.unsigned_abs(),
        connection_lifetime: postfix.connection_lifetime.unsigned_abs(),
        connections: config.postfix.connection_limits(),
    }
}

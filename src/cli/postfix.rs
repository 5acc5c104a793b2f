//! `pecwatch postfix`: the Postfix policy service and socketmap table, until stopped.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use clap::Args;
use tokio::net::TcpListener;

use super::{CliError, Exit};
use crate::config::Config;
use crate::postfix::{load, serve_policy, serve_socketmap, watch};
use crate::registry::Registry;

/// Arguments of `pecwatch postfix`.
#[derive(Debug, Args)]
pub struct PostfixArgs {
    /// Where the policy service listens (Postfix: `check_policy_service inet:ADDR`).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:10040")]
    pub policy: SocketAddr,
    /// Where the socketmap table listens (Postfix: `socketmap:inet:ADDR:NAME`).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:10041")]
    pub socketmap: SocketAddr,
}

/// Runs both services until SIGINT or SIGTERM.
pub async fn run(config: &Config, args: PostfixArgs) -> Result<Exit, CliError> {
    let registry = Registry::open(&config.database.url).await?;
    let snapshot = load(&registry).await?;
    let listen = |address: SocketAddr| async move {
        TcpListener::bind(address).await.map_err(|error| {
            CliError::Io(std::io::Error::new(
                error.kind(),
                format!("cannot listen on {address}: {error}"),
            ))
        })
    };
    let policy = listen(args.policy).await?;
    let socketmap = listen(args.socketmap).await?;
    eprintln!(
        "pecwatch postfix: policy {}, socketmap {}, {} domini / domains",
        args.policy,
        args.socketmap,
        snapshot.len()
    );
    let shared = Arc::new(RwLock::new(Arc::new(snapshot)));
    tokio::select! {
        () = watch(registry.clone(), shared.clone()) => {}
        () = serve_policy(policy, shared.clone()) => {}
        () = serve_socketmap(socketmap, shared) => {}
        () = super::sweep::shutdown() => {}
    }
    registry.close().await;
    Ok(Exit::Ok)
}

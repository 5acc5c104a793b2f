//! The `pecwatch` binary: parses the command line, runs it, maps the outcome to an exit
//! status (0 ok, 1 findings, 2 bad input or configuration, 3 failure of the environment).

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: the prober allocates many small short-lived buffers; measured faster than
/// the system allocator in `bench/check.sh`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use pecwatch::cli::output::{LogWriter, write_err};
use pecwatch::cli::{Cli, CliError, run};

fn main() -> ExitCode {
    // `pecwatch generate man|completions DIR` (packaging): outside the documented command
    // line, so that neither the man pages nor the completions offer it.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|arg| arg == "generate")
    {
        return pecwatch::cli::generate::main();
    }
    let cli = Cli::parse();
    // Warnings by default, and the web interface's one line per request;
    // PECWATCH_LOG=debug (any EnvFilter) to see more, PECWATCH_LOG_FORMAT=json for JSON
    // lines. The log goes to standard error; if it is closed, the lines are dropped and
    // the command or service goes on.
    let filter = tracing_subscriber::EnvFilter::try_from_env("PECWATCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,pecwatch::web::access=info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(LogWriter)
        .log_internal_errors(false);
    if std::env::var("PECWATCH_LOG_FORMAT").is_ok_and(|format| format.trim() == "json") {
        logs.json().flatten_event(true).init();
    } else {
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    // Many connections (the servers) or DNS queries (check) need many file descriptors.
    match pecwatch::net::raise_fd_limit() {
        Ok(limit) => tracing::debug!(limit, "open files limit"),
        Err(error) => tracing::warn!(%error, "cannot raise the open files limit"),
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            write_err(format_args!(
                "pecwatch: cannot start the runtime: {error}\n"
            ));
            return ExitCode::from(3);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(exit) => ExitCode::from(exit.code()),
        // Its reader went away (`pecwatch … | head`): end quietly, as Unix tools do.
        Err(CliError::OutputClosed) => ExitCode::from(CliError::OutputClosed.exit_code()),
        Err(error) => {
            write_err(format_args!("pecwatch: {error}\n"));
            ExitCode::from(error.exit_code())
        }
    }
}

//! The `pecwatch` binary: parses the command line, runs it, maps the outcome to an exit
//! status (0 ok, 1 findings, 2 bad input or configuration, 3 failure of the environment).

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: the prober allocates many small short-lived buffers; measured faster than
/// the system allocator in `bench/check.sh`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use pecwatch::cli::{Cli, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Warnings by default, and the web interface's one line per request;
    // PECWATCH_LOG=debug (any EnvFilter) to see more, PECWATCH_LOG_FORMAT=json for JSON
    // lines.
    let filter = tracing_subscriber::EnvFilter::try_from_env("PECWATCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,pecwatch::web::access=info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("PECWATCH_LOG_FORMAT").is_ok_and(|format| format.trim() == "json") {
        logs.json().flatten_event(true).init();
    } else {
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("pecwatch: cannot start the runtime: {error}");
            return ExitCode::from(3);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(exit) => ExitCode::from(exit.code()),
        // The reader of the output went away (`pecwatch … | head`): nothing to report.
        Err(pecwatch::cli::CliError::Io(error))
            if error.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("pecwatch: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

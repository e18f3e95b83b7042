//! `tower-mirror-proxy`: a shadowing reverse proxy built on tower-mirror.
//!
//! Every request goes to the primary (or, with `--rules`, where Istio rules route it); a
//! copy goes to each shadow off the critical path, its answer ignored. See `--help` and
//! the crate's README.
//!
//! Modules, from the top down (nothing imports upward): `main` -> `app` (the proxy's life)
//! -> `server` (client connections), `admin`, `reload` -> `gateway` (one request) ->
//! `routing` (what serves requests) -> `rule_files`, `upstreams` -> `limits`, `decision`;
//! beside them `cli`, `forwarding`, `access_log`, `idle`, `tls`, `stats`, `metrics`,
//! `stop`.

#![forbid(unsafe_code)]
#![warn(missing_debug_implementations, unreachable_pub, rust_2018_idioms)]

mod access_log;
mod admin;
mod app;
mod cli;
mod decision;
mod forwarding;
mod gateway;
mod idle;
mod limits;
#[cfg(feature = "metrics")]
mod metrics;
mod reload;
mod routing;
mod rule_files;
mod server;
mod stats;
mod stop;
mod tls;
mod upstreams;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};

use crate::app::{Failure, Proxy};
use crate::cli::Args;

fn main() -> ExitCode {
    // --help and --version print to stdout and exit 0; a bad flag prints the usage to
    // stderr and exits 2.
    let args = Args::try_parse().unwrap_or_else(|error| refuse(&error));
    // Logs go to stderr: stdout carries what scripts read (address, access log, stats).
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let runtime = match args.worker_threads {
        // One worker: a current-thread runtime does the same work without the
        // work-stealing scheduler's synchronisation.
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut runtime = tokio::runtime::Builder::new_multi_thread();
            runtime.worker_threads(n);
            runtime
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    }
    .enable_all()
    .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("tower-mirror-proxy: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ran = runtime.block_on(async { Proxy::new(args)?.run().await });
    match ran {
        Ok(()) => ExitCode::SUCCESS,
        // Like a bad flag: the message, the usage, exit status 2.
        Err(Failure::Usage(message)) => {
            refuse(&Args::command().error(ErrorKind::ValueValidation, message))
        }
        Err(Failure::Runtime(message)) => {
            eprintln!("tower-mirror-proxy: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Prints `error` and exits: `--help` and `--version` to stdout with status 0, anything
/// else to stderr with the usage (which clap leaves out of some errors) and status 2.
fn refuse(error: &clap::Error) -> ! {
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        error.exit()
    }
    let rendered = error.render().to_string();
    if rendered.contains("Usage: ") {
        eprint!("{rendered}");
    } else {
        let more = "For more information, try '--help'.";
        let message = rendered.trim_end();
        let message = message.strip_suffix(more).unwrap_or(message).trim_end();
        let usage = Args::command().render_usage();
        eprint!("{message}\n\n{usage}\n\n{more}\n");
    }
    std::process::exit(2)
}

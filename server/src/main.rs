//! The `outbox-sync-server` binary: parses flags, sets up logging, serves
//! until Ctrl-C.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use outbox_sync_server::cli::{Args, LogFormat};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only for a person watching a terminal: never in a file, a pipe
    // or a log collector, and never with NO_COLOR set.
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    match args.log_format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(colour)
            .init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init(),
    }
    let config = match args.into_config() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("outbox-sync-server: {message}");
            return ExitCode::from(2);
        }
    };
    let mut server = match outbox_sync_server::serve(config).await {
        Ok(server) => server,
        Err(error) => {
            eprintln!("outbox-sync-server: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("outbox-sync-server listening on {}", server.url());
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {
            tracing::info!("shutting down");
            server.stop().await;
        }
        _ = server.wait() => {}
    }
    ExitCode::SUCCESS
}

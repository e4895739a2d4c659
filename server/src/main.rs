//! The `outbox-sync-server` binary: parses flags, sets up logging, serves
//! until Ctrl-C.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use outbox_sync_server::cli::audit::{render, AuditArgs};
use outbox_sync_server::cli::{Args, Command, LogFormat};
use tracing_subscriber::EnvFilter;

/// mimalloc rather than glibc's malloc: under the load test glibc spent a
/// fifth of the SQLite writer thread's time in `free` (docs/server.md,
/// "Build profile"). The library leaves the choice to its users.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if let Some(Command::Audit(audit)) = &args.command {
        // Its standard output is the entries alone: logs go to stderr.
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
        return find_event(audit).await;
    }
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

/// `outbox-sync-server audit`: prints the event's entries; exit status 1
/// when there are none, 2 on bad flags or an unreadable database.
async fn find_event(args: &AuditArgs) -> ExitCode {
    let fail = |message: String| {
        eprintln!("outbox-sync-server audit: {message}");
        ExitCode::from(2)
    };
    let database = match args.database() {
        Ok(database) => database,
        Err(message) => return fail(message),
    };
    let store = match outbox_sync_server::open_store(&database).await {
        Ok(store) => store,
        Err(error) => return fail(error.to_string()),
    };
    // Stored as its idempotency key: a UUID in lower case.
    let event_id = outbox_sync_server::validate::key_of(args.event_id.trim());
    let user = args.user.clone();
    let found = tokio::task::spawn_blocking(move || store.find_event(&event_id, user.as_deref()))
        .await
        .map_err(|e| e.to_string())
        .and_then(|found| found.map_err(|e| e.to_string()));
    let entries = match found {
        Ok(entries) => entries,
        Err(message) => return fail(format!("reading the audit trail failed: {message}")),
    };
    if entries.is_empty() {
        let whose = args
            .user
            .as_ref()
            .map(|user| format!(" of user {user}"))
            .unwrap_or_default();
        eprintln!(
            "outbox-sync-server audit: no entry for event {}{whose} in {database}: the server \
             never applied it (still in the outbox, rejected, or older than --audit-retention)",
            args.event_id
        );
        return ExitCode::FAILURE;
    }
    for line in render(&entries, args.json) {
        println!("{line}");
    }
    ExitCode::SUCCESS
}

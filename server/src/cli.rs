//! The command line: flags, their defaults, and turning them into a
//! [`Config`] with errors that say what to fix.

pub mod audit;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::auth::{parse_pair, parse_tokens_file};
use crate::config::{
    parse_duration, parse_retention, Collections, Config, Database, Limits, Policy, Retention,
};

/// How log lines are written.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Reference sync server of outbox-sync: applies pushed events exactly once,
/// serves changes in server order, and serves the app and its wasm package.
#[derive(Debug, Parser)]
#[command(name = "outbox-sync-server", version)]
pub struct Args {
    /// A tool to run instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:8787", value_name = "ADDR")]
    pub listen: SocketAddr,

    /// SQLite database file (default ./data/outbox-sync.sqlite3); its
    /// directory is created if missing. Not with --database-url.
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,

    /// Acknowledge commits before they reach the disk (faster; a power cut
    /// can lose the last acknowledged writes, a crash cannot). SQLite only.
    #[arg(long)]
    pub fast_commits: bool,

    /// PostgreSQL instead of SQLite, e.g.
    /// postgres://outbox@127.0.0.1:5432/outbox; several servers may share
    /// one database. Tables are created at start.
    #[arg(
        long,
        env = "OUTBOX_SYNC_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,

    /// Most PostgreSQL connections this server keeps open.
    #[arg(
        long,
        env = "OUTBOX_SYNC_DATABASE_POOL",
        default_value_t = Database::DEFAULT_POOL,
        value_parser = clap::value_parser!(u32).range(1..=1000),
        value_name = "N"
    )]
    pub database_pool: u32,

    /// A PEM file of CA certificates to trust for TLS to PostgreSQL,
    /// besides the public CAs (for a private CA). TLS follows the URL's
    /// sslmode: disable, prefer (the default) or require.
    #[arg(long, env = "OUTBOX_SYNC_DATABASE_CA_FILE", value_name = "PATH")]
    pub database_ca_file: Option<PathBuf>,

    /// A bearer token and the user it signs in (repeatable).
    #[arg(long = "token", value_name = "TOKEN=USER")]
    pub tokens: Vec<String>,

    /// A file of TOKEN=USER lines (blank lines and # comments skipped).
    #[arg(long, value_name = "FILE")]
    pub tokens_file: Option<PathBuf>,

    /// A collection and its conflict policy: lww, merge or strict
    /// (repeatable), e.g. --collection notes=merge.
    #[arg(long = "collection", value_name = "NAME=POLICY")]
    pub collections: Vec<String>,

    /// Accept collections not named by --collection, with --default-policy.
    #[arg(long)]
    pub any_collection: bool,

    /// Policy of collections accepted by --any-collection.
    #[arg(long, default_value = "lww", value_name = "POLICY")]
    pub default_policy: Policy,

    /// Directory served at / (the app).
    #[arg(long, default_value = "www", value_name = "DIR")]
    pub www: PathBuf,

    /// Directory served at /pkg/ (the built wasm package).
    #[arg(long, default_value = "pkg", value_name = "DIR")]
    pub pkg: PathBuf,

    /// Allow cross-origin requests from ORIGIN (repeatable); off by default.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,

    /// Largest request body in bytes.
    #[arg(long, default_value_t = Limits::default().max_body_bytes, value_name = "BYTES")]
    pub max_body_bytes: usize,

    /// Most events in one push.
    #[arg(long, default_value_t = Limits::default().max_batch, value_name = "N")]
    pub max_batch: usize,

    /// Deepest nesting of arrays and objects in a payload.
    #[arg(long, default_value_t = Limits::default().max_depth, value_name = "N")]
    pub max_depth: usize,

    /// Largest blob (photo, video, file) a user may upload, in bytes.
    #[arg(long, default_value_t = Limits::default().max_blob_bytes, value_name = "BYTES")]
    pub max_blob_bytes: u64,

    /// Largest chunk of a blob upload (one PUT), in bytes.
    #[arg(long, default_value_t = Limits::default().max_blob_chunk_bytes, value_name = "BYTES")]
    pub max_blob_chunk_bytes: usize,

    /// Time a connection has to send a complete request head (also ends idle
    /// keep-alive connections).
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub header_timeout: Duration,

    /// Time a request body has to arrive after its head (else 408).
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub body_timeout: Duration,

    /// Time a connection may go without a byte moving either way.
    #[arg(long, default_value = "120s", value_parser = parse_duration, value_name = "DURATION")]
    pub idle_timeout: Duration,

    /// Most connections open at once; beyond, the oldest is asked to close.
    #[arg(long, default_value_t = Limits::default().max_connections, value_name = "N")]
    pub max_connections: usize,

    /// How long idempotency keys are kept (at least 7d recommended); also
    /// how long a blob no record references (or an unfinished upload) is
    /// kept after it was last touched.
    #[arg(long, default_value = "7d", value_parser = parse_duration, value_name = "DURATION")]
    pub key_retention: Duration,

    /// How long tombstones are kept; older sync tokens then get 410.
    #[arg(long, default_value = "30d", value_parser = parse_duration, value_name = "DURATION")]
    pub tombstone_retention: Duration,

    /// How long audit entries are kept (a duration, or forever).
    #[arg(long, default_value = "365d", value_name = "DURATION")]
    pub audit_retention: String,

    /// How often expired keys, tombstones and audit entries are removed.
    #[arg(long, default_value = "1h", value_parser = parse_duration, value_name = "DURATION")]
    pub maintenance_interval: Duration,

    /// Mount /v1/_faults to inject failures at runtime (tests only).
    #[arg(long)]
    pub enable_fault_injection: bool,

    /// Log line format (the level comes from RUST_LOG, default info).
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// Tools besides serving.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Find one event in the audit trail: whether and when it was applied,
    /// as which version, for which user (reads the database, no server
    /// needed).
    Audit(audit::AuditArgs),
}

/// The SQLite file when neither --data nor --database-url is given.
pub const DEFAULT_DATA: &str = "./data/outbox-sync.sqlite3";

impl Args {
    /// SQLite unless a PostgreSQL URL is given (an empty one counts as none).
    fn database(&self) -> Result<Database, String> {
        let url = self.database_url.as_deref().map(str::trim);
        match url.filter(|url| !url.is_empty()) {
            None if self.database_ca_file.is_some() => Err(
                "--database-ca-file (also read from OUTBOX_SYNC_DATABASE_CA_FILE) is for \
                 PostgreSQL: pass --database-url too, or drop it"
                    .to_owned(),
            ),
            None => Ok(Database::Sqlite {
                path: self.data.clone().unwrap_or_else(|| DEFAULT_DATA.into()),
                durable: !self.fast_commits,
            }),
            Some(_) if self.data.is_some() => Err(
                "both --data (SQLite) and --database-url (PostgreSQL, also read from \
                 OUTBOX_SYNC_DATABASE_URL) are set: pass only one"
                    .to_owned(),
            ),
            Some(_) if self.fast_commits => Err(
                "--fast-commits is for SQLite only; with PostgreSQL, durability is the \
                 database's synchronous_commit setting"
                    .to_owned(),
            ),
            Some(url) => Ok(Database::Postgres {
                url: url.to_owned(),
                pool: self.database_pool,
                ca_file: self.database_ca_file.clone(),
            }),
        }
    }

    /// Checks the flags and builds the server's settings.
    pub fn into_config(self) -> Result<Config, String> {
        let mut config = Config::new(DEFAULT_DATA);
        config.listen = self.listen;
        config.database = self.database()?;
        for pair in &self.tokens {
            let (token, user) = parse_pair(pair).ok_or_else(|| {
                "--token needs TOKEN=USER, e.g. --token dev-token=alice".to_owned()
            })?;
            config.tokens.insert(token, user);
        }
        if let Some(file) = &self.tokens_file {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read --tokens-file {} ({e})", file.display()))?;
            let pairs = parse_tokens_file(&text)
                .map_err(|e| format!("--tokens-file {}: {e}", file.display()))?;
            config.tokens.extend(pairs);
        }
        if config.tokens.is_empty() {
            return Err(
                "no tokens configured: every request needs a bearer token, so pass \
                 --token TOKEN=USER (e.g. --token dev-token=alice) or --tokens-file FILE"
                    .to_owned(),
            );
        }
        let mut collections = Collections {
            any: self.any_collection.then_some(self.default_policy),
            ..Collections::default()
        };
        for pair in &self.collections {
            let (name, policy) = pair.split_once('=').ok_or_else(|| {
                format!("--collection {pair:?} needs NAME=POLICY, e.g. --collection notes=merge")
            })?;
            let policy = policy
                .parse::<Policy>()
                .map_err(|e| format!("--collection {pair}: {e}"))?;
            collections.named.insert(name.trim().to_owned(), policy);
        }
        if collections.named.is_empty() && collections.any.is_none() {
            return Err(
                "no collections configured: pass --collection NAME=POLICY for each \
                 (e.g. --collection notes=merge --collection tasks=strict), or --any-collection \
                 to accept every name with --default-policy (lww unless set)"
                    .to_owned(),
            );
        }
        config.collections = collections;
        config.www = Some(self.www);
        config.pkg = Some(self.pkg);
        for origin in &self.cors_origins {
            check_origin(origin)?;
        }
        config.cors_origins = self.cors_origins;
        config.limits = Limits {
            max_body_bytes: self.max_body_bytes,
            max_batch: self.max_batch,
            max_depth: self.max_depth,
            header_timeout: self.header_timeout,
            body_timeout: self.body_timeout,
            idle_timeout: self.idle_timeout,
            max_connections: self.max_connections,
            max_blob_bytes: self.max_blob_bytes,
            max_blob_chunk_bytes: self.max_blob_chunk_bytes,
            ..Limits::default()
        };
        config.retention = Retention {
            keys: self.key_retention,
            tombstones: self.tombstone_retention,
            interval: self.maintenance_interval,
            audit: parse_retention(&self.audit_retention)
                .map_err(|e| format!("--audit-retention: {e}"))?,
        };
        config.fault_injection = self.enable_fault_injection;
        Ok(config)
    }
}

/// Checks one `--cors-origin`: an exact origin such as
/// `https://app.example.com`, never a wildcard.
fn check_origin(origin: &str) -> Result<(), String> {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    let exact = rest.is_some_and(|host| {
        !host.is_empty()
            && !host.contains(['/', '*', ' ', '?', '#'])
            && axum::http::HeaderValue::from_str(origin).is_ok()
    });
    if exact {
        Ok(())
    } else {
        Err(format!(
            "--cors-origin {origin:?} is not an exact origin: give scheme, host and port \
             without a path or wildcard, e.g. --cors-origin https://app.example.com"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn args(extra: &[&str]) -> Args {
        let mut all = vec!["outbox-sync-server"];
        all.extend_from_slice(extra);
        Args::try_parse_from(all).unwrap()
    }

    #[test]
    fn flags_build_a_config() {
        let config = args(&[
            "--token",
            "t=alice",
            "--collection",
            "notes=merge",
            "--collection",
            "tasks=strict",
        ])
        .into_config()
        .unwrap();
        assert_eq!(config.tokens["t"], "alice");
        assert_eq!(config.collections.policy("notes"), Some(Policy::Merge));
        assert_eq!(config.collections.policy("other"), None);
        assert_eq!(config.listen.port(), 8787);
        assert!(!config.fault_injection);
    }

    #[test]
    fn cors_origins_must_be_exact() {
        let base = ["--token", "t=a", "--any-collection", "--cors-origin"];
        for good in ["https://app.example.com", "http://127.0.0.1:5173"] {
            let flags: Vec<&str> = base.iter().copied().chain([good]).collect();
            assert_eq!(args(&flags).into_config().unwrap().cors_origins, [good]);
        }
        for bad in [
            "*",
            "https://*.example.com",
            "app.example.com",
            "https://a.com/path",
        ] {
            let flags: Vec<&str> = base.iter().copied().chain([bad]).collect();
            let error = args(&flags).into_config().unwrap_err();
            assert!(error.contains("exact origin"), "{error}");
        }
    }

    #[test]
    fn a_database_url_chooses_postgres() {
        let base = ["--token", "t=a", "--any-collection"];
        let sqlite = args(&base).into_config().unwrap();
        assert_eq!(
            sqlite.database,
            Database::Sqlite {
                path: DEFAULT_DATA.into(),
                durable: true
            }
        );
        let url = "postgres://app:pw@127.0.0.1:5432/outbox";
        let mut flags = base.to_vec();
        flags.extend(["--database-url", url, "--database-pool", "3"]);
        let postgres = args(&flags).into_config().unwrap();
        assert_eq!(
            postgres.database,
            Database::Postgres {
                url: url.to_owned(),
                pool: 3,
                ca_file: None
            }
        );
        assert_eq!(
            postgres.database.to_string(),
            "postgres://app:***@127.0.0.1:5432/outbox"
        );
        flags.extend(["--data", "x.sqlite3"]);
        let both = args(&flags).into_config().unwrap_err();
        assert!(both.contains("pass only one"), "{both}");
        let mut flags = base.to_vec();
        flags.extend(["--database-url", url, "--fast-commits"]);
        assert!(args(&flags)
            .into_config()
            .unwrap_err()
            .contains("SQLite only"));
        let mut flags = base.to_vec();
        flags.extend(["--database-url", url, "--database-ca-file", "/etc/ca.pem"]);
        let tls = args(&flags).into_config().unwrap();
        assert!(
            matches!(&tls.database, Database::Postgres { ca_file: Some(f), .. } if f == Path::new("/etc/ca.pem"))
        );
        let mut flags = base.to_vec();
        flags.extend(["--database-ca-file", "/etc/ca.pem"]);
        let sqlite = args(&flags).into_config().unwrap_err();
        assert!(sqlite.contains("is for PostgreSQL"), "{sqlite}");
        let mut flags = base.to_vec();
        flags.extend(["--database-url", url, "--database-pool", "0"]);
        let all = ["outbox-sync-server"].into_iter().chain(flags);
        assert!(Args::try_parse_from(all).is_err());
    }

    #[test]
    fn missing_tokens_and_collections_say_what_to_pass() {
        let no_tokens = args(&["--any-collection"]).into_config().unwrap_err();
        assert!(no_tokens.contains("--token"));
        let no_collections = args(&["--token", "t=a"]).into_config().unwrap_err();
        assert!(no_collections.contains("--collection"));
        let bad_policy = args(&["--token", "t=a", "--collection", "n=fancy"])
            .into_config()
            .unwrap_err();
        assert!(bad_policy.contains("lww, merge or strict"));
    }
}

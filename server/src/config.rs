//! The server's settings: what the command line fills in, and what tests
//! build directly.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// How a collection settles concurrent writes to the same record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Last write wins, by server arrival order (never device clocks).
    Lww,
    /// Field-level: a write applies unless the server changed the same
    /// fields since the event's `base_version`.
    Merge,
    /// `base_version` must equal the current version.
    Strict,
}

impl Policy {
    /// The name used in flags and docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Lww => "lww",
            Policy::Merge => "merge",
            Policy::Strict => "strict",
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Policy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "lww" => Ok(Policy::Lww),
            "merge" => Ok(Policy::Merge),
            "strict" => Ok(Policy::Strict),
            other => Err(format!(
                "unknown conflict policy {other:?}: use lww, merge or strict"
            )),
        }
    }
}

/// Which collections exist and how each settles conflicts.
#[derive(Debug, Clone, Default)]
pub struct Collections {
    /// Named collections and their policies.
    pub named: BTreeMap<String, Policy>,
    /// The policy of any other collection name, or `None` to reject them.
    pub any: Option<Policy>,
}

impl Collections {
    /// Accepts every collection name with one policy.
    pub fn any(policy: Policy) -> Self {
        Collections {
            named: BTreeMap::new(),
            any: Some(policy),
        }
    }

    /// Adds or replaces a named collection.
    pub fn with(mut self, name: &str, policy: Policy) -> Self {
        self.named.insert(name.to_owned(), policy);
        self
    }

    /// The policy of `name`, or `None` when the collection is unknown.
    pub fn policy(&self, name: &str) -> Option<Policy> {
        self.named.get(name).copied().or(self.any)
    }
}

/// Size limits on requests; each has a clear error when exceeded.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Most events in one push.
    pub max_batch: usize,
    /// Deepest nesting of arrays and objects in a payload.
    pub max_depth: usize,
    /// Longest collection name, in bytes.
    pub max_collection_len: usize,
    /// Longest record id, in bytes.
    pub max_record_id_len: usize,
    /// Longest idempotency key, in bytes.
    pub max_key_len: usize,
    /// Most changes in one pull page.
    pub max_pull_limit: usize,
    /// How long a connection may take to send a complete request head,
    /// counted from when it opens or from its previous answer (so it also
    /// ends idle keep-alive connections).
    pub header_timeout: Duration,
    /// How long a request body may take to arrive after its head (`408`).
    pub body_timeout: Duration,
    /// How long a connection may go without a byte moving either way.
    pub idle_timeout: Duration,
    /// Most connections open at once; beyond, the oldest is asked to close.
    pub max_connections: usize,
    /// Largest blob (file) a user may upload, in bytes.
    pub max_blob_bytes: u64,
    /// Largest chunk of a blob upload, in bytes (one `PUT`).
    pub max_blob_chunk_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 * 1024 * 1024,
            max_batch: 1000,
            max_depth: 32,
            max_collection_len: 64,
            max_record_id_len: 256,
            max_key_len: 128,
            max_pull_limit: 1000,
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(120),
            max_connections: 4096,
            max_blob_bytes: 512 * 1024 * 1024,
            max_blob_chunk_bytes: 8 * 1024 * 1024,
        }
    }
}

/// How long kept data lives, and how often it is cleaned.
#[derive(Debug, Clone)]
pub struct Retention {
    /// Idempotency keys are kept at least this long.
    pub keys: Duration,
    /// Tombstones are kept this long; older sync tokens then get `410`.
    pub tombstones: Duration,
    /// How often the background task expires keys and tombstones.
    pub interval: Duration,
    /// Audit entries are kept this long; `None` keeps them forever.
    pub audit: Option<Duration>,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            keys: Duration::from_secs(7 * 24 * 3600),
            tombstones: Duration::from_secs(30 * 24 * 3600),
            interval: Duration::from_secs(3600),
            audit: Some(Duration::from_secs(365 * 24 * 3600)),
        }
    }
}

/// Where the server keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// An embedded SQLite file: nothing to set up; one server per file.
    Sqlite {
        /// The database file; its directory is created.
        path: PathBuf,
        /// `fsync` on every commit (`true`, the default) or only at checkpoints.
        durable: bool,
    },
    /// A PostgreSQL database, which several server instances may share.
    Postgres {
        /// A `postgres://user[:password]@host[:port]/dbname[?param=value]`
        /// URL (or libpq `key=value` pairs).
        url: String,
        /// Most connections this server keeps open.
        pool: u32,
        /// A PEM file of CA certificates trusted for TLS besides Mozilla's
        /// public roots (for a database whose certificate a private CA
        /// signed).
        ca_file: Option<PathBuf>,
    },
}

impl Database {
    /// Connections per server when no pool size is given.
    pub const DEFAULT_POOL: u32 = 8;

    /// PostgreSQL at `url` with the default pool size and no CA file.
    pub fn postgres(url: impl Into<String>) -> Self {
        Database::Postgres {
            url: url.into(),
            pool: Self::DEFAULT_POOL,
            ca_file: None,
        }
    }
}

impl fmt::Display for Database {
    /// The file, or the URL without its password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite { path, .. } => write!(f, "{}", path.display()),
            Database::Postgres { url, .. } => f.write_str(&crate::store::postgres::redact(url)),
        }
    }
}

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Where the data lives: SQLite (the default) or PostgreSQL.
    pub database: Database,
    /// Bearer token to user id.
    pub tokens: HashMap<String, String>,
    /// Known collections and their conflict policies.
    pub collections: Collections,
    /// The demo app, served at `/` (skipped when missing).
    pub www: Option<PathBuf>,
    /// The built wasm package, served at `/pkg/` (skipped when missing).
    pub pkg: Option<PathBuf>,
    /// Origins allowed by CORS; empty turns CORS off.
    pub cors_origins: Vec<String>,
    /// Request limits.
    pub limits: Limits,
    /// Expiry of keys and tombstones.
    pub retention: Retention,
    /// Mounts `/v1/_faults` and the fault layer.
    pub fault_injection: bool,
}

impl Config {
    /// Settings for a test or a tool: listen on a free loopback port, keep
    /// data in the SQLite file `data` (durably), accept any collection with
    /// `lww`, no static files.
    pub fn new(data: impl Into<PathBuf>) -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database: Database::Sqlite {
                path: data.into(),
                durable: true,
            },
            tokens: HashMap::new(),
            collections: Collections::any(Policy::Lww),
            www: None,
            pkg: None,
            cors_origins: Vec::new(),
            limits: Limits::default(),
            retention: Retention::default(),
            fault_injection: false,
        }
    }

    /// Adds a bearer token for `user`.
    pub fn token(mut self, token: &str, user: &str) -> Self {
        self.tokens.insert(token.to_owned(), user.to_owned());
        self
    }
}

/// Reads a retention: a duration (see [`parse_duration`]) or `forever`
/// (`None`: never expire).
pub fn parse_retention(text: &str) -> Result<Option<Duration>, String> {
    if text.trim().eq_ignore_ascii_case("forever") {
        return Ok(None);
    }
    parse_duration(text)
        .map(Some)
        .map_err(|e| format!("{e}, or forever to keep everything"))
}

/// Reads a duration like `30s`, `15m`, `12h`, `7d` or `250ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration: write e.g. 30s, 15m, 12h or 7d"))?;
    let secs = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => {
            return Err(format!(
                "{text:?} has an unknown unit: use ms, s, m, h or d"
            ))
        }
    };
    Ok(Duration::from_secs(n.saturating_mul(secs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_every_unit() {
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604_800));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("7w").unwrap_err().contains("unit"));
        assert!(parse_duration("x").is_err());
        assert_eq!(parse_retention("forever").unwrap(), None);
        assert_eq!(
            parse_retention("90d").unwrap(),
            Some(Duration::from_secs(90 * 86400))
        );
        assert!(parse_retention("soon").unwrap_err().contains("forever"));
    }

    #[test]
    fn named_collections_win_over_any() {
        let collections = Collections::default().with("tasks", Policy::Strict);
        assert_eq!(collections.policy("tasks"), Some(Policy::Strict));
        assert_eq!(collections.policy("notes"), None);
        let open = Collections::any(Policy::Merge).with("tasks", Policy::Strict);
        assert_eq!(open.policy("notes"), Some(Policy::Merge));
    }
}

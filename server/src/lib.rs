//! The reference sync server of outbox-sync, usable as a library: tests and
//! tools start it with [`serve`] on port 0 and talk to the address it
//! returns. The binary (`main.rs`) only adds the command line and logging.
#![deny(missing_docs)]

pub mod apply;
pub mod audit;
pub mod auth;
pub mod blobs;
pub mod bodies;
pub mod cli;
pub mod config;
pub mod error;
pub mod faults;
pub mod keys;
pub mod listen;
pub mod logging;
pub mod maintenance;
pub mod routes;
pub mod statics;
pub mod store;
pub mod validate;

use std::fmt;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

pub use config::{Collections, Config, Database, Limits, Policy, Retention};

use crate::blobs::files::FileBlobs;
use crate::blobs::BlobStore;
use crate::routes::{AppState, Shared};
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;
use crate::store::Store;

/// Why the server could not start; each message says what to do.
#[derive(Debug)]
pub enum StartError {
    /// The data directory could not be created.
    DataDir(PathBuf, std::io::Error),
    /// The database could not be opened or set up.
    Database(PathBuf, String),
    /// PostgreSQL could not be reached or set up (the URL without its
    /// password, and why).
    Postgres(String, String),
    /// The listen address is taken or not allowed.
    Listen(SocketAddr, std::io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::DataDir(dir, e) => write!(
                f,
                "cannot create the data directory {} ({e}); create it yourself or pass --data with a writable path",
                dir.display()
            ),
            StartError::Database(path, e) => write!(
                f,
                "cannot open the database {} ({e}); check that the file and its directory are writable, or pass --data with another path",
                path.display()
            ),
            StartError::Postgres(url, e) => write!(
                f,
                "cannot use the PostgreSQL database {url} ({e}); check that PostgreSQL is running and reachable from here, and that --database-url (or OUTBOX_SYNC_DATABASE_URL) names an existing database and a user allowed to create tables in it"
            ),
            StartError::Listen(addr, e) if e.kind() == ErrorKind::AddrInUse => write!(
                f,
                "cannot listen on {addr}: the port is already in use; stop the other server or pass --listen with another port (e.g. --listen 127.0.0.1:8788)"
            ),
            StartError::Listen(addr, e) => write!(
                f,
                "cannot listen on {addr} ({e}); pass --listen with an address of this machine, e.g. --listen 127.0.0.1:8787"
            ),
        }
    }
}

impl std::error::Error for StartError {}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
    maintenance: JoinHandle<()>,
    stores: Stores,
}

/// The stores a server runs on: records (with keys and the audit trail)
/// and blobs.
#[derive(Clone)]
pub struct Stores {
    /// Records, idempotency keys, tombstones, the audit trail.
    pub records: Arc<dyn Store>,
    /// Blobs (uploaded files).
    pub blobs: Arc<dyn BlobStore>,
}

impl Server {
    /// The address it listens on (with the real port when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, e.g. `http://127.0.0.1:8787`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The store, for tools and tests that run maintenance themselves. Its
    /// calls block: from async code, make them inside `spawn_blocking`.
    pub fn store(&self) -> Arc<dyn Store> {
        self.stores.records.clone()
    }

    /// The blob store (blocking calls too, like [`Server::store`]).
    pub fn blobs(&self) -> Arc<dyn BlobStore> {
        self.stores.blobs.clone()
    }

    /// Stops accepting, finishes requests in flight, then returns.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
        self.maintenance.abort();
    }

    /// Waits until the server stops (it only does when [`Server::stop`] is
    /// called or on a fatal error).
    pub async fn wait(&mut self) {
        let _ = (&mut self.task).await;
    }
}

/// Opens the store, binds the address and starts serving in the
/// background; returns once the server accepts connections.
pub async fn serve(config: Config) -> Result<Server, StartError> {
    let stores = open_stores(&config.database).await?;
    serve_with(config, stores).await
}

/// Opens the configured database's record store and blob store: with
/// SQLite, blobs are files in the directory `<stem>-blobs` beside the
/// database file; with PostgreSQL, tables of the same database.
pub async fn open_stores(database: &Database) -> Result<Stores, StartError> {
    match database {
        Database::Sqlite { path, .. } => {
            let records = open_store(database).await?;
            let dir = FileBlobs::beside(path);
            let blobs = FileBlobs::open(&dir)
                .map_err(|e| StartError::DataDir(dir, std::io::Error::other(e.to_string())))?;
            Ok(Stores {
                records,
                blobs: Arc::new(blobs),
            })
        }
        Database::Postgres { .. } => {
            let store = open_postgres(database).await?;
            Ok(Stores {
                records: store.clone(),
                blobs: store,
            })
        }
    }
}

async fn open_postgres(database: &Database) -> Result<Arc<PostgresStore>, StartError> {
    let Database::Postgres { url, pool, ca_file } = database else {
        unreachable!("called for PostgreSQL only");
    };
    let shown = database.to_string();
    let (url, pool, ca_file) = (url.clone(), *pool, ca_file.clone());
    // The sync client blocks on its own runtime: not on this one.
    let opened =
        tokio::task::spawn_blocking(move || PostgresStore::open(&url, pool, ca_file.as_deref()))
            .await
            .map_err(|e| StartError::Postgres(shown.clone(), e.to_string()))?;
    let store = opened.map_err(|e| StartError::Postgres(shown, e))?;
    Ok(Arc::new(store))
}

/// Opens (creating or migrating if needed) the configured database's
/// record store only (for tools that read records or the audit trail).
pub async fn open_store(database: &Database) -> Result<Arc<dyn Store>, StartError> {
    match database {
        Database::Sqlite { path, durable } => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| StartError::DataDir(dir.to_owned(), e))?;
            }
            let store = SqliteStore::open(path, *durable)
                .map_err(|e| StartError::Database(path.clone(), e.to_string()))?;
            Ok(Arc::new(store))
        }
        Database::Postgres { .. } => Ok(open_postgres(database).await?),
    }
}

/// Like [`serve`], with stores made by the caller.
pub async fn serve_with(config: Config, stores: Stores) -> Result<Server, StartError> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| StartError::Listen(config.listen, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Listen(config.listen, e))?;
    let state = AppState::new(Shared {
        store: stores.records.clone(),
        blobs: stores.blobs.clone(),
        tokens: auth::Tokens::new(&config.tokens),
        collections: config.collections.clone(),
        limits: config.limits.clone(),
        keys: keys::KeyLocks::default(),
        faults: config.fault_injection.then(Default::default),
    });
    if config.fault_injection {
        tracing::warn!(
            "fault injection is enabled: /v1/_faults can make this server fail on purpose"
        );
    }
    let mut app = statics::mount(
        routes::api(state),
        config.www.as_deref(),
        config.pkg.as_deref(),
    )
    .layer(TraceLayer::new_for_http().make_span_with(logging::request_span::<axum::body::Body>));
    if !config.cors_origins.is_empty() {
        app = app.layer(cors(&config.cors_origins));
    }
    let app = app.layer(axum::middleware::from_fn_with_state(
        config.limits.body_timeout,
        bodies::watch,
    ));
    let limits = config.limits.clone();
    let maintenance = maintenance::spawn(
        stores.records.clone(),
        stores.blobs.clone(),
        config.retention.clone(),
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        listen::serve(listener, app, &limits, shutdown).await;
    });
    tracing::info!(%addr, database = %config.database, "listening");
    Ok(Server {
        addr,
        stop,
        task,
        maintenance,
        stores,
    })
}

fn cors(origins: &[String]) -> CorsLayer {
    use axum::http::{header, HeaderName, HeaderValue, Method};
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            header::RANGE,
            header::IF_RANGE,
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            header::ETAG,
            header::CONTENT_RANGE,
            header::CONTENT_LENGTH,
            header::ACCEPT_RANGES,
            HeaderName::from_static("upload-offset"),
            header::RETRY_AFTER,
            HeaderName::from_static("idempotent-replayed"),
        ])
}

//! Push throughput of the real server beside a raw rusqlite floor, then as
//! the stored idempotency keys grow.
//!
//! Part 1, throughput: pushes of `BENCH_BATCH` (100) events over HTTP to a
//! server on a free loopback port, from 1 and more concurrent clients, with
//! durable (flushed) and fast commits, on SQLite and, when a PostgreSQL URL
//! is given, on PostgreSQL. Beside them, in the same run, the **floor**: raw
//! rusqlite running the same statements per event as the server (look up
//! the key, load the record, upsert it, store the key; `seq` read and
//! written once per push), one transaction per push, no HTTP, no JSON. Each
//! server row is shown as a ratio of the floor with the same commit mode.
//!
//! Part 2, key growth: seeds idempotency keys straight into SQLite up to
//! each size (1k, 10k, 100k, ...) and times new and replayed pushes; the
//! first size is the baseline.
//!
//! ```text
//! cargo run --release -p outbox-sync-server --example bench_push
//! BENCH_EVENTS=5000 BENCH_MAX_KEYS=0 cargo run --release -p outbox-sync-server --example bench_push
//! ```
//!
//! Environment: `BENCH_EVENTS` per row (default 20000), `BENCH_BATCH`
//! events per push (default 100), `BENCH_CLIENTS` (default `1,4,16`),
//! `BENCH_DATABASE_URL` (or `OUTBOX_SYNC_TEST_DATABASE_URL`, which
//! scripts/postgres.sh sets) for the PostgreSQL rows, `BENCH_MAX_KEYS`
//! (default 100000; 0 skips part 2), `BENCH_KEY_EVENTS` per size in part 2
//! (default 2000), `BENCH_BACKENDS` (`sqlite`, `postgres`; default both)
//! for only those server rows, `BENCH_PG_TRACE=1` to print the PostgreSQL
//! floor's time per statement.

use std::path::Path;
use std::time::{Duration, Instant};

use futures::future::join_all;
use outbox_sync_server::store::postgres::{BEGIN_LOCKED, READ_BATCH};
use outbox_sync_server::store::schema::{POSTGRES_STEPS, STEPS};
use outbox_sync_server::{serve, Collections, Config, Database, Policy};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::{json, Value};

/// mimalloc rather than glibc's malloc: under the load test glibc spent a
/// fifth of the SQLite writer thread's time in `free` (docs/server.md,
/// "Build profile"). The library leaves the choice to its users.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// Records the events of a run touch (each push patches some of them).
const RECORDS: usize = 500;

/// The pushes of one row: `events` patches in pushes of `batch`, with ids
/// unique to `row`.
fn pushes(row: usize, events: usize, batch: usize) -> Vec<Value> {
    (0..events)
        .collect::<Vec<_>>()
        .chunks(batch)
        .map(|chunk| {
            let events: Vec<Value> = chunk
                .iter()
                .map(|i| {
                    json!({
                        "event_id": format!("{row:08x}-0000-4000-8000-{i:012x}"),
                        "collection": "items",
                        "record_id": format!("r{}", i % RECORDS),
                        "op": "patch",
                        "base_version": null,
                        "payload": {"n": *i as f64, "row": row as f64},
                    })
                })
                .collect();
            json!({ "events": events })
        })
        .collect()
}

/// One push over HTTP; returns how many results had `expect`.
async fn push(http: &reqwest::Client, url: &str, body: &Value, expect: &str) -> usize {
    let response = http
        .post(url)
        .bearer_auth("bench-token")
        .json(body)
        .send()
        .await
        .expect("push sent");
    assert!(
        response.status().is_success(),
        "push failed: {}",
        response.status()
    );
    let body: Value = response.json().await.unwrap();
    let results = body["results"].as_array().unwrap();
    for result in results {
        assert_eq!(result["status"], expect, "{result}");
    }
    results.len()
}

/// Sends `batches` from `clients` concurrent clients (each its share, in
/// order); returns events per second.
async fn push_concurrently(url: &str, batches: &[Value], clients: usize, expect: &str) -> f64 {
    let http = reqwest::Client::new();
    let started = Instant::now();
    let shares = (0..clients).map(|c| {
        let (http, url) = (http.clone(), url.to_owned());
        let mine: Vec<&Value> = batches.iter().skip(c).step_by(clients).collect();
        async move {
            let mut count = 0;
            for batch in mine {
                count += push(&http, &url, batch, expect).await;
            }
            count
        }
    });
    let count: usize = join_all(shares).await.into_iter().sum();
    count as f64 / started.elapsed().as_secs_f64()
}

/// Where a server row keeps its data.
#[derive(Clone, Copy, PartialEq)]
enum Backend {
    SqliteDurable,
    SqliteFast,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::SqliteDurable => "server, SQLite durable",
            Backend::SqliteFast => "server, SQLite fast-commit",
            Backend::Postgres => "server, PostgreSQL",
        }
    }
}

/// A fresh schema in the PostgreSQL database at `base`; returns its URL.
fn postgres_schema(base: &str, name: &str) -> String {
    let mut client = postgres::Client::connect(base, postgres::NoTls)
        .unwrap_or_else(|e| panic!("cannot reach {base} ({e})"));
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
        ))
        .unwrap();
    let join = if base.contains('?') { '&' } else { '?' };
    format!("{base}{join}options=-c%20search_path%3D{name}")
}

fn drop_postgres_schema(base: &str, name: &str) {
    if let Ok(mut client) = postgres::Client::connect(base, postgres::NoTls) {
        let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"));
    }
}

/// One server row: a fresh database, a warm-up push, then the timed pushes.
async fn server_row(
    backend: Backend,
    pg_base: Option<&str>,
    row: usize,
    events: usize,
    batch: usize,
    clients: usize,
) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bench.sqlite3");
    let mut config = Config::new(&data).token("bench-token", "bench");
    config.collections = Collections::any(Policy::Lww);
    let schema = format!("bench_{}_{row}", std::process::id());
    config.database = match backend {
        Backend::SqliteDurable => Database::Sqlite {
            path: data.clone(),
            durable: true,
        },
        Backend::SqliteFast => Database::Sqlite {
            path: data.clone(),
            durable: false,
        },
        Backend::Postgres => {
            let base = pg_base.expect("a PostgreSQL URL").to_owned();
            let (base, name) = (base.clone(), schema.clone());
            let url = tokio::task::spawn_blocking(move || postgres_schema(&base, &name))
                .await
                .unwrap();
            Database::Postgres {
                url,
                pool: (clients as u32).clamp(2, 16),
                ca_file: None,
            }
        }
    };
    let server = serve(config).await.expect("server starts");
    let url = format!("{}/v1/push", server.url());
    let warm = pushes(row + 1000, batch, batch);
    push_concurrently(&url, &warm, 1, "applied").await;
    let batches = pushes(row, events, batch);
    let rate = push_concurrently(&url, &batches, clients, "applied").await;
    server.stop().await;
    if backend == Backend::Postgres {
        let base = pg_base.unwrap().to_owned();
        tokio::task::spawn_blocking(move || drop_postgres_schema(&base, &schema))
            .await
            .unwrap();
    }
    rate
}

/// The floor: the server's statements straight on rusqlite (per event: look
/// up the key, load the record, upsert it, store the key, append the audit
/// row; the counters read and written once per push), one transaction per
/// push of `batch`; returns events per second.
fn floor(path: &Path, durable: bool, events: usize, batch: usize) -> f64 {
    let mut conn = Connection::open(path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", if durable { "FULL" } else { "NORMAL" })
        .unwrap();
    // The server's tables and indexes (every step it runs).
    for step in STEPS {
        conn.execute_batch(step).unwrap();
    }
    let hash = "0".repeat(64);
    let started = Instant::now();
    for (push, chunk) in (0..events).collect::<Vec<_>>().chunks(batch).enumerate() {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        let mut seq: i64 = tx
            .prepare_cached("SELECT value FROM counters WHERE name = 'seq'")
            .unwrap()
            .query_row([], |row| row.get(0))
            .unwrap();
        let mut audit: i64 = tx
            .prepare_cached("SELECT value FROM counters WHERE name = 'audit'")
            .unwrap()
            .query_row([], |row| row.get(0))
            .unwrap();
        for i in chunk {
            let key = format!("{push:08x}-0000-4000-8000-{i:012x}");
            let record = format!("r{}", i % RECORDS);
            let seen: Option<(String, String)> = tx
                .prepare_cached(
                    "SELECT request_hash, outcome FROM idempotency WHERE user_id = ?1 AND idem_key = ?2",
                )
                .unwrap()
                .query_row(params!["bench", key], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
                .unwrap();
            assert!(seen.is_none());
            let _current: Option<(i64, i64, String, String)> = tx
                .prepare_cached(
                    "SELECT version, deleted, data, field_versions FROM records
                     WHERE user_id = ?1 AND collection = ?2 AND record_id = ?3",
                )
                .unwrap()
                .query_row(params!["bench", "items", record], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })
                .optional()
                .unwrap();
            seq += 1;
            let data = format!(r#"{{"n":{i}.0,"row":0.0}}"#);
            let fields = format!(r#"{{"n":{seq},"row":{seq}}}"#);
            tx.prepare_cached(
                "INSERT INTO records
                    (user_id, collection, record_id, version, deleted, data, field_versions, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (user_id, collection, record_id) DO UPDATE SET
                    version = excluded.version, deleted = excluded.deleted, data = excluded.data,
                    field_versions = excluded.field_versions, updated_at = excluded.updated_at",
            )
            .unwrap()
            .execute(params!["bench", "items", record, seq, 0, data, fields, 1])
            .unwrap();
            let outcome = format!(
                r#"{{"status":"applied","version":{seq},"record":{{"collection":"items","record_id":"{record}","version":{seq},"deleted":false,"data":{data}}}}}"#
            );
            // The audit row the server appends for every event (its
            // statement, store/sqlite/audit.rs; ids from the counter),
            // named by the key.
            audit += 1;
            tx.prepare_cached(
                "INSERT INTO idempotency (user_id, idem_key, request_hash, outcome, created_at, audit_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .unwrap()
            .execute(params!["bench", key, hash, outcome, 1, audit])
            .unwrap();
            tx.prepare_cached(
                "INSERT INTO audit (id, user_id, event_id, collection, record_id, version, op, outcome, at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .unwrap()
            .execute(params![audit, "bench", key, "items", record, seq, "patch", "applied", 1])
            .unwrap();
        }
        let mut update = tx
            .prepare_cached("UPDATE counters SET value = ?2 WHERE name = ?1")
            .unwrap();
        update.execute(params!["seq", seq]).unwrap();
        update.execute(params!["audit", audit]).unwrap();
        drop(update);
        tx.commit().unwrap();
    }
    events as f64 / started.elapsed().as_secs_f64()
}

/// The PostgreSQL floor's write: a push's records, keys and audit rows in
/// one statement, the shape the server sends (its own text here, so the
/// floor does not depend on the server's code).
const PG_FLOOR_WRITE: &str = "WITH written AS (
        INSERT INTO records
            (user_id, collection, record_id, version, deleted, data, field_versions, updated_at)
        SELECT $1, x.collection, x.record_id, x.version, 0, x.data, x.field_versions, 1
        FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[])
            AS x(collection, record_id, version, data, field_versions)
        ON CONFLICT (user_id, collection, record_id) DO UPDATE SET
            version = excluded.version, deleted = excluded.deleted, data = excluded.data,
            field_versions = excluded.field_versions, updated_at = excluded.updated_at
     ), counter AS (
        UPDATE counters SET value = value + cardinality($7::text[])
        WHERE name = 'audit' RETURNING value
     ), audited AS (
        INSERT INTO audit (id, user_id, event_id, collection, record_id, version, op, outcome, at_ms)
        SELECT counter.value - cardinality($7::text[]) + x.n, $1, x.key, x.collection, x.record_id,
               x.version, 'patch', 'applied', 1
        FROM counter, unnest($7::text[], $2::text[], $3::text[], $4::bigint[]) WITH ORDINALITY
            AS x(key, collection, record_id, version, n)
        RETURNING id, event_id
     )
     INSERT INTO idempotency (user_id, idem_key, request_hash, outcome, created_at, audit_id)
     SELECT $1, x.key, x.hash, x.outcome, 1, audited.id
     FROM unnest($7::text[], $8::text[], $9::text[]) AS x(key, hash, outcome)
     LEFT JOIN audited ON audited.event_id = x.key";

/// The PostgreSQL floor: what the server does per push on a plain
/// `postgres` client, without HTTP, JSON or deciding: one transaction per
/// push that begins and locks `seq` in one round trip, reads the push's
/// keys and records in one statement, writes records, keys and audit rows
/// in one statement, moves `seq` and commits in one round trip (4 round
/// trips; the server makes a fifth, its lock-free replay check). Durable as the cluster is. Returns
/// events per second. `BENCH_PG_TRACE=1` prints where the time went.
fn postgres_floor(base: &str, schema: &str, events: usize, batch: usize) -> f64 {
    let url = postgres_schema(base, schema);
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    for step in POSTGRES_STEPS {
        client.batch_execute(step).unwrap();
    }
    // As the server's sessions do (store/postgres/connect.rs): with the
    // default, a generic plan cached while the table is nearly empty makes
    // every key lookup read all of the user's keys.
    client
        .batch_execute("SET plan_cache_mode = force_custom_plan")
        .unwrap();
    // The server's statements (store/postgres/connect.rs).
    let read_batch = client.prepare(READ_BATCH).unwrap();
    let write = client.prepare(PG_FLOOR_WRITE).unwrap();
    let trace = std::env::var("BENCH_PG_TRACE").is_ok_and(|v| v == "1");
    let mut spent = [Duration::ZERO; 4];
    let hash = "0".repeat(64);
    let started = Instant::now();
    for (push, chunk) in (0..events).collect::<Vec<_>>().chunks(batch).enumerate() {
        let mut step = Instant::now();
        let mut mark = |spent: &mut [Duration; 4], index: usize| {
            spent[index] += step.elapsed();
            step = Instant::now();
        };
        let keys: Vec<String> = chunk
            .iter()
            .map(|i| format!("{push:08x}-0000-4000-8000-{i:012x}"))
            .collect();
        let collections: Vec<&str> = chunk.iter().map(|_| "items").collect();
        let records: Vec<String> = chunk.iter().map(|i| format!("r{}", i % RECORDS)).collect();
        let began = client.simple_query(BEGIN_LOCKED).unwrap();
        let mut seq: i64 = began
            .iter()
            .find_map(|message| match message {
                postgres::SimpleQueryMessage::Row(row) => row.get(0),
                _ => None,
            })
            .unwrap()
            .parse()
            .unwrap();
        mark(&mut spent, 0);
        let seen = client
            .query(&read_batch, &[&"bench", &keys, &collections, &records])
            .unwrap();
        assert!(seen.iter().all(|row| row.get::<_, i32>(0) == 1));
        mark(&mut spent, 1);
        let (mut versions, mut data, mut fields, mut outcomes) = (vec![], vec![], vec![], vec![]);
        for (i, record) in chunk.iter().zip(&records) {
            seq += 1;
            let value = format!(r#"{{"n":{i}.0,"row":0.0}}"#);
            fields.push(format!(r#"{{"n":{seq},"row":{seq}}}"#));
            outcomes.push(format!(
                r#"{{"status":"applied","version":{seq},"record":{{"collection":"items","record_id":"{record}","version":{seq},"deleted":false,"data":{value}}}}}"#
            ));
            versions.push(seq);
            data.push(value);
        }
        let hashes: Vec<&str> = chunk.iter().map(|_| hash.as_str()).collect();
        client
            .execute(
                &write,
                &[
                    &"bench",
                    &collections,
                    &records,
                    &versions,
                    &data,
                    &fields,
                    &keys,
                    &hashes,
                    &outcomes,
                ],
            )
            .unwrap();
        mark(&mut spent, 2);
        client
            .batch_execute(&format!(
                "UPDATE counters SET value = {seq} WHERE name = 'seq'; COMMIT"
            ))
            .unwrap();
        mark(&mut spent, 3);
    }
    let rate = events as f64 / started.elapsed().as_secs_f64();
    if trace {
        let pushes = events.div_ceil(batch) as f64;
        let names = ["begin + lock", "keys + records", "write", "seq + commit"];
        let steps: Vec<String> = names
            .iter()
            .zip(spent)
            .map(|(name, d)| format!("{name} {:.2} ms", d.as_secs_f64() * 1e3 / pushes))
            .collect();
        eprintln!("PostgreSQL floor, per push: {}", steps.join(", "));
    }
    drop(client);
    drop_postgres_schema(base, schema);
    rate
}

async fn run_floor(durable: bool, events: usize, batch: usize) -> f64 {
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        floor(&dir.path().join("floor.sqlite3"), durable, events, batch)
    })
    .await
    .unwrap()
}

async fn throughput() {
    let events = env("BENCH_EVENTS", 20_000);
    let batch = env("BENCH_BATCH", 100).max(1);
    let clients: Vec<usize> = std::env::var("BENCH_CLIENTS")
        .unwrap_or_else(|_| "1,4,16".to_owned())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .filter(|c| *c > 0)
        .collect();
    let pg_base = std::env::var("BENCH_DATABASE_URL")
        .or_else(|_| std::env::var("OUTBOX_SYNC_TEST_DATABASE_URL"))
        .ok()
        .filter(|url| !url.trim().is_empty());
    println!(
        "Part 1, throughput: {events} new events per row in pushes of {batch} (patches of {RECORDS} records), \
         over HTTP on loopback, client and server in one process; release build: {}",
        !cfg!(debug_assertions)
    );
    println!();
    println!("| row | clients | events/s | µs/event | vs floor |");
    println!("|---|---|---|---|---|");
    let durable_floor = run_floor(true, events, batch).await;
    let fast_floor = run_floor(false, events, batch).await;
    let line = |name: &str, clients: &str, rate: f64, floor: Option<f64>| {
        let ratio = floor.map_or("—".to_owned(), |f| format!("{:.2}x", rate / f));
        println!(
            "| {name} | {clients} | {rate:.0} | {:.1} | {ratio} |",
            1e6 / rate
        );
    };
    line("floor: raw rusqlite, durable", "—", durable_floor, None);
    line("floor: raw rusqlite, fast-commit", "—", fast_floor, None);
    let mut row = 0;
    // BENCH_BACKENDS=postgres (or sqlite) runs only those server rows.
    let only = std::env::var("BENCH_BACKENDS").unwrap_or_default();
    let wanted = |name: &str| only.is_empty() || only.split(',').any(|b| b.trim() == name);
    let mut backends = vec![];
    if wanted("sqlite") {
        backends.push((Backend::SqliteDurable, Some(durable_floor)));
        backends.push((Backend::SqliteFast, Some(fast_floor)));
    }
    let pg_floor = match &pg_base {
        Some(base) => {
            let base = base.clone();
            let schema = format!("bench_{}_floor", std::process::id());
            let rate =
                tokio::task::spawn_blocking(move || postgres_floor(&base, &schema, events, batch))
                    .await
                    .unwrap();
            line("floor: raw postgres, durable", "—", rate, None);
            Some(rate)
        }
        None => None,
    };
    if pg_base.is_some() && wanted("postgres") {
        backends.push((Backend::Postgres, pg_floor));
    }
    for (backend, floor) in backends {
        for &n in &clients {
            row += 1;
            let rate = server_row(backend, pg_base.as_deref(), row, events, batch, n).await;
            line(backend.name(), &n.to_string(), rate, floor);
        }
    }
    // The floor again at the end: how much the machine's speed moved
    // during the run.
    let again = run_floor(true, events, batch).await;
    line(
        "floor again at the end, durable",
        "—",
        again,
        Some(durable_floor),
    );
    if pg_base.is_none() {
        println!();
        println!("(no PostgreSQL rows: set BENCH_DATABASE_URL, or run under scripts/postgres.sh)");
    }
    println!();
}

/// Inserts synthetic keys for user `bench` until the table holds `target`.
fn seed(path: &Path, target: usize) -> usize {
    let mut conn = Connection::open(path).expect("open the database");
    conn.busy_timeout(Duration::from_secs(30)).unwrap();
    let have: i64 = conn
        .query_row("SELECT COUNT(*) FROM idempotency", [], |row| row.get(0))
        .unwrap();
    let have = have as usize;
    if have >= target {
        return have;
    }
    let tx = conn.transaction().unwrap();
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO idempotency (user_id, idem_key, request_hash, outcome, created_at)
                 VALUES ('bench', ?1, ?2, ?3, ?4)",
            )
            .unwrap();
        let outcome = r#"{"status":"applied","version":1,"record":{"collection":"items","record_id":"seed","version":1,"deleted":false,"data":{"n":1.0}}}"#;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        for i in have..target {
            let key = format!("seed-{i:012}");
            insert
                .execute(params![key, format!("{:064x}", i), outcome, now])
                .unwrap();
        }
    }
    tx.commit().unwrap();
    target
}

async fn key_growth() {
    let max_keys = env("BENCH_MAX_KEYS", 100_000);
    if max_keys == 0 {
        return;
    }
    let per_size = env("BENCH_KEY_EVENTS", 2000);
    let batch = env("BENCH_BATCH", 100).max(1);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bench.sqlite3");
    let mut config = Config::new(&data).token("bench-token", "bench");
    config.collections = Collections::any(Policy::Lww);
    let server = serve(config).await.expect("server starts");
    let url = format!("{}/v1/push", server.url());

    let mut sizes = vec![];
    let mut size = 1_000;
    while size <= max_keys {
        sizes.push(size);
        size *= 10;
    }
    if sizes.last() != Some(&max_keys) && max_keys > 1_000 {
        sizes.push(max_keys);
    }
    if sizes.is_empty() {
        sizes.push(max_keys.max(1));
    }
    println!(
        "Part 2, key growth: {per_size} new events per size in pushes of {batch} from one client, \
         then the same pushes replayed; durable commits"
    );
    println!();
    println!("| keys stored | new ev/s | µs/new | dup ev/s | µs/dup | vs baseline | db MiB |");
    println!("|---|---|---|---|---|---|---|");
    let mut baseline: Option<f64> = None;
    for (step, target) in sizes.iter().enumerate() {
        let seeded = tokio::task::spawn_blocking({
            let data = data.clone();
            let target = *target;
            move || seed(&data, target)
        })
        .await
        .unwrap();
        let batches = pushes(0x100 + step, per_size, batch);
        let fresh = push_concurrently(&url, &batches, 1, "applied").await;
        let dup = push_concurrently(&url, &batches, 1, "duplicate").await;
        let ratio = match baseline {
            None => {
                baseline = Some(fresh);
                "1.00x".to_owned()
            }
            Some(base) => format!("{:.2}x", base / fresh),
        };
        let size_mib = std::fs::metadata(&data).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0;
        println!(
            "| {seeded} | {fresh:.0} | {:.1} | {dup:.0} | {:.1} | {ratio} | {size_mib:.1} |",
            1e6 / fresh,
            1e6 / dup,
        );
    }
    println!();
    println!(
        "'vs baseline' is the cost per new event relative to the first row (lower is better)."
    );
    server.stop().await;
}

#[tokio::main]
async fn main() {
    throughput().await;
    key_growth().await;
}

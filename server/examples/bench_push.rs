//! Push throughput as the stored idempotency keys grow.
//!
//! Starts the real server on a free loopback port with a temporary database,
//! seeds idempotency keys straight into SQLite up to each size (1k, 10k,
//! 100k, 1M), then times pushing new events and replaying them (duplicates)
//! over HTTP. The first size is the baseline the others are compared with.
//!
//! ```text
//! cargo run --release -p outbox-sync-server --example bench_push
//! BENCH_MAX_KEYS=10000 BENCH_EVENTS=500 cargo run --release -p outbox-sync-server --example bench_push
//! ```
//!
//! Environment: `BENCH_MAX_KEYS` (default 1000000), `BENCH_EVENTS` per size
//! (default 2000), `BENCH_BATCH` events per push (default 100),
//! `BENCH_DURABLE=1` to fsync every commit (the server's default; off here
//! so the table shows the server's own cost rather than the disk's).

use std::time::{Duration, Instant};

use outbox_sync_server::{serve, Collections, Config, Database, Policy};
use rusqlite::{params, Connection};
use serde_json::{json, Value};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// Inserts synthetic keys for user `bench` until the table holds `target`.
fn seed(path: &std::path::Path, target: usize) -> usize {
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

struct Timing {
    events_per_s: f64,
    us_per_event: f64,
}

async fn push_all(http: &reqwest::Client, url: &str, batches: &[Value], expect: &str) -> Timing {
    let started = Instant::now();
    let mut count = 0usize;
    for batch in batches {
        let response = http
            .post(url)
            .bearer_auth("bench-token")
            .json(batch)
            .send()
            .await
            .expect("push sent");
        assert!(
            response.status().is_success(),
            "push failed: {}",
            response.status()
        );
        let body: Value = response.json().await.unwrap();
        for result in body["results"].as_array().unwrap() {
            assert_eq!(result["status"], expect, "{result}");
            count += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    Timing {
        events_per_s: count as f64 / elapsed,
        us_per_event: elapsed * 1e6 / count as f64,
    }
}

#[tokio::main]
async fn main() {
    let max_keys = env("BENCH_MAX_KEYS", 1_000_000);
    let per_size = env("BENCH_EVENTS", 2000);
    let batch = env("BENCH_BATCH", 100).max(1);
    let durable = std::env::var("BENCH_DURABLE").is_ok_and(|v| v == "1");

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bench.sqlite3");
    let mut config = Config::new(&data).token("bench-token", "bench");
    config.database = Database::Sqlite {
        path: data.clone(),
        durable,
    };
    config.collections = Collections::any(Policy::Lww);
    let server = serve(config).await.expect("server starts");
    let url = format!("{}/v1/push", server.url());
    let http = reqwest::Client::new();

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
        "push benchmark: {per_size} new events per size in pushes of {batch}, then the same pushes replayed; \
         commits {}; release build: {}",
        if durable { "fsynced (durable)" } else { "not fsynced" },
        !cfg!(debug_assertions)
    );
    println!(
        "{:>12} | {:>10} | {:>9} | {:>10} | {:>9} | {:>11} | {:>8}",
        "keys stored", "new ev/s", "µs/new", "dup ev/s", "µs/dup", "vs baseline", "db MiB"
    );
    println!("{}", "-".repeat(88));
    let mut baseline: Option<f64> = None;
    for (step, target) in sizes.iter().enumerate() {
        let seeded = tokio::task::spawn_blocking({
            let data = data.clone();
            let target = *target;
            move || seed(&data, target)
        })
        .await
        .unwrap();
        let batches: Vec<Value> = (0..per_size)
            .collect::<Vec<_>>()
            .chunks(batch)
            .map(|chunk| {
                let events: Vec<Value> = chunk
                    .iter()
                    .map(|i| {
                        json!({
                            "event_id": format!("{step:08x}-0000-4000-8000-{i:012x}"),
                            "collection": "items",
                            "record_id": format!("r{}", i % 500),
                            "op": "patch",
                            "base_version": null,
                            "payload": {"n": *i as f64, "step": step as f64},
                        })
                    })
                    .collect();
                json!({ "events": events })
            })
            .collect();
        let fresh = push_all(&http, &url, &batches, "applied").await;
        let dup = push_all(&http, &url, &batches, "duplicate").await;
        let ratio = match baseline {
            None => {
                baseline = Some(fresh.us_per_event);
                "1.00x".to_owned()
            }
            Some(base) => format!("{:.2}x", fresh.us_per_event / base),
        };
        let size_mib = std::fs::metadata(&data).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0;
        println!(
            "{:>12} | {:>10.0} | {:>9.1} | {:>10.0} | {:>9.1} | {:>11} | {:>8.1}",
            seeded,
            fresh.events_per_s,
            fresh.us_per_event,
            dup.events_per_s,
            dup.us_per_event,
            ratio,
            size_mib
        );
    }
    println!(
        "'vs baseline' is the cost per new event relative to the first row (lower is better)."
    );
    server.stop().await;
}

//! A load test on loopback, bounded in time and count: many clients of two
//! users push batches (re-sending some, as after a lost response) and pull
//! at once. It reports throughput, latency percentiles and errors, and
//! checks that no event was lost or applied twice: from the answers, from
//! the versions (exactly 1..=max, each once) and from the audit trail.
//!
//! The test suite runs it for 3 seconds; `npm run bench` runs it for a
//! minute on a release build (`LOAD_SECONDS`, `LOAD_CLIENTS`, and
//! `LOAD_REPORT` for a Markdown file to write).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use outbox_sync_server::Database;

use crate::common::*;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What every client saw, merged.
#[derive(Default)]
struct Tally {
    push_ms: Vec<f64>,
    pull_ms: Vec<f64>,
    errors: Vec<String>,
    /// Per user: event id → the (version, record id, data) it was applied as.
    applied: HashMap<&'static str, HashMap<String, (u64, String, Value)>>,
    /// Per user: every event id sent.
    sent: HashMap<&'static str, HashSet<String>>,
    duplicates: u64,
    pulled_changes: u64,
}

async fn client(
    server: Arc<TestServer>,
    token: &'static str,
    number: u64,
    until: Instant,
    max_requests: u64,
    tally: Arc<Mutex<Tally>>,
) {
    let mut since: Option<String> = None;
    let mut previous: Vec<Value> = Vec::new();
    let mut mine = Tally::default();
    for round in 0..max_requests {
        if Instant::now() >= until {
            break;
        }
        // Every fifth push re-sends the previous batch: its response was "lost".
        let events = if round % 5 == 4 && !previous.is_empty() {
            previous.clone()
        } else {
            (0..10)
                .map(|i| {
                    // Records shared by all clients of a user, so writes contend.
                    let record = format!("r{}", (number * 7 + round * 3 + i) % 40);
                    event(
                        &id(),
                        "items",
                        &record,
                        "put",
                        None,
                        json!({"client": number as f64, "round": round as f64, "i": i as f64, "text": "x".repeat(200)}),
                    )
                })
                .collect()
        };
        let started = Instant::now();
        let (status, body) = server.push(token, events.clone()).await;
        mine.push_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        if status != StatusCode::OK {
            mine.errors.push(format!("push {status}: {body}"));
            continue;
        }
        let user = if token == ALICE { "alice" } else { "bob" };
        for (event, result) in events.iter().zip(body["results"].as_array().unwrap()) {
            let event_id = event["event_id"].as_str().unwrap().to_owned();
            mine.sent.entry(user).or_default().insert(event_id.clone());
            match result["status"].as_str() {
                Some("applied") => {
                    let record_id = event["record_id"].as_str().unwrap().to_owned();
                    let version = result["version"].as_u64().unwrap();
                    let entry = (version, record_id, event["payload"].clone());
                    if let Some(before) = mine
                        .applied
                        .entry(user)
                        .or_default()
                        .insert(event_id, entry)
                    {
                        mine.errors
                            .push(format!("applied twice: first as version {}", before.0));
                    }
                }
                Some("duplicate") => mine.duplicates += 1,
                _ => mine.errors.push(format!("unexpected result {result}")),
            }
        }
        previous = events;

        let started = Instant::now();
        let (status, page) = server.pull(token, since.as_deref(), 500).await;
        mine.pull_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        if status == StatusCode::OK {
            mine.pulled_changes += page["changes"].as_array().map_or(0, Vec::len) as u64;
            since = page["next_token"].as_str().map(str::to_owned);
        } else {
            mine.errors.push(format!("pull {status}: {page}"));
        }
    }
    let mut tally = tally.lock().unwrap();
    tally.push_ms.append(&mut mine.push_ms);
    tally.pull_ms.append(&mut mine.pull_ms);
    tally.errors.append(&mut mine.errors);
    tally.duplicates += mine.duplicates;
    tally.pulled_changes += mine.pulled_changes;
    for (user, sent) in mine.sent {
        tally.sent.entry(user).or_default().extend(sent);
    }
    let Tally {
        applied: all_applied,
        errors,
        ..
    } = &mut *tally;
    for (user, applied) in mine.applied {
        let all = all_applied.entry(user).or_default();
        for (event_id, entry) in applied {
            if all.insert(event_id.clone(), entry).is_some() {
                errors.push(format!("{event_id} applied by two requests"));
            }
        }
    }
}

/// The `p`th percentile (0..=100) of sorted `values`.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank]
}

fn latency_row(name: &str, mut values: Vec<f64>) -> String {
    values.sort_by(f64::total_cmp);
    format!(
        "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
        values.len(),
        percentile(&values, 50.0),
        percentile(&values, 95.0),
        percentile(&values, 99.0),
        values.last().copied().unwrap_or(0.0)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_pushing_and_pulling_lose_and_double_nothing() {
    let seconds = env_or("LOAD_SECONDS", 3);
    let clients = env_or("LOAD_CLIENTS", 16);
    let max_requests = env_or("LOAD_MAX_ROUNDS", 100_000);
    // Durable commits, as the server runs by default (the other tests
    // use fast commits).
    let server = Arc::new(
        TestServer::start_with(|mut config| {
            if let Database::Sqlite { durable, .. } = &mut config.database {
                *durable = true;
            }
            config
        })
        .await,
    );
    let backend = match postgres_url() {
        Some(_) => "PostgreSQL",
        None => "SQLite, durable commits",
    };
    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|n| {
            let token = if n % 2 == 0 { ALICE } else { BOB };
            tokio::spawn(client(
                server.clone(),
                token,
                n,
                until,
                max_requests,
                tally.clone(),
            ))
        })
        .collect();
    for task in tasks {
        task.await.expect("a client panicked");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let tally = Arc::try_unwrap(tally).ok().unwrap().into_inner().unwrap();

    // Nothing lost, nothing doubled: every event sent was applied exactly
    // once, each with its own version, and each record ends as its last write.
    let mut problems = tally.errors.clone();
    for (user, token) in [("alice", ALICE), ("bob", BOB)] {
        let sent = tally.sent.get(user).cloned().unwrap_or_default();
        let applied = tally.applied.get(user).cloned().unwrap_or_default();
        let lost = sent.iter().filter(|id| !applied.contains_key(*id)).count();
        if lost > 0 {
            problems.push(format!("{user}: {lost} events sent but never applied"));
        }
        let versions: HashSet<u64> = applied.values().map(|(v, _, _)| *v).collect();
        if versions.len() != applied.len() {
            problems.push(format!("{user}: two events share a version"));
        }
        let mut last: BTreeMap<&str, (u64, &Value)> = BTreeMap::new();
        for (version, record, data) in applied.values() {
            let slot = last.entry(record.as_str()).or_insert((*version, data));
            if *version >= slot.0 {
                *slot = (*version, data);
            }
        }
        let records = server.pull_all(token).await;
        if records.len() != last.len() {
            problems.push(format!(
                "{user}: {} records on the server, {} written",
                records.len(),
                last.len()
            ));
        }
        for record in &records {
            let id = record["record_id"].as_str().unwrap();
            match last.get(id) {
                Some((version, data))
                    if record["version"].as_u64() == Some(*version) && &record["data"] == *data => {
                }
                other => problems.push(format!(
                    "{user}: {id} is {record}, its last write was {other:?}"
                )),
            }
        }
    }

    // Versions come from one counter over both users and every applied
    // event takes the next one: the applied versions are exactly
    // 1..=max, each once. A second application of any event would take a
    // version no answer reported (a gap); two answers naming one version,
    // a repeat.
    let mut versions: Vec<u64> = tally
        .applied
        .values()
        .flat_map(|applied| applied.values().map(|(v, _, _)| *v))
        .collect();
    versions.sort_unstable();
    let expected: Vec<u64> = (1..=versions.len() as u64).collect();
    if versions != expected {
        let gaps = expected
            .iter()
            .filter(|v| versions.binary_search(v).is_err())
            .count();
        let repeats = versions.windows(2).filter(|w| w[0] == w[1]).count();
        problems.push(format!(
            "applied versions are not 1..={}: {gaps} missing, {repeats} repeated, highest {:?}",
            versions.len(),
            versions.last()
        ));
    }
    // The server's own audit trail agrees: each event sent is there exactly
    // once, applied, at the version its answer reported.
    for (user, token) in [("alice", ALICE), ("bob", BOB)] {
        let applied = tally.applied.get(user).cloned().unwrap_or_default();
        let records: HashSet<&str> = applied.values().map(|(_, r, _)| r.as_str()).collect();
        let mut audited: HashMap<String, Vec<Option<u64>>> = HashMap::new();
        for record in records {
            for entry in server.history(token, "items", record).await {
                let event_id = entry["event_id"].as_str().unwrap_or("-").to_owned();
                assert_eq!(entry["outcome"], "applied", "{entry}");
                audited
                    .entry(event_id)
                    .or_default()
                    .push(entry["version"].as_u64());
            }
        }
        for (event_id, (version, _, _)) in &applied {
            match audited.get(event_id).map(Vec::as_slice) {
                Some([Some(v)]) if v == version => {}
                other => problems.push(format!(
                    "{user}: {event_id} answered as version {version}, audited as {other:?}"
                )),
            }
        }
        if audited.len() != applied.len() {
            problems.push(format!(
                "{user}: {} events audited, {} applied",
                audited.len(),
                applied.len()
            ));
        }
    }

    let events: usize = tally.sent.values().map(HashSet::len).sum();
    let requests = tally.push_ms.len() + tally.pull_ms.len();
    let report = format!(
        "# Server load test\n\n\
         {clients} clients of 2 users for {elapsed:.1} s on loopback ({backend}; clients and \
         server in one process on {} cores): each pushes 10 events \
         (every fifth push a re-send of the previous batch, as after a lost response) \
         and pulls after every push.{}\n\n\
         - {events} distinct events applied ({:.0} events/s), {} duplicates answered as such\n\
         - {requests} requests ({:.0}/s), {} changes pulled\n\
         - errors: {}; lost or doubled events: {}\n\n\
         | request | count | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|---|\n{}\n{}\n",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        std::env::var("LOAD_NOTE")
            .map(|note| format!("\n\n{note}"))
            .unwrap_or_default(),
        events as f64 / elapsed,
        tally.duplicates,
        requests as f64 / elapsed,
        tally.pulled_changes,
        tally.errors.len(),
        problems.len() - tally.errors.len(),
        latency_row("push (10 events)", tally.push_ms.clone()),
        latency_row("pull (≤ 500 changes)", tally.pull_ms.clone()),
    );
    println!("{report}");
    if let Ok(path) = std::env::var("LOAD_REPORT") {
        std::fs::write(&path, &report).expect("the report is written");
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(
        events > 0 && tally.duplicates > 0,
        "the load reached too little"
    );
}

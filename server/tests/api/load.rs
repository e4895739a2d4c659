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

use axum::body::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::StatusCode;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{json, Value};

use outbox_sync_server::store::sqlite::writer_checkpoints;
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

/// The part of a push answer a client checks (the records it carries are
/// skipped, not built: the clients share the server's 2 cores).
#[derive(Deserialize)]
struct PushAnswer {
    results: Vec<PushResultRow>,
}

#[derive(Deserialize)]
struct PushResultRow {
    status: String,
    #[serde(default)]
    version: Option<u64>,
}

/// The part of a page of changes a client keeps.
#[derive(Deserialize)]
struct PullPage {
    changes: Vec<IgnoredAny>,
    next_token: Option<String>,
}

/// Where a client sends its requests, and as whom.
struct Endpoint {
    http: reqwest::Client,
    push_url: String,
    changes_url: String,
    authorization: String,
}

impl Endpoint {
    /// Sends a push body serialized once (a re-send reuses it); the
    /// parsed answer, or the status and text of an error.
    async fn push(&self, body: Bytes) -> Result<PushAnswer, String> {
        let response = self
            .http
            .post(&self.push_url)
            .header(AUTHORIZATION, &self.authorization)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("push not sent: {e}"))?;
        read_answer(response, "push", "push answer").await
    }

    /// One page of at most 500 changes after `since`.
    async fn pull(&self, since: Option<&str>) -> Result<PullPage, String> {
        let url = match since {
            Some(since) => format!("{}&since={since}", self.changes_url),
            None => self.changes_url.clone(),
        };
        let response = self
            .http
            .get(url)
            .header(AUTHORIZATION, &self.authorization)
            .send()
            .await
            .map_err(|e| format!("pull not sent: {e}"))?;
        read_answer(response, "pull", "page").await
    }
}

/// The JSON of a 200 answer to `request`; any other status, or a body that
/// is not `what` as expected, is an error that says so.
async fn read_answer<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
    request: &str,
    what: &str,
) -> Result<T, String> {
    let status = response.status();
    let text = response.bytes().await.map_err(|e| e.to_string())?;
    if status != StatusCode::OK {
        return Err(format!(
            "{request} {status}: {}",
            String::from_utf8_lossy(&text)
        ));
    }
    serde_json::from_slice(&text).map_err(|e| format!("{what} unreadable: {e}"))
}

async fn client(
    endpoint: Arc<Endpoint>,
    token: &'static str,
    number: u64,
    until: Instant,
    max_requests: u64,
    tally: Arc<Mutex<Tally>>,
) {
    let mut since: Option<String> = None;
    let mut previous: (Vec<Value>, Bytes) = (Vec::new(), Bytes::new());
    let mut mine = Tally::default();
    for round in 0..max_requests {
        // At least one re-send each (round 4), however slow the machine: a
        // busy debug run of the whole suite once ended before any client
        // reached it.
        if round >= 5 && Instant::now() >= until {
            break;
        }
        // Every fifth push re-sends the previous batch: its response was "lost".
        let (events, body) = if round % 5 == 4 && !previous.0.is_empty() {
            previous.clone()
        } else {
            let events: Vec<Value> = (0..10)
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
                .collect();
            let body = serde_json::to_vec(&json!({ "events": &events })).unwrap();
            (events, Bytes::from(body))
        };
        let started = Instant::now();
        let answer = endpoint.push(body.clone()).await;
        mine.push_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        let answer = match answer {
            Ok(answer) => answer,
            Err(error) => {
                mine.errors.push(error);
                continue;
            }
        };
        let user = if token == ALICE { "alice" } else { "bob" };
        if answer.results.len() != events.len() {
            mine.errors.push(format!(
                "{} results for {} events",
                answer.results.len(),
                events.len()
            ));
        }
        for (event, result) in events.iter().zip(&answer.results) {
            let event_id = event["event_id"].as_str().unwrap().to_owned();
            mine.sent.entry(user).or_default().insert(event_id.clone());
            match result.status.as_str() {
                "applied" => {
                    let record_id = event["record_id"].as_str().unwrap().to_owned();
                    let Some(version) = result.version else {
                        mine.errors
                            .push(format!("{event_id} applied without a version"));
                        continue;
                    };
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
                "duplicate" => mine.duplicates += 1,
                other => mine
                    .errors
                    .push(format!("unexpected result {other} for {event_id}")),
            }
        }
        previous = (events, body);

        let started = Instant::now();
        let page = endpoint.pull(since.as_deref()).await;
        mine.pull_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        match page {
            Ok(page) => {
                mine.pulled_changes += page.changes.len() as u64;
                since = page.next_token;
            }
            Err(error) => mine.errors.push(error),
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
    // The server on a runtime of its own (2 workers, as the binary has on
    // this machine; its blocking pool too), the clients on the test's: the
    // clients' work no longer waits in the server's task queues, and the
    // CPU time each side used can be told apart (by thread name).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(SERVER_THREADS)
        .enable_all()
        .build()
        .unwrap();
    // Durable commits, as the server runs by default (the other tests
    // use fast commits).
    let server = runtime
        .spawn(TestServer::start_with(|mut config| {
            if let Database::Sqlite { durable, .. } = &mut config.database {
                *durable = true;
            }
            config
        }))
        .await
        .unwrap();
    let server = Arc::new(server);
    let endpoint = Arc::new(Endpoint {
        http: reqwest::Client::new(),
        push_url: server.url("/v1/push"),
        changes_url: server.url("/v1/changes?limit=500"),
        authorization: String::new(),
    });
    let endpoints = [ALICE, BOB].map(|token| {
        Arc::new(Endpoint {
            authorization: format!("Bearer {token}"),
            http: endpoint.http.clone(),
            push_url: endpoint.push_url.clone(),
            changes_url: endpoint.changes_url.clone(),
        })
    });
    let backend = match postgres_url() {
        Some(_) => "PostgreSQL",
        None => "SQLite, durable commits",
    };
    let tally = Arc::new(Mutex::new(Tally::default()));
    let cpu_before = cpu_seconds();
    let fallbacks_before = writer_checkpoints();
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|n| {
            let token = if n % 2 == 0 { ALICE } else { BOB };
            tokio::spawn(client(
                endpoints[(n % 2) as usize].clone(),
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
    let cpu_after = cpu_seconds();
    let fallbacks = writer_checkpoints() - fallbacks_before;
    let server_cpu = cpu_after.server - cpu_before.server;
    let clients_cpu = (cpu_after.process - cpu_before.process) - server_cpu;
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

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let events: usize = tally.sent.values().map(HashSet::len).sum();
    let requests = tally.push_ms.len() + tally.pull_ms.len();
    let report = format!(
        "# Server load test\n\n\
         {clients} clients of 2 users for {elapsed:.1} s on loopback ({backend}; clients and \
         server in one process on {cores} cores, each on threads of its own): each pushes 10 events \
         (every fifth push a re-send of the previous batch, as after a lost response) \
         and pulls after every push; a client waits for each answer before its next request.{}\n\n\
         - CPU used: server {server_cpu:.1} s ({:.0}% of the {cores} cores), clients {clients_cpu:.1} s \
         ({:.0}%){}\n\
         - {events} distinct events applied ({:.0} events/s), {} duplicates answered as such\n\
         - {requests} requests ({:.0}/s), {} changes pulled\n\
         - errors: {}; lost or doubled events: {}{}\n\n\
         | request | count | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|---|\n{}\n{}\n",
        std::env::var("LOAD_NOTE")
            .map(|note| format!("\n\n{note}"))
            .unwrap_or_default(),
        100.0 * server_cpu / (elapsed * cores as f64),
        100.0 * clients_cpu / (elapsed * cores as f64),
        if backend == "PostgreSQL" {
            "; PostgreSQL's own processes are not counted"
        } else {
            ""
        },
        events as f64 / elapsed,
        tally.duplicates,
        requests as f64 / elapsed,
        tally.pulled_changes,
        tally.errors.len(),
        problems.len() - tally.errors.len(),
        if backend == "PostgreSQL" {
            String::new()
        } else {
            format!("\n- commits that checkpointed the log themselves (the checkpoint thread behind): {fallbacks}")
        },
        latency_row("push (10 events)", tally.push_ms.clone()),
        latency_row("pull (≤ 500 changes)", tally.pull_ms.clone()),
    );
    println!("{report}");
    if let Ok(path) = std::env::var("LOAD_REPORT") {
        std::fs::write(&path, &report).expect("the report is written");
    }
    drop(server);
    runtime.shutdown_background();
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(
        events > 0 && tally.duplicates > 0,
        "the load reached too little"
    );
}

/// The name of the server's threads in this test.
const SERVER_THREADS: &str = "load-server";

/// CPU time this process used so far, and the part the server's threads
/// used (its runtime's and the SQLite writer's), in seconds.
struct CpuSeconds {
    process: f64,
    server: f64,
}

/// Reads `/proc` (Linux; zeros elsewhere). Threads that ended are counted
/// in the process's total only, so the server's share is a lower bound.
fn cpu_seconds() -> CpuSeconds {
    // utime and stime, in clock ticks (USER_HZ, 100 on Linux), after the
    // parenthesised command name.
    fn ticks(stat: &str) -> Option<(String, f64)> {
        let (head, rest) = stat.rsplit_once(')')?;
        let name = head.split_once('(')?.1.to_owned();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        Some((name, (utime + stime) / 100.0))
    }
    let process = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| ticks(&stat))
        .map_or(0.0, |(_, seconds)| seconds);
    let mut server = 0.0;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
                continue;
            };
            if let Some((name, seconds)) = ticks(&stat) {
                if name.starts_with(SERVER_THREADS) || name == "sqlite-writer" {
                    server += seconds;
                }
            }
        }
    }
    CpuSeconds { process, server }
}

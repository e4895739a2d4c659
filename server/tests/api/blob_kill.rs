//! A blob upload survives a hard kill of the server (`SIGKILL`) between
//! chunks and in the middle of one: after a restart on the same data the
//! server reports the last confirmed offset, the torn chunk counts for
//! nothing, and the log shows every chunk taken exactly once.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::blob_store::{bytes, sha};
use crate::common::postgres_url;
use crate::common::Schema;

/// The server binary, started as an operator would, with its output kept.
struct Binary {
    child: Child,
    url: String,
    log: Arc<Mutex<String>>,
}

impl Binary {
    fn start(database: &[String]) -> Binary {
        let mut child = Command::new(env!("CARGO_BIN_EXE_outbox-sync-server"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--token",
                "t=alice",
                "--any-collection",
            ])
            .args(database)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the server binary starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let log = Arc::new(Mutex::new(String::new()));
        let url = loop {
            let mut line = String::new();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "the server stopped: {}",
                log.lock().unwrap()
            );
            log.lock().unwrap().push_str(&line);
            if let Some(url) = line.trim().strip_prefix("outbox-sync-server listening on ") {
                break url.to_owned();
            }
        };
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        Binary { child, url, log }
    }

    /// `SIGKILL`: no shutdown, no flush beyond what was already made.
    fn kill(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let log = self.log.lock().unwrap().clone();
        log
    }

    /// The offsets of the chunks the log says were taken.
    fn taken(log: &str) -> Vec<u64> {
        log.lines()
            .filter(|line| {
                line.contains("blob chunk ")
                    && !line.contains("refused")
                    && !line.contains("skipped")
            })
            .map(|line| {
                let at = line.find(" offset=").expect("chunk lines carry the offset") + 8;
                let digits: String = line[at..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                assert!(line.contains(" length="), "{line}");
                digits.parse().unwrap()
            })
            .collect()
    }
}

async fn put(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    size: usize,
    offset: usize,
    chunk: &[u8],
) -> serde_json::Value {
    let response = http
        .put(format!(
            "{base}/v1/blobs/{id}/upload?offset={offset}&size={size}"
        ))
        .bearer_auth("t")
        .body(chunk.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn an_upload_survives_a_hard_kill_between_and_within_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let schema = match postgres_url() {
        Some(base) => Some(Schema::create(&base).await),
        None => None,
    };
    let database: Vec<String> = match &schema {
        Some(schema) => vec!["--database-url".into(), schema.url()],
        None => vec![
            "--data".into(),
            dir.path().join("db.sqlite3").display().to_string(),
        ],
    };
    let data = bytes(600_000, 21);
    let id = sha(&data);
    let size = data.len();
    let http = reqwest::Client::new();

    let first = Binary::start(&database);
    for offset in (0..300_000).step_by(100_000) {
        put(
            &http,
            &first.url,
            &id,
            size,
            offset,
            &data[offset..offset + 100_000],
        )
        .await;
    }
    // The fourth chunk is cut off half way, then the server is killed.
    let address = first.url.trim_start_matches("http://").to_owned();
    let mut socket = TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "PUT /v1/blobs/{id}/upload?offset=300000&size={size} HTTP/1.1\r\nHost: {address}\r\n\
         Authorization: Bearer t\r\nContent-Length: 100000\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&data[300_000..350_000]).await.unwrap();
    socket.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let first_log = first.kill();
    drop(socket);

    let second = Binary::start(&database);
    let held: serde_json::Value = http
        .get(format!("{}/v1/blobs/{id}/upload", second.url))
        .bearer_auth("t")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(held["offset"], 300_000, "{held}");
    assert_eq!(held["complete"], false);
    for offset in (300_000..size).step_by(100_000) {
        put(
            &http,
            &second.url,
            &id,
            size,
            offset,
            &data[offset..offset + 100_000],
        )
        .await;
    }
    let body = http
        .get(format!("{}/v1/blobs/{id}", second.url))
        .bearer_auth("t")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(sha(&body), id, "intact after the kill");
    let second_log = second.kill();
    let mut taken = Binary::taken(&first_log);
    assert_eq!(taken, [0, 100_000, 200_000], "{first_log}");
    taken.extend(Binary::taken(&second_log));
    assert_eq!(
        taken,
        (0..6).map(|i| i * 100_000).collect::<Vec<u64>>(),
        "no chunk taken twice"
    );
    drop(schema);
}

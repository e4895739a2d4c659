//! The server as seen from outside by a careless or hostile client: odd
//! static paths, stalled connections, unread bodies, and how static files
//! are compressed and cached; plus what the binary writes to its logs.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

/// The release binary of this package, started as an operator would.
struct Binary {
    child: Child,
    url: String,
    output: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl Binary {
    /// Starts the binary with a `www` holding `index.html`, `app.js` and a
    /// content-hashed `chunk.0a1b2c3d.js`, and reads its address.
    fn start(extra: &[&str]) -> Binary {
        let dir = tempfile::tempdir().unwrap();
        let www = dir.path().join("www");
        std::fs::create_dir_all(&www).unwrap();
        std::fs::write(www.join("index.html"), "<!doctype html><title>t</title>").unwrap();
        let js = "export function hello() { return 'hello, world'; }\n".repeat(200);
        std::fs::write(www.join("app.js"), &js).unwrap();
        std::fs::write(www.join("chunk.0a1b2c3d.js"), &js).unwrap();
        let data = dir.path().join("db.sqlite3");
        let mut child = Command::new(env!("CARGO_BIN_EXE_outbox-sync-server"))
            .args(["--listen", "127.0.0.1:0", "--token", "t=alice"])
            .args(["--collection", "items=lww", "--fast-commits"])
            .arg("--data")
            .arg(&data)
            .arg("--www")
            .arg(&www)
            .arg("--pkg")
            .arg(dir.path().join("pkg"))
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server binary starts");
        let output = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            let mut stderr = stderr;
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                text.push_str(&String::from_utf8_lossy(&buf[..n]));
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let url = loop {
            let mut line = String::new();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "the server stopped before listening: {}",
                output.lock().unwrap()
            );
            output.lock().unwrap().push_str(&line);
            if let Some(url) = line.trim().strip_prefix("outbox-sync-server listening on ") {
                break url.to_owned();
            }
        };
        let sink = output.clone();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        Binary {
            child,
            url,
            output,
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        self.output.lock().unwrap().clone()
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn odd_static_paths_are_404_without_error_logs_or_colour() {
    let server = Binary::start(&[]);
    let http = reqwest::Client::new();
    let long = format!("/{}", "a".repeat(256));
    let long_in_pkg = format!("/pkg/{}", "b".repeat(300));
    let deep = format!("/{}/x.js", "c".repeat(255));
    for (method, path) in [
        (Method::GET, long.as_str()),
        (Method::HEAD, long.as_str()),
        (Method::GET, "/%00"),
        (Method::HEAD, "/%00"),
        (Method::GET, "/a%00b.js"),
        (Method::GET, long_in_pkg.as_str()),
        (Method::GET, "/pkg/%00"),
        (Method::GET, deep.as_str()),
        (Method::GET, "/nope.js"),
    ] {
        let response = http
            .request(method.clone(), format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::NOT_FOUND,
            "{method} {}",
            &path[..path.len().min(40)]
        );
    }
    let ok = http.get(format!("{}/", server.url)).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = server.log();
    assert!(log.contains("listening"), "{log}");
    assert!(!log.contains("ERROR"), "no error lines: {log}");
    assert!(
        !log.contains('\u{1b}'),
        "no colour codes when not a terminal: {log:?}"
    );
}

#[tokio::test]
async fn static_files_are_compressed_and_cached_by_name() {
    let server = Binary::start(&[]);
    let http = reqwest::Client::new();
    let get = |path: &str, encoding: Option<&str>| {
        let mut request = http.get(format!("{}{path}", server.url));
        if let Some(encoding) = encoding {
            request = request.header("accept-encoding", encoding);
        }
        request.send()
    };
    let plain = get("/app.js", None).await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain_len = plain.bytes().await.unwrap().len();
    for (accepted, expected) in [("br", "br"), ("gzip", "gzip"), ("gzip, deflate, br", "br")] {
        let response = get("/app.js", Some(accepted)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        assert_eq!(headers["content-encoding"], expected, "{accepted}");
        assert!(
            headers["vary"]
                .to_str()
                .unwrap()
                .to_ascii_lowercase()
                .contains("accept-encoding"),
            "{headers:?}"
        );
        assert!(headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript"));
        let len = response.bytes().await.unwrap().len();
        assert!(
            len * 4 < plain_len,
            "{expected}: {len} of {plain_len} bytes"
        );
    }
    let hashed = get("/chunk.0a1b2c3d.js", Some("gzip")).await.unwrap();
    let cache = hashed.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cache.contains("immutable") && cache.contains("max-age="),
        "{cache}"
    );
    for path in ["/app.js", "/", "/index.html"] {
        let response = get(path, None).await.unwrap();
        assert_eq!(response.headers()["cache-control"], "no-cache", "{path}");
        let modified = response.headers()["last-modified"].clone();
        let again = http
            .get(format!("{}{path}", server.url))
            .header("if-modified-since", modified)
            .send()
            .await
            .unwrap();
        assert_eq!(
            again.status(),
            StatusCode::NOT_MODIFIED,
            "{path} revalidates"
        );
    }
}

/// Reads until the server closes the connection (or `within` passes);
/// returns what it sent and whether it closed.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return (String::from_utf8_lossy(&received).into_owned(), false),
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (String::from_utf8_lossy(&received).into_owned(), true)
            }
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
}

async fn quick_timeouts() -> TestServer {
    TestServer::start_with(|mut config| {
        config.limits.header_timeout = Duration::from_millis(400);
        config.limits.body_timeout = Duration::from_millis(400);
        config.limits.idle_timeout = Duration::from_millis(800);
        config
    })
    .await
}

#[tokio::test]
async fn stalled_connections_are_closed() {
    let server = quick_timeouts().await;
    let addr = server.server.addr();

    let mut silent = TcpStream::connect(addr).await.unwrap();
    let mut half_head = TcpStream::connect(addr).await.unwrap();
    half_head
        .write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut half_body = TcpStream::connect(addr).await.unwrap();
    half_body
        .write_all(
            format!(
                "POST /v1/push HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ALICE}\r\n\
                 Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"events\": ["
            )
            .as_bytes(),
        )
        .await
        .unwrap();

    let started = Instant::now();
    let (said, closed) = read_until_closed(&mut silent, Duration::from_secs(5)).await;
    assert!(closed, "a silent connection is closed");
    assert!(
        said.is_empty() || said.starts_with("HTTP/1.1 408"),
        "{said}"
    );
    let (said, closed) = read_until_closed(&mut half_head, Duration::from_secs(5)).await;
    assert!(closed, "a half-sent head is closed");
    assert!(
        said.is_empty() || said.starts_with("HTTP/1.1 408"),
        "{said}"
    );
    let (said, closed) = read_until_closed(&mut half_body, Duration::from_secs(5)).await;
    assert!(closed, "a half-sent body is closed");
    assert!(
        said.starts_with("HTTP/1.1 408"),
        "a half-sent body gets 408: {said}"
    );
    assert!(
        said.to_ascii_lowercase().contains("connection: close"),
        "{said}"
    );
    assert!(said.contains("request_timeout"), "{said}");
    assert!(started.elapsed() < Duration::from_secs(4));

    // Nothing of the half-sent push was applied, and the server still answers.
    assert!(server.pull_all(ALICE).await.is_empty());
}

#[tokio::test]
async fn health_answers_while_many_idle_connections_are_open() {
    let server = TestServer::start_with(|mut config| {
        config.limits.max_connections = 64;
        config
    })
    .await;
    let addr = server.server.addr();
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    let mut half = Vec::new();
    for _ in 0..50 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /v1/health HTTP/1.1\r\nHo")
            .await
            .unwrap();
        half.push(stream);
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    for _ in 0..5 {
        let response = http.get(server.url("/v1/health")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    // The API works too, beside them.
    put(
        &server,
        ALICE,
        "items",
        "still",
        None,
        serde_json::json!({}),
    )
    .await;
    // And the server kept no more than its limit open: the oldest were
    // closed to make room.
    let mut streams: Vec<TcpStream> = idle.into_iter().chain(half).collect();
    let closed = futures::future::join_all(streams.iter_mut().map(|stream| async move {
        let mut buf = [0u8; 256];
        loop {
            match tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    }))
    .await
    .into_iter()
    .filter(|closed| *closed)
    .count();
    assert!(closed >= 350 - 64, "only {closed} of 350 were closed");
}

#[tokio::test]
async fn an_error_answer_before_the_body_was_read_says_connection_close() {
    let server = TestServer::start().await;
    let mut stream = TcpStream::connect(server.server.addr()).await.unwrap();
    let body = "x".repeat(100_000);
    let head = format!(
        "POST /v1/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (said, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(said.starts_with("HTTP/1.1 401"), "{said}");
    assert!(
        said.to_ascii_lowercase().contains("connection: close"),
        "{said}"
    );
    assert!(closed);

    // A read body keeps the connection open: two requests on one connection.
    let mut stream = TcpStream::connect(server.server.addr()).await.unwrap();
    let push = r#"{"events": []}"#;
    let request = format!(
        "POST /v1/push HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ALICE}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{push}",
        push.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let (said, _) = read_until_closed(&mut stream, Duration::from_millis(700)).await;
    assert_eq!(said.matches("HTTP/1.1 200").count(), 2, "{said}");
    assert!(
        !said.to_ascii_lowercase().contains("connection: close"),
        "{said}"
    );
}

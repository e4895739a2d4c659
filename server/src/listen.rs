//! The accept loop: every connection is served by hyper's HTTP/1 connection
//! with a deadline for each request head, an idle deadline, and a limit on
//! open connections, so stalled or hostile clients cannot pile up.
//!
//! - **Head timeout**: a connection must deliver a complete request head
//!   within `header_timeout` after it opens or after its previous answer;
//!   otherwise it is closed. That covers a connection that says nothing
//!   and a half-sent head, and it ends idle keep-alive connections.
//! - **Idle timeout**: a connection on which no byte moves either way for
//!   `idle_timeout` is closed (a client that stopped reading its answer).
//! - **Body timeout**: see [`crate::bodies`].
//! - **Connection limit**: at `max_connections`, a new connection first
//!   asks the oldest open one to close (at once if it is between requests,
//!   after its answer otherwise) and takes its place, so a crowd of idle
//!   connections cannot lock out a client that wants an answer.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::config::Limits;

/// How long a new connection waits for an evicted one to make room before
/// it is dropped.
const ROOM_WAIT: Duration = Duration::from_secs(2);

/// Open connections, oldest first, each with the bell that asks it to close.
#[derive(Default)]
struct Open {
    next_id: u64,
    bells: BTreeMap<u64, Arc<Notify>>,
}

impl Open {
    fn add(&mut self) -> (u64, Arc<Notify>) {
        let id = self.next_id;
        self.next_id += 1;
        let bell = Arc::new(Notify::new());
        self.bells.insert(id, bell.clone());
        (id, bell)
    }

    /// Asks the oldest connection to close; returns whether there was one.
    fn evict_oldest(&mut self) -> bool {
        match self.bells.pop_first() {
            Some((_, bell)) => {
                bell.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets every
/// connection finish its request in flight and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &Limits,
    shutdown: impl Future<Output = ()>,
) {
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS) as u32;
    let room = Arc::new(Semaphore::new(max as usize));
    let open = Arc::new(Mutex::new(Open::default()));
    let (stop, stopped) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: back off a
                    // little rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let permit = match room.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                lock(&open).evict_oldest();
                match tokio::time::timeout(ROOM_WAIT, room.clone().acquire_owned()).await {
                    Ok(Ok(permit)) => permit,
                    _ => {
                        tracing::warn!(max, "too many open connections; dropped a new one");
                        continue;
                    }
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let (id, bell) = lock(&open).add();
        let (app, open, stopped) = (app.clone(), open.clone(), stopped.clone());
        let (header_timeout, idle_timeout) = (limits.header_timeout, limits.idle_timeout);
        tokio::spawn(async move {
            let _permit = permit;
            let io = TokioIo::new(Idle::new(stream, idle_timeout));
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(true);
            let connection = http.serve_connection(io, TowerToHyperService::new(app));
            run_connection(connection, bell, stopped).await;
            lock(&open).bells.remove(&id);
        });
    }
    let _ = stop.send(true);
    // Every connection holds a permit until it ends.
    let _ = room.acquire_many(max).await;
}

/// Drives one connection; a bell or the server's stop closes it gracefully.
async fn run_connection<C>(connection: C, bell: Arc<Notify>, mut stopped: watch::Receiver<bool>)
where
    C: Future<Output = Result<(), hyper::Error>> + GracefulShutdown,
{
    let mut connection = pin!(connection);
    let mut closing = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = bell.notified(), if !closing => {
                closing = true;
                connection.as_mut().shut_down();
            }
            _ = stopped.wait_for(|stop| *stop), if !closing => {
                closing = true;
                connection.as_mut().shut_down();
            }
        }
    }
}

/// A connection that can be asked to close after its request in flight.
trait GracefulShutdown {
    fn shut_down(self: Pin<&mut Self>);
}

impl<I, S> GracefulShutdown for hyper::server::conn::http1::Connection<I, S>
where
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S::ResBody: hyper::body::Body + 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn shut_down(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

fn lock(open: &Mutex<Open>) -> std::sync::MutexGuard<'_, Open> {
    open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A TCP stream that fails with `TimedOut` once no byte has moved either
/// way for `idle`.
struct Idle {
    stream: TcpStream,
    deadline: Pin<Box<Sleep>>,
    idle: Duration,
}

impl Idle {
    fn new(stream: TcpStream, idle: Duration) -> Self {
        Idle {
            stream,
            deadline: Box::pin(tokio::time::sleep(idle)),
            idle,
        }
    }
}

/// What an I/O call on an [`Idle`] stream comes to: progress moves the
/// deadline, waiting past it is an error.
fn watch_idle<T>(
    deadline: Pin<&mut Sleep>,
    idle: Duration,
    cx: &mut Context<'_>,
    polled: Poll<io::Result<T>>,
    moved: impl FnOnce(&T) -> bool,
) -> Poll<io::Result<T>> {
    match polled {
        Poll::Ready(Ok(value)) => {
            if moved(&value) {
                deadline.reset(Instant::now() + idle);
            }
            Poll::Ready(Ok(value))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => match deadline.poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the connection was idle too long",
            ))),
            Poll::Pending => Poll::Pending,
        },
    }
}

impl AsyncRead for Idle {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        let after = buf.filled().len();
        watch_idle(this.deadline.as_mut(), this.idle, cx, polled, |()| {
            after > before
        })
    }
}

impl AsyncWrite for Idle {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write(cx, buf);
        watch_idle(this.deadline.as_mut(), this.idle, cx, polled, |n| *n > 0)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        watch_idle(this.deadline.as_mut(), this.idle, cx, polled, |n| *n > 0)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

//! The accept side of every listener: the next connection (accept errors
//! back off, shed the longest-idle connection when descriptors ran out, and
//! are logged at most once per `WARN_EVERY`), its admission under the
//! connection limit, and the drain at shutdown.

use super::limit::{Connections, Slot};
use super::{Limits, Stop};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The pause after a failed accept.
const BACKOFF: Duration = Duration::from_millis(50);
/// The longest wait for a shed connection to close before the next accept
/// (it closes on its next poll; this keeps the descriptors in use at most
/// one over the limit).
const SHED_WAIT: Duration = Duration::from_millis(100);
/// The accept queue of every listener (std and tokio use 128: a burst of
/// new connections would see SYNs dropped, and a second's retransmit).
const BACKLOG: u32 = 1024;

/// Binds a listener on `addr` with a deeper accept queue than the default.
///
/// # Errors
/// The address cannot be bound.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}
/// At most one "accept failed" line per listener this often; the others
/// are counted (`crest_accept_errors_total`).
const WARN_EVERY: Duration = Duration::from_secs(10);

/// One listener's accept loop and its open connections.
pub(super) struct Acceptor {
    listener: TcpListener,
    kind: &'static str,
    connections: Arc<Connections>,
    shutdown: CancellationToken,
    warnings: LogLimit,
    open: watch::Sender<usize>,
    force: CancellationToken,
}

/// At most one line per `WARN_EVERY`.
#[derive(Debug, Default)]
struct LogLimit {
    last: Option<Instant>,
    unlogged: u64,
}

impl LogLimit {
    /// Some(lines not logged since the last one) if a line may be logged at `now`.
    fn allow(&mut self, now: Instant) -> Option<u64> {
        if self.last.is_some_and(|t| now.duration_since(t) < WARN_EVERY) {
            self.unlogged += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

/// A connection task of a listener (counted until it ends).
pub(super) struct Task(watch::Sender<usize>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

impl Acceptor {
    pub(super) fn new(
        listener: TcpListener,
        kind: &'static str,
        connections: Arc<Connections>,
        shutdown: CancellationToken,
    ) -> Self {
        let (open, _) = watch::channel(0);
        Self {
            listener,
            kind,
            connections,
            shutdown,
            warnings: LogLimit::default(),
            open,
            force: CancellationToken::new(),
        }
    }

    /// What a connection task needs to stop.
    pub(super) fn stop(&self) -> Stop {
        Stop { shutdown: self.shutdown.clone(), force: self.force.clone(), metrics: self.connections.metrics().clone() }
    }

    /// The next connection admitted under the limit, with its slot and
    /// task; None once shutdown began. A connection refused at the limit
    /// (every other one busy) is closed at once.
    pub(super) async fn next(&mut self) -> Option<(TcpStream, SocketAddr, Slot, Task)> {
        loop {
            let (tcp, peer) = self.accept().await?;
            let Some((slot, shed)) = self.connections.admit() else {
                tracing::debug!(%peer, listener = self.kind, "refused a connection: at the connection limit, none idle");
                continue;
            };
            if let Some(shed) = shed {
                let _ = tokio::time::timeout(SHED_WAIT, shed.closed()).await;
            }
            self.open.send_modify(|n| *n += 1);
            return Some((tcp, peer, slot, Task(self.open.clone())));
        }
    }

    async fn accept(&mut self) -> Option<(TcpStream, SocketAddr)> {
        loop {
            let e = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => return Some(a),
                    Err(e) => e,
                },
                () = self.shutdown.cancelled() => return None,
            };
            self.connections.metrics().accept_failed();
            let errno = rustix::io::Errno::from_io_error(&e);
            let out_of_fds = matches!(errno, Some(rustix::io::Errno::MFILE | rustix::io::Errno::NFILE));
            let shed = if out_of_fds { self.connections.shed_idle("accept_error") } else { None };
            if let Some(unlogged) = self.warnings.allow(Instant::now()) {
                tracing::warn!(error = %e, listener = self.kind, shed_an_idle_connection = shed.is_some(),
                    unlogged_since_last = unlogged, "accept failed; more within 10s are only counted");
            }
            tokio::select! {
                () = tokio::time::sleep(BACKOFF) => {}
                () = self.shutdown.cancelled() => return None,
            }
        }
    }

    /// Closes the listener, then lets open connections finish for at most
    /// the shutdown timeout, and ends the rest.
    pub(super) async fn drain(self, limits: Limits) {
        let Self { listener, kind, open, force, .. } = self;
        drop(listener);
        let mut count = open.subscribe();
        if tokio::time::timeout(limits.shutdown_timeout, count.wait_for(|n| *n == 0)).await.is_err() {
            tracing::warn!(timeout = %humantime::format_duration(limits.shutdown_timeout), listener = kind,
                "in-flight requests did not finish in time; closing");
            force.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(1), count.wait_for(|n| *n == 0)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_failures_are_logged_once_per_period_and_counted() {
        let (mut limit, start) = (LogLimit::default(), Instant::now());
        assert_eq!(limit.allow(start), Some(0));
        let fast: Vec<_> = (1..200u64).map(|ms| limit.allow(start + Duration::from_millis(ms * 50))).collect();
        assert!(fast.iter().all(Option::is_none), "20 a second for 10 s: none logged");
        assert_eq!(limit.allow(start + WARN_EVERY), Some(199));
        assert_eq!(limit.allow(start + WARN_EVERY * 3), Some(0));
    }
}

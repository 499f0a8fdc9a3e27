//! The connection limit, one for every listener (API, HTTPS, redirect,
//! metrics): a table of the open connections with, for each, how many
//! requests are in flight and since when it has been idle. At the limit a
//! newcomer takes the slot of the longest-idle connection (one that never
//! sent a request first), which is told to close; when every connection has a request in flight, the newcomer is
//! closed instead. The limit in force stays below the soft `RLIMIT_NOFILE`,
//! so the process keeps descriptors for its store, logs and listeners and
//! `accept` does not fail for want of them.

use crate::metrics::Metrics;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Descriptors kept free for everything but client connections: stdio, the
/// runtime (epoll, wakers, signals), the listeners, the store's files (SQLite
/// database, WAL, lock; the file store's temporary files), certificate
/// reloads, the ACME client. The database pool is added to it (see `app`).
pub const RESERVED_FDS: u64 = 64;

/// The connection limit in force and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimit {
    /// The limit in force: `configured`, or less for want of descriptors.
    pub max: usize,
    pub configured: usize,
    /// The soft `RLIMIT_NOFILE`; None when unlimited.
    pub nofile: Option<u64>,
}

impl ConnectionLimit {
    /// `configured`, lowered so that `reserved` descriptors stay free under
    /// this process's soft `RLIMIT_NOFILE`.
    pub fn new(configured: usize, reserved: u64) -> Self {
        let nofile = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        Self::from_nofile(configured, reserved, nofile)
    }

    /// As [`ConnectionLimit::new`] with the soft limit given: keeps
    /// `reserved` free, or half of the descriptors when there are fewer
    /// than twice `reserved` (never less than one connection).
    pub fn from_nofile(configured: usize, reserved: u64, nofile: Option<u64>) -> Self {
        let max = match nofile {
            None => configured,
            Some(n) => {
                let room = if n > reserved.saturating_mul(2) { n - reserved } else { n / 2 };
                configured.min(usize::try_from(room).unwrap_or(usize::MAX))
            }
        };
        Self { max: max.max(1), configured, nofile }
    }
}

/// The open connections of every listener.
pub struct Connections {
    limit: usize,
    epoch: Instant,
    table: Mutex<Table>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections").field("limit", &self.limit).finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Table {
    next: u64,
    open: HashMap<u64, Arc<Activity>>,
}

/// One connection as its task, its requests and the table see it.
pub(super) struct Activity {
    epoch: Instant,
    /// When it last became idle (accepted, handshake done, last response
    /// finished), in ms since `epoch`; read only while nothing is in flight.
    idle_since: AtomicU64,
    in_flight: AtomicUsize,
    requests: AtomicU64,
    /// Cancelled when the connection was shed to make room.
    pub(super) shed: CancellationToken,
    /// Cancelled when its task ended (its socket is closed).
    closed: CancellationToken,
}

impl Activity {
    fn new(epoch: Instant) -> Self {
        let a = Self {
            epoch,
            idle_since: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            shed: CancellationToken::new(),
            closed: CancellationToken::new(),
        };
        a.touch();
        a
    }

    fn ms(&self, at: Instant) -> u64 {
        u64::try_from(at.duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// Idle from now on (the handshake is done: the header timer starts).
    pub(super) fn touch(&self) {
        self.idle_since.store(self.ms(Instant::now()), Ordering::Relaxed);
    }

    /// A request begins; it is in flight until the guard is dropped (with
    /// the response body, or when hyper drops the request).
    pub(super) fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.requests.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    pub(super) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    pub(super) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Returns once the connection's task has ended.
    pub(super) async fn closed(&self) {
        self.closed.cancelled().await;
    }

    /// When it became idle; None while a request is in flight.
    pub(super) fn idle_since(&self) -> Option<Instant> {
        (self.in_flight() == 0).then(|| self.epoch + Duration::from_millis(self.idle_since.load(Ordering::Relaxed)))
    }
}

/// A request in flight on a connection.
pub(super) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection's place in the table, given back when its task ends.
pub(super) struct Slot {
    connections: Arc<Connections>,
    id: u64,
    pub(super) activity: Arc<Activity>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.activity.closed.cancel();
        let mut table = self.connections.table.lock().unwrap_or_else(PoisonError::into_inner);
        if table.open.remove(&self.id).is_some() {
            self.connections.metrics.connections(table.open.len(), self.connections.limit);
        }
    }
}

impl Connections {
    pub fn new(limit: ConnectionLimit, metrics: Arc<Metrics>) -> Self {
        metrics.connections(0, limit.max);
        Self { limit: limit.max, epoch: Instant::now(), table: Mutex::default(), metrics }
    }

    pub(super) fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// A slot for a new connection: a free one, else the longest-idle
    /// connection's, which is told to close and returned (wait for it to
    /// be closed before the next accept). None when every connection has a
    /// request in flight: the newcomer is to be closed.
    pub(super) fn admit(self: &Arc<Self>) -> Option<(Slot, Option<Arc<Activity>>)> {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let mut shed = None;
        if table.open.len() >= self.limit {
            shed = Self::shed_in(&mut table);
            if shed.is_some() {
                self.metrics.connection_shed("idle");
            } else {
                self.metrics.connection_shed("limit");
                return None;
            }
        }
        let activity = Arc::new(Activity::new(self.epoch));
        table.next += 1;
        let id = table.next;
        table.open.insert(id, activity.clone());
        self.metrics.connections(table.open.len(), self.limit);
        Some((Slot { connections: self.clone(), id, activity }, shed))
    }

    /// Closes the longest-idle connection, if any (accept failed for want
    /// of descriptors), and returns it.
    pub(super) fn shed_idle(&self, reason: &'static str) -> Option<Arc<Activity>> {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let shed = Self::shed_in(&mut table);
        if shed.is_some() {
            self.metrics.connection_shed(reason);
            self.metrics.connections(table.open.len(), self.limit);
        }
        shed
    }

    /// Takes the longest-idle connection out of the table and tells it to
    /// close: one that never sent a request if there is one (a client's
    /// pooled keep-alive connection outlives a flood of silent ones).
    fn shed_in(table: &mut Table) -> Option<Arc<Activity>> {
        let idle = table.open.iter().filter_map(|(id, a)| a.idle_since().map(|t| ((a.requests() > 0, t), *id)));
        let (_, id) = idle.min()?;
        let activity = table.open.remove(&id)?;
        activity.shed.cancel();
        Some(activity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_keeps_descriptors_free() {
        let l = |configured, nofile| ConnectionLimit::from_nofile(configured, 74, nofile).max;
        assert_eq!(l(10_000, None), 10_000);
        assert_eq!(l(10_000, Some(1024)), 950);
        assert_eq!(l(100, Some(1024)), 100);
        assert_eq!(l(10_000, Some(120)), 60, "below twice the reserve: half");
        assert_eq!(l(10_000, Some(1)), 1);
    }

    #[tokio::test]
    async fn the_longest_idle_connection_is_shed_and_busy_ones_never() {
        let limit = ConnectionLimit::from_nofile(2, 0, None);
        let c = Arc::new(Connections::new(limit, Arc::new(Metrics::new(1))));
        let (first, none) = c.admit().unwrap();
        assert!(none.is_none());
        tokio::time::sleep(Duration::from_millis(5)).await;
        let (second, _) = c.admit().unwrap();
        let busy = second.activity.begin();
        let (third, shed) = c.admit().expect("the idle one makes room");
        assert!(first.activity.shed.is_cancelled() && !second.activity.shed.is_cancelled());
        let shed = shed.expect("the first was shed");
        assert!(!shed.closed.is_cancelled());
        drop(first);
        shed.closed().await;
        let also_busy = third.activity.begin();
        assert!(c.admit().is_none(), "everyone is busy: the newcomer is refused");
        drop(busy);
        tokio::time::sleep(Duration::from_millis(5)).await;
        drop(also_busy);
        let (fourth, _) = c.admit().expect("the second is idle again");
        assert!(second.activity.shed.is_cancelled() && !third.activity.shed.is_cancelled());
        let (fifth, _) = c.admit().unwrap();
        assert!(fourth.activity.shed.is_cancelled(), "a silent newer one goes before one that was served");
        let _busy_again = third.activity.begin();
        let shed = c.shed_idle("accept_error").expect("the fifth is idle");
        assert!(Arc::ptr_eq(&shed, &fifth.activity));
        assert!(c.shed_idle("accept_error").is_none(), "the one left (third) is busy");
    }
}

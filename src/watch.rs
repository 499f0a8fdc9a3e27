//! The change feed: every stored change of a dimension is published here,
//! once per revision, for long-polls and Server-Sent Events. Changes made by
//! this process are published by the HTTP layer; with Postgres, changes
//! made by other replicas arrive by polling (see the Postgres store's `feed`).
//!
//! To publish each revision once and never an older one after a newer (our
//! own write coming back by the poll, or two writes' publishes overtaking each
//! other), the feed remembers the newest revision it published per id, for
//! the [`REMEMBERED`] ids published most recently: two generations of maps,
//! the older dropped whole when the younger is full (no per-id bookkeeping,
//! O(1) per publish). An id forgotten that way was not published while
//! `REMEMBERED / 2` other ids were; if a stale copy of it arrives after that
//! (a polled read-back that raced a newer local write), it is published
//! once more. Watchers already take that in their stride: a long-poll only
//! answers a revision above its `after` (and the next poll sees the newest at
//! once), and an SSE client gets the revision as the event `id:`.

use crate::domain::{Dimension, DimensionId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Changes a slow watcher may fall behind by before it is told it lagged.
const BACKLOG: usize = 4096;

/// The most dimensions the feed remembers the newest revision of (about
/// 300 bytes each for the longest ids, so at most ~1.2 MiB).
pub const REMEMBERED: usize = 4096;

/// The newest revision published per id, for the ids published most
/// recently: `young` takes every new id; when it holds `REMEMBERED / 2`,
/// it becomes `old` and the previous `old` is dropped.
#[derive(Debug, Default)]
struct Newest {
    young: HashMap<DimensionId, u64>,
    old: HashMap<DimensionId, u64>,
}

impl Newest {
    /// Records `revision` for `id`: false when one at least as new is known.
    fn advance(&mut self, id: &DimensionId, revision: u64) -> bool {
        if let Some(r) = self.young.get_mut(id) {
            if *r >= revision {
                return false;
            }
            *r = revision;
            return true;
        }
        if self.old.get(id).is_some_and(|r| *r >= revision) {
            return false;
        }
        self.old.remove(id);
        if self.young.len() >= REMEMBERED / 2 {
            // Reuses the old map's allocation for the new young one.
            std::mem::swap(&mut self.young, &mut self.old);
            self.young.clear();
        }
        self.young.insert(id.clone(), revision);
        true
    }

    fn forget(&mut self, id: &DimensionId) {
        self.young.remove(id);
        self.old.remove(id);
    }

    fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }
}

/// The feed. Cloning the `Arc` shares it.
#[derive(Debug)]
pub struct Feed {
    tx: broadcast::Sender<Arc<Dimension>>,
    /// The newest revision published per recent dimension: a change seen
    /// twice (our own write coming back by the poll) is published once.
    newest: Mutex<Newest>,
    /// Cancelled at shutdown, so open streams end.
    closed: CancellationToken,
}

impl Default for Feed {
    fn default() -> Self {
        Self { tx: broadcast::channel(BACKLOG).0, newest: Mutex::default(), closed: CancellationToken::new() }
    }
}

impl Feed {
    /// Publishes `d` unless a revision at least as new was published (and
    /// is still remembered).
    pub fn publish(&self, d: &Dimension) {
        if !self.newest.lock().unwrap_or_else(PoisonError::into_inner).advance(d.id(), d.revision) {
            return;
        }
        // No receiver is not an error: nobody is watching.
        let _ = self.tx.send(Arc::new(d.clone()));
    }

    /// Forgets a dimension (deleted: its revisions start again).
    pub fn forget(&self, id: &DimensionId) {
        self.newest.lock().unwrap_or_else(PoisonError::into_inner).forget(id);
    }

    /// How many dimensions the feed remembers a revision of (at most
    /// [`REMEMBERED`]).
    pub fn remembered(&self) -> usize {
        self.newest.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Long-polls and event streams subscribed now.
    pub fn watchers(&self) -> usize {
        self.tx.receiver_count()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Dimension>> {
        self.tx.subscribe()
    }

    /// Ends every stream (shutdown).
    pub fn close(&self) {
        self.closed.cancel();
    }

    pub fn closed(&self) -> CancellationToken {
        self.closed.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Defaults;

    #[tokio::test]
    async fn each_revision_is_published_once_in_order() {
        let feed = Feed::default();
        let mut rx = feed.subscribe();
        let mut d = Dimension::new(DimensionId::parse("a").unwrap(), &Defaults::default());
        for r in [1, 2, 2, 1, 3] {
            d.revision = r;
            feed.publish(&d);
        }
        let got: Vec<u64> = (0..3).map(|_| rx.try_recv().unwrap().revision).collect();
        assert_eq!(got, [1, 2, 3]);
        assert!(rx.try_recv().is_err());
        feed.forget(d.id());
        d.revision = 1;
        feed.publish(&d);
        assert_eq!(rx.try_recv().unwrap().revision, 1, "after forget, revisions start again");
    }

    #[test]
    fn remembers_at_most_its_cap_after_100k_ids() {
        let feed = Feed::default();
        let mut rx = feed.subscribe();
        let defaults = Defaults::default();
        for i in 0..100_000 {
            let mut d = Dimension::new(DimensionId::parse(&format!("id-{i}")).unwrap(), &defaults);
            d.revision = 1;
            feed.publish(&d);
            assert!(feed.remembered() <= REMEMBERED, "{} remembered after {} ids", feed.remembered(), i + 1);
            // Keep the channel from lagging: this test is about the map.
            while rx.try_recv().is_ok() {}
        }
        // The most recent ids are still known: their duplicates are dropped.
        for i in (100_000 - REMEMBERED / 2)..100_000 {
            let mut d = Dimension::new(DimensionId::parse(&format!("id-{i}")).unwrap(), &defaults);
            d.revision = 1;
            feed.publish(&d);
        }
        assert!(rx.try_recv().is_err(), "a recent id's revision seen again is not published again");
    }

    #[test]
    fn an_id_published_often_stays_remembered() {
        let feed = Feed::default();
        let mut rx = feed.subscribe();
        let defaults = Defaults::default();
        let mut hot = Dimension::new(DimensionId::parse("hot").unwrap(), &defaults);
        for i in 0..(REMEMBERED * 4) {
            let mut d = Dimension::new(DimensionId::parse(&format!("id-{i}")).unwrap(), &defaults);
            d.revision = 1;
            feed.publish(&d);
            if i % 100 == 0 {
                hot.revision += 1;
                feed.publish(&hot);
            }
            while rx.try_recv().is_ok() {}
        }
        let newest = hot.revision;
        hot.revision = newest - 1;
        feed.publish(&hot);
        assert!(rx.try_recv().is_err(), "an older revision of a busy id is never published after a newer one");
        hot.revision = newest + 1;
        feed.publish(&hot);
        assert_eq!(rx.try_recv().unwrap().revision, newest + 1);
    }
}

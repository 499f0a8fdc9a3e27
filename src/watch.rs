//! The change feed: every stored change of a dimension is published here,
//! once per revision, for long-polls and Server-Sent Events. Changes made by
//! this process are published by the HTTP layer; with Postgres, changes
//! made by other replicas arrive by LISTEN/NOTIFY (see the Postgres store).

use crate::domain::{Dimension, DimensionId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Changes a slow watcher may fall behind by before it is told it lagged.
const BACKLOG: usize = 4096;

/// The most dimensions the feed remembers the newest revision of.
pub const REMEMBERED: usize = 4096;

/// The feed. Cloning the `Arc` shares it.
#[derive(Debug)]
pub struct Feed {
    tx: broadcast::Sender<Arc<Dimension>>,
    /// The newest revision published per dimension: a change seen twice (our
    /// own write coming back by NOTIFY) is published once.
    newest: Mutex<HashMap<DimensionId, u64>>,
    /// Cancelled at shutdown, so open streams end.
    closed: CancellationToken,
}

impl Default for Feed {
    fn default() -> Self {
        Self { tx: broadcast::channel(BACKLOG).0, newest: Mutex::new(HashMap::new()), closed: CancellationToken::new() }
    }
}

impl Feed {
    /// Publishes `d` unless a revision at least as new was published.
    pub fn publish(&self, d: &Dimension) {
        {
            let mut newest = self.newest.lock().unwrap_or_else(PoisonError::into_inner);
            match newest.get(d.id()) {
                Some(&r) if r >= d.revision => return,
                _ => newest.insert(d.id().clone(), d.revision),
            };
        }
        // No receiver is not an error: nobody is watching.
        let _ = self.tx.send(Arc::new(d.clone()));
    }

    /// Forgets a dimension (deleted: its revisions start again).
    pub fn forget(&self, id: &DimensionId) {
        self.newest.lock().unwrap_or_else(PoisonError::into_inner).remove(id);
    }

    /// How many dimensions the feed remembers a revision of.
    pub fn remembered(&self) -> usize {
        self.newest.lock().unwrap_or_else(PoisonError::into_inner).len()
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
}

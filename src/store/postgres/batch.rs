//! Coalesced point reads: `get` queues its id, and a few batcher tasks
//! answer every read waiting with one `id IN (…)` query. The batchers
//! belong to the store: `close` stops them and waits for them.

use super::pool::Pool;
use super::sql::Sql;
use crate::domain::{Dimension, DimensionId};
use crate::store::StoreError;
use crate::store::row::{DimensionRow, select_dimension};
use sqlx::FromRow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A point read: the id and where its answer goes.
type Read = (DimensionId, oneshot::Sender<Result<Option<Dimension>, StoreError>>);

/// The queue of reads shared by the batchers (one takes from it at a time).
type Queue = Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Read>>>;

/// Batch readers running at once (each holds a pool connection while it reads).
const READ_BATCHERS: usize = 4;
/// The most ids one batch read asks for.
const MAX_READ_BATCH: usize = 128;

fn closed() -> StoreError {
    StoreError::Unavailable("postgres: the store is closed".into())
}

/// The read queue and the batcher tasks answering it.
pub(super) struct Batchers {
    reads: mpsc::UnboundedSender<Read>,
    /// Cancelled by `close`: the batchers stop taking reads.
    stop: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Batchers {
    /// Starts the batchers, reading through `pool`.
    pub(super) fn start(pool: &Arc<Pool>) -> Self {
        let (reads, queue) = mpsc::unbounded_channel();
        let queue = Arc::new(tokio::sync::Mutex::new(queue));
        let stop = CancellationToken::new();
        let tasks =
            (0..READ_BATCHERS).map(|_| tokio::spawn(read_batches(pool.clone(), queue.clone(), stop.clone()))).collect();
        Self { reads, stop, tasks: Mutex::new(tasks) }
    }

    /// Reads one dimension in the next batch.
    pub(super) async fn get(&self, id: &DimensionId) -> Result<Option<Dimension>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.reads.send((id.clone(), reply)).map_err(|_| closed())?;
        answer.await.map_err(|_| StoreError::Unavailable("postgres: the batch reader stopped".into()))?
    }

    /// Stops the batchers and waits for them: each finishes the batch it is
    /// reading (bounded by the acquire and statement timeouts); reads still
    /// queued, and every read after, are refused as the store being closed.
    pub(super) async fn close(&self) {
        self.stop.cancel();
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        for task in tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "postgres: a read batcher failed");
            }
        }
    }
}

/// Coalesces concurrent point reads: each batcher takes every read waiting
/// (up to `MAX_READ_BATCH`) and answers them with one `id IN (…)` query,
/// while the next batcher collects the reads that arrive meanwhile. A read
/// is answered by a query that starts after it was asked, so it sees every
/// change committed before it was asked, as a query of its own would. One
/// round trip for many GETs instead of one each. Ends at `stop` or when the
/// store (the sender) is dropped.
async fn read_batches(pool: Arc<Pool>, queue: Queue, stop: CancellationToken) {
    loop {
        let batch = {
            let mut queue = queue.lock().await;
            let first = tokio::select! {
                biased;
                () = stop.cancelled() => None,
                read = queue.recv() => read,
            };
            let Some(first) = first else { return refuse_queued(&mut queue).await };
            let mut batch = vec![first];
            while batch.len() < MAX_READ_BATCH {
                match queue.try_recv() {
                    Ok(read) => batch.push(read),
                    Err(_) => break,
                }
            }
            batch
        };
        let mut ids: Vec<String> = batch.iter().map(|(id, _)| id.as_str().to_owned()).collect();
        ids.sort_unstable();
        ids.dedup();
        match read(&pool, &ids).await {
            Ok(found) => {
                for (id, reply) in batch {
                    let answer = found.get(id.as_str()).map(|row| row.clone().into_dimension("postgres")).transpose();
                    let _ = reply.send(answer);
                }
            }
            Err(e) => {
                let e = match e {
                    StoreError::Unavailable(m) | StoreError::Corrupt(m) | StoreError::Open(m) => m,
                };
                for (_, reply) in batch {
                    let _ = reply.send(Err(StoreError::Unavailable(e.clone())));
                }
            }
        }
    }
}

/// The rows of `ids` (one statement), by id.
async fn read(pool: &Pool, ids: &[String]) -> Result<HashMap<String, DimensionRow>, StoreError> {
    let sql = Sql::new(select_dimension!("id IN (")).text_list(ids.iter().map(String::as_str))?.sql(")");
    let mut found = HashMap::with_capacity(ids.len());
    for r in pool.run(sql.as_str()).await? {
        let row = DimensionRow::from_row(&r).map_err(super::unavailable)?;
        found.insert(row.id().to_owned(), row);
    }
    Ok(found)
}

/// Closes the queue (a later `get` is refused at once) and refuses the
/// reads still in it: the store is closing.
async fn refuse_queued(queue: &mut mpsc::UnboundedReceiver<Read>) {
    queue.close();
    while let Some((_, reply)) = queue.recv().await {
        let _ = reply.send(Err(closed()));
    }
}

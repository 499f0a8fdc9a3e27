//! The committer's groups, seen through the store: writes that wait
//! together are made durable as one group, and a write that fails inside a
//! group fails alone while the rest of the group is durable. Real files,
//! real fsync; the committer is held (its test gate) until every write of a
//! test is in its queue, so each test knows what one group holds.

use super::*;
use crate::domain::{Capacity, Defaults, TransitionError, change};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

fn id(s: &str) -> DimensionId {
    DimensionId::parse(s).unwrap()
}

/// desired := `value`, creating the dimension first if needed.
fn set(current: Option<&Dimension>, target: &DimensionId, value: f64) -> Result<Outcome, TransitionError> {
    let old = current.cloned().unwrap_or_else(|| Dimension::new(target.clone(), &Defaults::default()));
    let mut new = old.clone();
    new.desired_capacity = Capacity::new(value).unwrap();
    new.revision = old.revision + 1;
    let changes = change::diff(&old, &new);
    Ok(Outcome { dimension: new, changes, created: current.is_none() })
}

async fn open(dir: &Path) -> Arc<FileStore> {
    Arc::new(FileStore::open(&dir.display().to_string(), Retention::default(), Clock::system()).await.unwrap())
}

async fn desired(store: &FileStore, id: &DimensionId) -> Option<f64> {
    store.get(id).await.unwrap().map(|d| d.desired_capacity.get())
}

async fn revisions(store: &FileStore, id: &DimensionId) -> Vec<u64> {
    let page = store.history(id, HistoryQuery { before: None, limit: 100 }).await.unwrap();
    page.iter().map(|e| e.revision).collect()
}

/// Starts every write (id, desired value) at once while the committer is
/// held, waits until all of them are in its queue, then lets it go. Returns
/// each write's result and how many groups the committer took for them.
async fn at_once(store: &Arc<FileStore>, writes: &[(DimensionId, f64)]) -> (Vec<Result<Outcome, UpdateError>>, u64) {
    let (groups, queued) = (store.shared.groups.load(Ordering::SeqCst), store.shared.queued.load(Ordering::SeqCst));
    let gate = store.shared.gate.lock().await;
    let tasks: Vec<_> = writes
        .iter()
        .cloned()
        .map(|(id, value)| {
            let store = store.clone();
            tokio::spawn(async move { store.update(&id, &|c| set(c, &id, value), &Source::method("PATCH")).await })
        })
        .collect();
    let all = queued + writes.len() as u64;
    for _ in 0..5000 {
        if store.shared.queued.load(Ordering::SeqCst) >= all {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(store.shared.queued.load(Ordering::SeqCst), all, "every write reached the committer's queue");
    drop(gate);
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    (results, store.shared.groups.load(Ordering::SeqCst) - groups)
}

/// 16 changes of 16 ids waiting together take one group (one journal
/// frame, one fdatasync), not 16; and every one of them is on disk: a reopened
/// store reads each value and its history entry back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_waiting_together_are_committed_as_one_group() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let writes: Vec<_> = (0..16u8).map(|i| (id(&format!("g{i}")), 10.0 + f64::from(i))).collect();
    let (results, groups) = at_once(&store, &writes).await;
    for result in &results {
        assert!(result.is_ok(), "{result:?}");
    }
    assert!(groups < writes.len() as u64, "{} concurrent writes took {groups} groups", writes.len());
    assert_eq!(groups, 1, "every write was queued before the committer took its group");

    store.close().await;
    drop(store);
    let store = open(dir.path()).await;
    for (id, value) in &writes {
        assert_eq!(desired(&store, id).await, Some(*value), "{id:?} after reopening");
        assert_eq!(revisions(&store, id).await, [1], "{id:?}'s history after reopening");
    }
    store.close().await;
}

/// In one group with 8 good writes: `stuck` cannot append its history line
/// (a directory took its history file's name) and `blocked` cannot open its
/// document (a directory stands where it goes); both fail before the
/// journal. Each fails alone, with the error naming its file; `stuck`'s old
/// document stands; the 8 others are answered and durable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_fails_inside_a_group_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let (stuck, blocked) = (id("stuck"), id("blocked"));
    store.update(&stuck, &|c| set(c, &stuck, 1.0), &Source::method("PATCH")).await.unwrap();
    let stuck_history = history::path(dir.path(), &stuck);
    let saved = stuck_history.with_extension("saved");
    fs::rename(&stuck_history, &saved).unwrap();
    fs::create_dir_all(stuck_history.join("in-the-way")).unwrap();
    let blocked_doc = dir.path().join(documents::file_name(&blocked));
    fs::create_dir_all(blocked_doc.join("in-the-way")).unwrap();

    let good: Vec<_> = (0..8u8).map(|i| (id(&format!("ok{i}")), 20.0 + f64::from(i))).collect();
    let mut writes = good.clone();
    writes.insert(3, (stuck.clone(), 2.0));
    writes.insert(7, (blocked.clone(), 3.0));
    let (results, groups) = at_once(&store, &writes).await;
    assert_eq!(groups, 1, "the failing writes shared their group with the good ones");
    for ((id, _), result) in writes.iter().zip(&results) {
        let expected_failure = if *id == stuck {
            Some(format!("cannot open {}", stuck_history.display()))
        } else if *id == blocked {
            Some(format!("cannot write {}", blocked_doc.display()))
        } else {
            None
        };
        match (expected_failure, result) {
            (None, Ok(_)) => {}
            (Some(message), Err(e)) => {
                let e = e.to_string();
                assert!(e.contains(&message), "{id:?}: {e}");
            }
            (_, result) => panic!("{id:?}: {result:?}"),
        }
    }
    assert_eq!(desired(&store, &stuck).await, Some(1.0), "stuck's old document stands");
    assert_eq!(desired(&store, &blocked).await, None);

    store.close().await;
    drop(store);
    fs::remove_dir_all(&stuck_history).unwrap();
    fs::rename(&saved, &stuck_history).unwrap();
    fs::remove_dir_all(&blocked_doc).unwrap();
    let store = open(dir.path()).await;
    for (id, value) in &good {
        assert_eq!(desired(&store, id).await, Some(*value), "{id:?} after reopening");
        assert_eq!(revisions(&store, id).await, [1], "{id:?}'s history after reopening");
    }
    assert_eq!(desired(&store, &stuck).await, Some(1.0), "stuck after reopening");
    assert_eq!(revisions(&store, &stuck).await, [1], "the failed change is no history entry");
    assert_eq!(desired(&store, &blocked).await, None, "blocked after reopening");
    store.close().await;
}

/// The journal's append or fdatasync failing fails the whole group: nobody
/// gets a 200, the old documents stand (also after reopening), and the
/// store goes on once the journal can be written again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_the_journal_cannot_be_written_nobody_gets_a_200() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let writes: Vec<_> = (0..8u8).map(|i| (id(&format!("j{i}")), 10.0 + f64::from(i))).collect();
    let (results, _) = at_once(&store, &writes).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");

    let docs: Vec<_> =
        writes.iter().map(|(id, _)| fs::read(dir.path().join(documents::file_name(id))).unwrap()).collect();
    store.shared.fail_journal.store(true, Ordering::SeqCst);
    let changed: Vec<_> = writes.iter().map(|(id, v)| (id.clone(), v + 100.0)).collect();
    let (results, groups) = at_once(&store, &changed).await;
    assert_eq!(groups, 1);
    let journal = dir.path().join(journal::JOURNAL_FILE);
    for result in &results {
        let e = result.as_ref().err().map(ToString::to_string).unwrap_or_default();
        assert!(e.contains(&format!("cannot write {}", journal.display())), "{result:?}");
    }
    for ((id, value), old) in writes.iter().zip(&docs) {
        assert_eq!(desired(&store, id).await, Some(*value), "{id:?}'s old value stands");
        assert_eq!(&fs::read(dir.path().join(documents::file_name(id))).unwrap(), old, "{id:?}'s old document stands");
    }
    store.shared.fail_journal.store(false, Ordering::SeqCst);
    let (results, _) = at_once(&store, &[(writes[0].0.clone(), 50.0)]).await;
    assert!(results.iter().all(Result::is_ok), "writes again: {results:?}");

    store.close().await;
    drop(store);
    let store = open(dir.path()).await;
    assert_eq!(desired(&store, &writes[0].0).await, Some(50.0), "written once the journal works again");
    assert_eq!(revisions(&store, &writes[0].0).await, [2, 1]);
    for (id, value) in &writes[1..] {
        assert_eq!(desired(&store, id).await, Some(*value), "{id:?} after reopening");
        assert_eq!(revisions(&store, id).await, [1], "the failed change is no history entry");
    }
    store.close().await;
}

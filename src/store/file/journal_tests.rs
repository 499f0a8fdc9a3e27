//! The journal: its frames read back, a torn tail ignored, corruption before
//! the end refused; and, through the store, recovery: what only the journal
//! holds (answered, not yet in the documents) comes back at open, exactly
//! once; a delete is not undone by a replay; a checkpoint empties the
//! journal. Real files throughout.

use super::journal::{JOURNAL_FILE, Journal, Record, decode, encode};
use super::*;
use crate::domain::{Capacity, Defaults};
use std::path::Path;
use std::time::{Duration, SystemTime};

fn id(s: &str) -> DimensionId {
    DimensionId::parse(s).unwrap()
}

/// `current` (or a new dimension `id`) with desired := `value`, one revision
/// up, and the history entry of that change.
fn change(current: Option<&Dimension>, id: &DimensionId, value: f64) -> (Dimension, HistoryEntry) {
    let old = current.cloned().unwrap_or_else(|| Dimension::new(id.clone(), &Defaults::default()));
    let mut new = old.clone();
    new.desired_capacity = Capacity::new(value).unwrap();
    new.revision = old.revision + 1;
    let changes = crate::domain::change::diff(&old, &new);
    let mut outcome = Outcome { dimension: new, changes, created: current.is_none() };
    let entry = record(&mut outcome, &Source::method("PATCH"), SystemTime::now());
    (outcome.dimension, entry)
}

async fn open(dir: &Path) -> Result<FileStore, StoreError> {
    FileStore::open(&dir.display().to_string(), Retention::default(), Clock::system()).await
}

async fn set(store: &FileStore, id: &DimensionId, value: f64) {
    let set = |c: Option<&Dimension>| {
        let (dimension, _) = change(c, id, value);
        let changes = crate::domain::change::diff(&c.cloned().unwrap_or_else(|| dimension.clone()), &dimension);
        Ok(Outcome { dimension, changes, created: c.is_none() })
    };
    store.update(id, &set, &Source::method("PATCH")).await.unwrap();
}

async fn desired(store: &FileStore, id: &DimensionId) -> Option<f64> {
    store.get(id).await.unwrap().map(|d| d.desired_capacity.get())
}

async fn revisions(store: &FileStore, id: &DimensionId) -> Vec<u64> {
    let page = store.history(id, HistoryQuery { before: None, limit: 100 }).await.unwrap();
    page.iter().map(|e| e.revision).collect()
}

/// Appends one frame per group, as the committer does.
fn journal(dir: &Path, groups: &[&[(Dimension, HistoryEntry)]]) {
    let mut journal = Journal::open(dir).unwrap();
    for group in groups {
        let records: Vec<_> = group.iter().map(|(d, e)| Record::put(d, e)).collect();
        journal.append(&records).map_err(|(e, _)| e).unwrap();
    }
}

fn as_json(records: &[Record]) -> Vec<serde_json::Value> {
    records.iter().map(|r| serde_json::to_value(r).unwrap()).collect()
}

fn two_frames() -> (Vec<Record>, Vec<Record>, Vec<u8>, usize) {
    let a: Vec<_> = (0..3).map(|i| change(None, &id(&format!("a{i}")), 2.0)).collect();
    let b = [change(None, &id("b"), 3.0)];
    let first: Vec<_> = a.iter().map(|(d, e)| Record::put(d, e)).collect();
    let second: Vec<_> = b.iter().map(|(d, e)| Record::put(d, e)).collect();
    let mut bytes = encode(&first).unwrap();
    let end_of_first = bytes.len();
    bytes.extend(encode(&second).unwrap());
    (first, second, bytes, end_of_first)
}

#[test]
fn frames_read_back_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second, ..) = two_frames();
    let mut journal = Journal::open(dir.path()).unwrap();
    journal.append(&first).map_err(|(e, _)| e).unwrap();
    journal.append(&second).map_err(|(e, _)| e).unwrap();
    let all: Vec<_> = as_json(&first).into_iter().chain(as_json(&second)).collect();
    assert_eq!(as_json(&journal.read().unwrap()), all);
    assert_eq!(as_json(&Journal::open(dir.path()).unwrap().read().unwrap()), all, "after reopening");
    assert_eq!(journal::crc32(b"123456789"), 0xCBF4_3926, "CRC-32 check value");
}

/// The last frame cut anywhere, zeros or garbage after it: the frames
/// before it stand, the torn one is ignored.
#[test]
fn a_torn_tail_is_ignored() {
    let (first, _, bytes, end_of_first) = two_frames();
    for cut in end_of_first..bytes.len() {
        assert_eq!(as_json(&decode(&bytes[..cut]).unwrap()), as_json(&first), "cut at {cut}");
    }
    for tail in [vec![0u8; 4096], b"\x10\0\0\0garbage{\n".to_vec()] {
        let mut torn = bytes[..end_of_first].to_vec();
        torn.extend(&tail);
        assert_eq!(as_json(&decode(&torn).unwrap()), as_json(&first));
    }
    // A whole last frame with one byte changed: torn too (nothing follows).
    let mut flipped = bytes.clone();
    flipped[end_of_first + 20] ^= 1;
    assert_eq!(as_json(&decode(&flipped).unwrap()), as_json(&first));
}

/// A bad frame with a valid one after it was synced before that one was
/// written: corruption, and the store refuses to open, naming the journal.
#[tokio::test]
async fn corruption_before_the_end_refuses_to_open() {
    let (_, _, mut bytes, end_of_first) = two_frames();
    bytes[end_of_first / 2] ^= 1;
    assert_eq!(decode(&bytes).err(), Some(0));
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(JOURNAL_FILE), &bytes).unwrap();
    let Err(StoreError::Open(e)) = open(dir.path()).await else { panic!("a corrupt journal opened") };
    assert!(e.contains("journal") && e.contains("corrupt at byte 0"), "{e}");
}

/// A crash after the 200, before the documents were written: only the
/// journal holds the changes. At open they come back, documents and history.
#[tokio::test]
async fn answered_changes_only_in_the_journal_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = (id("x"), id("y"));
    let x1 = change(None, &x, 5.0);
    let x2 = change(Some(&x1.0), &x, 6.0);
    let y1 = change(None, &y, 7.0);
    journal(dir.path(), &[&[x1, y1], &[x2]]);
    let store = open(dir.path()).await.unwrap();
    assert_eq!(desired(&store, &x).await, Some(6.0));
    assert_eq!(desired(&store, &y).await, Some(7.0));
    assert_eq!(revisions(&store, &x).await, [2, 1]);
    assert_eq!(revisions(&store, &y).await, [1]);
    assert_eq!(fs::metadata(dir.path().join(JOURNAL_FILE)).unwrap().len(), 0, "replayed, then truncated");
    store.close().await;
}

/// Documents missing, older, garbage or torn are rewritten from the journal, the
/// missing history entries appended once; replaying the same journal again
/// (a crash during recovery) changes nothing.
#[tokio::test]
async fn replay_repairs_documents_and_history_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let ids = [id("missing"), id("older"), id("garbage"), id("current"), id("torn")];
    let store = open(dir.path()).await.unwrap();
    for i in &ids {
        set(&store, i, 1.0).await;
    }
    let before: Vec<_> = futures_util::future::join_all(ids.iter().map(|i| store.get(i))).await;
    store.close().await;
    drop(store);
    let mut group = Vec::new();
    for (i, old) in ids.iter().zip(before) {
        group.push(change(old.unwrap().as_ref(), i, 9.0));
    }
    // "current" already has its change on disk; the others do not.
    let current = &group[3].0;
    fs::write(dir.path().join(documents::file_name(&ids[3])), documents::encode(current).unwrap()).unwrap();
    history::append(dir.path(), &ids[3], &group[3].1, None, Retention::default()).unwrap();
    fs::remove_file(dir.path().join(documents::file_name(&ids[0]))).unwrap();
    // Torn in place: the record's revision, other bytes after it.
    let mut torn = group[4].0.clone();
    torn.desired_capacity = Capacity::new(8.0).unwrap();
    fs::write(dir.path().join(documents::file_name(&ids[4])), documents::encode(&torn).unwrap()).unwrap();
    fs::write(dir.path().join(documents::file_name(&ids[2])), b"{\"revis").unwrap();
    journal(dir.path(), &[&group]);
    let journaled = fs::read(dir.path().join(JOURNAL_FILE)).unwrap();

    let mut histories = Vec::new();
    for round in 0..2 {
        if round == 1 {
            fs::write(dir.path().join(JOURNAL_FILE), &journaled).unwrap();
        }
        let store = open(dir.path()).await.unwrap();
        for i in &ids {
            assert_eq!(desired(&store, i).await, Some(9.0), "{i:?}, round {round}");
            assert_eq!(revisions(&store, i).await, [2, 1], "{i:?}, round {round}");
        }
        store.close().await;
        histories.push(ids.iter().map(|i| fs::read(history::path(dir.path(), i)).unwrap()).collect::<Vec<_>>());
    }
    assert_eq!(histories[0], histories[1], "a second replay appended nothing");
    for h in &histories[0] {
        assert_eq!(h.iter().filter(|b| **b == b'\n').count(), 2, "one line per change");
    }
}

/// A delete checkpoints first, so no record of the deleted dimension is
/// left for a replay: the journal as a crash right after the delete would
/// leave it does not bring the dimension back.
#[tokio::test]
async fn a_deleted_dimension_is_not_resurrected_by_a_replay() {
    let dir = tempfile::tempdir().unwrap();
    let (gone, kept) = (id("gone"), id("kept"));
    let store = open(dir.path()).await.unwrap();
    set(&store, &kept, 1.0).await;
    set(&store, &gone, 2.0).await;
    let path = dir.path().join(JOURNAL_FILE);
    assert!(fs::metadata(&path).unwrap().len() > 0, "the writes are journaled");
    assert!(store.delete(&gone).await.unwrap());
    let at_crash = fs::read(&path).unwrap();
    store.close().await;
    drop(store);
    fs::write(&path, &at_crash).unwrap();
    let store = open(dir.path()).await.unwrap();
    assert_eq!(desired(&store, &gone).await, None, "deleted stays deleted");
    assert_eq!(desired(&store, &kept).await, Some(1.0));
    store.close().await;
}

/// The committer checkpoints about 5 s after a write and at close; each
/// time the journal is truncated and the documents hold the changes.
#[tokio::test]
async fn a_checkpoint_empties_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(JOURNAL_FILE);
    let store = open(dir.path()).await.unwrap();
    let a = id("a");
    set(&store, &a, 3.0).await;
    assert!(fs::metadata(&path).unwrap().len() > 0, "journaled");
    let mut waited = Duration::ZERO;
    while fs::metadata(&path).unwrap().len() > 0 {
        assert!(waited < Duration::from_secs(10), "no checkpoint within {waited:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
    assert!(waited >= Duration::from_millis(500), "checkpointed after {waited:?}, not at once");
    set(&store, &a, 4.0).await;
    assert!(fs::metadata(&path).unwrap().len() > 0, "journaled");
    store.close().await;
    assert_eq!(fs::metadata(&path).unwrap().len(), 0, "truncated at close");
    let doc = fs::read(dir.path().join(documents::file_name(&a))).unwrap();
    assert_eq!(doc, documents::encode(&store.get(&a).await.unwrap().unwrap()).unwrap());
}

/// A document overwritten in place by a shorter one is padded with spaces
/// (one write, no truncation): still valid JSON, read back as the new one.
#[tokio::test]
async fn a_shorter_document_is_padded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let (mut long, _) = change(None, &id("d"), 1.0);
    long.failure_reason = Some("x".repeat(500));
    documents::prepare(dir.path(), &long).unwrap().write().unwrap();
    let (short, _) = change(Some(&long), &id("d"), 2.0);
    let mut short = short;
    short.failure_reason = None;
    documents::prepare(dir.path(), &short).unwrap().write().unwrap();
    let bytes = fs::read(dir.path().join(documents::file_name(&id("d")))).unwrap();
    assert!(bytes.len() > documents::encode(&short).unwrap().len(), "padded, not truncated");
    assert_eq!(bytes.trim_ascii_end(), documents::encode(&short).unwrap().as_slice());
    let store = open(dir.path()).await.unwrap();
    assert_eq!(desired(&store, &id("d")).await, Some(2.0));
    store.close().await;
}

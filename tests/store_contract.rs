//! The store contract, run against every store through the `Store` trait:
//! absent reads, creation, revisions, rejected transitions write nothing,
//! no lost update under concurrency, and data surviving close/reopen.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crest::domain::{
    Capacity, Defaults, Dimension, DimensionId, HistoryQuery, Outcome, Retention, ScalingStatus, Source,
    TransitionError, change,
};
use crest::store::{self, ListQuery, Store, StoreError, StoreOptions, UpdateError};
use std::sync::Arc;
use std::time::Duration;

fn src() -> Source {
    Source::method("PATCH")
}

#[path = "support/pg.rs"]
mod pg;
// The password-checking instance and the admin console serve tests/api.
#[allow(dead_code)]
#[path = "support/pgbouncer.rs"]
mod pgbouncer;
#[path = "store_contract/pooler.rs"]
mod pooler;
#[path = "support/ports.rs"]
mod ports;
#[path = "support/sqlite_damage.rs"]
mod sqlite_damage;
#[path = "support/wait.rs"]
mod wait;

fn id(s: &str) -> DimensionId {
    DimensionId::parse(s).unwrap()
}

/// desired := desired + 1 (creating the dimension at 0 first): a transition
/// whose result depends on the state it read, so a lost update shows.
fn increment(current: Option<&Dimension>, target: &DimensionId) -> Result<Outcome, TransitionError> {
    let old = current.cloned().unwrap_or_else(|| {
        let mut d = Dimension::new(target.clone(), &Defaults::default());
        d.desired_capacity = Capacity::new(0.0).unwrap();
        d
    });
    let mut new = old.clone();
    new.desired_capacity = Capacity::new(old.desired_capacity.get() + 1.0).unwrap();
    new.revision = old.revision + 1;
    let changes = change::diff(&old, &new);
    Ok(Outcome { dimension: new, changes, created: current.is_none() })
}

async fn contract(url: &str) {
    let s = store::open(url, &StoreOptions::default()).await.unwrap();
    s.ping().await.unwrap();
    let a = id("a");
    assert_eq!(s.get(&a).await.unwrap(), None);

    let o = s.update(&a, &|c| increment(c, &a), &src()).await.unwrap();
    assert!(o.created);
    assert_eq!((o.dimension.revision, o.dimension.desired_capacity.get()), (1, 1.0));
    let got = s.get(&a).await.unwrap().unwrap();
    assert_eq!(got, o.dimension, "get returns what update wrote, revision included");

    // A transition that changes nothing writes nothing.
    let same =
        s.update(&a, &|c| Ok(Outcome { dimension: c.unwrap().clone(), changes: vec![], created: false }), &src()).await;
    assert_eq!(same.unwrap().dimension.revision, 1);

    // A rejected transition leaves the stored state alone.
    let b = id("b");
    let err = s.update(&b, &|_| Err(TransitionError::NotFound(b.clone())), &src()).await;
    assert!(matches!(err, Err(UpdateError::Rejected(TransitionError::NotFound(_)))));
    assert_eq!(s.get(&b).await.unwrap(), None);

    // 64 concurrent increments: none lost.
    let hot = id("hot");
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let s: Arc<dyn Store> = s.clone();
        let hot = hot.clone();
        tasks.push(tokio::spawn(async move { s.update(&hot, &|c| increment(c, &hot), &src()).await.unwrap() }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let d = s.get(&hot).await.unwrap().unwrap();
    assert_eq!((d.desired_capacity.get(), d.revision), (64.0, 64));

    // One more change after the concurrent ones.
    let o = s.update(&hot, &|c| increment(c, &hot), &src()).await.unwrap();
    assert_eq!(o.dimension.revision, 65);

    // Strings with any characters round-trip.
    let odd = id("weird id ✓ \"quoted\" %2F");
    let o = s
        .update(
            &odd,
            &|c| {
                let mut o = increment(c, &odd)?;
                o.dimension.failure_reason = Some("line\nbreak \t tab ✓".into());
                o.dimension.scaling_status = crest::domain::ScalingStatus::Failed;
                Ok(o)
            },
            &src(),
        )
        .await
        .unwrap();
    assert_eq!(s.get(&odd).await.unwrap().unwrap(), o.dimension);

    // Secrets: absent, written, replaced.
    assert_eq!(s.get_secret("acme/x/cert").await.unwrap(), None);
    s.put_secret("acme/x/cert", b"one").await.unwrap();
    s.put_secret("acme/x/cert", b"two\0binary").await.unwrap();
    assert_eq!(s.get_secret("acme/x/cert").await.unwrap().as_deref(), Some(&b"two\0binary"[..]));
    assert!(s.try_lock("acme/x").await.unwrap().is_some());
    s.close().await;
}

/// History: one entry per stored change with who and what, newest first,
/// paged by `before`, trimmed to `keep`, hidden past `max_age`; a refused
/// change leaves none.
async fn history_contract(url: &str) {
    // The stores take their time from this clock: ages pass without sleeping.
    let start = std::time::SystemTime::now();
    let clock = crest::clock::Clock::manual(start);
    let options = |retention| StoreOptions { retention, clock: clock.clone(), ..StoreOptions::default() };
    let retention = Retention { keep: 5, max_age: Duration::from_secs(3600) };
    let s = store::open(url, &options(retention)).await.unwrap();
    let h = id("hist");
    let q = |before, limit| HistoryQuery { before, limit };
    assert!(s.history(&h, q(None, 10)).await.unwrap().is_empty());
    for i in 1..=8u64 {
        let source = Source { method: "PATCH".into(), client: Some("CN=t".into()), request_id: Some(format!("r{i}")) };
        s.update(&h, &|c| increment(c, &h), &source).await.unwrap();
    }
    let _ = s.update(&h, &|_| Err(TransitionError::NotFound(h.clone())), &src()).await.unwrap_err();
    let all = s.history(&h, q(None, 100)).await.unwrap();
    let revisions: Vec<u64> = all.iter().map(|e| e.revision).collect();
    assert_eq!(revisions, [8, 7, 6, 5, 4], "newest first, trimmed to keep = 5");
    for e in &all {
        assert_eq!(e.source.request_id.as_deref(), Some(format!("r{}", e.revision).as_str()));
        assert_eq!(e.source.client.as_deref(), Some("CN=t"));
        let change = e.changes.iter().find(|c| c.field == "desiredCapacity").unwrap();
        assert_eq!(
            (change.old.as_f64(), change.new.as_f64()),
            (Some(e.revision as f64 - 1.0), Some(e.revision as f64))
        );
        assert!(!e.created);
    }
    let page = |v: Vec<crest::domain::HistoryEntry>| v.iter().map(|e| e.revision).collect::<Vec<_>>();
    assert_eq!(page(s.history(&h, q(None, 2)).await.unwrap()), [8, 7]);
    assert_eq!(page(s.history(&h, q(Some(7), 2)).await.unwrap()), [6, 5]);
    assert_eq!(page(s.history(&h, q(Some(5), 2)).await.unwrap()), [4]);
    // The stored time is when it happened, to the millisecond, and the
    // dimension knows when its status last changed.
    let ms = crest::domain::history::to_ms(start);
    assert!(all.iter().all(|e| e.time_ms() == ms), "stamped by the store's clock, to the millisecond");
    assert!(s.get(&h).await.unwrap().unwrap().status_since.is_some());
    // Many more changes keep it bounded.
    for _ in 0..40 {
        s.update(&h, &|c| increment(c, &h), &src()).await.unwrap();
    }
    assert_eq!(page(s.history(&h, q(None, 100)).await.unwrap()), [48, 47, 46, 45, 44]);
    s.close().await;
    drop(s);

    // Age: entries older than max_age are not shown.
    let retention = Retention { keep: 5, max_age: Duration::from_millis(1500) };
    let s = store::open(url, &options(retention)).await.unwrap();
    assert_eq!(s.history(&h, q(None, 100)).await.unwrap().len(), 5, "reopened: still there");
    clock.advance(Duration::from_millis(1400));
    assert_eq!(s.history(&h, q(None, 100)).await.unwrap().len(), 5, "younger than max_age");
    clock.advance(Duration::from_millis(200));
    assert!(s.history(&h, q(None, 100)).await.unwrap().is_empty(), "older than max_age");
    s.update(&h, &|c| increment(c, &h), &src()).await.unwrap();
    assert_eq!(page(s.history(&h, q(None, 100)).await.unwrap()), [49]);
    s.close().await;
}

/// `count`: the stored dimensions, exact after creations, changes, refused
/// transitions, deletes (of present and absent ids), concurrent creations
/// and (`reopen`) a restart.
async fn count_contract(url: &str, reopen: bool) {
    let s = store::open(url, &StoreOptions::default()).await.unwrap();
    assert_eq!(s.count().await.unwrap(), 0);
    for name in ["c1", "c2", "c3"] {
        let i = id(name);
        s.update(&i, &|c| increment(c, &i), &src()).await.unwrap();
    }
    let c1 = id("c1");
    s.update(&c1, &|c| increment(c, &c1), &src()).await.unwrap();
    let refused = id("refused");
    let _ = s.update(&refused, &|_| Err(TransitionError::NotFound(refused.clone())), &src()).await.unwrap_err();
    assert_eq!(s.count().await.unwrap(), 3, "three created; a change and a refusal add none");
    assert!(s.delete(&id("c2")).await.unwrap());
    assert!(!s.delete(&id("c2")).await.unwrap());
    assert!(!s.delete(&id("never")).await.unwrap());
    assert_eq!(s.count().await.unwrap(), 2);
    let mut tasks = Vec::new();
    for n in 0..32 {
        let s: Arc<dyn Store> = s.clone();
        // 16 distinct ids, each created by two racing tasks.
        let i = id(&format!("race-{}", n % 16));
        tasks.push(tokio::spawn(async move { s.update(&i, &|c| increment(c, &i), &src()).await.unwrap() }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(s.count().await.unwrap(), 18, "16 more, each once");
    s.close().await;
    drop(s);
    if reopen {
        let s = store::open(url, &StoreOptions::default()).await.unwrap();
        assert_eq!(s.count().await.unwrap(), 18, "reopened");
        s.update(&c1, &|c| increment(c, &c1), &src()).await.unwrap();
        assert!(s.delete(&id("c3")).await.unwrap());
        assert_eq!(s.count().await.unwrap(), 17);
        s.close().await;
    }
}

async fn survives_reopen(url: &str) {
    let s = store::open(url, &StoreOptions::default()).await.unwrap();
    let a = id("persist");
    for _ in 0..3 {
        s.update(&a, &|c| increment(c, &a), &src()).await.unwrap();
    }
    s.close().await;
    drop(s);
    let s = store::open(url, &StoreOptions::default()).await.unwrap();
    let d = s.get(&a).await.unwrap().unwrap();
    assert_eq!((d.desired_capacity.get(), d.revision), (3.0, 3));
    let history = s.history(&a, HistoryQuery { before: None, limit: 10 }).await.unwrap();
    assert_eq!(history.iter().map(|e| e.revision).collect::<Vec<_>>(), [3, 2, 1]);
    assert!(history[2].created);
    s.close().await;
}

/// The dimension with `status` and `desired` (created first if absent).
fn set(
    current: Option<&Dimension>,
    target: &DimensionId,
    status: ScalingStatus,
    desired: f64,
) -> Result<Outcome, TransitionError> {
    let old = current.cloned().unwrap_or_else(|| Dimension::new(target.clone(), &Defaults::default()));
    let mut new = old.clone();
    new.scaling_status = status;
    new.desired_capacity = Capacity::new(desired).unwrap();
    new.revision = old.revision + 1;
    let changes = change::diff(&old, &new);
    Ok(Outcome { dimension: new, changes, created: current.is_none() })
}

/// Each change is what a new process reads back: one that moves the
/// status and one that keeps it (the SQLite writer then leaves the status
/// column alone) alike.
async fn statuses_survive_reopen(url: &str) {
    use ScalingStatus::{InProgress, Pending, Successful};
    let a = id("status");
    for (step, (status, desired)) in
        [(Pending, 1.0), (InProgress, 2.0), (InProgress, 3.0), (Successful, 3.0), (Successful, 4.0)]
            .into_iter()
            .enumerate()
    {
        let s = store::open(url, &StoreOptions::default()).await.unwrap();
        s.update(&a, &|c| set(c, &a, status, desired), &src()).await.unwrap();
        s.close().await;
        drop(s);
        let s = store::open(url, &StoreOptions::default()).await.unwrap();
        let d = s.get(&a).await.unwrap().unwrap();
        assert_eq!(
            (d.scaling_status, d.desired_capacity.get(), d.revision),
            (status, desired, step as u64 + 1),
            "step {step}, reopened"
        );
        s.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_contract() {
    contract("memory:").await;
    count_contract("memory:", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_history() {
    // memory: does not survive the reopen, so only the first half applies.
    let s = store::open("memory:", &StoreOptions::default()).await.unwrap();
    let h = id("m");
    for _ in 0..3 {
        s.update(&h, &|c| increment(c, &h), &src()).await.unwrap();
    }
    let all = s.history(&h, HistoryQuery { before: None, limit: 10 }).await.unwrap();
    assert_eq!(all.iter().map(|e| e.revision).collect::<Vec<_>>(), [3, 2, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_store_history() {
    let dir = tempfile::tempdir().unwrap();
    history_contract(&format!("file:{}", dir.path().display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_history() {
    let dir = tempfile::tempdir().unwrap();
    history_contract(&format!("sqlite:{}", dir.path().join("h.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    contract(&format!("file:{}", dir.path().display())).await;
    let dir = tempfile::tempdir().unwrap();
    survives_reopen(&format!("file:{}", dir.path().display())).await;
    let dir = tempfile::tempdir().unwrap();
    statuses_survive_reopen(&format!("file:{}", dir.path().display())).await;
    let dir = tempfile::tempdir().unwrap();
    count_contract(&format!("file:{}", dir.path().display()), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    contract(&format!("sqlite:{}", dir.path().join("c.db").display())).await;
    let dir = tempfile::tempdir().unwrap();
    survives_reopen(&format!("sqlite:{}", dir.path().join("c.db").display())).await;
    let dir = tempfile::tempdir().unwrap();
    statuses_survive_reopen(&format!("sqlite:{}", dir.path().join("s.db").display())).await;
    let dir = tempfile::tempdir().unwrap();
    count_contract(&format!("sqlite:{}", dir.path().join("n.db").display()), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_contract() {
    if !pg::available("postgres_store_contract").await {
        return;
    }
    postgres_contract(false).await;
}

/// The same through a transaction pooler (PgBouncer, pool_mode =
/// transaction, 2 server connections).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_contract_through_pgbouncer() {
    let test = "postgres_store_contract_through_pgbouncer";
    if !pg::available(test).await || !pgbouncer::available(test) {
        return;
    }
    postgres_contract(true).await;
}

/// The URL of a fresh database's store: direct, or through the shared PgBouncer.
async fn store_url(db: &pg::TestDb, through_pgbouncer: bool) -> String {
    if through_pgbouncer { pgbouncer::shared().await.via(&db.url) } else { db.url.clone() }
}

async fn postgres_contract(through_pgbouncer: bool) {
    let db = pg::TestDb::create().await;
    let url = store_url(&db, through_pgbouncer).await;
    contract(&url).await;
    survives_reopen(&url).await;
    statuses_survive_reopen(&url).await;
    history_contract(&url).await;
    let db = pg::TestDb::create().await;
    count_contract(&store_url(&db, through_pgbouncer).await, true).await;
}

/// Several stores (as several replicas would) on one database, each with a
/// small pool: no increment is lost across them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replicas_never_lose_an_update() {
    if !pg::available("postgres_replicas_never_lose_an_update").await {
        return;
    }
    replicas_never_lose_an_update(false).await;
}

/// The same through a transaction pooler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replicas_never_lose_an_update_through_pgbouncer() {
    let test = "postgres_replicas_never_lose_an_update_through_pgbouncer";
    if !pg::available(test).await || !pgbouncer::available(test) {
        return;
    }
    replicas_never_lose_an_update(true).await;
}

async fn replicas_never_lose_an_update(through_pgbouncer: bool) {
    let db = pg::TestDb::create().await;
    let url = store_url(&db, through_pgbouncer).await;
    let options = StoreOptions { max_connections: 3, ..StoreOptions::default() };
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(store::open(&url, &options).await.unwrap());
    }
    let hot = id("shared");
    let mut tasks = Vec::new();
    for i in 0..90 {
        let s = replicas[i % 3].clone();
        let hot = hot.clone();
        tasks.push(tokio::spawn(async move { s.update(&hot, &|c| increment(c, &hot), &src()).await.unwrap() }));
    }
    let created = futures_count(tasks).await;
    assert_eq!(created, 1, "exactly one replica created the row");
    let d = replicas[0].get(&hot).await.unwrap().unwrap();
    assert_eq!((d.desired_capacity.get(), d.revision), (90.0, 90));
    // The advisory lock is exclusive across replicas and freed on drop.
    let held = replicas[0].try_lock("acme/order").await.unwrap().expect("first holder");
    assert!(replicas[1].try_lock("acme/order").await.unwrap().is_none());
    assert!(replicas[1].try_lock("acme/other").await.unwrap().is_some());
    drop(held);
    // Dropping closes the holder's connection; the server frees the lock
    // when it sees the connection go, which takes a moment.
    wait::wait_until(Duration::from_secs(5), "the lock was not freed after its holder dropped it", async || {
        replicas[1].try_lock("acme/order").await.unwrap().ok_or("still held")
    })
    .await;
    for r in replicas {
        r.close().await;
    }
}

/// `close()` stops the store's read batchers and waits for them: reads
/// racing it are all answered, a read after it is refused at once saying
/// the store is closed, and no task of the store is left running.
/// (current_thread: the runtime's task count is exact.)
#[tokio::test]
async fn postgres_close_stops_its_tasks_and_refuses_reads() {
    if !pg::available("postgres_close_stops_its_tasks_and_refuses_reads").await {
        return;
    }
    let db = pg::TestDb::create().await;
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    let s = store::open(&db.url, &StoreOptions::default()).await.unwrap();
    let a = id("a");
    assert_eq!(s.get(&a).await.unwrap(), None);
    let racing: Vec<_> = (0..200)
        .map(|_| {
            let (s, a) = (s.clone(), a.clone());
            tokio::spawn(async move { s.get(&a).await })
        })
        .collect();
    tokio::time::timeout(Duration::from_secs(10), s.close()).await.expect("close() returns");
    for read in racing {
        let read = tokio::time::timeout(Duration::from_secs(5), read).await.expect("a read racing close() is answered");
        let read = read.unwrap();
        assert!(matches!(read, Ok(None) | Err(StoreError::Unavailable(_))), "{read:?}");
    }
    let after =
        tokio::time::timeout(Duration::from_secs(5), s.get(&a)).await.expect("a read after close() is answered");
    let err = after.expect_err("a read after close() fails");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("the store is closed"), "{err}");
    // The batchers were awaited by close(); sqlx's pool maintenance task
    // ends as soon as it runs and sees the pool closed.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while metrics.num_alive_tasks() > before {
        let left = metrics.num_alive_tasks() - before;
        assert!(std::time::Instant::now() < deadline, "{left} task(s) of the store still running after close()");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Log lines, one message each, for a test that waits for one.
struct LogLines(tokio::sync::mpsc::UnboundedSender<String>);

impl std::io::Write for LogLines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = self.0.send(String::from_utf8_lossy(buf).into_owned());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `follow` returns promptly at shutdown even while it waits for its next
/// poll: its database is dropped under it, the next poll fails and says so,
/// and once it has, the token is cancelled; it must not sit out its 3 s
/// poll interval. (current_thread: the log subscriber is this thread's,
/// and sees every task.)
#[tokio::test]
async fn postgres_follow_stops_promptly_while_waiting_to_retry() {
    use sqlx::Connection;
    if !pg::available("postgres_follow_stops_promptly_while_waiting_to_retry").await {
        return;
    }
    let (lines, mut logs) = tokio::sync::mpsc::unbounded_channel();
    let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || LogLines(lines.clone())).finish();
    let _logging = tracing::subscriber::set_default(subscriber);
    let db = pg::TestDb::create().await;
    let options = StoreOptions { poll_interval: Duration::from_secs(3), ..StoreOptions::default() };
    let s = store::open(&db.url, &options).await.unwrap();
    assert_eq!(s.get(&id("a")).await.unwrap(), None);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let following = tokio::spawn({
        let (s, shutdown) = (s.clone(), shutdown.clone());
        async move { s.follow(Arc::new(crest::watch::Feed::default()), shutdown).await }
    });
    let mut admin = sqlx::PgConnection::connect(&pg::admin_url()).await.unwrap();
    sqlx::query(&format!("DROP DATABASE {} WITH (FORCE)", db.name)).execute(&mut admin).await.unwrap();
    let _ = admin.close().await;
    let failed = async {
        while let Some(line) = logs.recv().await {
            if line.contains("cannot read the changes of other replicas") {
                return line;
            }
        }
        unreachable!("the log channel lives as long as the subscriber")
    };
    let line = tokio::time::timeout(Duration::from_secs(10), failed).await.expect("follow reports the failed poll");
    assert!(line.contains("retrying"), "{line}");
    shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_millis(500), following).await;
    stopped.expect("follow returns within 500 ms of shutdown, not after its 3 s poll interval").unwrap();
    tokio::time::timeout(Duration::from_secs(10), s.close()).await.expect("close() returns");
}

async fn futures_count(tasks: Vec<tokio::task::JoinHandle<Outcome>>) -> usize {
    let mut created = 0;
    for t in tasks {
        created += usize::from(t.await.unwrap().created);
    }
    created
}

/// The file store never names a file after an id, removes interrupted
/// writes, refuses a second opener, and refuses foreign documents.
#[tokio::test]
async fn file_store_layout_and_lock() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file:{}", dir.path().display());
    let s = store::open(&url, &StoreOptions::default()).await.unwrap();
    let evil = id("..%2F..%2Fetc%2Fpasswd");
    s.update(&evil, &|c| increment(c, &evil), &src()).await.unwrap();
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| n == ".crest.lock" || n == "history" || n == "journal" || (n.len() == 69 && n.ends_with(".json"))),
        "{names:?}"
    );
    for e in std::fs::read_dir(dir.path().join("history")).unwrap() {
        let n = e.unwrap().file_name().into_string().unwrap();
        assert!(n.len() == 70 && n.ends_with(".jsonl"), "history files are named by hash too: {n}");
    }
    s.put_secret("acme/key", b"secret").await.unwrap();
    let secrets = dir.path().join("secrets");
    for e in std::fs::read_dir(&secrets).unwrap() {
        use std::os::unix::fs::PermissionsExt;
        let mode = e.unwrap().metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "secret files are 0600");
    }
    let second = store::open(&url, &StoreOptions::default()).await.err().expect("second open must fail").to_string();
    assert!(second.contains("already used by another crest process"), "{second}");
    s.close().await;
    drop(s);

    std::fs::write(dir.path().join("x.json.tmp"), "half a wri").unwrap();
    let s = store::open(&url, &StoreOptions::default()).await.unwrap();
    assert!(!dir.path().join("x.json.tmp").exists(), "interrupted write removed at open");
    assert_eq!(s.get(&evil).await.unwrap().unwrap().desired_capacity.get(), 1.0);
    s.close().await;
    drop(s);

    std::fs::write(dir.path().join("junk.json"), "{}").unwrap();
    let err = store::open(&url, &StoreOptions::default()).await.err().expect("junk must be refused").to_string();
    assert!(err.contains("junk.json is not a crest dimension document"), "{err}");
}

/// A row that breaks an invariant (written behind crest's back, with the
/// schema's CHECK constraints switched off, while crest is stopped: it owns
/// the file while it runs) is reported as corrupt, not trusted.
#[tokio::test]
async fn sqlite_corrupt_rows_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let s = store::open(&format!("sqlite:{}", path.display()), &StoreOptions::default()).await.unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.execute(
        "INSERT INTO dimensions (id, revision, version, resource_name, dimension_name, desired_capacity, \
         actual_capacity, scaling_status, failure_reason) \
         VALUES ('ok', 1, 'v', 'r', 'd', 1.0, 1.0, 'Successful', NULL)",
        [],
    )
    .unwrap();
    assert_eq!(s.get(&id("ok")).await.unwrap().unwrap().desired_capacity.get(), 1.0);
    let url = format!("sqlite:{}", path.display());
    let second = store::open(&url, &StoreOptions::default()).await.err().expect("second open must fail").to_string();
    assert!(second.contains("already used by another crest process") && second.contains("pid"), "{second}");
    s.close().await;
    conn.execute_batch("PRAGMA ignore_check_constraints = ON").unwrap();
    conn.execute("UPDATE dimensions SET desired_capacity = -3 WHERE id = 'ok'", []).unwrap();
    drop(conn);
    let s = store::open(&format!("sqlite:{}", path.display()), &StoreOptions::default()).await.unwrap();
    let err = s.get(&id("ok")).await.expect_err("a negative capacity is refused").to_string();
    assert!(err.contains("stored data is corrupt") && err.contains("desired_capacity is -3"), "{err}");
    s.close().await;
}

/// The SQLite store's one-process lock belongs to the file, not to the name
/// it was opened by: a second opener through a symlink (to the file, or to
/// its directory) is refused as through the same name. It used to be let
/// in, and the first then served stale copies from its cache.
#[tokio::test]
async fn sqlite_second_opener_through_a_symlink_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("c.db");
    let url = |p: &std::path::Path| format!("sqlite:{}", p.display());
    let s = store::open(&url(&real), &StoreOptions::default()).await.unwrap();
    let a = id("a");
    s.update(&a, &|c| increment(c, &a), &src()).await.unwrap();
    let link = dir.path().join("link.db");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let linked_dir = dir.path().join("linked");
    std::os::unix::fs::symlink(dir.path(), &linked_dir).unwrap();
    for alias in [link.clone(), linked_dir.join("c.db"), linked_dir.join("link.db")] {
        let second = store::open(&url(&alias), &StoreOptions::default()).await.err();
        let second = second.unwrap_or_else(|| panic!("{} opened a store in use", alias.display())).to_string();
        assert!(second.contains("already used by another crest process") && second.contains("pid"), "{second}");
        assert!(second.contains(&alias.display().to_string()), "names the store as given: {second}");
    }
    s.close().await;
    drop(s);
    // Free again: through the link it is the same database.
    let s = store::open(&url(&link), &StoreOptions::default()).await.unwrap();
    assert_eq!(s.get(&a).await.unwrap().unwrap().revision, 1);
    let first = store::open(&url(&real), &StoreOptions::default()).await.err().expect("held through the link");
    assert!(first.to_string().contains("already used by another crest process"), "{first}");
    s.close().await;

    // A dangling link: the store is created at its target, and locked there.
    let fresh = dir.path().join("fresh.db");
    let dangling = dir.path().join("dangling.db");
    std::os::unix::fs::symlink(&fresh, &dangling).unwrap();
    let s = store::open(&url(&dangling), &StoreOptions::default()).await.unwrap();
    assert!(fresh.is_file(), "the link's target was created");
    let second = store::open(&url(&fresh), &StoreOptions::default()).await.err().expect("refused").to_string();
    assert!(second.contains("already used by another crest process"), "{second}");
    s.close().await;
}

/// The file store's lock lives inside its directory, so a symlink to the
/// directory reaches the same lock: refused too.
#[tokio::test]
async fn file_store_second_opener_through_a_symlink_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (real, link) = (dir.path().join("state"), dir.path().join("link"));
    let s = store::open(&format!("file:{}", real.display()), &StoreOptions::default()).await.unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let second = store::open(&format!("file:{}", link.display()), &StoreOptions::default()).await.err();
    let second = second.expect("a second opener through a symlinked directory is refused").to_string();
    assert!(second.contains("already used by another crest process"), "{second}");
    s.close().await;
}

/// A history line torn by power loss mid-append (no final `\n`) must not
/// swallow the next entry: after a restart, the next change and every
/// complete entry before it are in the history, and stay there.
#[tokio::test]
async fn file_store_history_survives_a_torn_last_line() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file:{}", dir.path().display());
    let t = id("torn");
    let revisions = async |s: &Arc<dyn Store>| {
        let page = s.history(&t, HistoryQuery { before: None, limit: 100 }).await.unwrap();
        page.iter().map(|e| e.revision).collect::<Vec<_>>()
    };
    let s = store::open(&url, &StoreOptions::default()).await.unwrap();
    for _ in 0..3 {
        s.update(&t, &|c| increment(c, &t), &src()).await.unwrap();
    }
    s.close().await;
    drop(s);
    let files: Vec<_> = std::fs::read_dir(dir.path().join("history")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let mut history = std::fs::OpenOptions::new().append(true).open(&files[0]).unwrap();
    history.write_all(br#"{"revision":4,"time":"2026-12-0"#).unwrap();
    drop(history);

    let s = store::open(&url, &StoreOptions::default()).await.unwrap();
    assert_eq!(revisions(&s).await, [3, 2, 1], "the torn line is no entry");
    let o = s.update(&t, &|c| increment(c, &t), &src()).await.unwrap();
    assert_eq!(o.dimension.revision, 4);
    assert_eq!(revisions(&s).await, [4, 3, 2, 1], "the entry after the torn line is kept");
    s.update(&t, &|c| increment(c, &t), &src()).await.unwrap();
    s.close().await;
    drop(s);
    let s = store::open(&url, &StoreOptions::default()).await.unwrap();
    assert_eq!(revisions(&s).await, [5, 4, 3, 2, 1], "and survives a restart");
    s.close().await;
}

/// SQLite finding the file damaged while the store is open is `Corrupt`
/// (a 500 "see crest's log", never a 503 "try again shortly") naming the
/// file and saying to restore it, and `ping` (`/readyz`) fails from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_damage_at_run_time_is_corrupt_and_fails_ping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    sqlite_damage::sqlite_with_rows(&path, 1000).await;
    let s = store::open(&format!("sqlite:{}", path.display()), &StoreOptions::default()).await.unwrap();
    s.ping().await.unwrap();
    assert_eq!(s.get(&id("d00000")).await.unwrap().unwrap().revision, 1);
    sqlite_damage::damage(&path);
    let all = ListQuery { after: None, limit: 10_000, status: None };
    let err = s.list(&all).await.expect_err("listing reads every row, the damaged ones too");
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()) && text.contains("restore it from a backup"), "{text}");
    // Point reads of uncached ids that reach the damage: Corrupt, never Unavailable.
    let mut corrupt = 0;
    for i in 1..1000 {
        match s.get(&id(&format!("d{i:05}"))).await {
            Ok(_) => {}
            Err(StoreError::Corrupt(_)) => corrupt += 1,
            Err(e) => panic!("d{i:05}: {e:?}"),
        }
    }
    assert!(corrupt > 0, "no point read reached the damaged pages");
    for _ in 0..2 {
        let ping = s.ping().await.expect_err("ping fails once the file was seen damaged");
        assert!(ping.to_string().contains("is damaged") && ping.to_string().contains("restore"), "{ping}");
    }
    s.close().await;
}

/// crest will not open a damaged SQLite file: the message names the file
/// and says to restore it from a backup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_damaged_file_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    sqlite_damage::sqlite_with_rows(&path, 1000).await;
    sqlite_damage::damage(&path);
    let err = store::open(&format!("sqlite:{}", path.display()), &StoreOptions::default()).await.err();
    let err = err.expect("a damaged file is refused").to_string();
    assert!(err.contains(&format!("sqlite:{} is damaged", path.display())), "{err}");
    assert!(err.contains("restore it from a backup"), "{err}");
}

/// A copy of `tests/fixtures/sqlx-migrated.db`: a file migrated and served
/// by crest when sqlx ran its SQLite migrations (commit c6a992b: `crest
/// serve --store sqlite:old.db`, one PATCH and a few GETs of `1-23456789`,
/// a GET of `fixture-b`, then SIGTERM; its WAL checkpointed into the file).
fn sqlx_migrated_copy(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("old.db");
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sqlx-migrated.db"), &path).unwrap();
    path
}

/// Every `_sqlx_migrations` row (version, description, installed_on,
/// success, checksum, execution_time), and the schema.
type Migrations = Vec<(i64, String, String, bool, Vec<u8>, i64)>;
fn migrations_and_schema(path: &std::path::Path) -> (Migrations, Vec<(String, String, Option<String>)>) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let records = conn
        .prepare("SELECT version, description, installed_on, success, checksum, execution_time FROM _sqlx_migrations ORDER BY version")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let schema = conn
        .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    (records, schema)
}

/// crest used to migrate SQLite files with sqlx; it now runs the same
/// migrations itself and keeps sqlx's records. A file sqlx migrated opens
/// without any of sqlx's migrations running again, gets only the later
/// ones, and keeps its data; a new file gets the same records (what sqlx
/// wrote, byte for byte: version, description, success, SHA-384 checksum)
/// and the same schema.
#[tokio::test]
async fn sqlite_file_migrated_by_sqlx_opens_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let old = sqlx_migrated_copy(dir.path());
    let (before, old_schema) = migrations_and_schema(&old);
    assert_eq!(
        before.iter().map(|r| r.0).collect::<Vec<_>>(),
        [20261121000001, 20261121000002, 20261122000003, 20261122000004]
    );
    // The clock at the fixture's time: its history is within retention.
    let at = std::time::UNIX_EPOCH + Duration::from_millis(1_796_540_967_000);
    let options = StoreOptions { clock: crest::clock::Clock::manual(at), ..StoreOptions::default() };
    let s = store::open(&format!("sqlite:{}", old.display()), &options).await.unwrap();
    let d = s.get(&id("1-23456789")).await.unwrap().expect("the fixture's dimension");
    assert_eq!((d.revision, d.desired_capacity.get(), d.actual_capacity.get()), (4, 2.0, 2.0));
    assert_eq!(d.scaling_status.as_str(), "Successful");
    let history = s.history(&id("1-23456789"), HistoryQuery { before: None, limit: 10 }).await.unwrap();
    let methods: Vec<_> = history.iter().map(|e| (e.revision, e.source.method.as_str())).collect();
    assert_eq!(methods, [(4, "GET"), (3, "GET"), (2, "PATCH"), (1, "GET")]);
    assert_eq!(s.get(&id("fixture-b")).await.unwrap().expect("fixture-b").revision, 1);
    // And it takes changes.
    let b = id("fixture-b");
    assert_eq!(s.update(&b, &|c| increment(c, &b), &src()).await.unwrap().dimension.revision, 2);
    s.close().await;
    drop(s);
    let (after, schema) = migrations_and_schema(&old);
    assert_eq!(after[..before.len()], before[..], "no migration ran again (installed_on and execution_time unchanged)");
    let later: Vec<i64> = after[before.len()..].iter().map(|r| r.0).collect();
    assert_eq!(
        later,
        [20261206000006, 20261206000007, 20261207000008, 20261207000009, 20261207000010, 20261207000011],
        "only the migrations newer than sqlx's ran"
    );
    let table =
        |s: &[(String, String, Option<String>)]| s.iter().find(|t| t.1 == "dimensions").unwrap().2.clone().unwrap();
    assert!(!table(&old_schema).contains("WITHOUT ROWID") && table(&schema).contains("WITHOUT ROWID"), "{schema:?}");

    let new = dir.path().join("new.db");
    let s = store::open(&format!("sqlite:{}", new.display()), &StoreOptions::default()).await.unwrap();
    s.close().await;
    drop(s);
    let (records, new_schema) = migrations_and_schema(&new);
    let essence = |m: &Migrations| m.iter().map(|r| (r.0, r.1.clone(), r.3, r.4.clone())).collect::<Vec<_>>();
    assert_eq!(essence(&records), essence(&after), "recorded as sqlx recorded them");
    assert!(records.iter().all(|r| r.5 > 0 && r.2.len() == "2026-12-06 07:09:23".len()), "{records:?}");
    assert_eq!(new_schema, schema, "the same schema, _sqlx_migrations included");
}

/// The records of a file that do not fit this crest's migrations stop it
/// with a message saying what is wrong: a changed migration (another
/// checksum), a migration from a newer crest, a failed one.
#[tokio::test]
async fn sqlite_migration_records_that_do_not_fit_are_refused() {
    let cases = [
        (
            "UPDATE _sqlx_migrations SET checksum = zeroblob(48) WHERE version = 20261122000003",
            "migration 20261122000003 (history) was applied from other SQL than this crest's migrations/sqlite/20261122000003_history.sql (its checksum in _sqlx_migrations differs)",
        ),
        (
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (20991231000001, 'later', TRUE, zeroblob(48), 1)",
            "this database was migrated by a newer crest (migration 20991231000001; this crest knows migrations up to 20261207000011)",
        ),
        (
            "UPDATE _sqlx_migrations SET success = FALSE WHERE version = 20261122000004",
            "migration 20261122000004 is recorded as failed",
        ),
    ];
    for (change, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let old = sqlx_migrated_copy(dir.path());
        rusqlite::Connection::open(&old).unwrap().execute(change, []).unwrap();
        let (before, _) = migrations_and_schema(&old);
        let url = format!("sqlite:{}", old.display());
        let err = store::open(&url, &StoreOptions::default()).await.err().expect("refused").to_string();
        assert!(err.starts_with(&format!("store: {url}: {expected}")), "{change}:\n{err}");
        assert_eq!(migrations_and_schema(&old).0, before, "{change}: nothing was changed");
    }
}

#[path = "store_contract/leases.rs"]
mod leases;
#[path = "store_contract/literals.rs"]
mod literals;

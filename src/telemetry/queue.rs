//! The queue between the threads that log and stderr: a request never
//! waits for the log. Each line goes into a bounded in-memory queue
//! ([`CAPACITY`] lines) that one dedicated thread, `crest-log`, drains to
//! stderr through [`Forgiving`], in batches. When the queue is full (the
//! sink is slower than the lines), the line is dropped and counted
//! ([`queue_full`]); a line stderr refuses is counted too
//! (`writer::write_failures`). Once a write succeeds again, the thread
//! says how many were lost, in one WARN line `N log lines dropped` (at most
//! one a second). [`flush`] waits, bounded, for the queue to empty (at
//! exit). Lines logged by the writer thread itself (that report, the access
//! log's summaries) are written directly.

use super::writer::{FAILURES, Forgiving, write_failures};
use std::cell::Cell;
use std::io::{self, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};
use tracing_subscriber::fmt::MakeWriter;

/// Lines the queue holds; one more is dropped.
pub const CAPACITY: usize = 8192;
/// The writer thread writes up to this many bytes at once.
const BATCH_BYTES: usize = 64 * 1024;
/// How often the writer thread wakes when no line comes.
const TICK: Duration = Duration::from_millis(250);
/// The "log lines dropped" line is written at most this often.
const REPORT_EVERY: Duration = Duration::from_secs(1);

static SENDER: OnceLock<SyncSender<Vec<u8>>> = OnceLock::new();
/// Lines dropped because the queue was full.
static QUEUE_FULL: AtomicU64 = AtomicU64::new(0);
/// Lines put into the queue, and lines the writer thread is done with.
static QUEUED: AtomicU64 = AtomicU64::new(0);
static DONE: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static WRITER_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Lines dropped since start because the queue was full (the sink was too
/// slow).
pub fn queue_full() -> u64 {
    QUEUE_FULL.load(Ordering::Relaxed)
}

/// Starts the writer thread; lines logged before go straight to stderr.
///
/// # Errors
/// The thread cannot be started.
pub fn start() -> io::Result<()> {
    if SENDER.get().is_some() {
        return Ok(());
    }
    let (tx, rx) = mpsc::sync_channel(CAPACITY);
    std::thread::Builder::new().name("crest-log".into()).spawn(move || drain(&rx))?;
    let _ = SENDER.set(tx);
    Ok(())
}

/// Waits until every queued line is written, for at most `timeout`.
pub fn flush(timeout: Duration) {
    super::access::summarise();
    if SENDER.get().is_none() {
        return;
    }
    let deadline = Instant::now() + timeout;
    while DONE.load(Ordering::Acquire) < QUEUED.load(Ordering::Acquire) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Makes a [`Line`] for each log line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Queued;

impl<'a> MakeWriter<'a> for Queued {
    type Writer = Line;

    fn make_writer(&'a self) -> Self::Writer {
        Line(Vec::new())
    }
}

/// One log line, collected, then queued when dropped.
#[derive(Debug)]
pub struct Line(Vec<u8>);

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let line = std::mem::take(&mut self.0);
        let Some(tx) = SENDER.get().filter(|_| !WRITER_THREAD.get()) else {
            write(&line, 1);
            return;
        };
        QUEUED.fetch_add(1, Ordering::AcqRel);
        match tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                QUEUED.fetch_sub(1, Ordering::AcqRel);
                QUEUE_FULL.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(line)) => {
                QUEUED.fetch_sub(1, Ordering::AcqRel);
                write(&line, 1);
            }
        }
    }
}

/// Writes `lines` lines to stderr now; false (and counted) if it failed.
fn write(bytes: &[u8], lines: u64) -> bool {
    let mut w = Forgiving::lines(io::stderr().lock(), &FAILURES, lines);
    let _ = w.write_all(bytes);
    let _ = w.flush();
    !w.failed()
}

/// The writer thread: drains the queue to stderr until the process ends.
fn drain(rx: &Receiver<Vec<u8>>) {
    WRITER_THREAD.set(true);
    let mut batch = Vec::with_capacity(BATCH_BYTES);
    let mut drops = Drops::default();
    let mut flowing = true;
    loop {
        match rx.recv_timeout(TICK) {
            Ok(line) => {
                batch.clear();
                batch.extend_from_slice(&line);
                let mut lines = 1;
                while batch.len() < BATCH_BYTES {
                    let Ok(line) = rx.try_recv() else { break };
                    batch.extend_from_slice(&line);
                    lines += 1;
                }
                flowing = write(&batch, lines);
                DONE.fetch_add(lines, Ordering::AcqRel);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if flowing {
            drops.report(Instant::now());
        }
        super::access::tick();
    }
}

/// What the writer thread has reported of the lines lost.
#[derive(Debug, Default)]
struct Drops {
    reported: u64,
    at: Option<Instant>,
}

impl Drops {
    /// Writes `N log lines dropped` if lines were lost since the last
    /// report and the last report is a second old.
    fn report(&mut self, now: Instant) {
        let lost = queue_full() + write_failures();
        if lost <= self.reported || self.at.is_some_and(|at| now.duration_since(at) < REPORT_EVERY) {
            return;
        }
        let dropped = lost - self.reported;
        tracing::warn!(
            dropped,
            queue_full = queue_full(),
            write_failed = write_failures(),
            "{dropped} log lines dropped"
        );
        // This line's own failure, if any, is not reported again.
        self.reported = queue_full() + write_failures();
        self.at = Some(now);
    }
}

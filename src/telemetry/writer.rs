//! Where log lines go: stderr, through a writer that never fails. A line
//! that cannot be written (the log pipe closed under `| head`, a log
//! shipper gone, a full disk) is dropped and counted, never fatal. With an
//! error, tracing-subscriber would report it with `eprintln!`, which panics
//! on the same broken stderr: in a request task (the request dies) or in the
//! signal task (SIGTERM no longer stops crest).

use std::io::{self, ErrorKind, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use tracing_subscriber::fmt::MakeWriter;

/// Lines dropped since start because stderr refused them.
pub(super) static FAILURES: AtomicU64 = AtomicU64::new(0);

/// How many log lines were dropped because they could not be written (the
/// `crest_log_write_failures` metric).
pub fn write_failures() -> u64 {
    FAILURES.load(Ordering::Relaxed)
}

/// Makes a [`Forgiving`] stderr for each log line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stderr;

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Forgiving<io::Stderr>;

    fn make_writer(&'a self) -> Self::Writer {
        Forgiving::new(io::stderr(), &FAILURES)
    }
}

/// Writes one log line to `W`; on the first error, drops the rest of the
/// line, adds one to `failures` and answers Ok.
#[derive(Debug)]
pub struct Forgiving<W> {
    inner: W,
    failures: &'static AtomicU64,
    failed: bool,
    /// The lines this writer carries (a batch of the queue's is several).
    lines: u64,
}

impl<W> Forgiving<W> {
    pub fn new(inner: W, failures: &'static AtomicU64) -> Self {
        Self::lines(inner, failures, 1)
    }

    /// For `lines` lines at once: a failure counts them all.
    pub fn lines(inner: W, failures: &'static AtomicU64, lines: u64) -> Self {
        Self { inner, failures, failed: false, lines }
    }

    fn fail(&mut self) {
        if !std::mem::replace(&mut self.failed, true) {
            self.failures.fetch_add(self.lines, Ordering::Relaxed);
        }
    }

    /// True once a write failed (the rest was dropped).
    pub fn failed(&self) -> bool {
        self.failed
    }
}

impl<W: Write> Write for Forgiving<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Ok(buf.len());
        }
        match self.inner.write(buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => Err(e),
            Ok(n) if n > 0 || buf.is_empty() => Ok(n),
            Ok(_) | Err(_) => {
                self.fail();
                Ok(buf.len())
            }
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if !self.failed && self.inner.write_all(buf).is_err() {
            self.fail();
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.failed && self.inner.flush().is_err() {
            self.fail();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pipe whose reader has gone.
    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(ErrorKind::BrokenPipe.into())
        }

        fn flush(&mut self) -> io::Result<()> {
            Err(ErrorKind::BrokenPipe.into())
        }
    }

    #[test]
    fn a_failed_line_is_dropped_and_counted_once() {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        for line in 1..=3 {
            let mut w = Forgiving::new(Closed, &COUNT);
            w.write_all(b"one line\n").unwrap();
            assert_eq!(w.write(b"more").unwrap(), 4);
            w.flush().unwrap();
            assert_eq!(COUNT.load(Ordering::Relaxed), line);
        }
    }

    #[test]
    fn a_failed_batch_counts_all_its_lines() {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let mut w = Forgiving::lines(Closed, &COUNT, 7);
        w.write_all(b"a\nb\nc\nd\ne\nf\ng\n").unwrap();
        w.flush().unwrap();
        assert!(w.failed());
        assert_eq!(COUNT.load(Ordering::Relaxed), 7);
    }

    #[test]
    fn a_good_line_passes_through() {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let mut w = Forgiving::new(Vec::new(), &COUNT);
        w.write_all(b"hello\n").unwrap();
        assert_eq!(w.inner, b"hello\n");
        assert_eq!(COUNT.load(Ordering::Relaxed), 0);
    }
}

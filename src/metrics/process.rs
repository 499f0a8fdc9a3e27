//! The standard `process_*` metrics of Prometheus clients, read from
//! `/proc/self` at scrape time (Linux; elsewhere, or where `/proc` cannot be
//! read, they are absent): resident and virtual memory, CPU seconds, open and
//! maximum file descriptors, start time.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use std::time::{SystemTime, UNIX_EPOCH};

/// What `/proc/self/stat` says of this process.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stat {
    /// User plus system CPU time, in clock ticks.
    cpu_ticks: u64,
    /// When the process started, in clock ticks after boot.
    start_ticks: u64,
    virtual_bytes: u64,
    resident_pages: u64,
}

/// Parses the text of `/proc/PID/stat`. The command name (field 2) is in
/// parentheses and may itself hold spaces and parentheses: the fields are
/// counted from the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    // `rest` starts at field 3 (state): field N is rest's N-3rd.
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        cpu_ticks: field(14)?.checked_add(field(15)?)?,
        start_ticks: field(22)?,
        virtual_bytes: field(23)?,
        resident_pages: field(24)?,
    })
}

/// The boot time (UNIX seconds) from the text of `/proc/stat`.
fn parse_boot_time(text: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
}

/// The `process_*` metrics; registered once by `Metrics::new`.
#[derive(Debug)]
pub(super) struct Process {
    /// When the registry was made: the start time where `/proc/stat` is
    /// hidden (systemd's `ProcSubset=pid`).
    created: SystemTime,
}

impl Process {
    pub(super) fn new() -> Self {
        Self { created: SystemTime::now() }
    }

    fn start_time(&self, stat: &Stat, ticks: u64) -> f64 {
        let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|t| parse_boot_time(&t));
        match boot {
            Some(boot) => boot as f64 + stat.start_ticks as f64 / ticks as f64,
            None => self.created.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()),
        }
    }
}

fn gauge(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: f64) -> Result<(), std::fmt::Error> {
    ConstGauge::new(value).encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

impl Collector for Process {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let Some(stat) = std::fs::read_to_string("/proc/self/stat").ok().and_then(|t| parse_stat(&t)) else {
            return Ok(());
        };
        let ticks = rustix::param::clock_ticks_per_second().max(1);
        let page = rustix::param::page_size() as u64;
        // `process_cpu_seconds` is written `process_cpu_seconds_total`, as a counter.
        let cpu = ConstCounter::new(stat.cpu_ticks as f64 / ticks as f64);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            MetricType::Counter,
        )?)?;
        let resident = stat.resident_pages.saturating_mul(page) as f64;
        gauge(&mut encoder, "process_resident_memory_bytes", "Resident memory size in bytes", resident)?;
        gauge(&mut encoder, "process_virtual_memory_bytes", "Virtual memory size in bytes", stat.virtual_bytes as f64)?;
        let start = self.start_time(&stat, ticks);
        gauge(
            &mut encoder,
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            start,
        )?;
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            // The directory's own descriptor, open while it is read, is counted too.
            let open = fds.count().saturating_sub(1);
            gauge(&mut encoder, "process_open_fds", "Number of open file descriptors", open as f64)?;
        }
        let max = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        if let Some(max) = max {
            gauge(&mut encoder, "process_max_fds", "Maximum number of open file descriptors", max as f64)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        // A command name with a space and a parenthesis, as a process may set.
        let text = "4242 (cr est) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 8 0 123456 \
                    987654321 2048 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0";
        let stat = parse_stat(text).unwrap();
        assert_eq!(
            stat,
            Stat { cpu_ticks: 300, start_ticks: 123_456, virtual_bytes: 987_654_321, resident_pages: 2048 }
        );
        assert_eq!(parse_stat("4242 (crest) S 1"), None, "too few fields");
        assert_eq!(parse_stat("no parenthesis"), None);
    }

    #[test]
    fn boot_time_comes_from_btime() {
        assert_eq!(parse_boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 5\n"), Some(1_700_000_000));
        assert_eq!(parse_boot_time("cpu  1 2 3\n"), None);
    }
}

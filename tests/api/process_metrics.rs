//! The operations metrics by name against a live scrape: `process_*` of the
//! real binary (SQLite), the log's dropped lines, and the store pool's
//! metrics (Postgres, which has a pool).

use crate::helpers::{StoreKind, metric, spawn_app};
use crate::process::start;
use std::time::{SystemTime, UNIX_EPOCH};

#[test]
fn process_and_log_metrics_of_the_real_binary() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("crest.db").display());
    let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    let p = start(&["--listen", "127.0.0.1:0", "--store", &store, "--log-format", "json"], &[]);
    let addr = p.ready_addr();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let text = rt.block_on(async {
        let url = format!("http://{addr}/metrics");
        reqwest::get(url).await.unwrap().text().await.unwrap()
    });
    let after = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    let get = |series: &str| metric(&text, series).unwrap_or_else(|| panic!("no {series} in /metrics:\n{text}"));

    let rss = get("process_resident_memory_bytes");
    assert!(rss > 1e6 && rss < get("process_virtual_memory_bytes"), "rss {rss}");
    // Listener, SQLite file and journal, the scrape's connection, stdio...
    let (open, max) = (get("process_open_fds"), get("process_max_fds"));
    assert!(open >= 5.0 && open < max, "open {open}, max {max}");
    assert!(text.contains("# TYPE process_cpu_seconds counter\n"), "{text}");
    let cpu = get("process_cpu_seconds_total");
    assert!((0.0..60.0).contains(&cpu), "cpu {cpu}");
    // Clock ticks of /proc/self/stat: 10 ms steps (and a second of slack).
    let started = get("process_start_time_seconds");
    assert!(started > before - 1.0 && started < after + 1.0, "started {started}, spawned in [{before}, {after}]");
    for reason in ["queue_full", "write_failed"] {
        assert_eq!(get(&format!("crest_log_lines_dropped_total{{reason=\"{reason}\"}}")), 0.0);
    }
    assert_eq!(get("crest_log_write_failures"), 0.0);
}

/// Postgres is the store with a pool: its gauges and the acquire histogram.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_metrics_of_a_postgres_store() {
    if !crate::pg::available("pool_metrics_of_a_postgres_store").await {
        return;
    }
    let app = spawn_app(StoreKind::Postgres, |c| c.store_options.max_connections = 7).await;
    assert_eq!(app.get("pooled").await.0, 200);
    assert_eq!(app.metric("crest_store_pool_max_connections").await, 7.0);
    assert!(app.metric("crest_store_pool_acquire_seconds_count").await >= 1.0);
    assert!(app.metric("crest_store_pool_connections{state=\"idle\"}").await >= 1.0);
    let in_use = app.metric("crest_store_pool_connections{state=\"in_use\"}").await;
    assert!((0.0..=7.0).contains(&in_use), "{in_use}");
    // And no pool where there is none.
    let sqlite = spawn_app(StoreKind::Sqlite, |_| {}).await;
    let text = sqlite.client.get(sqlite.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metric(&text, "crest_store_pool_max_connections").is_none(), "{text}");
    sqlite.stop().await;
    app.stop().await;
}

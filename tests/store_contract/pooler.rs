//! What sqlx 0.8.6 does with prepared statements through a transaction
//! pooler (PgBouncer 1.18, `pool_mode = transaction`, 2 server connections
//! per database), shown with 16 concurrent sqlx connections and 20,000
//! queries per way of asking:
//!
//! * By default a query with arguments is a named statement `sqlx_s_N`,
//!   prepared once per client connection and then only bound. Through the
//!   pooler, the next transaction of that client may run on another server
//!   connection, where `sqlx_s_N` is some other client's statement or does
//!   not exist: errors naming `sqlx_s_`, and wrong answers when it is
//!   another client's statement with the same types.
//! * `statement-cache-capacity=0` does not help: the statements are still
//!   named `sqlx_s_N` (never closed and never reused).
//! * `.persistent(false)` uses the unnamed statement, but in two round
//!   trips (Parse+Describe+Sync, then Bind+Execute+Close+Sync): between the
//!   two Syncs the pooler may give the server connection to another client,
//!   so the Bind runs another client's unnamed statement (a wrong answer) or
//!   finds none.
//! * `sqlx::raw_sql` sends one simple-protocol Query message: no statement
//!   outlives it, nothing can be crossed.
//! * Unnamed statements inside an explicit transaction stay on one server
//!   connection until COMMIT: nothing can be crossed either.
//!
//! Half the clients ask `SELECT $1::int8 AS v`, half `SELECT $1::int8 * 1000
//! AS v`, each with values of its own, and check the answer: a statement of
//! the other half gives a wrong answer of the right type.

use crate::{pg, pgbouncer};
use sqlx::{Connection, PgConnection, Row};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const CLIENTS: usize = 16;
const QUERIES: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    /// `sqlx::query(..).bind(..)`: named statements, cached per connection.
    Named,
    /// The same with `?statement-cache-capacity=0` in the URL.
    NamedUncached,
    /// `.persistent(false)`: the unnamed statement.
    Unnamed,
    /// `sqlx::raw_sql` with the value as a literal: one simple Query.
    RawSql,
    /// `.persistent(false)` inside `begin()` … `commit()`.
    UnnamedInTransaction,
}

#[derive(Debug, Default)]
struct Counts {
    queries: usize,
    errors: usize,
    wrong: usize,
    /// The first few distinct error messages.
    samples: Vec<String>,
}

/// Asks `QUERIES` queries in all over `CLIENTS` connections to `url`.
async fn hammer(url: &str, way: Way) -> Counts {
    let url = if way == Way::NamedUncached { format!("{url}?statement-cache-capacity=0") } else { url.to_owned() };
    let tickets = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let (url, tickets) = (url.clone(), tickets.clone());
        tasks.push(tokio::spawn(async move { one_client(&url, way, client, &tickets).await }));
    }
    let mut total = Counts::default();
    for t in tasks {
        let c = t.await.unwrap();
        total.queries += c.queries;
        total.errors += c.errors;
        total.wrong += c.wrong;
        for s in c.samples {
            if total.samples.len() < 4 && !total.samples.contains(&s) {
                total.samples.push(s);
            }
        }
    }
    total
}

async fn one_client(url: &str, way: Way, client: usize, tickets: &AtomicUsize) -> Counts {
    let mut counts = Counts::default();
    let mut conn = PgConnection::connect(url).await.unwrap();
    let times_1000 = client % 2 == 1;
    while tickets.fetch_add(1, Ordering::Relaxed) < QUERIES {
        counts.queries += 1;
        let value = (client * 1_000_000 + counts.queries) as i64;
        let want = if times_1000 { value * 1000 } else { value };
        let asked = tokio::time::timeout(Duration::from_secs(10), ask(&mut conn, way, times_1000, value)).await;
        match asked {
            Ok(Ok(got)) if got == want => {}
            Ok(Ok(_)) => counts.wrong += 1,
            Ok(Err(e)) => {
                counts.errors += 1;
                if counts.samples.len() < 4 && !counts.samples.contains(&e.to_string()) {
                    counts.samples.push(e.to_string());
                }
                if matches!(e, sqlx::Error::Io(_) | sqlx::Error::Protocol(_)) {
                    conn = PgConnection::connect(url).await.unwrap();
                }
            }
            Err(_) => {
                counts.errors += 1;
                counts.samples.push("no answer within 10s".into());
                conn = PgConnection::connect(url).await.unwrap();
            }
        }
    }
    let _ = conn.close().await;
    counts
}

/// Boxed: a `Send` future the spawned task can hold (sqlx's executor
/// lifetimes are otherwise "not general enough" for `tokio::spawn`).
fn ask(
    conn: &mut PgConnection,
    way: Way,
    times_1000: bool,
    value: i64,
) -> std::pin::Pin<Box<dyn Future<Output = Result<i64, sqlx::Error>> + Send + '_>> {
    Box::pin(ask_now(conn, way, times_1000, value))
}

async fn ask_now(conn: &mut PgConnection, way: Way, times_1000: bool, value: i64) -> Result<i64, sqlx::Error> {
    let sql = if times_1000 { "SELECT $1::int8 * 1000 AS v" } else { "SELECT $1::int8 AS v" };
    let row = match way {
        Way::Named | Way::NamedUncached => sqlx::query(sql).bind(value).fetch_one(&mut *conn).await?,
        Way::Unnamed => sqlx::query(sql).persistent(false).bind(value).fetch_one(&mut *conn).await?,
        Way::RawSql => {
            let literal = sql.replace("$1", &value.to_string());
            sqlx::Executor::fetch_one(&mut *conn, sqlx::raw_sql(&literal)).await?
        }
        Way::UnnamedInTransaction => {
            let mut tx = conn.begin().await?;
            let row = sqlx::query(sql).persistent(false).bind(value).fetch_one(&mut *tx).await?;
            tx.commit().await?;
            row
        }
    };
    row.try_get("v")
}

/// Runs `way` on a fresh database, through the shared PgBouncer or directly;
/// prints and returns the counts.
async fn run(test: &str, way: Way, through_pooler: bool) -> Option<Counts> {
    if !pg::available(test).await || (through_pooler && !pgbouncer::available(test)) {
        return None;
    }
    let db = pg::TestDb::create().await;
    let url = if through_pooler { pgbouncer::shared().await.via(&db.url) } else { db.url.clone() };
    let counts = hammer(&url, way).await;
    let route = if through_pooler { "through PgBouncer (transaction mode, pool 2)" } else { "directly to Postgres" };
    println!(
        "{way:?} {route}: {} queries on {CLIENTS} connections, {} errors, {} wrong answers; first errors: {:?}",
        counts.queries, counts.errors, counts.wrong, counts.samples
    );
    assert_eq!(counts.queries, QUERIES);
    drop(db);
    Some(counts)
}

/// (a) Default statements: errors naming `sqlx_s_`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooler_named_statements_break() {
    let Some(c) = run("pooler_named_statements_break", Way::Named, true).await else { return };
    assert!(c.errors > 0, "{c:?}");
    assert!(c.samples.iter().any(|e| e.contains("sqlx_s_")), "{c:?}");
}

/// (b) `statement-cache-capacity=0`: still named, still broken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooler_named_statements_break_without_a_cache() {
    let Some(c) = run("pooler_named_statements_break_without_a_cache", Way::NamedUncached, true).await else {
        return;
    };
    assert!(c.errors > 0, "{c:?}");
    assert!(c.samples.iter().any(|e| e.contains("sqlx_s_")), "{c:?}");
}

/// (c) `.persistent(false)`: errors, wrong answers, or both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooler_unnamed_statements_cross_clients() {
    let Some(c) = run("pooler_unnamed_statements_cross_clients", Way::Unnamed, true).await else { return };
    assert!(c.errors + c.wrong > 0, "{c:?}");
}

/// (d) `sqlx::raw_sql` with literals: one message, nothing crossed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooler_raw_sql_is_safe() {
    let Some(c) = run("pooler_raw_sql_is_safe", Way::RawSql, true).await else { return };
    assert_eq!((c.errors, c.wrong), (0, 0), "{c:?}");
}

/// (e) Unnamed statements inside an explicit transaction: safe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooler_unnamed_statements_in_a_transaction_are_safe() {
    let Some(c) = run("pooler_unnamed_statements_in_a_transaction_are_safe", Way::UnnamedInTransaction, true).await
    else {
        return;
    };
    assert_eq!((c.errors, c.wrong), (0, 0), "{c:?}");
}

/// (f) Control: default statements directly against Postgres.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooler_control_named_statements_directly() {
    let Some(c) = run("pooler_control_named_statements_directly", Way::Named, false).await else { return };
    assert_eq!((c.errors, c.wrong), (0, 0), "{c:?}");
}

//! Everything the Postgres store writes into SQL as a literal
//! (src/store/postgres/sql.rs) reads back exactly from the real server:
//! quotes, backslashes, look-alikes of `E'…'`, dollar quotes, comments and
//! statement separators, every Unicode plane, and floats at the edges of
//! f64. A wrong escape shows as another value, a syntax error, or a
//! statement that was not ours (the table would be gone).

use super::{id, increment, pg};
use crest::domain::{Capacity, Dimension, HistoryQuery, Outcome, Source, change};
use crest::store::{self, Store, StoreOptions};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

/// Hand-picked texts that break naive quoting.
const NASTY: &[&str] = &[
    "'",
    "''",
    "\\",
    "\\'",
    "'\\",
    "E'x'",
    "\\x41",
    "'; DROP TABLE dimensions; --",
    "$$",
    "$crest$ $$",
    "/* x */",
    "-- x",
    ";",
    "\u{7f}",
    "é",
    "日本語",
    "𝄞",
    "\u{202e}rtl",
    "a\r\nb\tc",
    " ",
    "%s %d {}",
    "\\\\''\\'",
    "?",
    "$1",
];

/// `s` as the client and request id of a change, and as a secret's name
/// and value; all read back.
async fn round_trip(s: &dyn Store, text: &str) {
    let d = id("lit");
    let source = Source { method: "PATCH".into(), client: Some(text.into()), request_id: Some(text.into()) };
    s.update(&d, &|c| increment(c, &d), &source).await.unwrap();
    let newest = s.history(&d, HistoryQuery { before: None, limit: 1 }).await.unwrap();
    assert_eq!(newest[0].source, source, "history of {text:?}");
    let name = format!("n{text}");
    s.put_secret(&name, text.as_bytes()).await.unwrap();
    assert_eq!(s.get_secret(&name).await.unwrap().as_deref(), Some(text.as_bytes()), "secret {text:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_reads_back_every_text_and_number_exactly() {
    if !pg::available("postgres_reads_back_every_text_and_number_exactly").await {
        return;
    }
    let db = pg::TestDb::create().await;
    let s = store::open(&db.url, &StoreOptions::default()).await.unwrap();
    for text in NASTY {
        round_trip(s.as_ref(), text).await;
    }
    // Generated texts: any Unicode but NUL (PostgreSQL text cannot hold it).
    let mut runner = TestRunner::new(Config { cases: 150, ..Config::default() });
    let mut texts = Vec::new();
    let strategy = any::<String>().prop_filter("no NUL", |t| !t.contains('\0'));
    for _ in 0..150 {
        texts.push(strategy.new_tree(&mut runner).unwrap().current());
    }
    for text in &texts {
        round_trip(s.as_ref(), text).await;
    }
    // A NUL is refused, not cut off or mangled.
    let source = Source { method: "PATCH".into(), client: Some("a\0b".into()), request_id: None };
    let d = id("nul");
    assert!(s.update(&d, &|c| increment(c, &d), &source).await.is_err());
    assert_eq!(s.get(&d).await.unwrap(), None);

    // Floats: what is stored is what is read, to the bit.
    let values =
        [0.0, 0.1, 1.0 / 3.0, 5e-324, 2.2250738585072014e-308, 1e-300, 9_007_199_254_740_993.0, 1e300, f64::MAX];
    for (i, x) in values.into_iter().enumerate() {
        let d = id(&format!("f{i}"));
        let set = |c: Option<&Dimension>| {
            let mut o = increment(c, &d)?;
            let old = o.dimension.clone();
            o.dimension.desired_capacity = Capacity::new(x).unwrap();
            o.dimension.min_capacity = Some(Capacity::new(x).unwrap());
            o.changes = change::diff(&old, &o.dimension);
            Ok::<Outcome, crest::domain::TransitionError>(o)
        };
        s.update(&d, &set, &super::src()).await.unwrap();
        let got = s.get(&d).await.unwrap().unwrap();
        assert_eq!(got.desired_capacity.get().to_bits(), x.to_bits(), "{x:e}");
        assert_eq!(got.min_capacity.map(|c| c.get().to_bits()), Some(x.to_bits()), "{x:e}");
    }
    let tables: i64 = {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tablename IN ('dimensions', 'history', 'secrets')")
            .fetch_one(&mut c)
            .await
            .unwrap()
    };
    assert_eq!(tables, 3, "no statement but crest's ran");
    s.close().await;
}

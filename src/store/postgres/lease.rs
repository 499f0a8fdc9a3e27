//! `try_lock` as a lease row: `leases (name, holder, expires_at)`. A
//! session advisory lock cannot work behind a transaction pooler (it stays
//! on a server connection other clients then share), so the lock is a row:
//! taken when free or expired, renewed by a task every third of its time to
//! live while the guard lives, deleted when the guard is dropped. A holder
//! that dies without deleting it (crash, lost network) frees it when its
//! lease expires. Times are the database's (`now()`), so the replicas'
//! clocks do not matter.

use super::PostgresStore;
use super::pool::Pool;
use super::sql::Sql;
use crate::store::{StoreError, StoreLock};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a lease lasts without renewal.
const TTL: Duration = Duration::from_secs(30);

/// Who holds a lease: this process, unique across replicas and restarts.
fn holder() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}:{}:{nanos:x}", hostname(), std::process::id())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map_or_else(|_| "host".into(), |h| h.trim().to_owned())
}

/// Takes the lease `name` for a new holder, or None when another holds it.
///
/// # Errors
/// `Unavailable`.
pub(super) async fn try_lock(store: &PostgresStore, name: &str) -> Result<Option<StoreLock>, StoreError> {
    let holder = holder();
    let ttl = TTL.as_millis();
    let sql =
        Sql::new("INSERT INTO leases (name, holder, expires_at) VALUES (").text(name)?.sql(", ").text(&holder)?.sql(
            &format!(
                ", now() + interval '{ttl} milliseconds') ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at WHERE leases.expires_at < now() RETURNING holder"
            ),
        );
    if store.pool.run(sql.as_str()).await?.is_empty() {
        return Ok(None);
    }
    let stop = CancellationToken::new();
    let task = tokio::spawn(renew(store.pool.clone(), name.to_owned(), holder.clone(), stop.clone()));
    Ok(Some(StoreLock::holding(Box::new(Lease {
        pool: store.pool.clone(),
        name: name.to_owned(),
        holder,
        stop,
        task,
    }))))
}

/// A held lease; dropping it stops the renewal and deletes the row.
struct Lease {
    pool: Arc<Pool>,
    name: String,
    holder: String,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.stop.cancel();
        self.task.abort();
        let (pool, name, holder) = (self.pool.clone(), self.name.clone(), self.holder.clone());
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let sql = Sql::new("DELETE FROM leases WHERE name = ")
                    .text(&name)
                    .and_then(|s| s.sql(" AND holder = ").text(&holder));
                if let Ok(sql) = sql
                    && let Err(e) = pool.run(sql.as_str()).await
                {
                    tracing::warn!(error = %e, lease = %name, "postgres: cannot release a lease; it expires by itself");
                }
            });
        }
    }
}

/// Extends the lease every third of its time to live until `stop`.
async fn renew(pool: Arc<Pool>, name: String, holder: String, stop: CancellationToken) {
    let ttl = TTL.as_millis();
    loop {
        tokio::select! {
            () = tokio::time::sleep(TTL / 3) => {}
            () = stop.cancelled() => return,
        }
        let sql =
            Sql::new(&format!("UPDATE leases SET expires_at = now() + interval '{ttl} milliseconds' WHERE name = "))
                .text(&name)
                .and_then(|s| Ok(s.sql(" AND holder = ").text(&holder)?.sql(" RETURNING 1")));
        match sql {
            Ok(sql) => match pool.run(sql.as_str()).await {
                Ok(rows) if rows.is_empty() => {
                    tracing::warn!(lease = %name, "postgres: a lease was lost (it expired and another replica took it)");
                    return;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, lease = %name, "postgres: cannot renew a lease; retrying"),
            },
            Err(_) => return,
        }
    }
}

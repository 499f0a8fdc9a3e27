//! Keeps certificates current without a restart: reloads on SIGHUP and when
//! a watched file changes (checked every `tls_reload_interval`; polling works
//! with editors, `mv`, and Kubernetes' symlink swaps alike). A file that
//! fails to load is logged and the old certificates keep serving. Also warns
//! when a certificate has less than 7, 3 or 1 days left.

use super::TlsState;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

/// How often expiry is checked.
const EXPIRY_CHECK: Duration = Duration::from_secs(3600);

/// What identifies a file version: modification time, size, inode.
type Stamp = Vec<(PathBuf, Option<(SystemTime, u64, u64)>)>;

fn stamp(files: &[PathBuf]) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    files
        .iter()
        .map(|f| {
            let meta = std::fs::metadata(f).ok().and_then(|m| Some((m.modified().ok()?, m.len(), m.ino())));
            (f.clone(), meta)
        })
        .collect()
}

/// Runs until `shutdown`.
pub async fn run(tls: Arc<TlsState>, shutdown: CancellationToken) {
    let files = tls.watched_files();
    let mut seen = stamp(&files);
    let mut warned: HashMap<crate::fingerprint::Fingerprint, u8> = HashMap::new();
    let mut poll = tokio::time::interval(tls.settings().reload_interval);
    let mut expiry = tokio::time::interval(EXPIRY_CHECK);
    let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; certificate files are still polled");
            None
        }
    };
    loop {
        let hup_recv = async {
            match hup.as_mut() {
                Some(s) => s.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = hup_recv => {
                seen = stamp(&files);
                reload(&tls, "SIGHUP");
                warn_expiry(&tls, &mut warned);
            }
            _ = poll.tick() => {
                let now = stamp(&files);
                if now != seen {
                    seen = now;
                    reload(&tls, "file change");
                    warn_expiry(&tls, &mut warned);
                }
            }
            _ = expiry.tick() => warn_expiry(&tls, &mut warned),
        }
    }
}

fn reload(tls: &TlsState, trigger: &str) {
    match tls.reload() {
        Ok(()) => tracing::info!(trigger, "TLS certificates reloaded"),
        Err(e) => tracing::error!(trigger, error = %e, "TLS reload refused; the previous certificates keep serving"),
    }
}

/// Warns once per certificate as it crosses 7, 3 and 1 days left.
fn warn_expiry(tls: &TlsState, warned: &mut HashMap<crate::fingerprint::Fingerprint, u8>) {
    let now = SystemTime::now();
    for c in tls.certificates() {
        let days = c.days_left(now);
        let mark = [1u8, 3, 7].into_iter().find(|m| days < f64::from(*m));
        let Some(mark) = mark else {
            warned.remove(&c.sha256);
            continue;
        };
        if warned.get(&c.sha256) == Some(&mark) {
            continue;
        }
        warned.insert(c.sha256, mark);
        if days <= 0.0 {
            tracing::error!(role = c.role, path = %c.path.display(), subject = %c.subject, sha256 = %c.sha256,
                "certificate has expired");
        } else {
            tracing::warn!(role = c.role, path = %c.path.display(), subject = %c.subject, sha256 = %c.sha256,
                days_left = c.days_left_shown(now), "certificate expires in less than {mark} day(s)");
        }
    }
}

/// Without TLS there is nothing to reload, but SIGHUP (e.g. `systemctl
/// reload`) must not kill crest: log it and carry on.
pub async fn ignore_hangup(shutdown: CancellationToken) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = hup.recv() => tracing::info!("SIGHUP received; nothing to reload (no TLS listener)"),
        }
    }
}

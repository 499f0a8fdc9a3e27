//! One connection, served by hyper (HTTP/1.1 or h2) with a timer that
//! closes it when nothing is in flight: `header_read_timeout` after it was
//! accepted (after the handshake on TLS) if no request came, `idle_timeout`
//! after its last response otherwise. A request is in flight from its head
//! until its response body is finished or dropped, so a long-poll or an SSE
//! stream is never idle. The same close (hyper's graceful shutdown: GOAWAY
//! on h2) serves the idle timer, the connection limit (a shed connection)
//! and the server's shutdown.

use super::limit::{Activity, InFlight, Slot};
use super::{ConnInfo, Handler, Limits, Stop};
use axum::body::{Body, Bytes};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;
use tower::ServiceExt;

/// How long a closing connection with nothing in flight may take to say
/// goodbye (flush a GOAWAY, wait for the PING that acknowledges it).
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// hyper's own head limits, set above the ones crest answers in JSON
/// (`http::head`: 100 fields, 32 KiB): HTTP/1 header fields (hyper's
/// default is 100) and the HTTP/2 header list (hyper's default is 16 KiB).
/// Beyond them hyper answers 431 with an empty body; HTTP/1 heads are also
/// bounded by hyper's read buffer (about 400 KiB) and targets by 64 KiB (414).
const HYPER_MAX_HEADERS: usize = 256;
const HYPER_MAX_HEADER_LIST: u32 = 64 * 1024;

/// A connection builder with crest's limits (every listener).
fn builder(limits: Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(HYPER_MAX_HEADERS);
    // A peer that stops answering PINGs is dropped, even with a stream open.
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.idle_timeout)
        .keep_alive_timeout(limits.header_read_timeout)
        .max_header_list_size(HYPER_MAX_HEADER_LIST);
    builder
}

/// Why a connection is being closed by crest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Close {
    Idle,
    Shed,
    Shutdown,
}

/// Serves HTTP/1.1 or h2 on `io` with `router`, every request carrying
/// `info`, until the client ends it or it is closed: idle, shed for a new
/// connection, or at shutdown (where `stop.force` ends what is left).
pub(super) async fn serve_connection<I>(
    io: I,
    info: ConnInfo,
    router: impl Handler,
    limits: Limits,
    slot: &Slot,
    stop: &Stop,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let activity = slot.activity.clone();
    activity.touch();
    let (peer, info) = (info.peer, Arc::new(info));
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(info.clone());
        let guard = requests.begin();
        let response = router.clone().oneshot(req.map(Body::new));
        async move { response.await.map(|r| r.map(|body| Tracked { body, _guard: guard })) }
    });
    let builder = builder(limits);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(conn);
    let close = tokio::select! {
        ended = conn.as_mut() => {
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            return;
        }
        () = idle(&activity, limits) => Close::Idle,
        () = activity.shed.cancelled() => Close::Shed,
        () = stop.shutdown.cancelled() => Close::Shutdown,
    };
    let requests = activity.requests();
    match close {
        Close::Idle => {
            stop.metrics.connection_idle_closed();
            tracing::debug!(%peer, requests, "closing an idle connection");
        }
        Close::Shed => tracing::debug!(%peer, requests, "closing an idle connection to make room (connection limit)"),
        Close::Shutdown => {}
    }
    conn.as_mut().graceful_shutdown();
    if close == Close::Shed {
        // Its slot is already a newcomer's: one poll to send the GOAWAY.
        std::future::poll_fn(|cx| {
            let _ = conn.as_mut().poll(cx);
            Poll::Ready(())
        })
        .await;
        return;
    }
    // What is in flight may finish (at shutdown, until `force`).
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            () = tokio::time::sleep(CLOSE_GRACE) => if activity.in_flight() == 0 { return },
            () = stop.force.cancelled() => return,
        }
    }
}

/// Returns once the connection has had nothing in flight for its timeout.
async fn idle(activity: &Activity, limits: Limits) {
    let first = limits.header_read_timeout.min(limits.idle_timeout);
    loop {
        let Some(since) = activity.idle_since() else {
            // In flight: look again later (by then it may have ended).
            tokio::time::sleep(first).await;
            continue;
        };
        let timeout = if activity.requests() == 0 { first } else { limits.idle_timeout };
        let deadline = since + timeout;
        if deadline <= Instant::now() {
            return;
        }
        tokio::time::sleep_until(deadline).await;
    }
}

/// A response body that keeps its request in flight until it is finished
/// or dropped.
struct Tracked {
    body: Body,
    _guard: InFlight,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

//! The request a log line was written for. While a request is served, its
//! fields (`method`, `route`, `path`, `request_id`, `trace_id` and
//! `xray_trace_id` when the caller sent valid ones, and `dimension_id` once
//! the handler knows it) are put on every line written for it: in text as
//! the `http{…}:` prefix, in JSON as fields (`text.rs`, `json.rs`).
//!
//! They live in a task-local, not in a tracing span: a span costs every
//! request its registration, the formatting of its fields and a lock-free
//! but not free enter and exit on each poll (in a throw-away build that
//! could leave the span out, about 9 % of a cached GET's throughput; not a
//! figure the bench reproduces), to serve the few lines a request writes
//! besides its access line. Here a request pays for
//! cloning two shared buffers; the fields are formatted only for a line
//! that is written. Lines with an explicit `parent: None` (the access line,
//! summaries of many requests) are not the request's and get no fields.

use axum::http::{HeaderValue, Method, Uri};
use std::cell::OnceCell;
use std::future::Future;
use std::sync::Arc;

tokio::task_local! {
    static CURRENT: Fields;
}

/// One request's fields.
#[derive(Debug, Clone)]
pub struct Fields {
    pub method: Method,
    /// The route's template, or `unmatched`.
    pub route: &'static str,
    pub uri: Uri,
    pub request_id: HeaderValue,
    /// The caller's trace ids, validated by `http::trace_context`; None (no
    /// allocation, nothing written) for a request without them.
    trace: Option<Box<Trace>>,
    dimension_id: OnceCell<Arc<str>>,
}

/// A request's trace ids, as logged.
#[derive(Debug, Clone)]
struct Trace {
    trace_id: Box<str>,
    xray_trace_id: Option<Box<str>>,
}

impl Fields {
    #[must_use]
    pub fn new(method: Method, route: &'static str, uri: Uri, request_id: HeaderValue) -> Self {
        Self { method, route, uri, request_id, trace: None, dimension_id: OnceCell::new() }
    }

    /// Puts the request's trace ids (already validated) on its lines.
    pub fn set_trace(&mut self, trace_id: &str, xray_trace_id: Option<&str>) {
        self.trace = Some(Box::new(Trace { trace_id: trace_id.into(), xray_trace_id: xray_trace_id.map(Into::into) }));
    }

    #[must_use]
    pub fn trace_id(&self) -> Option<&str> {
        self.trace.as_ref().map(|t| &*t.trace_id)
    }

    #[must_use]
    pub fn xray_trace_id(&self) -> Option<&str> {
        self.trace.as_ref().and_then(|t| t.xray_trace_id.as_deref())
    }

    /// The request id as text (it is visible ASCII: `request_id` made it so).
    #[must_use]
    pub fn request_id(&self) -> &str {
        self.request_id.to_str().unwrap_or("")
    }

    #[must_use]
    pub fn dimension_id(&self) -> Option<&str> {
        self.dimension_id.get().map(|id| &**id)
    }
}

/// Serves `future` as the request `fields`: lines it writes carry them.
/// A plain function, not an `async fn`: that would move the request's
/// whole future once more (into its own state) before it first runs.
/// Once it is done, `Scoped::take_fields` gives the fields back (the
/// request id for the response, without a copy kept for it).
pub fn scope<F: Future>(fields: Fields, future: F) -> Scoped<F> {
    CURRENT.scope(fields, future)
}

/// `scope`'s future.
pub type Scoped<F> = tokio::task::futures::TaskLocalFuture<Fields, F>;

/// The fields of a finished `scope`, at most once.
pub fn take_fields<F: Future>(scoped: std::pin::Pin<&mut Scoped<F>>) -> Option<Fields> {
    scoped.take_value()
}

/// Runs `f` as the request `fields` (a line written for a request that is
/// answered before the router's own scope).
pub fn sync_scope<R>(fields: Fields, f: impl FnOnce() -> R) -> R {
    CURRENT.sync_scope(fields, f)
}

/// `future` with the current request's fields, for a task it is spawned
/// as: the task's lines stay the request's.
pub fn carry<F: Future>(future: F) -> impl Future<Output = F::Output> {
    let fields = CURRENT.try_with(Clone::clone).ok();
    async move {
        match fields {
            Some(fields) => CURRENT.scope(fields, future).await,
            None => future.await,
        }
    }
}

/// Records the dimension the current request is about (the first one
/// recorded stays).
pub fn record_dimension(id: Arc<str>) {
    let _ = CURRENT.try_with(|fields| fields.dimension_id.set(id));
}

/// Calls `f` with the fields of the request being served on this thread's
/// current task, if any.
pub fn with_current<R>(f: impl FnOnce(&Fields) -> R) -> Option<R> {
    CURRENT.try_with(f).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Fields {
        Fields::new(Method::PATCH, "/r/{id}", Uri::from_static("/r/a"), HeaderValue::from_static("rid-1"))
    }

    #[tokio::test]
    async fn a_request_and_the_tasks_it_spawns_see_its_fields() {
        assert!(with_current(|_| ()).is_none(), "no request outside a scope");
        let seen = scope(fields(), async {
            record_dimension("a".into());
            record_dimension("b".into());
            let spawned = tokio::spawn(carry(async { with_current(|f| f.dimension_id().map(str::to_owned)) }));
            let uncarried = tokio::spawn(async { with_current(|_| ()) });
            (spawned.await.unwrap(), uncarried.await.unwrap(), with_current(|f| f.request_id().to_owned()))
        })
        .await;
        assert_eq!(seen, (Some(Some("a".into())), None, Some("rid-1".into())));
        assert_eq!(sync_scope(fields(), || with_current(|f| f.route)), Some("/r/{id}"));
    }
}

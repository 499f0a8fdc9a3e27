//! The floor under crest's GET rows in `bench/run.sh`: a bare hyper HTTP/1.1
//! server on tokio (the stack crest is built on, with the same runtime
//! sizing), answering every request with a dimension's JSON, no routing, no
//! middleware, no store. What it cannot beat, crest cannot either.
//!
//!     cargo run --release --example floor -- 127.0.0.1:8099

use axum::body::{Body, Bytes};
use hyper::header::{CONTENT_TYPE, ETAG, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;

const BODY: &str = r#"{"scalableTargetDimensionId":"bench-1","version":"MyVersion","resourceName":"MyService","dimensionName":"MyDimension","desiredCapacity":1.0,"actualCapacity":1.0,"scalingStatus":"Successful"}"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8099".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(|_req: Request<hyper::body::Incoming>| async {
                let mut response = Response::new(Body::from(Bytes::from_static(BODY.as_bytes())));
                response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                response.headers_mut().insert(ETAG, HeaderValue::from_static("\"1\""));
                Ok::<_, Infallible>(response)
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(tcp), service).await;
        });
    }
}

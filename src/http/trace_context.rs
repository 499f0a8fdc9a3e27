//! Trace ids a caller sends: W3C `traceparent` (most tracers, Envoy, nginx
//! with OpenTelemetry) and AWS `X-Amzn-Trace-Id` (API Gateway, ALB, X-Ray).
//! Each is validated here; an invalid one is ignored, and never logged. A
//! valid one goes on the request's log fields (`telemetry::request`:
//! `trace_id`, and `xray_trace_id` for the X-Ray root), so every log line
//! of the request carries it, and a valid `traceparent` is echoed on the
//! response as it came. crest makes up
//! no trace id of its own: it exports no traces, so a made-up id would lead
//! nowhere (`X-Request-Id` names every request anyway).

use axum::http::{HeaderMap, HeaderName, HeaderValue};

pub static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
pub static X_AMZN_TRACE_ID: HeaderName = HeaderName::from_static("x-amzn-trace-id");

/// The longest `X-Amzn-Trace-Id` read (X-Ray's own are under 150 bytes).
const MAX_AMZN_LEN: usize = 256;
/// The most `key=value` fields of an `X-Amzn-Trace-Id` read.
const MAX_AMZN_FIELDS: usize = 8;

/// The valid trace ids of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceIds {
    /// The W3C trace id (32 lowercase hex digits): `traceparent`'s, else
    /// the X-Ray root's two hex parts, which is how X-Ray maps its ids to W3C.
    pub trace_id: String,
    /// The X-Ray root as sent (`1-` 8 hex `-` 24 hex): what API Gateway's
    /// and ALB's logs show.
    pub xray_trace_id: Option<String>,
    /// The valid `traceparent`, to echo on the response.
    pub traceparent: Option<HeaderValue>,
}

impl TraceIds {
    /// The valid trace ids in `headers`; None when there is none.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let traceparent = headers.get(&TRACEPARENT).filter(|v| traceparent_trace_id(v.as_bytes()).is_some());
        let xray = headers.get(&X_AMZN_TRACE_ID).and_then(|v| xray_root(v.as_bytes()));
        let trace_id = match (traceparent, xray) {
            (Some(tp), _) => traceparent_trace_id(tp.as_bytes())?.to_owned(),
            (None, Some(root)) => format!("{}{}", &root[2..10], &root[11..]),
            (None, None) => return None,
        };
        Some(Self { trace_id, xray_trace_id: xray.map(str::to_owned), traceparent: traceparent.cloned() })
    }
}

fn is_hex(s: &[u8]) -> bool {
    s.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `count` lowercase hex digits, not all zero.
fn nonzero_hex(s: &[u8], count: usize) -> bool {
    s.len() == count && is_hex(s) && s.iter().any(|b| *b != b'0')
}

/// The trace id of a W3C `traceparent` of version 00:
/// `00-{32 hex trace id}-{16 hex parent id}-{2 hex flags}`, lowercase, ids
/// not all zero.
fn traceparent_trace_id(v: &[u8]) -> Option<&str> {
    let [version, trace, parent, flags] = split4(v)?;
    let ok = version == b"00" && nonzero_hex(trace, 32) && nonzero_hex(parent, 16) && flags.len() == 2 && is_hex(flags);
    ok.then(|| std::str::from_utf8(trace).ok()).flatten()
}

fn split4(v: &[u8]) -> Option<[&[u8]; 4]> {
    let mut parts = v.split(|b| *b == b'-');
    let out = [parts.next()?, parts.next()?, parts.next()?, parts.next()?];
    parts.next().is_none().then_some(out)
}

/// An X-Ray trace id: `1-{8 hex}-{24 hex}`.
fn is_xray_id(v: &[u8]) -> bool {
    v.len() == 35 && v.starts_with(b"1-") && v[10] == b'-' && is_hex(&v[2..10]) && nonzero_hex(&v[11..], 24)
}

/// The root of an `X-Amzn-Trace-Id`: `Root=1-…-…` with optional
/// `Parent={16 hex}`, `Sampled=0|1|?`, and other fields (`Self` from ALB,
/// `Lineage`) of letters, digits and `-:|.`; `;`-separated, at most 256
/// bytes and 8 fields.
fn xray_root(v: &[u8]) -> Option<&str> {
    if v.len() > MAX_AMZN_LEN {
        return None;
    }
    let text = std::str::from_utf8(v).ok()?;
    let mut root = None;
    for (i, field) in text.split(';').enumerate() {
        let (key, value) = field.trim_matches(' ').split_once('=')?;
        let ok = i < MAX_AMZN_FIELDS
            && match key {
                "Root" => root.replace(value).is_none() && is_xray_id(value.as_bytes()),
                "Parent" => nonzero_hex(value.as_bytes(), 16),
                "Sampled" => matches!(value, "0" | "1" | "?"),
                "Self" => is_xray_id(value.as_bytes()),
                _ => {
                    !key.is_empty()
                        && key.bytes().all(|b| b.is_ascii_alphanumeric())
                        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b':' | b'|' | b'.'))
                }
            };
        if !ok {
            return None;
        }
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const ROOT: &str = "1-5759e988-bd862e3fe1be46a994272793";

    fn ids(headers: &[(&HeaderName, &str)]) -> Option<TraceIds> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert((*name).clone(), HeaderValue::from_str(value).unwrap());
        }
        TraceIds::from_headers(&map)
    }

    #[test]
    fn traceparent_of_version_00_is_taken() {
        assert_eq!(traceparent_trace_id(TP.as_bytes()), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert!(traceparent_trace_id(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").is_some());
        for bad in [
            "",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", // uppercase
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01", // zero trace id
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", // zero parent id
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // another version
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", // 31 digits
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", // a fifth part
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",
            "00-4bf92f3577b34da6a3ce929d0e0e47g6-00f067aa0ba902b7-01",
        ] {
            assert_eq!(traceparent_trace_id(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn x_amzn_trace_id_needs_a_valid_root() {
        for good in [
            format!("Root={ROOT}"),
            format!("Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1"),
            format!("Self=1-67891234-12456789abcdef012345678a;Root={ROOT}"),
            format!("Root={ROOT}; Sampled=?;Lineage=a87bd80c:1|68fd508a:5"),
        ] {
            assert_eq!(xray_root(good.as_bytes()), Some(ROOT), "{good}");
        }
        for bad in [
            String::new(),
            "Sampled=1".to_owned(),                               // no root
            "Root=1-5759e988-bd862e3fe1be46a99427279".to_owned(), // 23 digits
            "Root=2-5759e988-bd862e3fe1be46a994272793".to_owned(),
            "Root=1-5759E988-bd862e3fe1be46a994272793".to_owned(),
            format!("Root={ROOT};Root={ROOT}"),
            format!("Root={ROOT};Parent=53995c3f42cd8ad"),
            format!("Root={ROOT};Sampled=yes"),
            format!("Root={ROOT};Evil=a\"b"),
            format!("Root={ROOT};NoValue"),
            format!("Root={ROOT};Pad={}", "a".repeat(220)), // over 256 bytes
            format!("Root={ROOT}{}", ";A=1".repeat(8)),     // over 8 fields
        ] {
            assert_eq!(xray_root(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn traceparent_wins_and_xray_maps_to_a_w3c_id() {
        let both = ids(&[(&TRACEPARENT, TP), (&X_AMZN_TRACE_ID, &format!("Root={ROOT}"))]).unwrap();
        assert_eq!(both.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(both.xray_trace_id.as_deref(), Some(ROOT));
        assert_eq!(both.traceparent, Some(HeaderValue::from_static(TP)));
        let xray = ids(&[(&TRACEPARENT, "garbage"), (&X_AMZN_TRACE_ID, &format!("Root={ROOT}"))]).unwrap();
        assert_eq!(xray.trace_id, "5759e988bd862e3fe1be46a994272793");
        assert_eq!(xray.traceparent, None, "an invalid traceparent is not echoed");
        assert_eq!(ids(&[(&TRACEPARENT, "00-x")]), None);
        assert_eq!(ids(&[]), None);
    }
}

//! The JSON format: one flat object per line, `timestamp`, `level`,
//! `target`, the request's fields (`request_id`, `method`, `route`, `path`,
//! `dimension_id`: `request.rs`), the fields of every enclosing span, then
//! the event's own (`message`, …).
//! Strings are JSON-escaped, and beyond what JSON requires, every
//! [`must_escape`] character (DEL, C1, bidi, U+2028/U+2029) is written as
//! `\uXXXX` too: the line parses to the same values, but no raw control
//! reaches a terminal or a viewer that splits lines at U+2028.

use super::escape::must_escape;
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;
use std::io;
use tracing::field::{Field, Visit};
use tracing::span::Record;
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// One JSON object per event with span fields merged in (inner spans win,
/// the event's own fields win over both).
#[derive(Debug, Clone, Copy, Default)]
pub struct FlatJson;

impl<S, N> FormatEvent<S, N> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        let now = humantime::format_rfc3339_micros(std::time::SystemTime::now());
        line.insert("timestamp".into(), now.to_string().into());
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let Some(fields) = extensions.get::<FormattedFields<N>>() else { continue };
                if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields) {
                    line.extend(fields);
                }
            }
        }
        if !event.is_root() {
            super::request::with_current(|r| {
                line.insert("method".into(), r.method.as_str().into());
                line.insert("route".into(), r.route.into());
                line.insert("path".into(), r.uri.path().into());
                line.insert("request_id".into(), r.request_id().into());
                if let Some(id) = r.dimension_id() {
                    line.insert("dimension_id".into(), id.into());
                }
            });
        }
        event.record(&mut Fields(&mut line));
        writeln!(writer, "{}", to_line(&Value::Object(line))?)
    }
}

/// The fields of spans in the JSON format: a JSON object, which a field
/// recorded later (`dimension_id`) extends in place. tracing's `JsonFields`
/// parses the object and writes it again for that, on every request.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonSpanFields;

impl<'w> FormatFields<'w> for JsonSpanFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        writer.write_str(&object(fields)?)
    }

    fn add_fields(&self, current: &'w mut FormattedFields<Self>, fields: &Record<'_>) -> fmt::Result {
        let more = object(fields)?;
        if more == "{}" {
            return Ok(());
        }
        let had = current.fields.trim_end().strip_suffix('}').map(|s| s.trim_end().len());
        match had {
            // `{` alone: no field yet.
            Some(end) if end > 1 => {
                current.fields.truncate(end);
                current.fields.push(',');
                current.fields.push_str(&more[1..]);
            }
            _ => current.fields = more,
        }
        Ok(())
    }
}

/// `fields` as a compact JSON object, written as they are visited (a span
/// is made on every request: no map to build and serialize).
fn object<R: RecordFields>(fields: R) -> Result<String, fmt::Error> {
    let mut object = Object { out: Vec::with_capacity(128), ok: true };
    object.out.push(b'{');
    fields.record(&mut object);
    object.out.push(b'}');
    if !object.ok {
        return Err(fmt::Error);
    }
    String::from_utf8(object.out).map_err(|_| fmt::Error)
}

/// Writes each field as `"name":value` into a JSON object.
struct Object {
    out: Vec<u8>,
    ok: bool,
}

impl Object {
    fn field<T: Serialize + ?Sized>(&mut self, field: &Field, value: &T) {
        if self.out.len() > 1 {
            self.out.push(b',');
        }
        let mut serializer = serde_json::Serializer::with_formatter(&mut self.out, Escaping);
        let written = field.name().serialize(&mut serializer).is_ok();
        self.out.push(b':');
        let mut serializer = serde_json::Serializer::with_formatter(&mut self.out, Escaping);
        self.ok &= written && value.serialize(&mut serializer).is_ok();
    }
}

impl Visit for Object {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.field(field, &super::round(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, &value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, &value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, &value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.field(field, &value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, &format!("{value:?}"));
    }
}

/// `value` as compact JSON with [`must_escape`] characters as `\uXXXX`.
fn to_line(value: &Value) -> Result<String, fmt::Error> {
    let mut out = Vec::with_capacity(256);
    value.serialize(&mut serde_json::Serializer::with_formatter(&mut out, Escaping)).map_err(|_| fmt::Error)?;
    String::from_utf8(out).map_err(|_| fmt::Error)
}

/// serde_json's compact output, escaping more than JSON must.
struct Escaping;

impl serde_json::ser::Formatter for Escaping {
    /// `fragment` is string content that JSON itself need not escape (serde
    /// has escaped quotes, backslashes and C0 already).
    fn write_string_fragment<W: ?Sized + io::Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        let mut rest = fragment;
        while let Some(at) = rest.find(must_escape) {
            let (clean, tail) = rest.split_at(at);
            writer.write_all(clean.as_bytes())?;
            let mut chars = tail.chars();
            if let Some(c) = chars.next() {
                // Every escaped character is in the BMP: four hex digits.
                write!(writer, "\\u{:04x}", u32::from(c))?;
            }
            rest = chars.as_str();
        }
        writer.write_all(rest.as_bytes())
    }
}

/// Records an event's fields into a JSON map.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), super::round(value).into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lines_parse_back_to_the_same_values_without_raw_controls() {
        let hostile = "a\nb\"c\\d\u{7f}e\u{85}f\u{9b}g\u{2028}h\u{2029}i\u{202e}j\u{61c}k🙂";
        let value = json!({"path": hostile, "n": 1.5});
        let line = to_line(&value).unwrap();
        assert!(!line.chars().any(must_escape), "{line}");
        assert!(line.contains(r"e\u0085f\u009bg\u2028h\u2029i\u202ej\u061ck🙂"), "{line}");
        assert_eq!(serde_json::from_str::<Value>(&line).unwrap(), value);
    }

    #[test]
    fn a_span_field_recorded_later_extends_the_object() {
        use tracing_subscriber::layer::SubscriberExt as _;
        let (writer, lines) = Capture::new();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer().fmt_fields(JsonSpanFields).event_format(FlatJson).with_writer(writer),
        );
        tracing::subscriber::with_default(subscriber, || {
            let hostile = "/x\n\"\u{2028}\u{9b}";
            let span = tracing::info_span!(
                "http",
                route = hostile,
                ms = 0.1234,
                ok = true,
                dimension_id = tracing::field::Empty
            );
            span.record("dimension_id", "web");
            span.in_scope(|| tracing::info!(n = 1, "inside"));
        });
        let raw = lines.lock().unwrap().clone();
        assert!(!raw.trim_end().chars().any(|c| c == '\n' || must_escape(c)), "{raw}");
        let line: Value = serde_json::from_str(raw.trim()).unwrap();
        assert_eq!(line["route"], "/x\n\"\u{2028}\u{9b}", "{line}");
        assert_eq!(line["ms"], 0.123, "{line}");
        assert_eq!(line["ok"], true, "{line}");
        assert_eq!(line["dimension_id"], "web", "{line}");
        assert_eq!(line["n"], 1, "{line}");
    }

    /// Collects what the subscriber writes.
    #[derive(Clone)]
    struct Capture(std::sync::Arc<std::sync::Mutex<String>>);

    impl Capture {
        fn new() -> (Self, std::sync::Arc<std::sync::Mutex<String>>) {
            let out = std::sync::Arc::default();
            (Self(std::sync::Arc::clone(&out)), out)
        }
    }

    impl io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().push_str(&String::from_utf8_lossy(buf));
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
        type Writer = Self;

        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    #[test]
    fn floats_are_rounded_to_three_decimals() {
        assert_eq!(super::super::round(0.142_123), 0.142);
        assert_eq!(super::super::round(12.0), 12.0);
        assert!(super::super::round(f64::NAN).is_nan());
    }
}

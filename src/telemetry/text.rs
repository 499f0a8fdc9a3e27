//! The text format's fields, of events and of spans: the message bare, then
//! `name=value`, as tracing's default writes them (strings quoted, `%`
//! values as they display), except that every value, the message too, goes
//! through [`Escaping`]: tracing's default writes a `%` field raw. And the
//! text format's lines, laid out as tracing's default `Full` format lays
//! them out, with the request's fields (`request.rs`) as an `http{…}:`
//! span in front.

use super::escape::Escaping;
use super::request;
use std::fmt::{self, Write as _};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// A text line: `TIMESTAMP LEVEL http{REQUEST}:SPANS: TARGET: FIELDS`, in
/// colour on a terminal.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextLine;

impl<S, N> FormatEvent<S, N> for TextLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        let ansi = writer.has_ansi_escapes();
        let paint = |code: &'static str| if ansi { code } else { "" };
        let (dim, bold, reset) = (paint("\x1b[2m"), paint("\x1b[1m"), paint("\x1b[0m"));
        let level = match *meta.level() {
            Level::ERROR => paint("\x1b[31m"),
            Level::WARN => paint("\x1b[33m"),
            Level::INFO => paint("\x1b[32m"),
            Level::DEBUG => paint("\x1b[34m"),
            Level::TRACE => paint("\x1b[35m"),
        };
        let now = humantime::format_rfc3339_micros(std::time::SystemTime::now());
        write!(writer, "{dim}{now}{reset} {level}{:>5}{reset} ", meta.level().as_str())?;
        let mut spans = false;
        if !event.is_root() {
            request::with_current(|r| {
                spans = true;
                write!(writer, "{bold}http{{{reset}method=")?;
                write!(
                    Escaping(&mut writer),
                    "{} route={:?} path={} request_id={:?}",
                    r.method,
                    r.route,
                    r.uri.path(),
                    r.request_id()
                )?;
                if let Some(id) = r.dimension_id() {
                    write!(Escaping(&mut writer), " dimension_id={id}")?;
                }
                write!(writer, "{bold}}}{reset}{dim}:{reset}")
            })
            .transpose()?;
        }
        for span in ctx.event_scope().into_iter().flat_map(|scope| scope.from_root()) {
            spans = true;
            write!(writer, "{bold}{}{reset}", span.metadata().name())?;
            if let Some(fields) = span.extensions().get::<FormattedFields<N>>().filter(|f| !f.is_empty()) {
                write!(writer, "{bold}{{{reset}{fields}{bold}}}{reset}")?;
            }
            write!(writer, "{dim}:{reset}")?;
        }
        if spans {
            writer.write_char(' ')?;
        }
        write!(writer, "{dim}{}:{reset} ", meta.target())?;
        ctx.format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Formats fields for the text log, escaped.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextFields;

impl<'w> FormatFields<'w> for TextFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = Visitor { writer, first: true, result: Ok(()) };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct Visitor<'w> {
    writer: Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl Visitor<'_> {
    fn write(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if self.result.is_err() {
            return;
        }
        let separator = if std::mem::take(&mut self.first) { "" } else { " " };
        let name = field.name();
        self.result = match name {
            "message" => write!(self.writer, "{separator}"),
            name => write!(self.writer, "{separator}{}=", name.strip_prefix("r#").unwrap_or(name)),
        }
        .and_then(|()| write!(Escaping(&mut self.writer), "{value}"));
    }
}

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.write(field, format_args!("{value}"));
        } else {
            self.write(field, format_args!("{value:?}"));
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.write(field, format_args!("{:?}", super::round(value)));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.write(field, format_args!("{value:?}"));
    }
}

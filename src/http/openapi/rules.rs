//! The rules of `/openapi.json` that utoipa's attributes cannot say: what
//! a PATCH body must hold besides its fields (`Patch::from_json`), the
//! durations `?wait=` takes (humantime's `parse_duration` up to the
//! server's longest wait), the `If-Match` values crest reads, and the
//! security schemes with each operation's requirement (`http::auth`).

use serde_json::{Map, Value, json};
use std::time::Duration;

/// The characters Rust's `char::is_whitespace` (and so humantime) skips.
const SPACE: &str = r"[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";

/// humantime 2's units (`Unit::from_str` in `parse_duration`), each with
/// its length in nanoseconds.
const UNITS: [(u64, &[&str]); 10] = [
    (1, &["nanos", "nsec", "ns"]),
    (1_000, &["usec", "us", "\u{b5}s"]),
    (1_000_000, &["millis", "msec", "ms"]),
    (1_000_000_000, &["seconds", "second", "secs", "sec", "s"]),
    (60_000_000_000, &["minutes", "minute", "mins", "min", "m"]),
    (3_600_000_000_000, &["hours", "hour", "hrs", "hr", "h"]),
    (86_400_000_000_000, &["days", "day", "d"]),
    (604_800_000_000_000, &["weeks", "week", "wks", "wk", "w"]),
    (2_630_016_000_000_000, &["months", "month", "M"]),
    (31_557_600_000_000_000, &["years", "year", "yrs", "yr", "y"]),
];

/// A regex for the decimal numbers 0 to `max`, without leading zeros.
fn up_to(max: u64) -> String {
    let digits: Vec<u8> = max.to_string().bytes().map(|b| b - b'0').collect();
    let class = |low: u8, high: u8| if low == high { low.to_string() } else { format!("[{low}-{high}]") };
    let any = |n: usize| match n {
        0 => String::new(),
        1 => "[0-9]".to_owned(),
        n => format!("[0-9]{{{n}}}"),
    };
    let [first, ..] = digits[..] else { return "0".to_owned() };
    if digits.len() == 1 {
        return class(0, first);
    }
    // 0; the shorter numbers; then by the first digit below max's, after its prefix.
    let shorter = match digits.len() - 2 {
        0 => String::new(),
        n => format!("[0-9]{{0,{n}}}"),
    };
    let mut alternatives = vec!["0".to_owned(), format!("[1-9]{shorter}")];
    for (i, &digit) in digits.iter().enumerate() {
        let low = u8::from(i == 0);
        if digit > low {
            let prefix: String = digits[..i].iter().map(u8::to_string).collect();
            alternatives.push(format!("{prefix}{}{}", class(low, digit - 1), any(digits.len() - 1 - i)));
        }
    }
    alternatives.push(max.to_string());
    alternatives.join("|")
}

/// The `?wait=` values crest takes: `0`, or one whole number of one unit,
/// at most `max`, with leading zeros and whitespace as humantime allows.
/// (humantime also adds up several numbers, `1s 500ms`, and takes
/// fractions, `0.5s`: crest accepts those too; the pattern, safely,
/// does not.)
pub fn duration_up_to(max: Duration) -> String {
    let max = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    let numbers: Vec<String> = UNITS
        .iter()
        .map(|(length, names)| format!("0*(?:{}){SPACE}*(?:{})", up_to(max / length), names.join("|")))
        .collect();
    // Not `0` and a newline, which Python's `$` would let through.
    format!(r"^(?:0(?!\n)|{SPACE}*(?:{}){SPACE}*)$", numbers.join("|"))
}

/// The description of `?wait=`, with the server's longest wait.
pub fn wait_description(max: Duration) -> String {
    format!(
        "Long-poll: answer as soon as the revision passes `after`, or with the current state after this \
         long: 0, or a whole number of one unit (ns, us, ms, s, m, h, d, w, M, y, spelled as humantime \
         does), e.g. 25s or 500ms; at most {} here (request_timeout less 1 s).",
        humantime::format_duration(max)
    )
}

/// An `If-Match` value crest reads (`extract::IfMatch`): `*`, or a quoted
/// revision (a u64, as Rust parses one) — the header's visible ASCII,
/// trimmed.
pub fn if_match() -> String {
    format!(r#"^[ \t]*(?:\*|"\+?0*(?:{})")[ \t]*$"#, up_to(u64::MAX))
}

fn extend(object: Option<&mut Value>, with: Value) {
    if let (Some(Value::Object(object)), Value::Object(with)) = (object, with) {
        object.extend(with);
    }
}

/// The schemas' rules beyond their fields: a PATCH body needs one field
/// crest knows (others are ignored), and `failureReason` comes with
/// `scalingStatus: Failed`; in demo mode (`demo`) it holds desiredCapacity
/// and none of the scaler's fields. The resource's description names the
/// README.
pub fn schemas(doc: &mut Value, demo: bool) {
    let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) else { return };
    // utoipa 5.5 writes a `min_properties` attribute out as maxProperties.
    let patch = if demo {
        let scaler = [
            json!({"required": ["actualCapacity"]}),
            json!({"required": ["scalingStatus"]}),
            json!({"required": ["failureReason"]}),
        ];
        json!({
            "minProperties": 1,
            "required": ["desiredCapacity"],
            "not": {"anyOf": scaler},
            "description": "A PATCH body: this server runs in demo mode, where it is the scaler itself, so a \
                body sets desiredCapacity (what AAS sends) and carries none of the scaler's fields \
                (actualCapacity, scalingStatus, failureReason). Unknown fields are ignored.",
        })
    } else {
        let failed = json!({"required": ["scalingStatus"], "properties": {"scalingStatus": {"const": "Failed"}}});
        json!({
            "minProperties": 1,
            "anyOf": [{"required": ["desiredCapacity"]}, {"required": ["actualCapacity"]},
                {"required": ["scalingStatus"]}],
            "if": {"required": ["failureReason"]},
            "then": failed,
        })
    };
    extend(schemas.get_mut("PatchRequest"), patch);
    // Its doc comment points to a file outside the repository.
    let dimension = json!({"description": "One scalable target dimension, as AAS reads it: these fields in this \
        order (README, top), capacities as JSON doubles, failureReason only with scalingStatus Failed."});
    extend(schemas.get_mut("Dimension"), dimension);
}

/// The security schemes, and each operation's requirement: a bearer token
/// or a trusted client certificate, except on the paths `gate::is_public`
/// serves to anyone (health, ACME tokens). Secured operations document
/// their 401 and 403.
pub fn security(doc: &mut Value) {
    let schemes = json!({
        "bearerAuth": {"type": "http", "scheme": "bearer",
            "description": "Authorization: Bearer <token>, one of the tokens crest is configured with (its role decides)"},
        "mutualTLS": {"type": "mutualTLS",
            "description": "A client certificate crest trusts on its HTTPS listener (pinned: role aas; CA-issued: by subject)"},
    });
    if let Some(components) = doc.get_mut("components").and_then(Value::as_object_mut) {
        components.insert("securitySchemes".into(), schemes);
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for (path, item) in paths.iter_mut() {
        let public = super::super::gate::is_public(&path.replace("{token}", "token"));
        for operation in item.as_object_mut().into_iter().flat_map(Map::values_mut).filter_map(Value::as_object_mut) {
            if public {
                operation.insert("security".into(), json!([]));
                continue;
            }
            operation.insert("security".into(), json!([{"bearerAuth": []}, {"mutualTLS": []}]));
            let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) else { continue };
            for (status, what) in [
                ("401", "Authentication is on and the request has no valid bearer token or trusted client certificate"),
                (
                    "403",
                    "The caller's role may not do this (or, on HTTPS that verifies certificates without tokens, \
                    the connection has no trusted client certificate)",
                ),
            ] {
                responses.entry(status).or_insert_with(|| {
                    json!({"description": what, "content": {"application/json":
                        {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}})
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_to_lists_every_number_to_max() {
        assert_eq!(up_to(0), "0");
        assert_eq!(up_to(7), "[0-7]");
        assert_eq!(up_to(10), "0|[1-9]|10");
        assert_eq!(up_to(29), "0|[1-9]|1[0-9]|2[0-8]|29");
        assert_eq!(up_to(100), "0|[1-9][0-9]{0,1}|100");
        assert_eq!(up_to(2041), "0|[1-9][0-9]{0,2}|1[0-9]{3}|20[0-3][0-9]|2040|2041");
    }
}

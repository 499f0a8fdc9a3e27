//! The size of a request head, judged by crest so that an oversized one is
//! answered like every other error: JSON `{"message"}` that says what to
//! fix. hyper has limits of its own, set above these (`net`): a head beyond
//! them never reaches crest and gets hyper's bare answer with an empty
//! body (documented in the README's error table).

use super::error::ApiError;
use crate::domain::id::MAX_ID_BYTES;
use axum::http::Request;

/// The longest request target (path and query, as sent).
pub const MAX_TARGET_BYTES: usize = 8 * 1024;
/// The most header fields in one request.
pub const MAX_HEADER_FIELDS: usize = 100;
/// The largest header section: names, values and 4 bytes a field (`: `,
/// CRLF), which is the HTTP/1.1 wire size and close to HTTP/2's count.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Ok when the head is within crest's limits.
///
/// # Errors
/// 414 for a long target, 431 for too many or too large header fields;
/// the message names the limit and the size found.
pub fn check<B>(req: &Request<B>) -> Result<(), ApiError> {
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_TARGET_BYTES {
        return Err(ApiError::UriTooLong(format!(
            "the request target (path and query) is {target} bytes; the limit is {MAX_TARGET_BYTES}: \
             ids are at most {MAX_ID_BYTES} bytes, so check the URL"
        )));
    }
    let headers = req.headers();
    if headers.len() > MAX_HEADER_FIELDS {
        return Err(ApiError::HeadersTooLarge(format!(
            "the request has {} header fields; the limit is {MAX_HEADER_FIELDS}: send fewer headers",
            headers.len()
        )));
    }
    let bytes: usize = headers.iter().map(|(n, v)| n.as_str().len() + v.len() + 4).sum();
    if bytes > MAX_HEADER_BYTES {
        return Err(ApiError::HeadersTooLarge(format!(
            "the request's header fields are {bytes} bytes; the limit is {MAX_HEADER_BYTES}: \
             send smaller headers (cookies and long tokens are the usual cause)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(req: &Request<()>) -> u16 {
        check(req).err().map_or(200, |e| e.status().as_u16())
    }

    #[test]
    fn limits_are_inclusive_and_answer_414_or_431() {
        let path = |n: usize| format!("/{}", "a".repeat(n - 1));
        assert_eq!(status(&Request::get(path(MAX_TARGET_BYTES)).body(()).unwrap()), 200);
        assert_eq!(status(&Request::get(path(MAX_TARGET_BYTES + 1)).body(()).unwrap()), 414);
        let mut fields = Request::get("/").body(()).unwrap();
        for i in 0..MAX_HEADER_FIELDS {
            fields
                .headers_mut()
                .insert(format!("x-{i}").parse::<axum::http::HeaderName>().unwrap(), "v".parse().unwrap());
        }
        assert_eq!(status(&fields), 200);
        fields.headers_mut().insert("x-one-more", "v".parse().unwrap());
        assert_eq!(status(&fields), 431);
        let big = |n: usize| Request::get("/").header("x", "a".repeat(n - 5)).body(()).unwrap();
        assert_eq!(status(&big(MAX_HEADER_BYTES)), 200);
        assert_eq!(status(&big(MAX_HEADER_BYTES + 1)), 431);
    }
}

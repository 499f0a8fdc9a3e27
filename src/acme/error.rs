//! What went wrong in an ACME attempt, in words. A request to the CA that
//! gets no answer says which directory it could not reach and why, from the
//! error's source chain (`cause`): instant-acme itself only says "client
//! error (Connect)". An untrusted CA certificate points at `acme_ca_root`.

use super::AcmeOptions;
use crate::cause::{self, Kind};

/// What went wrong in one ACME attempt; the text is logged and kept.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AcmeError(pub(super) String);

/// `what: e`, for local failures (the store, a stored file, a key).
pub(super) fn err<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> AcmeError + '_ {
    move |e| AcmeError(format!("{what}: {e}"))
}

/// For a request to the CA: a connection failure names the directory and
/// its cause, with what to change; anything else (the CA's own answer) is
/// `what: ` and the error's messages.
pub(super) fn ca_err<'a>(what: &'a str, config: &'a AcmeOptions) -> impl Fn(instant_acme::Error) -> AcmeError + 'a {
    move |e| {
        let cause = cause::of(&e);
        let hint = match (cause.kind, &config.ca_root) {
            (Kind::Untrusted, None) => {
                "; if the CA's HTTPS certificate comes from a private root (Pebble, a company CA), name that \
                 root with acme_ca_root (--acme-ca-root, CREST_ACME_CA_ROOT)"
            }
            (Kind::Untrusted, Some(_)) => {
                "; acme_ca_root (--acme-ca-root, CREST_ACME_CA_ROOT) is not the root of the CA's HTTPS certificate"
            }
            (Kind::Refused | Kind::TimedOut, _) => "; check acme_directory (--acme-directory, CREST_ACME_DIRECTORY)",
            _ => "",
        };
        match cause.kind {
            Kind::Other => AcmeError(format!("{what}: {cause}")),
            _ => AcmeError(format!("{what}: cannot reach the ACME directory {}: {cause}{hint}", config.directory)),
        }
    }
}

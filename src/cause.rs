//! Why a connection failed, in words. Client libraries say "error sending
//! request" or "client error (Connect)" and keep the reason in their
//! error's `source()` chain: a rustls error (an untrusted certificate, a
//! handshake refused) or an I/O error kind (refused, timed out). This walks
//! the chain, and into every `io::Error` (whose `source()` skips the error
//! it wraps), and names the cause; else it joins the chain's messages. A
//! leaf: the client CLI, ACME and the Postgres store use it.

use rustls::{AlertDescription, CertificateError};
use std::error::Error;
use std::fmt;
use std::io;

/// What kind of failure the chain ends in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The peer's certificate does not chain to a trusted root.
    Untrusted,
    /// Another TLS failure (a bad certificate, a refused handshake, a peer
    /// that does not speak TLS).
    Tls,
    /// Nothing listens at the address.
    Refused,
    /// No answer in time.
    TimedOut,
    /// Anything else: the chain's messages.
    Other,
}

/// A failure's cause, as a short phrase (`certificate not trusted: unknown
/// issuer`, `connection refused`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub kind: Kind,
    pub text: String,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The cause of `e`: a TLS error anywhere in the chain first, then an I/O
/// error kind, else the messages of the whole chain joined with `: `.
pub fn of(e: &(dyn Error + 'static)) -> Cause {
    let mut chain = Vec::new();
    collect(e, &mut chain);
    if let Some(cause) = chain.iter().find_map(|e| e.downcast_ref::<rustls::Error>().map(tls)) {
        return cause;
    }
    if let Some(cause) = chain.iter().find_map(|e| e.downcast_ref::<io::Error>().and_then(io_kind)) {
        return cause;
    }
    Cause { kind: Kind::Other, text: joined(&chain) }
}

/// `e` and everything under it, including what `io::Error`s wrap.
fn collect<'a>(e: &'a (dyn Error + 'static), out: &mut Vec<&'a (dyn Error + 'static)>) {
    let mut next = Some(e);
    while let Some(err) = next {
        if out.len() > 32 {
            return;
        }
        out.push(err);
        if let Some(inner) = err.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            collect(inner, out);
        }
        next = err.source();
    }
}

/// Messages of client libraries that say only that a request failed.
const WRAPPERS: [&str; 3] = ["error sending request", "client error (", "tcp connect error"];

/// The messages of the chain, each one that adds something; the wrappers'
/// are left out when something else remains.
fn joined(chain: &[&(dyn Error + 'static)]) -> String {
    let mut out: Vec<String> = Vec::new();
    for e in chain {
        let text = e.to_string();
        if text.is_empty() || out.iter().any(|seen| seen.contains(&text)) {
            continue;
        }
        out.push(text);
    }
    let informative: Vec<&str> =
        out.iter().map(String::as_str).filter(|t| !WRAPPERS.iter().any(|w| t.starts_with(w))).collect();
    if informative.is_empty() { out.join(": ") } else { informative.join(": ") }
}

fn io_kind(e: &io::Error) -> Option<Cause> {
    let (kind, text) = match e.kind() {
        io::ErrorKind::ConnectionRefused => (Kind::Refused, "connection refused"),
        io::ErrorKind::TimedOut => (Kind::TimedOut, "connection timed out"),
        io::ErrorKind::ConnectionReset => (Kind::Other, "connection reset by the peer"),
        io::ErrorKind::HostUnreachable => (Kind::Other, "host unreachable"),
        io::ErrorKind::NetworkUnreachable => (Kind::Other, "network unreachable"),
        io::ErrorKind::AddrNotAvailable => (Kind::Other, "address not available"),
        _ => return None,
    };
    Some(Cause { kind, text: text.into() })
}

fn tls(e: &rustls::Error) -> Cause {
    let other = |text: String| Cause { kind: Kind::Tls, text };
    match e {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            Cause { kind: Kind::Untrusted, text: "certificate not trusted: unknown issuer".into() }
        }
        rustls::Error::InvalidCertificate(CertificateError::BadSignature) => {
            other("certificate not trusted: bad signature".into())
        }
        rustls::Error::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. }) => {
            other(format!("certificate expired ({e})"))
        }
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => other(format!("certificate not valid for this host name ({e})")),
        rustls::Error::InvalidCertificate(c) => other(format!("certificate rejected: {c}")),
        rustls::Error::AlertReceived(AlertDescription::CertificateRequired) => {
            other("the server requires a client certificate".into())
        }
        rustls::Error::AlertReceived(
            AlertDescription::BadCertificate | AlertDescription::UnknownCA | AlertDescription::CertificateUnknown,
        ) => other("the server rejected the client certificate".into()),
        rustls::Error::InvalidMessage(_) => other("the peer does not speak TLS (a plain HTTP port?)".into()),
        e => other(format!("TLS error: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapper(Box<dyn Error + Send + Sync>);

    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("client error (Connect)")
        }
    }

    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&*self.0)
        }
    }

    #[test]
    fn finds_the_rustls_error_inside_an_io_error() {
        let tls = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let e = Wrapper(Box::new(io::Error::new(io::ErrorKind::InvalidData, tls)));
        let cause = of(&e);
        assert_eq!(cause.kind, Kind::Untrusted);
        assert_eq!(cause.text, "certificate not trusted: unknown issuer");
    }

    #[test]
    fn names_the_io_kind_else_joins_the_chain() {
        let e = Wrapper(Box::new(io::Error::from(io::ErrorKind::ConnectionRefused)));
        assert_eq!(of(&e).text, "connection refused");
        let e = Wrapper(Box::new(io::Error::other("dns error: no such host")));
        assert_eq!(of(&e), Cause { kind: Kind::Other, text: "dns error: no such host".into() });
        let e = Wrapper(Box::new(io::Error::other("")));
        assert_eq!(of(&e).text, "client error (Connect)");
    }
}

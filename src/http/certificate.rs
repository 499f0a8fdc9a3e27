//! The client certificate of a request, judged now: the certificate its
//! connection presented at the handshake, against the trust settings in
//! force at this request (`tls::TlsState::standing`): still pinned or
//! issued by a current CA, and within its validity dates by the server's
//! clock. A certificate no longer trusted counts as none: the gate refuses
//! it (403) and authentication does not take it (401), each with the
//! reason (`certificate_untrusted`, `certificate_expired`, …) in the log.

use super::AppState;
use crate::auth::Role;
use crate::net::{ClientIdentity, ConnInfo};
use crate::tls::Standing;

/// The connection's client certificate and how it stands now; None when
/// the connection has none.
pub fn presented<'a>(state: &AppState, conn: Option<&'a ConnInfo>) -> Option<(&'a ClientIdentity, Standing)> {
    let client = conn?.client.as_ref()?;
    let standing = state.tls.as_ref().map_or(Standing::Untrusted, |t| t.standing(client, state.clock.now()));
    Some((client, standing))
}

/// The role of a certificate trusted now: a `--cert-role` mapping (by
/// SHA-256 or parsed subject), else `aas` when pinned, else the default.
pub fn role(state: &AppState, client: &ClientIdentity, standing: Standing) -> Role {
    state.auth.certificate_role(&client.name, &client.sha256, standing == Standing::Pinned)
}

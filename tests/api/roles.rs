//! Access control: every role × every operation, with bearer tokens (plain
//! HTTP) and with client certificates (real TLS: a pinned API Gateway
//! certificate is `aas`, CA-issued certificates mapped by subject).

use crate::certs::{Ca, api_gateway_style, valid_for};
use crate::helpers::{StoreKind, spawn_app};
use crate::tls::Files;
use crest::auth::{AuthConfig, CertMatch, Role, Token, hash};
use crest::domain::Mode;
use serde_json::{Value, json};

const DIM: &str = "/v1/scalableTargetDimensions/r1";

fn secret(role: Role) -> String {
    format!("{}-secret-token-0123456789", role.as_str())
}

/// An admin token every matrix has, to (re)create the dimension.
const ADMIN_SECRET: &str = "matrix-setup-token-0123456789";

fn tokens() -> AuthConfig {
    AuthConfig {
        tokens: Role::ALL
            .iter()
            .map(|r| Token { name: format!("{r}-token"), role: *r, sha256: hash(&secret(*r)) })
            .chain([Token { name: "setup".into(), role: Role::Admin, sha256: hash(ADMIN_SECRET) }])
            .collect(),
        ..AuthConfig::default()
    }
}

/// The operations of the matrix: (name, method, path, body). The SSE
/// stream (`/watch`) is checked separately: its body never ends.
const OPS: [(&str, &str, &str, Option<&str>); 9] = [
    ("get", "GET", DIM, None),
    ("set desired", "PATCH", DIM, Some(r#"{"desiredCapacity": 3.0}"#)),
    ("report", "PATCH", DIM, Some(r#"{"actualCapacity": 3.0, "scalingStatus": "Successful"}"#)),
    ("history", "GET", "/v1/scalableTargetDimensions/r1/history", None),
    ("list", "GET", "/v1/scalableTargetDimensions", None),
    ("register", "PUT", DIM, Some(r#"{"maxCapacity": 100.0}"#)),
    ("delete", "DELETE", DIM, None),
    ("metrics", "GET", "/metrics", None),
    ("openapi", "GET", "/openapi.json", None),
];

/// The status each role gets for each operation (in `OPS` order); 200
/// stands for any 2xx.
fn expected(role: Option<Role>) -> [u16; 9] {
    match role {
        None => [401; 9],
        Some(Role::Aas) => [200, 200, 403, 200, 403, 403, 403, 200, 200],
        Some(Role::Scaler) => [200, 403, 200, 200, 403, 403, 403, 200, 200],
        Some(Role::Admin) => [200; 9],
        Some(Role::Read) => [200, 403, 403, 200, 200, 403, 403, 200, 200],
    }
}

async fn send(
    client: &reqwest::Client,
    base: &str,
    op: &(&str, &str, &str, Option<&str>),
    token: Option<&str>,
) -> (u16, Value) {
    let (_, method, path, body) = op;
    let mut req = client.request(method.parse().unwrap(), format!("{base}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b.to_string());
    }
    let r = req.send().await.unwrap();
    let status = match r.status().as_u16() {
        200..=299 => 200,
        other => other,
    };
    let www = r.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    let text = r.text().await.unwrap();
    if status == 401 {
        assert_eq!(www.as_deref(), Some("Bearer realm=\"crest\""), "401 says how to authenticate");
    }
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn matrix(base: &str, client: &reqwest::Client, who: &str, role: Option<Role>, token: Option<&str>) {
    for (op, want) in OPS.iter().zip(expected(role)) {
        // The dimension exists for each operation (delete removed it last round).
        let mut make = client.get(format!("{base}{DIM}"));
        make = make.bearer_auth(ADMIN_SECRET);
        make.send().await.unwrap();
        let (status, body) = send(client, base, op, token).await;
        assert_eq!(status, want, "{who} {}: {body}", op.0);
        if status == 403 {
            let m = body["message"].as_str().unwrap();
            assert!(m.contains("needs role") && m.contains(&format!("this caller has role {}", role.unwrap())), "{m}");
        }
        if status == 401 {
            assert!(body["message"].as_str().unwrap().contains("Bearer"), "{body}");
        }
    }
}

/// Tokens on plain HTTP: the whole matrix, unknown tokens and schemes, and
/// health without credentials. The history names the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_matrix_with_tokens() {
    let app = spawn_app(StoreKind::Sqlite, |c| {
        c.mode = Mode::Production;
        c.auth = tokens();
    })
    .await;
    let base = app.url("");
    for role in Role::ALL {
        matrix(&base, &app.client, role.as_str(), Some(role), Some(&secret(role))).await;
    }
    matrix(&base, &app.client, "anonymous", None, None).await;
    matrix(&base, &app.client, "unknown token", None, Some("not-a-known-token-at-all")).await;
    let r = app.client.get(app.url(DIM)).header("authorization", "Basic YTpi").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let b: Value = r.json().await.unwrap();
    assert!(b["message"].as_str().unwrap().contains("other schemes are not accepted"), "{b}");
    for p in ["/healthz", "/readyz"] {
        assert_eq!(app.client.get(app.url(p)).send().await.unwrap().status(), 200, "{p}");
    }
    // The SSE stream: any role, no anonymous (headers only: the body never ends).
    let watch = app.url("/v1/scalableTargetDimensions/watch");
    assert_eq!(app.client.get(&watch).send().await.unwrap().status(), 401);
    for role in Role::ALL {
        let r = app.client.get(&watch).bearer_auth(secret(role)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{role}");
    }
    // The history says which token changed what.
    let h = app.url("/v1/scalableTargetDimensions/h");
    let r = app.client.patch(&h).bearer_auth(secret(Role::Aas)).json(&json!({"desiredCapacity": 4.0}));
    assert_eq!(r.send().await.unwrap().status(), 200);
    let r = app.client.patch(&h).bearer_auth(secret(Role::Scaler)).json(&json!({"scalingStatus": "InProgress"}));
    assert_eq!(r.send().await.unwrap().status(), 200);
    let page: Value = app
        .client
        .get(format!("{h}/history"))
        .bearer_auth(secret(Role::Read))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let clients: Vec<&str> =
        page["entries"].as_array().unwrap().iter().filter_map(|e| e["source"]["client"].as_str()).collect();
    assert_eq!(clients, ["token:scaler-token", "token:aas-token"], "{page}");
    assert!(!page.to_string().contains("secret-token"), "no token in the history");
    app.stop().await;
}

/// Client certificates over real TLS: the pinned API Gateway certificate
/// is `aas`; CA-issued ones get their role by subject (or the default);
/// tokens work over HTTPS without a certificate; neither is a 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_matrix_with_client_certificates() {
    let f = Files::new();
    let apigw = api_gateway_style("ApiGateway", valid_for(365));
    let (pin, _) = f.write(&apigw, "apigw");
    let client_ca = Ca::new("client CA");
    let ca_file = f.dir.path().join("client-ca.pem");
    std::fs::write(&ca_file, &client_ca.cert_pem).unwrap();
    let scaler = client_ca.client("scaler-1");
    let ops = client_ca.client("ops");
    let reader = client_ca.client("dashboard");
    let mut tls = f.tls(vec![pin], vec![ca_file]);
    tls.listen = "127.0.0.1:0".parse().unwrap();
    let app = spawn_app(StoreKind::Memory, |c| {
        c.mode = Mode::Production;
        c.tls = Some(tls);
        c.auth = AuthConfig {
            cert_roles: vec![
                (CertMatch::Subject("CN=scaler-1".parse().unwrap()), Role::Scaler),
                (CertMatch::Subject("CN=ops".parse().unwrap()), Role::Admin),
            ],
            cert_default_role: Some(Role::Read),
            ..tokens()
        };
    })
    .await;
    let addr = app.tls_addr.unwrap();
    let base = format!("https://localhost:{}", addr.port());
    for (who, pem, role) in [
        ("api gateway (pinned)", &apigw, Role::Aas),
        ("CN=scaler-1", &scaler, Role::Scaler),
        ("CN=ops", &ops, Role::Admin),
        ("CN=dashboard (default role)", &reader, Role::Read),
    ] {
        matrix(&base, &f.client(addr, Some(pem)), who, Some(role), None).await;
    }
    let anonymous = f.client(addr, None);
    matrix(&base, &anonymous, "no certificate, no token", None, None).await;
    matrix(&base, &anonymous, "scaler token over HTTPS", Some(Role::Scaler), Some(&secret(Role::Scaler))).await;
    // A token wins over the certificate it came with.
    let r = f.client(addr, Some(&apigw)).patch(format!("{base}{DIM}")).bearer_auth(secret(Role::Scaler));
    let r = r.json(&json!({"desiredCapacity": 5.0})).send().await.unwrap();
    assert_eq!(r.status(), 403);
    app.stop().await;
}

/// `--cert-role` subjects are parsed names, matched attribute by attribute
/// in the certificate's order: a single CN that reads `ops, O=Admins` is
/// not CN=ops followed by O=Admins, and neither is O=Admins followed by
/// CN=ops. The history names the caller with RFC 4514 escapes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_role_subjects_match_parsed_names_not_text() {
    use rcgen::DnType;
    let f = Files::new();
    let client_ca = Ca::new("client CA");
    let ca_file = f.dir.path().join("client-ca.pem");
    std::fs::write(&ca_file, &client_ca.cert_pem).unwrap();
    let forged = client_ca.client_named(&[(DnType::CommonName, "ops, O=Admins")]);
    let real = client_ca.client_named(&[(DnType::CommonName, "ops"), (DnType::OrganizationName, "Admins")]);
    let reversed = client_ca.client_named(&[(DnType::OrganizationName, "Admins"), (DnType::CommonName, "ops")]);
    let settings = crest::config::Settings {
        cert_role: vec!["CN=ops, O=Admins=admin".into()],
        cert_default_role: Some("aas".into()),
        ..crest::config::Settings::default()
    };
    let auth = crest::config::Config::from_settings(settings).unwrap().auth;
    let app = spawn_app(StoreKind::Memory, |c| {
        c.mode = Mode::Production;
        c.tls = Some(f.tls(vec![], vec![ca_file]));
        c.auth = auth;
    })
    .await;
    let addr = app.tls_addr.unwrap();
    let base = format!("https://localhost:{}", addr.port());
    let (forged_c, real_c, reversed_c) =
        (f.client(addr, Some(&forged)), f.client(addr, Some(&real)), f.client(addr, Some(&reversed)));

    // Registering needs admin: only the certificate with CN=ops, O=Admins has it.
    let register = |c: &reqwest::Client, id: &str| {
        c.put(format!("{base}/v1/scalableTargetDimensions/{id}")).json(&json!({"maxCapacity": 10.0})).send()
    };
    for (who, c) in [("a single CN \"ops, O=Admins\"", &forged_c), ("O=Admins, CN=ops (other order)", &reversed_c)] {
        let r = register(c, "forged").await.unwrap();
        let status = r.status();
        let b: Value = r.json().await.unwrap();
        assert_eq!(status, 403, "{who} must not be admin: {b}");
        assert_eq!(b["message"], "registering a dimension needs role admin; this caller has role aas", "{who}");
    }
    assert!(register(&real_c, "n1").await.unwrap().status().is_success(), "CN=ops, O=Admins is admin");

    // The default role (aas) may set desiredCapacity; the history names
    // the forged certificate unambiguously.
    let url = format!("{base}/v1/scalableTargetDimensions/n1");
    let r = forged_c.patch(&url).json(&json!({"desiredCapacity": 4.0})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = real_c.patch(&url).json(&json!({"desiredCapacity": 5.0})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let page: Value = real_c.get(format!("{url}/history")).send().await.unwrap().json().await.unwrap();
    let clients: Vec<&str> =
        page["entries"].as_array().unwrap().iter().filter_map(|e| e["source"]["client"].as_str()).collect();
    let sha = |pem: &crate::certs::Pem| {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        crest::fingerprint::Fingerprint::of(&CertificateDer::from_pem_slice(pem.cert.as_bytes()).unwrap())
    };
    assert_eq!(
        clients,
        [
            format!("CN=ops, O=Admins (sha256:{})", sha(&real)),
            format!(r"CN=ops\, O=Admins (sha256:{})", sha(&forged)),
            format!("CN=ops, O=Admins (sha256:{})", sha(&real)),
        ],
        "{page}"
    );
    app.stop().await;
}

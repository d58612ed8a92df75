//! The API stand-in honours impersonation as kube-apiserver does, since the
//! access proxy depends on it: only a user allowed `impersonate` may,
//! groups without a user are a bad request, and what follows sees the
//! impersonated user, groups and extra.

use crate::apiserver::kubectl;
use crate::support::apiserver::{ApiServer, ApiServerOptions};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

const IMPERSONATOR: &str = "system:serviceaccount:kaccess:proxy";

fn standin() -> ApiServer {
    ApiServer::start(ApiServerOptions {
        static_tokens: vec![
            ("may-token".into(), IMPERSONATOR.into()),
            ("may-not-token".into(), "mallory".into()),
        ],
        impersonators: vec![IMPERSONATOR.into()],
        ..Default::default()
    })
}

fn kubeconfig(dir: &Path, server: &ApiServer, token: &str) -> PathBuf {
    let sub = dir.join(token);
    std::fs::create_dir_all(&sub).unwrap();
    crate::apiserver::kubeconfig(&sub, server, json!({"token": token}))
}

/// A raw GET with `headers`, as a client other than kubectl could send it.
fn get(server: &ApiServer, token: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    crate::support::with_client(&server.ca_pem(), None, |client| async move {
        let mut req = client
            .get(format!("{}/api/v1/namespaces/payments/pods", server.url()))
            .bearer_auth(token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        (
            resp.status().as_u16(),
            resp.json().await.unwrap_or(Value::Null),
        )
    })
}

#[test]
fn an_allowed_impersonator_is_seen_as_the_impersonated_user_groups_and_extra() {
    let dir = TempDir::new().unwrap();
    let server = standin();
    let kc = kubeconfig(dir.path(), &server, "may-token");
    let out = kubectl(
        dir.path(),
        &kc,
        &[
            "--as",
            "alice",
            "--as-group",
            "sre",
            "auth",
            "whoami",
            "-o",
            "json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let review: Value = serde_json::from_slice(&out.stdout).unwrap();
    let info = &review["status"]["userInfo"];
    assert_eq!(info["username"], "alice");
    assert_eq!(info["groups"], json!(["sre", "system:authenticated"]));

    let (status, _) = get(
        &server,
        "may-token",
        &[
            ("Impersonate-User", "alice"),
            ("Impersonate-Extra-Kaccess.io%2fReason", "INC-1"),
        ],
    );
    assert_eq!(status, 200);
    let call = server.calls().pop().unwrap();
    assert_eq!(call.username, "alice");
    assert_eq!(call.impersonator.as_deref(), Some(IMPERSONATOR));
    assert_eq!(
        call.extra.get("kaccess.io/reason"),
        Some(&vec!["INC-1".to_string()]),
        "the key is lower-cased, then unescaped"
    );
}

#[test]
fn impersonation_is_refused_to_others_and_groups_need_a_user() {
    let dir = TempDir::new().unwrap();
    let server = standin();
    let kc = kubeconfig(dir.path(), &server, "may-not-token");
    let out = kubectl(dir.path(), &kc, &["--as", "admin", "get", "pods"]);
    assert!(!out.status.success());
    let (status, body) = get(&server, "may-not-token", &[("Impersonate-User", "admin")]);
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("cannot impersonate resource \"users\""),
        "{body}"
    );
    let (status, body) = get(
        &server,
        "may-token",
        &[("Impersonate-Group", "system:masters")],
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["reason"], "BadRequest");
    assert!(
        server
            .calls()
            .iter()
            .all(|c| c.username == "mallory" || c.impersonator.is_some()),
        "no refused impersonation was served"
    );
    assert!(server.calls().iter().all(|c| c.username != "admin"));
}

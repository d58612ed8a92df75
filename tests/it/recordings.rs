//! Session recordings end to end: real kubectl through the access proxy
//! to the API stand-in's exec, the asciicast file beside the audit log,
//! `kaccess audit verify` and `audit play` over it, and the broker serving
//! it to auditors only.

use crate::support::world::{World, WorldOptions, run, text};
use serde_json::Value;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

const POD: &str = "web-7d4b9c6f5-x2kqp";

/// What the test types into `kubectl exec -i ... -- cat`, which the
/// stand-in echoes back on stdout: several lines, non-ASCII included.
const TYPED: &str = "first line\nsecond: naïve café €100\n\tthird, tabbed\n";

fn proxied(opts: WorldOptions) -> World {
    World::start(WorldOptions {
        proxied: true,
        ..opts
    })
}

/// The session id and cached ID token of the `demo` session in `runtime`.
fn session_of(runtime: &Path) -> (String, String) {
    let rec: Value =
        serde_json::from_slice(&std::fs::read(runtime.join("sessions").join("demo.json")).unwrap())
            .unwrap();
    (
        rec["session_id"].as_str().unwrap().to_string(),
        rec["id_token"]["token"].as_str().unwrap().to_string(),
    )
}

/// `kubectl exec -i POD -- cat` with `input` on stdin; `env` set.
fn exec_cat(w: &World, kubeconfig: &Path, input: &str, env: &[(&str, &str)]) -> Output {
    // The remote command goes after kubectl's own flags.
    let mut cmd = w.kubectl(kubeconfig, &["exec", "-i", POD]);
    cmd.args(["--", "cat"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kubectl");
    let mut stdin = child.stdin.take().unwrap();
    for line in input.split_inclusive('\n') {
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(Duration::from_millis(30));
    }
    drop(stdin);
    child.wait_with_output().unwrap()
}

/// The exec `finished` records so far, once at least `n` are written
/// (they follow the stream's end).
fn finished_execs(w: &World, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found: Vec<Value> = w
            .broker
            .audit()
            .into_iter()
            .filter(|r| {
                r["event"] == "proxy"
                    && r["request"]["subresource"] == "exec"
                    && r["outcome"] == "finished"
            })
            .collect();
        if found.len() >= n || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn audit_dir(w: &World) -> PathBuf {
    w.broker.audit_path.parent().unwrap().to_path_buf()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn audit(w: &World, args: &[&str]) -> Output {
    let audit_path = w.broker.audit_path.display().to_string();
    let mut all: Vec<&str> = vec!["audit"];
    all.extend_from_slice(args);
    all.push(&audit_path);
    run(w.kaccess(&all))
}

/// `GET /v1/recordings/SESSION/N` at the broker with `id_token`.
fn fetch(w: &World, session: &str, n: usize, id_token: &str) -> (u16, Vec<u8>) {
    crate::support::with_client(&w.broker.serving_ca_pem, None, |client| async move {
        let resp = client
            .get(format!("{}/v1/recordings/{session}/{n}", w.broker.url))
            .bearer_auth(id_token)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.bytes().await.unwrap().to_vec())
    })
}

#[test]
fn a_recorded_kubectl_exec_replays_byte_for_byte_is_served_to_auditors_only_and_an_edit_fails_verification()
 {
    let w = proxied(WorldOptions {
        auditor_groups: vec!["compliance"],
        ..WorldOptions::default()
    });
    let kubeconfig = w.login(&[]);
    let (session, alice_token) = session_of(&w.runtime);
    let out = exec_cat(&w, &kubeconfig, TYPED, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), TYPED);

    let rec = finished_execs(&w, 1).pop().expect("a finished exec record");
    let recording = &rec["result"]["recording"];
    let file = recording["file"]
        .as_str()
        .unwrap_or_else(|| panic!("{rec}"));
    let request = rec["request"]["id"].as_str().unwrap();
    assert_eq!(file, format!("recordings/{session}/{request}.cast"));
    let path = audit_dir(&w).join(file);
    let data = std::fs::read(&path).unwrap();
    assert_eq!(recording["size"], data.len() as u64);
    assert_eq!((mode(&path), mode(path.parent().unwrap())), (0o600, 0o700));
    assert_eq!(mode(&audit_dir(&w).join("recordings")), 0o700);
    // Every line typed is in the file as input, and the header is asciicast v2.
    let lines: Vec<Value> = text(&data)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["version"], 2, "{:?}", lines[0]);
    let typed: String = lines[1..]
        .iter()
        .filter(|e| e[1] == "i")
        .map(|e| e[2].as_str().unwrap())
        .collect();
    assert_eq!(typed, TYPED);

    let verified = audit(&w, &["verify"]);
    assert!(verified.status.success(), "{}", text(&verified.stderr));
    assert!(
        text(&verified.stderr).contains("session recording"),
        "{}",
        text(&verified.stderr)
    );

    // The replay is what the stand-in sent, byte for byte.
    let played = audit(&w, &["play", &session, "--speed", "1000"]);
    assert!(played.status.success(), "{}", text(&played.stderr));
    assert_eq!(text(&played.stdout), text(&out.stdout));
    // The same, found through the broker's configuration.
    let config = w.broker.config_path.display().to_string();
    let by_config = run(w.kaccess(&[
        "audit", "play", &session, "--config", &config, "--speed", "1000",
    ]));
    assert!(by_config.status.success(), "{}", text(&by_config.stderr));
    assert_eq!(
        by_config.stdout, played.stdout,
        "--config plays the same recording"
    );
    assert!(
        text(&played.stderr).contains("stream 1"),
        "{}",
        text(&played.stderr)
    );

    // Only auditors, with a fresh MFA login, get the file from the broker.
    let (status, _) = fetch(&w, &session, 1, &alice_token);
    assert_eq!(status, 403);
    let carol_run = w.root().join("run-carol");
    w.idp.set(serde_json::json!({
        "subject": "carol", "email": "carol@example.com", "groups": ["sre", "compliance"]
    }));
    let login = run(w
        .kaccess(&[
            "login",
            "demo",
            "--flow",
            "device",
            "--token-store",
            "file",
            "--reason",
            "AUDIT-7",
        ])
        .env("KACCESS_RUNTIME_DIR", &carol_run));
    assert!(login.status.success(), "{}", text(&login.stderr));
    let (_, carol_token) = session_of(&carol_run);
    let (status, body) = fetch(&w, &session, 1, &carol_token);
    assert_eq!(status, 200, "{}", text(&body));
    assert_eq!(body, data);
    assert_eq!(fetch(&w, &session, 2, &carol_token).0, 404);
    // An auditor whose MFA login is an hour old is refused like an admin.
    let hour_ago = time::OffsetDateTime::now_utc().unix_timestamp() - 3600;
    let stale = w.idp.mint_id_token(
        serde_json::json!({"sub": "dave", "email": "dave@example.com", "groups": ["compliance"], "auth_time": hour_ago}),
        crate::support::idp::Mint::Rs256,
    );
    let (status, body) = fetch(&w, &session, 1, &stale);
    assert_eq!(status, 403, "{}", text(&body));
    assert!(text(&body).contains("fresh MFA"), "{}", text(&body));
    let served: Vec<(String, String)> = w
        .broker
        .audit()
        .into_iter()
        .filter(|r| r["event"] == "recording")
        .map(|r| {
            (
                r["actor"].as_str().unwrap_or_default().to_string(),
                r["outcome"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        served,
        [
            ("alice@example.com".to_string(), "refused".to_string()),
            ("carol@example.com".into(), "served".into()),
            ("carol@example.com".into(), "refused".into()),
            ("dave@example.com".into(), "refused".into()),
        ]
    );

    // One character changed in the recording: verification names the
    // file, play refuses, the broker refuses.
    let edited = text(&data).replacen("second", "SECOND", 1);
    assert_ne!(edited, text(&data));
    std::fs::write(&path, edited).unwrap();
    let verified = audit(&w, &["verify"]);
    assert!(!verified.status.success());
    let err = text(&verified.stderr);
    assert!(
        err.contains(&format!("{request}.cast")) && err.contains("changed"),
        "{err}"
    );
    let played = audit(&w, &["play", &session]);
    assert!(!played.status.success());
    assert!(played.stdout.is_empty());
    assert!(
        text(&played.stderr).contains("not playing stream 1"),
        "{}",
        text(&played.stderr)
    );
    assert_eq!(fetch(&w, &session, 1, &carol_token).0, 409);
}

#[test]
fn record_required_refuses_spdy_before_forwarding_and_records_websocket_exec() {
    let w = proxied(WorldOptions {
        record: Some("required"),
        ..WorldOptions::default()
    });
    let kubeconfig = w.login(&[]);
    // kubectl 1.30+ falls back to SPDY only when told to.
    let out = exec_cat(
        &w,
        &kubeconfig,
        "x\n",
        &[("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")],
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("record: required") && err.contains("SPDY") && err.contains("kubectl 1.30"),
        "{err}"
    );
    assert!(
        !w.api.calls().iter().any(|c| c.path.ends_with("/exec")),
        "the SPDY exec reached the apiserver"
    );
    let refused: Vec<Value> = w
        .broker
        .audit()
        .into_iter()
        .filter(|r| r["event"] == "proxy" && r["request"]["subresource"] == "exec")
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["outcome"], "refused");
    assert_eq!(refused[0]["status"], 403);

    let out = exec_cat(&w, &kubeconfig, TYPED, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rec = finished_execs(&w, 1).pop().unwrap();
    assert!(rec["result"]["recording"]["sha256"].is_string(), "{rec}");
}

#[test]
fn record_optional_runs_spdy_unrecorded_saying_so_and_off_writes_nothing() {
    let w = proxied(WorldOptions::default());
    let kubeconfig = w.login(&[]);
    // The SPDY exec runs (the stand-in speaks SPDY/3.1 too), and its
    // record says it was not recorded.
    let out = exec_cat(
        &w,
        &kubeconfig,
        "x\n",
        &[("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "x\n");
    assert!(w.api.calls().iter().any(|c| c.path.ends_with("/exec")));
    let rec = finished_execs(&w, 1).pop().unwrap();
    assert!(rec["result"]["recording"].is_null(), "{rec}");
    assert!(
        rec["result"]["unrecorded"]
            .as_str()
            .unwrap_or_default()
            .contains("SPDY"),
        "{rec}"
    );
    assert!(!audit_dir(&w).join("recordings").exists());
    drop(w);

    let w = proxied(WorldOptions {
        record: Some("off"),
        ..WorldOptions::default()
    });
    let kubeconfig = w.login(&[]);
    let out = exec_cat(&w, &kubeconfig, TYPED, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), TYPED);
    let rec = finished_execs(&w, 1).pop().unwrap();
    assert!(rec["result"]["recording"].is_null(), "{rec}");
    assert!(rec["result"]["unrecorded"].is_null(), "{rec}");
    assert!(!audit_dir(&w).join("recordings").exists());
    let (session, _) = session_of(&w.runtime);
    let played = audit(&w, &["play", &session]);
    assert!(!played.status.success());
    assert!(
        text(&played.stderr).contains("no recorded stream"),
        "{}",
        text(&played.stderr)
    );
}

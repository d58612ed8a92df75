//! kubectl's other streaming paths through the access proxy, with real
//! kubectl: exec and attach over SPDY/3.1 (`KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false`),
//! `port-forward` over WebSocket `SPDY/3.1+portforward.k8s.io` (its
//! default) and raw SPDY (`KUBECTL_PORT_FORWARD_WEBSOCKETS=false`),
//! `logs -f` and `cp`; each audited and cut within a second of
//! revocation. Some run straight at the stand-in too, as a control.

use crate::support::proxied::Running;
use crate::support::world::{World, WorldOptions, run, text};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const POD: &str = "web-7d4b9c6f5-x2kqp";
const SPDY_EXEC: (&str, &str) = ("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false");
const SPDY_FORWARD: (&str, &str) = ("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false");
/// The port the stand-in's pods echo on.
const ECHO_PORT: &str = "8080";

fn world(proxied: bool) -> World {
    World::start(WorldOptions {
        proxied,
        ..WorldOptions::default()
    })
}

/// The `proxy` records for `subresource` with `outcome`, once at least
/// `min` are written (`finished` follows the stream's end).
fn records(w: &World, subresource: &str, outcome: &str, min: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found: Vec<Value> = w
            .broker
            .audit()
            .into_iter()
            .filter(|r| {
                r["event"] == "proxy"
                    && r["request"]["subresource"] == subresource
                    && r["outcome"] == outcome
            })
            .collect();
        if found.len() >= min || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn verify_chain(w: &World) {
    let out = run(w.kaccess(&["audit", "verify"]).arg(&w.broker.audit_path));
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// Revokes the session; asserts `running` exits within a second and its
/// stream's record says `revoked`.
fn cut_on_revocation(w: &World, mut running: Running, subresource: &str) {
    let revoked_at = Instant::now();
    assert_eq!(w.revoke_at_broker()["revoked"], true);
    let left = Duration::from_secs(1).saturating_sub(revoked_at.elapsed());
    let exited = running.exited_within(left);
    eprintln!(
        "revocation → kubectl ({subresource}) exited: {exited:?}, {:?} after the revocation",
        revoked_at.elapsed()
    );
    assert!(
        exited.is_some(),
        "the {subresource} outlived the revocation by a second; stderr:\n{}",
        running.stderr()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let ended = loop {
        let ended: Vec<Value> = records(w, subresource, "finished", 1)
            .into_iter()
            .map(|r| r["result"]["ended"].clone())
            .collect();
        if ended.contains(&"revoked".into()) || Instant::now() > deadline {
            break ended;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(ended.contains(&"revoked".into()), "{ended:?}");
}

#[test]
fn spdy_exec_and_attach_echo_stdin_straight_at_the_stand_in_and_through_the_proxy() {
    for proxied in [false, true] {
        let w = world(proxied);
        let kubeconfig = w.login(&[]);
        for args in [
            vec!["exec", "-i", POD, "--", "cat"],
            vec!["attach", "-i", POD],
        ] {
            let mut cmd = Running::start_with(&w, &kubeconfig, &args, &[SPDY_EXEC]);
            cmd.send("over spdy\n");
            cmd.expect_line("over spdy");
            cmd.send("naïve café €100\n");
            cmd.expect_line("naïve café €100");
            drop(cmd.stdin.take());
            assert!(
                cmd.exited_within(Duration::from_secs(10)).is_some(),
                "{args:?} ends with stdin (proxied: {proxied}); stderr:\n{}",
                cmd.stderr()
            );
        }
        let posted = w
            .api
            .calls()
            .into_iter()
            .filter(|c| c.method == "POST" && c.path.ends_with("/exec"))
            .count();
        assert_eq!(posted, 1, "SPDY exec is a POST (proxied: {proxied})");
    }
}

#[test]
fn a_proxied_spdy_exec_is_audited_as_unrecorded_and_its_chain_verifies() {
    let w = world(true);
    let kubeconfig = w.login(&[]);
    let mut exec = Running::start_with(
        &w,
        &kubeconfig,
        &["exec", "-i", POD, "--", "cat"],
        &[SPDY_EXEC],
    );
    exec.send("audited\n");
    exec.expect_line("audited");
    drop(exec.stdin.take());
    assert!(
        exec.exited_within(Duration::from_secs(10)).is_some(),
        "{}",
        exec.stderr()
    );
    let started = records(&w, "exec", "started", 1);
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0]["request"]["verb"], "create");
    assert_eq!(started[0]["request"]["method"], "POST");
    let rec = records(&w, "exec", "finished", 1).pop().unwrap();
    assert_eq!(rec["request"]["id"], started[0]["request"]["id"]);
    assert_eq!(rec["status"], 101);
    assert_eq!(rec["request"]["command"], serde_json::json!(["cat"]));
    assert!(rec["result"]["bytes_in"].as_u64().unwrap() > 0, "{rec}");
    assert!(rec["result"]["bytes_out"].as_u64().unwrap() > 0, "{rec}");
    assert!(rec["result"]["recording"].is_null(), "{rec}");
    let why = rec["result"]["unrecorded"].as_str().unwrap_or_default();
    assert!(why.contains("SPDY"), "{rec}");
    verify_chain(&w);
}

#[test]
fn an_open_spdy_exec_is_cut_within_a_second_of_revocation() {
    let w = world(true);
    let kubeconfig = w.login(&[]);
    let mut exec = Running::start_with(
        &w,
        &kubeconfig,
        &["exec", "-i", POD, "--", "cat"],
        &[SPDY_EXEC],
    );
    exec.send("before the revocation\n");
    exec.expect_line("before the revocation");
    cut_on_revocation(&w, exec, "exec");
    verify_chain(&w);
}

/// `kubectl port-forward pod/POD :PORT`, and the local port it listens on.
fn port_forward(
    w: &World,
    kubeconfig: &std::path::Path,
    port: &str,
    env: &[(&str, &str)],
) -> (Running, u16) {
    let target = format!(":{port}");
    let pf = Running::start_with(
        w,
        kubeconfig,
        &["port-forward", &format!("pod/{POD}"), &target],
        env,
    );
    let line = pf.expect_line("Forwarding from 127.0.0.1:");
    let local = line
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no local port in `{line}`"));
    (pf, local)
}

/// One forwarded connection: sends `payload`, reads it back.
fn echo_through(local: u16, payload: &[u8]) -> Vec<u8> {
    let mut conn = TcpStream::connect(("127.0.0.1", local)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(payload).unwrap();
    let mut back = vec![0u8; payload.len()];
    conn.read_exact(&mut back).unwrap();
    back
}

#[test]
fn kubectl_port_forward_carries_bytes_over_the_websocket_tunnel_and_raw_spdy() {
    for proxied in [false, true] {
        for env in [&[][..], &[SPDY_FORWARD][..]] {
            let w = world(proxied);
            let kubeconfig = w.login(&[]);
            let (pf, local) = port_forward(&w, &kubeconfig, ECHO_PORT, env);
            for n in 0..2 {
                let payload = format!("forwarded bytes {n} \u{1F600}").into_bytes();
                let back = echo_through(local, &payload);
                assert_eq!(
                    back,
                    payload,
                    "proxied: {proxied}, env: {env:?}; {}",
                    pf.stderr()
                );
            }
            drop(pf);
            if !proxied {
                continue;
            }
            let rec = records(&w, "portforward", "finished", 1).pop().unwrap();
            let (method, verb) = if env.is_empty() {
                ("GET", "get")
            } else {
                ("POST", "create")
            };
            assert_eq!(rec["request"]["method"], method, "{rec}");
            assert_eq!(rec["request"]["verb"], verb, "{rec}");
            assert_eq!(rec["request"]["name"], POD, "{rec}");
            assert_eq!(rec["status"], 101, "{rec}");
            assert!(rec["result"]["bytes_in"].as_u64().unwrap() > 0, "{rec}");
            // kubectl puts no ports in the URL; the proxy read them from
            // the SPDY streams' headers.
            assert!(rec["request"]["ports"].is_null(), "{rec}");
            assert_eq!(
                rec["result"]["ports"],
                serde_json::json!([ECHO_PORT]),
                "{rec}"
            );
            assert_eq!(records(&w, "portforward", "started", 1).len(), 1);
            verify_chain(&w);
        }
    }
}

#[test]
fn a_port_the_pod_does_not_listen_on_gets_the_kubelets_error() {
    let w = world(true);
    let kubeconfig = w.login(&[]);
    let (pf, local) = port_forward(&w, &kubeconfig, "9999", &[]);
    let mut conn = TcpStream::connect(("127.0.0.1", local)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = conn.write_all(b"anyone there?");
    let mut buf = [0u8; 16];
    // Closed (or reset) by kubectl, not left hanging.
    match conn.read(&mut buf) {
        Ok(n) => assert_eq!(n, 0, "nothing answers on 9999"),
        Err(e) => assert!(
            !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "the connection to 9999 was left open"
        ),
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pf.stderr().contains("error forwarding port 9999") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        pf.stderr().contains("error forwarding port 9999"),
        "{}",
        pf.stderr()
    );
    drop(pf);
    let rec = records(&w, "portforward", "finished", 1).pop().unwrap();
    assert_eq!(rec["result"]["ports"], serde_json::json!(["9999"]), "{rec}");
}

#[test]
fn an_open_port_forward_is_cut_within_a_second_of_revocation_either_way() {
    for env in [&[][..], &[SPDY_FORWARD][..]] {
        let w = world(true);
        let kubeconfig = w.login(&[]);
        let (pf, local) = port_forward(&w, &kubeconfig, ECHO_PORT, env);
        assert_eq!(echo_through(local, b"still open"), b"still open");
        cut_on_revocation(&w, pf, "portforward");
    }
}

#[test]
fn kubectl_logs_follow_streams_lines_through_the_proxy_is_audited_and_cut_on_revocation() {
    let w = world(true);
    let kubeconfig = w.login(&[]);
    let out = run(w.kubectl(&kubeconfig, &["logs", POD]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).lines().count(),
        3,
        "{}",
        text(&out.stdout)
    );
    let logs = Running::start(&w, &kubeconfig, &["logs", "-f", POD]);
    // Lines 3 and on come while the stream is open.
    logs.expect_line(&format!("{POD} log line 4"));
    let started = records(&w, "log", "started", 2);
    assert_eq!(started.len(), 2, "{started:?}");
    assert_eq!(started[1]["request"]["verb"], "get");
    cut_on_revocation(&w, logs, "log");
    verify_chain(&w);
}

#[test]
fn kubectl_cp_to_a_pod_runs_tar_over_exec_through_the_proxy_and_the_record_names_it() {
    let w = world(true);
    let kubeconfig = w.login(&[]);
    let local = w.root().join("notes.txt");
    let body = "copied through the proxy\n".repeat(400);
    std::fs::write(&local, &body).unwrap();
    let dest = format!("{POD}:/tmp/x");
    let out = run(w.kubectl(&kubeconfig, &["cp", local.to_str().unwrap(), &dest]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        w.api.tar_bytes() >= body.len() as u64,
        "tar read {} bytes of a {}-byte file",
        w.api.tar_bytes(),
        body.len()
    );
    let execs = records(&w, "exec", "finished", 2);
    let tar = execs
        .iter()
        .find(|r| r["request"]["command"][0] == "tar")
        .unwrap_or_else(|| panic!("no tar exec in {execs:?}"));
    let command: Vec<&str> = tar["request"]["command"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(command.contains(&"/tmp"), "{command:?}");
    assert_eq!(tar["status"], 101);
    assert!(
        tar["result"]["bytes_in"].as_u64().unwrap() >= body.len() as u64,
        "{tar}"
    );
    verify_chain(&w);
}

//! Helpers for tests through the access proxy: the credential of an
//! embedded session kubeconfig, a direct HTTPS client to the proxy with
//! it, long-running kubectl commands (a watch, an exec) whose end a
//! test can time, and an admin's revocation.

use super::world::{self, World};
use base64::Engine;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What `login --embed` wrote into the kubeconfig.
pub enum Embedded {
    Certificate { cert_pem: String, key_pem: String },
    Token(String),
}

pub fn embedded(kubeconfig: &Path) -> Embedded {
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(kubeconfig).unwrap()).unwrap();
    let user = &yaml["users"][0]["user"];
    let b64 = |k: &str| {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(user[k].as_str().unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    match user["token"].as_str() {
        Some(t) => Embedded::Token(t.to_string()),
        None => Embedded::Certificate {
            cert_pem: b64("client-certificate-data"),
            key_pem: b64("client-key-data"),
        },
    }
}

/// One request to the proxy with `cert` (PEM pair) and extra headers;
/// returns the status and the body as JSON (Null if it is not).
pub fn call(
    w: &World,
    path: &str,
    cert: Option<(&str, &str)>,
    headers: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let identity = cert.map(|(c, k)| format!("{c}{k}"));
    super::with_client(&w.broker.serving_ca_pem, identity, |client| async move {
        let mut req = client.get(format!("{}{path}", w.proxy_url.as_ref().unwrap()));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(serde_json::Value::Null);
        (status, body)
    })
}

/// The id of `demo`'s session, from the client's session record.
pub fn session_id(w: &World) -> String {
    let rec: serde_json::Value = serde_json::from_slice(
        &std::fs::read(w.runtime.join("sessions").join("demo.json")).unwrap(),
    )
    .unwrap();
    rec["session_id"].as_str().unwrap().to_string()
}

/// `admin` (a member of `secops`, which the world must list in
/// `admin_groups`) revokes `session` at `broker`, with a fresh MFA login;
/// returns the broker's answer.
pub fn revoke_as_admin(
    w: &World,
    broker: &world::Broker,
    session: &str,
    admin: &str,
) -> serde_json::Value {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let id_token = w.idp.mint_id_token(
        serde_json::json!({"sub": admin, "email": format!("{admin}@example.com"),
                           "groups": ["sre", "secops"], "auth_time": now}),
        super::idp::Mint::Rs256,
    );
    super::with_client(&broker.serving_ca_pem, None, |client| async move {
        let resp = client
            .post(format!("{}/v1/sessions/{session}/revoke", broker.url))
            .bearer_auth(id_token)
            .json(&serde_json::json!({"reason": "SEC-42 laptop stolen"}))
            .send()
            .await
            .unwrap();
        resp.json().await.unwrap()
    })
}

/// The `HH:MM` a refusal names after `at ` (`… at 12:03 UTC: …`) is
/// this minute or the one before (the revocation just happened).
pub fn names_this_minute(message: &str) -> bool {
    let Some((_, rest)) = message.split_once(" at ") else {
        return false;
    };
    let Some((clock, _)) = rest.split_once(" UTC") else {
        return false;
    };
    let now = time::OffsetDateTime::now_utc();
    let minute = |t: time::OffsetDateTime| format!("{:02}:{:02}", t.hour(), t.minute());
    clock == minute(now) || clock == minute(now - time::Duration::minutes(1))
}

/// kubectl's stderr `err` holds `what` (`session revoked by NAME`), the
/// time of it this minute, and `kaccess login CLUSTER` to run.
pub fn assert_refusal_names(err: &str, what: &str, cluster: &str) {
    let (_, said) = err.split_once(what).unwrap_or_else(|| panic!("{err}"));
    assert!(names_this_minute(said), "{err}");
    assert!(
        said.contains(&format!(" UTC: run `kaccess login {cluster}`")),
        "{err}"
    );
}

/// A kubectl command left running; its stdout lines arrive on a channel,
/// its stderr is kept for failure messages.
pub struct Running {
    child: Child,
    pub stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Running {
    /// `args` up to a `--` go before kubectl's own flags, the rest (a
    /// remote command) after them.
    pub fn start(w: &World, kubeconfig: &Path, args: &[&str]) -> Running {
        Running::start_with(w, kubeconfig, args, &[])
    }

    /// As [`Running::start`], with `env` set (`KUBECTL_*_WEBSOCKETS`).
    pub fn start_with(
        w: &World,
        kubeconfig: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Running {
        let split = args.iter().position(|a| *a == "--").unwrap_or(args.len());
        let mut cmd = w.kubectl(kubeconfig, &args[..split]);
        cmd.args(&args[split..]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn kubectl");
        let stdout = child.stdout.take().unwrap();
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (sink, errors) = (stderr.clone(), child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in BufReader::new(errors).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Running {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
        }
    }

    /// Waits for a stdout line containing `needle`; returns it.
    pub fn expect_line(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!(
            "kubectl printed no line with `{needle}`; stderr:\n{}",
            self.stderr.lock().unwrap()
        );
    }

    /// What kubectl wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn send(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Waits at most `limit` for kubectl to exit; `None` if it did not.
    pub fn exited_within(&mut self, limit: Duration) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.child.try_wait().unwrap().is_some() {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

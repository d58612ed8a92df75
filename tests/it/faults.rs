//! Faults around the processes and files of a session (issue 7): kill -9 at
//! every step of login, a stale lock from a dead refresh, a broker that
//! hangs or crashes mid-exchange, IdP and broker that are down or never
//! answer, the IdP stopped during device polling, a full audit disk, and
//! session files that are not the user's. Each leaves no partial file, ends
//! in a clear message with the documented exit code, and a retry works.

use crate::support::broker::{Broker as LoneBroker, BrokerOptions};
use crate::support::idp::{Idp, IdpOptions, Mint};
use crate::support::world::{World, WorldOptions, run, text};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

/// `kaccess login demo` (device flow) started in the background; its
/// stderr lines arrive on the receiver.
fn spawn_login(w: &World, env: &[(&str, &str)]) -> (Child, mpsc::Receiver<String>) {
    let mut cmd = w.kaccess(&[
        "login",
        "demo",
        "--flow",
        "device",
        "--token-store",
        "file",
        "--reason",
        "INC-1",
    ]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn login");
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

fn wait_for_line(rx: &mpsc::Receiver<String>, needle: &str, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                let hit = line.contains(needle);
                seen.push(line);
                if hit {
                    return seen;
                }
            }
            Err(_) => break,
        }
    }
    panic!(
        "no `{needle}` on stderr within {within:?}:\n{}",
        seen.join("\n")
    );
}

fn kill9(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn sessions(w: &World) -> PathBuf {
    w.runtime.join("sessions")
}

/// Names in the sessions dir (empty if it does not exist).
fn session_files(w: &World) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(sessions(w))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Every file a login writes is either absent or complete: no torn record,
/// no torn kubeconfig. Temp files may remain (the next sweep removes them).
fn assert_no_partial_file(w: &World, when: &str) {
    for name in session_files(w) {
        let path = sessions(w).join(&name);
        if name.starts_with('.') {
            assert!(name.contains(".tmp."), "{when}: unexpected file {name}");
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        if name.ends_with(".json") {
            let v: serde_json::Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{when}: torn record {name}: {e}"));
            assert_eq!(v["cluster"], "demo", "{when}");
        } else if name.ends_with(".kubeconfig") {
            let v: serde_yaml::Value = serde_yaml::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{when}: torn kubeconfig {name}: {e}"));
            assert_eq!(
                v["current-context"].as_str(),
                Some("kaccess-demo"),
                "{when}"
            );
        }
    }
}

/// Makes every session file look `age` old, as if the sweep's grace period
/// had passed.
fn age_session_files(w: &World, age: Duration) {
    let then = SystemTime::now() - age;
    for name in session_files(w) {
        let f = std::fs::File::options()
            .write(true)
            .open(sessions(w).join(name))
            .unwrap();
        f.set_modified(then).unwrap();
    }
}

fn edit_record(w: &World, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = sessions(w).join("demo.json");
    let mut rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut rec);
    std::fs::write(&path, serde_json::to_vec(&rec).unwrap()).unwrap();
}

fn expire_credential(w: &World) {
    let past = (time::OffsetDateTime::now_utc() - time::Duration::seconds(5))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    edit_record(w, |r| r["credential"]["expires_at"] = past.into());
}

fn issued(w: &World) -> usize {
    w.broker
        .audit()
        .iter()
        .filter(|r| r["event"] == "exchange" && r["outcome"] == "issued")
        .count()
}

fn wait_until(what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn kill_9_at_every_step_of_login_leaves_no_partial_file_and_login_works_again() {
    let w = World::start(WorldOptions::default());
    // One undisturbed login tells how long the steps take here.
    let started = Instant::now();
    w.login(&[]);
    let whole = started.elapsed();
    let _ = std::fs::remove_dir_all(sessions(&w));
    crate::support::world::stop_reapers(&w.runtime);

    // Kill points spread over the whole login: device flow, token
    // exchange, key and CSR, broker exchange, kubeconfig and record writes.
    for pct in [5u32, 20, 35, 50, 65, 75, 85, 92, 97, 110] {
        let (mut child, _rx) = spawn_login(&w, &[]);
        std::thread::sleep(whole * pct / 100);
        kill9(&mut child);
        let when = format!("killed at {pct}% of a login");
        assert_no_partial_file(&w, &when);
        // Past the grace period, any kaccess command sweeps what a killed
        // login left: temp files and a kubeconfig without its record.
        age_session_files(&w, Duration::from_secs(120));
        let out = run(w.kaccess(&["status"]));
        assert_eq!(out.status.code(), Some(0), "{when}: {}", text(&out.stderr));
        let left = session_files(&w);
        assert!(
            left.is_empty() || left == ["demo.json", "demo.kubeconfig"],
            "{when}: {left:?}"
        );
        if !left.is_empty() {
            // A login that got as far as its record is a whole session.
            let out = run(w.kaccess(&["credential", "demo"]));
            assert_eq!(out.status.code(), Some(0), "{when}: {}", text(&out.stderr));
        }
        let _ = std::fs::remove_dir_all(sessions(&w));
        crate::support::world::stop_reapers(&w.runtime);
    }
    let again = Instant::now();
    w.login(&[]);
    assert!(
        again.elapsed() < whole + Duration::from_secs(10),
        "the next login waited: {:?}",
        again.elapsed()
    );
}

#[test]
fn a_stale_lock_from_a_killed_refresh_does_not_hold_up_the_next_one() {
    let w = World::start(WorldOptions::default());
    w.login(&[]);
    expire_credential(&w);
    // The refresh takes the lock, then hangs on a frozen broker: kill it.
    w.broker.signal(libc::SIGSTOP);
    let mut stuck = w
        .kaccess(&["credential", "demo"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lock = w.runtime.join("locks").join("demo.lock");
    let pid = stuck.id().to_string();
    wait_until(
        "the refresh holds the lock",
        Duration::from_secs(10),
        || std::fs::read_to_string(&lock).is_ok_and(|s| s.trim() == pid),
    );
    kill9(&mut stuck);
    w.broker.signal(libc::SIGCONT);
    assert!(lock.exists(), "the dead holder's lock file is still there");
    let started = Instant::now();
    let out = run(w.kaccess(&["credential", "demo"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "waited {:?} on a dead process's lock",
        started.elapsed()
    );
}

#[test]
fn client_killed_or_broker_crashed_mid_exchange_leaves_nothing_and_a_retry_works() {
    let mut w = World::start(WorldOptions::default());
    // A frozen broker: the login gets through the IdP and hangs in the
    // exchange. Killing the client there leaves nothing on disk.
    w.broker.signal(libc::SIGSTOP);
    let (mut child, rx) = spawn_login(&w, &[]);
    wait_for_line(&rx, "enter the code", Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(3));
    assert!(child.try_wait().unwrap().is_none(), "login still waiting");
    kill9(&mut child);
    assert_eq!(session_files(&w), Vec::<String>::new());
    // The frozen broker never finished the TLS handshake, so the dead
    // client's request never arrived: thawed, it has issued nothing.
    w.broker.signal(libc::SIGCONT);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(issued(&w), 0);

    // The broker crashes while a login waits on it: the login says so and
    // exits 5, and a retry against the restarted broker works.
    w.broker.signal(libc::SIGSTOP);
    let (mut child, rx) = spawn_login(&w, &[]);
    wait_for_line(&rx, "enter the code", Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(3));
    w.broker.crash_and_restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "login did not notice the crash");
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr: Vec<String> = rx.try_iter().collect();
    let stderr = stderr.join("\n");
    assert_eq!(status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("cannot reach the kaccess broker"),
        "{stderr}"
    );
    assert_eq!(session_files(&w), Vec::<String>::new());
    let kubeconfig = w.login(&[]);
    let whoami = run(w.kubectl(&kubeconfig, &["auth", "whoami"]));
    assert_eq!(whoami.status.code(), Some(0), "{}", text(&whoami.stderr));
    let out = run(w.kaccess(&["audit", "verify", w.broker.audit_path.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn idp_stopped_while_the_device_flow_polls_ends_in_exit_5_and_writes_nothing() {
    let mut w = World::start(WorldOptions {
        idp: IdpOptions::default(), // nobody approves
        ..WorldOptions::default()
    });
    // Killed while waiting for the user: nothing written.
    let (mut child, rx) = spawn_login(&w, &[]);
    wait_for_line(&rx, "enter the code", Duration::from_secs(20));
    kill9(&mut child);
    assert!(session_files(&w).is_empty(), "{:?}", session_files(&w));

    let (mut child, rx) = spawn_login(&w, &[]);
    wait_for_line(&rx, "enter the code", Duration::from_secs(20));
    let stopped = Instant::now();
    w.idp.stop();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "login kept polling a dead IdP");
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = rx.try_iter().collect::<Vec<_>>().join("\n");
    assert_eq!(status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("cannot reach the identity provider"),
        "{stderr}"
    );
    assert!(stopped.elapsed() < Duration::from_secs(15));
    assert!(session_files(&w).is_empty(), "{:?}", session_files(&w));
}

/// A TCP listener that accepts and never answers (a hung server).
struct BlackHole {
    addr: std::net::SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl BlackHole {
    fn start() -> BlackHole {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok((s, _)) = l.accept() {
                    held.push(s);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        BlackHole { addr, stop }
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn idp_or_broker_down_or_hung_ends_in_exit_5_within_the_timeout() {
    let mut w = World::start(WorldOptions::default());
    w.login(&[]);
    fn timed(w: &World, args: &[&str]) -> (std::process::Output, Duration) {
        let mut cmd = w.kaccess(args);
        cmd.env("KACCESS_HTTP_TIMEOUT", "2s");
        let started = Instant::now();
        let out = run(cmd);
        (out, started.elapsed())
    }

    // Broker hung (frozen, connections accepted by the kernel).
    expire_credential(&w);
    w.broker.signal(libc::SIGSTOP);
    let (out, took) = timed(&w, &["credential", "demo"]);
    w.broker.signal(libc::SIGCONT);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("cannot reach the kaccess broker"), "{err}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    // Broker down: refused at once.
    w.broker.stop();
    let (out, took) = timed(&w, &["credential", "demo"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("cannot reach the kaccess broker"), "{err}");
    assert!(took < Duration::from_secs(5), "took {took:?}");

    // IdP hung: a listener that never answers, in place of the issuer.
    let hole = BlackHole::start();
    let config = std::fs::read_to_string(&w.config).unwrap();
    let hung = config.replace(&w.idp.issuer(), &format!("http://{}", hole.addr));
    std::fs::write(&w.config, hung).unwrap();
    let (out, took) = timed(&w, &["login", "demo", "--flow", "device", "--reason", "x"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("cannot reach the identity provider"), "{err}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    // IdP down.
    let issuer = w.idp.issuer();
    w.idp.stop();
    std::fs::write(&w.config, &config).unwrap();
    let (out, took) = timed(&w, &["login", "demo", "--flow", "device", "--reason", "x"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{issuer}: {err}");
    assert!(err.contains("cannot reach the identity provider"), "{err}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

/// A tiny tmpfs, unmounted on drop. `None` where mounting is not allowed.
pub(crate) struct TinyDisk {
    dir: tempfile::TempDir,
}

impl TinyDisk {
    pub(crate) fn mount(size: &str) -> Option<TinyDisk> {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700")])
            .arg("tmpfs")
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(TinyDisk { dir })
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_audit_disk_refuses_to_issue_and_says_why_then_recovers() {
    let Some(disk) = TinyDisk::mount("64k") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root); /dev/full is tested instead");
        return;
    };
    let idp = Idp::start(IdpOptions::default());
    let mut opts = BrokerOptions::new(&idp.issuer());
    opts.audit_file = Some(disk.path().join("audit.jsonl"));
    let broker = LoneBroker::start(opts);
    let client = broker.client();
    let id_token = idp.mint_id_token(serde_json::json!({}), Mint::Rs256);
    let exchange = || async {
        let resp = client
            .post(broker.url("/v1/exchange"))
            .bearer_auth(&id_token)
            .json(
                &serde_json::json!({"cluster": "prod", "credential": "token", "reason": "DISK-1"}),
            )
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json::<serde_json::Value>().await.unwrap())
    };
    assert_eq!(exchange().await.0, 200);
    // Fill the disk, leaving less room than one audit line.
    let filler = disk.path().join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 1024];
    while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
    drop(f);
    // The audit file's last page may still hold a few lines.
    let mut issued = 1;
    let (status, body) = loop {
        let (status, body) = exchange().await;
        if status != 200 || issued > 20 {
            break (status, body);
        }
        issued += 1;
    };
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "audit_unavailable");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("audit.jsonl"), "{message}");
    assert!(message.contains("No space left"), "{message}");
    assert!(body.get("token").is_none(), "{body}");
    // Room again: the broker issues again, and the chain has no hole and
    // no torn line from the failed write.
    std::fs::remove_file(&filler).unwrap();
    let (status, body) = exchange().await;
    assert_eq!(status, 200, "{body}");
    issued += 1;
    let lines = broker.audit_lines();
    assert_eq!(
        lines.iter().filter(|r| r["outcome"] == "issued").count(),
        issued
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kaccess"))
        .args(["audit", "verify"])
        .arg(broker.audit_path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn session_files_that_are_not_the_users_are_refused_and_damaged_ones_are_swept() {
    use std::os::unix::fs::{PermissionsExt, chown};
    if kaccess::fsutil::my_uid() != 0 {
        eprintln!("SKIPPED: chown to another uid needs root");
        return;
    }
    let w = World::start(WorldOptions::default());
    w.login(&[]);
    let record = sessions(&w).join("demo.json");
    let refused = |why: &str| {
        let out = run(w.kaccess(&["credential", "demo"]));
        let err = text(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{why}: accepted");
        assert!(err.contains(why), "{why}: {err}");
        assert!(out.stdout.is_empty(), "{why}: credential printed");
    };
    // Runtime dir owned by someone else.
    chown(&w.runtime, Some(4242), None).unwrap();
    refused("owned by uid 4242");
    chown(&w.runtime, Some(0), None).unwrap();
    // The session record: another owner, group-readable, a symlink.
    chown(&record, Some(4242), None).unwrap();
    refused("owned by uid 4242");
    chown(&record, Some(0), None).unwrap();
    std::fs::set_permissions(&record, std::fs::Permissions::from_mode(0o644)).unwrap();
    refused("mode 644");
    std::fs::set_permissions(&record, std::fs::Permissions::from_mode(0o600)).unwrap();
    let real = w.root().join("elsewhere.json");
    std::fs::rename(&record, &real).unwrap();
    std::os::unix::fs::symlink(&real, &record).unwrap();
    refused("symbolic link");
    std::fs::remove_file(&record).unwrap();
    std::fs::rename(&real, &record).unwrap();
    let out = run(w.kaccess(&["credential", "demo"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // A truncated record: no credential, the user is told to log in, and
    // the damaged files are swept.
    let bytes = std::fs::read(&record).unwrap();
    std::fs::write(&record, &bytes[..bytes.len() / 2]).unwrap();
    let out = run(w.kaccess(&["credential", "demo"]));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("kaccess login demo"), "{err}");
    assert!(out.stdout.is_empty());
    let out = run(w.kaccess(&["status"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!record.exists() && !sessions(&w).join("demo.kubeconfig").exists());
}

#[test]
fn non_utf8_environment_values_are_usage_errors_or_ignored_never_a_crash() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let w = World::start(WorldOptions::default());
    w.login(&[]);
    let bad = OsStr::from_bytes(b"\xff\xfe-not-utf8");
    let with = |var: &str, args: &[&str]| {
        let mut cmd = w.kaccess(args);
        cmd.env(var, bad);
        run(cmd)
    };
    // Values kaccess parses: a usage error that names the variable.
    for (var, args) in [
        ("KUBERNETES_EXEC_INFO", &["credential", "demo"][..]),
        (
            "KACCESS_HTTP_TIMEOUT",
            &["login", "demo", "--flow", "device"][..],
        ),
    ] {
        let out = with(var, args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}: {err}");
        assert!(err.contains(var), "{var}: {err}");
    }
    // Paths may be any bytes: a config path that does not exist is a
    // config error; a runtime dir is simply used.
    let out = with("KACCESS_CONFIG", &["config", "check"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let mut cmd = w.kaccess(&["status"]);
    cmd.env(
        "KACCESS_RUNTIME_DIR",
        w.root().join(OsStr::from_bytes(b"run-\xff")),
    );
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Variables kaccess only passes on or reads loosely: no effect, no crash.
    for var in ["KACCESS_LOG", "BROWSER", "HOME", "XDG_RUNTIME_DIR", "LANG"] {
        let out = with(var, &["credential", "demo"]);
        assert_eq!(out.status.code(), Some(0), "{var}: {}", text(&out.stderr));
    }
}

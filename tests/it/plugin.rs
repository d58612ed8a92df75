//! `kaccess-credential`, the small exec plugin the session kubeconfig runs
//! (issue 16): its cache hit prints exactly what `kaccess credential` does,
//! and everything else — a miss, an error, a flag, a credential the API
//! server rejected — is `kaccess credential`'s own answer, handed over.
//! Both builds of it are held to that: cargo's dynamic one, and the static
//! one install.sh installs (`scripts/build-plugin`), which `scripts/test`
//! builds beside the suite's `kaccess`.

use crate::login::{Home, config_for};
use crate::support::world::{World, WorldOptions, run, text};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SMALL: &str = env!("CARGO_BIN_EXE_kaccess-credential");

/// The static `kaccess-credential`, beside the suite's `kaccess`.
fn static_small() -> PathBuf {
    let path = std::env::var_os("KACCESS_TEST_STATIC_PLUGIN").expect(
        "KACCESS_TEST_STATIC_PLUGIN names the static kaccess-credential: run ./scripts/test, \
         which builds it with scripts/build-plugin",
    );
    let path = PathBuf::from(path);
    assert_eq!(
        path.parent(),
        Path::new(env!("CARGO_BIN_EXE_kaccess")).parent(),
        "the static plugin must sit beside the suite's kaccess, which it hands over to"
    );
    path
}

/// Both builds kubectl may run.
fn smalls() -> [PathBuf; 2] {
    [PathBuf::from(SMALL), static_small()]
}

/// `cmd` (a `kaccess …` command) with the same arguments and environment,
/// run by `program` instead.
fn as_run_by(program: &Path, cmd: &Command) -> Command {
    let mut other = Command::new(program);
    other.args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => other.env(k, v),
            None => other.env_remove(k),
        };
    }
    other.stdin(std::process::Stdio::null());
    other
}

fn exec_info(version: &str) -> String {
    format!(
        r#"{{"apiVersion":"client.authentication.k8s.io/{version}","kind":"ExecCredential","spec":{{"interactive":false}}}}"#
    )
}

/// client-go runs the plugin from a new process per kubectl command; here
/// the test process is every run's parent, so its hand-out count goes.
fn forget_handouts(runtime: &Path) {
    let counter = runtime
        .join("handouts")
        .join(format!("demo.{}", std::process::id()));
    let _ = std::fs::remove_file(counter);
}

fn exchanges(w: &World) -> usize {
    w.broker
        .audit()
        .into_iter()
        .filter(|r| r["event"] == "exchange" && r["outcome"] == "issued")
        .count()
}

#[test]
fn kubeconfig_runs_kaccess_credential_whose_hit_is_byte_for_byte_kaccess_credentials() {
    let w = World::start(WorldOptions::default());
    let kubeconfig = w.login(&[]);
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&kubeconfig).unwrap()).unwrap();
    let exec = &yaml["users"][0]["user"]["exec"];
    assert_eq!(exec["command"].as_str(), Some(SMALL), "{exec:?}");
    assert_eq!(exec["args"][0], "credential");
    assert_eq!(exec["args"][1], "demo");

    let before = exchanges(&w);
    let infos = [None, Some(exec_info("v1")), Some(exec_info("v1beta1"))];
    for (info, small) in infos.iter().flat_map(|i| smalls().map(|s| (i, s))) {
        let mut full = w.kaccess(&["credential", "demo"]);
        if let Some(info) = &info {
            full.env("KUBERNETES_EXEC_INFO", info);
        }
        let small = as_run_by(&small, &full);
        forget_handouts(&w.runtime);
        let from_small = run(small);
        forget_handouts(&w.runtime);
        let from_full = run(full);
        assert_eq!(
            from_small.status.code(),
            Some(0),
            "{}",
            text(&from_small.stderr)
        );
        assert_eq!(
            from_full.status.code(),
            Some(0),
            "{}",
            text(&from_full.stderr)
        );
        assert!(text(&from_small.stdout).contains("clientCertificateData"));
        assert_eq!(from_small.stdout, from_full.stdout, "{info:?}");
        assert!(from_small.stderr.is_empty(), "{}", text(&from_small.stderr));
    }
    assert_eq!(exchanges(&w), before, "every run was a cache hit");

    let whoami = run(w.kubectl(&kubeconfig, &["auth", "whoami"]));
    assert_eq!(whoami.status.code(), Some(0), "{}", text(&whoami.stderr));
    assert!(text(&whoami.stdout).contains("alice@example.com"));
}

#[test]
fn a_credential_handed_out_again_through_kaccess_credential_goes_to_the_broker() {
    let w = World::start(WorldOptions {
        credential: "token",
        ..WorldOptions::default()
    });
    w.login(&[]);
    let plugin = || {
        let mut full = w.kaccess(&["credential", "demo"]);
        full.env("KUBERNETES_EXEC_INFO", exec_info("v1"));
        as_run_by(Path::new(SMALL), &full)
    };
    forget_handouts(&w.runtime);
    let before = exchanges(&w);
    let first = run(plugin());
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    assert_eq!(exchanges(&w), before, "the first hand-out is a hit");
    // The same parent asking again: the API server rejected the credential.
    let second = run(plugin());
    assert_eq!(second.status.code(), Some(0), "{}", text(&second.stderr));
    assert_eq!(exchanges(&w), before + 1, "the repeat went to the broker");
    let token = |out: &Output| {
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["status"]["token"].as_str().unwrap().to_owned()
    };
    assert_ne!(
        token(&first),
        token(&second),
        "a new credential, not the rejected one"
    );
    forget_handouts(&w.runtime);
}

/// A session record for `prod`, its credential fresh for 10 minutes.
fn record_json(home: &Home) -> Vec<u8> {
    let at = |secs: i64| {
        (time::OffsetDateTime::now_utc() + time::Duration::seconds(secs))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let rec = serde_json::json!({
        "version": 1, "cluster": "prod", "session_id": "s-1",
        "broker_url": "https://127.0.0.1:1", "issuer": "https://127.0.0.1:1",
        "client_id": "kaccess", "subject": "alice", "username": "alice@example.com",
        "groups": ["kaccess:prod:sre"], "credential_kind": "token",
        "started_at": at(0), "session_expires_at": at(3600),
        "kubeconfig": home.runtime.join("sessions/prod.kubeconfig"), "token_store": "none",
        "credential": {"expires_at": at(600), "token": "tok"},
    });
    serde_json::to_vec(&rec).unwrap()
}

/// What the runtime dir holds before a run.
#[derive(Debug, Clone, Copy)]
enum Before {
    NoSession,
    Record { mode: u32 },
    Damaged,
}

impl Before {
    /// Sets the runtime dir up afresh, the hand-out count included.
    fn set_up(self, home: &Home, record: &[u8]) {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::remove_dir_all(&home.runtime);
        let (bytes, mode) = match self {
            Before::NoSession => return,
            Before::Record { mode } => (record, mode),
            Before::Damaged => (&b"{\"version\":"[..], 0o600),
        };
        let sessions = home.runtime.join("sessions");
        std::fs::create_dir_all(&sessions).unwrap();
        std::fs::set_permissions(&home.runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
        let path = sessions.join("prod.json");
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

#[test]
fn misses_errors_and_flags_through_kaccess_credential_are_kaccess_credentials_own() {
    let home = Home::new();
    home.write_config(&config_for("https://127.0.0.1:1", "").replace("dev:", "prod:"));
    let record = record_json(&home);
    let v1 = exec_info("v1");
    let fresh = Before::Record { mode: 0o600 };
    let cases: &[(&str, Before, &[&str], Option<&str>)] = &[
        (
            "no session",
            Before::NoSession,
            &["credential", "prod"],
            Some(&v1),
        ),
        (
            "bad cluster name",
            fresh,
            &["credential", "Prod"],
            Some(&v1),
        ),
        ("no cluster", fresh, &["credential"], None),
        ("--help", fresh, &["credential", "--help"], None),
        ("--version", fresh, &["--version"], None),
        (
            "a hit with a flag",
            fresh,
            &["credential", "prod", "--lock-timeout", "9s"],
            Some(&v1),
        ),
        (
            "unknown apiVersion",
            fresh,
            &["credential", "prod"],
            Some("{\"apiVersion\":\"v9\"}"),
        ),
        (
            "record open to others",
            Before::Record { mode: 0o644 },
            &["credential", "prod"],
            Some(&v1),
        ),
        (
            "damaged record",
            Before::Damaged,
            &["credential", "prod"],
            Some(&v1),
        ),
    ];
    let [dynamic, static_] = smalls();
    let programs = [
        PathBuf::from(env!("CARGO_BIN_EXE_kaccess")),
        dynamic,
        static_,
    ];
    for (what, before, args, info) in cases {
        let outputs: Vec<Output> = programs
            .iter()
            .map(|program| {
                before.set_up(&home, &record);
                let mut cmd = home.kaccess(args);
                if let Some(info) = info {
                    cmd.env("KUBERNETES_EXEC_INFO", info);
                }
                run(as_run_by(program, &cmd))
            })
            .collect();
        let full = &outputs[0];
        for (small, program) in outputs[1..].iter().zip(&programs[1..]) {
            let what = format!("{what}, run by {}", program.display());
            assert_eq!(small.status.code(), full.status.code(), "{what}");
            assert_eq!(text(&small.stdout), text(&full.stdout), "{what}");
            assert_eq!(text(&small.stderr), text(&full.stderr), "{what}");
        }
        let answered = ["--help", "--version", "a hit with a flag"].contains(what);
        assert_eq!(
            full.status.success(),
            answered,
            "{what}: {}",
            text(&full.stderr)
        );
    }
}

#[test]
fn kaccess_credential_without_kaccess_beside_it_answers_hits_and_says_to_install_both() {
    let home = Home::new();
    let alone = home.root.join("alone");
    std::fs::create_dir_all(&alone).unwrap();
    let small = alone.join("kaccess-credential");
    std::fs::copy(SMALL, &small).unwrap();
    Before::Record { mode: 0o600 }.set_up(&home, &record_json(&home));
    let cmd = home.kaccess(&["credential", "prod"]);
    let hit = run(as_run_by(&small, &cmd));
    assert_eq!(hit.status.code(), Some(0), "{}", text(&hit.stderr));
    assert!(text(&hit.stdout).contains("\"token\":\"tok\""));

    let _ = std::fs::remove_dir_all(&home.runtime);
    let miss = run(as_run_by(&small, &cmd));
    assert_eq!(miss.status.code(), Some(1));
    assert!(miss.stdout.is_empty());
    let err = text(&miss.stderr);
    assert!(
        err.starts_with("kaccess: error: kaccess-credential answers only cache hits"),
        "{err}"
    );
    assert!(
        err.contains(&alone.join("kaccess").display().to_string()),
        "{err}"
    );
    assert!(
        err.contains("help: install kaccess and kaccess-credential side by side"),
        "{err}"
    );
}

#[test]
fn the_static_kaccess_credential_starts_without_a_loader_and_hands_over_what_needs_the_password_database()
 {
    let built = static_small();
    let readelf = |flag: &str| {
        let out = Command::new("readelf")
            .args([flag, "-W"])
            .arg(&built)
            .output()
            .expect("readelf (binutils) runs");
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let headers = readelf("-l");
    assert!(
        headers.contains("DYN"),
        "static-pie, so still ASLR: {headers}"
    );
    assert!(!headers.contains("INTERP"), "no dynamic loader: {headers}");
    let dynamic = readelf("-d");
    assert!(
        !dynamic.contains("(NEEDED)"),
        "no shared library: {dynamic}"
    );

    // Beside a stand-in `kaccess` that says it was run, so a hand-over is
    // seen without the real one looking up the home directory.
    let home = Home::new();
    let alone = home.root.join("alone");
    std::fs::create_dir_all(&alone).unwrap();
    let small = alone.join("kaccess-credential");
    std::fs::copy(&built, &small).unwrap();
    let full = alone.join("kaccess");
    std::fs::write(&full, "#!/bin/sh\necho \"kaccess $*\"\n").unwrap();
    std::fs::set_permissions(&full, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    Before::Record { mode: 0o600 }.set_up(&home, &record_json(&home));

    let plain = |runtime: Option<&Path>| {
        let mut cmd = Command::new(&small);
        cmd.args(["credential", "prod"])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(std::process::Stdio::null());
        if let Some(dir) = runtime {
            cmd.env("KACCESS_RUNTIME_DIR", dir);
        }
        run(cmd)
    };
    let hit = plain(Some(&home.runtime));
    assert_eq!(hit.status.code(), Some(0), "{}", text(&hit.stderr));
    assert!(
        text(&hit.stdout).contains("\"token\":\"tok\""),
        "{}",
        text(&hit.stdout)
    );

    let no_home = plain(None);
    assert_eq!(no_home.status.code(), Some(0), "{}", text(&no_home.stderr));
    assert_eq!(
        text(&no_home.stdout),
        "kaccess credential prod\n",
        "no HOME, XDG_* or KACCESS_RUNTIME_DIR: kaccess finds the runtime dir"
    );
}

//! The product as users run it: `kaccess login` against the real IdP and
//! broker, then real kubectl through the session kubeconfig against the API
//! stand-in, which authenticates exactly like kube-apiserver.

use crate::support::world::{World, WorldOptions, reaper_pids, run, text};

#[test]
fn certificate_session_works_with_kubectl_whoami_and_get_pods() {
    let w = World::start(WorldOptions::default());
    let kubeconfig = w.login(&[]);
    let whoami = run(w.kubectl(&kubeconfig, &["auth", "whoami"]));
    assert_eq!(whoami.status.code(), Some(0), "{}", text(&whoami.stderr));
    let out = text(&whoami.stdout);
    assert!(out.contains("alice@example.com"), "{out}");
    assert!(out.contains("kaccess:demo:sre"), "{out}");
    let pods = run(w.kubectl(&kubeconfig, &["get", "pods"]));
    assert_eq!(pods.status.code(), Some(0), "{}", text(&pods.stderr));
    assert!(
        text(&pods.stdout).contains("NAME"),
        "{}",
        text(&pods.stdout)
    );
    let calls = w.api.calls();
    let pods_call = calls
        .iter()
        .find(|c| c.path.ends_with("/namespaces/payments/pods"))
        .expect("the stand-in saw the pods call in the context's namespace");
    assert_eq!(pods_call.username, "alice@example.com");
    assert!(pods_call.groups.contains(&"kaccess:demo:sre".to_string()));
    assert!(matches!(
        pods_call.via,
        crate::support::apiserver::Via::Cert
    ));
}

/// Rewrites the session record of `demo` through `edit` (as time passing would).
fn edit_record(w: &World, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = w.runtime.join("sessions").join("demo.json");
    let mut rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut rec);
    // Atomically, as kaccess writes it: the session's reaper may be reading.
    let tmp = path.with_extension("json.edit");
    std::fs::write(&tmp, serde_json::to_vec(&rec).unwrap()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
}

fn rfc3339_in(secs: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::seconds(secs))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn exchanges(w: &World) -> Vec<serde_json::Value> {
    w.broker
        .audit()
        .into_iter()
        .filter(|r| r["event"] == "exchange" && r["outcome"] == "issued")
        .collect()
}

#[test]
fn token_session_is_reviewed_through_the_broker_webhook() {
    let w = World::start(WorldOptions {
        credential: "token",
        ..WorldOptions::default()
    });
    let kubeconfig = w.login(&[]);
    let yaml = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(
        !yaml.contains("token:"),
        "no secret in the kubeconfig:\n{yaml}"
    );
    let whoami = run(w.kubectl(&kubeconfig, &["auth", "whoami"]));
    assert_eq!(whoami.status.code(), Some(0), "{}", text(&whoami.stderr));
    assert!(text(&whoami.stdout).contains("alice@example.com"));
    let calls = w.api.calls();
    let call = calls.last().expect("a call");
    assert!(matches!(call.via, crate::support::apiserver::Via::Token));
    assert!(call.groups.contains(&"kaccess:demo:sre".to_string()));
    let rec: serde_json::Value = serde_json::from_slice(
        &std::fs::read(w.runtime.join("sessions").join("demo.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        call.extra
            .get("kaccess.io/session-id")
            .and_then(|v| v.first()),
        rec["session_id"].as_str().map(str::to_owned).as_ref()
    );
}

#[test]
fn session_files_are_deleted_at_session_end_with_no_kaccess_command_run() {
    let w = World::start(WorldOptions {
        max_session: "5s",
        ..WorldOptions::default()
    });
    let kubeconfig = w.login(&[]);
    let record = w.runtime.join("sessions").join("demo.json");
    assert!(kubeconfig.exists() && record.exists());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    // The reaper removes the kubeconfig, then the record: wait for both.
    while (kubeconfig.exists() || record.exists()) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(
        !kubeconfig.exists(),
        "the reaper removed the kubeconfig; record: {}",
        std::fs::read_to_string(&record).unwrap_or_default()
    );
    assert!(!record.exists(), "and the cached credential");
}

#[test]
fn expired_credential_is_refreshed_silently_within_the_session() {
    let w = World::start(WorldOptions::default());
    let kubeconfig = w.login(&[]);
    assert_eq!(exchanges(&w).len(), 1);
    edit_record(&w, |r| r["credential"]["expires_at"] = rfc3339_in(5).into());
    let pods = run(w.kubectl(&kubeconfig, &["get", "pods"]));
    assert_eq!(pods.status.code(), Some(0), "{}", text(&pods.stderr));
    let ex = exchanges(&w);
    assert_eq!(ex.len(), 2, "one refresh: {ex:#?}");
    assert_eq!(ex[0]["session_id"], ex[1]["session_id"], "same session");
}

#[test]
fn expired_id_token_is_renewed_with_the_stored_refresh_token() {
    let w = World::start(WorldOptions::default());
    let kubeconfig = w.login(&[]);
    edit_record(&w, |r| {
        r["credential"]["expires_at"] = rfc3339_in(5).into();
        r["id_token"]["expires_at"] = rfc3339_in(-5).into();
    });
    let pods = run(w.kubectl(&kubeconfig, &["get", "pods"]));
    assert_eq!(pods.status.code(), Some(0), "{}", text(&pods.stderr));
    assert_eq!(exchanges(&w).len(), 2);
}

#[test]
fn plugin_without_a_session_and_no_terminal_exits_3_without_touching_the_idp() {
    let mut w = World::start(WorldOptions::default());
    w.idp.stop();
    let out = run(w.kaccess(&["credential", "demo"]).env(
        "KUBERNETES_EXEC_INFO",
        r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}"#,
    ));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert!(err.contains("the session for `demo`"), "{err}");
    assert!(err.contains("run: kaccess login demo"), "{err}");
}

#[test]
fn twenty_parallel_kubectl_on_an_expired_credential_cause_one_exchange() {
    let w = World::start(WorldOptions::default());
    let kubeconfig = w.login(&[]);
    edit_record(&w, |r| r["credential"]["expires_at"] = rfc3339_in(5).into());
    let children: Vec<_> = (0..20)
        .map(|_| {
            let mut cmd = w.kubectl(&kubeconfig, &["get", "pods"]);
            cmd.stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    assert_eq!(exchanges(&w).len(), 2, "login + exactly one refresh");
}

#[test]
fn runtime_dir_that_is_a_symlink_or_open_to_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::start(WorldOptions::default());
    let real = w.root().join("real-run");
    std::fs::create_dir(&real).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&real, &w.runtime).unwrap();
    let out = run(w.kaccess(&["status"]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("symbolic link"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_file(&w.runtime).unwrap();
    std::fs::create_dir(&w.runtime).unwrap();
    std::fs::set_permissions(&w.runtime, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = run(w.kaccess(&["credential", "demo"]));
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("mode 755"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn exec_passes_the_childs_exit_code_and_removes_its_private_kubeconfig() {
    let w = World::start(WorldOptions::default());
    w.login(&[]);
    let out = run(w.kaccess(&[
        "exec",
        "demo",
        "--",
        "sh",
        "-c",
        "test -f \"$KUBECONFIG\" && echo \"$KUBECONFIG\"; exit 7",
    ]));
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    let private = text(&out.stdout).trim().to_owned();
    assert!(private.contains("demo.exec-"), "{private}");
    assert!(
        !std::path::Path::new(&private).exists(),
        "removed after the child exits"
    );
    let ok = run(w
        .kaccess(&["exec", "demo", "--", "kubectl", "--cache-dir"])
        .arg(w.root().join("kc"))
        .args(["auth", "whoami"]));
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("alice@example.com"));
}

#[test]
fn exec_without_a_session_and_no_terminal_exits_3() {
    let w = World::start(WorldOptions::default());
    let out = run(w.kaccess(&["exec", "demo", "--", "true"]));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("kaccess login demo"));
}

#[test]
fn logout_revokes_at_the_broker_and_the_idp_and_wipes_local_files() {
    let w = World::start(WorldOptions {
        credential: "token",
        ..WorldOptions::default()
    });
    let kubeconfig = w.login(&[]);
    let tokens_dir = w.runtime.join("tokens");
    let stored: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            std::fs::read_dir(&tokens_dir)
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .path(),
        )
        .unwrap(),
    )
    .unwrap();
    let refresh = stored["refresh_token"].as_str().unwrap().to_owned();
    assert!(w.idp.refresh_token_active(&refresh));
    let rec: serde_json::Value = serde_json::from_slice(
        &std::fs::read(w.runtime.join("sessions").join("demo.json")).unwrap(),
    )
    .unwrap();
    let token = rec["credential"]["token"].as_str().unwrap().to_owned();
    let out = run(w.kaccess(&["logout", "demo"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("Revoked session"), "{err}");
    assert!(err.contains("Revoked the refresh token"), "{err}");
    assert!(!kubeconfig.exists());
    assert!(
        !w.idp.refresh_token_active(&refresh),
        "refresh fails afterwards"
    );
    assert_eq!(std::fs::read_dir(&tokens_dir).unwrap().count(), 0);
    let revokes: Vec<_> = w
        .broker
        .audit()
        .into_iter()
        .filter(|r| r["event"] == "revoke")
        .collect();
    assert_eq!(revokes.len(), 1, "{revokes:#?}");
    // The token the session had fails review at once.
    let review = w.review_token(&token);
    assert_eq!(review["status"]["authenticated"], false, "{review}");
}

#[test]
fn revoked_session_makes_kubectl_fail_and_the_plugin_says_to_log_in_again() {
    let w = World::start(WorldOptions {
        credential: "token",
        ..WorldOptions::default()
    });
    let kubeconfig = w.login(&[]);
    let ok = run(w.kubectl(&kubeconfig, &["get", "pods"]));
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    let revoked = w.revoke_at_broker();
    assert_eq!(revoked["revoked"], true, "{revoked}");
    let failed = run(w.kubectl(&kubeconfig, &["get", "pods"]));
    assert_ne!(failed.status.code(), Some(0));
    let err = text(&failed.stderr);
    assert!(err.contains("run: kaccess login demo"), "{err}");
    assert!(
        err.contains("revoked by you (alice@example.com) at "),
        "the plugin passes on who revoked the session: {err}"
    );
    assert!(
        !w.runtime.join("sessions").join("demo.json").exists(),
        "the revoked session is gone locally too"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !reaper_pids(&w.runtime).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the revoked session's reaper was stopped, not left sleeping until its end"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn embedded_kubeconfig_works_without_kaccess_and_is_deleted_when_its_credential_ends() {
    let w = World::start(WorldOptions {
        credential_ttl: "6s",
        ..WorldOptions::default()
    });
    let kubeconfig = w.login(&["--embed"]);
    let yaml = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(yaml.contains("client-certificate-data"), "{yaml}");
    assert!(!yaml.contains("exec:"), "{yaml}");
    // Works with the runtime dir gone: nothing but the file is needed.
    let mut cmd = w.kubectl(&kubeconfig, &["auth", "whoami"]);
    cmd.env("PATH", "/usr/bin:/bin");
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("alice@example.com"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while kubeconfig.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(
        !kubeconfig.exists(),
        "deleted when the embedded credential ended"
    );
}

#[test]
fn status_env_and_kubeconfig_describe_the_live_session() {
    let w = World::start(WorldOptions::default());
    let kubeconfig = w.login(&["--reason", "CHG-42"]);
    let status = run(w.kaccess(&["status", "-o", "json"]));
    assert_eq!(status.status.code(), Some(0), "{}", text(&status.stderr));
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let s = &v["sessions"][0];
    assert_eq!(s["cluster"], "demo");
    assert_eq!(s["username"], "alice@example.com");
    assert_eq!(s["reason"], "CHG-42");
    assert_eq!(s["groups"][0], "kaccess:demo:sre");
    assert!(
        !text(&status.stdout).contains("PRIVATE KEY"),
        "no secret in status"
    );
    let env = run(w.kaccess(&["env", "demo"]));
    assert_eq!(
        text(&env.stdout).trim(),
        format!("export KUBECONFIG='{}'", kubeconfig.display())
    );
    let fish = run(w.kaccess(&["env", "demo", "--shell", "fish"]));
    assert!(text(&fish.stdout).starts_with("set -gx KUBECONFIG '"));
    let path = run(w.kaccess(&["kubeconfig", "demo"]));
    assert_eq!(text(&path.stdout).trim(), kubeconfig.display().to_string());
    let none = run(w.kaccess(&["env", "other"]));
    assert_eq!(none.status.code(), Some(3));
    assert!(text(&none.stderr).contains("kaccess login other"));
}

#[test]
fn login_json_goes_to_stdout_alone_with_the_session() {
    let w = World::start(WorldOptions::default());
    let out = run(w.kaccess(&[
        "login",
        "demo",
        "--flow",
        "device",
        "--token-store",
        "none",
        "--reason",
        "INC-9",
        "-o",
        "json",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON doc");
    assert_eq!(v["session"]["reason"], "INC-9");
    assert!(
        v["session"]["kubeconfig"]
            .as_str()
            .unwrap()
            .ends_with("demo.kubeconfig")
    );
    let err = text(&out.stderr);
    assert!(err.contains("export KUBECONFIG="), "{err}");
}

#[test]
fn plugin_with_a_person_at_a_terminal_logs_in_and_prints_the_credential() {
    let w = World::start(WorldOptions::default());
    // `script` gives the plugin a pseudo-terminal, as a person's shell would.
    let plugin = format!("{} credential demo", env!("CARGO_BIN_EXE_kaccess"));
    let base = w.kaccess(&[]);
    let mut child = std::process::Command::new("script")
        .args(["-qec", &plugin, "/dev/null"])
        .envs(base.get_envs().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))))
        .env_remove("DISPLAY")
        .env(
            "KUBERNETES_EXEC_INFO",
            r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":true}}"#,
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The person types the reason the broker asks for.
    use std::io::Write;
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"INC-7\n").unwrap();
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    let all = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{all}{}", text(&out.stderr));
    assert!(all.contains("logging in again"), "{all}");
    assert!(all.contains("Reason for access to `demo`"), "{all}");
    assert!(all.contains("\"kind\":\"ExecCredential\""), "{all}");
    assert!(w.runtime.join("sessions").join("demo.kubeconfig").exists());
    let status = run(w.kaccess(&["status", "-o", "json"]));
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["sessions"][0]["reason"], "INC-7");
}

#[test]
fn a_new_login_revokes_the_clusters_previous_session() {
    let w = World::start(WorldOptions {
        credential: "token",
        ..WorldOptions::default()
    });
    w.login(&[]);
    let first: serde_json::Value = serde_json::from_slice(
        &std::fs::read(w.runtime.join("sessions").join("demo.json")).unwrap(),
    )
    .unwrap();
    let old_token = first["credential"]["token"].as_str().unwrap().to_owned();
    w.login(&["--reason", "INC-2"]);
    let review = w.review_token(&old_token);
    assert_eq!(review["status"]["authenticated"], false, "{review}");
    let revokes: Vec<_> = w
        .broker
        .audit()
        .into_iter()
        .filter(|r| r["event"] == "revoke" && r["session_id"] == first["session_id"])
        .collect();
    assert_eq!(revokes.len(), 1);
}

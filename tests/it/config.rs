//! `kaccess config check|init` and the refusal of bad configuration files:
//! each mistake, and each placeholder left from the example, exits 2 naming
//! the file and the key path.

use crate::login::{Home, config_for, run, text};
use serde_json::Value;

const GOOD: &str = "
defaults:
  oidc:
    issuer: https://login.corp.internal
    client-id: kaccess
clusters:
  prod:
    server: https://prod.corp.internal:6443
    namespace: payments
    oidc:
      max-auth-age: 15m
    broker: {url: https://broker.corp.internal:8443}
  dev:
    server: https://dev.corp.internal:6443
    oidc: {client-id: kaccess-dev}
    broker: {url: https://broker.corp.internal:8443}
    credential: token
";

#[test]
fn check_prints_the_effective_config_with_defaults_merged() {
    let home = Home::new();
    home.write_config(GOOD);
    let out = run(home.kaccess(&["config", "check", "dev", "-o", "json"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["oidc"]["issuer"], "https://login.corp.internal");
    assert_eq!(j["oidc"]["client-id"], "kaccess-dev");
    assert_eq!(
        j["oidc"]["scopes"],
        serde_json::json!(["openid", "offline_access", "email", "groups"])
    );
    assert_eq!(j["oidc"]["mfa"]["required"], true);
    assert_eq!(j["credential"], "token");
    let err = text(&out.stderr);
    assert!(err.contains("is valid: 2 clusters"), "{err}");

    let out = run(home.kaccess(&["config", "check", "prod"]));
    assert!(out.status.success());
    let yaml = text(&out.stdout);
    assert!(
        yaml.contains("max-auth-age: 15m") && yaml.contains("namespace: payments"),
        "{yaml}"
    );

    let out = run(home.kaccess(&["config", "check", "staging"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("known clusters: `dev`, `prod`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn each_config_mistake_is_refused_with_file_and_key_path() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "unknown key",
            "    namespace: payments",
            "    namespace: payments\n    namepsace: x",
            "`clusters.prod.namepsace`: unknown field",
        ),
        (
            "bad duration",
            "max-auth-age: 15m",
            "max-auth-age: 15 minutes",
            "`clusters.prod.oidc.max-auth-age`",
        ),
        (
            "plain http issuer",
            "issuer: https://login.corp.internal",
            "issuer: http://login.corp.internal",
            "`defaults.oidc.issuer`",
        ),
        (
            "plain http broker",
            "broker: {url: https://broker.corp.internal:8443}\n  dev",
            "broker: {url: http://broker.corp.internal:8443}\n  dev",
            "`clusters.prod.broker.url`",
        ),
        (
            "bad cluster name",
            "  prod:",
            "  Prod_1:",
            "`clusters.Prod_1`",
        ),
        (
            "missing issuer",
            "    issuer: https://login.corp.internal\n",
            "",
            "`clusters.dev.oidc.issuer` is missing",
        ),
        (
            "wrong type",
            "credential: token",
            "credential: password",
            "`clusters.dev.credential`",
        ),
        (
            "placeholder ca data",
            "    namespace: payments",
            "    namespace: payments\n    certificate-authority-data: <base64 PEM>",
            "`clusters.prod.certificate-authority-data`: `<base64 PEM>` (put your API server's CA",
        ),
        (
            "bad ca data",
            "    namespace: payments",
            "    namespace: payments\n    certificate-authority-data: '%%%'",
            "`clusters.prod.certificate-authority-data`",
        ),
    ];
    for (what, from, to, expect) in cases {
        let home = Home::new();
        let bad = GOOD.replacen(from, to, 1);
        assert_ne!(bad, GOOD, "{what}: the case does not change the file");
        home.write_config(&bad);
        let out = run(home.kaccess(&["config", "check"]));
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert!(
            err.contains(&format!("`{}`", home.config.display())),
            "{what}: {err}"
        );
        assert!(
            err.contains(expect),
            "{what}: expected {expect:?} in:\n{err}"
        );
        assert!(out.stdout.is_empty(), "{what}");
        // `login` refuses the same file the same way, before any network.
        let out = run(home.kaccess(&["login", "prod", "--flow", "device"]));
        assert_eq!(out.status.code(), Some(2), "{what}: {}", text(&out.stderr));
    }
}

#[test]
fn missing_config_points_at_config_init() {
    let home = Home::new();
    let out = run(home.kaccess(&["login", "prod"]));
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("no configuration file at") && err.contains("kaccess config init"),
        "{err}"
    );
}

#[test]
fn init_writes_the_example_that_check_and_login_refuse_until_its_placeholders_are_replaced() {
    let home = Home::new();
    let out = run(home.kaccess(&["config", "init"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let written = std::fs::read_to_string(&home.config).unwrap();
    assert!(
        written.starts_with("# kaccess client configuration"),
        "{written}"
    );
    // The example parses, but `check` and `login` refuse it until its
    // placeholders are replaced, naming each key to edit.
    for args in [&["config", "check", "prod"][..], &["login", "prod"]] {
        let out = run(home.kaccess(args));
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("placeholder values from the example"), "{err}");
        for (key, value) in [
            ("defaults.oidc.issuer", "https://login.example.com"),
            ("clusters.prod.server", "https://prod.example.com:6443"),
            (
                "clusters.prod.broker.url",
                "https://broker.example.com:8443",
            ),
        ] {
            assert!(
                err.contains(&format!("`{key}`: `{value}`")),
                "{args:?} names `{key}`:\n{err}"
            );
        }
        assert!(err.contains("help: replace each value"), "{err}");
        assert!(out.stdout.is_empty());
    }
    let edited = std::fs::read_to_string(&home.config)
        .unwrap()
        .replace("example.com", "corp.internal");
    home.write_config(&edited);
    let out = run(home.kaccess(&["config", "check", "prod"]));
    assert!(
        out.status.success(),
        "the example with its placeholders replaced passes: {}",
        text(&out.stderr)
    );

    home.write_config(&config_for("https://mine.corp.internal", ""));
    let out = run(home.kaccess(&["config", "init"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--force"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        std::fs::read_to_string(&home.config)
            .unwrap()
            .contains("mine.corp.internal")
    );

    let out = run(home.kaccess(&["config", "init", "--force"]));
    assert!(out.status.success());
    assert!(
        !std::fs::read_to_string(&home.config)
            .unwrap()
            .contains("mine.corp.internal")
    );

    let out = run(home.kaccess(&["config", "init", "--stdout"]));
    assert!(text(&out.stdout).contains("clusters:"));
}

#[test]
fn a_session_ttl_under_the_brokers_floor_is_refused_before_any_login() {
    let home = Home::new();
    home.write_config(GOOD);
    let out = run(home.kaccess(&["login", "prod", "--session-ttl", "20s", "--reason", "x"]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "`--session-ttl`: a session of 20s is shorter than the shortest a broker grants (1m)"
        ),
        "{err}"
    );
}

#[test]
fn a_reason_that_would_display_differently_is_refused_before_any_login() {
    let home = Home::new();
    home.write_config(GOOD);
    for args in [
        &["login", "prod", "--reason", "INC-1\u{202E}evil"][..],
        &[
            "request",
            "prod",
            "--grant",
            "prod-admin",
            "--reason",
            "INC-1\u{2066}x",
        ],
        &[
            "admin",
            "revoke",
            "prod",
            "--user",
            "a",
            "--reason",
            "a\u{200B}b",
        ],
    ] {
        let out = run(home.kaccess(args));
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let err = text(&out.stderr);
        assert!(err.contains("would show differently"), "{args:?}: {err}");
    }
}

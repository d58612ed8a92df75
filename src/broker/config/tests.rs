use super::*;

pub const EXAMPLE: &str = r#"
listen: 127.0.0.1:8443
tls: {cert-file: broker.crt, key-file: broker.key}
state: {sqlite: /var/lib/kaccess/state.db}
audit: {file: /var/lib/kaccess/audit.jsonl, stdout: false}
issuers:
  - issuer: https://login.example.com
    audiences: [kaccess]
    username-claim: email
    groups-claim: groups
    mfa: {amr-any: [mfa, otp, hwk], acr-any: [urn:example:mfa]}
    max-auth-age: 10m
clusters:
  prod:
    ca: {cert-file: prod-ca.crt, key-file: prod-ca.key}
    credential-ttl: 10m
    max-session: 8h
    require-reason: true
    grants:
      - idp-groups: [sre]
        kube-groups: [kaccess:prod:sre]
        namespaces: [payments, billing]
        cluster-role: edit
"#;

fn parse(text: &str) -> Result<BrokerConfig, String> {
    BrokerConfig::parse(text, Path::new("/etc/kaccess"))
}

#[test]
fn the_documented_example_parses_and_paths_resolve() {
    let cfg = parse(EXAMPLE).unwrap();
    assert_eq!(cfg.listen.port(), 8443);
    let tls = cfg.tls.unwrap();
    assert_eq!(tls.cert_file, Path::new("/etc/kaccess/broker.crt"));
    assert_eq!(
        cfg.state,
        StateConfig::Sqlite("/var/lib/kaccess/state.db".into())
    );
    let iss = &cfg.issuers[0];
    assert_eq!(iss.username_claim, "email");
    assert_eq!(iss.max_auth_age, Some(Duration::from_secs(600)));
    let prod = &cfg.clusters["prod"];
    assert_eq!(prod.credential_ttl, Duration::from_secs(600));
    assert_eq!(prod.max_session, Duration::from_secs(8 * 3600));
    assert!(prod.require_reason);
    assert_eq!(prod.grants[0].namespaces, ["payments", "billing"]);
}

#[test]
fn unknown_keys_are_refused_with_their_path() {
    let text = EXAMPLE.replace("cluster-role: edit", "cluster-role: edit\n        extra: 1");
    let err = parse(&text).unwrap_err();
    assert!(err.contains("clusters.prod.grants[0]"), "{err}");
    assert!(err.contains("unknown field `extra`"), "{err}");
}

#[test]
fn system_groups_in_policy_are_refused() {
    let text = EXAMPLE.replace("[kaccess:prod:sre]", "[kaccess:prod:sre, System:Masters]");
    let err = parse(&text).unwrap_err();
    assert!(err.contains("clusters.prod.grants[0].kube-groups"), "{err}");
    assert!(err.contains("System:Masters"), "{err}");
}

#[test]
fn plain_http_needs_loopback_and_the_flag() {
    let no_tls = EXAMPLE.replace("tls: {cert-file: broker.crt, key-file: broker.key}\n", "");
    assert!(parse(&no_tls).unwrap_err().contains("`tls`"));
    let ok = no_tls.replace(
        "listen: 127.0.0.1:8443",
        "listen: 127.0.0.1:8443\ninsecure-http: true",
    );
    assert!(parse(&ok).unwrap().insecure_http);
    let public = ok.replace("127.0.0.1:8443", "0.0.0.0:8443");
    assert!(parse(&public).unwrap_err().contains("loopback"));
}

#[test]
fn bad_durations_name_their_key() {
    let text = EXAMPLE.replace("credential-ttl: 10m", "credential-ttl: 10");
    let err = parse(&text).unwrap_err();
    assert!(err.contains("clusters.prod.credential-ttl"), "{err}");
    assert!(err.contains("no unit"), "{err}");
}

#[test]
fn issuers_must_require_mfa() {
    let text = EXAMPLE.replace(
        "    mfa: {amr-any: [mfa, otp, hwk], acr-any: [urn:example:mfa]}\n",
        "",
    );
    assert!(parse(&text).unwrap_err().contains("issuers[0].mfa"));
}

#[test]
fn odd_cluster_names_are_refused() {
    let text = EXAMPLE.replace("  prod:", "  \"../prod\":");
    assert!(parse(&text).unwrap_err().contains("cluster names"));
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let started = std::time::Instant::now();
    for deep in ["[".repeat(100_000), "{a: ".repeat(100_000)] {
        let err = parse(&deep).unwrap_err();
        assert!(err.contains("at most 4096"), "{err}");
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let nested = format!("clusters: {}1{}\n", "[".repeat(1000), "]".repeat(1000));
    assert!(parse(&nested).is_err());
}

#[test]
fn yaml_alias_bombs_do_not_expand_without_bound() {
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 0..12 {
        let prev = if i == 0 {
            "a".to_string()
        } else {
            format!("l{}", i - 1)
        };
        bomb.push_str(&format!(
                "l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
    }
    assert!(parse(&bomb).is_err());
}

#[test]
fn elevated_grants_need_a_unique_name_and_one_kind_of_elevation() {
    let grant = |extra: &str| {
        format!(
            "      - name: prod-admin\n        idp-groups: [sre]\n        kube-groups: [kaccess:prod:admin]\n        namespaces: [\"*\"]\n        cluster-role: admin\n{extra}"
        )
    };
    let approval =
        "        approval: {approver-groups: [leads], max-duration: 1h, request-ttl: 30m}\n";
    // The example's grants are the last lines: more grants append there.
    let with = |grants: &str| parse(&format!("{}{grants}", EXAMPLE.trim_end()));
    assert!(with(&format!("\n{}", grant(approval))).is_ok());
    let unnamed = grant(approval).replace(
        "      - name: prod-admin\n        idp-groups",
        "      - idp-groups",
    );
    let e = with(&format!("\n{unnamed}")).unwrap_err();
    assert!(e.contains(".name`") && e.contains("needs a `name`"), "{e}");
    let twice = format!("\n{}{}", grant(approval), grant(""));
    let e = with(&twice).unwrap_err();
    assert!(e.contains("unique per cluster"), "{e}");
    let both = grant(&format!(
        "{approval}        break-glass: {{max-duration: 30m}}\n"
    ));
    let e = with(&format!("\n{both}")).unwrap_err();
    assert!(e.contains("exclude each other"), "{e}");
    let nobody =
        grant("        approval: {approver-groups: [], max-duration: 1h, request-ttl: 30m}\n");
    let e = with(&format!("\n{nobody}")).unwrap_err();
    assert!(e.contains("approver-groups"), "{e}");
}

#[test]
fn notify_targets_need_https_unless_on_loopback() {
    let with = |url: &str| parse(&format!("{EXAMPLE}notify:\n  - url: {url}\n"));
    assert!(with("https://hooks.example.com/kaccess").is_ok());
    assert!(with("http://127.0.0.1:9000/hook").is_ok());
    let e = with("http://hooks.example.com/kaccess").unwrap_err();
    assert!(e.contains("`notify[0].url`"), "{e}");
}

#[test]
fn postgres_state_parses_and_needs_no_audit_file() {
    let text = EXAMPLE
        .replace(
            "state: {sqlite: /var/lib/kaccess/state.db}",
            "state: {postgres: {url: \"postgresql://kaccess@db.example.com/kaccess\", \
             password-file: db-password, ca-file: db-ca.crt, max-staleness: 3s}}",
        )
        .replace(
            "audit: {file: /var/lib/kaccess/audit.jsonl, stdout: false}\n",
            "",
        );
    let cfg = parse(&text).unwrap();
    let StateConfig::Postgres(pg) = cfg.state else {
        panic!("not postgres: {:?}", cfg.state)
    };
    assert_eq!(
        pg.password_file.unwrap(),
        Path::new("/etc/kaccess/db-password")
    );
    assert_eq!(pg.ca_file.unwrap(), Path::new("/etc/kaccess/db-ca.crt"));
    assert_eq!(pg.max_staleness, Duration::from_secs(3));
    assert_eq!(cfg.audit, AuditConfig::default());
}

#[test]
fn state_takes_exactly_one_backend_and_names_bad_keys() {
    let pg = "postgres: {url: \"postgresql://kaccess@127.0.0.1/kaccess\"}";
    let both = EXAMPLE.replace(
        "state: {sqlite: /var/lib/kaccess/state.db}",
        &format!("state: {{sqlite: state.db, {pg}}}"),
    );
    let err = parse(&both).unwrap_err();
    assert!(
        err.contains("`state`") && err.contains("exactly one"),
        "{err}"
    );
    let typo = EXAMPLE.replace(
        "state: {sqlite: /var/lib/kaccess/state.db}",
        "state: {postgres: {url: \"postgresql://k@127.0.0.1/k\", pasword-file: x}}",
    );
    let err = parse(&typo).unwrap_err();
    assert!(err.contains("state.postgres"), "{err}");
    assert!(err.contains("unknown field `pasword-file`"), "{err}");
    let plain = EXAMPLE.replace(
        "state: {sqlite: /var/lib/kaccess/state.db}",
        "state: {postgres: {url: \"postgresql://k@db.example.com/k?sslmode=disable\"}}",
    );
    let err = parse(&plain).unwrap_err();
    assert!(
        err.contains("`state.postgres.url`") && err.contains("loopback"),
        "{err}"
    );
    let neither = EXAMPLE.replace(
        "state: {sqlite: /var/lib/kaccess/state.db}",
        "state: {postgres: {password-file: x}}",
    );
    let err = parse(&neither).unwrap_err();
    assert!(err.contains("exactly one of `url` or `url-file`"), "{err}");
    let from_file = EXAMPLE
        .replace(
            "state: {sqlite: /var/lib/kaccess/state.db}",
            "state: {postgres: {url-file: db-url}}",
        )
        .replace(
            "audit: {file: /var/lib/kaccess/audit.jsonl, stdout: false}\n",
            "",
        );
    let StateConfig::Postgres(pg) = parse(&from_file).unwrap().state else {
        panic!("not postgres")
    };
    assert_eq!(pg.url_file.unwrap(), Path::new("/etc/kaccess/db-url"));
}

#[test]
fn an_audit_file_is_required_with_sqlite_and_refused_with_postgres() {
    let no_file = EXAMPLE.replace(
        "audit: {file: /var/lib/kaccess/audit.jsonl, stdout: false}\n",
        "",
    );
    let err = parse(&no_file).unwrap_err();
    assert!(err.contains("`audit.file`: missing"), "{err}");
    let both = EXAMPLE.replace(
        "state: {sqlite: /var/lib/kaccess/state.db}",
        "state: {postgres: {url: \"postgresql://k@127.0.0.1/k\"}}",
    );
    let err = parse(&both).unwrap_err();
    assert!(
        err.contains("`audit.file`") && err.contains("in the database"),
        "{err}"
    );
}

/// EXAMPLE with a `proxy:` block for `prod`, its files made in `dir`.
pub fn with_proxy(dir: &Path, upstream_extra: &str) -> String {
    for f in ["apiserver-ca.crt", "token"] {
        std::fs::write(dir.join(f), "x").unwrap();
    }
    format!(
        "{EXAMPLE}    proxy:\n      listen: 127.0.0.1:9443\n      upstream:\n        server: https://10.0.0.1:6443\n        certificate-authority: apiserver-ca.crt\n{upstream_extra}"
    )
}

#[test]
fn a_proxy_block_parses_and_its_paths_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let text = with_proxy(
        dir.path(),
        "        token-file: token\n        identity: {serviceaccount: kaccess/proxy}\n",
    );
    let cfg = BrokerConfig::parse(&text, dir.path()).unwrap();
    let p = cfg.clusters["prod"].proxy.as_ref().unwrap();
    assert_eq!(p.listen.port(), 9443);
    assert_eq!(
        p.upstream.token_file.as_deref(),
        Some(dir.path().join("token").as_path())
    );
    assert_eq!(
        p.upstream.identity,
        Some(crate::proxy::config::ProxyIdentity::Serviceaccount(
            "kaccess/proxy".into()
        ))
    );
}

#[test]
fn proxy_mistakes_name_their_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "        token-file: token\n        tokn: 1\n",
            "clusters.prod.proxy.upstream",
            "unknown field `tokn`",
        ),
        (
            "        token-file: missing\n",
            "clusters.prod.proxy.upstream.token-file",
            "does not exist",
        ),
        ("", "clusters.prod.proxy.upstream", "either `token-file`"),
        (
            "        token-file: token\n        client-cert-file: token\n        client-key-file: token\n",
            "clusters.prod.proxy.upstream",
            "either `token-file`",
        ),
        (
            "        token-file: token\n        identity: {serviceaccount: proxy}\n",
            "clusters.prod.proxy.upstream.identity.serviceaccount",
            "NAMESPACE/NAME",
        ),
    ];
    for (extra, path, why) in cases {
        let err = BrokerConfig::parse(&with_proxy(dir.path(), extra), dir.path()).unwrap_err();
        assert!(err.contains(&format!("`{path}")), "{extra}: {err}");
        assert!(err.contains(why), "{extra}: {err}");
    }
    let text = with_proxy(dir.path(), "        token-file: token\n")
        .replace("https://10.0.0.1:6443", "http://10.0.0.1:6443/api");
    let err = BrokerConfig::parse(&text, dir.path()).unwrap_err();
    assert!(
        err.contains("`clusters.prod.proxy.upstream.server`"),
        "{err}"
    );
    let text = with_proxy(dir.path(), "        token-file: token\n").replace("9443", "8443");
    let err = BrokerConfig::parse(&text, dir.path()).unwrap_err();
    assert!(err.contains("already taken by `listen`"), "{err}");
}

#[test]
fn record_policy_defaults_to_optional_and_auditor_groups_parse() {
    use crate::proxy::config::RecordPolicy;
    let dir = tempfile::tempdir().unwrap();
    let base = with_proxy(dir.path(), "        token-file: token\n");
    let cfg = BrokerConfig::parse(&base, dir.path()).unwrap();
    assert_eq!(
        cfg.clusters["prod"].proxy.as_ref().unwrap().record,
        RecordPolicy::Optional
    );
    assert!(cfg.auditor_groups.is_empty());
    for (value, want) in [
        ("off", RecordPolicy::Off),
        ("required", RecordPolicy::Required),
    ] {
        let text = format!("auditor-groups: [compliance]\n{base}      record: {value}\n");
        let cfg = BrokerConfig::parse(&text, dir.path()).unwrap();
        assert_eq!(cfg.clusters["prod"].proxy.as_ref().unwrap().record, want);
        assert_eq!(cfg.auditor_groups, ["compliance"]);
    }
    let err =
        BrokerConfig::parse(&format!("{base}      record: always\n"), dir.path()).unwrap_err();
    assert!(err.contains("clusters.prod.proxy.record"), "{err}");
}

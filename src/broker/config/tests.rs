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
    assert_eq!(cfg.state.sqlite, Path::new("/var/lib/kaccess/state.db"));
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

use super::*;
use crate::config::yaml_limits::MAX_CONFIG_BYTES;

const BASE: &str = "
defaults:
  oidc:
    issuer: https://login.example.com
    client-id: kaccess
clusters:
  prod:
    server: https://prod.example.com:6443
    oidc:
      max-auth-age: 15m
      mfa:
        acr-any: [urn:example:mfa]
    broker: {url: https://broker.example.com:8443}
    session-ttl: 8h
";

fn err(text: &str) -> String {
    parse(Path::new("/etc/k.yaml"), text)
        .unwrap_err()
        .to_string()
}

/// A billion-laughs document: 10^12 nodes if aliases were expanded.
fn alias_bomb() -> String {
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 0..12 {
        let prev = if i == 0 {
            "a".to_string()
        } else {
            format!("l{}", i - 1)
        };
        let refs = vec![format!("*{prev}"); 10].join(", ");
        bomb.push_str(&format!("l{i}: &l{i} [{refs}]\n"));
    }
    bomb
}

#[test]
fn yaml_alias_bombs_and_deep_nesting_are_refused_quickly() {
    let started = std::time::Instant::now();
    assert!(parse(Path::new("/etc/k.yaml"), &alias_bomb()).is_err());
    for deep in ["[".repeat(100_000), "{a: ".repeat(100_000)] {
        let e = err(&deep);
        assert!(
            e.contains("/etc/k.yaml") && e.contains("at most 4096"),
            "{e}"
        );
    }
    // Below the bracket cap, nesting still ends in an error, not a crash.
    assert!(parse(Path::new("/etc/k.yaml"), &"[".repeat(4000)).is_err());
    let e = err(&"# padding\n".repeat(MAX_CONFIG_BYTES / 10 + 1));
    assert!(e.contains("at most 1048576"), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn defaults_fill_gaps_and_cluster_keys_win() {
    let c = parse(Path::new("/x/k.yaml"), BASE).unwrap();
    let prod = &c["prod"];
    assert_eq!(prod.oidc.issuer, "https://login.example.com");
    assert_eq!(prod.oidc.scopes, DEFAULT_SCOPES);
    assert!(prod.oidc.mfa.required);
    assert_eq!(prod.oidc.mfa.amr_any, DEFAULT_AMR_ANY);
    assert_eq!(prod.oidc.mfa.acr_any, ["urn:example:mfa"]);
    assert_eq!(prod.oidc.max_auth_age, Some(Duration::from_secs(900)));
    assert_eq!(prod.session_ttl, Some(Duration::from_secs(8 * 3600)));
    let over = BASE.replace(
        "    oidc:\n      max-auth-age",
        "    oidc:\n      client-id: other\n      max-auth-age",
    );
    let c = parse(Path::new("/x/k.yaml"), &over).unwrap();
    assert_eq!(c["prod"].oidc.client_id, "other");
}

#[test]
fn unknown_key_is_refused_with_its_path() {
    let e = err(&BASE.replace("session-ttl: 8h", "session-ttl: 8h\n    sesion-ttl: 1h"));
    assert!(
        e.contains("`/etc/k.yaml`")
            && e.contains("`clusters.prod.sesion-ttl`: unknown field `sesion-ttl`"),
        "{e}"
    );
}

#[test]
fn a_session_ttl_under_the_brokers_floor_is_refused_naming_the_floor() {
    let e = err(&BASE.replace("session-ttl: 8h", "session-ttl: 20s"));
    assert!(
        e.contains("`clusters.prod.session-ttl`") && e.contains("shortest a broker grants (1m)"),
        "{e}"
    );
}

#[test]
fn bad_duration_names_key() {
    let e = err(&BASE.replace("max-auth-age: 15m", "max-auth-age: 15"));
    assert!(
        e.contains("`clusters.prod.oidc.max-auth-age`") && e.contains("no unit"),
        "{e}"
    );
}

#[test]
fn plain_http_only_on_loopback() {
    let e = err(&BASE.replace("https://login.example.com", "http://login.example.com"));
    assert!(
        e.contains("`defaults.oidc.issuer`") && e.contains("https"),
        "{e}"
    );
    assert!(
        parse(
            Path::new("k"),
            &BASE.replace("https://login.example.com", "http://127.0.0.1:5556")
        )
        .is_ok()
    );
    assert!(
        parse(
            Path::new("k"),
            &BASE.replace("https://login.example.com", "http://[::1]:5556")
        )
        .is_ok()
    );
    assert!(
        parse(
            Path::new("k"),
            &BASE.replace("https://login.example.com", "http://localhost:5556")
        )
        .is_ok()
    );
}

#[test]
fn missing_required_key_names_both_places() {
    let e = err(&BASE.replace("    broker: {url: https://broker.example.com:8443}\n", ""));
    assert!(
        e.contains("`clusters.prod.broker.url` is missing") && e.contains("`defaults.broker`"),
        "{e}"
    );
}

#[test]
fn bad_cluster_names_are_refused() {
    let e = err(&BASE.replace("  prod:", "  Prod:"));
    assert!(
        e.contains("`clusters.Prod`") && e.contains("not a valid cluster name"),
        "{e}"
    );
    assert!(valid_cluster_name("prod-eu.1_a"));
    assert!(!valid_cluster_name("-prod"));
    assert!(!valid_cluster_name("a/b"));
    assert!(!valid_cluster_name(""));
}

#[test]
fn scopes_must_include_openid_and_mfa_cannot_be_unsatisfiable() {
    let e = err(&BASE.replace("      max-auth-age: 15m", "      scopes: [email]"));
    assert!(e.contains("`clusters.prod.oidc.scopes`"), "{e}");
    let e = err(&BASE.replace(
        "acr-any: [urn:example:mfa]",
        "acr-any: []\n        amr-any: []",
    ));
    assert!(e.contains("`clusters.prod.oidc.mfa`"), "{e}");
}

//! The values `kaccess config init` (and the README) write for the user to
//! replace: hosts under the reserved `example.com`/`.org`/`.net` names
//! (RFC 2606, never a real service), `urn:example:` values (RFC 6963) and
//! `<...>` markers such as `<base64 PEM>`. A configuration that still holds
//! one is refused at load, naming each key to edit, instead of a login
//! failing later on a DNS error for `login.example.com`.

use serde_yaml::Value;

/// One placeholder: where it is (`defaults.oidc.issuer`) and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    pub key: String,
    pub value: String,
}

impl Placeholder {
    /// What belongs there instead, by the key's last part.
    pub fn wanted(&self) -> &'static str {
        let leaf = self.key.rsplit('.').next().unwrap_or_default();
        let leaf = leaf.split('[').next().unwrap_or_default();
        match leaf {
            "issuer" => "your identity provider's issuer URL",
            "server" => "your API server's URL",
            "url" => "your kaccess broker's URL",
            "certificate-authority-data" => "your API server's CA certificate, PEM, base64-encoded",
            "certificate-authority" | "ca-file" => "the path of a PEM file",
            "acr-values" | "acr-any" => "an `acr` value your identity provider uses",
            _ => "your own value",
        }
    }
}

/// Every placeholder in `text`, in file order. Text that is not YAML has
/// none: the loader reports the syntax error.
pub fn find(text: &str) -> Vec<Placeholder> {
    if super::yaml_limits::check_yaml_shape(text).is_err() {
        return Vec::new();
    }
    let Ok(doc) = serde_yaml::from_str::<Value>(text) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    walk(&doc, "", &mut found);
    found
}

fn walk(value: &Value, key: &str, found: &mut Vec<Placeholder>) {
    match value {
        Value::String(s) if is_placeholder(s) => found.push(Placeholder {
            key: key.to_owned(),
            value: s.clone(),
        }),
        Value::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &format!("{key}[{i}]"), found);
            }
        }
        Value::Mapping(map) => {
            for (k, v) in map {
                let name = match k {
                    Value::String(s) => s.clone(),
                    other => serde_yaml::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_owned(),
                };
                let path = if key.is_empty() {
                    name
                } else {
                    format!("{key}.{name}")
                };
                walk(v, &path, found);
            }
        }
        Value::Tagged(t) => walk(&t.value, key, found),
        _ => {}
    }
}

fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    if v.starts_with('<') && v.ends_with('>') {
        return true;
    }
    if v.to_ascii_lowercase().starts_with("urn:example:") {
        return true;
    }
    url::Url::parse(v)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .is_some_and(|host| {
            ["example.com", "example.org", "example.net"]
                .iter()
                .any(|d| host == *d || host.ends_with(&format!(".{d}")))
                || host == "example"
                || host.ends_with(".example")
        })
}

/// The message for `found` in the file `path`.
pub fn describe(path: &std::path::Path, found: &[Placeholder]) -> String {
    let mut out = format!(
        "`{}` still holds placeholder values from the example; edit {}:",
        path.display(),
        if found.len() == 1 {
            "this key"
        } else {
            "these keys"
        }
    );
    for p in found {
        out.push_str(&format!(
            "\n  `{}`: `{}` (put {} here)",
            p.key,
            p.value,
            p.wanted()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_init_example_is_all_placeholders_where_it_matters() {
        let found = find(super::super::example::EXAMPLE);
        let keys: Vec<&str> = found.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "defaults.oidc.issuer",
                "clusters.prod.server",
                "clusters.prod.broker.url"
            ]
        );
        assert_eq!(found[0].value, "https://login.example.com");
        assert_eq!(found[0].wanted(), "your identity provider's issuer URL");
    }

    #[test]
    fn markers_reserved_hosts_and_example_urns_are_placeholders_real_values_are_not() {
        let text = "clusters:
  prod:
    server: https://api.prod.corp.internal:6443
    certificate-authority-data: <base64 PEM>
    oidc:
      issuer: https://login.EXAMPLE.org
      acr-values: [urn:example:mfa, urn:corp:mfa]
      ca-file: <path>
    broker: {url: https://broker.example:8443}
";
        let found: Vec<(String, String)> =
            find(text).into_iter().map(|p| (p.key, p.value)).collect();
        let want = [
            ("clusters.prod.certificate-authority-data", "<base64 PEM>"),
            ("clusters.prod.oidc.issuer", "https://login.EXAMPLE.org"),
            ("clusters.prod.oidc.acr-values[0]", "urn:example:mfa"),
            ("clusters.prod.oidc.ca-file", "<path>"),
            ("clusters.prod.broker.url", "https://broker.example:8443"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(found, want);
        assert!(find("clusters:\n  prod:\n    server: https://myexample.com\n").is_empty());
        assert!(
            find("clusters: [").is_empty(),
            "not YAML: the loader says why"
        );
    }
}

//! What a request asks for, named as kube-apiserver names it for
//! authorization and audit: a port of `RequestInfoFactory.NewRequestInfo`
//! (k8s.io/apiserver `pkg/endpoints/request/requestinfo.go`) with the
//! prefixes kube-apiserver uses (`api`, `apis`; `api` groupless), plus the
//! exec/attach/port-forward options the audit record names.

/// The parts of a request that the audit record names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    pub is_resource_request: bool,
    pub path: String,
    /// get, list, watch, create, update, patch, delete, deletecollection,
    /// proxy; for a non-resource request the lower-case method.
    pub verb: String,
    pub api_group: String,
    pub api_version: String,
    pub namespace: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    /// `exec`/`attach`: `container`; `exec`: `command`, one argv element
    /// per value; `portforward`: `ports`.
    pub container: Option<String>,
    pub command: Vec<String>,
    pub ports: Vec<String>,
}

const SPECIAL_VERBS: [&str; 2] = ["proxy", "watch"];
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];

/// `query` is the raw query string (without `?`).
pub fn parse(method: &str, path: &str, query: Option<&str>) -> RequestInfo {
    let mut info = RequestInfo {
        path: path.to_string(),
        verb: method.to_ascii_lowercase(),
        ..Default::default()
    };
    let pairs: Vec<(String, String)> = query
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let first = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };

    let trimmed = path.trim_matches('/');
    let mut parts: Vec<&str> = if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('/').collect()
    };
    if parts.len() < 3 || !matches!(parts[0], "api" | "apis") {
        return info;
    }
    let prefix = parts.remove(0);
    if prefix == "apis" {
        if parts.len() < 3 {
            return info;
        }
        info.api_group = parts.remove(0).to_string();
    }
    info.is_resource_request = true;
    info.api_version = parts.remove(0).to_string();

    if SPECIAL_VERBS.contains(&parts[0]) {
        if parts.len() < 2 {
            // kube-apiserver refuses this path; keep what is known.
            return info;
        }
        info.verb = parts.remove(0).to_string();
    } else {
        info.verb = match method {
            "POST" => "create",
            "GET" | "HEAD" => "get",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            _ => "",
        }
        .to_string();
    }

    if parts[0] == "namespaces" && parts.len() > 1 {
        info.namespace = parts[1].to_string();
        if parts.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&parts[2]) {
            parts.drain(..2);
        }
    }

    if parts.len() >= 3 && info.verb != "proxy" {
        info.subresource = parts[2].to_string();
    }
    if parts.len() >= 2 {
        info.name = parts[1].to_string();
    }
    if !parts.is_empty() {
        info.resource = parts[0].to_string();
    }

    if info.name.is_empty() && info.verb == "get" {
        // metav1's []string → bool conversion: anything but false/0 is true.
        let watch = first("watch")
            .is_some_and(|v| !matches!(v.to_ascii_lowercase().as_str(), "false" | "0"));
        info.verb = if watch { "watch" } else { "list" }.to_string();
        if let Some(name) = first("fieldSelector").and_then(exact_name) {
            info.name = name;
        }
    }
    if info.name.is_empty() && info.verb == "delete" {
        info.verb = "deletecollection".to_string();
    }

    match info.subresource.as_str() {
        "exec" | "attach" => {
            info.container = first("container").map(str::to_string);
            if info.subresource == "exec" {
                info.command = pairs
                    .iter()
                    .filter(|(k, _)| k == "command")
                    .map(|(_, v)| v.clone())
                    .collect();
            }
        }
        "portforward" => {
            info.ports = pairs
                .iter()
                .filter(|(k, _)| k == "ports")
                .flat_map(|(_, v)| v.split(',').map(|p| p.trim().to_string()))
                .filter(|p| !p.is_empty())
                .collect();
        }
        _ => {}
    }
    info
}

/// `fields.Selector.RequiresExactMatch("metadata.name")`: the selector is
/// exactly one `metadata.name=X` (or `==`), and X is a valid path segment.
fn exact_name(selector: &str) -> Option<String> {
    if selector.contains(',') {
        return None;
    }
    let (key, value) = selector
        .split_once("==")
        .or_else(|| selector.split_once('='))?;
    if key.trim() != "metadata.name" || key.ends_with('!') {
        return None;
    }
    let value = value.trim();
    let valid = !value.is_empty()
        && value != "."
        && value != ".."
        && !value.contains('/')
        && !value.contains('%');
    valid.then(|| value.to_string())
}

/// kube-apiserver's `LongRunningFunc`: requests that are streams, whose
/// audit record says how they ended.
pub fn is_long_running(info: &RequestInfo) -> bool {
    matches!(info.verb.as_str(), "watch" | "proxy")
        || matches!(
            info.subresource.as_str(),
            "attach" | "exec" | "proxy" | "log" | "portforward"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(method: &str, uri: &str) -> RequestInfo {
        let (path, query) = uri
            .split_once('?')
            .map_or((uri, None), |(a, b)| (a, Some(b)));
        parse(method, path, query)
    }

    #[test]
    fn verbs_follow_method_name_and_query_as_kube_apiserver_parses_them() {
        let cases = [
            (
                "GET",
                "/api/v1/namespaces/payments/pods",
                "list",
                "payments",
                "pods",
                "",
                "",
            ),
            (
                "GET",
                "/api/v1/namespaces/payments/pods?watch=true",
                "watch",
                "payments",
                "pods",
                "",
                "",
            ),
            (
                "GET",
                "/api/v1/namespaces/payments/pods?watch=0",
                "list",
                "payments",
                "pods",
                "",
                "",
            ),
            (
                "GET",
                "/api/v1/namespaces/payments/pods/web",
                "get",
                "payments",
                "pods",
                "web",
                "",
            ),
            (
                "DELETE",
                "/api/v1/namespaces/payments/pods",
                "deletecollection",
                "payments",
                "pods",
                "",
                "",
            ),
            (
                "DELETE",
                "/api/v1/namespaces/payments/pods/web",
                "delete",
                "payments",
                "pods",
                "web",
                "",
            ),
            (
                "POST",
                "/api/v1/namespaces/payments/pods",
                "create",
                "payments",
                "pods",
                "",
                "",
            ),
            (
                "PUT",
                "/api/v1/namespaces/payments/pods/web",
                "update",
                "payments",
                "pods",
                "web",
                "",
            ),
            (
                "PATCH",
                "/api/v1/namespaces/payments/pods/web/status",
                "patch",
                "payments",
                "pods",
                "web",
                "status",
            ),
            (
                "GET",
                "/api/v1/watch/namespaces/payments/pods",
                "watch",
                "payments",
                "pods",
                "",
                "",
            ),
            (
                "GET",
                "/api/v1/namespaces/payments",
                "get",
                "payments",
                "namespaces",
                "payments",
                "",
            ),
            (
                "PUT",
                "/api/v1/namespaces/payments/finalize",
                "update",
                "payments",
                "namespaces",
                "payments",
                "finalize",
            ),
            (
                "GET",
                "/api/v1/proxy/namespaces/payments/pods/web/x/y",
                "proxy",
                "payments",
                "pods",
                "web",
                "",
            ),
            ("GET", "/api/v1/nodes", "list", "", "nodes", "", ""),
            (
                "GET",
                "/api/v1/namespaces/payments/pods?fieldSelector=metadata.name%3Dweb&watch=1",
                "watch",
                "payments",
                "pods",
                "web",
                "",
            ),
        ];
        for (method, uri, verb, ns, resource, name, sub) in cases {
            let i = p(method, uri);
            assert!(i.is_resource_request, "{uri}");
            assert_eq!(
                (
                    i.verb.as_str(),
                    i.namespace.as_str(),
                    i.resource.as_str(),
                    i.name.as_str(),
                    i.subresource.as_str()
                ),
                (verb, ns, resource, name, sub),
                "{method} {uri}"
            );
        }
    }

    #[test]
    fn groups_and_non_resource_paths_are_told_apart() {
        let i = p("GET", "/apis/apps/v1/namespaces/payments/deployments/web");
        assert_eq!(
            (i.api_group.as_str(), i.api_version.as_str()),
            ("apps", "v1")
        );
        assert_eq!(i.resource, "deployments");
        for path in ["/version", "/api", "/api/v1", "/apis/apps/v1", "/healthz"] {
            let i = p("GET", path);
            assert!(!i.is_resource_request, "{path}");
            assert_eq!(i.verb, "get");
        }
        assert_eq!(
            p("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews").verb,
            "create"
        );
    }

    #[test]
    fn exec_and_portforward_options_are_read_from_the_query() {
        let i = p(
            "GET",
            "/api/v1/namespaces/payments/pods/web/exec?command=sh&command=-c&command=echo%20hi&container=app&stdin=true",
        );
        assert_eq!((i.verb.as_str(), i.subresource.as_str()), ("get", "exec"));
        assert_eq!(i.container.as_deref(), Some("app"));
        assert_eq!(i.command, ["sh", "-c", "echo hi"]);
        assert!(is_long_running(&i));
        let i = p(
            "POST",
            "/api/v1/namespaces/payments/pods/web/portforward?ports=80%2C1234",
        );
        assert_eq!(i.ports, ["80", "1234"]);
        assert!(!is_long_running(&p(
            "GET",
            "/api/v1/namespaces/payments/pods"
        )));
    }
}

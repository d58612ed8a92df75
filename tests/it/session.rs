//! The product as users run it: `kaccess login` against the real IdP and
//! broker, then real kubectl through the session kubeconfig against the API
//! stand-in, which authenticates exactly like kube-apiserver.

use crate::support::world::{World, WorldOptions, run, text};

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

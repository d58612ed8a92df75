//! The one-command demo, in the non-interactive mode CI uses: the same
//! `support::demo::run` that `examples/demo.rs` (and `./install.sh --demo`)
//! runs, with this build's kaccess.

use crate::support::demo::{self, DemoOptions};

#[test]
fn demo_logs_in_uses_kubectl_ends_the_session_and_verifies_the_audit_log() {
    let report = demo::run(&DemoOptions {
        kaccess: crate::support::kaccess_bin(),
        ci: true,
    })
    .expect("the demo runs every step");
    assert!(
        report.login.contains("alice@example.com"),
        "login names the user: {}",
        report.login
    );
    assert!(report.pods.contains("NAME"), "{}", report.pods);
    assert!(
        report.whoami.contains("alice@example.com") && report.whoami.contains("kaccess:demo:sre"),
        "whoami shows the user and the granted group: {}",
        report.whoami
    );
    assert!(report.status.contains("DEMO-1"), "{}", report.status);
    assert!(
        !report.kubeconfig.exists(),
        "the session kubeconfig is gone at session end"
    );
    assert!(
        report.removed_after_end < std::time::Duration::from_secs(5),
        "the reaper deleted it right at the session end, not {:?} later",
        report.removed_after_end
    );
    assert!(
        report.audit.iter().any(|r| r["event"] == "exchange"
            && r["outcome"] == "issued"
            && r["reason"] == "DEMO-1"),
        "the audit log records the exchange: {:?}",
        report.audit
    );
    assert!(
        report.audit_verify.contains("chain intact"),
        "{}",
        report.audit_verify
    );
    assert!(report.leftovers.is_empty(), "{:?}", report.leftovers);
}

//! The one-command demo, in the non-interactive mode CI uses: the same
//! `support::demo::run` that `examples/demo.rs` (and `./install.sh --demo`)
//! runs, with this build's kaccess. What it proves is checked on what it
//! printed, as a newcomer reads it.

use crate::support::demo::{self, DemoOptions};

#[test]
fn demo_refuses_no_mfa_logs_in_with_mfa_ends_and_revokes_sessions_and_verifies_the_audit_log() {
    let report = demo::run(&DemoOptions {
        kaccess: crate::support::kaccess_bin(),
        ci: true,
    })
    .expect("the demo runs every step");
    let shown = &report.transcript;

    // The login without MFA: refused with exit 4, and the demo shows why.
    assert_eq!(report.refused_code, Some(4), "{}", report.refused);
    let refusal = shown
        .find("==> A login whose ID token lacks MFA")
        .map(|at| &shown[at..])
        .expect("the demo narrates the refused login");
    let login_step = refusal.find("==> alice logs in").unwrap_or(refusal.len());
    let refusal = &refusal[..login_step];
    assert!(
        refusal.contains("kaccess: error: ") && refusal.contains("`amr` is [pwd]"),
        "the refusal's message is shown:\n{refusal}"
    );
    assert!(refusal.contains("exit 4 (denied)"), "{refusal}");

    // Then the real login, saying plainly that MFA was verified.
    assert!(
        shown
            .lines()
            .any(|l| l.trim() == "MFA verified: amr [pwd, otp]"),
        "the demo shows the MFA line:\n{shown}"
    );
    assert!(
        shown.find("lacks MFA") < shown.find("MFA verified"),
        "refusal first, then the MFA login"
    );
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

    // Revoked while kubectl used it: kubectl's next request is refused.
    assert!(
        report.after_revoke.contains("kaccess login demo"),
        "kubectl fails and the plugin says to log in again: {}",
        report.after_revoke
    );
    assert!(
        report
            .audit
            .iter()
            .any(|r| r["event"] == "revoke" && r["outcome"] == "revoked"),
        "{:?}",
        report.audit
    );

    // No npm notices, no QR code in a transcript.
    assert!(!shown.contains("npm notice"), "{shown}");
    assert!(
        !shown.contains('▀'),
        "a QR code only on a terminal:\n{shown}"
    );
    assert!(
        report.audit_verify.contains("chain intact"),
        "{}",
        report.audit_verify
    );
    assert!(report.leftovers.is_empty(), "{:?}", report.leftovers);
}

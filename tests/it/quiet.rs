//! The suite's output shows tests, not what their helpers print: a test
//! that drives the test browser, run in a child copy of this test binary,
//! prints its result line and none of the browser's `test-browser: GET …`
//! steps (those go to a log that a failing test prints).

use std::process::Command;

#[test]
fn a_test_driving_the_test_browser_prints_only_its_result() {
    let name = "idp_harness::code_flow_id_token_carries_mfa_claims_groups_and_email";
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--test-threads=1"])
        .output()
        .expect("run the test binary");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(all.contains(&format!("test {name} ... ok")), "{all}");
    assert!(
        !all.contains("test-browser:"),
        "helper chatter in the output:\n{all}"
    );
}

//! docs/compliance.md names, for each HIPAA safeguard, the test that
//! proves it. An auditor follows those names, so each must be a test that
//! exists in the file named, and each command the page shows must exist.

use std::path::Path;

/// Every `path.rs::name` the page names.
fn named_tests(doc: &str) -> Vec<(String, String)> {
    doc.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|code| code.split_once(".rs::"))
        .map(|(file, name)| (format!("{file}.rs"), name.to_string()))
        .collect()
}

#[test]
fn every_test_the_compliance_page_names_exists_where_it_says() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/compliance.md")).unwrap();
    let named = named_tests(&doc);
    assert!(named.len() >= 20, "the page names its tests: {named:?}");
    let mut missing = Vec::new();
    for (file, name) in &named {
        let source = std::fs::read_to_string(root.join(file)).unwrap_or_default();
        let defined = source.lines().any(|l| {
            let l = l.trim_start();
            let l = l.strip_prefix("async ").unwrap_or(l);
            l.strip_prefix("fn ")
                .and_then(|rest| rest.strip_prefix(name.as_str()))
                .is_some_and(|after| after.starts_with('('))
        });
        if !defined {
            missing.push(format!("{file}::{name}"));
        }
    }
    assert!(missing.is_empty(), "named but not found: {missing:?}");
}

#[test]
fn every_safeguard_of_164_312_has_its_section() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/compliance.md")).unwrap();
    for heading in [
        "## (a)(1) Access control",
        "### (a)(2)(i) Unique user identification",
        "### (a)(2)(ii) Emergency access procedure",
        "### (a)(2)(iii) Automatic logoff",
        "### (a)(2)(iv) Encryption and decryption",
        "## (b) Audit controls",
        "## (c)(1) Integrity",
        "## (d) Person or entity authentication",
        "## (e)(1) Transmission security",
    ] {
        assert!(doc.contains(heading), "`{heading}` in docs/compliance.md");
    }
}

#[test]
fn every_kaccess_command_the_compliance_page_shows_parses() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/compliance.md")).unwrap();
    let commands: Vec<&str> = doc
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|c| c.starts_with("kaccess "))
        .collect();
    assert!(commands.len() >= 8, "{commands:?}");
    for command in commands {
        // `--help` after the subcommand path: clap resolves the whole path
        // and fails on an unknown subcommand, without running anything.
        let words: Vec<&str> = command
            .split_whitespace()
            .skip(1)
            .take_while(|w| !w.starts_with('-') && w.chars().all(|c| c.is_ascii_lowercase()))
            .collect();
        let out = std::process::Command::new(crate::support::kaccess_bin())
            .args(&words)
            .arg("--help")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "`{command}`: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

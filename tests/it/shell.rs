//! Every shell script in the repository passes shellcheck: install.sh,
//! scripts/*, .ci/run and anything else with a shell `#!` line.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Files whose first line runs a POSIX shell or bash; skips build output,
/// node_modules and .git.
fn shell_scripts(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![root.to_owned()];
    while let Some(dir) = todo.pop() {
        if dir.join("CACHEDIR.TAG").exists() {
            continue; // a cargo target dir
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                if !matches!(name.as_str(), ".git" | "target" | "node_modules") {
                    todo.push(path);
                }
            } else if name.ends_with(".sh") || runs_a_shell(&path) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn runs_a_shell(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let Some(line) = std::str::from_utf8(first)
        .ok()
        .and_then(|l| l.strip_prefix("#!"))
    else {
        return false;
    };
    line.split(|c: char| c.is_whitespace() || c == '/')
        .any(|word| matches!(word, "sh" | "bash" | "dash"))
}

#[test]
fn every_shell_script_passes_shellcheck() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scripts = shell_scripts(root);
    for must in ["install.sh", "scripts/demo", "scripts/test", ".ci/run"] {
        assert!(
            scripts.contains(&root.join(must)),
            "`{must}` is found as a shell script: {scripts:?}"
        );
    }
    let out = match Command::new("shellcheck").arg("--version").output() {
        Ok(_) => Command::new("shellcheck")
            .args(["--format", "gcc"])
            .args(&scripts)
            .current_dir(root)
            .output()
            .expect("run shellcheck"),
        Err(_) => {
            panic!("`shellcheck` is not installed: install shellcheck (apt-get install shellcheck)")
        }
    };
    assert!(
        out.status.success(),
        "shellcheck found problems:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A PATH holding only the programs `scripts/test-deps` itself runs, so
/// every tool the suite needs is missing.
fn bare_path() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for tool in ["sh", "dirname", "id", "echo", "["] {
        let found = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(tool))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("`{tool}` is on this machine"));
        std::os::unix::fs::symlink(found, dir.path().join(tool)).unwrap();
    }
    dir
}

#[test]
fn test_deps_names_every_missing_tool_at_once_with_the_one_command_that_installs_them() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = bare_path();
    let out = Command::new(root.join("scripts/test-deps"))
        .arg("--check")
        .env("PATH", path.path())
        .output()
        .expect("run scripts/test-deps");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing on stdout: {stderr}");
    let first = stderr.lines().next().unwrap_or_default();
    for tool in [
        "dbus-run-session",
        "gnome-keyring-daemon",
        "shellcheck",
        "systemd-analyze",
        "logrotate",
        "node",
        "npm",
        "cargo",
        "kubectl",
    ] {
        assert!(
            first.split_whitespace().any(|w| w == tool),
            "`{tool}` named in the one error line: {stderr}"
        );
    }
    let install = stderr
        .lines()
        .find(|l| l.starts_with("help: install them with: "))
        .unwrap_or_else(|| panic!("one install command: {stderr}"));
    for package in [
        "gnome-keyring",
        "dbus",
        "shellcheck",
        "systemd",
        "logrotate",
        "nodejs",
    ] {
        assert!(
            install.split_whitespace().any(|w| w == package),
            "`{package}` in `{install}`"
        );
    }
    assert!(install.contains("sudo apt-get install -y "), "{install}");
    assert!(stderr.contains("https://rustup.rs"), "{stderr}");
}

#[test]
fn test_deps_passes_on_a_machine_that_has_everything() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join("scripts/test-deps"))
        .arg("--check")
        .output()
        .expect("run scripts/test-deps");
    assert!(
        out.status.success(),
        "this machine runs the suite, so nothing is missing: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn test_deps_refuses_an_unknown_option() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join("scripts/test-deps"))
        .arg("--instal")
        .output()
        .expect("run scripts/test-deps");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown option `--instal`"), "{stderr}");
}

//! What the demo needs around the world it starts: its tools, the IdP's
//! node modules, commands that must succeed, waiting, and finding the
//! processes it started.

use super::super::world::{self, text};
use super::narrator::Narrator;
use anyhow::{Result, bail, ensure};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The demo needs node (the real OIDC provider) and kubectl (the client
/// people already use); say where to get them before starting anything.
pub fn check_tools() -> Result<()> {
    let mut missing = Vec::new();
    for (tool, how) in [
        (
            "node",
            "Node.js 20 or newer: `apt-get install nodejs npm`, or https://nodejs.org",
        ),
        (
            "kubectl",
            "https://kubernetes.io/docs/tasks/tools/ (any recent version)",
        ),
    ] {
        if !on_path(tool) {
            missing.push(format!("  `{tool}`: {how}"));
        }
    }
    if !missing.is_empty() {
        bail!(
            "the demo needs tools that are not installed:\n{}\nhelp: install them and run the demo again",
            missing.join("\n")
        );
    }
    Ok(())
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

/// `npm ci --prefix tests/idp` once, so a fresh checkout just works. npm's
/// own chatter (update notices, progress) is kept out of the demo and
/// shown only if it fails.
pub fn install_idp(n: &Narrator) -> Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/idp");
    if dir.join("node_modules/oidc-provider").is_dir() {
        return Ok(());
    }
    if !on_path("npm") {
        bail!(
            "the demo identity provider is not installed and `npm` is missing\n\
             help: install npm (it comes with Node.js: `apt-get install npm`), or run \
             `npm ci --prefix tests/idp` elsewhere and copy tests/idp/node_modules"
        );
    }
    n.step("Installing the demo identity provider (npm ci --prefix tests/idp, once)");
    let mut npm = Command::new("npm");
    npm.args(["ci", "--no-audit", "--no-fund", "--no-update-notifier"])
        .args(["--loglevel=error", "--prefix"])
        .arg(&dir)
        .env("npm_config_update_notifier", "false")
        .stdin(Stdio::null());
    let out = world::run(npm);
    ensure!(
        out.status.success(),
        "`npm ci --prefix tests/idp` failed ({}); it needs network access to the npm registry:\n{}",
        out.status,
        text(&out.stderr)
    );
    Ok(())
}

/// Runs `cmd` to the end; a non-zero exit is an error that shows its stderr.
pub fn checked(cmd: Command, what: &str) -> Result<Output> {
    let out = world::run(cmd);
    if !out.status.success() {
        bail!(
            "`{what}` failed ({}):\n{}{}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    Ok(out)
}

pub fn wait_until(cap: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + cap;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Command lines of live processes that name a path under `root`.
pub fn processes_mentioning(root: &Path) -> Vec<String> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let needle = root.to_string_lossy().into_owned();
    procs
        .flatten()
        .filter(|p| p.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|p| std::fs::read(p.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&needle))
        .collect()
}

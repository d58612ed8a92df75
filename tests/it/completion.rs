//! Shell completion as a user gets it: the committed
//! `completions/kaccess.bash` loaded into a real bash, its completion
//! function called as bash calls it on TAB, and `kaccess` (this build, on
//! PATH) answering with the cluster names of the user's configuration.

use crate::login::{Home, text};
use std::path::Path;
use std::process::Command;

/// What bash offers for the words typed so far (the last one is the word
/// under the cursor, possibly empty), flags left out: on an empty word clap
/// offers them next to the values.
fn bash_complete(home: &Home, words: &[&str], use_env_config: bool) -> Vec<String> {
    let bin = home.root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let link = bin.join("kaccess");
    if !link.exists() {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_kaccess"), &link).unwrap();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions/kaccess.bash");
    let mut cmd = Command::new("bash");
    cmd.arg("--norc")
        .arg("--noprofile")
        .arg("-c")
        .arg(
            r#"source "$1"; shift
COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))
COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
_clap_complete_kaccess kaccess "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}""#,
        )
        .arg("bash")
        .arg(script)
        .args(words)
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("HOME", home.root.join("home"))
        .env("XDG_CONFIG_HOME", home.root.join("config"))
        .env_remove("COMPLETE");
    if use_env_config {
        cmd.env("KACCESS_CONFIG", &home.config);
    } else {
        cmd.env_remove("KACCESS_CONFIG");
    }
    let out = cmd.output().expect("run bash");
    assert!(out.status.success(), "bash: {}", text(&out.stderr));
    let mut offered: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty() && !l.starts_with('-'))
        .collect();
    offered.sort();
    offered
}

#[test]
fn bash_completes_cluster_names_from_the_users_config() {
    let home = Home::new();
    home.write_config(
        "clusters:\n  prod-eu:\n    server: https://10.0.0.1:6443\n  staging:\n    server: https://10.0.0.2:6443\n",
    );
    for (words, want) in [
        (&["kaccess", "login", ""][..], &["prod-eu", "staging"][..]),
        (&["kaccess", "login", "st"], &["staging"]),
        (&["kaccess", "exec", "pr"], &["prod-eu"]),
        (&["kaccess", "config", "check", ""], &["prod-eu", "staging"]),
        (&["kaccess", "admin", "revoke", "s"], &["staging"]),
    ] {
        assert_eq!(bash_complete(&home, words, true), want, "{words:?}");
    }
    // Without KACCESS_CONFIG: the default file under XDG_CONFIG_HOME.
    assert_eq!(
        bash_complete(&home, &["kaccess", "logout", "p"], false),
        ["prod-eu"]
    );
    // Commands still complete from the definition.
    assert_eq!(
        bash_complete(&home, &["kaccess", "log"], true),
        ["login", "logout"]
    );
}

#[test]
fn bash_completes_no_cluster_names_without_a_config() {
    let home = Home::new();
    assert!(bash_complete(&home, &["kaccess", "login", ""], true).is_empty());
}

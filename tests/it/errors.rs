//! One error style for everything the real binary prints: clap's usage
//! errors for every (sub)command in the CLI definition, and kaccess's own,
//! all as `kaccess: error: …` with a `help:` line on stderr, nothing on
//! stdout.

use crate::login::{Home, config_for, run, text};
use std::process::Output;

/// Every command path in the definition (`["config", "check"]`), hidden
/// ones included: they parse the same way.
fn command_paths(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
    for sub in cmd.get_subcommands() {
        let mut path = prefix.to_vec();
        path.push(sub.get_name().to_owned());
        out.push(path.clone());
        command_paths(sub, &path, out);
    }
}

fn assert_kaccess_style(what: &str, out: &Output, code: i32, help: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{what}: {err}");
    assert!(err.starts_with("kaccess: error: "), "{what}:\n{err}");
    assert!(
        !err.lines().any(|l| l.starts_with("error:")),
        "{what}: clap's own `error:` prefix is gone:\n{err}"
    );
    assert!(
        err.lines()
            .any(|l| l.starts_with("help: ") && l.contains(help)),
        "{what}: a `help:` line with {help:?}:\n{err}"
    );
}

#[test]
fn every_subcommand_s_usage_errors_render_in_the_kaccess_style_with_exit_2() {
    let home = Home::new();
    let root = kaccess::cli::command();
    let mut paths = vec![Vec::new()];
    command_paths(&root, &[], &mut paths);
    assert!(paths.len() > 15, "the whole tree is walked: {paths:?}");
    let mut checked_bare = 0;
    for path in &paths {
        let shown = std::iter::once("kaccess")
            .chain(path.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        let help = format!("`{shown}");
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--no-such-flag");
        let out = run(home.kaccess(&args));
        assert_kaccess_style(&format!("{shown} --no-such-flag"), &out, 2, &help);
        assert!(out.stdout.is_empty(), "{shown}: stdout stays empty");
        assert!(
            text(&out.stderr).contains("'--no-such-flag'"),
            "clap's message is kept: {}",
            text(&out.stderr)
        );

        // The command alone, where that is a usage error (a missing
        // argument or subcommand), renders the same way.
        let argv = std::iter::once("kaccess").chain(path.iter().map(String::as_str));
        if kaccess::cli::command().try_get_matches_from(argv).is_err() {
            let args: Vec<&str> = path.iter().map(String::as_str).collect();
            let out = run(home.kaccess(&args));
            assert_kaccess_style(&shown, &out, 2, &help);
            assert!(out.stdout.is_empty(), "{shown}: stdout stays empty");
            checked_bare += 1;
        }
    }
    assert!(checked_bare > 10, "missing arguments were checked too");
}

#[test]
fn a_mistyped_subcommand_keeps_clap_s_suggestion() {
    let home = Home::new();
    let out = run(home.kaccess(&["kubeconfg"]));
    assert_kaccess_style("kaccess kubeconfg", &out, 2, "`kaccess --help`");
    let err = text(&out.stderr);
    assert!(
        err.contains("a similar subcommand exists: 'kubeconfig'"),
        "{err}"
    );
}

#[test]
fn help_and_version_are_not_errors() {
    let home = Home::new();
    for args in [&["--help"][..], &["--version"], &["login", "--help"]] {
        let out = run(home.kaccess(args));
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(!out.stdout.is_empty(), "{args:?} prints on stdout");
        assert!(out.stderr.is_empty(), "{args:?}: {}", text(&out.stderr));
    }
}

#[test]
fn the_plugin_without_a_session_names_the_next_step_and_config_init_when_there_is_no_config() {
    let home = Home::new();
    let out = run(home.kaccess(&["credential", "prod"]));
    assert_kaccess_style("no config", &out, 3, "kaccess config init");
    let err = text(&out.stderr);
    assert!(
        err.contains("the session for `prod` does not exist"),
        "{err}"
    );

    home.write_config(&config_for("https://login.corp.internal", "").replace("dev:", "prod:"));
    let out = run(home.kaccess(&["credential", "prod"]));
    assert_kaccess_style("with config", &out, 3, "run: kaccess login prod");
    assert!(!text(&out.stderr).contains("config init"));
}

#[test]
fn commands_that_need_a_session_say_to_create_a_config_first_when_there_is_none() {
    let home = Home::new();
    for args in [
        &["kubeconfig", "prod"][..],
        &["env", "prod"],
        &["status", "prod"],
        &["exec", "prod", "--", "true"],
    ] {
        let out = run(home.kaccess(args));
        assert_kaccess_style(&format!("{args:?}"), &out, 3, "kaccess config init");
    }
}

//! The CLI definition parses what the docs promise.

use super::*;

#[test]
fn cli_definition_is_consistent() {
    command().debug_assert();
}

#[test]
fn exec_requires_a_command_after_double_dash() {
    let err = Cli::try_parse_from(["kaccess", "exec", "prod"]).unwrap_err();
    assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
    let ok =
        Cli::try_parse_from(["kaccess", "exec", "prod", "--", "kubectl", "get", "pods"]).unwrap();
    match ok.command {
        Command::Exec(a) => assert_eq!(a.command, ["kubectl", "get", "pods"]),
        other => panic!("parsed as {other:?}"),
    }
}

#[test]
fn logout_needs_a_cluster_or_all_but_not_both() {
    assert!(Cli::try_parse_from(["kaccess", "logout"]).is_err());
    assert!(Cli::try_parse_from(["kaccess", "logout", "prod", "--all"]).is_err());
    assert!(Cli::try_parse_from(["kaccess", "logout", "--all"]).is_ok());
}

//! Command dispatch: one `run` per subcommand, one exit path.

pub mod admin;
pub mod audit;
mod audit_input;
mod audit_query;
mod broker_caller;
pub mod config;
pub mod exec;
pub mod generate;
pub mod login;
pub mod logout;
pub mod play;
pub mod rbac;
pub mod requests;
pub mod serve;
pub mod sessions;
mod table;
pub mod watch;

use crate::cli::{Cli, Command};
use crate::error::{self, Exit};
use clap::FromArgMatches;
use std::process::ExitCode;

/// Parses the command line, runs the command, reports errors the one way.
pub fn main() -> ExitCode {
    // A shell asking for completions (`COMPLETE=bash kaccess -- …`, from
    // the scripts in `completions/`) is answered here and exits.
    clap_complete::CompleteEnv::with_factory(crate::cli::command).complete();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match credential_fast_path(args.iter().cloned()) {
        Some(args) => Cli {
            command: Command::Credential(args),
        },
        None => match crate::cli::command()
            .try_get_matches_from(&args)
            .and_then(|m| Cli::from_arg_matches(&m))
        {
            Ok(cli) => cli,
            Err(e) => return error::usage::report(&e, &args),
        },
    };
    match run(cli) {
        Ok(code) => code,
        Err(err) => error::report(
            &err,
            &error::usage::command_path(&crate::cli::command(), &args),
        ),
    }
}

/// `kaccess credential CLUSTER` exactly (no flags, no `--help`): parsed by
/// the `credential` subcommand's own clap definition, without building the
/// whole command tree. kubectl runs this before every command, and building
/// every subcommand's arguments and help costs as much as the cache hit
/// itself (issue 6). Anything else, errors included, goes through
/// [`Cli::parse`], so behaviour and messages stay the same.
pub fn credential_fast_path(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Option<crate::cli::CredentialArgs> {
    use clap::{Args, FromArgMatches};
    let args: Vec<_> = args.into_iter().collect();
    let [_, sub, cluster] = args.as_slice() else {
        return None;
    };
    if sub != "credential"
        || cluster
            .as_encoded_bytes()
            .first()
            .is_none_or(|b| *b == b'-')
    {
        return None;
    }
    let cmd = crate::cli::CredentialArgs::augment_args(clap::Command::new("credential"));
    let matches = cmd.try_get_matches_from([sub, cluster]).ok()?;
    crate::cli::CredentialArgs::from_arg_matches(&matches).ok()
}

/// Runs one parsed command. Returns the exit code for commands whose
/// success has more than one outcome (`exec` passes its child's code on).
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if !matches!(cli.command, Command::Serve(_)) {
        crate::timing::init_from_env();
    }
    let exit = match cli.command {
        Command::Exec(args) => return exec::run(args),
        Command::Logout(args) => logout::run(args),
        Command::Login(a) => login::run(a),
        Command::Config(c) => config::run(c),
        Command::Generate(args) => generate::run(args),
        Command::Credential(args) => crate::credential::run(args),
        Command::Status(args) => sessions::status(args),
        Command::Env(args) => sessions::env(args),
        Command::Kubeconfig(args) => sessions::kubeconfig(args),
        Command::Reap(args) => {
            crate::session::paths::check_cluster_name(&args.cluster)?;
            let layout = crate::session::paths::Layout::new(args.runtime_dir);
            crate::session::reaper::run(&layout, &args.cluster, &args.session_id)?;
            Ok(Exit::Ok)
        }
        Command::Serve(args) => serve::run(args),
        Command::Admin(cmd) => admin::run(cmd),
        Command::Request(args) => requests::run(args),
        Command::Audit(cmd) => audit::run(cmd),
        Command::Rbac(cmd) => rbac::run(cmd),
    }?;
    Ok(exit.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn os(args: &[&str]) -> Vec<std::ffi::OsString> {
        args.iter().map(Into::into).collect()
    }

    #[test]
    fn credential_fast_path_parses_what_the_full_parser_does() {
        let fast = credential_fast_path(os(&["kaccess", "credential", "prod"])).unwrap();
        let Command::Credential(full) = Cli::try_parse_from(os(&["kaccess", "credential", "prod"]))
            .unwrap()
            .command
        else {
            panic!("not the credential command");
        };
        assert_eq!(format!("{fast:?}"), format!("{full:?}"));
        assert_eq!(fast.cluster, "prod");
        assert_eq!(fast.lock_timeout, "30s");
    }

    #[test]
    fn anything_but_a_bare_credential_call_takes_the_full_parser() {
        for args in [
            &["kaccess", "credential"][..],
            &["kaccess", "credential", "--help"],
            &["kaccess", "credential", "-h"],
            &["kaccess", "credential", "prod", "--lock-timeout", "1s"],
            &["kaccess", "status", "prod"],
            &["kaccess"],
        ] {
            assert!(credential_fast_path(os(args)).is_none(), "{args:?}");
        }
    }
}

//! Command dispatch: one `run` per subcommand, one exit path.

pub mod audit;
pub mod config;
pub mod exec;
pub mod generate;
pub mod login;
pub mod logout;
pub mod rbac;
pub mod serve;
pub mod sessions;

use crate::cli::{Cli, Command};
use crate::error::{self, Exit};
use clap::FromArgMatches;
use std::process::ExitCode;

/// Parses the command line, runs the command, reports errors the one way.
pub fn main() -> ExitCode {
    let matches = crate::cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match run(cli) {
        Ok(code) => code,
        Err(err) => error::report(&err),
    }
}

/// Runs one parsed command. Returns the exit code for commands whose
/// success has more than one outcome (`exec` passes its child's code on).
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
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
        Command::Audit(cmd) => audit::run(cmd),
        Command::Rbac(cmd) => rbac::run(cmd),
    }?;
    Ok(exit.into())
}

//! The command-line shape of access requests: `kaccess request`, and the
//! approver's `kaccess admin requests|approve|deny`.

use super::{ClientOpts, Flow, Output, complete};
use clap::{Args, Subcommand};

/// How to sign in when the command needs an ID token and this machine has
/// no session for the cluster (an approver with no grant of their own).
#[derive(Debug, Clone, Args)]
pub struct SignIn {
    /// How to sign in at the identity provider, when a login is needed
    #[arg(long, value_enum, default_value_t = Flow::Auto)]
    pub flow: Flow,
    /// Never open a browser (prints the URL instead; with --flow auto, picks device)
    #[arg(long)]
    pub no_browser: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct RequestArgs {
    #[command(subcommand)]
    pub action: Option<RequestAction>,
    /// Cluster whose broker to ask
    #[arg(add = complete::clusters(), required = true)]
    pub cluster: Option<String>,
    /// The grant that needs approval (its `name` in the broker's policy)
    #[arg(long, value_name = "NAME", required = true)]
    pub grant: Option<String>,
    /// Why you need it (ticket, incident); approvers see it, the audit log keeps it
    #[arg(long, value_name = "TEXT", required = true, value_parser = crate::text::reason_arg)]
    pub reason: Option<String>,
    /// How long the elevation should last (default: the grant's max-duration)
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// Wait for the decision and log in with the grant once approved (default on a terminal)
    #[arg(long, conflicts_with = "no_wait")]
    pub wait: bool,
    /// Exit once the request is filed, even on a terminal
    #[arg(long)]
    pub no_wait: bool,
    /// How long to wait for a decision
    #[arg(long, value_name = "DURATION", default_value = "30m")]
    pub wait_timeout: String,
    #[arg(short, long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    #[command(flatten)]
    pub sign_in: SignIn,
    #[command(flatten)]
    pub client: ClientOpts,
}

#[derive(Debug, Subcommand)]
pub enum RequestAction {
    /// Withdraw one of your access requests
    Cancel(RequestCancelArgs),
}

#[derive(Debug, Args)]
pub struct RequestCancelArgs {
    /// The request id (`CLUSTER:…`, as `kaccess request` printed it)
    pub id: String,
    #[arg(short, long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    #[command(flatten)]
    pub sign_in: SignIn,
    #[command(flatten)]
    pub client: ClientOpts,
}

#[derive(Debug, Args)]
pub struct AdminRequestsArgs {
    /// Cluster whose broker to ask
    #[arg(add = complete::clusters())]
    pub cluster: String,
    /// Only requests still waiting for a decision
    #[arg(long)]
    pub pending: bool,
    #[arg(short, long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    #[command(flatten)]
    pub sign_in: SignIn,
    #[command(flatten)]
    pub client: ClientOpts,
}

#[derive(Debug, Args)]
pub struct AdminDecideArgs {
    /// The request id (`CLUSTER:…`)
    pub id: String,
    /// Why (required; recorded in the broker's audit log with your name)
    #[arg(long, value_name = "TEXT", value_parser = crate::text::reason_arg)]
    pub reason: String,
    #[arg(short, long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    #[command(flatten)]
    pub sign_in: SignIn,
    #[command(flatten)]
    pub client: ClientOpts,
}

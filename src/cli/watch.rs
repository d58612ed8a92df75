//! `kaccess admin watch`: the live audit feed's options.

use super::{ClientOpts, Output, complete};
use clap::Args;

#[derive(Debug, Args)]
pub struct AdminWatchArgs {
    /// Only this cluster's events, from its broker (default: every cluster at the broker of the only one configured)
    #[arg(add = complete::clusters())]
    pub cluster: Option<String>,
    /// Only what this user did (the broker's username, e.g. an email)
    #[arg(long, value_name = "USERNAME")]
    pub user: Option<String>,
    /// Only proxied requests with this verb (get, list, create, delete, …)
    #[arg(long, value_name = "VERB")]
    pub verb: Option<String>,
    /// `json`: each record as the audit chain holds it, one a line
    #[arg(short, long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    #[command(flatten)]
    pub client: ClientOpts,
}

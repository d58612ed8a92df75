//! `kaccess rbac render`: print the RBAC bindings for the broker's grants.

use crate::broker::config::BrokerConfig;
use crate::broker::rbac;
use crate::cli::RbacCommand;
use crate::error::{Exit, Failure};
use anyhow::Result;
use std::io::Write;

pub fn run(cmd: RbacCommand) -> Result<Exit> {
    match cmd {
        RbacCommand::Render(args) => {
            let cfg = BrokerConfig::load(&args.config)?;
            let text = rbac::render(&cfg, args.cluster.as_deref()).map_err(Failure::usage)?;
            std::io::stdout().lock().write_all(text.as_bytes())?;
            Ok(Exit::Ok)
        }
    }
}

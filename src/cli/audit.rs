//! The command-line shape of the questions asked of the audit chain:
//! `kaccess audit sessions`, `show` and `report`. Each reads what
//! `kaccess audit verify` reads: files oldest first, or `--config`.

use super::{Output, complete};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// Where the chain comes from, as for `kaccess audit verify`.
#[derive(Debug, Clone, Args)]
pub struct ChainInput {
    /// Audit log (JSON lines). After rotation, name every file oldest first
    #[arg(required_unless_present = "config", conflicts_with = "config", num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Read the chain of this broker configuration (its `audit.file`, or its PostgreSQL database)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AuditSessionsArgs {
    /// Only sessions on this cluster
    #[arg(long, value_name = "CLUSTER", add = complete::clusters())]
    pub cluster: Option<String>,
    /// Only this person's sessions (username or email)
    #[arg(long, value_name = "USERNAME")]
    pub user: Option<String>,
    /// Only sessions open at or after this time: RFC 3339 (`2026-01-31T08:00:00Z`) or an age (`24h`)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only sessions open before this time: RFC 3339 or an age (`1h` = an hour ago)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    #[arg(short, long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    #[command(flatten)]
    pub input: ChainInput,
}

#[derive(Debug, Args)]
pub struct AuditShowArgs {
    /// Session id, or its first characters (at least 8, as `kaccess audit sessions` and reports show it)
    pub session: String,
    #[arg(short, long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    #[command(flatten)]
    pub input: ChainInput,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Markdown, to read or print
    Md,
    /// CSV, one table with a `section` column, for spreadsheets
    Csv,
    /// JSON, for tools
    Json,
}

#[derive(Debug, Args)]
pub struct AuditReportArgs {
    /// Start of the period: RFC 3339 (`2026-01-31T08:00:00Z`) or an age (`30d`)
    #[arg(long, value_name = "TIME")]
    pub since: String,
    /// End of the period (exclusive; default: now): RFC 3339 or an age
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only this cluster
    #[arg(long, value_name = "CLUSTER", add = complete::clusters())]
    pub cluster: Option<String>,
    #[arg(short, long, value_enum, default_value_t = ReportFormat::Md)]
    pub output: ReportFormat,
    #[command(flatten)]
    pub input: ChainInput,
}

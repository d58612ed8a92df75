//! The command-line shape of `kaccess audit`: checking and exporting the
//! chain (`verify`, `export`), the questions asked of it (`sessions`,
//! `show`, `report`) and replaying a recording (`play`). Each reads what
//! `kaccess audit verify` reads: files oldest first, or `--config`.

use super::{Output, complete};
use clap::{Args, Subcommand, ValueEnum};
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

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain of an audit log (files, or the database a broker config names); report the first broken record
    Verify(AuditVerifyArgs),
    /// Print the audit chain kept in a broker's PostgreSQL database as JSON lines (the file format)
    Export(AuditExportArgs),
    /// One line per session: person, groups, reason, start, end, how it ended, and what it did
    Sessions(AuditSessionsArgs),
    /// One session's timeline: every exchange, request and stream with its outcome
    Show(AuditShowArgs),
    /// A reviewer's report of a period: access, privileged actions, mutations, failures (md, csv, json)
    Report(AuditReportArgs),
    /// Replay a session's recorded exec/attach stream in the terminal, with its timing
    Play(AuditPlayArgs),
}

#[derive(Debug, Args)]
pub struct AuditPlayArgs {
    /// The session id (`session_id` in the audit records)
    #[arg(value_name = "SESSION")]
    pub session: String,
    // The audit log to play from (as for `audit verify`); recordings are
    // found beside it.
    #[command(flatten)]
    pub input: ChainInput,
    /// Which of the session's streams (exec, attach, port-forward, numbered 1.. in the order
    /// they started); default: the first one recorded
    #[arg(long, value_name = "N")]
    pub stream: Option<usize>,
    /// Play this many times faster (`0.5` is half speed); pauses stay at most 2 s
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0)]
    pub speed: f64,
}

#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    /// Audit log (JSON lines). After rotation, name every file oldest first:
    /// each must continue the one before it
    #[arg(required_unless_present = "config", conflicts_with = "config", num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Verify the chain in the database of this broker configuration (PostgreSQL state)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AuditExportArgs {
    /// Broker configuration whose PostgreSQL database holds the chain
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Only records from this time on: RFC 3339 (`2026-01-31T08:00:00Z`) or an age (`24h`).
    /// Such an export starts mid-chain, so `kaccess audit verify` checks only full exports
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
}

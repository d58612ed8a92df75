//! The command line, defined once. Help, man pages (`man/`) and shell
//! completions (`completions/`) are all generated from these definitions
//! plus the prose in `manual` (examples, exit codes, environment, files).
//! Nothing here does I/O, except `complete` when a shell asks for cluster
//! names.

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

mod audit;
pub mod complete;
mod requests;
pub use audit::{
    AuditCommand, AuditExportArgs, AuditPlayArgs, AuditReportArgs, AuditSessionsArgs,
    AuditShowArgs, AuditVerifyArgs, ChainInput, ReportFormat,
};
pub use requests::{
    AdminDecideArgs, AdminRequestsArgs, RequestAction, RequestArgs, RequestCancelArgs, SignIn,
};
mod watch;
pub use watch::AdminWatchArgs;

/// The full command: the derived definition with each command's notes and
/// examples from [`crate::manual`] after its options in `--help`.
pub fn command() -> clap::Command {
    with_manual(Cli::command(), "")
}

fn with_manual(mut cmd: clap::Command, path: &str) -> clap::Command {
    if let Some(page) = crate::manual::page_of(path) {
        let text = crate::manual::after_help(page);
        if !text.is_empty() {
            cmd = cmd.after_long_help(text);
        }
    }
    // `mut_subcommand` moves the subcommand to the end: visiting every one
    // in order keeps the declared order (help, completions).
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    for name in subs {
        let sub_path = format!("{path} {name}");
        let sub_path = sub_path.trim_start().to_owned();
        cmd = cmd.mut_subcommand(&name, |s| with_manual(s, &sub_path));
    }
    cmd
}

/// Ephemeral, MFA-verified, audited access to Kubernetes clusters.
#[derive(Debug, Parser)]
#[command(
    name = "kaccess",
    version,
    about = "Ephemeral, MFA-verified, audited access to Kubernetes clusters",
    long_about = "kaccess replaces static kubeconfig files with short-lived credentials. \
`kaccess login` verifies an MFA-backed OpenID Connect login, exchanges it at the kaccess \
broker for a short-lived client certificate (for a key made on this machine) or a revocable \
token, and writes a session kubeconfig that is deleted when the session ends.",
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in to a cluster: OIDC with verified MFA, then a short-lived credential from the broker
    Login(LoginArgs),
    /// End sessions: revoke at the broker and the IdP, wipe local files
    Logout(LogoutArgs),
    /// kubectl exec credential plugin: print an ExecCredential for CLUSTER
    Credential(CredentialArgs),
    /// Run a command with KUBECONFIG set to a private session for CLUSTER
    Exec(ExecArgs),
    /// Print shell lines that point KUBECONFIG at CLUSTER's session
    Env(EnvArgs),
    /// Show live sessions: identity, groups, reason, expiry
    Status(StatusArgs),
    /// Print the path of CLUSTER's session kubeconfig
    Kubeconfig(KubeconfigArgs),
    /// Inspect or create the client configuration
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run the kaccess broker (HTTPS server that issues credentials)
    Serve(ServeArgs),
    /// Ask for a grant that needs approval; wait, and log in with it once approved
    Request(RequestArgs),
    /// Broker admins and approvers: sessions, revocations, access requests
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Work with the broker's hash-chained audit log
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Generate Kubernetes RBAC from the broker policy
    #[command(subcommand)]
    Rbac(RbacCommand),
    /// Internal: remove a session's files when it ends (started by `login`)
    #[command(hide = true, name = "__reap")]
    Reap(ReapArgs),
    /// Internal: write completions and man pages into a directory
    #[command(hide = true, name = "__generate")]
    Generate(GenerateArgs),
}

/// Where the client configuration comes from; shared by client commands.
#[derive(Debug, Clone, Args)]
pub struct ClientOpts {
    /// Client configuration file
    #[arg(long, env = "KACCESS_CONFIG", value_name = "FILE", global = false)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Flow {
    /// Browser when one can be opened and this is not an SSH or headless session, else device
    Auto,
    /// Authorization code + PKCE with a loopback redirect
    Browser,
    /// Device authorization grant (RFC 8628): code and QR on the terminal
    Device,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenStore {
    /// OS keyring (Secret Service on Linux, Keychain on macOS); falls back to file
    Keyring,
    /// 0600 file in the runtime dir
    File,
    /// Keep no refresh token: every new credential needs a new login
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CredentialChoice {
    Certificate,
    Token,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Cluster name from the client configuration
    #[arg(add = complete::clusters())]
    pub cluster: String,
    /// How to sign in at the identity provider
    #[arg(long, value_enum, default_value_t = Flow::Auto)]
    pub flow: Flow,
    /// Never open a browser (prints the URL instead; with --flow auto, picks device)
    #[arg(long)]
    pub no_browser: bool,
    /// Why you need access (ticket, incident); recorded in the audit log
    #[arg(long, value_name = "TEXT", value_parser = crate::text::reason_arg)]
    pub reason: Option<String>,
    /// A named grant: one that needs an approved request (`kaccess request`), or break glass
    #[arg(long, value_name = "NAME")]
    pub grant: Option<String>,
    /// Take the break-glass grant named by --grant now, without approval (needs --reason)
    #[arg(long, requires = "grant")]
    pub break_glass: bool,
    /// Wanted session length (e.g. 1h); the broker caps it
    #[arg(long, value_name = "DURATION")]
    pub session_ttl: Option<String>,
    /// Override the configured credential kind
    #[arg(long, value_enum)]
    pub credential: Option<CredentialChoice>,
    /// Where to keep the refresh token
    #[arg(long, value_enum, default_value_t = TokenStore::Keyring)]
    pub token_store: TokenStore,
    /// Write the certificate and key into the kubeconfig (for tools without exec support);
    /// the file then lives only as long as that credential
    #[arg(long)]
    pub embed: bool,
    /// How long to wait for the browser or device login
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub timeout: String,
    /// Output format of the result (JSON goes to stdout)
    #[arg(short, long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    #[command(flatten)]
    pub client: ClientOpts,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Cluster to log out of
    #[arg(add = complete::clusters(), required_unless_present = "all", conflicts_with = "all")]
    pub cluster: Option<String>,
    /// Log out of every cluster with a session
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub client: ClientOpts,
}

#[derive(Debug, Args)]
pub struct CredentialArgs {
    /// Cluster name
    #[arg(add = complete::clusters())]
    pub cluster: String,
    /// Longest wait for another kaccess refreshing the same cluster
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub lock_timeout: String,
    #[command(flatten)]
    pub client: ClientOpts,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Cluster name
    #[arg(add = complete::clusters())]
    pub cluster: String,
    /// Why you need access, used when a login is needed
    #[arg(long, value_name = "TEXT", value_parser = crate::text::reason_arg)]
    pub reason: Option<String>,
    /// The command and its arguments
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
    #[command(flatten)]
    pub client: ClientOpts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Sh,
    Fish,
}

#[derive(Debug, Args)]
pub struct EnvArgs {
    /// Cluster name
    #[arg(add = complete::clusters())]
    pub cluster: String,
    /// Syntax of the printed lines
    #[arg(long, value_enum, default_value_t = Shell::Sh)]
    pub shell: Shell,
    #[command(flatten)]
    pub client: ClientOpts,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this cluster
    #[arg(add = complete::clusters())]
    pub cluster: Option<String>,
    #[arg(short, long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    #[command(flatten)]
    pub client: ClientOpts,
}

#[derive(Debug, Args)]
pub struct KubeconfigArgs {
    /// Cluster name
    #[arg(add = complete::clusters())]
    pub cluster: String,
    #[command(flatten)]
    pub client: ClientOpts,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print the effective settings of one cluster
    Check(ConfigCheckArgs),
    /// Write a commented example configuration
    Init(ConfigInitArgs),
}

#[derive(Debug, Args)]
pub struct ConfigCheckArgs {
    /// Cluster to show (all clusters are validated either way)
    #[arg(add = complete::clusters())]
    pub cluster: Option<String>,
    #[arg(short, long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    #[command(flatten)]
    pub client: ClientOpts,
}

#[derive(Debug, Args)]
pub struct ConfigInitArgs {
    /// Overwrite an existing file
    #[arg(long)]
    pub force: bool,
    /// Print the example on stdout instead of writing it
    #[arg(long)]
    pub stdout: bool,
    #[command(flatten)]
    pub client: ClientOpts,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Broker configuration file
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Print the kube-apiserver flags and webhook kubeconfig for this broker, then exit
    #[arg(long)]
    pub print_apiserver_config: bool,
    /// Cluster for --print-apiserver-config (default: the only one)
    #[arg(long, requires = "print_apiserver_config")]
    pub cluster: Option<String>,
    /// Check the configuration and the files it names (CAs, TLS pair) and connect to a PostgreSQL state database (schema version), then exit: before a start or a SIGHUP
    #[arg(long, conflicts_with = "print_apiserver_config")]
    pub check: bool,
    /// Copy live sessions, revocations and credentials from --from into the config's PostgreSQL database (which must hold no sessions), then exit
    #[arg(long, requires = "from", conflicts_with_all = ["check", "print_apiserver_config"])]
    pub migrate_state: bool,
    /// Where --migrate-state copies from: `sqlite:PATH`
    #[arg(long, value_name = "SOURCE", requires = "migrate_state")]
    pub from: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// List live sessions at CLUSTER's broker (yours, or everyone's for an admin)
    Sessions(AdminSessionsArgs),
    /// Revoke sessions at CLUSTER's broker: by id, or every live one of `--user`
    Revoke(AdminRevokeArgs),
    /// List access requests at CLUSTER's broker (yours, those you may decide, or all for an admin)
    Requests(AdminRequestsArgs),
    /// Approve an access request (approver groups only; never your own)
    Approve(AdminDecideArgs),
    /// Deny an access request (approver groups only)
    Deny(AdminDecideArgs),
    /// Follow audit events at the broker as they are written (auditor and admin groups, fresh MFA)
    Watch(AdminWatchArgs),
}

#[derive(Debug, Args)]
pub struct AdminSessionsArgs {
    /// Cluster whose broker to ask (and whose sessions to list)
    #[arg(add = complete::clusters())]
    pub cluster: String,
    /// Only this user's sessions (the broker's username, e.g. an email)
    #[arg(long, value_name = "USERNAME")]
    pub user: Option<String>,
    #[arg(short, long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    #[command(flatten)]
    pub client: ClientOpts,
}

#[derive(Debug, Args)]
pub struct AdminRevokeArgs {
    /// Cluster whose broker holds the sessions
    #[arg(add = complete::clusters())]
    pub cluster: String,
    /// Session ids (from `kaccess admin sessions`)
    #[arg(required_unless_present = "user", conflicts_with = "user")]
    pub session_ids: Vec<String>,
    /// Revoke every live session of this user on CLUSTER
    #[arg(long, value_name = "USERNAME")]
    pub user: Option<String>,
    /// Why (required; recorded in the broker's audit log with your name)
    #[arg(long, value_name = "TEXT", value_parser = crate::text::reason_arg)]
    pub reason: String,
    #[arg(short, long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    #[command(flatten)]
    pub client: ClientOpts,
}

#[derive(Debug, Subcommand)]
pub enum RbacCommand {
    /// Print RoleBindings/ClusterRoleBindings for each grant, ready for `kubectl apply -f -`
    Render(RbacRenderArgs),
}

#[derive(Debug, Args)]
pub struct RbacRenderArgs {
    /// Broker configuration file
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Only this cluster
    #[arg(long)]
    pub cluster: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReapArgs {
    /// Cluster whose session to remove
    pub cluster: String,
    /// Session id the reaper belongs to (a newer session is left alone)
    #[arg(long)]
    pub session_id: String,
    /// Runtime dir holding the session
    #[arg(long)]
    pub runtime_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Directory to write `completions/` and `man/` into
    pub out: PathBuf,
}

#[cfg(test)]
mod tests;

//! Exit codes and the one place errors are rendered for people.
//!
//! Library code returns `anyhow::Error`. Where the failure decides the exit
//! code or has a fix to suggest, a [`Failure`] sits somewhere in the chain;
//! [`report`] finds it, prints `kaccess: error: …`, the causes, and the
//! `help:` line, and returns the documented exit code. clap's own usage
//! errors get the same shape in [`usage`].

pub mod usage;

use std::fmt;
use std::io::Write;
use std::process::ExitCode;

/// The documented exit codes (README "Exit codes", `kaccess(1)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Success.
    Ok = 0,
    /// Any failure without a more specific code.
    Error = 1,
    /// Bad command line or bad configuration.
    Usage = 2,
    /// A login is needed but cannot happen here (non-interactive use).
    LoginRequired = 3,
    /// Refused: MFA missing, access denied at the IdP, policy said no.
    Denied = 4,
    /// The identity provider or the broker could not be reached.
    Unreachable = 5,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e.code())
    }
}

/// A failure that carries its exit code and, where there is one, the next
/// command for the user to run.
#[derive(Debug, Clone)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
    pub help: Option<String>,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Failure {
            exit,
            message: message.into(),
            help: None,
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }
    pub fn login_required(message: impl Into<String>) -> Self {
        Self::new(Exit::LoginRequired, message)
    }
    pub fn denied(message: impl Into<String>) -> Self {
        Self::new(Exit::Denied, message)
    }
    pub fn unreachable(message: impl Into<String>) -> Self {
        Self::new(Exit::Unreachable, message)
    }
    pub fn error(message: impl Into<String>) -> Self {
        Self::new(Exit::Error, message)
    }
    /// Adds the `help:` line: the exact next step for the user.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// The exit code an error maps to: the first [`Failure`] in its chain decides.
pub fn exit_of(err: &anyhow::Error) -> Exit {
    failure_of(err).map(|f| f.exit).unwrap_or(Exit::Error)
}

/// The outermost [`Failure`], whether it was attached as an error, as
/// context (`.context(Failure::…)`), or as the source of another error.
pub fn failure_of(err: &anyhow::Error) -> Option<&Failure> {
    err.downcast_ref::<Failure>()
        .or_else(|| err.chain().find_map(|e| e.downcast_ref::<Failure>()))
}

/// True when the error is a closed pipe on stdout (`kaccess status | head`),
/// which is not a failure.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Renders `err`, raised by the command `path` (`kaccess login`), the
/// cargo way and returns its exit code.
pub fn report(err: &anyhow::Error, path: &str) -> ExitCode {
    if is_broken_pipe(err) {
        return ExitCode::SUCCESS;
    }
    let mut text = String::new();
    render(err, path, &mut text);
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
    exit_of(err).into()
}

/// The text [`report`] prints, separate so tests can look at it. Every
/// error ends with a `help:` line: the fix its [`Failure`] names, else
/// where the command is explained.
pub fn render(err: &anyhow::Error, path: &str, out: &mut String) {
    use fmt::Write as _;
    let mut chain = err.chain();
    if let Some(top) = chain.next() {
        let _ = writeln!(out, "kaccess: error: {top}");
    }
    let causes: Vec<String> = chain.map(|c| c.to_string()).collect();
    if !causes.is_empty() {
        let _ = writeln!(out, "\nCaused by:");
        for c in causes {
            let _ = writeln!(out, "  {c}");
        }
    }
    match failure_of(err).and_then(|f| f.help.as_deref()) {
        Some(help) => {
            let _ = writeln!(out, "help: {help}");
        }
        None => {
            let page = path.replace(' ', "-");
            let _ = writeln!(
                out,
                "help: `{path} --help` and `man {page}` explain the command"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn failure_deep_in_chain_decides_exit_code_and_help() {
        let err = Err::<(), _>(
            Failure::denied("ID token has no MFA claim").help("enable MFA at the IdP"),
        )
        .context("login to `prod` failed")
        .unwrap_err();
        assert_eq!(exit_of(&err), Exit::Denied);
        let mut out = String::new();
        render(&err, "kaccess login", &mut out);
        assert!(
            out.starts_with("kaccess: error: login to `prod` failed\n"),
            "{out}"
        );
        assert!(
            out.contains("\nCaused by:\n  ID token has no MFA claim\n"),
            "{out}"
        );
        assert!(out.ends_with("help: enable MFA at the IdP\n"), "{out}");
    }

    #[test]
    fn failure_attached_as_context_decides_too() {
        let err = anyhow::Error::new(std::io::Error::other("refused"))
            .context(Failure::unreachable("cannot reach the broker").help("check the network"))
            .context("refreshing `prod`");
        assert_eq!(exit_of(&err), Exit::Unreachable);
        let mut out = String::new();
        render(&err, "kaccess login", &mut out);
        assert!(out.ends_with("help: check the network\n"), "{out}");
    }

    #[test]
    fn plain_errors_exit_1_and_point_at_the_command_s_help() {
        let err = anyhow::anyhow!("boom");
        assert_eq!(exit_of(&err), Exit::Error);
        let mut out = String::new();
        render(&err, "kaccess config check", &mut out);
        assert_eq!(
            out,
            "kaccess: error: boom\nhelp: `kaccess config check --help` and `man kaccess-config-check` explain the command\n"
        );
    }

    #[test]
    fn broken_pipe_is_not_a_failure() {
        let err = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            .context("writing status");
        assert!(is_broken_pipe(&err));
    }
}

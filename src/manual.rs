//! The parts of the manual that clap cannot derive from the argument
//! definitions: exit codes, environment variables, files, and each
//! command's notes and examples. Defined once here; `cli::command()` puts
//! them into `--help`, and `cmd::generate` renders them as the man pages'
//! NOTES, EXIT STATUS, ENVIRONMENT, FILES and EXAMPLES sections. The
//! per-command pages are in `pages`.

mod pages;
pub use pages::PAGES;

/// A name (variable, path, code) and what it means.
#[derive(Debug)]
pub struct Entry {
    pub name: &'static str,
    pub text: &'static str,
}

const fn e(name: &'static str, text: &'static str) -> Entry {
    Entry { name, text }
}

/// What a command exits with (`error::Exit`).
pub const EXIT_CODES: &[Entry] = &[
    e("0", "success"),
    e("1", "error (anything not listed below)"),
    e("2", "usage or configuration error"),
    e(
        "3",
        "login required but not possible here (no terminal, or kubectl said non-interactive)",
    ),
    e(
        "4",
        "denied (MFA missing, access denied at the identity provider, refused by broker policy)",
    ),
    e("5", "identity provider or broker unreachable"),
];

pub const ENVIRONMENT: &[Entry] = &[
    e(
        "KACCESS_CONFIG",
        "Client configuration file, as --config (default: $XDG_CONFIG_HOME/kaccess/config.yaml, \
         usually ~/.config/kaccess/config.yaml).",
    ),
    e(
        "KACCESS_RUNTIME_DIR",
        "Where sessions live (default: $XDG_RUNTIME_DIR/kaccess, else ~/.cache/kaccess). It must be \
         a directory of yours, mode 0700, not a symlink; kaccess refuses anything else.",
    ),
    e(
        "KACCESS_HTTP_TIMEOUT",
        "Whole-request timeout for calls to the identity provider and the broker (default: 30s; \
         e.g. 2m on a slow link).",
    ),
    e(
        "BROWSER",
        "Command that opens the login page in the browser flow. With --flow auto, a set BROWSER, \
         DISPLAY or WAYLAND_DISPLAY (and no SSH_CONNECTION or SSH_TTY) picks the browser flow; \
         otherwise the device flow.",
    ),
    e(
        "DBUS_SESSION_BUS_ADDRESS",
        "Session bus of the Secret Service keyring. Without it, --token-store keyring falls back \
         to a 0600 file in the runtime dir.",
    ),
    e(
        "KUBERNETES_EXEC_INFO",
        "Set by kubectl when it runs `kaccess credential`; says which ExecCredential version to \
         answer and whether the user can be prompted.",
    ),
    e(
        "KUBECONFIG",
        "Set by `kaccess exec` for its command, and printed by `kaccess env`, to the session \
         kubeconfig.",
    ),
    e(
        "KACCESS_LOG",
        "Log filter of `kaccess serve` on stderr (default: info; e.g. debug, kaccess=trace).",
    ),
    e(
        "KACCESS_LOG_FORMAT",
        "`json` makes `kaccess serve` log one JSON object per line.",
    ),
    e(
        "COMPLETE",
        "Set by the shell completion scripts (`bash`, `zsh`, `fish`, `powershell`, `elvish`): \
         kaccess prints completions for the words that follow `--` instead of running a command. \
         `source <(COMPLETE=bash kaccess)` enables them without installing a file.",
    ),
    e(
        "KACCESS_TRACE_TIMINGS",
        "Set to 1 to print, on stderr, how long each step of a login took (IdP token response, \
         key, broker exchange, session files, reaper).",
    ),
];

/// RUNTIME is the runtime dir (see KACCESS_RUNTIME_DIR).
pub const FILES: &[Entry] = &[
    e(
        "~/.config/kaccess/config.yaml",
        "Client configuration: clusters, their identity provider, broker and MFA policy. \
         `kaccess config init` writes a commented example.",
    ),
    e(
        "RUNTIME/sessions/CLUSTER.kubeconfig",
        "Session kubeconfig; its exec stanza runs `kaccess credential CLUSTER`. Deleted when the \
         session ends, even if no kaccess command runs then.",
    ),
    e(
        "RUNTIME/sessions/CLUSTER.json",
        "Session record (0600): identity, groups, reason, expiry, the cached credential and ID \
         token.",
    ),
    e(
        "RUNTIME/sessions/CLUSTER.exec-PID.kubeconfig",
        "Private kubeconfig of one `kaccess exec` command; removed when it exits.",
    ),
    e(
        "RUNTIME/locks/CLUSTER.lock",
        "Held while a credential is refreshed, so parallel kubectl commands cause one exchange.",
    ),
    e(
        "RUNTIME/tokens/",
        "Refresh tokens (0600) with --token-store file, or when the keyring is unavailable.",
    ),
    e(
        "RUNTIME/handouts/",
        "How often each kubectl process was handed a credential; a repeat means the API server \
         refused it.",
    ),
];

/// One example: what it does, and the command line.
#[derive(Debug)]
pub struct Example {
    pub what: &'static str,
    pub run: &'static str,
}

const fn x(what: &'static str, run: &'static str) -> Example {
    Example { what, run }
}

/// The hand-written part of one command's manual.
#[derive(Debug)]
pub struct Page {
    /// Subcommand path: `""` for kaccess itself, `"login"`, `"config check"`.
    pub command: &'static str,
    /// Prose shown after the options.
    pub notes: &'static str,
    pub examples: &'static [Example],
    /// Names from [`ENVIRONMENT`] that this command reads.
    pub env: &'static [&'static str],
    /// Names from [`FILES`] that this command reads or writes.
    pub files: &'static [&'static str],
}

const fn page(command: &'static str) -> Page {
    Page {
        command,
        notes: "",
        examples: &[],
        env: &[],
        files: &[],
    }
}

impl Page {
    /// The variables this page documents; kaccess(1) has all of them.
    pub fn environment(&self) -> Vec<&'static Entry> {
        self.pick(ENVIRONMENT, self.env)
    }

    /// The files this page documents; kaccess(1) has all of them.
    pub fn files(&self) -> Vec<&'static Entry> {
        self.pick(FILES, self.files)
    }

    fn pick(&self, table: &'static [Entry], names: &[&str]) -> Vec<&'static Entry> {
        if self.command.is_empty() {
            return table.iter().collect();
        }
        names.iter().filter_map(|n| lookup(table, n)).collect()
    }
}

/// The manual page of `command` (`""`, `"login"`, `"config check"`).
pub fn page_of(command: &str) -> Option<&'static Page> {
    PAGES.iter().find(|p| p.command == command)
}

pub fn lookup(table: &'static [Entry], name: &str) -> Option<&'static Entry> {
    table.iter().find(|e| e.name == name)
}

/// The `--help` text after the options: notes and examples; for kaccess
/// itself also exit codes, environment and files.
pub fn after_help(page: &Page) -> String {
    let mut out = Vec::new();
    if !page.notes.is_empty() {
        out.push(page.notes.to_owned());
    }
    if !page.examples.is_empty() {
        let mut s = String::from("Examples:");
        for ex in page.examples {
            s.push_str(&format!("\n  # {}", ex.what));
            for line in ex.run.lines() {
                s.push_str(&format!("\n  {line}"));
            }
        }
        out.push(s);
    }
    if page.command.is_empty() {
        let mut s = String::from("Exit codes:");
        for e in EXIT_CODES {
            s.push_str(&format!("\n  {}  {}", e.name, e.text));
        }
        out.push(s);
        let names: Vec<&str> = ENVIRONMENT.iter().map(|e| e.name).collect();
        out.push(format!(
            "Environment: {}\n\nFiles, environment and examples: `man kaccess`, `man kaccess-login`, ...",
            names.join(", ")
        ));
    }
    out.join("\n\n")
}

#[cfg(test)]
mod tests;

//! clap's own errors (an unknown flag, a missing argument, a mistyped
//! subcommand) in the one kaccess error style: `kaccess: error: …`, clap's
//! tips ("a similar subcommand exists") and usage kept, then a `help:`
//! line. Exit code 2, as for every usage error.

use super::Exit;
use clap::error::ErrorKind;
use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

/// Prints `err` the kaccess way and returns its exit code. `--help` and
/// `--version` are not errors: clap prints them (on stdout) as usual.
pub fn report(err: &clap::Error, args: &[OsString]) -> ExitCode {
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        let _ = err.print();
        return ExitCode::SUCCESS;
    }
    let text = render(err, &command_path(&crate::cli::command(), args));
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
    Exit::Usage.into()
}

/// The text [`report`] prints for `err`, raised while parsing the command
/// `path` (`kaccess config check`).
pub fn render(err: &clap::Error, path: &str) -> String {
    // Display is clap's rendering without colour, like every other error.
    let clap_text = err.render().to_string();
    let mut out = String::new();
    if err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        // clap shows the command's help instead of a message: say what is
        // wrong first, keep the help (it lists the commands to choose from).
        out.push_str(&format!("kaccess: error: `{path}` needs a command\n\n"));
        out.push_str(clap_text.trim_end());
        out.push_str(&format!(
            "\n\nhelp: {}\n",
            if path == "kaccess" {
                "new here? create a configuration with `kaccess config init`, then `kaccess login CLUSTER`".to_owned()
            } else {
                format!("run `{path} COMMAND`, or `{path} --help` for details")
            }
        ));
        return out;
    }
    let message = clap_text.strip_prefix("error: ").unwrap_or(&clap_text);
    out.push_str("kaccess: error: ");
    for line in message.trim_end().lines() {
        // clap ends with its own pointer to `--help`; ours names the command.
        if line.starts_with("For more information, try") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out.push_str(&format!(
        "\n\nhelp: run `{path} --help` for its arguments and examples\n"
    ));
    out
}

/// `kaccess`, `kaccess login`, `kaccess config check`: how far the
/// arguments got down the command tree.
pub fn command_path(root: &clap::Command, args: &[OsString]) -> String {
    let mut path = vec![root.get_name().to_owned()];
    let mut cmd = root;
    for arg in args.iter().skip(1) {
        let Some(arg) = arg.to_str() else { break };
        if arg == "--" {
            break;
        }
        match cmd.find_subcommand(arg) {
            Some(sub) => {
                path.push(sub.get_name().to_owned());
                cmd = sub;
            }
            // Flags may come before the subcommand; a word that is neither
            // is where parsing went wrong.
            None if arg.starts_with('-') => continue,
            None => break,
        }
    }
    path.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(Into::into).collect()
    }

    fn error_of(args: &[&str]) -> (clap::Error, String) {
        let err = crate::cli::command()
            .try_get_matches_from(os(args))
            .unwrap_err();
        let path = command_path(&crate::cli::command(), &os(args));
        (err, path)
    }

    #[test]
    fn the_path_follows_subcommands_and_stops_at_the_first_stray_word() {
        let root = crate::cli::command();
        for (args, want) in [
            (&["kaccess"][..], "kaccess"),
            (
                &["kaccess", "config", "check", "prod"],
                "kaccess config check",
            ),
            (&["kaccess", "logn", "prod"], "kaccess"),
            (&["kaccess", "exec", "prod", "--", "status"], "kaccess exec"),
        ] {
            assert_eq!(command_path(&root, &os(args)), want, "{args:?}");
        }
    }

    #[test]
    fn a_mistyped_subcommand_keeps_clap_s_suggestion_in_our_style() {
        let (err, path) = error_of(&["kaccess", "config", "chek"]);
        let text = render(&err, &path);
        assert!(
            text.starts_with("kaccess: error: unrecognized subcommand 'chek'\n"),
            "{text}"
        );
        assert!(
            text.contains("a similar subcommand exists: 'check'"),
            "{text}"
        );
        assert!(
            text.ends_with(
                "\n\nhelp: run `kaccess config --help` for its arguments and examples\n"
            ),
            "{text}"
        );
        assert!(!text.contains("For more information"), "{text}");
    }

    #[test]
    fn a_missing_subcommand_says_so_before_the_list_to_choose_from() {
        let (err, path) = error_of(&["kaccess", "config"]);
        let text = render(&err, &path);
        assert!(
            text.starts_with("kaccess: error: `kaccess config` needs a command\n"),
            "{text}"
        );
        assert!(text.contains("check") && text.contains("init"), "{text}");
        assert!(
            text.contains("\nhelp: run `kaccess config COMMAND`"),
            "{text}"
        );
    }
}

use super::*;
use clap::{CommandFactory, Parser};

/// Every visible (sub)command path, e.g. `config check`.
fn paths(cmd: &clap::Command, prefix: &str, out: &mut Vec<String>) {
    out.push(prefix.to_owned());
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let path = format!("{prefix} {}", sub.get_name());
        paths(sub, path.trim_start(), out);
    }
}

#[test]
fn every_command_has_a_page_and_every_page_a_command() {
    let mut all = Vec::new();
    paths(&crate::cli::Cli::command(), "", &mut all);
    for p in &all {
        assert!(page_of(p).is_some(), "no manual page for `{p}`");
    }
    for page in PAGES {
        assert!(
            all.iter().any(|p| p == page.command),
            "page for unknown command `{}`",
            page.command
        );
    }
}

#[test]
fn exit_codes_are_the_ones_kaccess_exits_with() {
    use crate::error::Exit;
    let codes: Vec<String> = [
        Exit::Ok,
        Exit::Error,
        Exit::Usage,
        Exit::LoginRequired,
        Exit::Denied,
        Exit::Unreachable,
    ]
    .iter()
    .map(|e| e.code().to_string())
    .collect();
    let documented: Vec<&str> = EXIT_CODES.iter().map(|e| e.name).collect();
    assert_eq!(documented, codes);
}

#[test]
fn pages_name_only_documented_variables_and_files() {
    for page in PAGES {
        for v in page.env {
            assert!(lookup(ENVIRONMENT, v).is_some(), "{}: {v}", page.command);
        }
        for f in page.files {
            assert!(lookup(FILES, f).is_some(), "{}: {f}", page.command);
        }
    }
}

#[test]
fn every_example_parses_with_the_real_command_line() {
    for page in PAGES {
        for ex in page.examples {
            for line in ex.run.lines() {
                let Some(start) = line.find("kaccess ") else {
                    continue;
                };
                // Up to a pipe or the end of a `$(...)`; examples keep
                // quoted arguments free of those characters.
                let cmd = line[start..].split(['|', ')']).next().unwrap_or_default();
                let words = shell_words(cmd);
                if let Err(e) = crate::cli::Cli::try_parse_from(&words) {
                    panic!("example `{line}` does not parse: {e}");
                }
            }
        }
    }
}

/// Splits on spaces, keeping "double" or 'single' quoted words whole.
fn shell_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    for c in s.chars() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ' ') => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            (_, c) => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

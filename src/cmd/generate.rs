//! `kaccess __generate DIR`: shell completions and man pages, rendered from
//! the clap definition and `manual` so they can never drift from `--help`.
//! The files are committed; `tests/it/generated.rs` fails when they are
//! stale.

use crate::cli::GenerateArgs;
use crate::error::Exit;
use crate::manual::{self, EXIT_CODES, Entry, Page};
use anyhow::{Context, Result};
use clap_complete::env::{Bash, Elvish, EnvCompleter, Fish, Powershell, Zsh};
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, italic, roman};
use std::path::{Path, PathBuf};

/// Every generated file: path relative to the repository root, and bytes.
pub fn render_all() -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut out = completions()?;
    let root = crate::cli::command();
    let mut pages = Vec::new();
    collect_pages(&root, "", &mut pages);
    let names: Vec<String> = pages.iter().map(|(_, path)| page_name(path)).collect();
    for (cmd, path) in &pages {
        let man = render_man(cmd, path, &names)
            .with_context(|| format!("cannot render the man page of `{}`", page_name(path)))?;
        out.push((Path::new("man").join(format!("{}.1", page_name(path))), man));
    }
    Ok(out)
}

/// The shells' completion scripts. Each asks `kaccess` itself (clap's
/// dynamic completion, answered in `cmd::main`): cluster names come from
/// the user's configuration, and commands and flags from the installed
/// binary itself.
fn completions() -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let shells: [(&dyn EnvCompleter, &str); 5] = [
        (&Bash, "kaccess.bash"),
        (&Zsh, "_kaccess"),
        (&Fish, "kaccess.fish"),
        (&Powershell, "_kaccess.ps1"),
        (&Elvish, "kaccess.elv"),
    ];
    let mut out = Vec::new();
    for (shell, name) in shells {
        let mut buf = Vec::new();
        shell.write_registration("COMPLETE", "kaccess", "kaccess", "kaccess", &mut buf)?;
        if name == "_kaccess" {
            buf = zsh_autoloadable(&buf);
        }
        out.push((Path::new("completions").join(name), buf));
    }
    Ok(out)
}

/// clap's zsh script registers its function when sourced. Installed in a
/// `fpath` directory it is autoloaded as `_kaccess` on the first TAB
/// instead, and must complete right then, not only from the second TAB.
fn zsh_autoloadable(script: &[u8]) -> Vec<u8> {
    const REGISTER: &str = "compdef _clap_dynamic_completer_kaccess kaccess";
    let text = String::from_utf8_lossy(script);
    text.replacen(
        REGISTER,
        &format!(
            "if [[ \"${{funcstack[1]}}\" = \"_kaccess\" ]]; then\n    \
             _clap_dynamic_completer_kaccess \"$@\"\nelse\n    {REGISTER}\nfi"
        ),
        1,
    )
    .into_bytes()
}

/// `kaccess`, `kaccess-login`, `kaccess-config-check`, ...
fn page_name(path: &str) -> String {
    std::iter::once("kaccess")
        .chain(path.split_whitespace())
        .collect::<Vec<_>>()
        .join("-")
}

/// Every visible (sub)command with its path (`""`, `"config check"`).
fn collect_pages(cmd: &clap::Command, path: &str, out: &mut Vec<(clap::Command, String)>) {
    out.push((cmd.clone(), path.to_owned()));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let sub_path = format!("{path} {}", sub.get_name());
        collect_pages(sub, sub_path.trim_start(), out);
    }
}

/// One page: clap's NAME, SYNOPSIS, DESCRIPTION, OPTIONS and SUBCOMMANDS,
/// then the manual's NOTES, EXIT STATUS, ENVIRONMENT, FILES, EXAMPLES and
/// SEE ALSO, then VERSION. (clap's own rendering of the after-help text as
/// "EXTRA" is left out: the same text comes here as proper sections.)
fn render_man(cmd: &clap::Command, path: &str, all_pages: &[String]) -> Result<Vec<u8>> {
    let name = page_name(path);
    let man = Man::new(cmd.clone().name(name.clone()).display_name(name.clone()));
    let mut buf = Vec::new();
    man.render_title(&mut buf)?;
    let mut part = |render: &dyn Fn(&mut Vec<u8>) -> std::io::Result<()>| -> Result<()> {
        let mut piece = Vec::new();
        render(&mut piece)?;
        buf.extend_from_slice(strip_preamble(&piece));
        Ok(())
    };
    part(&|w| man.render_name_section(w))?;
    part(&|w| man.render_synopsis_section(w))?;
    part(&|w| man.render_description_section(w))?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        part(&|w| man.render_options_section(w))?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        part(&|w| man.render_subcommands_section(w))?;
    }
    let page = manual::page_of(path)
        .with_context(|| format!("`manual::PAGES` has no entry for `{name}`"))?;
    let sections = manual_sections(page, &name, all_pages);
    part(&|w| sections.to_writer(w))?;
    if cmd.get_version().is_some() {
        part(&|w| man.render_version_section(w))?;
    }
    Ok(buf)
}

/// Every roff document starts with the same two-line apostrophe preamble;
/// a page needs it once.
fn strip_preamble(piece: &[u8]) -> &[u8] {
    let mut rest = piece;
    for _ in 0..2 {
        if rest.starts_with(b".ie ") || rest.starts_with(b".el ") {
            let end = rest
                .iter()
                .position(|b| *b == b'\n')
                .map_or(rest.len(), |i| i + 1);
            rest = &rest[end..];
        }
    }
    rest
}

fn manual_sections(page: &Page, name: &str, all_pages: &[String]) -> Roff {
    let mut roff = Roff::new();
    if !page.notes.is_empty() {
        roff.control("SH", ["NOTES"]);
        roff.text([roman(page.notes)]);
    }
    roff.control("SH", ["EXIT STATUS"]);
    entries(&mut roff, EXIT_CODES.iter());
    let env = page.environment();
    if !env.is_empty() {
        roff.control("SH", ["ENVIRONMENT"]);
        entries(&mut roff, env.into_iter());
    }
    let files = page.files();
    if !files.is_empty() {
        roff.control("SH", ["FILES"]);
        if files.iter().any(|f| f.name.starts_with("RUNTIME/")) {
            roff.text([
                italic("RUNTIME"),
                roman(" is the runtime dir: $KACCESS_RUNTIME_DIR, else $XDG_RUNTIME_DIR/kaccess, else ~/.cache/kaccess."),
            ]);
        }
        entries(&mut roff, files.into_iter());
    }
    if !page.examples.is_empty() {
        roff.control("SH", ["EXAMPLES"]);
        for ex in page.examples {
            roff.control("PP", []);
            roff.text([roman(ex.what)]);
            roff.control("RS", ["4"]);
            roff.control("nf", []);
            for line in ex.run.lines() {
                roff.text([bold(line)]);
            }
            roff.control("fi", []);
            roff.control("RE", []);
        }
    }
    roff.control("SH", ["SEE ALSO"]);
    let mut refs: Vec<String> = if name == "kaccess" {
        all_pages.iter().filter(|p| *p != name).cloned().collect()
    } else {
        // The parent command's page, and kaccess(1) for the overview.
        let parent = name.rsplit_once('-').map_or("kaccess", |(p, _)| p);
        let mut r = vec!["kaccess".to_owned()];
        if parent != "kaccess" {
            r.push(parent.to_owned());
        }
        r
    };
    refs.push("kubectl".to_owned());
    let mut line = Vec::new();
    for (i, r) in refs.iter().enumerate() {
        if i > 0 {
            line.push(roman(", "));
        }
        line.push(bold(r.as_str()));
        line.push(roman("(1)"));
    }
    roff.text(line);
    roff
}

fn entries<'a>(roff: &mut Roff, list: impl Iterator<Item = &'a Entry>) {
    for e in list {
        roff.control("TP", []);
        roff.text([bold(e.name)]);
        roff.text([roman(e.text)]);
    }
}

pub fn run(args: GenerateArgs) -> Result<Exit> {
    for (rel, bytes) in render_all()? {
        let path = args.out.join(&rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create `{}`", dir.display()))?;
        }
        crate::fsutil::write_atomic(&path, &bytes, 0o644)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_zsh_script_completes_on_the_first_tab_when_autoloaded_from_fpath() {
        let files = super::completions().unwrap();
        let (_, zsh) = files
            .iter()
            .find(|(p, _)| p.ends_with("_kaccess"))
            .expect("a zsh script");
        let zsh = String::from_utf8_lossy(zsh);
        assert!(zsh.starts_with("#compdef kaccess\n"), "{zsh}");
        assert!(
            zsh.contains("\n    _clap_dynamic_completer_kaccess \"$@\"\nelse\n"),
            "{zsh}"
        );
    }
}

//! `kaccess __generate DIR`: shell completions and man pages, rendered from
//! the clap definition so they can never drift from `--help`. The files are
//! committed; `tests/it/generated.rs` fails when they are stale.

use crate::cli::{Cli, GenerateArgs};
use crate::error::Exit;
use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;
use std::path::{Path, PathBuf};

/// Every generated file: path relative to the repository root, and bytes.
pub fn render_all() -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut out = Vec::new();
    for shell in [
        Shell::Bash,
        Shell::Zsh,
        Shell::Fish,
        Shell::PowerShell,
        Shell::Elvish,
    ] {
        let mut cmd = Cli::command();
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd, "kaccess", &mut buf);
        let name = match shell {
            Shell::Bash => "kaccess.bash",
            Shell::Zsh => "_kaccess",
            Shell::Fish => "kaccess.fish",
            Shell::PowerShell => "_kaccess.ps1",
            Shell::Elvish => "kaccess.elv",
            _ => unreachable!("only the shells listed above"),
        };
        out.push((Path::new("completions").join(name), buf));
    }
    let root = Cli::command();
    render_man(&root, "kaccess", &mut out)?;
    Ok(out)
}

/// One page per visible (sub)command: `kaccess(1)`, `kaccess-login(1)`,
/// `kaccess-config-check(1)`, ...
fn render_man(cmd: &clap::Command, name: &str, out: &mut Vec<(PathBuf, Vec<u8>)>) -> Result<()> {
    let page = cmd
        .clone()
        .name(name.to_owned())
        .display_name(name.to_owned());
    let mut buf = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut buf)
        .with_context(|| format!("cannot render the man page of `{name}`"))?;
    out.push((Path::new("man").join(format!("{name}.1")), buf));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        render_man(sub, &format!("{name}-{}", sub.get_name()), out)?;
    }
    Ok(())
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

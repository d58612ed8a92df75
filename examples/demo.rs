//! The one-command local demo: `./install.sh --demo` (or `scripts/demo`)
//! builds this and runs it with the installed `kaccess`. The work is in
//! `tests/it/support/demo.rs`, shared with the test that runs it in CI.

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: demo [--kaccess PATH] [--ci]

  --kaccess PATH  the kaccess binary to demonstrate (default: the one built beside this demo)
  --ci            non-interactive: short pauses, exit non-zero on any failed step
                  (the default when stdin is not a terminal)";

fn main() -> ExitCode {
    let mut kaccess = None;
    let mut ci = !std::io::stdin().is_terminal();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--kaccess" => match args.next() {
                Some(path) => kaccess = Some(PathBuf::from(path)),
                None => return usage_error("`--kaccess` needs a path"),
            },
            "--ci" => ci = true,
            "-h" | "--help" => {
                eprintln!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => return usage_error(&format!("unknown option `{other}`")),
        }
    }
    let opts = support::demo::DemoOptions {
        kaccess: kaccess.unwrap_or_else(support::kaccess_bin),
        ci,
    };
    match support::demo::run(&opts) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("demo: error: {msg}\n{USAGE}");
    ExitCode::from(2)
}

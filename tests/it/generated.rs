//! Completions and man pages are generated from the clap definition and
//! committed; this fails when someone changes the CLI and forgets to
//! regenerate them with `cargo run -- __generate .`.

use std::path::Path;

#[test]
fn committed_completions_and_man_pages_match_the_cli_definition() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stale = Vec::new();
    let files = kaccess::cmd::generate::render_all().unwrap();
    assert!(files.iter().any(|(p, _)| p.ends_with("kaccess-login.1")));
    for (rel, want) in files {
        match std::fs::read(root.join(&rel)) {
            Ok(have) if have == want => {}
            _ => stale.push(rel.display().to_string()),
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated files: {stale:?}\nhelp: run `cargo run -- __generate .` and commit the result"
    );
}

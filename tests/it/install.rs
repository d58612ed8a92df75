//! `install.sh` as a newcomer runs it, into a temp prefix: the binary,
//! completions and man pages land where shells and `man` look, a second
//! install changes nothing, zsh users learn how to put the completion
//! directory on `fpath`, and `--uninstall` removes exactly what install put
//! there and names what it keeps (configuration, cache). The binary is the one this suite was built with, handed over
//! through `KACCESS_INSTALL_BIN`: a second build here would either be a cold
//! build of the whole tree (its own target dir) or fight the suite's build
//! over features (the dev-dependencies unify differently).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn install_sh(prefix: &Path, extra: &[&str]) -> Output {
    let home = prefix.with_extension("home");
    install_sh_in(prefix, &home, &[], extra)
}

/// install.sh with its own HOME (where it looks for kaccess's
/// configuration and cache) and extra environment.
fn install_sh_in(prefix: &Path, home: &Path, env: &[(&str, String)], extra: &[&str]) -> Output {
    let out = Command::new(repo().join("install.sh"))
        .arg("--prefix")
        .arg(prefix)
        .args(extra)
        .env("KACCESS_INSTALL_BIN", env!("CARGO_BIN_EXE_kaccess"))
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_CACHE_HOME")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run install.sh");
    assert!(
        out.status.success(),
        "install.sh {extra:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every file and directory under `root`, relative to it.
fn tree(root: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut todo = vec![root.to_owned()];
    while let Some(dir) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                found.insert(format!("{rel}/"));
                todo.push(path);
            } else {
                found.insert(rel);
            }
        }
    }
    found
}

fn expected_files() -> BTreeSet<String> {
    let mut want: BTreeSet<String> = [
        "bin/kaccess",
        "bin/kaccess-credential",
        "share/bash-completion/completions/kaccess",
        "share/zsh/site-functions/_kaccess",
        "share/fish/vendor_completions.d/kaccess.fish",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    for page in std::fs::read_dir(repo().join("man")).unwrap().flatten() {
        want.insert(format!(
            "share/man/man1/{}",
            page.file_name().to_string_lossy()
        ));
    }
    want
}

#[test]
fn install_sh_installs_idempotently_and_uninstall_leaves_the_prefix_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("prefix");

    let started = std::time::Instant::now();
    install_sh(&prefix, &[]);
    eprintln!("first install: {:?}", started.elapsed());
    let version = Command::new(prefix.join("bin/kaccess"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("kaccess {}", env!("CARGO_PKG_VERSION"))
    );
    // The small exec plugin hands everything but a cache hit to the
    // kaccess installed beside it.
    let handed_over = Command::new(prefix.join("bin/kaccess-credential"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(handed_over.stdout, version.stdout);
    assert_eq!(
        std::fs::read(prefix.join("bin/kaccess-credential")).unwrap(),
        std::fs::read(env!("CARGO_BIN_EXE_kaccess-credential")).unwrap()
    );
    let files: BTreeSet<String> = tree(&prefix)
        .into_iter()
        .filter(|p| !p.ends_with('/'))
        .collect();
    assert_eq!(files, expected_files(), "exactly these files, nothing else");
    assert!(expected_files().contains("share/man/man1/kaccess-login.1"));
    for page in ["kaccess.1", "kaccess-login.1"] {
        assert_eq!(
            std::fs::read(prefix.join("share/man/man1").join(page)).unwrap(),
            std::fs::read(repo().join("man").join(page)).unwrap()
        );
    }

    let before = tree(&prefix);
    let started = std::time::Instant::now();
    install_sh(&prefix, &[]);
    eprintln!("second install: {:?}", started.elapsed());
    assert_eq!(tree(&prefix), before, "a second install changes nothing");

    install_sh(&prefix, &["--uninstall"]);
    assert_eq!(tree(&prefix), BTreeSet::new(), "the prefix is empty again");
    install_sh(&prefix, &["--uninstall"]);

    // A prefix shared with other software keeps what was there before.
    // (Directories left empty are removed, even ones that predate install.)
    let shared = tmp.path().join("shared");
    std::fs::create_dir_all(shared.join("share/man/man1")).unwrap();
    std::fs::write(shared.join("share/man/man1/other.1"), "other").unwrap();
    std::fs::create_dir_all(shared.join("bin")).unwrap();
    std::fs::write(shared.join("bin/other"), "other").unwrap();
    let theirs = tree(&shared);
    install_sh(&shared, &[]);
    install_sh(&shared, &["--uninstall"]);
    assert_eq!(tree(&shared), theirs);
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn uninstall_names_the_configuration_and_cache_it_keeps_and_says_when_there_was_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("prefix");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();

    let out = stderr(&install_sh_in(&prefix, &home, &[], &["--uninstall"]));
    assert!(out.contains("nothing to uninstall"), "{out}");
    assert!(!out.contains("uninstalled"), "{out}");
    assert!(
        !out.contains("kept"),
        "nothing of kaccess's is there: {out}"
    );

    install_sh_in(&prefix, &home, &[], &[]);
    let config = home.join(".config/kaccess");
    let cache = home.join(".cache/kaccess");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.yaml"), "clusters: {}\n").unwrap();
    std::fs::create_dir_all(cache.join("sessions")).unwrap();
    let out = stderr(&install_sh_in(&prefix, &home, &[], &["--uninstall"]));
    assert!(
        out.contains(&format!("kaccess uninstalled from {}", prefix.display())),
        "{out}"
    );
    for dir in [&config, &cache] {
        assert!(
            out.contains(&format!("rm -r '{}'", dir.display())),
            "names {} and the command that removes it:\n{out}",
            dir.display()
        );
        assert!(dir.is_dir(), "the user's files stay");
    }

    // Nothing left in the prefix, but the configuration is still there.
    let out = stderr(&install_sh_in(&prefix, &home, &[], &["--uninstall"]));
    assert!(out.contains("nothing to uninstall"), "{out}");
    assert!(out.contains("kept your configuration"), "{out}");
}

#[test]
fn install_says_how_to_put_the_zsh_directory_on_fpath_unless_zsh_already_searches_it() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("prefix");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let zsh_dir = prefix.join("share/zsh/site-functions");
    // A stand-in zsh that answers `print -rl -- $fpath` with FPATH_LINES.
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let zsh = bin.join("zsh");
    std::fs::write(&zsh, "#!/bin/sh\nprintf '%s\\n' \"$FPATH_LINES\"\n").unwrap();
    std::fs::set_permissions(&zsh, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let fpath_line = format!("fpath=({} $fpath)", zsh_dir.display());

    let env = |fpath: String| {
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
        [("PATH", path), ("FPATH_LINES", fpath)]
    };
    let out = stderr(&install_sh_in(
        &prefix,
        &home,
        &env("/usr/share/zsh/functions/Completion".into()),
        &[],
    ));
    assert!(out.contains(&fpath_line), "says how to add it:\n{out}");
    assert!(out.contains("~/.zshrc"), "{out}");

    let out = stderr(&install_sh_in(
        &prefix,
        &home,
        &env(zsh_dir.display().to_string()),
        &[],
    ));
    assert!(!out.contains("fpath=("), "zsh already searches it:\n{out}");
}

#[test]
fn install_without_kaccess_credential_beside_the_binary_removes_a_stale_one_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("prefix");
    let alone = tmp.path().join("built");
    std::fs::create_dir_all(&alone).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_kaccess"), alone.join("kaccess")).unwrap();
    std::fs::create_dir_all(prefix.join("bin")).unwrap();
    std::fs::write(prefix.join("bin/kaccess-credential"), "an older version").unwrap();
    let home = prefix.with_extension("home");
    let bin = alone.join("kaccess").display().to_string();
    let out = install_sh_in(&prefix, &home, &[("KACCESS_INSTALL_BIN", bin)], &[]);
    assert!(prefix.join("bin/kaccess").exists());
    assert!(
        !prefix.join("bin/kaccess-credential").exists(),
        "kubeconfigs would run a kaccess-credential of another version"
    );
    let err = stderr(&out);
    assert!(err.contains("no kaccess-credential beside"), "{err}");
    assert!(err.contains("`kaccess credential`"), "{err}");
}

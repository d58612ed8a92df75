#!/bin/sh
# Builds kaccess from this checkout and installs the binaries (`kaccess`, and
# `kaccess-credential`, the small exec plugin session kubeconfigs run), shell
# completions and man pages under a prefix (default ~/.local). Idempotent;
# never needs root for the default prefix. `--demo` then runs the local
# end-to-end demo; `--uninstall` removes exactly what an install put there
# and names what kaccess keeps elsewhere (configuration, cache).
set -eu

prefix="${HOME}/.local"
action=install
demo=no

usage() {
    cat >&2 <<USAGE
usage: ./install.sh [--prefix DIR] [--demo] [--uninstall]

  --prefix DIR   install under DIR (default: ~/.local)
  --demo         after installing, run the local end-to-end demo (scripts/demo)
  --uninstall    remove what install put under the prefix (your configuration
                 and cache stay; it says where they are)

Environment:
  KACCESS_INSTALL_PROFILE  release (default) or dev: dev builds with
                           an unoptimised debug build (fast; for tests)
  CARGO_TARGET_DIR         where cargo builds (default: target/ in this checkout,
                           so the demo and later builds reuse the work)
  KACCESS_INSTALL_BIN      install this already-built kaccess binary instead of
                           building one (packaging, and the test suite); the
                           kaccess-credential beside it goes with it
USAGE
}

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || { usage; exit 2; }; prefix="$2"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        --demo) demo=yes; shift ;;
        --uninstall) action=uninstall; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: error: unknown option \`$1\`" >&2; usage; exit 2 ;;
    esac
done

here=$(cd "$(dirname "$0")" && pwd)
bin="$prefix/bin/kaccess"
plugin_bin="$prefix/bin/kaccess-credential"
bash_c="$prefix/share/bash-completion/completions/kaccess"
zsh_c="$prefix/share/zsh/site-functions/_kaccess"
fish_c="$prefix/share/fish/vendor_completions.d/kaccess.fish"
mandir="$prefix/share/man/man1"

say() { printf '%s\n' "$*" >&2; }

# What kaccess itself keeps outside the prefix: an uninstall leaves it (it
# is the user's) and says how to remove it.
report_left() {
    config_dir="${XDG_CONFIG_HOME:-$HOME/.config}/kaccess"
    cache_dir="${XDG_CACHE_HOME:-$HOME/.cache}/kaccess"
    if [ -d "$config_dir" ]; then
        say "kept your configuration: $config_dir (remove it with: rm -r '$config_dir')"
    fi
    if [ -d "$cache_dir" ]; then
        say "kept the session cache: $cache_dir (remove it with: rm -r '$cache_dir')"
    fi
}

if [ "$action" = uninstall ]; then
    removed=0
    remove() {
        if [ -e "$1" ]; then rm -f "$1"; say "removed $1"; removed=$((removed + 1)); fi
    }
    for f in "$bin" "$plugin_bin" "$bash_c" "$zsh_c" "$fish_c"; do
        remove "$f"
    done
    for page in "$here"/man/*.1; do
        remove "$mandir/$(basename "$page")"
    done
    # Remove only the directories this script may have created, and only if
    # empty (one that was already there, empty, goes too: nothing records it).
    for d in "$mandir" "$prefix/share/man" "$(dirname "$fish_c")" "$prefix/share/fish" \
             "$(dirname "$zsh_c")" "$prefix/share/zsh" "$(dirname "$bash_c")" \
             "$prefix/share/bash-completion" "$prefix/share" "$prefix/bin"; do
        rmdir "$d" 2>/dev/null || true
    done
    if [ "$removed" -eq 0 ]; then
        say "nothing to uninstall: no kaccess files in $prefix"
    else
        say "kaccess uninstalled from $prefix"
    fi
    report_left
    exit 0
fi

if [ -n "${KACCESS_INSTALL_BIN:-}" ]; then
    [ -x "$KACCESS_INSTALL_BIN" ] || {
        say "install.sh: error: KACCESS_INSTALL_BIN=\`$KACCESS_INSTALL_BIN\` is not an executable file"
        exit 2
    }
    built="$KACCESS_INSTALL_BIN"
    built_plugin="$(dirname "$KACCESS_INSTALL_BIN")/kaccess-credential"
else
    if ! command -v cargo >/dev/null 2>&1; then
        say "install.sh: error: \`cargo\` was not found"
        say "help: install Rust with rustup (https://rustup.rs), open a new shell, and run ./install.sh again"
        exit 1
    fi

    case "${KACCESS_INSTALL_PROFILE:-release}" in
        release) profile=release; set -- --release ;;
        dev) profile=debug; set -- ;;
        *) say "install.sh: error: KACCESS_INSTALL_PROFILE must be \`release\` or \`dev\`"; exit 2 ;;
    esac
    # `cargo build` in the checkout's target/ rather than `cargo install`, which
    # builds in a throwaway dir (or, given one, under a different fingerprint):
    # this way the demo build and the next install reuse the work.
    target_dir="${CARGO_TARGET_DIR:-$here/target}"
    say "building kaccess ($profile) ..."
    cargo build --locked --quiet --manifest-path "$here/Cargo.toml" --target-dir "$target_dir" \
        --bin kaccess --bin kaccess-credential "$@" >&2
    built="$target_dir/$profile/kaccess"
    built_plugin="$target_dir/$profile/kaccess-credential"
    # The plugin kubectl starts before every command, linked static: no
    # dynamic loader, about a quarter off each cache hit
    # (docs/performance.md "Start-up"). Where static glibc cannot be
    # linked, the dynamic build above stays, and works the same.
    if ! "$here/scripts/build-plugin" --quiet --target-dir "$target_dir" "$@" >/dev/null; then
        say "note: keeping the dynamic kaccess-credential (a little slower to start; same behaviour)"
        cargo build --locked --quiet --manifest-path "$here/Cargo.toml" --target-dir "$target_dir" \
            --bin kaccess-credential "$@" >&2
    fi
fi
install -d "$prefix/bin"
# Copy, then rename over the old binary: a running kaccess (a session's
# reaper) keeps its file, and nobody ever sees a half-written one.
install -m 0755 "$built" "$bin.new.$$"
mv -f "$bin.new.$$" "$bin"
say "installed $bin"
# Session kubeconfigs run kaccess-credential when it is beside kaccess (a
# cache hit without kaccess's start-up); one from another version must not
# stay there.
if [ -x "$built_plugin" ]; then
    install -m 0755 "$built_plugin" "$plugin_bin.new.$$"
    mv -f "$plugin_bin.new.$$" "$plugin_bin"
    say "installed $plugin_bin"
else
    rm -f "$plugin_bin"
    say "note: no kaccess-credential beside $built; session kubeconfigs will run \`kaccess credential\` (slower to start)"
fi

install -d "$(dirname "$bash_c")" "$(dirname "$zsh_c")" "$(dirname "$fish_c")" "$mandir"
install -m 0644 "$here/completions/kaccess.bash" "$bash_c" && say "installed $bash_c"
install -m 0644 "$here/completions/_kaccess" "$zsh_c" && say "installed $zsh_c"
install -m 0644 "$here/completions/kaccess.fish" "$fish_c" && say "installed $fish_c"
for page in "$here"/man/*.1; do
    install -m 0644 "$page" "$mandir/"
done
say "installed man pages into $mandir (try: man kaccess)"

case ":${PATH}:" in
    *":$prefix/bin:"*) ;;
    *) say "note: $prefix/bin is not on your PATH; add it: export PATH=\"$prefix/bin:\$PATH\"" ;;
esac
# zsh searches only its `fpath`, which does not hold a prefix's
# site-functions by default (~/.local's included). The user's own
# ~/.zshrc may add it, so ask an interactive zsh.
zsh_dir=$(dirname "$zsh_c")
if ! { command -v zsh >/dev/null 2>&1 &&
       zsh -ic 'print -rl -- $fpath' </dev/null 2>/dev/null | grep -qxF "$zsh_dir"; }; then
    say "note: for zsh completions, add this line to ~/.zshrc before \`compinit\`:"
    say "  fpath=($zsh_dir \$fpath)"
fi

if [ "$demo" = yes ]; then
    exec "$here/scripts/demo" --kaccess "$bin"
fi

#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, checks formatting and lints, compiles the
# benchmarks and the headless (no-window) build, then builds once and tests once.
# CI sets CI=true itself and it passes through to the tests: a test that cannot get mount rights,
# Xvfb or xdotool then fails with the reason instead of skipping (scripts/install-deps.sh installs
# both tools; mounting needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
# A clean CI build gains nothing from incremental state, which costs disk.
if [ "${CI:-}" = true ]; then
  export CARGO_INCREMENTAL=0
fi
step() { printf '\n== %s\n' "$*" >&2; }
# A full test build takes about 4 GB (3.9 GB measured from clean; dependencies without debug
# info); say so, with room to spare, before it fails half-way with "No space left on device".
free_kb=$(df -Pk . | awk 'NR==2 {print $4}')
if [ "${free_kb:-0}" -lt 6000000 ]; then
  printf 'warning: only %s MB free on %s; the build needs about 6 GB\n' "$((free_kb / 1024))" "$(pwd)" >&2
fi
step "cargo fmt --check"
cargo fmt --all --check
step "cargo clippy (every crate and target, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "headless command line (no window crates)"
cargo check -p tuban --no-default-features --locked
# (In the dev profile, on the dependencies the tests build anyway: a release tree of its own
# cost some 2 GB of disk and minutes; `cargo bench` builds them optimised to run them.)
step "benchmarks compile"
cargo build --workspace --benches --locked
step "tests"
cargo test --workspace --locked "$@"

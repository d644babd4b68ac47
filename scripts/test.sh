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
# A clean CI build gains nothing from incremental state and the benchmarks' symbols; both cost disk.
if [ "${CI:-}" = true ]; then
  export CARGO_INCREMENTAL=0 CARGO_PROFILE_BENCH_DEBUG=0
fi
step() { printf '\n== %s\n' "$*" >&2; }
step "cargo fmt --check"
cargo fmt --all --check
step "cargo clippy (every crate and target, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "headless command line (no window crates)"
cargo check -p tuban --no-default-features --locked
step "benchmarks compile"
cargo bench --workspace --no-run --locked
step "tests"
cargo test --workspace --locked "$@"

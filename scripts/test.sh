#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, then builds once and tests once.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
cargo test "$@"

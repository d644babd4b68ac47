#!/usr/bin/env bash
# Opens tuban on the bundled sample project: installs what is missing, builds, and runs
# `tuban demo` (imports sample-data/ into target/sample/示范旗.gpkg once, then shows it).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cargo run --release --quiet -- demo "$@"

#!/usr/bin/env bash
# The benchmark (not a test): builds and installs the extension, starts the
# cluster and prints the results table. BENCH_ROWS=100000,1000000 by default.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build-install.sh
cargo build --release --quiet --example bench
target/release/examples/bench

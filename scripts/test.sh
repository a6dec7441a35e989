#!/usr/bin/env bash
# Runs every test: formatting and lints, pure unit tests (plain cargo test),
# then the integration tests against a real cluster with the freshly built
# extension installed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --lib
scripts/build-install.sh
cargo test --no-fail-fast --test '*' -- --test-threads "${PGRE_TEST_THREADS:-4}"

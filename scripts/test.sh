#!/usr/bin/env bash
# Runs every test, in tiers: formatting and lints; pure unit tests (plain
# cargo test); the SQL regression suite (pg_regress: SQL and its expected
# output); the integration tests against a real cluster with the freshly
# built extension installed (workers, timing, restarts, http, upgrades);
# and the Debian package, installed and used on a fresh cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --lib
scripts/build-install.sh
scripts/regress.sh
cargo test --no-fail-fast --test '*' -- --test-threads "${PGRE_TEST_THREADS:-4}"
scripts/package-test.sh

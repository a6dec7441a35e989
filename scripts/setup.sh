#!/usr/bin/env bash
# One command for a fresh Debian bookworm machine (as root): installs what is
# needed, builds and installs the extension, starts a local cluster on
# 127.0.0.1:${PGRE_PORT:-28815} and runs the demo sync end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build-install.sh
scripts/cluster.sh psql -d postgres -f scripts/demo.sql

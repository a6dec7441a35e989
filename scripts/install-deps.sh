#!/usr/bin/env bash
# Installs what building and testing pg_reverse_etl needs on Debian bookworm, as root.
# Idempotent: skips what is already there, so a second run takes seconds.
set -euo pipefail
PGRX_VERSION=0.18.1
PACKAGES="postgresql-15 postgresql-server-dev-15 postgresql-15-cron clang libclang-dev pkg-config sudo binutils"
missing=""
for p in $PACKAGES; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "installing:$missing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
if ! cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
  echo "installing cargo-pgrx $PGRX_VERSION (about 4 minutes)"
  cargo install cargo-pgrx --version "$PGRX_VERSION" --locked --quiet
fi
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
if ! grep -q "pg15 = \"$PG_CONFIG\"" "${PGRX_HOME:-$HOME/.pgrx}/config.toml" 2>/dev/null; then
  cargo pgrx init --pg15 "$PG_CONFIG" >/dev/null
fi
# Debian starts its own cluster on 5432; ours runs on its own port, so leave it be.

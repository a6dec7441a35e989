#!/usr/bin/env bash
# Installs what building and testing pg_reverse_etl needs on Debian bookworm, as root.
# Idempotent: skips what is already there, so a second run takes seconds.
set -euo pipefail
PGRX_VERSION=0.18.1
PACKAGES="postgresql-15 postgresql-server-dev-15 postgresql-15-cron clang libclang-dev pkg-config sudo binutils python3-venv python3-psycopg2"
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
# An S3-compatible server for the tests of the file destination's object
# storage (moto, from PyPI), in a virtual environment of its own.
MOTO_VERSION=5.2.5
MOTO=/var/tmp/pg_reverse_etl/moto-venv
if ! "$MOTO/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
  echo "installing moto $MOTO_VERSION (an S3-compatible test server)"
  mkdir -p "$(dirname "$MOTO")"
  python3 -m venv "$MOTO"
  "$MOTO/bin/pip" install -q "moto[server]==$MOTO_VERSION"
fi
# Debian starts its own cluster on 5432; ours runs on its own port, so leave it be.

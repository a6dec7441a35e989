#!/usr/bin/env bash
# Builds the extension (release) and installs it into PostgreSQL 15, then
# (re)starts the local cluster. The cluster is stopped first because
# installing overwrites the .so a running server may have loaded.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet  # build while the cluster still serves
scripts/cluster.sh stop
# Also any private cluster a test left running (tests/restarts.rs).
for data in /var/tmp/pg_reverse_etl/data-*; do
  [ -f "$data/PG_VERSION" ] && [ "$data" != "/var/tmp/pg_reverse_etl/data-${PGRE_PORT:-28815}" ] &&
    PGRE_DATA="$data" PGRE_PORT="${data##*-}" scripts/cluster.sh stop
done
cargo pgrx install --release --pg-config /usr/lib/postgresql/15/bin/pg_config >/dev/null
scripts/cluster.sh start

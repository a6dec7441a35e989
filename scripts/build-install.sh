#!/usr/bin/env bash
# Builds the extension (release) and installs it into PostgreSQL 15, then
# (re)starts the local cluster. The cluster is stopped first because
# installing overwrites the .so a running server may have loaded.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
cargo build --release --quiet  # build while the cluster still serves
scripts/cluster.sh stop
# Also any private cluster a test left running (tests/restarts.rs).
for data in /var/tmp/pg_reverse_etl/data-*; do
  [ -f "$data/PG_VERSION" ] && [ "$data" != "/var/tmp/pg_reverse_etl/data-${PGRE_PORT:-28815}" ] &&
    PGRE_DATA="$data" PGRE_PORT="${data##*-}" scripts/cluster.sh stop
done
# Installs the current version's script (generated) and the upgrade scripts.
cargo pgrx install --release --pg-config "$PG_CONFIG" >/dev/null
# The install scripts of released versions, so that CREATE EXTENSION …
# VERSION '<old>' and the upgrade path can be used and tested.
scripts/release-scripts.sh "$("$PG_CONFIG" --sharedir)/extension"
scripts/cluster.sh start

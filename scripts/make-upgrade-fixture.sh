#!/usr/bin/env bash
# Made once per release, with that release built and installed: runs
# tests/upgrade/fixture.sql in a fresh database and dumps it (plain SQL) to
# tests/upgrade/<version>.sql, the history tests/upgrade.rs upgrades from.
# usage: scripts/make-upgrade-fixture.sh <version>
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:?usage: $0 <version>}
PORT=${PGRE_PORT:-28815}
db=fixture_${version//./_}
psql() { command psql -h 127.0.0.1 -p "$PORT" -U postgres -X -q -v ON_ERROR_STOP=1 "$@"; }
psql -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
psql -d "$db" -c "CREATE EXTENSION pg_reverse_etl VERSION '$version'"
psql -d "$db" -f tests/upgrade/fixture.sql >/dev/null
pg_dump -h 127.0.0.1 -p "$PORT" -U postgres --no-owner "$db" |
  grep -v '^\\\(un\)\?restrict ' |
  sed "s/^CREATE EXTENSION IF NOT EXISTS pg_reverse_etl WITH SCHEMA reverse_etl;/CREATE EXTENSION pg_reverse_etl WITH SCHEMA reverse_etl VERSION '$version';/" \
  > "tests/upgrade/$version.sql"
psql -d postgres -c "DROP DATABASE $db WITH (FORCE)"
echo "wrote tests/upgrade/$version.sql"

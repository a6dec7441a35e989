#!/usr/bin/env bash
# The SQL regression tests: each tests/regress/sql/<name>.sql runs in psql
# (through PostgreSQL's pg_regress) against the local cluster, and its output
# must equal tests/regress/expected/<name>.out. The cluster must be running
# with the extension installed (scripts/build-install.sh).
# usage: scripts/regress.sh [--accept] [test …]
#   --accept  copy the actual output over the expected files (then read the diff!)
set -euo pipefail
cd "$(dirname "$0")/.."
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PG_REGRESS=$("$PGBIN/pg_config" --pkglibdir)/pgxs/src/test/regress/pg_regress
accept=0
if [ "${1:-}" = "--accept" ]; then accept=1; shift; fi
tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
  mapfile -t tests < <(ls tests/regress/sql | sed -n 's/\.sql$//p' | sort)
fi
out=target/regress
rm -rf "$out"; mkdir -p "$out"
touch_missing() { for t in "${tests[@]}"; do [ -f "tests/regress/expected/$t.out" ] || : > "tests/regress/expected/$t.out"; done; }
touch_missing
status=0
"$PG_REGRESS" --bindir="$PGBIN" --host=127.0.0.1 --port="${PGRE_PORT:-28815}" --user=postgres \
  --inputdir=tests/regress --outputdir="$out" --dbname=reverse_etl_regress \
  "${tests[@]}" || status=$?
if [ "$accept" = 1 ]; then
  for t in "${tests[@]}"; do cp "$out/results/$t.out" "tests/regress/expected/$t.out"; done
  echo "expected output updated: review it with git diff tests/regress/expected"
  exit 0
fi
[ "$status" = 0 ] || { cat "$out/regression.diffs" 2>/dev/null | head -200; exit "$status"; }

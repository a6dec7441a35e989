#!/usr/bin/env bash
# Copies the frozen install scripts of released versions
# (sql/pg_reverse_etl--<version>.sql) into an extension directory.
# usage: scripts/release-scripts.sh <directory>
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: $0 <extension directory>}
current=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
for script in sql/pg_reverse_etl--*.sql; do
  name=$(basename "$script")
  version=${name#pg_reverse_etl--}; version=${version%.sql}
  case "$version" in *--*) continue;; esac  # upgrade scripts: pgrx copies them
  if [ "$version" = "$current" ]; then
    echo "sql/$name: version $current is frozen but Cargo.toml still builds it; bump the version" >&2
    exit 1
  fi
  install -m 644 "$script" "$target/$name"
done

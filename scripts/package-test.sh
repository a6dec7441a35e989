#!/usr/bin/env bash
# Builds the Debian package, installs it with dpkg, and runs a sync on a
# fresh cluster (port 28835) from outside the source tree, using only what
# the package installed: so the package is known to work.
set -euo pipefail
cd "$(dirname "$0")/.."
deb=$(scripts/package.sh | tail -1)
dpkg -i "$deb" >/dev/null
dpkg -L "$(dpkg-deb -f "$deb" Package)" | grep -q 'pg_reverse_etl.so$'
PORT=28835
DATA=/var/tmp/pg_reverse_etl/package-test
here=$(pwd)
cluster() { PGRE_PORT=$PORT PGRE_DATA=$DATA "$here/scripts/cluster.sh" "$@"; }
cluster stop; rm -rf "$DATA"
cluster start >/dev/null
trap 'cluster stop; rm -rf "$DATA"' EXIT
cd /tmp
psql -h 127.0.0.1 -p $PORT -U postgres -X -q -v ON_ERROR_STOP=1 -d postgres >/dev/null <<'SQL'
CREATE EXTENSION pg_reverse_etl;
CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, plan text);
INSERT INTO users SELECT g, 'u' || g || '@example.com', 'free' FROM generate_series(1, 50) g;
CREATE TABLE contacts (email text PRIMARY KEY, plan_name text);
SELECT reverse_etl.create_model('users', 'SELECT id, email, plan FROM users', ARRAY['id']);
SELECT reverse_etl.create_destination('db', 'postgres');
SELECT reverse_etl.create_sync('users_to_contacts', 'users', 'db',
  '{"mode": "upsert", "object": "contacts", "match": {"from": "email", "to": "email"},
    "mappings": [{"from": "plan", "to": "plan_name"}]}');
SELECT reverse_etl.sync_run('users_to_contacts');
DO $$ BEGIN
  IF (SELECT status FROM reverse_etl.sync_runs) <> 'succeeded' OR (SELECT count(*) FROM contacts) <> 50 THEN
    RAISE EXCEPTION 'the packaged extension did not sync';
  END IF;
END $$;
SQL
echo "package $(basename "$deb"): installed and ran a sync on a fresh cluster"

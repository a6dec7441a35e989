#!/usr/bin/env bash
# A local PostgreSQL 15 cluster on loopback for the demo, tests and benchmark.
# usage: scripts/cluster.sh start|stop|restart|status|password-auth|psql [args…]
# Settings: PGRE_PORT (default 28815), PGRE_DATA (default /var/tmp/pg_reverse_etl/data-$PGRE_PORT).
# initdb refuses root, so the cluster belongs to the postgres user.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PORT=${PGRE_PORT:-28815}
DATA=${PGRE_DATA:-/var/tmp/pg_reverse_etl/data-$PORT}
as_postgres() { if [ "$(id -un)" = postgres ]; then "$@"; else sudo -u postgres "$@"; fi; }

init() {
  [ -f "$DATA/PG_VERSION" ] && return 0
  mkdir -p "$(dirname "$DATA")"
  chown postgres: "$(dirname "$DATA")" 2>/dev/null || true
  as_postgres "$PGBIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  cat >> "$DATA/postgresql.conf" <<CONF
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '/tmp'
max_worker_processes = 64
shared_preload_libraries = 'pg_cron,pg_reverse_etl'
cron.database_name = 'postgres'
shared_buffers = 512MB
work_mem = 64MB
maintenance_work_mem = 256MB
max_wal_size = 4GB
fsync = on
log_min_messages = warning
CONF
}

# Settings the tests rely on, added to clusters made before they existed.
settings() {
  grep -q "^reverse_etl.file_allowed_directories" "$DATA/postgresql.conf" ||
    echo "reverse_etl.file_allowed_directories = '/tmp/pg_reverse_etl_files'" >> "$DATA/postgresql.conf"
  mkdir -p /tmp/pg_reverse_etl_files && chmod 1777 /tmp/pg_reverse_etl_files
  # No host is allowed by default; the tests and the demo send to loopback.
  grep -q "^reverse_etl.http_allowed_hosts" "$DATA/postgresql.conf" ||
    echo "reverse_etl.http_allowed_hosts = '127.0.0.1,localhost,::1'" >> "$DATA/postgresql.conf"
  grep -q "^reverse_etl.postgres_allowed_hosts" "$DATA/postgresql.conf" ||
    echo "reverse_etl.postgres_allowed_hosts = '127.0.0.1,localhost'" >> "$DATA/postgresql.conf"
  # The launcher runs schedules only when the library is preloaded.
  grep -q "^shared_preload_libraries = 'pg_cron,pg_reverse_etl'" "$DATA/postgresql.conf" ||
    echo "shared_preload_libraries = 'pg_cron,pg_reverse_etl'" >> "$DATA/postgresql.conf"
}

case "${1:-}" in
  start)
    init
    settings
    as_postgres "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1 ||
      as_postgres "$PGBIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 start >/dev/null
    echo "postgres running on 127.0.0.1:$PORT (data $DATA)";;
  stop)
    [ -f "$DATA/PG_VERSION" ] && as_postgres "$PGBIN/pg_ctl" -D "$DATA" -m fast -w status >/dev/null 2>&1 &&
      as_postgres "$PGBIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
    true;;
  restart) "$0" stop; "$0" start;;
  # A server that asks every role but postgres for its password (scram):
  # what a postgres destination with a connection is tested against.
  password-auth)
    init
    printf 'local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n' > "$DATA/pg_hba.conf"
    "$0" start >/dev/null
    as_postgres "$PGBIN/pg_ctl" -D "$DATA" reload >/dev/null
    echo "postgres running on 127.0.0.1:$PORT with password authentication (data $DATA)";;
  status) as_postgres "$PGBIN/pg_ctl" -D "$DATA" status;;
  psql) shift; exec psql -h 127.0.0.1 -p "$PORT" -U postgres -X "$@";;
  *) echo "usage: $0 start|stop|restart|status|psql" >&2; exit 2;;
esac

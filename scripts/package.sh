#!/usr/bin/env bash
# Builds a Debian package of the extension for PostgreSQL 15:
# target/debian/postgresql-15-pg-reverse-etl_<version>_<arch>.deb, holding the
# library, the control file, the current install script, the frozen install
# scripts of released versions and the upgrade scripts. It installs on a
# PostgreSQL 15 server without Rust or the source tree.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
major=$("$PG_CONFIG" --version | sed -n 's/^PostgreSQL \([0-9]*\).*/\1/p')
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
name=postgresql-$major-pg-reverse-etl
root=target/debian/${name}_${version}_${arch}
rm -rf "$root"
cargo pgrx package --pg-config "$PG_CONFIG" --out-dir "$root" >/dev/null
extension_dir="$root$("$PG_CONFIG" --sharedir)/extension"
scripts/release-scripts.sh "$extension_dir"
strip --strip-unneeded "$root$("$PG_CONFIG" --pkglibdir)/pg_reverse_etl.so"
install -d "$root/usr/share/doc/$name"
install -m 644 README.md "$root/usr/share/doc/$name/README.md"
install -d "$root/DEBIAN"
cat > "$root/DEBIAN/control" <<CONTROL
Package: $name
Version: $version
Architecture: $arch
Maintainer: pg_reverse_etl developers <dev@pg-reverse-etl.invalid>
Depends: postgresql-$major, libc6
Section: database
Priority: optional
Description: Reverse ETL inside PostgreSQL $major
 Syncs SQL query results (models) to tables, REST APIs, webhooks and files,
 sending only what changed since the last run, and keeps every run and every
 row's outcome in ordinary tables. Add pg_reverse_etl to
 shared_preload_libraries for schedules, then CREATE EXTENSION pg_reverse_etl.
CONTROL
dpkg-deb --root-owner-group --build "$root" "target/debian/${name}_${version}_${arch}.deb" >/dev/null
echo "target/debian/${name}_${version}_${arch}.deb"

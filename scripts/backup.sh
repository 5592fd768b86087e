#!/usr/bin/env bash
# Back up the atlas's PostgreSQL database: every table, history included, in pg_dump's custom format.
#
#   DATABASE_URL=postgres://atlas@db:5432/atlas scripts/backup.sh [FILE]
#
# FILE defaults to backups/atlas-<UTC time>.dump. The dump is written beside FILE first and renamed once
# pg_restore has read its table of contents back, so FILE is never a half-written archive. A custom-format
# dump is compressed, consistent (one snapshot, taken while the site serves) and restorable table by
# table. Restore with scripts/restore.sh. Data releases are files, not rows: back up DATA_RELEASES_DIR too.
set -euo pipefail

: "${DATABASE_URL:?set DATABASE_URL to the database to back up (postgres://user@host:port/name)}"
case "$DATABASE_URL" in
    postgres://* | postgresql://*) ;;
    *) echo "backup.sh: DATABASE_URL must point at PostgreSQL; got ${DATABASE_URL%%:*}://…" >&2; exit 2 ;;
esac

file="${1:-backups/atlas-$(date -u +%Y%m%dT%H%M%SZ).dump}"
mkdir -p "$(dirname "$file")"
partial="$file.partial"
trap 'rm -f "$partial"' EXIT

# No owners or grants: the archive restores into a database owned by whoever restores it.
pg_dump --format=custom --compress=6 --no-owner --no-privileges --file="$partial" --dbname="$DATABASE_URL"
pg_restore --list "$partial" >/dev/null
mv "$partial" "$file"
echo "$file"

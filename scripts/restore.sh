#!/usr/bin/env bash
# Restore a dump made by scripts/backup.sh into an EMPTY database.
#
#   createdb -h HOST -U USER atlas_restored
#   DATABASE_URL=postgres://USER@HOST:5432/atlas_restored scripts/restore.sh backups/atlas-….dump
#
# Refuses a database that already has tables, so a mistyped URL cannot overwrite the live atlas. The restore
# is one transaction: it succeeds entirely or leaves the database empty. Afterwards point the site's
# DATABASE_URL at the restored database and run `python manage.py migrate` (a no-op when the code is the
# same version; it brings an older dump forward otherwise).
set -euo pipefail

file="${1:?usage: DATABASE_URL=postgres://… scripts/restore.sh FILE}"
: "${DATABASE_URL:?set DATABASE_URL to the empty database to restore into}"
[ -r "$file" ] || { echo "restore.sh: cannot read $file" >&2; exit 2; }

tables=$(psql --no-psqlrc --tuples-only --no-align --dbname="$DATABASE_URL" \
    --command="SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
if [ "$tables" != "0" ]; then
    echo "restore.sh: the target database already has $tables tables; restore only into an empty one (createdb)" >&2
    exit 1
fi

pg_restore --no-owner --no-privileges --exit-on-error --single-transaction --dbname="$DATABASE_URL" "$file"
echo "restored $file"

#!/usr/bin/env bash
# Quick start (interim, until the role's playbook takes over): start the disposable local
# PostgreSQL and bring its `xp` database to the latest version of the change set with psql,
# exactly as docs/data_model.md describes applying it by hand. A change whose verify script
# already passes is skipped, so a second run changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
BASE=${PG_MIGRATE_LOCAL_DIR:-.local/pg}

$PY tools/localpg.py start "$BASE" >/dev/null
eval "$($PY tools/localpg.py env "$BASE")"
export PGDATABASE=postgres
psql -X -q -tA -c "SELECT 1 FROM pg_database WHERE datname = 'xp'" | grep -q 1 || createdb xp
export PGDATABASE=xp

applied=0
for deploy in files/migrations/V[0-9][0-9][0-9]__*.sql; do
  case "$deploy" in *.verify.sql) continue ;; esac
  verify="${deploy%.sql}.verify.sql"
  if psql -X -q -v ON_ERROR_STOP=1 -f "$verify" >/dev/null 2>&1; then
    continue
  fi
  single=--single-transaction
  head -n1 "$deploy" | grep -qx -- '-- pg_migrate:no-transaction' && single=
  psql -X -q -v ON_ERROR_STOP=1 $single -f "$deploy"
  psql -X -q -v ON_ERROR_STOP=1 -f "$verify"
  echo "applied  $(basename "$deploy")"
  applied=$((applied + 1))
done
if [ "$applied" -eq 0 ]; then
  echo "nothing pending: database xp on $PGHOST:$PGPORT is at the latest version"
else
  echo "$applied migration(s) applied to database xp on $PGHOST:$PGPORT"
fi

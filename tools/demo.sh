#!/usr/bin/env bash
# `make demo`: the main job on an embedded default. Starts the disposable local PostgreSQL
# (.local/pg), creates its `xp` database when missing, then does what an operator does with the
# local inventory: the check-mode plan, the migration, the status. Run it again: nothing pending.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
BASE=${PG_MIGRATE_LOCAL_DIR:-.local/pg}
export PG_MIGRATE_DB=${PG_MIGRATE_DB:-xp}

"$BIN/python" tools/localpg.py start "$BASE" >/dev/null
eval "$("$BIN/python" tools/localpg.py env "$BASE")"
export PATH="$PWD/$BIN:$PATH" PGDATABASE=postgres
if ! psql -X -q -tA -c "SELECT 1 FROM pg_database WHERE datname = '$PG_MIGRATE_DB'" | grep -q 1; then
  createdb "$PG_MIGRATE_DB"
  echo "created database $PG_MIGRATE_DB on $PGHOST:$PGPORT"
fi

run() {
  echo
  echo "\$ ansible-playbook -i inventories/local $*"
  ansible-playbook -i inventories/local "$@"
}
run playbooks/migrate.yml --check --diff
run playbooks/migrate.yml
run playbooks/status.yml

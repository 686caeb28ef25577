#!/usr/bin/env bash
# `make fleet-demo N=50`: a fleet on the disposable local PostgreSQL (.local/pg). Creates N databases
# xp_shard_001.. at V001 (when missing), then rolls the change out with playbooks/fleet.yml in waves, and shows
# the fleet status. Run it again: every database is already current.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
BASE=${PG_MIGRATE_LOCAL_DIR:-.local/pg}
export PG_MIGRATE_FLEET_SIZE=${N:-${PG_MIGRATE_FLEET_SIZE:-50}}

"$BIN/python" tools/localpg.py start "$BASE" >/dev/null
eval "$("$BIN/python" tools/localpg.py env "$BASE")"
export PATH="$PWD/$BIN:$PATH" PGDATABASE=postgres

# One database at V001 (as migrate.yml leaves it), then copies of it: N runs of V001 would only slow the demo.
if ! psql -X -q -tA -c "SELECT 1 FROM pg_database WHERE datname = 'xp_shard_template'" | grep -q 1; then
  createdb xp_shard_template
  PG_MIGRATE_DB=xp_shard_template ansible-playbook -i inventories/local playbooks/migrate.yml \
    -e pg_migrate_target_version=001 >/dev/null
fi
created=0
for number in $(seq 1 "$PG_MIGRATE_FLEET_SIZE"); do
  name=$(printf 'xp_shard_%03d' "$number")
  if ! psql -X -q -tA -c "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1; then
    createdb -T xp_shard_template "$name"
    created=$((created + 1))
  fi
done
echo "fleet: $PG_MIGRATE_FLEET_SIZE databases on $PGHOST:$PGPORT ($created created at V001)"

run() {
  echo
  echo "\$ ansible-playbook -i inventories/fleet-local $*"
  ansible-playbook -i inventories/fleet-local "$@"
}
export ANSIBLE_STDOUT_CALLBACK=${ANSIBLE_STDOUT_CALLBACK:-pg_migrate.engine.fleet}  # a line per database; -v for the task log
run playbooks/fleet.yml -f 10
run playbooks/fleet-status.yml -f 10

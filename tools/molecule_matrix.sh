#!/usr/bin/env bash
# Run the Molecule scenarios, the ones that need a PostgreSQL container: `default` on every major of the
# matrix, `failure` and `concurrency` on the first one (everything else is in the pytest suite, against
# a local server). Prints how long each took; always removes the instances.
#
#   tools/molecule_matrix.sh                      # the whole matrix
#   tools/molecule_matrix.sh default:17 failure   # chosen scenarios (scenario[:major])
#
# PG_MIGRATE_MAJORS (default "15 17 18") sets the matrix; PG_MIGRATE_IMAGE_FAMILY=official uses
# images built FROM postgres:<major> (needs a registry). Without a Docker engine every scenario is skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
export PATH="$PWD/$BIN:$PATH"
majors=(${PG_MIGRATE_MAJORS:-15 17 18})
# The instances' superuser password: random per run, only ever passed through the environment.
export PG_MIGRATE_TEST_PASSWORD=${PG_MIGRATE_TEST_PASSWORD:-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')}

if [ $# -gt 0 ]; then
  runs=("$@")
else
  runs=()
  for major in "${majors[@]}"; do runs+=("default:$major"); done
  for scenario in failure concurrency; do runs+=("$scenario:${majors[0]}"); done
fi

docker_ok=false
docker info >/dev/null 2>&1 && docker_ok=true

remove_instances() {
  $docker_ok && docker ps -aq --filter name=pg-migrate- | xargs -r docker rm -f >/dev/null 2>&1
  return 0
}
trap remove_instances EXIT

failed=()
passed=0
skipped=0
summary=()
for run in "${runs[@]}"; do
  scenario=${run%%:*}
  major=${run#*:}
  [ "$major" = "$run" ] && major=${majors[0]}
  if ! $docker_ok; then
    summary+=("$(printf '%-12s PG %-3s skipped (no Docker engine: start dockerd)' "$scenario" "$major")")
    skipped=$((skipped + 1))
    continue
  fi
  molecule/images/build.sh "$major" >/dev/null || { failed+=("$run (image)"); continue; }
  log="${TMPDIR:-/tmp}/pg_migrate-molecule-$scenario-$major.log"
  started=$SECONDS
  PG_MAJOR=$major molecule test -s "$scenario" > "$log" 2>&1
  rc=$?
  remove_instances
  took=$((SECONDS - started))
  if [ $rc -eq 0 ]; then
    summary+=("$(printf '%-12s PG %-3s passed in %3ss' "$scenario" "$major" "$took")")
    passed=$((passed + 1))
  else
    summary+=("$(printf '%-12s PG %-3s FAILED after %3ss (log: %s)' "$scenario" "$major" "$took" "$log")")
    failed+=("$run")
    tail -60 "$log" | sed 's/\x1b\[[0-9;]*m//g'
  fi
done

echo
echo "Molecule scenarios:"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "${#failed[@]} failed, $passed passed"
  exit 1
fi
echo "$passed passed, 0 failed, $skipped skipped"

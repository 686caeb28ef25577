#!/usr/bin/env bash
# galaxy-importer (the checks Galaxy runs on an uploaded collection) on the built tarball of pg_migrate.engine,
# offline: settings in tools/galaxy-importer.cfg (no ansible-test container, ansible-lint --offline). Fails on
# an import error and on any warning or error it logs, except the one listed in ALLOWED below.
#
#   tools/galaxy_importer.sh
#
# galaxy.yml names no repository (there is no public source address yet; .ansible-lint skips
# galaxy[no-repository] for the same reason), and Galaxy refuses a collection without one, so the tarball is
# built from a scratch copy whose galaxy.yml gets a stand-in address (.invalid, RFC 2606) when it has none.
# Nothing in the repository is written.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
collection=$root/collections/ansible_collections/pg_migrate/engine
export PATH="$root/.venv/bin:$PATH"

# Logged for every collection that has a tests/sanity/ignore-*.txt; ours holds validate-modules'
# missing-gplv3-license for the module files only, because the collection is MIT-licensed.
ALLOWED='^WARNING: Ignore files skip ansible-test sanity tests, found ignore-2\.[0-9]+\.txt with [0-9]+ statement\(s\)$'

scratch=$(mktemp -d "${TMPDIR:-/tmp}/pg_migrate-importer.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
cp -r "$collection" "$scratch/engine"
rm -rf "$scratch/engine/tests/output"
grep -q '^repository:' "$scratch/engine/galaxy.yml" ||
  printf 'repository: https://pg-migrate.invalid/source\n' >>"$scratch/engine/galaxy.yml"
ansible-galaxy collection build "$scratch/engine" --output-path "$scratch/dist" 2>&1 | grep -v -i cryptography
tarball=$(ls "$scratch"/dist/pg_migrate-engine-*.tar.gz)

cd "$scratch"
status=0
GALAXY_IMPORTER_CONFIG=$root/tools/galaxy-importer.cfg GALAXY_IMPORTER_ANSIBLE_LOCAL_TMP=$scratch/ansible-tmp \
  python -m galaxy_importer.main "$tarball" >importer.log 2>&1 || status=$?
grep -v -E '^(Loading|Importing|Getting doc strings|Found) ' importer.log || true
findings=$(grep -E '^(WARNING|ERROR|CRITICAL)' importer.log | grep -v -E "$ALLOWED" || true)
if [ "$status" -ne 0 ] || [ -n "$findings" ] || ! grep -q '^Importer processing completed successfully' importer.log; then
  echo "galaxy-importer: FAILED (exit $status)${findings:+; findings:}"
  [ -z "$findings" ] || printf '%s\n' "$findings"
  exit 1
fi
echo "galaxy-importer: $(basename "$tarball") imports cleanly"

#!/usr/bin/env bash
# ansible-test sanity for the collection pg_migrate.engine, without network access.
#
#   tools/sanity.sh                  # every sanity test that can run here (see TESTS below)
#   tools/sanity.sh --test pep8      # some of them (any further ansible-test sanity options)
#
# ansible-test wants the collection at .../ansible_collections/<namespace>/<name>, so this copies it into a
# scratch tree (removed at the end). Most sanity tests run in virtual environments that ansible-test builds
# itself: it bootstraps pip in each with get-pip.py, downloaded from ci-files.testing.ansible.com, which
# this machine cannot reach. ansible-test runs with a HOME of its own, ~/.cache/pg_migrate-sanity
# (PG_MIGRATE_SANITY_HOME; its virtual environments are kept there for the next run, a fresh clone's too),
# which holds a stand-in for that script (ensurepip, then pip), and a pip.conf with the pip settings in force
# here, so the test requirements come through pip's ordinary configuration. Nothing else outside the
# repository is touched. `make collection-checks` (part of `make test`) runs it.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
collection=$root/collections/ansible_collections/pg_migrate/engine
python=${PYTHON_VERSION:-3.11}
export PATH="$root/.venv/bin:$PATH"

# The tests that run here. Left out: shellcheck and pslint (no shellcheck or pwsh installed; the
# collection has no shell or PowerShell files either).
TESTS=(
  action-plugin-docs ansible-doc changelog compile empty-init ignores import line-endings no-assert
  no-get-exception no-illegal-filenames no-smart-quotes pep8 pylint replace-urlopen runtime-metadata shebang
  symlinks use-argspec-type-path use-compat-six validate-modules yamllint
)

# ansible-test's HOME: the virtual environments it builds on its first run on a machine (about 2 minutes) are kept
# for the next runs there - also a fresh clone's (CI) - in the user's cache, not in the checkout.
home=${PG_MIGRATE_SANITY_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/pg_migrate-sanity}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/pg_migrate-sanity.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/ansible_collections/pg_migrate" "$home/.ansible/test/cache"
cp -r "$collection" "$scratch/ansible_collections/pg_migrate/engine"
rm -rf "$scratch/ansible_collections/pg_migrate/engine/tests/output"
# Its dependency beside it, where ansible-test looks for it (the import and pylint tests load it): the
# community.postgresql that the Ansible in use has.
postgresql=$(ansible-galaxy collection list community.postgresql --format json 2>/dev/null | python3 -c '
import json, sys
for path, found in json.load(sys.stdin).items():
    if "community.postgresql" in found:
        print(path); break
')
mkdir -p "$scratch/ansible_collections/community"
cp -r "$postgresql/community/postgresql" "$scratch/ansible_collections/community/postgresql"

# ansible-test runs pip with an environment of its own (PATH, HOME, no PIP_* variables): the pip settings
# in force here (environment, user and global configuration) go into that HOME's pip.conf.
mkdir -p "$home/.config/pip"
pip config list | python3 -c '
import sys
settings = {}
for line in sys.stdin:
    key, _, value = line.rstrip("\n").partition("=")
    settings[key.split(".", 1)[1]] = value.strip("\x27")
print("[global]")
print("\n".join("%s = %s" % item for item in settings.items()))
' >"$home/.config/pip/pip.conf"

# The stand-in for get-pip.py, under every name ansible-test may ask for (get_pip_<version>.py).
# (ensurepip in a process of its own: it sets PIP_CONFIG_FILE=/dev/null in the environment it runs in.)
bootstrap='import subprocess, sys
subprocess.check_call([sys.executable, "-m", "ensurepip"])
# get-pip.py options that pip install does not know
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", *args])
'
for version in $(grep -ho "pip='[0-9.]*'" "$root"/.venv/lib/python*/site-packages/ansible_test/_internal/python_requirements.py \
  | grep -o "[0-9][0-9.]*" | sort -u); do
  printf '%s' "$bootstrap" >"$home/.ansible/test/cache/get_pip_${version//./_}.py"
done

args=("$@")
if [ ${#args[@]} -eq 0 ]; then
  for test in "${TESTS[@]}"; do args+=(--test "$test"); done
fi
cd "$scratch/ansible_collections/pg_migrate/engine"
HOME="$home" ansible-test sanity --python "$python" --local --color no "${args[@]}"

#!/usr/bin/env bash
# Build the PostgreSQL test image for Molecule: pg_migrate-test:<major>.
#
#   molecule/images/build.sh <major>                  # from Debian packages (no container registry needed)
#   PG_MIGRATE_IMAGE_FAMILY=official molecule/images/build.sh <major>   # FROM postgres:<major> (needs a registry)
#
# Debian family: debootstrap --variant=minbase with postgresql-<major>, python3 and python3-psycopg
# (bookworm -> 15, trixie -> 17, forky -> 18, bullseye -> 13), then `docker import`. The mirror is
# read from this machine's apt configuration. An existing image is reused (FORCE=1 rebuilds).
# Both families start the server with the image's own command and take POSTGRES_PASSWORD.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
major=${1:?usage: molecule/images/build.sh <13|15|17|18>}
family=${PG_MIGRATE_IMAGE_FAMILY:-debian}
image=pg_migrate-test-$family:$major

# The image records what it was built from; a change to the start script or to this file rebuilds it.
inputs=$(cat "$here/build.sh" "$here/pg-start" "$here/Dockerfile.official" | sha256sum | cut -c1-16)
built_from=$(docker image inspect --format '{{ index .Config.Labels "pg_migrate.inputs" }}' "$image" 2>/dev/null || true)
if [ "${FORCE:-0}" != 1 ] && [ "$built_from" = "$inputs" ]; then
  echo "reusing $image"
  exit 0
fi

if [ "$family" = official ]; then
  docker build --build-arg "PG_MAJOR=$major" --label "pg_migrate.inputs=$inputs" \
    -t "$image" -f "$here/Dockerfile.official" "$here"
  exit 0
fi

case $major in
  13) suite=bullseye; script=bullseye ;;
  15) suite=bookworm; script=bookworm ;;
  17) suite=trixie; script=trixie ;;
  18) suite=forky; script=/usr/share/debootstrap/scripts/sid ;;  # bookworm's debootstrap knows no forky
  *) echo "no Debian suite ships PostgreSQL $major here; use 13, 15, 17 or 18" >&2; exit 2 ;;
esac
[ -e "$script" ] || [ -e "/usr/share/debootstrap/scripts/$script" ] || script=/usr/share/debootstrap/scripts/sid

mirror=$(awk '$1 == "URIs:" {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || { echo "cannot find a Debian mirror in /etc/apt" >&2; exit 2; }

root=$(mktemp -d /var/tmp/pg_migrate-image-XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "debootstrap $suite (PostgreSQL $major) from $mirror"
debootstrap --variant=minbase --include="postgresql-$major,python3,python3-psycopg" \
  "$suite" "$root" "$mirror" "$script" > "$root.log" 2>&1 || { tail -20 "$root.log" >&2; exit 1; }
rm -f "$root.log"
install -m 0755 "$here/pg-start" "$root/usr/local/bin/pg-start"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | docker import \
  --change "ENV PG_MAJOR=$major" \
  --change 'CMD ["/usr/local/bin/pg-start"]' \
  --change "LABEL pg_migrate.inputs=$inputs" \
  - "$image" >/dev/null
echo "built $image"

# pg_migrate: the change set as one deterministic tar, for the managed host — written on the controller,
# unpacked by the module there (one transfer, however many migrations there are). The module then checks
# every file it runs against the controller's SHA-256, so an unpacked copy is trusted only as far as that.

from __future__ import annotations

import grp
import io
import os
import pwd
import tarfile

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.discovery import sha256_hex
from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.model import Changeset
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.files import write_atomically

BUNDLE_MODE = 0o640


def bundle_members(changeset: Changeset) -> list[str]:
    """Relative paths of every file the target needs, in a stable order."""
    paths = []
    for migration in changeset.migrations:
        paths.append(migration.path)
        paths.extend(companion.path for companion in (migration.revert, migration.verify) if companion)
    paths.extend(r.path for r in changeset.repeatables)
    paths.extend(entry.path for entry in (changeset.backfill or {}).values())
    return sorted(paths)


def _tar_info(relpath: str, mode: int, size: int = 0, directory: bool = False) -> tarfile.TarInfo:
    """A member with fixed metadata (mtime 0), so the same files always make the same bytes."""
    info = tarfile.TarInfo(relpath)
    if directory:
        info.type = tarfile.DIRTYPE
    info.size = size
    info.mode = mode
    info.mtime = 0
    return info


def write_bundle(
    changeset: Changeset, roots: dict[str, str], destination: str, file_mode: int = BUNDLE_MODE, dir_mode: int = 0o750
) -> str:
    """A deterministic tar (sorted, mtime 0) of the change set, with the modes the target must have; its sha256."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        members = bundle_members(changeset)
        for subdir in sorted({relpath.split("/", 1)[0] for relpath in members}):
            tar.addfile(_tar_info(subdir, dir_mode, directory=True))
        for relpath in members:
            subdir, name = relpath.split("/", 1)
            with open(os.path.join(roots[subdir], name), "rb") as handle:
                data = handle.read()
            tar.addfile(_tar_info(relpath, file_mode, len(data)), io.BytesIO(data))
    content = buffer.getvalue()
    with open(destination, "wb") as handle:
        handle.write(content)
    return sha256_hex(content)


def _owner_ids(owner: str | None, group: str | None) -> tuple[int, int]:
    """(uid, gid) for os.chown; -1 leaves one as it is."""
    uid = pwd.getpwnam(owner).pw_uid if owner else -1
    gid = grp.getgrnam(group).gr_gid if group else -1
    return uid, gid


def extract_bundle(
    bundle: str, destination: str, dir_mode: int, owner: str | None = None, group: str | None = None
) -> int:
    """Unpack BUNDLE (write_bundle's tar) into DESTINATION with the modes it carries; the number of files
    written (a file whose bytes and mode are already there is left alone, so a second copy changes nothing).

    Only the bundle's own kinds of member are taken (directories and regular files, relative paths without
    ..), whatever else a tar could hold."""
    uid, gid = _owner_ids(owner, group)
    os.makedirs(destination, mode=dir_mode, exist_ok=True)
    os.chmod(destination, dir_mode)
    if (uid, gid) != (-1, -1):
        os.chown(destination, uid, gid)
    written = 0
    with tarfile.open(bundle, mode="r") as tar:
        for member in tar.getmembers():
            parts = member.name.split("/")
            if member.name.startswith("/") or ".." in parts or not (member.isdir() or member.isfile()):
                raise ValueError("unexpected member %r in the change set bundle %s" % (member.name, bundle))
            path = os.path.join(destination, *parts)
            mode = member.mode & 0o777
            if member.isdir():
                os.makedirs(path, exist_ok=True)
                os.chmod(path, mode)
            else:
                data = tar.extractfile(member).read()
                same = False
                if os.path.isfile(path) and os.stat(path).st_mode & 0o777 == mode:
                    with open(path, "rb") as handle:
                        same = handle.read() == data
                if not same:
                    write_atomically(path, data, mode)
                    written += 1
            if (uid, gid) != (-1, -1):
                os.chown(path, uid, gid)
    return written

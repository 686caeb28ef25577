# pg_migrate: the change set as values: what discovery found on disk, as the planner and the run read it.
#
# The change set crosses to the managed host as a module option, that is as JSON: to_dict() gives that form
# (the keys docs/checksums.md and the module know), from_dict() reads it back. Nothing else converts.

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property


def _spans(statements: object) -> tuple[tuple[int, int, int], ...]:
    return tuple(tuple(span) for span in statements or ())


@dataclass(frozen=True)
class Script:
    """One SQL file: "checksum" is what the history records (scheme 2), "bytes_sha256" what the copy on the
    managed host must hash to, "checksum_equivalents" what earlier versions (scheme 1) may have recorded."""

    script: str
    path: str = ""
    checksum: str = ""
    checksum_equivalents: tuple[str, ...] = ()
    bytes_sha256: str = ""
    transactional: bool = True
    statements: tuple[tuple[int, int, int], ...] = ()  # (start, end, line) of each statement
    # (statement number from 1, relation, lock mode) of each existing table a statement locks against the
    # application (changeset/lock_targets.py): what the run looks at in pg_locks before that statement.
    locks: tuple[tuple[int, str, str], ...] = ()

    def same_checksum(self, recorded: str) -> bool:
        """Whether a history row's checksum RECORDED stands for this script (docs/checksums.md): a line-ending
        or BOM change alone is never drift."""
        return recorded == self.checksum or recorded in self.checksum_equivalents

    def to_dict(self) -> dict:
        return {
            "script": self.script,
            "path": self.path,
            "checksum": self.checksum,
            "checksum_equivalents": list(self.checksum_equivalents),
            "bytes_sha256": self.bytes_sha256,
            "transactional": self.transactional,
            "statements": [list(span) for span in self.statements],
            "locks": [list(lock) for lock in self.locks],
        }

    @staticmethod
    def fields_of(entry: dict) -> dict:
        """The Script fields of a JSON entry; missing ones take their defaults (hand-written change sets)."""
        return {
            "script": entry["script"],
            "path": entry.get("path", ""),
            "checksum": entry.get("checksum", ""),
            "checksum_equivalents": tuple(entry.get("checksum_equivalents") or ()),
            "bytes_sha256": entry.get("bytes_sha256", ""),
            "transactional": bool(entry.get("transactional", True)),
            "statements": _spans(entry.get("statements")),
            "locks": tuple(
                (int(number), str(relation), str(mode)) for number, relation, mode in entry.get("locks") or ()
            ),
        }

    @classmethod
    def from_dict(cls, entry: dict | None) -> Script | None:
        return None if not entry else cls(**cls.fields_of(entry))


@dataclass(frozen=True)
class Migration(Script):
    """A V script with its version, and its U (revert) and .verify scripts when it has them."""

    version: str = ""
    description: str = ""
    description_slug: str = ""
    revert: Script | None = None
    verify: Script | None = None

    def to_dict(self) -> dict:
        return dict(
            super().to_dict(),
            version=self.version,
            description=self.description,
            description_slug=self.description_slug,
            revert=self.revert.to_dict() if self.revert else None,
            verify=self.verify.to_dict() if self.verify else None,
        )

    @classmethod
    def from_dict(cls, entry: dict) -> Migration:
        return cls(
            **Script.fields_of(entry),
            version=entry["version"],
            description=entry.get("description", ""),
            description_slug=entry.get("description_slug", ""),
            revert=Script.from_dict(entry.get("revert")),
            verify=Script.from_dict(entry.get("verify")),
        )


@dataclass(frozen=True)
class Repeatable(Script):
    """An R__ script: re-applied whenever its checksum changes."""

    description: str = ""

    def to_dict(self) -> dict:
        return dict(super().to_dict(), description=self.description)

    @classmethod
    def from_dict(cls, entry: dict) -> Repeatable:
        return cls(**Script.fields_of(entry), description=entry.get("description", ""))


@dataclass(frozen=True)
class Changeset:
    """The migrations in version order, the repeatables by name, and a backfill's batch and count scripts
    (only for a backfill run: the JSON form has no "backfill" key otherwise)."""

    migrations: tuple[Migration, ...] = ()
    repeatables: tuple[Repeatable, ...] = ()
    backfill: dict[str, Script] | None = None

    @property
    def latest_version(self) -> str | None:
        return self.migrations[-1].version if self.migrations else None

    @cached_property
    def migration_of(self) -> dict[str, Migration]:
        """The migrations by version (the plan names them by version)."""
        return {migration.version: migration for migration in self.migrations}

    @cached_property
    def repeatable_of(self) -> dict[str, Repeatable]:
        """The repeatables by script name (the plan names them by script)."""
        return {repeatable.script: repeatable for repeatable in self.repeatables}

    def to_dict(self) -> dict:
        found = {
            "migrations": [migration.to_dict() for migration in self.migrations],
            "repeatables": [repeatable.to_dict() for repeatable in self.repeatables],
        }
        if self.backfill is not None:
            found["backfill"] = {role: script.to_dict() for role, script in self.backfill.items()}
        return found

    @classmethod
    def from_dict(cls, found: dict) -> Changeset:
        backfill = found.get("backfill")
        return cls(
            migrations=tuple(Migration.from_dict(entry) for entry in found.get("migrations") or ()),
            repeatables=tuple(Repeatable.from_dict(entry) for entry in found.get("repeatables") or ()),
            backfill=None if backfill is None else {role: Script.from_dict(entry) for role, entry in backfill.items()},
        )

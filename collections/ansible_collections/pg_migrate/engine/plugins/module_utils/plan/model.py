# pg_migrate: the plan as values: what the version check decided, for a migrate (also status, seed and
# backfill) or a rollback.
#
# The plan leaves Python as JSON (the module's result, the run reports of docs/reports.md, the results the
# fleet reads): to_dict() writes exactly the documented fields, plan_from_dict() reads them back. Reading is
# lenient (a missing field takes its empty value) because reports of older versions and hand-made results
# in tests carry only part of them.

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Union


def _strings(values: object) -> tuple[str, ...]:
    return tuple(values or ())


class Record:
    """A plan entry whose JSON form is its fields, in their order: read back with each absent field's default
    ("" for a field without one)."""

    def to_dict(self) -> dict:
        return {field.name: getattr(self, field.name) for field in fields(self)}

    @classmethod
    def from_dict(cls, entry: dict):
        return cls(
            **{
                field.name: entry.get(field.name, "" if field.default is MISSING else field.default)
                for field in fields(cls)
            }
        )


@dataclass(frozen=True)
class PlannedMigration(Record):
    """A migration of "pending" or "baseline"; only a pending one says whether it retries a failed attempt."""

    # In the JSON form's order (docs/reports.md).
    version: str
    description: str = ""
    script: str = ""
    checksum: str = ""
    transactional: bool = True
    retry_of_failed_run: bool | None = None  # None in "baseline": the field is absent there

    def to_dict(self) -> dict:
        entry = super().to_dict()
        if self.retry_of_failed_run is None:
            del entry["retry_of_failed_run"]
        return entry


@dataclass(frozen=True)
class Drift(Record):
    """An applied migration whose file changed since: the checksum in the history and the file's."""

    version: str
    script: str
    recorded_checksum: str = ""
    file_checksum: str = ""

    @classmethod
    def from_dict(cls, entry: object) -> Drift:
        if not isinstance(entry, dict):  # what a foreign result holds there, named as it is
            return cls(version="", script=str(entry))
        return super().from_dict(entry)


@dataclass(frozen=True)
class Missing(Record):
    """An applied version whose file is gone."""

    version: str
    script: str


@dataclass(frozen=True)
class PlannedRepeatable(Record):
    """A repeatable script to apply and why: new, changed, or forced (a forced seed run's entry carries only
    script, checksum and reason, as docs/reports.md says)."""

    script: str
    reason: str
    checksum: str = ""
    description: str | None = None
    transactional: bool | None = None

    def to_dict(self) -> dict:
        if self.description is None:
            return {"script": self.script, "reason": self.reason, "checksum": self.checksum}
        return {
            "script": self.script,
            "description": self.description,
            "checksum": self.checksum,
            "transactional": self.transactional,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class FailedAttempt(Record):
    """A failed attempt the history records (a script outside a transaction stopped part-way)."""

    version: str
    script: str
    at: object = None
    by: object = None


@dataclass(frozen=True)
class MigratePlan:
    """What a migrate would do (a status, seed and backfill read the same plan). "problems" lists everything
    that stops the run; the last three fields are None where the JSON form has no such key."""

    from_version: str | None
    to_version: str | None
    applied: tuple[str, ...] = ()
    pending: tuple[PlannedMigration, ...] = ()
    pending_versions: tuple[str, ...] = ()
    baseline: tuple[PlannedMigration, ...] = ()
    drift: tuple[Drift, ...] = ()
    repair: tuple[Drift, ...] = ()
    missing: tuple[Missing, ...] = ()
    out_of_order: tuple[str, ...] = ()
    failed_before: tuple[str, ...] = ()
    repeatables: tuple[PlannedRepeatable, ...] = ()
    problems: tuple[str, ...] = ()
    repeatables_deferred: tuple[str, ...] | None = None  # seeds left for the run that reaches the latest version
    failed_attempts: tuple[FailedAttempt, ...] | None = None  # a status only
    invalid_indexes: tuple[str, ...] | None = None  # a status only
    # pg_migrate_adopt: the tool whose history the baseline came from ({tool, table, up_to, notes}).
    adopted_from: dict | None = None

    @property
    def changes_something(self) -> bool:
        return bool(self.pending or self.baseline or self.repair or self.repeatables)

    def to_dict(self) -> dict:
        found = {
            "from_version": self.from_version,
            "to_version": self.to_version,
            "applied": list(self.applied),
            "pending": [entry.to_dict() for entry in self.pending],
            "pending_versions": list(self.pending_versions),
            "baseline": [entry.to_dict() for entry in self.baseline],
            "drift": [entry.to_dict() for entry in self.drift],
            "repair": [entry.to_dict() for entry in self.repair],
            "missing": [entry.to_dict() for entry in self.missing],
            "out_of_order": list(self.out_of_order),
            "failed_before": list(self.failed_before),
            "repeatables": [entry.to_dict() for entry in self.repeatables],
            "problems": list(self.problems),
        }
        if self.repeatables_deferred is not None:
            found["repeatables_deferred"] = list(self.repeatables_deferred)
        if self.failed_attempts is not None:
            found["failed_attempts"] = [entry.to_dict() for entry in self.failed_attempts]
        if self.invalid_indexes is not None:
            found["invalid_indexes"] = list(self.invalid_indexes)
        if self.adopted_from is not None:
            found["adopted_from"] = dict(self.adopted_from)
        return found

    @classmethod
    def from_dict(cls, found: dict) -> MigratePlan:
        def entries(key: str, kind) -> tuple:
            return tuple(kind.from_dict(entry) for entry in found.get(key) or ())

        def optional(key: str, read) -> tuple | None:
            return read(key) if key in found else None

        return cls(
            from_version=found.get("from_version"),
            to_version=found.get("to_version"),
            applied=_strings(found.get("applied")),
            pending=entries("pending", PlannedMigration),
            pending_versions=_strings(found.get("pending_versions")),
            baseline=entries("baseline", PlannedMigration),
            drift=entries("drift", Drift),
            repair=entries("repair", Drift),
            missing=entries("missing", Missing),
            out_of_order=_strings(found.get("out_of_order")),
            failed_before=_strings(found.get("failed_before")),
            repeatables=entries("repeatables", PlannedRepeatable),
            problems=_strings(found.get("problems")),
            repeatables_deferred=optional("repeatables_deferred", lambda key: _strings(found[key])),
            failed_attempts=optional("failed_attempts", lambda key: entries(key, FailedAttempt)),
            invalid_indexes=optional("invalid_indexes", lambda key: _strings(found[key])),
            adopted_from=found.get("adopted_from"),
        )


@dataclass(frozen=True)
class PlannedRevert(Record):
    """A revert (U) script to run: the version it takes back, and the script's own checksum."""

    version: str
    script: str
    checksum: str = ""
    transactional: bool = True
    nothing_to_undo: bool = False  # an empty or comment-only revert: the rollback removes the history row only


@dataclass(frozen=True)
class RollbackPlan:
    """What a rollback would revert, newest first, and what stops it. revert_versions are the versions still
    to revert when the run ended; None (no such key) when the target could not be read."""

    from_version: str | None
    to_version: str | None
    revert: tuple[PlannedRevert, ...] = ()
    problems: tuple[str, ...] = ()
    revert_versions: tuple[str, ...] | None = None

    def to_dict(self) -> dict:
        found = {
            "revert": [entry.to_dict() for entry in self.revert],
            "problems": list(self.problems),
            "from_version": self.from_version,
            "to_version": self.to_version,
        }
        if self.revert_versions is not None:
            found["revert_versions"] = list(self.revert_versions)
        return found

    @classmethod
    def from_dict(cls, found: dict) -> RollbackPlan:
        return cls(
            from_version=found.get("from_version"),
            to_version=found.get("to_version"),
            revert=tuple(PlannedRevert.from_dict(entry) for entry in found.get("revert") or ()),
            problems=_strings(found.get("problems")),
            revert_versions=_strings(found["revert_versions"]) if "revert_versions" in found else None,
        )


# typing.Union, not |: managed hosts may run Python < 3.10, where a runtime | of classes fails.
Plan = Union[MigratePlan, RollbackPlan]


def plan_from_dict(found: dict | None, rollback: bool | None = None) -> Plan | None:
    """The plan of a result or report; None when the run stopped before it read the history ({}). ROLLBACK
    says which plan it is when the reader knows the run's action; else the fields tell."""
    if not found:
        return None
    if rollback is None:
        rollback = "revert" in found or "revert_versions" in found
    return RollbackPlan.from_dict(found) if rollback else MigratePlan.from_dict(found)

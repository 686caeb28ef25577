# pg_migrate: the plan as values: what the version check decided, for a migrate (also status, seed and
# backfill) or a rollback.
#
# The plan leaves Python as JSON (the module's result, the run reports of docs/reports.md, the results the
# fleet reads): to_dict() writes exactly the documented fields, plan_from_dict() reads them back. Reading is
# lenient (a missing field takes its empty value) because reports of older versions and hand-made results
# in tests carry only part of them.

from __future__ import annotations

from dataclasses import dataclass
from typing import Union


def _strings(values: object) -> tuple[str, ...]:
    return tuple(values or ())


@dataclass(frozen=True)
class PlannedMigration:
    """A migration of "pending" or "baseline"; only a pending one says whether it retries a failed attempt."""

    version: str
    script: str
    description: str = ""
    checksum: str = ""
    transactional: bool = True
    retry_of_failed_run: bool | None = None  # None in "baseline": the field is absent there

    def to_dict(self) -> dict:
        entry = {
            "version": self.version,
            "description": self.description,
            "script": self.script,
            "checksum": self.checksum,
            "transactional": self.transactional,
        }
        if self.retry_of_failed_run is not None:
            entry["retry_of_failed_run"] = self.retry_of_failed_run
        return entry

    @classmethod
    def from_dict(cls, entry: dict) -> PlannedMigration:
        return cls(
            version=entry.get("version", ""),
            script=entry.get("script", ""),
            description=entry.get("description", ""),
            checksum=entry.get("checksum", ""),
            transactional=entry.get("transactional", True),
            retry_of_failed_run=entry.get("retry_of_failed_run"),
        )


@dataclass(frozen=True)
class Drift:
    """An applied migration whose file changed since: the checksum in the history and the file's."""

    version: str
    script: str
    recorded_checksum: str = ""
    file_checksum: str = ""

    def to_dict(self) -> dict:
        return {
            "version": self.version,
            "script": self.script,
            "recorded_checksum": self.recorded_checksum,
            "file_checksum": self.file_checksum,
        }

    @classmethod
    def from_dict(cls, entry: object) -> Drift:
        if not isinstance(entry, dict):  # what a foreign result holds there, named as it is
            return cls(version="", script=str(entry))
        return cls(
            version=entry.get("version", ""),
            script=entry.get("script", str(entry)),
            recorded_checksum=entry.get("recorded_checksum", ""),
            file_checksum=entry.get("file_checksum", ""),
        )


@dataclass(frozen=True)
class Missing:
    """An applied version whose file is gone."""

    version: str
    script: str

    def to_dict(self) -> dict:
        return {"version": self.version, "script": self.script}

    @classmethod
    def from_dict(cls, entry: dict) -> Missing:
        return cls(version=entry.get("version", ""), script=entry.get("script", ""))


@dataclass(frozen=True)
class PlannedRepeatable:
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

    @classmethod
    def from_dict(cls, entry: dict) -> PlannedRepeatable:
        return cls(
            script=entry.get("script", ""),
            reason=entry.get("reason", ""),
            checksum=entry.get("checksum", ""),
            description=entry.get("description"),
            transactional=entry.get("transactional"),
        )


@dataclass(frozen=True)
class FailedAttempt:
    """A failed attempt the history records (a script outside a transaction stopped part-way)."""

    version: str
    script: str
    at: object = None
    by: object = None

    def to_dict(self) -> dict:
        return {"version": self.version, "script": self.script, "at": self.at, "by": self.by}

    @classmethod
    def from_dict(cls, entry: dict) -> FailedAttempt:
        return cls(entry.get("version", ""), entry.get("script", ""), entry.get("at"), entry.get("by"))


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
        )


@dataclass(frozen=True)
class PlannedRevert:
    """A revert (U) script to run: the version it takes back, and the script's own checksum."""

    version: str
    script: str
    checksum: str = ""
    transactional: bool = True

    def to_dict(self) -> dict:
        return {
            "version": self.version,
            "script": self.script,
            "checksum": self.checksum,
            "transactional": self.transactional,
        }

    @classmethod
    def from_dict(cls, entry: dict) -> PlannedRevert:
        return cls(
            version=entry.get("version", ""),
            script=entry.get("script", ""),
            checksum=entry.get("checksum", ""),
            transactional=entry.get("transactional", True),
        )


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

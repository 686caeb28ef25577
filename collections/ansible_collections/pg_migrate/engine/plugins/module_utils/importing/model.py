# pg_migrate: what a converter of another tool's migrations hands back (importing/<tool>.py), before any file
# name or file: the migrations with their versions and descriptions as that tool has them, the scripts' SQL,
# and everything it could not carry. importing/plan.py turns it into the engine's files.

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SourceScript:
    text: str
    source: str  # the file it came from, relative to the source directory
    # Why it must run outside a transaction, when the source tool says so (plan.py adds the marker).
    no_transaction: str | None = None
    notes: tuple[str, ...] = ()  # what was changed on the way (a wrapping BEGIN/COMMIT stripped, ...)


@dataclass(frozen=True)
class SourceMigration:
    version: str
    description: str  # as the tool spells it
    deploy: SourceScript
    revert: SourceScript | None = None


@dataclass(frozen=True)
class SourceRepeatable:
    description: str
    script: SourceScript


@dataclass
class Conversion:
    migrations: list[SourceMigration] = field(default_factory=list)
    repeatables: list[SourceRepeatable] = field(default_factory=list)
    not_carried: list[str] = field(default_factory=list)  # "<file>: why, and what to do instead"
    problems: list[str] = field(default_factory=list)  # stop the import before anything is written


# The source directory as a converter sees it: relative POSIX path -> text (None: not UTF-8 text).
SourceFiles = dict[str, "str | None"]

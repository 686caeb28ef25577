# pg_migrate: the look before queueing. Before a statement that locks an existing table (the change set's
# `locks`, changeset/lock_targets.py), the run asks pg_locks which other sessions hold or await a conflicting
# lock on it. A lock request queued behind such a session makes every claim queue behind the migration; so
# when one of them has been in its transaction for pg_migrate_lock_blocker_age or longer, the run does not
# queue: it waits without a lock request, says who blocks (pid, application, state, transaction age, query),
# and goes on once they are gone. A younger one is most likely a claim that ends in milliseconds; the ladder's
# first rung bounds the wait behind it. No session of the application is ever touched.

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ansible_collections.pg_migrate.engine.plugins.module_utils.changeset.lock_targets import MODES
from ansible_collections.pg_migrate.engine.plugins.module_utils.common.messages import clip

QUERY_CHARS = 120

# Which held or awaited modes conflict with a request in each mode (PostgreSQL's table-level lock matrix).
CONFLICTS: dict[str, tuple[str, ...]] = {
    mode: tuple(MODES[index - 1] for index in conflicting)
    for mode, conflicting in zip(
        MODES,
        (
            (8,),
            (7, 8),
            (5, 6, 7, 8),
            (4, 5, 6, 7, 8),
            (3, 4, 6, 7, 8),
            (3, 4, 5, 6, 7, 8),
            (2, 3, 4, 5, 6, 7, 8),
            (1, 2, 3, 4, 5, 6, 7, 8),
        ),
        strict=True,
    )
}

# The modes the application's reads and writes take (SELECT, SELECT FOR UPDATE/SHARE, INSERT/UPDATE/DELETE): a
# request that conflicts with none of them (SHARE UPDATE EXCLUSIVE: CREATE INDEX CONCURRENTLY, VALIDATE
# CONSTRAINT) holds up no claim while it waits in the queue.
APPLICATION_MODES = MODES[:3]


def holds_up_the_application(mode: str) -> bool:
    """Whether a request in MODE, while it waits in the lock queue, makes the application's statements wait."""
    return any(held in CONFLICTS[mode] for held in APPLICATION_MODES)


# Every other session (or prepared transaction: no pid) holding or awaiting a conflicting lock on a target.
# An index name stands for its table (DROP INDEX locks the table). clock_timestamp(), not now(): in a
# transaction now() stands still.
LOOK = """
WITH target AS (
  SELECT t.name, t.mode, COALESCE(i.indrelid, c.oid) AS relid, string_to_array(t.conflicts, ',') AS conflicts
    FROM unnest(%s::text[], %s::text[], %s::text[]) AS t(name, mode, conflicts)
    JOIN pg_class c ON c.oid = to_regclass(t.name)
    LEFT JOIN pg_index i ON i.indexrelid = c.oid
)
SELECT DISTINCT ON (l.pid, p.gid, target.relid)
       l.pid, target.name AS relation, l.mode, l.granted, a.application_name, a.usename, a.state, a.backend_type,
       EXTRACT(EPOCH FROM clock_timestamp() - COALESCE(a.xact_start, p.prepared))::float8 AS xact_s,
       a.query, p.gid, l.virtualtransaction AS vxid
  FROM target
  JOIN pg_locks l ON l.locktype = 'relation' AND l.relation = target.relid AND l.mode = ANY (target.conflicts)
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  LEFT JOIN pg_stat_activity a ON a.pid = l.pid
  LEFT JOIN pg_prepared_xacts p ON l.pid IS NULL AND l.virtualtransaction = '-1/' || p.transaction::text
 WHERE l.pid IS DISTINCT FROM pg_backend_pid()
 ORDER BY l.pid, p.gid, target.relid, l.granted DESC
"""


def first_line(query: str | None) -> str:
    """The first line of a session's query that says something, shortened: enough to find it in the
    application's code, never the whole text."""
    lines = [line.strip() for line in (query or "").splitlines() if line.strip() and not line.strip().startswith("--")]
    return clip(lines[0], QUERY_CHARS, "...") if lines else ""


@dataclass(frozen=True)
class Holder:
    """A session that holds (GRANTED) or awaits a lock in MODE on RELATION conflicting with the statement's.
    PID is None for a prepared transaction (GID)."""

    pid: int | None
    relation: str
    mode: str
    granted: bool
    application: str = ""
    user: str = ""
    state: str = ""
    backend_type: str = ""
    xact_s: float | None = None
    query: str = ""
    gid: str | None = None
    vxid: str = ""  # its transaction, visible to any login role (xact_start is not, without pg_read_all_stats)

    @classmethod
    def of_row(cls, row: dict) -> Holder:
        return cls(
            row["pid"],
            row["relation"],
            row["mode"],
            bool(row["granted"]),
            row["application_name"] or "",
            row["usename"] or "",
            row["state"] or "",
            row["backend_type"] or "",
            None if row["xact_s"] is None else round(float(row["xact_s"]), 3),
            first_line(row["query"]),
            row["gid"],
            row["vxid"] or "",
        )

    def blocks(self, blocker_age_s: float, seen_s: float = 0.0) -> bool:
        """Whether the run should not queue behind it: a prepared transaction (it ends only when somebody
        commits it), or a transaction at least BLOCKER_AGE_S old - by its xact_start, or, where the login role
        may not read that (no pg_read_all_stats), by how long the run has seen it hold the lock (SEEN_S)."""
        if self.pid is None:
            return True
        return max(self.xact_s or 0.0, seen_s) >= blocker_age_s

    def describe(self) -> str:
        """pid 4242 (application 'billing', user 'app', idle in transaction, transaction open 12.3 s) holds
        RowExclusiveLock on "xp_awards": UPDATE xp_awards SET ..."""
        verb = "holds" if self.granted else "awaits"
        if self.pid is None:
            return "the prepared transaction '%s' %s %s on %s (COMMIT PREPARED or ROLLBACK PREPARED ends it)" % (
                self.gid,
                verb,
                self.mode,
                self.relation,
            )
        facts = ["application '%s'" % self.application] if self.application else []
        facts += ["user '%s'" % self.user] if self.user else []
        facts += [self.state or self.backend_type or "state unknown"]
        if self.xact_s is not None:
            facts.append("transaction open %.1f s" % self.xact_s)
        else:
            facts.append("its transaction's age hidden from this login role")
        query = ": %s" % self.query if self.query else ""
        return "pid %d (%s) %s %s on %s%s" % (self.pid, ", ".join(facts), verb, self.mode, self.relation, query)

    def to_dict(self) -> dict:
        found = asdict(self)
        del found["vxid"]  # the server's internal name of the transaction: nothing an operator looks up
        return found


def look(session, targets: list[tuple[str, str]]) -> list[Holder]:
    """The sessions holding or awaiting a lock that conflicts with each (relation, mode) of TARGETS, on SESSION
    (its search_path finds the relations as the script's statements do)."""
    if not targets:
        return []
    rows = session.rows(
        LOOK,
        (
            [relation for relation, _mode in targets],
            [mode for _relation, mode in targets],
            [",".join(CONFLICTS[mode]) for _relation, mode in targets],
        ),
    )
    return [Holder.of_row(row) for row in rows]


def blockers_line(holders: list[Holder]) -> str:
    """HOLDERS in one sentence, for progress lines and messages."""
    return "; ".join(holder.describe() for holder in holders)


class LockBusy(Exception):
    """The look found a blocker before the statement WHERE (script, number, line, text) of a transaction: the
    unit is rolled back and retried once TARGETS are free, its lock never requested behind the blocker."""

    def __init__(self, where: tuple, targets: list[tuple[str, str]]) -> None:
        super().__init__("%s: waits for %s" % (where[0], targets))
        self.where = where
        self.targets = targets


def waited_for_locks(waited_s: float, blockers: list[Holder]) -> str:
    """The error of a unit whose wait without queueing ran out (pg_migrate_lock_wait_limit)."""
    return "waited %.1f s for its table locks without queueing behind the session(s) that block it: %s" % (
        waited_s,
        blockers_line(blockers),
    )


@dataclass
class LockWaits:
    """What one unit's locks cost it: ATTEMPTS (lock requests queued, the one that won included), WAITED_S (time
    lost to locks: looking without queueing, queued attempts that lost, the sleeps between), and the blockers
    the look saw, the latest of each."""

    budget_s: float = 0.0
    started: float = 0.0
    attempts: int = 0
    waited_s: float = 0.0
    blockers: dict[str, Holder] = field(default_factory=dict)
    first_seen: dict[str, float] = field(default_factory=dict)  # vxid -> when a look first saw it in conflict

    def seen_for(self, holder: Holder, now: float) -> float:
        """How long the looks of this unit have seen HOLDER's transaction in conflict (0 at the first look)."""
        return now - self.first_seen.setdefault(holder.vxid, now) if holder.vxid else 0.0

    def saw(self, holders: list[Holder]) -> None:
        for holder in holders:
            self.blockers["%s %s" % (holder.pid or holder.gid, holder.relation)] = holder

    @property
    def deadline(self) -> float:
        return self.started + self.budget_s

    @property
    def wait_ms(self) -> float:
        return round(self.waited_s * 1000, 1)

    def blocked_by(self) -> tuple[dict, ...]:
        return tuple(holder.to_dict() for holder in self.blockers.values())

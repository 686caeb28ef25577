# pg_migrate: verification, the live catalog held against what the change set says it is.
#
# The module reads the catalog (queries.CATALOG_SQL) and runs the probes and verify
# scripts; these functions turn both into checks of the verification report (docs/reports.md,
# docs/schemas/verify-report.schema.json) and into the lines an operator reads.

from __future__ import annotations

CONSTRAINT_KINDS = {
    "p": "primary key",
    "f": "foreign key",
    "u": "unique constraint",
    "c": "check constraint",
    "x": "exclusion constraint",
}
COLUMN_PROPERTIES = ("type", "nullable", "default", "identity")
CATALOG_KINDS = ("extensions", "tables", "columns", "constraints", "indexes", "triggers")
# A check's "kind" in the verification report (docs/schemas/verify-report.schema.json lists them):
# singular nouns, spelled out because "indexes" does not lose its plural by dropping an "s".
CHECK_KINDS = {
    "extensions": "extension",
    "tables": "table",
    "columns": "column",
    "constraints": "constraint",
    "indexes": "index",
    "triggers": "trigger",
    "comment": "comment",
}


def _label(kind: str, item: dict) -> str:
    if kind == "constraints":
        return CONSTRAINT_KINDS.get(item.get("kind"), "constraint")
    return CHECK_KINDS[kind]


def _where(kind: str, item: dict) -> str:
    """How a message names the object: 'exclusion constraint x on t', 'extension btree_gist'."""
    text = "%s %s" % (_label(kind, item), item["name"])
    return text + (" on %s" % item["table"] if item.get("table") else "")


def _check(check_id: str, kind: str, item: dict, status: str, message: str, expected=None, found=None) -> dict:
    return {
        "id": check_id,
        "kind": CHECK_KINDS[kind],
        "object": item["name"],
        "table": item.get("table"),
        "status": status,
        "message": message,
        "expected": expected,
        "found": found,
    }


def _describe(kind: str, item: dict) -> str:
    if kind == "columns":
        return ", ".join("%s=%s" % (name, item.get(name)) for name in COLUMN_PROPERTIES)
    if kind in ("constraints", "indexes", "triggers"):
        text = item.get("definition", "")
        if kind == "constraints" and not item.get("validated", True):
            text += " (not validated)"
        if kind == "indexes" and not item.get("valid", True):
            text += " (INVALID)"
        return text
    return item["name"]


def _object_check(kind: str, key: tuple, item: dict, found: dict | None) -> dict:
    """The check of one expected object against what the catalog holds under its name (FOUND)."""
    check_id = "%s %s" % (_label(kind, item), ".".join(part for part in key if part))
    if found is None:
        return _check(check_id, kind, item, "fail", "missing: %s" % _where(kind, item), _describe(kind, item), None)
    want, have = _describe(kind, item), _describe(kind, found)
    # Extensions and tables are checked by name alone: their columns and constraints have checks of their own.
    if kind in ("columns", "constraints", "indexes", "triggers") and want != have:
        message = "changed: %s: expected %s, found %s" % (_where(kind, item), want, have)
        return _check(check_id, kind, item, "fail", message, want, have)
    return _check(check_id, kind, item, "pass", "ok: %s" % _where(kind, item), want, have)


def _comment_check(kind: str, item: dict, found: dict | None) -> dict:
    """The check of the comment the change set gives a table or column."""
    subject = ("table %s" % item["name"]) if kind == "tables" else ("column %s.%s" % (item["table"], item["name"]))
    have = (found or {}).get("comment")
    status, message = "pass", "ok: comment on %s" % subject
    if have is None:
        status, message = "fail", "missing: comment on %s" % subject
    elif have != item["comment"]:
        status, message = "fail", "changed: comment on %s: expected %r, found %r" % (subject, item["comment"], have)
    return _check("comment on %s" % subject, "comment", item, status, message, item["comment"], have)


def verify_catalog(expected: dict, catalog: dict, ignore_tables: list | None = None) -> list[dict]:
    """Compare the expectations in force with the live catalog: one check per expected object (and
    per expected comment), failing with a message that names the object; extras are warnings."""
    ignore = set(ignore_tables or [])
    checks: list[dict] = []
    for kind in CATALOG_KINDS:
        actual = {
            (item.get("table", ""), item["name"]): item
            for item in catalog.get(kind, [])
            if item.get("table") not in ignore and item.get("name") not in ignore
        }
        wanted = {(item.get("table", ""), item["name"]): item for item in expected.get(kind, [])}
        checks.extend(_object_check(kind, key, item, actual.get(key)) for key, item in wanted.items())
        if kind in ("tables", "columns"):
            checks.extend(
                _comment_check(kind, item, actual.get(key))
                for key, item in wanted.items()
                if item.get("comment") is not None
            )
        for key, item in actual.items():
            if key not in wanted:
                checks.append(
                    _check(
                        "%s %s" % (_label(kind, item), ".".join(part for part in key if part)),
                        kind,
                        item,
                        "warn",
                        "extra: %s (not in the change set at this version)" % _where(kind, item),
                        None,
                        _describe(kind, item),
                    )
                )
    return checks


def probe_checks(results: list[dict]) -> list[dict]:
    """The pg_migrate module's probe and verify-script results as checks."""
    return [
        {
            "id": result["id"],
            "kind": result["kind"],
            "object": result.get("object"),
            "table": result.get("table"),
            "status": "pass" if result["passed"] else "fail",
            "message": result["message"],
            "expected": result.get("expected"),
            "found": result.get("found"),
        }
        for result in results
    ]


def verification_summary(
    checks: list[dict], host: str, database: str, version: str, reports: list[str] | None = None
) -> list[str]:
    """Counts, then every failure and warning on its own line."""
    failed = [c for c in checks if c["status"] == "fail"]
    warned = [c for c in checks if c["status"] == "warn"]
    lines = [
        "%s %s: verification at version %s: %d passed, %d failed, %d warning(s)"
        % (host, database, version, len(checks) - len(failed) - len(warned), len(failed), len(warned))
    ]
    lines.extend("  FAIL %s" % c["message"] for c in failed)
    lines.extend("  warn %s" % c["message"] for c in warned)
    for path in reports or []:
        lines.append("  report: %s" % path)
    return lines

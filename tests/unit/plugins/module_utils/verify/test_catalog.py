"""Verification: the live catalog held against the expected schema, as checks."""

from __future__ import annotations

from ansible_collections.pg_migrate.engine.plugins.module_utils.verify import catalog as verification

EXPECTED = {
    "extensions": [{"name": "btree_gist"}],
    "tables": [{"name": "t", "comment": "a table"}],
    "columns": [
        {
            "table": "t",
            "name": "id",
            "type": "bigint",
            "nullable": False,
            "default": None,
            "identity": "a",
            "comment": None,
        }
    ],
    "constraints": [
        {"table": "t", "name": "t_no_overlap", "kind": "x", "definition": "EXCLUDE USING gist (...)", "validated": True}
    ],
    "indexes": [
        {"table": "t", "name": "t_idx", "definition": "CREATE UNIQUE INDEX t_idx ON t (a) WHERE b", "valid": True}
    ],
    "triggers": [],
}


def _catalog(**changes) -> dict:
    catalog = {kind: [dict(item) for item in items] for kind, items in EXPECTED.items()}
    catalog.update(changes)
    return catalog


def test_identical_catalog_passes_every_check_including_the_comment():
    checks = verification.verify_catalog(EXPECTED, _catalog())
    assert {c["status"] for c in checks} == {"pass"}
    assert "comment on table t" in {c["id"] for c in checks}
    assert len(checks) == 6


def test_missing_and_changed_objects_are_named():
    catalog = _catalog(
        constraints=[],
        indexes=[{"table": "t", "name": "t_idx", "definition": "CREATE UNIQUE INDEX t_idx ON t (a)", "valid": True}],
        extensions=[],
    )
    catalog["tables"][0]["comment"] = None
    failed = {c["id"]: c["message"] for c in verification.verify_catalog(EXPECTED, catalog) if c["status"] == "fail"}
    assert failed == {
        "extension btree_gist": "missing: extension btree_gist",
        "exclusion constraint t.t_no_overlap": "missing: exclusion constraint t_no_overlap on t",
        "index t.t_idx": "changed: index t_idx on t: expected CREATE UNIQUE INDEX t_idx ON t (a) WHERE b, "
        "found CREATE UNIQUE INDEX t_idx ON t (a)",
        "comment on table t": "missing: comment on table t",
    }


def test_unvalidated_constraint_and_invalid_index_differ_from_the_expectation():
    catalog = _catalog()
    catalog["constraints"][0]["validated"] = False
    catalog["indexes"][0]["valid"] = False
    failed = [c["message"] for c in verification.verify_catalog(EXPECTED, catalog) if c["status"] == "fail"]
    assert any(m.endswith("(not validated)") for m in failed) and any(m.endswith("(INVALID)") for m in failed)


def test_extra_objects_are_warnings_and_ignored_tables_are_skipped():
    catalog = _catalog(
        tables=[
            *EXPECTED["tables"],
            {"name": "pg_migrate_history", "comment": None},
            {"name": "other", "comment": None},
        ]
    )
    warned = [
        c["message"]
        for c in verification.verify_catalog(EXPECTED, catalog, ["pg_migrate_history"])
        if c["status"] == "warn"
    ]
    assert warned == ["extra: table other (not in the change set at this version)"]


def test_index_checks_are_of_kind_index():
    kinds = {c["id"]: c["kind"] for c in verification.verify_catalog(EXPECTED, _catalog())}
    assert kinds["index t.t_idx"] == "index" and kinds["exclusion constraint t.t_no_overlap"] == "constraint"

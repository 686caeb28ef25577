"""run/connection.py below the database: how the run's own settings are written into its one-round-trip reset."""

from __future__ import annotations

import pytest

from ansible_collections.pg_migrate.engine.plugins.module_utils.run.connection import literal


def test_a_setting_is_written_as_a_quoted_literal():
    assert literal("2s") == "'2s'"
    assert literal(0) == "'0'"
    assert literal("it's") == "'it''s'"


def test_a_backslash_is_refused_rather_than_escaped():
    with pytest.raises(ValueError, match="backslash"):
        literal("1s\\")

"""The disposable server helper itself: where it keeps its files when run as root."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest

import localpg


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to another user")
def test_as_root_a_closed_directory_moves_the_server_files_to_var_tmp():
    closed = Path(tempfile.mkdtemp(prefix="pg_migrate-closed-"))  # mode 0700, owned by root: like /root
    base = closed / "pg"
    try:
        conn = localpg.start(base)
        home = Path(localpg.read_state(base)["home"])
        assert home != base and str(home).startswith("/var/tmp/pg_migrate-localpg-")
        with psycopg.connect(conn.conninfo()) as c:
            assert c.execute("SELECT 1").fetchone() == (1,)
        assert localpg.start(base).port == conn.port  # a second start finds it running
        localpg.destroy(base)
        assert not home.exists() and not base.exists()
    finally:
        localpg.destroy(base)
        shutil.rmtree(closed, ignore_errors=True)


def test_env_prints_exports_for_psql_without_the_password_on_a_command_line(pg_server, capsys):
    base = Path(tempfile.mkdtemp(prefix="pg_migrate-env-"))
    try:
        localpg.start(base)
        assert localpg.main(["env", str(base)]) == 0
        out = capsys.readouterr().out
        assert "export PGPORT=" in out and "export PGPASSWORD=" in out and "export PATH=" in out
        assert localpg.main(["start", str(base)]) == 0
        shown = capsys.readouterr().out
        assert localpg.connection(base).password not in shown
    finally:
        localpg.stop(base)
        shutil.rmtree(base, ignore_errors=True)

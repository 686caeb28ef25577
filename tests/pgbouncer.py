"""A disposable PgBouncer in front of the test server, to test how runs behave behind a connection pooler.

It listens on a free loopback port (no unix socket, so nothing lands at a fixed /tmp name), keeps its
ini, auth file, log and pid file in a temp directory of its own, and is stopped and removed on exit.
PgBouncer refuses to run as root, so as root it runs as the unprivileged `postgres` user, the same
way tools/localpg.py runs the server.  A `*` fallback entry routes every database of the test server
through it, so the per-test databases need no configuration.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import localpg  # tools/ is put on sys.path by tests/conftest.py

SBIN_DIRS = "/usr/sbin:/usr/local/sbin:/sbin"  # Debian installs pgbouncer in /usr/sbin, often not on PATH
START_TIMEOUT = 15.0


@dataclass(frozen=True)
class Bouncer:
    """How to reach the test server through PgBouncer: the server's credentials, PgBouncer's address."""

    server: localpg.Connection
    port: int
    pool_mode: str
    log: Path
    host: str = "127.0.0.1"

    def libpq_env(self, dbname: str | None = None) -> dict[str, str]:
        """PG* variables for clients (and inventories/local) that should go through PgBouncer."""
        return {**self.server.libpq_env(dbname), "PGHOST": self.host, "PGPORT": str(self.port)}

    def conninfo(self, dbname: str | None = None) -> str:
        return self.server.conninfo(dbname).replace(
            f"host={self.server.host} port={self.server.port}", f"host={self.host} port={self.port}"
        )


def find_pgbouncer() -> str | None:
    """The pgbouncer binary: on PATH, or in the sbin directories a non-root PATH usually lacks."""
    return shutil.which("pgbouncer") or shutil.which("pgbouncer", path=SBIN_DIRS)


def _ini(
    directory: Path,
    server: localpg.Connection,
    port: int,
    pool_mode: str,
    databases: dict[str, str],
    settings: dict[str, str],
) -> str:
    values = {
        "listen_addr": "127.0.0.1",
        "listen_port": str(port),
        "unix_socket_dir": "",  # no socket file at a fixed name in /tmp
        "auth_type": "scram-sha-256",  # as the test server authenticates TCP clients
        "auth_file": str(directory / "userlist.txt"),
        "logfile": str(directory / "pgbouncer.log"),
        "pidfile": str(directory / "pgbouncer.pid"),
        "pool_mode": pool_mode,
        "ignore_startup_parameters": "extra_float_digits,options",
        **settings,
    }
    entries = [f"{alias} = host={server.host} port={server.port} {options}" for alias, options in databases.items()]
    lines = ["[databases]", *entries, f"* = host={server.host} port={server.port}", "", "[pgbouncer]"]
    lines += [f"{key} = {value}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def _wait_until_listening(process: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    text = log.read_text() if log.exists() else "(no log)"
    raise RuntimeError(f"pgbouncer did not start listening on port {port}:\n{text[-3000:]}")


def _stop(process: subprocess.Popen, pidfile: Path) -> None:
    """SIGTERM to pgbouncer itself, then wait for the wrapper (runuser) to end with it.

    Signalling runuser instead would cost two seconds: it passes SIGTERM on, then waits before a SIGKILL."""
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
        os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
    for signal_to_wrapper in (None, signal.SIGTERM, signal.SIGKILL):
        if signal_to_wrapper is not None:
            process.send_signal(signal_to_wrapper)
        try:
            process.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def pgbouncer(
    server: localpg.Connection,
    pool_mode: str = "transaction",
    databases: dict[str, str] | None = None,
    **settings: str,
) -> Iterator[Bouncer]:
    """A PgBouncer in POOL_MODE (session, transaction, statement) in front of SERVER.

    DATABASES: extra [databases] entries, alias -> options (e.g. "dbname=xp pool_mode=session"), in front
    of the `*` fallback; SETTINGS: extra [pgbouncer] settings (e.g. server_round_robin="1")."""
    binary = find_pgbouncer()
    if binary is None:
        raise RuntimeError("pgbouncer is not installed (Debian/Ubuntu: apt-get install pgbouncer)")
    # Not under pytest's tmp_path: as root that is mode 0700, and pgbouncer runs as `postgres`.
    directory = Path(tempfile.mkdtemp(prefix="pg_migrate-pgbouncer-"))
    process = None
    try:
        port = localpg.free_port()
        (directory / "pgbouncer.ini").write_text(_ini(directory, server, port, pool_mode, databases or {}, settings))
        auth = directory / "userlist.txt"
        auth.write_text(f'"{server.user}" "{server.password}"\n')  # plain text: PgBouncer logs in to the server
        auth.chmod(0o600)
        localpg._hand_to_server_user(directory)
        log = directory / "pgbouncer.log"
        process = subprocess.Popen(
            localpg._as_server_user([binary, "-q", str(directory / "pgbouncer.ini")]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_until_listening(process, port, log)
        yield Bouncer(server=server, port=port, pool_mode=pool_mode, log=log)
    finally:
        if process is not None:
            _stop(process, directory / "pgbouncer.pid")
        shutil.rmtree(directory, ignore_errors=True)

#!/usr/bin/env python3
"""A disposable, local PostgreSQL server: initdb + pg_ctl on a free port in a directory of its own.

Used by the test suite (tests/conftest.py) and by the quick start.  It needs the PostgreSQL server
binaries; on Debian/Ubuntu, when they are missing and we are root, it installs the distribution's
`postgresql` package.  `initdb` refuses to run as root, so as root the cluster is created and run as
the unprivileged `postgres` user that the Debian package creates.

Command line:
    python3 tools/localpg.py start DIR [--port N]   # prints the connection settings as JSON
    python3 tools/localpg.py stop DIR
    python3 tools/localpg.py status DIR
    python3 tools/localpg.py env DIR              # shell exports for psql (PGHOST, PGPORT, ...)
    python3 tools/localpg.py destroy DIR          # stop it and delete its data
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pwd
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

SERVER_USER = "postgres"  # the unprivileged account Debian's packages create
SUPERUSER = "postgres"  # the database superuser initdb creates
STATE_FILE = "localpg.json"
PASSWORD_FILE = "superuser.password"


class LocalPgError(RuntimeError):
    """A problem starting or stopping the local server, with what to do about it."""


@dataclass(frozen=True)
class Connection:
    host: str
    port: int
    user: str
    password: str
    dbname: str = "postgres"
    bindir: str = ""  # the server's client programs (psql, pg_dump) match its major version

    def program(self, name: str) -> str:
        candidate = Path(self.bindir) / name
        return str(candidate) if self.bindir and candidate.exists() else name

    def conninfo(self, dbname: str | None = None) -> str:
        return (
            f"host={self.host} port={self.port} user={self.user} "
            f"password={self.password} dbname={dbname or self.dbname}"
        )

    def libpq_env(self, dbname: str | None = None) -> dict[str, str]:
        """Environment for psql/pg_dump, so the password never appears on a command line."""
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
            "PGDATABASE": dbname or self.dbname,
        }


def _has_server(bindir: Path) -> bool:
    return (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file()


def _major(bindir: Path) -> float:
    try:
        return float(bindir.parent.name)
    except ValueError:
        return 0.0


def find_bindir() -> Path | None:
    """Where initdb and pg_ctl live: $PG_BINDIR, then the newest /usr/lib/postgresql/*/bin, then PATH."""
    explicit = os.environ.get("PG_BINDIR")
    if explicit:
        return Path(explicit) if _has_server(Path(explicit)) else None
    candidates = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if _has_server(p)]
    if candidates:
        return max(candidates, key=_major)
    initdb = shutil.which("initdb")
    if initdb and _has_server(Path(initdb).resolve().parent):
        return Path(initdb).resolve().parent
    return None


def ensure_bindir() -> Path:
    """Find the server binaries, installing Debian's `postgresql` when they are missing and we may."""
    bindir = find_bindir()
    if bindir:
        return bindir
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"],
            check=True,
            env=env,
        )
        bindir = find_bindir()
        if bindir:
            return bindir
    raise LocalPgError(
        "No PostgreSQL server binaries (initdb, pg_ctl) found. Install them "
        "(Debian/Ubuntu: `sudo apt-get install postgresql`) or point PG_BINDIR at their directory."
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_server_user(cmd: list[str]) -> list[str]:
    """initdb/postgres refuse to run as root: run them as the unprivileged server user instead."""
    if os.geteuid() != 0:
        return cmd
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError as exc:
        raise LocalPgError(
            f"Running as root, but there is no '{SERVER_USER}' user to run PostgreSQL as. "
            "Install Debian's `postgresql` package (it creates that user) or run as a normal user."
        ) from exc
    return ["runuser", "-u", SERVER_USER, "--", *cmd]


def _hand_to_server_user(path: Path) -> None:
    """As root, give PATH (recursively) to the server user."""
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(SERVER_USER)
    for item in [path, *path.rglob("*")]:
        os.chown(item, entry.pw_uid, entry.pw_gid)


def _server_user_can_write(path: Path) -> bool:
    if os.geteuid() != 0:
        return True
    return subprocess.run(["runuser", "-u", SERVER_USER, "--", "test", "-w", str(path)], check=False).returncode == 0


def choose_home(base: Path) -> Path:
    """Where the server's own files live: BASE itself, unless the server user cannot reach it.

    As root, BASE may sit below a directory closed to other users (/root is mode 0700); the
    server then keeps its files in /var/tmp, and BASE keeps only the state file that points there.
    """
    base.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return base
    _hand_to_server_user(base)
    if _server_user_can_write(base):
        return base
    digest = hashlib.sha1(str(base).encode()).hexdigest()[:10]
    home = Path("/var/tmp") / f"pg_migrate-localpg-{digest}"
    home.mkdir(mode=0o700, exist_ok=True)
    _hand_to_server_user(home)
    return home


def _run(cmd: list[str], what: str) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LocalPgError(f"{what} failed (exit {result.returncode}):\n{result.stderr.strip()}")


def _state_path(base: Path) -> Path:
    return base / STATE_FILE


def read_state(base: Path) -> dict | None:
    path = _state_path(base)
    return json.loads(path.read_text()) if path.exists() else None


def _home(base: Path) -> Path:
    state = read_state(base) or {}
    return Path(state.get("home") or base)


def is_running(base: Path) -> bool:
    state = read_state(base)
    if not state:
        return False
    pg_ctl = Path(state["bindir"]) / "pg_ctl"
    result = subprocess.run(
        _as_server_user([str(pg_ctl), "status", "-D", str(_home(base) / "data")]), capture_output=True, check=False
    )
    return result.returncode == 0


def connection(base: Path) -> Connection:
    state = read_state(base)
    if not state:
        raise LocalPgError(f"No local server was set up in {base}: run `localpg.py start {base}`.")
    password = (_home(base) / PASSWORD_FILE).read_text().strip()
    return Connection(host="127.0.0.1", port=state["port"], user=SUPERUSER, password=password, bindir=state["bindir"])


def start(base: Path, port: int | None = None) -> Connection:
    """Create (first time) and start the cluster under BASE; return how to connect to it."""
    base = base.resolve()
    if is_running(base):
        return connection(base)
    bindir = ensure_bindir()
    state = read_state(base) or {}
    home = Path(state["home"]) if state.get("home") else choose_home(base)
    if not (home / "data" / "PG_VERSION").exists():
        password_file = home / PASSWORD_FILE
        password_file.write_text(secrets.token_urlsafe(24) + "\n")
        password_file.chmod(0o600)
        (home / "run").mkdir(exist_ok=True)
        _hand_to_server_user(home)
        _run(
            _as_server_user(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(home / "data"),
                    "-U",
                    SUPERUSER,
                    "--pwfile",
                    str(password_file),
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ]
            ),
            "initdb",
        )
    return _start_server(base, home, bindir, port or state.get("port") or free_port())


def _start_server(base: Path, home: Path, bindir: Path, port: int) -> Connection:
    _state_path(base).write_text(json.dumps({"bindir": str(bindir), "port": port, "home": str(home)}))
    # A disposable server: durability settings are traded for speed on purpose.
    options = (
        f"-c port={port} -c listen_addresses=127.0.0.1 "
        f"-c unix_socket_directories={home / 'run'} -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
    )
    _run(
        _as_server_user(
            [
                str(bindir / "pg_ctl"),
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                str(home / "data"),
                "-l",
                str(home / "server.log"),
                "-o",
                options,
            ]
        ),
        f"pg_ctl start (log: {home / 'server.log'})",
    )
    return connection(base)


def start_standby(primary: Connection, base: Path) -> Connection:
    """A hot standby of PRIMARY under BASE (pg_basebackup -R), for tests of standby handling."""
    base = base.resolve()
    bindir = Path(primary.bindir)
    home = choose_home(base)
    (home / "run").mkdir(exist_ok=True)
    (home / PASSWORD_FILE).write_text(primary.password + "\n")
    (home / PASSWORD_FILE).chmod(0o600)
    _hand_to_server_user(home)
    env = {**os.environ, "PGPASSWORD": primary.password}  # inherited through runuser, never on a command line
    result = subprocess.run(
        _as_server_user(
            [
                str(bindir / "pg_basebackup"),
                "-D",
                str(base / "data"),
                "-R",
                "-X",
                "stream",
                "--checkpoint=fast",
                "-h",
                primary.host,
                "-p",
                str(primary.port),
                "-U",
                primary.user,
            ]
        ),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        raise LocalPgError(f"pg_basebackup failed (exit {result.returncode}):\n{result.stderr.strip()}")
    return _start_server(base, home, bindir, free_port())


def stop(base: Path) -> None:
    base = base.resolve()
    state = read_state(base)
    if state and is_running(base):
        _run(
            _as_server_user(
                [str(Path(state["bindir"]) / "pg_ctl"), "stop", "-m", "fast", "-w", "-D", str(_home(base) / "data")]
            ),
            "pg_ctl stop",
        )


def _client_path(base: Path) -> dict[str, str]:
    state = read_state(base.resolve()) or {}
    return {"PATH": f"{state.get('bindir', '')}:{os.environ.get('PATH', '')}"}


def destroy(base: Path) -> None:
    """Stop the server and delete everything it had: its data (wherever it lives) and BASE."""
    base = base.resolve()
    home = _home(base)
    stop(base)
    for path in {home, base}:
        shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["start", "stop", "status", "env", "destroy"])
    parser.add_argument("dir", type=Path, help="directory that holds the cluster")
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        if args.action == "start":
            conn = start(args.dir, args.port)
            shown = asdict(conn)
            shown["password"] = f"(in {_home(args.dir.resolve()) / PASSWORD_FILE})"  # never printed
            print(json.dumps(shown))
        elif args.action == "stop":
            stop(args.dir)
        elif args.action == "destroy":
            destroy(args.dir)
        elif args.action == "env":
            # For `eval` in a shell; the password goes to PGPASSFILE-less env of that shell only.
            for key, value in {**connection(args.dir.resolve()).libpq_env(), **_client_path(args.dir)}.items():
                print(f"export {key}={shlex.quote(value)}")
        else:
            running = is_running(args.dir)
            print("running" if running else "stopped")
            return 0 if running else 3
    except LocalPgError as exc:
        print(f"localpg: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

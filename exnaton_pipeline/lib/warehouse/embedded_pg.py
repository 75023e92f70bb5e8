"""The embedded PostgreSQL used when no warehouse URL is configured.

pgserver runs a real PostgreSQL 16 listening on a unix socket inside its data folder. The
first process that asks starts it; every later process (webserver, daemon, run workers,
dashboard, CLI) finds the running postmaster and shares it.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psycopg2
from psycopg2 import sql


def start(datadir: Path) -> Path:
    """Start (or reuse) the embedded server in `datadir`; return its socket folder."""
    import pgserver  # heavy import, only needed when the embedded server is used

    datadir.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process so other processes can share it.
    server = pgserver.get_server(datadir, cleanup_mode=None)
    return Path(server.pgdata)


def _postmaster_pid(datadir: Path) -> int | None:
    try:
        pid = int((datadir / "postmaster.pid").read_text().split()[0])
        os.kill(pid, 0)  # alive?
    except (FileNotFoundError, ValueError, IndexError, ProcessLookupError):
        return None
    return pid


def is_running(datadir: Path) -> bool:
    """Whether a server runs on `datadir` (its postmaster.pid names a live process)."""
    return _postmaster_pid(datadir) is not None


def stop(datadir: Path, timeout: float = 30.0) -> bool:
    """Stop the server on `datadir` with a fast shutdown; False if none was running.

    SIGINT is PostgreSQL's fast shutdown: open transactions are rolled back, data is safe.
    """
    pid = _postmaster_pid(datadir)
    if pid is None:
        return False
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + timeout
    while _postmaster_pid(datadir) is not None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the embedded PostgreSQL in {datadir} did not stop in {timeout} s")
        time.sleep(0.1)
    return True


def url(socket_dir: Path, database: str = "postgres") -> str:
    """SQLAlchemy URL (psycopg2 driver) of a database on the embedded server."""
    return f"postgresql+psycopg2://postgres:@/{database}?host={socket_dir}"


def ensure_database(socket_dir: Path, database: str) -> None:
    """Create `database` on the embedded server if it does not exist yet."""
    conn = psycopg2.connect(dbname="postgres", user="postgres", host=str(socket_dir))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    finally:
        conn.close()

"""The embedded PostgreSQL used when no warehouse URL is configured.

pgserver runs a real PostgreSQL 16 listening on a unix socket inside its data folder. The
first process that asks starts it; every later process (webserver, daemon, run workers,
dashboard, CLI) finds the running postmaster and shares it.
"""

from __future__ import annotations

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

"""Reaching the warehouse: its effective URL (configured, else the embedded server), one pooled
engine per URL, and psycopg2 transactions on it."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg2
import psycopg2.extensions
import sqlalchemy as sa

from exnaton_pipeline.lib import settings
from exnaton_pipeline.lib.warehouse import embedded_pg

if TYPE_CHECKING:
    from exnaton_pipeline.lib.tenants import Tenant

WAREHOUSE_DB = "exnaton"
DAGSTER_DB = "dagster"


def embedded_datadir() -> Path:
    """Data folder of the embedded server: `$EXNATON_HOME/pg`."""
    return settings.exnaton_home() / "pg"


def serves_embedded(host: str | None) -> bool:
    """Whether a libpq `host` is the embedded server of this EXNATON_HOME (its socket folder
    `$EXNATON_HOME/pg`), however the URL reached the process: `make demo` exports the embedded
    URL as EXNATON_DATABASE_URL to its children, so that variable being set proves nothing."""
    if not host or not host.startswith("/"):  # a network host is never the embedded server
        return False
    return Path(host).resolve() == embedded_datadir().resolve()


def url_host(url: str) -> str | None:
    """The libpq host of a SQLAlchemy URL: its `?host=` (a unix socket folder) or network host."""
    parsed = sa.make_url(url)
    socket_dir = parsed.query.get("host")
    return socket_dir if isinstance(socket_dir, str) else parsed.host


def _embedded(database: str) -> str:
    socket_dir = embedded_pg.start(embedded_datadir())
    embedded_pg.ensure_database(socket_dir, database)
    return embedded_pg.url(socket_dir, database)


def warehouse_url() -> str:
    """EXNATON_DATABASE_URL, else the `exnaton` database of the embedded server (started now)."""
    return settings.configured_database_url() or _embedded(WAREHOUSE_DB)


class WarehouseNotConfigured(RuntimeError):
    """A tenant lives on a warehouse of its own whose URL variable is not set here."""


def tenant_warehouse_url(tenant: Tenant, shared: str | None = None) -> str:
    """The warehouse holding `tenant`'s schema: the URL in its registry variable
    `warehouse_env`, else the shared warehouse (`shared` when given, else `warehouse_url()`).

    Tenants are the shard key: every connection to a tenant's tables, checks, catalog
    metadata and reader role goes through here. Raises WarehouseNotConfigured when the
    tenant's variable is unset: falling back to the shared warehouse would quietly give the
    tenant an empty schema there and split its data over two servers.
    """
    if tenant.warehouse_env is None:
        return shared or warehouse_url()
    url = settings.tenant_warehouse_url(tenant.warehouse_env)
    if url is None:
        raise WarehouseNotConfigured(
            f"tenant {tenant.id!r} lives on its own warehouse, whose URL the registry says is "
            f"in {tenant.warehouse_env}, but {tenant.warehouse_env} is not set in this "
            "process's environment: set it (a secret, like EXNATON_DATABASE_URL)"
        )
    return url


def describe_warehouse() -> str:
    """Where `warehouse_url()` points, password hidden, without starting anything."""
    configured = settings.configured_database_url()
    if configured:
        return sa.make_url(configured).render_as_string(hide_password=True)
    return f"embedded PostgreSQL in {embedded_datadir()}, database {WAREHOUSE_DB}"


def dagster_storage_url() -> str:
    """DAGSTER_PG_URL, else the warehouse server when one is configured, else embedded `dagster`."""
    return (
        settings.configured_dagster_storage_url()
        or settings.configured_database_url()
        or _embedded(DAGSTER_DB)
    )


Connection = psycopg2.extensions.connection

# SQLSTATE classes and codes that heal when the work is tried again: a lost or refused
# connection (08), a serialization failure or deadlock (40), too many connections (53300), the
# server shutting down or starting up (57P01-57P03).
_TRANSIENT_SQLSTATES = ("08", "40", "53300", "57P01", "57P02", "57P03")
# What an operator must fix, by what the server says when it refuses the connection (libpq
# reports these before a session exists, so without a SQLSTATE).
_CONNECTION_FIXES = {
    "password authentication failed": "the password is wrong: check the warehouse URL "
    "(EXNATON_DATABASE_URL)",
    "no password supplied": "the server wants a password: put it in EXNATON_DATABASE_URL",
    "does not exist": "check the database and user names in the warehouse URL "
    "(EXNATON_DATABASE_URL); `exnaton db-url` prints the effective one",
    "no pg_hba.conf entry": "the server does not let this host or user in: fix its "
    "pg_hba.conf or the user in EXNATON_DATABASE_URL",
    "permission denied for database": "grant the user CONNECT on the database",
}


def connection_fix(exc: BaseException) -> str | None:
    """What to fix when the server refused the connection for good (bad password, unknown
    database or user); None for any other error."""
    error = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    if not isinstance(error, psycopg2.OperationalError) or error.pgcode:
        return None
    text = str(error)
    return next((fix for clue, fix in _CONNECTION_FIXES.items() if clue in text), None)


def is_transient_error(exc: BaseException) -> bool:
    """Whether trying the transaction again may succeed: a serialization failure, a deadlock,
    a lost, refused or timed-out connection, a server restarting. Refused credentials, bugs
    in SQL and bad data are not."""
    error = getattr(exc, "orig", None) or exc
    if not isinstance(error, psycopg2.Error):
        return False
    if error.pgcode:
        return error.pgcode.startswith(_TRANSIENT_SQLSTATES)
    # no SQLSTATE: libpq failed to connect or lost the connection
    return isinstance(error, psycopg2.OperationalError) and connection_fix(error) is None


CONNECT_TIMEOUT_SECONDS = 10


@functools.cache
def engine(url: str) -> sa.Engine:
    """One pooled engine per URL per process.

    An unreachable server fails after CONNECT_TIMEOUT_SECONDS instead of the operating
    system's TCP timeout (minutes), unless the URL sets its own `connect_timeout`.
    """
    connect_args = {}
    if "connect_timeout" not in sa.make_url(url).query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    return sa.create_engine(
        url, pool_pre_ping=True, pool_size=4, max_overflow=4, connect_args=connect_args
    )


@contextmanager
def transaction(url: str) -> Iterator[Connection]:
    """A raw psycopg2 connection in one transaction: committed on success, else rolled back.

    A connection lost in the middle (the server restarted, the backend was terminated) raises
    the driver's own error, which says so and is transient; rolling back on the dead connection
    would replace it with "connection already closed", which is not. The dead connection is
    dropped from the pool.
    """
    raw = engine(url).raw_connection()
    conn = raw.driver_connection
    try:
        yield conn
        conn.commit()
    except BaseException:
        if not conn.closed:
            conn.rollback()
        raise
    finally:
        if conn.closed:
            raw.invalidate()
        else:
            raw.close()


def autocommit_connection(url: str) -> Connection:
    """A plain psycopg2 connection to `url` outside the pool, in autocommit mode: for
    statements that may not run in a transaction (CREATE/DROP DATABASE). The caller closes it.
    """
    conn = psycopg2.connect(
        sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    conn.autocommit = True
    return conn

"""What the pipeline's writers need to know about a tenant schema at run time.

The tables are declared in `tables.py` and created and changed by the migrations
(`migrate.py`); this module holds what writes need on top: the tenant's writer lock, the
storage kind of `meter_readings` and its monthly partitions.

`meter_readings` is a TimescaleDB hypertable where the extension was available when the
tenant was created, else natively range-partitioned by month, with a partition per month
created on demand here. Identifiers are composed with psycopg2.sql from validated tenant
ids only.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import pandas as pd
from psycopg2 import sql

from exnaton_pipeline.lib.warehouse.database import Connection


class SchemaNotReady(RuntimeError):
    """The tenant's tables are missing: its schema has not been migrated yet."""


def lock_tenant(conn: Connection, schema: str) -> None:
    """Take the tenant's lock until the end of the transaction.

    Writers of one tenant (two runs storing days, refreshing local days that overlap, the
    reader role's grants) and its migrations take turns; other tenants are not held up.
    """
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (schema,))


def is_set_up(conn: Connection, schema: str) -> bool:
    """Whether the tenant's tables exist (its first run, or `exnaton migrate`, created them)."""
    return _readings_relkind(conn, schema) is not None


def readings_storage(conn: Connection, schema: str) -> str:
    """How the tenant's readings are stored: 'timescaledb' (a hypertable) or 'partitioned'."""
    relkind = _readings_relkind(conn, schema)
    if relkind is None:
        raise SchemaNotReady(
            f"schema {schema} has no meter_readings table: migrate the tenant first "
            "(`exnaton migrate`, or materialize its tenant_schema asset)"
        )
    return "partitioned" if relkind == "p" else "timescaledb"


def _readings_relkind(conn: Connection, schema: str) -> str | None:
    """pg_class.relkind of the tenant's meter_readings ('p' partitioned, 'r' a hypertable's
    plain table), None before it exists."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = 'meter_readings'",
            (schema,),
        )
        row = cur.fetchone()
    return None if row is None else row[0]


def ensure_month_partitions(conn: Connection, schema: str, days: Iterable[date]) -> None:
    """Create the monthly partitions that `days` fall in (native partitioning only)."""
    if _readings_relkind(conn, schema) != "p":  # a hypertable makes its own chunks
        return
    months = sorted({d.replace(day=1) for d in days})
    with conn.cursor() as cur:
        for month in months:
            following = (month.replace(day=28) + pd.Timedelta(days=4)).replace(day=1)
            name = f"meter_readings_{month:%Y_%m}"
            cur.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {}.{} PARTITION OF {}.meter_readings "
                    "FOR VALUES FROM (%s) TO (%s)"
                ).format(sql.Identifier(schema), sql.Identifier(name), sql.Identifier(schema)),
                (f"{month.isoformat()} 00:00+00", f"{following.isoformat()} 00:00+00"),
            )

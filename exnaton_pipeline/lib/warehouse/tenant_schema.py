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
from datetime import date, timedelta

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


def set_compression(conn: Connection, schema: str, after_days: int | None) -> str:
    """Compress the tenant's readings chunks older than `after_days` (TimescaleDB only).

    Old readings are read by day and meter, rarely changed: compressed per (muid, obis)
    segment ordered by time they take a fraction of the disk and are still read and
    corrected in place. Enables compression on the hypertable once, then keeps one
    compression policy at the registry's age: added, changed, or removed when `after_days`
    is None (chunks compressed before stay compressed). On native partitioning there is
    nothing to compress. Returns what holds now, for the catalog.
    """
    if _readings_relkind(conn, schema) != "r":
        return "none (plain PostgreSQL)"
    table = f"{schema}.meter_readings"  # a regclass literal, bound as a value
    with conn.cursor() as cur:
        cur.execute(
            "SELECT (config->>'compress_after')::interval FROM timescaledb_information.jobs "
            "WHERE proc_name = 'policy_compression' AND hypertable_schema = %s "
            "AND hypertable_name = 'meter_readings'",
            (schema,),
        )
        policy = cur.fetchone()
        wanted = None if after_days is None else timedelta(days=after_days)
        if policy is not None and policy[0] != wanted:
            cur.execute("SELECT remove_compression_policy(%s::regclass)", (table,))
        if wanted is None:
            return "off"
        if policy is None or policy[0] != wanted:
            cur.execute(
                "SELECT compression_enabled FROM timescaledb_information.hypertables "
                "WHERE hypertable_schema = %s AND hypertable_name = 'meter_readings'",
                (schema,),
            )
            if not cur.fetchone()[0]:
                cur.execute(
                    sql.SQL(
                        "ALTER TABLE {}.meter_readings SET (timescaledb.compress, "
                        "timescaledb.compress_segmentby = 'muid, obis', "
                        "timescaledb.compress_orderby = 'ts')"
                    ).format(sql.Identifier(schema))
                )
            cur.execute(
                "SELECT add_compression_policy(%s::regclass, compress_after => %s)",
                (table, wanted),
            )
    return f"chunks older than {after_days} days"


def lift_decompression_limit(conn: Connection) -> None:
    """Until the end of the transaction: no cap on the rows a write may decompress.

    A correction of an old day lands in compressed chunks, and TimescaleDB decompresses
    the batches it touches, one per (muid, obis) per chunk, up to 672 rows each. Its
    default cap, `timescaledb.max_tuples_decompressed_per_dml_transaction` = 100 000,
    would fail a re-delivery for more than about 148 registers and roll the whole store
    back, again at every retry. The store of one tenant-day is bounded by its objects,
    so it runs without the cap.
    """
    with conn.cursor() as cur:
        cur.execute("SET LOCAL timescaledb.max_tuples_decompressed_per_dml_transaction = 0")

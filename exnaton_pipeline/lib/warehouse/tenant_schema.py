"""The tenant schema in the warehouse: one PostgreSQL schema per tenant, created on first use.

Each tenant has a schema `tenant_<id>` with:
- `meter_readings`: validated 15-minute readings, key (muid, obis, ts). A TimescaleDB
  hypertable when the extension is available, else natively range-partitioned by month.
- `rejected_readings`: every record that failed, with rule, message and source object.
- `ingested_objects`: the manifest of source objects (key + version tag) already ingested.

Identifiers are composed with psycopg2.sql from validated tenant ids only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date

import pandas as pd
import psycopg2
from psycopg2 import sql

from exnaton_pipeline.lib.warehouse import roles
from exnaton_pipeline.lib.warehouse.database import Connection

log = logging.getLogger(__name__)


def storage_kind(conn: Connection) -> str:
    """'timescaledb' when the extension is (or can be) installed, else 'partitioned'."""
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
        if cur.fetchone():
            return "timescaledb"
        cur.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
        if cur.fetchone() is None:
            return "partitioned"
        cur.execute("SAVEPOINT try_timescale")
        try:
            cur.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        except psycopg2.Error as exc:  # e.g. not in shared_preload_libraries
            cur.execute("ROLLBACK TO SAVEPOINT try_timescale")
            log.warning("timescaledb is available but cannot be loaded (%s)", exc.pgerror)
            return "partitioned"
        return "timescaledb"


def ensure_tenant_schema(conn: Connection, schema: str) -> str:
    """Create the tenant's schema and tables if missing; return the storage kind used.

    Also ensures the tenant's read-only role (lib.roles) that its dashboard connects as.
    """
    s = sql.Identifier(schema)
    with conn.cursor() as cur:
        # serialise concurrent first runs of one tenant
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (schema,))
        cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(s))
    existing = _readings_relkind(conn, schema)
    if existing is None:
        kind = storage_kind(conn)
    else:
        kind = "partitioned" if existing == "p" else "timescaledb"
    with conn.cursor() as cur:
        if existing is None:
            columns = sql.SQL(
                """(
                muid uuid NOT NULL,
                obis char(12) NOT NULL,
                register text NOT NULL,
                ts timestamptz NOT NULL,
                kwh double precision NOT NULL CHECK (kwh >= 0),
                quality text NOT NULL,
                source_key text NOT NULL,
                source_etag text NOT NULL,
                revision integer NOT NULL DEFAULT 0,
                ingested_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (muid, obis, ts))"""
            )
            table = sql.SQL("{}.meter_readings").format(s)
            if kind == "timescaledb":
                cur.execute(sql.SQL("CREATE TABLE {} ").format(table) + columns)
                cur.execute(
                    "SELECT create_hypertable(%s, 'ts', chunk_time_interval => INTERVAL '7 days')",
                    (f"{schema}.meter_readings",),
                )
            else:
                cur.execute(
                    sql.SQL("CREATE TABLE {} ").format(table)
                    + columns
                    + sql.SQL(" PARTITION BY RANGE (ts)")
                )
                # create_hypertable makes its own (ts DESC) index; a second one only costs writes
                cur.execute(sql.SQL("CREATE INDEX ON {} (ts)").format(table))
            log.info("created %s.meter_readings as %s", schema, kind)
        cur.execute(
            sql.SQL(
                """CREATE TABLE IF NOT EXISTS {}.rejected_readings (
                id bigserial PRIMARY KEY,
                source_key text NOT NULL,
                source_etag text,
                record_index integer,
                muid text,
                obis text,
                ts_text text,
                value_text text,
                rule text NOT NULL,
                message text NOT NULL,
                record jsonb,
                rejected_at timestamptz NOT NULL DEFAULT now())"""
            ).format(s)
        )
        cur.execute(
            sql.SQL(
                "CREATE INDEX IF NOT EXISTS rejected_readings_source ON {}.rejected_readings "
                "(source_key, source_etag)"
            ).format(s)
        )
        cur.execute(
            sql.SQL(
                """CREATE TABLE IF NOT EXISTS {}.ingested_objects (
                key text PRIMARY KEY,
                etag text NOT NULL,
                size bigint NOT NULL,
                last_modified timestamptz NOT NULL,
                partition_day date NOT NULL,
                rows_read integer NOT NULL,
                rows_written integer NOT NULL,
                rows_rejected integer NOT NULL,
                run_id text,
                ingested_at timestamptz NOT NULL DEFAULT now())"""
            ).format(s)
        )
        # the dashboard's "last pipeline update" is max(ingested_at)
        cur.execute(
            sql.SQL(
                "CREATE INDEX IF NOT EXISTS ingested_objects_ingested_at ON {}.ingested_objects "
                "(ingested_at)"
            ).format(s)
        )
    roles.ensure_reader_role(conn, schema)  # the tenant's dashboard reads as this role
    return kind


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

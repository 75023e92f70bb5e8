"""The warehouse: per-tenant schemas in PostgreSQL, readings in a (hyper)table, set-based writes.

Each tenant has a schema `tenant_<id>` with:
- `meter_readings`: validated 15-minute readings, key (muid, obis, ts). A TimescaleDB
  hypertable when the extension is available, else natively range-partitioned by month.
- `rejected_readings`: every record that failed, with rule, message and source object.
- `ingested_objects`: the manifest of source objects (key + version tag) already ingested.

Writes are COPY into a temporary staging table and one upsert, so their cost scales with the
new rows. Identifiers are composed with psycopg2.sql from validated tenant ids only.
"""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

import pandas as pd
import psycopg2.errors
import psycopg2.extensions
import sqlalchemy as sa
from psycopg2 import sql

from exnaton_pipeline.lib import roles
from exnaton_pipeline.lib.obis import decode
from exnaton_pipeline.lib.readings import REJECT_COLUMNS
from exnaton_pipeline.lib.source import SourceObject

log = logging.getLogger(__name__)

Connection = psycopg2.extensions.connection


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
    """A raw psycopg2 connection in one transaction: committed on success, else rolled back."""
    raw = engine(url).raw_connection()
    try:
        conn = raw.driver_connection
        with conn:  # commit / rollback
            yield conn
    finally:
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


@dataclass(frozen=True)
class UpsertResult:
    inserted: int
    updated: int
    unchanged: int


READING_COPY_COLUMNS = [
    "muid",
    "obis",
    "register",
    "ts",
    "kwh",
    "quality",
    "source_key",
    "source_etag",
]


def _csv(frame: pd.DataFrame, columns: list[str]) -> io.StringIO:
    buffer = io.StringIO()
    frame[columns].to_csv(buffer, index=False, header=False)
    return buffer


def _copy(cur, buffer: io.StringIO, table: sql.Composable, columns: list[str]) -> None:
    buffer.seek(0)
    cur.copy_expert(
        sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
            table, sql.SQL(", ").join(map(sql.Identifier, columns))
        ),
        buffer,
    )


def _copy_frame(cur, frame: pd.DataFrame, table: sql.Composable, columns: list[str]) -> None:
    _copy(cur, _csv(frame, columns), table, columns)


def upsert_readings(conn: Connection, schema: str, readings: pd.DataFrame) -> UpsertResult:
    """Insert new readings and update changed ones (corrections); identical rows stay untouched.

    `readings` has columns muid, obis, ts (UTC), kwh, quality, source_key, source_etag.
    Rows usually are all new (the next quarter hours): they are copied straight into the
    table. Only when one of them exists already does the batch go the slower way, through a
    staging table and one INSERT .. ON CONFLICT that counts inserts and corrections.
    """
    if readings.empty:
        return UpsertResult(0, 0, 0)
    registers = {code: decode(code).register for code in readings["obis"].unique()}
    ensure_month_partitions(conn, schema, readings["ts"].dt.date.unique())
    # naive UTC, read as UTC below: pandas writes it to CSV in C, a date_format row by row
    frame = readings.assign(
        register=readings["obis"].map(registers), ts=readings["ts"].dt.tz_convert(None)
    )
    buffer = _csv(frame, READING_COPY_COLUMNS)
    s = sql.Identifier(schema)
    with conn.cursor() as cur:
        cur.execute("SET LOCAL TimeZone = 'UTC'")  # until the end of this transaction
        cur.execute("SAVEPOINT direct_copy")
        try:
            _copy(cur, buffer, sql.SQL("{}.meter_readings").format(s), READING_COPY_COLUMNS)
        except psycopg2.errors.UniqueViolation:
            cur.execute("ROLLBACK TO SAVEPOINT direct_copy")
        else:
            cur.execute("RELEASE SAVEPOINT direct_copy")
            return UpsertResult(len(frame), 0, 0)
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS staging_readings ("
            "muid uuid, obis char(12), register text, ts timestamptz, kwh double precision, "
            "quality text, source_key text, source_etag text) ON COMMIT DELETE ROWS"
        )
        _copy(cur, buffer, sql.SQL("staging_readings"), READING_COPY_COLUMNS)
        cur.execute(
            sql.SQL(
                """WITH up AS (
                INSERT INTO {}.meter_readings AS m
                    (muid, obis, register, ts, kwh, quality, source_key, source_etag)
                SELECT muid, obis, register, ts, kwh, quality, source_key, source_etag
                FROM staging_readings
                ON CONFLICT (muid, obis, ts) DO UPDATE
                    SET kwh = EXCLUDED.kwh, quality = EXCLUDED.quality,
                        source_key = EXCLUDED.source_key, source_etag = EXCLUDED.source_etag,
                        revision = m.revision + 1, ingested_at = now()
                    WHERE (m.kwh, m.quality) IS DISTINCT FROM (EXCLUDED.kwh, EXCLUDED.quality)
                RETURNING revision = 0 AS inserted)
                SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)
                FROM up"""
            ).format(s)
        )
        inserted, updated = cur.fetchone()
    return UpsertResult(inserted, updated, len(frame) - inserted - updated)


# `rejected_readings`: the source object, then what the parser says about the record
REJECT_COPY_COLUMNS = ["source_key", "source_etag", *REJECT_COLUMNS]


def replace_rejects(
    conn: Connection, schema: str, objects: list[SourceObject], rejects: pd.DataFrame
) -> None:
    """Store the rejections of `objects`, replacing any earlier ones for the same versions."""
    s = sql.Identifier(schema)
    with conn.cursor() as cur:
        if objects:
            cur.execute(
                sql.SQL(
                    "DELETE FROM {}.rejected_readings r USING unnest(%s::text[], %s::text[]) "
                    "AS o(key, etag) WHERE r.source_key = o.key AND r.source_etag = o.etag"
                ).format(s),
                ([o.key for o in objects], [o.etag for o in objects]),
            )
        if not rejects.empty:
            frame = rejects.reindex(columns=REJECT_COPY_COLUMNS)
            frame["record_index"] = frame["record_index"].astype("Int64")
            _copy_frame(cur, frame, sql.SQL("{}.rejected_readings").format(s), REJECT_COPY_COLUMNS)


def new_objects(conn: Connection, schema: str, objects: list[SourceObject]) -> list[SourceObject]:
    """The objects whose key and version are not yet in the manifest."""
    if not objects:
        return []
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("SELECT key, etag FROM {}.ingested_objects WHERE key = ANY(%s)").format(
                sql.Identifier(schema)
            ),
            ([o.key for o in objects],),
        )
        seen = set(cur.fetchall())
    return [o for o in objects if (o.key, o.etag) not in seen]


def record_objects(
    conn: Connection, schema: str, day: date, stats: list[dict], run_id: str | None
) -> None:
    """Write manifest entries: `stats` rows have object, read, written, rejected."""
    if not stats:
        return
    objects: list[SourceObject] = [entry["object"] for entry in stats]
    with conn.cursor() as cur:
        # one statement for all objects: a day of one object per meter is thousands of rows
        cur.execute(
            sql.SQL(
                """INSERT INTO {}.ingested_objects AS i (key, etag, size, last_modified,
                    partition_day, rows_read, rows_written, rows_rejected, run_id)
                SELECT o.key, o.etag, o.size, o.last_modified, %s, o.read, o.written,
                    o.rejected, %s
                FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::timestamptz[],
                    %s::int[], %s::int[], %s::int[])
                    AS o(key, etag, size, last_modified, read, written, rejected)
                ON CONFLICT (key) DO UPDATE SET etag = EXCLUDED.etag, size = EXCLUDED.size,
                    last_modified = EXCLUDED.last_modified,
                    rows_read = EXCLUDED.rows_read,
                    rows_written = EXCLUDED.rows_written,
                    rows_rejected = EXCLUDED.rows_rejected, run_id = EXCLUDED.run_id,
                    ingested_at = now()"""
            ).format(sql.Identifier(schema)),
            (
                day,
                run_id,
                [o.key for o in objects],
                [o.etag for o in objects],
                [o.size for o in objects],
                [o.last_modified for o in objects],
                [entry["read"] for entry in stats],
                [entry["written"] for entry in stats],
                [entry["rejected"] for entry in stats],
            ),
        )

"""Set-based writes of one ingestion: readings, rejections and the manifest of source objects.

New readings are COPYed straight into the table; a batch with rows that exist already goes
through a temporary staging table and one upsert, so the cost scales with the new rows.
Identifiers are composed with psycopg2.sql from validated tenant ids only.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

import pandas as pd
import psycopg2.errors
from psycopg2 import sql

from exnaton_pipeline.lib.ingestion.obis import decode
from exnaton_pipeline.lib.ingestion.responses import REJECT_COLUMNS
from exnaton_pipeline.lib.ingestion.source import SourceObject
from exnaton_pipeline.lib.warehouse import stale
from exnaton_pipeline.lib.warehouse.database import Connection
from exnaton_pipeline.lib.warehouse.tenant_schema import ensure_month_partitions


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


def upsert_readings(
    conn: Connection, schema: str, readings: pd.DataFrame, timezone: str
) -> UpsertResult:
    """Insert new readings and update changed ones (corrections); identical rows stay untouched.

    `readings` has columns muid, obis, ts (UTC), kwh, quality, source_key, source_etag.
    Rows usually are all new (the next quarter hours): they are copied straight into the
    table. Only when one of them exists already does the batch go the slower way, through a
    staging table and one INSERT .. ON CONFLICT that counts inserts and corrections.
    The local hours (in `timezone`) of the rows inserted or changed are queued in
    `stale_hours`, in this transaction, for `hourly_energy` to recompute.
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
            stale.create_changed_readings(cur)
            _copy_frame(
                cur,
                frame[["muid", "ts"]].drop_duplicates(),
                sql.SQL(stale.CHANGED_READINGS),
                ["muid", "ts"],
            )
            stale.mark_changed_hours(cur, schema, timezone)
            return UpsertResult(len(frame), 0, 0)
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS staging_readings ("
            "muid uuid, obis char(12), register text, ts timestamptz, kwh double precision, "
            "quality text, source_key text, source_etag text) ON COMMIT DELETE ROWS"
        )
        _copy(cur, buffer, sql.SQL("staging_readings"), READING_COPY_COLUMNS)
        stale.create_changed_readings(cur)
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
                RETURNING muid, ts, revision = 0 AS inserted),
                changed AS (INSERT INTO changed_readings SELECT muid, ts FROM up)
                SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)
                FROM up"""
            ).format(s)
        )
        inserted, updated = cur.fetchone()
        stale.mark_changed_hours(cur, schema, timezone)
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

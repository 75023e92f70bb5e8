"""The tenant tables as the first release created them, before there were migrations.

Revision ID: 0001
Revises:
Create Date: 2026-12-01

Frozen history, never edited: the statements are the first release's own
(lib/warehouse/tenant_schema.py and lib/energy/analytics.py at commit 05defe9), including its
choice for `meter_readings`: a TimescaleDB hypertable with 7-day chunks where the extension
is or can be installed, else a table range-partitioned by month. Like that release they say
CREATE ... IF NOT EXISTS, so on a schema the release created (its tables present, no version
table) this revision adds only what is missing; it then checks that every table has exactly
the shape this revision creates (compared with a scratch copy built by the same statements and
rolled back) and refuses the schema, naming each difference, when it does not. Only a schema
that passes is recorded at 0001 and upgraded further.
"""

from __future__ import annotations

import logging

import psycopg2
from alembic import op
from psycopg2 import sql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

log = logging.getLogger("exnaton_pipeline.migrations")

TABLES = (
    "meter_readings",
    "rejected_readings",
    "ingested_objects",
    "tariff_slots",
    "hourly_energy",
    "daily_energy",
    "weekday_hour_profile",
    "insights",
)

_READINGS_COLUMNS = """(
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

_ENERGY_COLUMNS = """
        import_kwh double precision NOT NULL,
        export_kwh double precision NOT NULL,
        ht_kwh double precision NOT NULL,
        nt_kwh double precision NOT NULL,
        cost double precision NOT NULL,
        feed_in_credit double precision NOT NULL,"""

_DDL = [
    """CREATE TABLE IF NOT EXISTS {s}.rejected_readings (
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
                rejected_at timestamptz NOT NULL DEFAULT now())""",
    "CREATE INDEX IF NOT EXISTS rejected_readings_source ON {s}.rejected_readings "
    "(source_key, source_etag)",
    """CREATE TABLE IF NOT EXISTS {s}.ingested_objects (
                key text PRIMARY KEY,
                etag text NOT NULL,
                size bigint NOT NULL,
                last_modified timestamptz NOT NULL,
                partition_day date NOT NULL,
                rows_read integer NOT NULL,
                rows_written integer NOT NULL,
                rows_rejected integer NOT NULL,
                run_id text,
                ingested_at timestamptz NOT NULL DEFAULT now())""",
    "CREATE INDEX IF NOT EXISTS ingested_objects_ingested_at ON {s}.ingested_objects (ingested_at)",
    """CREATE TABLE IF NOT EXISTS {s}.tariff_slots (
        isoweekday smallint NOT NULL CHECK (isoweekday BETWEEN 1 AND 7),
        slot smallint NOT NULL CHECK (slot BETWEEN 0 AND 95),
        band text NOT NULL,
        rate double precision NOT NULL CHECK (rate >= 0),
        PRIMARY KEY (isoweekday, slot))""",
    """CREATE TABLE IF NOT EXISTS {s}.hourly_energy (
        muid uuid NOT NULL,
        hour_start timestamptz NOT NULL,
        local_date date NOT NULL,
        local_hour smallint NOT NULL,
        iso_weekday smallint NOT NULL,"""
    + _ENERGY_COLUMNS
    + """
        intervals smallint NOT NULL,
        PRIMARY KEY (muid, hour_start))""",
    "CREATE INDEX IF NOT EXISTS hourly_energy_hour_start ON {s}.hourly_energy (hour_start)",
    """CREATE TABLE IF NOT EXISTS {s}.daily_energy (
        muid uuid NOT NULL,
        day date NOT NULL,"""
    + _ENERGY_COLUMNS
    + """
        peak_kw double precision,
        peak_at timestamptz,
        intervals smallint NOT NULL,
        expected_intervals smallint NOT NULL,
        complete boolean NOT NULL,
        PRIMARY KEY (muid, day))""",
    "CREATE INDEX IF NOT EXISTS daily_energy_day ON {s}.daily_energy (day)",
    """CREATE TABLE IF NOT EXISTS {s}.weekday_hour_profile (
        muid uuid NOT NULL,
        weekday smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
        hour smallint NOT NULL CHECK (hour BETWEEN 0 AND 23),
        avg_import_kwh double precision NOT NULL,
        avg_export_kwh double precision NOT NULL,
        days smallint NOT NULL,
        window_start date NOT NULL,
        window_end date NOT NULL,
        PRIMARY KEY (muid, weekday, hour))""",
    """CREATE TABLE IF NOT EXISTS {s}.insights (
        tenant text NOT NULL,
        muid uuid NOT NULL,
        period_start date NOT NULL,
        period_end date NOT NULL,
        kind text NOT NULL,
        value double precision,
        unit text NOT NULL,
        severity text NOT NULL CHECK (severity IN ('info', 'tip', 'warning')),
        rank smallint NOT NULL,
        message text NOT NULL,
        computed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (muid, kind))""",
]


def upgrade() -> None:
    schema = op.get_context().version_table_schema
    with op.get_bind().connection.driver_connection.cursor() as cur:
        present = _present(cur, schema)
        kind = _create(cur, schema)
        if present:
            _check_shape(cur, schema, kind, present)
            log.info("adopted %s, created by the first release (%s)", schema, kind)
        else:
            log.info("created %s.meter_readings as %s", schema, kind)


def downgrade() -> None:
    raise NotImplementedError(
        "0001 is the first revision: a tenant's tables are not dropped by a migration "
        "(DROP SCHEMA by hand if the tenant is to go)"
    )


def _present(cur, schema: str) -> list[str]:
    """This revision's tables that exist in `schema` already."""
    cur.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = ANY(%s) ORDER BY 1",
        (schema, list(TABLES)),
    )
    return [name for (name,) in cur.fetchall()]


def _storage_kind(cur) -> str:
    """'timescaledb' when the extension is (or can be) installed, else 'partitioned'."""
    cur.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
    if cur.fetchone():
        return "timescaledb"
    cur.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
    if cur.fetchone() is None:
        return "partitioned"
    cur.execute("SAVEPOINT try_timescale")
    try:
        # the search_path starts at the tenant's schema: name the extension's own
        cur.execute("CREATE EXTENSION IF NOT EXISTS timescaledb SCHEMA public")
    except psycopg2.Error as exc:  # e.g. not in shared_preload_libraries
        cur.execute("ROLLBACK TO SAVEPOINT try_timescale")
        log.warning("timescaledb is available but cannot be loaded (%s)", exc.pgerror)
        return "partitioned"
    return "timescaledb"


def _create(cur, schema: str, kind: str | None = None) -> str:
    """The first release's tables in `schema`, where missing; returns the readings' storage."""
    s = sql.Identifier(schema)
    cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(s))
    cur.execute(
        "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = 'meter_readings'",
        (schema,),
    )
    existing = cur.fetchone()
    if existing is not None:
        kind = "partitioned" if existing[0] == "p" else "timescaledb"
    else:
        kind = kind or _storage_kind(cur)
        _create_readings(cur, schema, kind)
    for statement in _DDL:
        cur.execute(sql.SQL(statement).format(s=s))
    return kind


def _create_readings(cur, schema: str, kind: str) -> None:
    table = sql.SQL("{}.meter_readings").format(sql.Identifier(schema))
    if kind == "timescaledb":
        cur.execute(sql.SQL("CREATE TABLE {} ").format(table) + sql.SQL(_READINGS_COLUMNS))
        cur.execute(
            "SELECT create_hypertable(%s, 'ts', chunk_time_interval => INTERVAL '7 days')",
            (sql.Identifier(schema, "meter_readings").as_string(cur),),
        )
    else:
        cur.execute(
            sql.SQL("CREATE TABLE {} ").format(table)
            + sql.SQL(_READINGS_COLUMNS)
            + sql.SQL(" PARTITION BY RANGE (ts)")
        )
        # create_hypertable makes its own (ts DESC) index; a second one only costs writes
        cur.execute(sql.SQL("CREATE INDEX ON {} (ts)").format(table))


# One row per fact about a table: its kind, each column in order (type, NOT NULL, default),
# each constraint and each index, with the schema's own name taken out of the definitions.
_SHAPE = """
    WITH t AS (
        SELECT c.oid, c.relname, c.relkind, quote_ident(n.nspname) || '.' AS qualifier
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %(schema)s AND c.relname = ANY(%(tables)s))
    SELECT relname, 'kind', 'relkind', relkind::text FROM t
    UNION ALL
    SELECT t.relname, 'column', lpad(row_number() OVER w::text, 3, '0') || ' ' || a.attname,
        format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE ''
        END || coalesce(' DEFAULT ' || replace(pg_get_expr(d.adbin, d.adrelid), t.qualifier, ''),
        '')
    FROM t JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WINDOW w AS (PARTITION BY t.relname ORDER BY a.attnum)
    UNION ALL
    SELECT t.relname, 'constraint', con.conname, pg_get_constraintdef(con.oid)
    FROM t JOIN pg_constraint con ON con.conrelid = t.oid
    UNION ALL
    SELECT t.relname, 'index', ic.relname, replace(pg_get_indexdef(i.indexrelid), t.qualifier, '')
    FROM t JOIN pg_index i ON i.indrelid = t.oid JOIN pg_class ic ON ic.oid = i.indexrelid
"""


def _shape(cur, schema: str) -> set[tuple[str, str, str, str]]:
    cur.execute(_SHAPE, {"schema": schema, "tables": list(TABLES)})
    return set(cur.fetchall())


def _check_shape(cur, schema: str, kind: str, present: list[str]) -> None:
    """Refuse `schema` unless its tables are exactly what this revision creates."""
    scratch = f"{schema} 0001"  # a space: never the name of a tenant schema
    cur.execute("SAVEPOINT first_release_shape")
    _create(cur, scratch, kind)
    expected = _shape(cur, scratch)
    cur.execute("ROLLBACK TO SAVEPOINT first_release_shape")
    found = _shape(cur, schema)
    if found == expected:
        return
    differences = [
        f"{table}: missing {what} {name} ({text})" for table, what, name, text in expected - found
    ]
    differences += [
        f"{table}: unexpected {what} {name} ({text})"
        for table, what, name, text in found - expected
    ]
    raise RuntimeError(
        f"schema {schema} holds tables from before migrations ({', '.join(present)}) that are "
        f"not the first release's: {'; '.join(sorted(differences))}. Repair them by hand or "
        "move the tenant's data to a new schema; nothing was changed"
    )

"""Test-side DDL for the analytics tables, written from /work/analytics_contract.md.

The analytics pipeline (built in parallel) will create these tables itself; until it is
merged, dashboard tests and the dashboard benchmark create them with this helper and fill
them with hand-made rows. Keep it a literal transcription of the contract.
"""

from __future__ import annotations

from psycopg2 import sql

_TABLES = [
    """CREATE TABLE IF NOT EXISTS {s}.hourly_energy (
        muid uuid NOT NULL,
        hour_start timestamptz NOT NULL,
        local_date date NOT NULL,
        local_hour smallint NOT NULL,
        iso_weekday smallint NOT NULL,
        import_kwh double precision NOT NULL,
        export_kwh double precision NOT NULL,
        ht_kwh double precision NOT NULL,
        nt_kwh double precision NOT NULL,
        cost double precision NOT NULL,
        feed_in_credit double precision NOT NULL,
        intervals smallint NOT NULL,
        PRIMARY KEY (muid, hour_start))""",
    "CREATE INDEX IF NOT EXISTS hourly_energy_hour_start ON {s}.hourly_energy (hour_start)",
    """CREATE TABLE IF NOT EXISTS {s}.daily_energy (
        muid uuid NOT NULL,
        day date NOT NULL,
        import_kwh double precision NOT NULL,
        export_kwh double precision NOT NULL,
        ht_kwh double precision NOT NULL,
        nt_kwh double precision NOT NULL,
        cost double precision NOT NULL,
        feed_in_credit double precision NOT NULL,
        peak_kw double precision,
        peak_at timestamptz,
        intervals smallint NOT NULL,
        expected_intervals smallint NOT NULL,
        complete boolean NOT NULL,
        PRIMARY KEY (muid, day))""",
    "CREATE INDEX IF NOT EXISTS daily_energy_day ON {s}.daily_energy (day)",
    """CREATE TABLE IF NOT EXISTS {s}.weekday_hour_profile (
        muid uuid NOT NULL,
        weekday smallint NOT NULL,
        hour smallint NOT NULL,
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
        unit text,
        severity text NOT NULL,
        rank smallint NOT NULL,
        message text NOT NULL,
        computed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (muid, kind))""",
]


def create_analytics_tables(conn, schema: str) -> None:
    """Create hourly_energy, daily_energy, weekday_hour_profile and insights in `schema`."""
    with conn.cursor() as cur:
        for statement in _TABLES:
            cur.execute(sql.SQL(statement).format(s=sql.Identifier(schema)))

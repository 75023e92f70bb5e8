"""Incremental aggregates: work queues of changed keys, and each hour's peak import.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

A tick recomputes only the meter hours and days whose readings changed (docs/analytics.md):
`stale_hours`, `stale_days` and `stale_windows` queue them. `hourly_energy` gains the hour's
largest import (`peak_kwh`, `peak_at`), so that a day's peak demand rolls up from its hours;
the rows already stored get theirs from the readings here, so an upgraded tenant's days roll up
to the same peaks.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from psycopg2 import sql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_UUID = sa.Uuid(as_uuid=False)

# Each stored hour's largest import and when: the readings of [hour_start, hour_start + 1 h)
# (a local hour is one UTC hour long in every zone, DST days included).
_PEAKS = """
    UPDATE {s}.hourly_energy h SET peak_kwh = p.peak_kwh, peak_at = p.peak_at
    FROM (
        SELECT h2.muid, h2.hour_start, max(r.kwh) AS peak_kwh,
            (array_agg(r.ts ORDER BY r.kwh DESC, r.ts))[1] AS peak_at
        FROM {s}.hourly_energy h2
        JOIN {s}.meter_readings r ON r.muid = h2.muid AND r.register = 'active_import'
            AND r.ts >= h2.hour_start AND r.ts < h2.hour_start + interval '1 hour'
        GROUP BY h2.muid, h2.hour_start) p
    WHERE h.muid = p.muid AND h.hour_start = p.hour_start
"""


def upgrade() -> None:
    op.add_column(
        "hourly_energy",
        sa.Column(
            "peak_kwh",
            sa.Double,
            comment="the hour's largest 15-minute import, kWh (empty without import); the "
            "day's peak demand is rolled up from it",
        ),
    )
    op.add_column(
        "hourly_energy",
        sa.Column("peak_at", _TS, comment="UTC start of the quarter hour of that import"),
    )
    schema = op.get_context().version_table_schema
    with op.get_bind().connection.driver_connection.cursor() as cur:
        cur.execute(sql.SQL(_PEAKS).format(s=sql.Identifier(schema)))
    op.create_table(
        "stale_hours",
        sa.Column("muid", _UUID, nullable=False, comment="meter id (tags.muid of the API record)"),
        sa.Column(
            "hour_start",
            _TS,
            nullable=False,
            comment="UTC instant the local hour starts, as in hourly_energy",
        ),
        sa.PrimaryKeyConstraint("muid", "hour_start", name="stale_hours_pkey"),
        comment="meter hours whose readings were inserted or corrected and whose hourly_energy "
        "row is not yet recomputed (queue of the hourly_energy asset)",
    )
    op.create_table(
        "stale_days",
        sa.Column("muid", _UUID, nullable=False, comment="meter id (tags.muid of the API record)"),
        sa.Column("day", sa.Date, nullable=False, comment="local day"),
        sa.PrimaryKeyConstraint("muid", "day", name="stale_days_pkey"),
        comment="meter days whose hourly rows changed and whose daily_energy row is not yet "
        "rolled up (queue of the daily_energy asset)",
    )
    op.create_table(
        "stale_windows",
        sa.Column("muid", _UUID, nullable=False, comment="meter id (tags.muid of the API record)"),
        sa.Column("day", sa.Date, nullable=False, comment="local day whose daily row changed"),
        sa.Column(
            "marked_at",
            _TS,
            nullable=False,
            server_default=sa.func.now(),
            comment="when the day last changed",
        ),
        sa.PrimaryKeyConstraint("muid", "day", name="stale_windows_pkey"),
        comment="meter days changed since the per-day work (weekday_hour_profile, insights) "
        "last saw them: the meters whose 28-day windows must be recomputed",
    )
    op.create_index("stale_windows_day", "stale_windows", ["day"])


def downgrade() -> None:
    op.drop_table("stale_windows")
    op.drop_table("stale_days")
    op.drop_table("stale_hours")
    op.drop_column("hourly_energy", "peak_at")
    op.drop_column("hourly_energy", "peak_kwh")

"""community_energy: the tenant's meters as one energy community, per quarter hour; tariff
versions: tariff_slots keyed by the version's first local day, with its feed-in rate.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Frozen history: columns and comments are this revision's, copied here, not read from the
live declaration. community_energy is filled by the tick's hourly step (asset `community_energy`)
(lib/energy/community.py); the dashboard's community view reads it. Existing tariff_slots
rows become the plan's first version (valid from 0001-01-01) with no feed-in rate; the next
run's sync writes it without repricing (the stored credit was computed at the rate of its
time).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "community_energy",
        sa.Column("ts", _ts, nullable=False, comment="start of the 15-minute interval, UTC"),
        sa.Column(
            "hour_start",
            _ts,
            nullable=False,
            comment="UTC instant the interval's local hour starts (as hourly_energy.hour_start)",
        ),
        sa.Column("local_date", sa.Date, nullable=False, comment="local day of the interval"),
        sa.Column(
            "import_kwh",
            sa.Double,
            nullable=False,
            comment="energy all meters of the tenant drew from the grid in the interval, kWh",
        ),
        sa.Column(
            "export_kwh",
            sa.Double,
            nullable=False,
            comment="energy all meters of the tenant fed into the grid in the interval, kWh",
        ),
        sa.Column(
            "shared_kwh",
            sa.Double,
            nullable=False,
            comment="consumption covered by the members' own feed-in in the same interval: "
            "min(import_kwh, export_kwh), kWh",
        ),
        sa.Column(
            "meters",
            sa.Integer,
            nullable=False,
            comment="meters with an import or export reading in the interval",
        ),
        sa.PrimaryKeyConstraint("ts", name="community_energy_pkey"),
        comment="the tenant as one community: all meters' import and export per quarter hour, "
        "and how much of the consumption the members' feed-in covered in that quarter hour",
    )

    op.add_column(
        "tariff_slots",
        sa.Column(
            "valid_from",
            sa.Date,
            nullable=False,
            server_default=sa.text("'0001-01-01'"),
            comment="first local day the version holds (0001-01-01: the plan's first "
            "version); a reading is priced by the newest version on or before its local day",
        ),
    )
    op.alter_column("tariff_slots", "valid_from", server_default=None)
    op.add_column(
        "tariff_slots",
        sa.Column(
            "feed_in_rate",
            sa.Double,
            sa.CheckConstraint("feed_in_rate >= 0", name="tariff_slots_feed_in_rate_check"),
            comment="credit for one exported kWh under this version, in the plan's currency "
            "(empty on rows written before versions: set by the next run)",
        ),
    )
    op.drop_constraint("tariff_slots_pkey", "tariff_slots", type_="primary")
    op.create_primary_key("tariff_slots_pkey", "tariff_slots", ["valid_from", "isoweekday", "slot"])
    op.create_table_comment(
        "tariff_slots",
        "the tenant's tariff plan, one row per version and 15-minute slot of the LOCAL week "
        "(672 per version), written from the tenant registry; SQL prices each reading with one "
        "join on it",
        existing_comment="the tenant's tariff plan, one row per 15-minute slot of the LOCAL "
        "week (672), written from the tenant registry; SQL prices each reading with one join "
        "on it",
    )


def downgrade() -> None:
    op.execute("DELETE FROM tariff_slots WHERE valid_from > '0001-01-01'")
    op.drop_constraint("tariff_slots_pkey", "tariff_slots", type_="primary")
    op.create_primary_key("tariff_slots_pkey", "tariff_slots", ["isoweekday", "slot"])
    op.drop_column("tariff_slots", "feed_in_rate")
    op.drop_column("tariff_slots", "valid_from")
    op.create_table_comment(
        "tariff_slots",
        "the tenant's tariff plan, one row per 15-minute slot of the LOCAL week (672), "
        "written from the tenant registry; SQL prices each reading with one join on it",
    )
    op.drop_table("community_energy")

"""community_energy: the tenant's meters as one energy community, per quarter hour.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

Frozen history: columns and comments are this revision's, copied here, not read from the
live declaration. Filled by the `community_energy` asset (lib/energy/community.py); the
dashboard's community view reads it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0002"  # TEMP: "0005" at hand-over
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


def downgrade() -> None:
    op.drop_table("community_energy")

"""Objects withdrawn from the source: `ingested_objects.withdrawn_at`, and the manifest by day.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

A run of a tenant-day marks the manifest entries of that day whose object the source no
longer lists (and clears the mark when the object is listed again); the quality checks judge
only the objects not withdrawn. The index on `partition_day` keeps both the marking and the
checks to the day's own entries instead of the tenant's whole manifest.

Frozen history: the texts are this revision's, copied here, not read from the declaration.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

WITHDRAWN_COMMENT = (
    "when a run of its day found the object no longer listed in the source; empty while it "
    "is listed. Its readings are kept (docs/decisions.md)"
)


def upgrade() -> None:
    op.add_column(
        "ingested_objects",
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), comment=WITHDRAWN_COMMENT),
    )
    op.create_index("ingested_objects_partition_day", "ingested_objects", ["partition_day"])


def downgrade() -> None:
    op.drop_index("ingested_objects_partition_day", table_name="ingested_objects")
    op.drop_column("ingested_objects", "withdrawn_at")

"""What the manifest of ingested objects says about objects that left the source.

An object once ingested keeps its manifest entry. When a run of its tenant-day no longer finds
it in the source (an operator removed a bad delivery, the supplier withdrew it), the entry is
marked `withdrawn_at`; when the object is listed again, the mark is cleared. The readings it
delivered stay stored (docs/decisions.md: meter data once delivered is not silently deleted);
the quality checks judge only the objects not withdrawn, so removing a bad object from the
source is how an operator clears a failing check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from psycopg2 import sql

from exnaton_pipeline.lib.warehouse.database import Connection


@dataclass(frozen=True)
class Withdrawals:
    """Manifest entries of one tenant-day whose presence in the source changed in this run."""

    withdrawn: list[str] = field(default_factory=list)  # no longer listed: marked now
    restored: list[str] = field(default_factory=list)  # listed again: mark cleared


def mark_withdrawn(conn: Connection, schema: str, day: date, listed: list[str]) -> Withdrawals:
    """Mark `day`'s manifest entries whose key is not in `listed` (the `*.json` keys the source
    lists for that day now) as withdrawn, and clear the mark of those listed again.

    One statement over the day's entries (indexed by `partition_day`), the listing joined as
    a set: the cost follows the day's objects, not the tenant's whole manifest.
    """
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                """UPDATE {s}.ingested_objects o
                SET withdrawn_at = c.withdrawn_at
                FROM (
                    SELECT m.key, CASE WHEN l.key IS NULL THEN now() END AS withdrawn_at
                    FROM {s}.ingested_objects m
                    LEFT JOIN unnest(%(listed)s::text[]) AS l(key) ON l.key = m.key
                    WHERE m.partition_day = %(day)s
                        -- listed but marked, or marked not yet and missing
                        AND (m.withdrawn_at IS NULL) = (l.key IS NULL)
                ) c
                WHERE o.key = c.key
                RETURNING o.key, o.withdrawn_at IS NOT NULL"""
            ).format(s=sql.Identifier(schema)),
            {"listed": listed, "day": day},
        )
        changed = sorted(cur.fetchall())
    return Withdrawals(
        withdrawn=[key for key, withdrawn in changed if withdrawn],
        restored=[key for key, withdrawn in changed if not withdrawn],
    )

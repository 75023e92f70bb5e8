"""The tenant as one energy community: all meters' import and export per quarter hour.

`community_energy` (declared in lib/warehouse/tables.py) holds one row per quarter hour with
readings: the members' import and export summed, and `shared_kwh` = min(import, export), the
members' consumption that the members' own feed-in could cover in that same quarter hour —
the figure an energy community is judged by (summed over a period and divided by the import,
the share of the community's consumption covered by its members). The dashboard's community
view reads it and `daily_energy`, never the readings.

`refresh_community_energy` recomputes given spans of time set-based, in one statement: the
quarter hours of those spans are aggregated from `meter_readings`, upserted where they changed,
and quarter hours left without readings are deleted. It runs in the caller's transaction and
writes nothing for a span whose readings did not change. The tick calls it for the runs of
hours whose readings changed (the hourly_energy step's queue), so its cost follows the new
readings' hours, not the days they fall in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from psycopg2 import sql

from exnaton_pipeline.lib.energy.analytics import Connection
from exnaton_pipeline.lib.tenants import Tenant
from exnaton_pipeline.lib.warehouse import tenant_schema
from exnaton_pipeline.lib.warehouse.quality import local_day

# Per span [lo, hi) (bound as arrays) the readings are found by an index range scan each,
# summed per quarter hour in a fixed order (by muid), so the same readings always give the
# same floats.
_REFRESH = """
WITH d AS MATERIALIZED (
    SELECT lo, hi FROM unnest(%(los)s::timestamptz[], %(his)s::timestamptz[]) AS u(lo, hi)),
fresh AS MATERIALIZED (
    SELECT ts, hour_start, local_date, import_kwh, export_kwh,
        least(import_kwh, export_kwh) AS shared_kwh, meters
    FROM (
        SELECT r.ts, r.ts - (l.lts - date_trunc('hour', l.lts)) AS hour_start,
            l.lts::date AS local_date,
            coalesce(sum(r.kwh ORDER BY r.muid)
                FILTER (WHERE r.register = 'active_import'), 0) AS import_kwh,
            coalesce(sum(r.kwh ORDER BY r.muid)
                FILTER (WHERE r.register = 'active_export'), 0) AS export_kwh,
            count(DISTINCT r.muid) AS meters
        FROM d
        JOIN {s}.meter_readings r ON r.ts >= d.lo AND r.ts < d.hi
        CROSS JOIN LATERAL (SELECT r.ts AT TIME ZONE %(tz)s AS lts) l
        WHERE r.register IN ('active_import', 'active_export')
        GROUP BY 1, 2, 3) q),
written AS (
    INSERT INTO {s}.community_energy AS c
        (ts, hour_start, local_date, import_kwh, export_kwh, shared_kwh, meters)
    SELECT * FROM fresh
    ON CONFLICT (ts) DO UPDATE SET hour_start = EXCLUDED.hour_start,
        local_date = EXCLUDED.local_date, import_kwh = EXCLUDED.import_kwh,
        export_kwh = EXCLUDED.export_kwh, shared_kwh = EXCLUDED.shared_kwh,
        meters = EXCLUDED.meters
    WHERE (c.import_kwh, c.export_kwh, c.meters, c.hour_start, c.local_date)
        IS DISTINCT FROM (EXCLUDED.import_kwh, EXCLUDED.export_kwh, EXCLUDED.meters,
                          EXCLUDED.hour_start, EXCLUDED.local_date)
    RETURNING 1),
removed AS (
    DELETE FROM {s}.community_energy c USING d
    WHERE c.ts >= d.lo AND c.ts < d.hi AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.ts = c.ts)
    RETURNING 1)
SELECT (SELECT count(*) FROM fresh), (SELECT count(*) FROM written),
    (SELECT count(*) FROM removed)
"""


Span = tuple[datetime, datetime]


def local_day_spans(zone: ZoneInfo, days: Sequence[date]) -> list[Span]:
    """The spans [local midnight, next local midnight) of `days`, as UTC instants."""
    return [(d.begin, d.end) for d in (local_day(day, zone) for day in sorted(set(days)))]


@dataclass(frozen=True)
class CommunityRefresh:
    """What one refresh did: the spans looked at, their quarter hours with readings, and the
    rows it wrote (new or changed) and deleted (no readings any more)."""

    spans: list[Span]
    quarter_hours: int
    rows_written: int
    rows_deleted: int


def refresh_community_energy(
    conn: Connection, tenant: Tenant, spans: Sequence[Span]
) -> CommunityRefresh:
    """Recompute the tenant's `community_energy` rows in `spans` ([from, to) UTC instants on
    the quarter-hour grid, e.g. the runs of hours a tick changed, or `local_day_spans`) in
    one statement, under the tenant's lock."""
    spans = sorted(spans)
    tenant_schema.lock_tenant(conn, tenant.schema)
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(_REFRESH).format(s=sql.Identifier(tenant.schema)),
            {"tz": tenant.timezone, "los": [lo for lo, _ in spans], "his": [hi for _, hi in spans]},
        )
        quarter_hours, written, deleted = cur.fetchone()
    return CommunityRefresh(spans, quarter_hours, written, deleted)

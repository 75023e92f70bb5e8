"""Which tenant-day partitions a 15-minute tick must (re)ingest, decided without Dagster.

Partitions are UTC days, because the source folders are. At any instant each tenant needs:

- the UTC day that is running now (today's readings keep arriving), and
- the previous UTC day during the first hour after UTC midnight: the batch holding the
  last interval of a UTC day (23:45-24:00) is delivered after midnight, into that day's
  folder, and no later tick would read it;
- the previous UTC day during the first hour after the tenant's LOCAL midnight: the local
  day that just closed spans two UTC days, and late or corrected deliveries for its earlier
  part land in the previous UTC day's folder.

Local midnight is computed in the tenant's IANA zone, so it moves with daylight saving time
(Zurich: 23:00 UTC in winter, 22:00 UTC in summer; New York: 05:00 / 04:00 UTC).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from exnaton_pipeline.lib.tenants import Tenant

LATE_WINDOW = timedelta(hours=1)
# A local day counts as over this long after its end (the last batch may arrive a little late).
SETTLE_TIME = timedelta(minutes=30)


@dataclass(frozen=True)
class DuePartition:
    """One tenant-day partition a tick asks for, and why."""

    tenant_id: str
    day: date
    reason: str


def local_midnight(instant: datetime, tenant: Tenant) -> datetime:
    """The UTC instant at which the tenant's current local day began."""
    local = instant.astimezone(tenant.zone)
    return datetime.combine(local.date(), time(), tzinfo=tenant.zone).astimezone(UTC)


def partitions_due(instant: datetime, tenants: Iterable[Tenant]) -> list[DuePartition]:
    """Partitions to request at `instant` (timezone-aware), per tenant, oldest day first."""
    if instant.tzinfo is None:
        raise ValueError(f"instant {instant} has no time zone; pass an aware datetime")
    now = instant.astimezone(UTC)
    today = now.date()
    after_utc_midnight = now - datetime.combine(today, time(), tzinfo=UTC) < LATE_WINDOW
    due: list[DuePartition] = []
    for tenant in tenants:
        after_local_midnight = now - local_midnight(now, tenant) < LATE_WINDOW
        if after_utc_midnight or after_local_midnight:
            reason = (
                "late readings after UTC midnight"
                if after_utc_midnight
                else f"local day closed at midnight {tenant.timezone}"
            )
            due.append(DuePartition(tenant.id, today - timedelta(days=1), reason))
        due.append(DuePartition(tenant.id, today, "current UTC day"))
    return due


def last_settled_day(instant: datetime, tenant: Tenant) -> date:
    """The newest local day of the tenant that ended at least SETTLE_TIME before `instant`:
    the day the per-day work (28-day windows) ends at."""
    if instant.tzinfo is None:
        raise ValueError(f"instant {instant} has no time zone; pass an aware datetime")
    return (instant - SETTLE_TIME).astimezone(tenant.zone).date() - timedelta(days=1)

"""Synthetic readings for the analytics tests: written with the foundation's upsert, read back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
from psycopg2 import sql

from exnaton_pipeline.lib.energy import analytics
from exnaton_pipeline.lib.tenants import Tenant
from exnaton_pipeline.lib.warehouse import database, migrate, stale, writes

QUARTER = timedelta(minutes=15)


def local_quarters(zone: ZoneInfo, first: date, last: date) -> list[datetime]:
    """UTC starts of every quarter hour of local days first..last (92/100 on DST days)."""
    start = datetime(first.year, first.month, first.day, tzinfo=zone).astimezone(UTC)
    end_day = last + timedelta(days=1)
    end = datetime(end_day.year, end_day.month, end_day.day, tzinfo=zone).astimezone(UTC)
    return [start + n * QUARTER for n in range(int((end - start) / QUARTER))]


def readings(
    muid: str, obis: str, quarters: list[datetime], value: Callable[[datetime], float | None]
) -> pd.DataFrame:
    """One reading per quarter (UTC start) with `value(ts)` kWh; None leaves the slot out."""
    rows = [(ts, value(ts)) for ts in quarters]
    rows = [(ts, kwh) for ts, kwh in rows if kwh is not None]
    return pd.DataFrame(
        {
            "muid": muid,
            "obis": obis,
            "ts": pd.to_datetime([ts for ts, _ in rows], utc=True),
            "kwh": [float(kwh) for _, kwh in rows],
            "quality": "measured",
            "source_key": "synthetic",
            "source_etag": "1",
        }
    )


def store(url: str, tenant: Tenant, *frames: pd.DataFrame) -> None:
    """The tenant's schema at head (as its tenant_schema asset leaves it), then the readings
    (which queues their local hours for the next refresh)."""
    migrate.migrate_tenant(url, tenant)
    with database.transaction(url) as conn:
        writes.upsert_readings(
            conn, tenant.schema, pd.concat(frames, ignore_index=True), tenant.timezone
        )


def utc_days(quarters: list[datetime]) -> list[date]:
    return sorted({ts.date() for ts in quarters})


def refresh(
    url: str, tenant: Tenant, recompute: list[date] | None = None
) -> list[analytics.Recomputed]:
    """What the tick's hourly_energy and daily_energy steps do, in one transaction: recompute
    the queued meter hours and days; `recompute` also queues every meter hour of the local days
    those UTC days touch (a partition run with `recompute: true`). Returns the hourly result."""
    with database.transaction(url) as conn:
        for day in recompute or []:
            days = analytics.local_days(day, tenant.zone)
            stale.mark_local_days(conn, tenant.schema, tenant.timezone, days[0], days[-1])
        done = analytics.refresh_hourly_energy(conn, tenant)
        analytics.refresh_daily_energy(conn, tenant)
    return [done]


def rows(url: str, tenant: Tenant, query: str, params: tuple = ()) -> list[dict]:
    """Rows of `query`, where {s} stands for the tenant's schema."""
    with database.transaction(url) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL(query).format(s=sql.Identifier(tenant.schema)), params)
        names = [c.name for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def local_hour(zone: ZoneInfo) -> Callable[[datetime], int]:
    return lambda ts: ts.astimezone(zone).hour

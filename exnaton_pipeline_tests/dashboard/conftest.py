"""A hand-made tenant for the dashboard tests: tenant `demo` (Europe/Zurich, swiss_dual).

The pipeline's own migrations create the tables (`set_up_tenant`); they are filled here by hand
rather than by the pipeline, so that every value follows from this simple pattern and the
tests can compute expected figures by hand (the real sample, run through the pipeline, is
the `february` fixture of the top-level conftest):

- HOUSE (registry name "Household consumption"): imports 0.5 kWh every local hour,
  1.0 kWh in the week Mon 13 - Sun 19 Feb 2023.
- PV ("PV feed-in"): exports 0.25 kWh in the local hours 10..15, nothing otherwise.
- SPARE (not in the registry): imports 0.1 kWh every hour.
- Local days 1 - 19 Feb have all 24 hours; 20 - 27 Feb have no readings at all; 28 Feb has
  only the hours 00..11 (an incomplete day).
- High tariff: Mon-Fri 07:00-20:00 local at 0.32 CHF/kWh, else 0.22; feed-in 0.10 CHF/kWh.
- `community_energy` is computed from these readings by the pipeline's own refresh.
- A year earlier, with fixture `demo_a_year_on` only: HOUSE imports 0.4 kWh every local hour
  of 1 - 27 Feb 2022, and nothing on 28 Feb 2022.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import bcrypt
import pandas as pd
import pytest
from psycopg2 import sql

from exnaton_pipeline.lib.energy import analytics, community
from exnaton_pipeline.lib.tenants import Registry, Tenant
from exnaton_pipeline.lib.warehouse import database, roles, stale, writes
from exnaton_pipeline_tests.conftest import set_up_tenant
from streamlit_app import throttle

HOUSE = "95ce3367-cbce-4a4d-bbe3-da082831d7bd"
PV = "1db7649e-9342-4e04-97c7-f0ebb88ed1f8"
SPARE = "0c0ffee0-0000-4000-8000-000000000001"
SCHEMA = "tenant_demo"
ZONE = ZoneInfo("Europe/Zurich")
IMPORT_OBIS, EXPORT_OBIS = "0100011D00FF", "0100021D00FF"
FULL_DAYS = [date(2023, 2, 1) + timedelta(days=n) for n in range(19)]  # 1 .. 19 Feb
PARTIAL_DAY = date(2023, 2, 28)  # hours 00..11 only
PASSWORD = "correct horse battery staple"


A_YEAR_EARLIER_DAYS = [date(2022, 2, 1) + timedelta(days=n) for n in range(27)]

# (import, export) kWh of a meter's local hour
Energy = Callable[[str, date, int], tuple[float, float]]


def _hours() -> list[tuple[date, int]]:
    return [(d, h) for d in FULL_DAYS for h in range(24)] + [(PARTIAL_DAY, h) for h in range(12)]


def _energy(muid: str, day: date, hour: int) -> tuple[float, float]:
    """(import, export) kWh of the local hour."""
    if muid == HOUSE:
        return (1.0 if date(2023, 2, 13) <= day <= date(2023, 2, 19) else 0.5), 0.0
    if muid == PV:
        return 0.0, (0.25 if 10 <= hour <= 15 else 0.0)
    return 0.1, 0.0


def _hourly_rows(
    muids: tuple[str, ...], hours: list[tuple[date, int]], energy: Energy
) -> pd.DataFrame:
    rows = []
    for muid in muids:
        for day, hour in hours:
            imp, exp = energy(muid, day, hour)
            high = day.isoweekday() <= 5 and 7 <= hour < 20
            ht, nt = (imp, 0.0) if high else (0.0, imp)
            start = datetime.combine(day, time(hour), tzinfo=ZONE).astimezone(ZoneInfo("UTC"))
            rows.append(
                (
                    muid,
                    start,
                    day,
                    hour,
                    day.isoweekday(),
                    imp,
                    exp,
                    ht,
                    nt,
                    ht * 0.32 + nt * 0.22,
                    exp * 0.10,
                    4,
                )
            )
    return pd.DataFrame(rows)


def _readings(
    muids: tuple[str, ...], hours: list[tuple[date, int]], energy: Energy
) -> pd.DataFrame:
    rows = []
    for muid in muids:
        obis = EXPORT_OBIS if muid == PV else IMPORT_OBIS
        for day, hour in hours:
            kwh = sum(energy(muid, day, hour)) / 4
            start = datetime.combine(day, time(hour), tzinfo=ZONE).astimezone(ZoneInfo("UTC"))
            for quarter in range(4):
                ts = start + timedelta(minutes=15 * quarter)
                rows.append((muid, obis, ts, kwh, "measured", "fixture.json", "etag-1"))
    frame = pd.DataFrame(
        rows, columns=["muid", "obis", "ts", "kwh", "quality", "source_key", "source_etag"]
    )
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


# HOUSE profile: avg import = 100 * weekday + hour, so every cell is recognisable; days per
# weekday differ so that the weekday/weekend averages must be weighted.
PROFILE_DAYS = {1: 4, 2: 3, 3: 3, 4: 3, 5: 3, 6: 3, 7: 4}


def _store_energy(
    conn, muids: tuple[str, ...], hours: list[tuple[date, int]], energy: Energy
) -> None:
    """Readings, hourly and daily energy of the meters' local hours, following `energy`."""
    writes.upsert_readings(conn, SCHEMA, _readings(muids, hours, energy), ZONE.key)
    s = sql.Identifier(SCHEMA)
    with conn.cursor() as cur:
        for row in _hourly_rows(muids, hours, energy).itertuples(index=False):
            cur.execute(
                sql.SQL(
                    "INSERT INTO {}.hourly_energy VALUES (" + ", ".join(["%s"] * 12) + ")"
                ).format(s),
                tuple(row),
            )
        cur.execute(
            sql.SQL(
                """INSERT INTO {s}.daily_energy
                SELECT muid, local_date, sum(import_kwh), sum(export_kwh), sum(ht_kwh),
                    sum(nt_kwh), sum(cost), sum(feed_in_credit), NULL, NULL,
                    sum(intervals), 96, sum(intervals) >= 96
                FROM {s}.hourly_energy WHERE muid = ANY(%s::uuid[]) AND local_date = ANY(%s)
                GROUP BY muid, local_date"""
            ).format(s=s),
            (list(muids), sorted({day for day, _ in hours})),
        )


def fill_demo(url: str, tenant: Tenant) -> None:
    set_up_tenant(url, tenant)
    with database.transaction(url) as conn:
        _store_energy(conn, (HOUSE, PV, SPARE), _hours(), _energy)
        days = {day for day, _ in _hours()}
        community.refresh_community_energy(conn, tenant, community.local_day_spans(ZONE, days))
        s = sql.Identifier(SCHEMA)
        with conn.cursor() as cur:
            for weekday, days in PROFILE_DAYS.items():
                for hour in range(24):
                    cur.execute(
                        sql.SQL(
                            "INSERT INTO {}.weekday_hour_profile VALUES "
                            "(%s, %s, %s, %s, 0, %s, '2023-02-01', '2023-02-28'), "
                            "(%s, %s, %s, 0, %s, 4, '2023-02-01', '2023-02-28')"
                        ).format(s),
                        (
                            HOUSE,
                            weekday,
                            hour,
                            100.0 * weekday + hour,
                            days,
                            PV,
                            weekday,
                            hour,
                            0.25 if 10 <= hour <= 15 else 0.0,
                        ),
                    )
            insights = [
                (2, "tip", "standby", "Your standby use is 0.50 kWh per hour, 12.0 kWh a day."),
                (3, "info", "trend", "You used 100% more in the week of 13 Feb than before."),
                (1, "warning", "high_tariff", "52% of your consumption is in the high tariff."),
            ]
            for rank, severity, kind, message in insights:
                cur.execute(
                    sql.SQL(
                        "INSERT INTO {}.insights (tenant, muid, period_start, period_end, kind, "
                        "value, unit, severity, rank, message) VALUES ('demo', %s, "
                        "'2023-02-01', '2023-02-28', %s, 1, 'kWh', %s, %s, %s)"
                    ).format(s),
                    (HOUSE, kind, severity, rank, message),
                )
            cur.execute(
                sql.SQL(
                    "INSERT INTO {}.ingested_objects VALUES "
                    "('demo/2023-02-19/a.json', 'e1', 1, now(), '2023-02-19', 1, 1, 0, NULL, "
                    "'2023-02-20 08:00+00'), "
                    "('demo/2023-02-28/a.json', 'e2', 1, now(), '2023-02-28', 1, 1, 0, NULL, "
                    "'2023-03-01 06:00+00')"
                ).format(s)
            )


@dataclass(frozen=True)
class DemoDatabase:
    url: str  # the pipeline's (owner) URL
    reader_url: str  # tenant demo's read-only role


@pytest.fixture
def demo_db(warehouse_url: str, registry: Registry) -> DemoDatabase:
    fill_demo(warehouse_url, registry.get("demo"))
    return DemoDatabase(warehouse_url, roles.reader_url(warehouse_url, SCHEMA))


@pytest.fixture
def demo_a_year_on(demo_db: DemoDatabase) -> DemoDatabase:
    """The hand-made tenant with HOUSE's history a year back (A_YEAR_EARLIER_DAYS)."""
    hours = [(day, hour) for day in A_YEAR_EARLIER_DAYS for hour in range(24)]
    with database.transaction(demo_db.url) as conn:
        _store_energy(conn, (HOUSE,), hours, lambda muid, day, hour: (0.4, 0.0))
    return demo_db


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    path = tmp_path / "users.toml"
    path.write_text(f'[users.alice]\nname = "Alice Muster"\npassword_hash = "{hashed}"\n')
    return path


def _pin(
    monkeypatch: pytest.MonkeyPatch, reader_url: str, users_file: Path, tenant_id: str = "demo"
) -> None:
    """Environment of a deployment pinned to a tenant, reading as its reader role."""
    monkeypatch.delenv("EXNATON_DASHBOARD_AUTH", raising=False)
    monkeypatch.setenv("EXNATON_DASHBOARD_TENANT", tenant_id)
    monkeypatch.setenv("EXNATON_DASHBOARD_DATABASE_URL", reader_url)
    monkeypatch.setenv("EXNATON_DASHBOARD_USERS_FILE", str(users_file))


@pytest.fixture
def deployed_env(demo_db: DemoDatabase, users_file: Path, monkeypatch: pytest.MonkeyPatch):
    """The deployment over the hand-made tenant; returns its environment."""
    _pin(monkeypatch, demo_db.reader_url, users_file)
    return dict(os.environ)


@pytest.fixture
def real_sample_reader(february, users_file: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The deployment over the real sample as the real pipeline built it (the session's
    `february` database); returns tenant demo's read-only URL there. The pipeline created the
    role; the URL carries EXNATON_READER_PASSWORD_DEMO if set, else no password (the
    suite's server trusts local connections; test_roles checks passwords on one that does not)."""
    reader_url = roles.reader_url(february.url, SCHEMA)
    _pin(monkeypatch, reader_url, users_file)
    return reader_url


class FakeClock:
    """Seconds that pass only when a test says so (the sign-in throttle's clock)."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def sign_in_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Each test starts with no failed sign-ins, in a record (the app's `throttle.SHARED`)
    whose clock the test moves."""
    clock = FakeClock()
    monkeypatch.setattr(throttle, "SHARED", throttle.SignInThrottle(clock=clock))
    return clock


@pytest.fixture(autouse=True)
def _fresh_streamlit_caches():
    """Each test fills its database anew: nothing cached by an earlier test may show."""
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    yield


# --- a live tenant in the middle of its day --------------------------------------------
#
# Tenant `live` (Europe/Zurich, swiss_dual, opens on its newest day). Its hand-made readings
# run from Mon 6 Feb 2023 00:00 local to Thu 16 Feb ("today") 13:30, the newest reading, so
# today holds 55 quarter hours, up to 13:45. Unlike the tenant above, its hourly and daily
# energy are built by the pipeline's own refresh functions from these readings.
# - AEBI ("Household Aebi") imports per quarter hour 0.04 kWh in the week of 6 Feb, 0.1 on
#   13 - 15 Feb and 0.2 today.
# - BRUNNER ("Household Brunner (PV)") exports per quarter hour 0.1 kWh in the local hours
#   10..15 (0.2 today), nothing otherwise.

AEBI = "50879e7d-9207-40ec-a9dd-e023847532c5"
BRUNNER = "0cd0fb6b-57ff-428b-89f8-cb5e5998ae3b"
LIVE_SCHEMA = "tenant_live"
TODAY = date(2023, 2, 16)
TODAY_QUARTERS = 55  # 00:00 .. 13:30


def _live_readings() -> pd.DataFrame:
    rows = []
    for day in (date(2023, 2, 6) + timedelta(days=n) for n in range(11)):
        midnight = datetime.combine(day, time(), tzinfo=ZONE)
        for quarter in range(TODAY_QUARTERS if day == TODAY else 96):
            ts = (midnight + timedelta(minutes=15 * quarter)).astimezone(ZoneInfo("UTC"))
            house = 0.2 if day == TODAY else 0.1 if day >= date(2023, 2, 13) else 0.04
            sun = (0.2 if day == TODAY else 0.1) if 40 <= quarter < 64 else 0.0
            rows.append((AEBI, IMPORT_OBIS, ts, house))
            rows.append((BRUNNER, EXPORT_OBIS, ts, sun))
    frame = pd.DataFrame(rows, columns=["muid", "obis", "ts", "kwh"])
    return frame.assign(
        ts=pd.to_datetime(frame["ts"], utc=True),
        quality="measured",
        source_key="live.json",
        source_etag="etag-1",
    )


@pytest.fixture
def live_env(
    warehouse_url: str, registry: Registry, users_file: Path, monkeypatch: pytest.MonkeyPatch
) -> dict:
    """A deployment pinned to tenant `live` mid-day (above); returns its environment."""
    tenant = registry.get("live")
    set_up_tenant(warehouse_url, tenant)
    with database.transaction(warehouse_url) as conn:
        writes.upsert_readings(conn, LIVE_SCHEMA, _live_readings(), tenant.timezone)
        analytics.refresh_hourly_energy(conn, tenant)
        analytics.refresh_daily_energy(conn, tenant)
    _pin(monkeypatch, roles.reader_url(warehouse_url, LIVE_SCHEMA), users_file, "live")
    return dict(os.environ)


def remove_live_readings(url: str, tenant: Tenant, muid: str, *local_starts: datetime) -> None:
    """Delete the meter's readings of tenant `live` that start at these local times, then let
    the pipeline's refresh functions recompute the UTC days they fall in."""
    starts = [moment.astimezone(ZoneInfo("UTC")) for moment in local_starts]
    with database.transaction(url) as conn:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("DELETE FROM {}.meter_readings WHERE muid = %s AND ts = ANY(%s)").format(
                    sql.Identifier(LIVE_SCHEMA)
                ),
                (muid, starts),
            )
            assert cur.rowcount == len(starts)
        # what a run with `recompute: true` does for the days of the deleted readings
        for utc_day in sorted({moment.date() for moment in starts}):
            days = analytics.local_days(utc_day, tenant.zone)
            stale.mark_local_days(conn, LIVE_SCHEMA, tenant.timezone, days[0], days[-1])
        analytics.refresh_hourly_energy(conn, tenant)
        analytics.refresh_daily_energy(conn, tenant)

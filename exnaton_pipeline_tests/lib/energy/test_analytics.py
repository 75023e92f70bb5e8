"""Hourly/daily energy and the weekday-hour profile in local time, with hand-computed numbers.

Synthetic import readings of 0.01 * (local hour + 1) kWh per quarter hour make every sum
easy to do by hand: an hour holds 4 quarters, so hour h adds 0.04 * (h + 1) kWh, and a
normal day 0.04 * (1 + ... + 24) = 0.04 * 300 = 12.00 kWh.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from exnaton_pipeline.lib.energy.analytics import local_days
from exnaton_pipeline_tests.builders import IMPORT as IMPORT_OBIS
from exnaton_pipeline_tests.stored_readings import (
    local_quarters,
    readings,
    refresh,
    rows,
    store,
)

ZURICH = ZoneInfo("Europe/Zurich")
NEW_YORK = ZoneInfo("America/New_York")
METER = "11111111-2222-4333-8444-555555555555"

# A Swiss Monday (swiss_dual: high 0.32 Mon-Fri 07:00-20:00, else low 0.22):
# high hours 7..19 hold 0.04 * (8 + ... + 20) = 0.04 * 182 = 7.28 kWh, low the other 4.72.
MONDAY = {"import_kwh": 12.0, "ht_kwh": 7.28, "nt_kwh": 4.72, "cost": 7.28 * 0.32 + 4.72 * 0.22}


def by_hour(ts: datetime) -> float:
    return 0.01 * (ts.astimezone(ZURICH).hour + 1)


def daily(url, tenant) -> dict[date, dict]:
    return {r["day"]: r for r in rows(url, tenant, "SELECT * FROM {s}.daily_energy ORDER BY day")}


def hourly(url, tenant, day: date) -> list[dict]:
    return rows(
        url,
        tenant,
        "SELECT * FROM {s}.hourly_energy WHERE local_date = %s ORDER BY hour_start",
        (day,),
    )


def assert_energy(row: dict, expected: dict) -> None:
    for column, value in expected.items():
        assert row[column] == pytest.approx(value, abs=1e-9), column


@pytest.mark.parametrize(
    ("utc_day", "zone", "expected"),
    [
        (date(2023, 2, 1), ZURICH, [date(2023, 2, 1), date(2023, 2, 2)]),  # UTC+1
        (date(2023, 2, 6), NEW_YORK, [date(2023, 2, 5), date(2023, 2, 6)]),  # UTC-5
        (date(2023, 3, 26), ZURICH, [date(2023, 3, 26), date(2023, 3, 27)]),  # 23-hour day
        (date(2023, 2, 6), ZoneInfo("UTC"), [date(2023, 2, 6)]),
    ],
)
def test_a_utc_day_touches_these_local_days(utc_day, zone, expected):
    assert local_days(utc_day, zone) == expected


def test_spring_dst_day_has_23_hours_and_92_intervals(warehouse_url, registry):
    tenant = registry.get("alpine")
    quarters = local_quarters(ZURICH, date(2023, 3, 26), date(2023, 3, 27))
    assert len(quarters) == 92 + 96
    store(warehouse_url, tenant, readings(METER, IMPORT_OBIS, quarters, by_hour))

    # The stored readings queued the hours of both local days; the refresh takes them all.
    (done,) = refresh(warehouse_url, tenant)
    assert done.local_days == [date(2023, 3, 26), date(2023, 3, 27)]

    sunday = hourly(warehouse_url, tenant, date(2023, 3, 26))
    assert len(sunday) == 23
    assert [r["local_hour"] for r in sunday] == [0, 1, *range(3, 24)]
    # 01:00 CET is 00:00 UTC, the next local hour 03:00 CEST is 01:00 UTC
    assert [r["hour_start"] for r in sunday[1:3]] == [
        datetime(2023, 3, 26, 0, tzinfo=UTC),
        datetime(2023, 3, 26, 1, tzinfo=UTC),
    ]
    assert all(r["intervals"] == 4 and r["iso_weekday"] == 7 for r in sunday)
    assert sunday[-1]["import_kwh"] == pytest.approx(0.96)  # hour 23: 4 * 0.24
    assert len(hourly(warehouse_url, tenant, date(2023, 3, 27))) == 24

    days = daily(warehouse_url, tenant)
    assert list(days) == [date(2023, 3, 26), date(2023, 3, 27)]
    sun = days[date(2023, 3, 26)]
    # Sunday: all low tariff; 0.04 * (300 - 3) without the missing hour 2
    assert_energy(
        sun,
        {"import_kwh": 11.88, "ht_kwh": 0.0, "nt_kwh": 11.88, "cost": 11.88 * 0.22},
    )
    assert (sun["intervals"], sun["expected_intervals"], sun["complete"]) == (92, 92, True)
    # largest quarter: 0.24 kWh from 23:00 CEST = 21:00 UTC, the first of four equal ones
    assert sun["peak_kw"] == pytest.approx(0.96)
    assert sun["peak_at"] == datetime(2023, 3, 26, 21, tzinfo=UTC)
    mon = days[date(2023, 3, 27)]
    assert_energy(mon, MONDAY)
    assert (mon["intervals"], mon["expected_intervals"], mon["complete"]) == (96, 96, True)


def test_autumn_dst_day_has_25_hours_and_100_intervals(warehouse_url, registry):
    tenant = registry.get("alpine")
    quarters = local_quarters(ZURICH, date(2023, 10, 29), date(2023, 10, 30))
    store(warehouse_url, tenant, readings(METER, IMPORT_OBIS, quarters, by_hour))
    refresh(warehouse_url, tenant)

    sunday = hourly(warehouse_url, tenant, date(2023, 10, 29))
    assert len(sunday) == 25
    twice = [r for r in sunday if r["local_hour"] == 2]
    # 02:00 CEST = 00:00 UTC and 02:00 CET = 01:00 UTC stay two rows of 0.12 kWh
    assert [r["hour_start"] for r in twice] == [
        datetime(2023, 10, 29, 0, tzinfo=UTC),
        datetime(2023, 10, 29, 1, tzinfo=UTC),
    ]
    assert [r["import_kwh"] for r in twice] == pytest.approx([0.12, 0.12])

    days = daily(warehouse_url, tenant)
    sun = days[date(2023, 10, 29)]
    assert_energy(
        sun,
        {"import_kwh": 12.12, "ht_kwh": 0.0, "nt_kwh": 12.12, "cost": 12.12 * 0.22},
    )
    assert (sun["intervals"], sun["expected_intervals"], sun["complete"]) == (100, 100, True)
    assert sun["peak_at"] == datetime(2023, 10, 29, 22, tzinfo=UTC)  # 23:00 CET
    assert_energy(days[date(2023, 10, 30)], MONDAY)


def test_new_york_tenant_gets_its_local_days_and_bands(warehouse_url, registry):
    """us_peak: high 0.30 USD Mon-Fri 16:00-21:00, else low 0.12; New York is UTC-5 in Feb."""
    tenant = registry.get("nyc-coop")
    # 0.1 kWh every quarter of UTC Monday 2023-02-06 = local Sun 19:00 .. Mon 18:45
    quarters = local_quarters(ZoneInfo("UTC"), date(2023, 2, 6), date(2023, 2, 6))
    store(warehouse_url, tenant, readings(METER, IMPORT_OBIS, quarters, lambda ts: 0.1))
    refresh(warehouse_url, tenant)

    days = daily(warehouse_url, tenant)
    assert list(days) == [date(2023, 2, 5), date(2023, 2, 6)]  # Feb 7: no readings, no row
    sun, mon = days[date(2023, 2, 5)], days[date(2023, 2, 6)]
    # Sunday 19:00-23:45: 20 quarters, all low
    assert_energy(sun, {"import_kwh": 2.0, "ht_kwh": 0.0, "nt_kwh": 2.0, "cost": 2.0 * 0.12})
    assert (sun["intervals"], sun["expected_intervals"], sun["complete"]) == (20, 96, False)
    # Monday 00:00-18:45: 76 quarters, of which 16:00-18:45 (12) high
    assert_energy(
        mon, {"import_kwh": 7.6, "ht_kwh": 1.2, "nt_kwh": 6.4, "cost": 1.2 * 0.30 + 6.4 * 0.12}
    )
    assert (mon["intervals"], mon["complete"]) == (76, False)
    assert mon["peak_at"] == datetime(2023, 2, 6, 5, tzinfo=UTC)  # local midnight

    # Incomplete days are stored as measured: no padded hours around the readings.
    assert [r["local_hour"] for r in hourly(warehouse_url, tenant, date(2023, 2, 5))] == [
        19,
        20,
        21,
        22,
        23,
    ]
    monday_hours = hourly(warehouse_url, tenant, date(2023, 2, 6))
    assert [r["local_hour"] for r in monday_hours if r["ht_kwh"] > 0] == [16, 17, 18]


def test_recomputing_partitions_changes_nothing(warehouse_url, registry):
    tenant = registry.get("alpine")
    quarters = local_quarters(ZURICH, date(2023, 3, 25), date(2023, 3, 28))
    store(warehouse_url, tenant, readings(METER, IMPORT_OBIS, quarters, by_hour))
    refresh(warehouse_url, tenant)
    query = "SELECT * FROM {s}.%s ORDER BY 1, 2"
    tables = ["hourly_energy", "daily_energy"]
    before = {t: rows(warehouse_url, tenant, query.replace("%s", t)) for t in tables}
    assert len(before["daily_energy"]) == 4

    refresh(warehouse_url, tenant, [date(2023, 3, 26), date(2023, 3, 25), date(2023, 3, 26)])

    assert {t: rows(warehouse_url, tenant, query.replace("%s", t)) for t in tables} == before


def test_a_corrected_reading_reaches_both_local_days_tables(warehouse_url, registry):
    tenant = registry.get("alpine")
    quarters = local_quarters(ZURICH, date(2023, 3, 27), date(2023, 3, 27))
    store(warehouse_url, tenant, readings(METER, IMPORT_OBIS, quarters, by_hour))
    refresh(warehouse_url, tenant)
    # correct the 07:00 CEST quarter (05:00 UTC, high tariff) from 0.08 to 1.08 kWh
    store(
        warehouse_url,
        tenant,
        readings(METER, IMPORT_OBIS, [datetime(2023, 3, 27, 5, tzinfo=UTC)], lambda ts: 1.08),
    )
    (done,) = refresh(warehouse_url, tenant)  # only the corrected hour, queued by the upsert
    assert (done.keys, done.rows_deleted, done.rows_written) == (1, 1, 1)
    mon = daily(warehouse_url, tenant)[date(2023, 3, 27)]
    assert_energy(mon, {"import_kwh": 13.0, "ht_kwh": 8.28, "nt_kwh": 4.72, "peak_kw": 4.32})


def test_weekday_hour_profile_averages_local_hours_over_the_trailing_window(
    warehouse_url, registry
):
    from exnaton_pipeline.lib.energy import analytics
    from exnaton_pipeline.lib.warehouse import database

    tenant = registry.get("alpine")
    # autumn Sunday (25 hours) and the Monday after, plus a reading 40 days earlier that
    # lies outside the trailing 28-day window
    quarters = local_quarters(ZURICH, date(2023, 10, 29), date(2023, 10, 30))
    old = local_quarters(ZURICH, date(2023, 9, 20), date(2023, 9, 20))
    store(
        warehouse_url,
        tenant,
        readings(METER, IMPORT_OBIS, quarters, by_hour),
        readings(METER, IMPORT_OBIS, old, lambda ts: 5.0),
    )
    refresh(warehouse_url, tenant)
    with database.transaction(warehouse_url) as conn:
        result = analytics.refresh_weekday_hour_profile(conn, tenant)
    assert [(w.start, w.end) for w in result.windows] == [(date(2023, 10, 3), date(2023, 10, 30))]

    profile = rows(warehouse_url, tenant, "SELECT * FROM {s}.weekday_hour_profile ORDER BY 2, 3")
    assert len(profile) == 48  # Monday and Sunday, 24 local hours each; September left out
    assert {r["weekday"] for r in profile} == {1, 7}
    cell = {(r["weekday"], r["hour"]): r for r in profile}
    # the two 02:00 hours of the autumn Sunday add up to one day's hour: 0.12 + 0.12
    assert cell[(7, 2)]["avg_import_kwh"] == pytest.approx(0.24)
    assert cell[(7, 2)]["days"] == 1
    assert cell[(1, 19)]["avg_import_kwh"] == pytest.approx(0.80)
    assert cell[(1, 19)]["window_start"] == date(2023, 10, 3)

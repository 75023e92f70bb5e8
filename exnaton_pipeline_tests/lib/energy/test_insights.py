"""Insights: the statistics on small hand-made inputs, then a synthetic month end to end.

The month (tenant `valley`, Europe/Zurich, swiss_dual, 1-28 May 2023, Monday to Sunday):
- A (Farm consumption, installation farm): 0.05 kWh every quarter hour; Mon-Fri 08:00-09:00
  +0.45 (0.5 kWh = 2 kW); Wednesday 17 May 12:00-14:00 another +1.0 (1.05 kWh = 4.2 kW).
  Weekend day 96 * 0.05 = 4.8 kWh, weekday 4.8 + 4 * 0.45 = 6.6, 17 May 6.6 + 8 = 14.6.
  Month: 8 * 4.8 + 19 * 6.6 + 14.6 = 178.4 kWh. High tariff (Mon-Fri 07:00-20:00, 52
  quarters): weekday 52 * 0.05 + 1.8 = 4.4, 17 May 12.4; month 19 * 4.4 + 12.4 = 96.0.
- B (Farm solar feed-in, installation farm): export 0.1 kWh per quarter 10:00-14:00 local,
  0.15 from 12:00 to 13:00, zero otherwise: 12 * 0.1 + 4 * 0.15 = 1.8 kWh a day. No
  readings on Saturday 20 May, none 00:00-02:00 on 21 May. Month: 27 * 1.8 = 48.6 kWh.
- C (not in the registry) carries import and export under one muid, 22-28 May only: import
  0.1 every quarter (9.6 kWh a day), export 0.05 per quarter 10:00-14:00 (0.8 a day).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from exnaton_pipeline.lib.energy import analytics, insights
from exnaton_pipeline.lib.energy.insights import base_load_kw, lagged_correlation, unusual_days
from exnaton_pipeline.lib.warehouse import database
from exnaton_pipeline_tests.builders import EXPORT as EXPORT_OBIS
from exnaton_pipeline_tests.builders import IMPORT as IMPORT_OBIS
from exnaton_pipeline_tests.stored_readings import (
    local_quarters,
    readings,
    refresh,
    rows,
    store,
)

ZURICH = ZoneInfo("Europe/Zurich")
A = "aaaaaaaa-0000-4000-8000-000000000001"
B = "aaaaaaaa-0000-4000-8000-000000000002"
C = "cccccccc-0000-4000-8000-000000000003"
MEAN_SWISS_RATE = (65 * 0.32 + 103 * 0.22) / 168  # 65 of the week's 168 hours are high


# ---------------------------------------------------------------- pure statistics


def test_lagged_correlation_by_hand():
    series = pd.Series([1.0, 2, 3, 4, 1, 2, 3, 4])
    assert lagged_correlation(series, 4) == pytest.approx(1.0)
    # lag 2 pairs (1,3) (2,4) (3,1) (4,2) (1,3) (2,4): sum dx*dy = -138/36,
    # sum dx^2 = sum dy^2 = 246/36, so r = -138/246
    assert lagged_correlation(series, 2) == pytest.approx(-138 / 246)


def test_lagged_correlation_skips_missing_pairs_and_refuses_too_little():
    series = pd.Series([1.0, 2, np.nan, 4, 1, 2, 3, 4, 1, 2])
    # lag 4 pairs: (1,1) (2,2) (4,4) (1,1) (2,2) (3,3); the pair with the gap is left out
    assert lagged_correlation(series, 4) == pytest.approx(1.0)
    assert lagged_correlation(pd.Series([1.0, 2, 3]), 4) is None
    constant = pd.Series([0.1] * 200)  # its float std is 2.8e-17, not 0
    assert lagged_correlation(constant, 96) is None


def test_unusual_days_use_a_median_baseline_per_weekday():
    wednesdays = [date(2023, 5, 3), date(2023, 5, 10), date(2023, 5, 17), date(2023, 5, 24)]
    thursdays = [date(2023, 5, 4), date(2023, 5, 11), date(2023, 5, 18), date(2023, 5, 25)]
    days = pd.DataFrame(
        {
            "day": [*wednesdays, *thursdays, date(2023, 5, 5), date(2023, 5, 12)],
            # Wed: median 2.3, |deviations| 0.3 0.1 0.1 3.7 -> MAD 0.2;
            #      6.0 -> 0.6745 * 3.7 / 0.2 = 12.48 (unusual), 2.0 -> -1.01 (usual)
            # Thu: MAD 0, 1.1 is off, but only 10 % of the median: not unusual
            # Fri: two days only, no baseline, even though 9.0 is far from 1.0
            "kwh": [2.0, 2.2, 6.0, 2.4, 1.0, 1.0, 1.1, 1.0, 1.0, 9.0],
        }
    )
    found = unusual_days(days)
    assert found["day"].tolist() == [date(2023, 5, 17)]
    assert found["usual"].tolist() == [pytest.approx(2.3)]
    assert found["z"].tolist() == [pytest.approx(0.6745 * 3.7 / 0.2)]


def test_base_load_is_the_median_of_daily_minima():
    # three local days (UTC+2 in May) whose smallest quarters are 0.03, 0.05 and 0.04 kWh
    frame = pd.DataFrame(
        {
            "ts": pd.to_datetime(
                [
                    "2023-05-01T00:00Z",
                    "2023-05-01T10:00Z",
                    "2023-05-02T01:00Z",
                    "2023-05-02T21:45Z",  # 23:45 local on 2 May
                    "2023-05-02T22:00Z",  # 00:00 local on 3 May
                    "2023-05-03T12:00Z",
                ],
                utc=True,
            ),
            "kwh": [0.03, 0.5, 0.05, 0.2, 0.04, 0.3],
        }
    )
    days = {date(2023, 5, 1), date(2023, 5, 2), date(2023, 5, 3)}
    assert base_load_kw(frame, ZURICH, days) == pytest.approx(0.04 * 4)
    assert base_load_kw(frame, ZURICH, {date(2023, 5, 2)}) == pytest.approx(0.05 * 4)


def test_group_sums_add_up_each_run_as_numpy_adds_it_alone():
    # four-decimal readings, as meters send them; runs of every length up to 300, some empty
    rng = np.random.default_rng(7)
    lengths = rng.integers(0, 300, 200)
    values = rng.gamma(0.6, 0.06, lengths.sum()).round(4)
    bounds = np.r_[0, np.cumsum(lengths)]
    expected = [values[a:b].sum() for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    assert insights.group_sums(values, bounds).tolist() == expected  # to the last bit
    # the order matters: these 16 add up to 8.23 pairwise (numpy), to 8.229999999999999 one
    # after the other (a running sum)
    run = [0.78, 0.29, 0.32, 0.65, 0.65, 0.69, 0.87, 0.29, 0.93, 0.01, 0.08, 0.97, 0.94, 0.3]
    run += [0.14, 0.32]
    assert insights.group_sums(np.array(run), np.array([0, 16])).tolist() == [8.23]
    assert sum(run) == 8.229999999999999


def test_tariff_plan_words_and_mean_rate(registry):
    plan = registry.get("demo").tariff
    assert plan.describe_band("high") == "Mon-Fri 07:00-20:00"
    assert plan.describe_band("low") == "at all other times"
    assert plan.mean_rate() == pytest.approx(MEAN_SWISS_RATE)


# ---------------------------------------------------------------- a synthetic month


def farm_a(ts: datetime) -> float:
    local = ts.astimezone(ZURICH)
    kwh = 0.05
    if local.isoweekday() <= 5 and local.hour == 8:
        kwh += 0.45
    if local.date() == date(2023, 5, 17) and local.hour in (12, 13):
        kwh += 1.0
    return kwh


def farm_b(ts: datetime) -> float | None:
    local = ts.astimezone(ZURICH)
    if local.date() == date(2023, 5, 20) or (local.date() == date(2023, 5, 21) and local.hour < 2):
        return None
    if local.hour == 12:
        return 0.15
    return 0.1 if 10 <= local.hour < 14 else 0.0


def meter_c_export(ts: datetime) -> float:
    return 0.05 if 10 <= ts.astimezone(ZURICH).hour < 14 else 0.0


@pytest.fixture
def month(warehouse_url, registry):
    tenant = registry.get("valley")
    may = local_quarters(ZURICH, date(2023, 5, 1), date(2023, 5, 28))
    last_week = local_quarters(ZURICH, date(2023, 5, 22), date(2023, 5, 28))
    store(
        warehouse_url,
        tenant,
        readings(A, IMPORT_OBIS, may, farm_a),
        readings(B, EXPORT_OBIS, may, farm_b),
        readings(C, IMPORT_OBIS, last_week, lambda ts: 0.1),
        readings(C, EXPORT_OBIS, last_week, meter_c_export),
    )
    refresh(warehouse_url, tenant)
    with database.transaction(warehouse_url) as conn:
        insights.refresh_insights(conn, tenant)
    found = rows(warehouse_url, tenant, "SELECT * FROM {s}.insights ORDER BY muid, rank")
    return tenant, {(str(r["muid"]), r["kind"]): r for r in found}


def test_consumption_insights_by_hand(month):
    _, found = month
    a = {kind: row for (muid, kind), row in found.items() if muid == A}
    assert all(r["period_start"] == date(2023, 5, 1) for r in a.values())
    assert all(r["period_end"] == date(2023, 5, 28) for r in a.values())

    base = a["base_load"]
    yearly_kwh = 0.2 * 8760  # 0.05 kWh per quarter = 0.2 kW
    assert base["value"] == pytest.approx(0.2)
    assert base["severity"] == "tip"  # 0.2 kW * 672 h = 134.4 of 178.4 kWh: 75 %
    assert "0.200 kW (200 W)" in base["message"]
    assert f"{yearly_kwh:,.0f} kWh a year" in base["message"]  # 1,752
    assert f"{yearly_kwh * MEAN_SWISS_RATE:,.2f} CHF" in base["message"]  # 453.23
    assert "75% of what you use" in base["message"]

    peak = a["peak_demand"]
    assert peak["value"] == pytest.approx(4.2)
    assert "Wednesday 17 May 2023 in the quarter hour from 12:00" in peak["message"]
    # 19 ordinary weekdays peak at 08:00, 8 weekend days at midnight, 17 May at noon
    assert "most often between 08:00 and 09:00 (19 of 28 days)" in peak["message"]

    high = a["high_tariff_share"]
    assert high["value"] == pytest.approx(96.0 / 178.4 * 100)
    assert "54% of your consumption (96.00 of 178.40 kWh)" in high["message"]
    assert "Mon-Fri 07:00-20:00" in high["message"]
    # 20 % of 96 kWh moved saves 0.10 CHF/kWh over 28 days: 1.92 CHF, 2.06 per 30 days
    assert "save about 2.06 CHF a month" in high["message"]
    assert high["severity"] == "tip"

    week = a["weekday_weekend"]
    # weekdays (19 * 6.6 + 14.6) / 20 = 7.0 kWh, weekend days 4.8: 31 % less
    assert week["value"] == pytest.approx((4.8 / 7.0 - 1) * 100)
    assert "weekdays you use 7.00 kWh a day" in week["message"]
    assert "at weekends 4.80 kWh: 31% less at weekends" in week["message"]

    odd = a["unusual_days"]
    assert (odd["value"], odd["severity"], odd["rank"]) == (1, "warning", 1)
    assert (
        "Wednesday 17 May 2023 used 14.60 kWh where a usual Wednesday uses 6.60 kWh (+121%)"
        in odd["message"]
    )

    assert a["data_quality"]["value"] == 0
    assert "All 28 days from 1 May 2023 to 28 May 2023" in a["data_quality"]["message"]
    assert [kind for kind, _ in sorted(a.items(), key=lambda item: item[1]["rank"])] == [
        "unusual_days",
        "high_tariff_share",
        "base_load",
        "peak_demand",
        "self_sufficiency",
        "weekday_weekend",
        "daily_repetition",
        "weekly_repetition",
        "data_quality",
    ]


def test_feed_in_and_installation_insights_by_hand(month):
    _, found = month
    b = {kind: row for (muid, kind), row in found.items() if muid == B}

    feed = b["feed_in"]
    assert feed["value"] == pytest.approx(48.6)
    assert "fed 48.60 kWh into the grid from 1 May 2023 to 28 May 2023" in feed["message"]
    assert "worth 4.86 CHF at the feed-in rate of 0.10 CHF/kWh" in feed["message"]
    assert "between 12:00 and 13:00" in feed["message"]

    # Same quarter hours: min(import, export) is 0.05 for each of the 16 export quarters
    # (0.8 kWh a day) on 26 days with B readings, and 8 * 0.05 + 4 * 0.15 + 4 * 0.1 = 1.4
    # on 17 May: 22.2 kWh. Export 48.6; import where B has readings 178.4 - 4.8 - 8 * 0.05.
    own = b["self_consumption"]
    assert own["value"] == pytest.approx(22.2 / 48.6 * 100)
    assert "installation 'farm'" in own["message"]
    assert "22.20 of 48.60 kWh" in own["message"]
    sufficiency = found[(A, "self_sufficiency")]
    assert sufficiency["value"] == pytest.approx(22.2 / 173.2 * 100)
    assert "13% of your grid consumption" in sufficiency["message"]

    # every day has the same feed-in pattern where measured
    assert b["daily_repetition"]["value"] == pytest.approx(1.0)
    assert b["weekly_repetition"]["value"] == pytest.approx(1.0)
    assert "strong daily rhythm" in b["daily_repetition"]["message"]

    quality = b["data_quality"]
    assert (quality["value"], quality["severity"]) == (2, "warning")
    assert "20 May 2023 (no readings); 21 May 2023 (88 of 96 quarter hours)" in quality["message"]
    assert {"base_load", "peak_demand", "high_tariff_share"}.isdisjoint(b)


def test_one_muid_with_import_and_export_is_its_own_installation(month):
    _, found = month
    c = {kind: row for (muid, kind), row in found.items() if muid == C}
    assert all(r["period_start"] == date(2023, 5, 22) for r in c.values())
    # 0.05 of 0.1 import in each of 16 export quarters: 0.8 kWh a day for 7 days
    assert c["self_consumption"]["value"] == pytest.approx(100.0)
    assert c["self_sufficiency"]["value"] == pytest.approx(5.6 / 67.2 * 100)
    assert "this meter" in c["self_sufficiency"]["message"]
    assert "about the same" in c["weekday_weekend"]["message"]
    assert "unusual_days" not in c  # one day per weekday is no baseline
    assert "daily_repetition" not in c  # a constant import has no rhythm to correlate


def test_messages_are_sentences_and_never_say_reactive(month):
    _, found = month
    # all three meters have insights, A the nine kinds listed in test_consumption_insights
    assert {muid for muid, _ in found} == {A, B, C}
    assert sum(muid == A for muid, _ in found) == 9
    for row in found.values():
        assert row["message"].endswith(".")
        assert any(ch.isdigit() for ch in row["message"])
        assert "reactive" not in row["message"].lower()
        assert row["tenant"] == "valley"


def test_unchanged_insights_keep_their_timestamp_and_stale_ones_go(month, warehouse_url):
    tenant, found = month
    with database.transaction(warehouse_url) as conn:
        insights.refresh_insights(conn, tenant)
    again = rows(warehouse_url, tenant, "SELECT * FROM {s}.insights ORDER BY muid, rank")
    assert {(str(r["muid"]), r["kind"]): r for r in again} == found

    # the windows move on: a reading on 30 June leaves A's May outside its 28 days
    later = datetime(2023, 6, 30, 10, tzinfo=UTC)
    store(warehouse_url, tenant, readings(A, IMPORT_OBIS, [later], lambda ts: 0.05))
    refresh(warehouse_url, tenant)
    with database.transaction(warehouse_url) as conn:
        assert analytics.meter_windows(conn, tenant.schema)[0].start == date(2023, 6, 3)
        insights.refresh_insights(conn, tenant)
    a = rows(warehouse_url, tenant, "SELECT kind, value FROM {s}.insights WHERE muid = %s", (A,))
    kinds = {r["kind"]: r["value"] for r in a}
    assert "unusual_days" not in kinds and "self_sufficiency" not in kinds
    assert kinds["data_quality"] == 1  # 30 June: 1 of 96 quarter hours
    assert kinds["peak_demand"] == pytest.approx(0.2)

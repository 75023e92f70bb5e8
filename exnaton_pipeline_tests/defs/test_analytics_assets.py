"""The analytics assets on the real sample: tenant demo, all 28 February partitions.

Expected figures were verified independently of this code (see the issue): for the import
meter HT 35.9763 kWh, NT 61.6319 kWh and cost 25.0714 CHF over the whole file; the export
meter totals 36.19725 kWh; local days run from 2023-02-01 (92 of 96 quarter hours: the data
starts at 01:00 local) to 2023-03-01 (4 quarter hours: the data ends at 00:45 local).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from psycopg2 import sql

from exnaton_pipeline.lib.warehouse import database
from exnaton_pipeline_tests.conftest import materialize_days, materialize_per_day

IMPORT_METER = "95ce3367-cbce-4a4d-bbe3-da082831d7bd"
EXPORT_METER = "1db7649e-9342-4e04-97c7-f0ebb88ed1f8"
TABLES = {
    "hourly_energy": "muid, hour_start",
    "daily_energy": "muid, day",
    "weekday_hour_profile": "muid, weekday, hour",
    "insights": "muid, kind",
    "community_energy": "ts",
}


def query(url: str, text: str, params: tuple = ()) -> list[tuple]:
    with database.transaction(url) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL(text).format(s=sql.Identifier("tenant_demo")), params)
        return cur.fetchall()


def snapshot(url: str) -> dict[str, list[tuple]]:
    return {
        table: query(url, f"SELECT * FROM {{s}}.{table} ORDER BY {key}")
        for table, key in TABLES.items()
    }


@pytest.mark.parametrize(
    ("asset", "upstream", "kinds", "per_day"),
    [
        ("hourly_energy", {"meter_readings"}, {"postgres"}, False),
        ("daily_energy", {"hourly_energy"}, {"postgres"}, False),
        ("weekday_hour_profile", {"hourly_energy"}, {"postgres"}, True),
        ("insights", {"daily_energy", "meter_readings"}, {"postgres", "pandas"}, True),
        ("community_energy", {"meter_readings"}, {"postgres"}, False),
    ],
)
def test_assets_are_declared_for_the_catalog(asset, upstream, kinds, per_day):
    import dagster as dg

    from exnaton_pipeline.definitions import defs
    from exnaton_pipeline.orchestration.freshness import DAY_FRESHNESS, TICK_FRESHNESS
    from exnaton_pipeline.orchestration.partitions import tenant_days, tenant_partitions

    node = defs.resolve_asset_graph().get(dg.AssetKey(asset))
    assert {key.to_user_string() for key in node.parent_keys} == upstream
    assert (node.group_name, node.owners, node.kinds) == (
        "analytics",
        ["team:data-platform"],
        kinds,
    )
    # the tick's assets per tenant-day; the 28-day windows per tenant, once a day
    assert node.partitions_def == (tenant_partitions if per_day else tenant_days)
    assert node.freshness_policy == (DAY_FRESHNESS if per_day else TICK_FRESHNESS)
    assert "Fresh: within " in node.description


def test_the_tick_and_the_per_day_work_are_two_jobs():
    from exnaton_pipeline.definitions import defs

    def assets(job: str) -> set[str]:
        keys = defs.resolve_job_def(job).asset_layer.executable_asset_keys
        return {key.to_user_string() for key in keys}

    assert assets("meter_data_job") == {
        "tenant_schema",
        "raw_meter_readings",
        "meter_readings",
        "hourly_energy",
        "community_energy",
        "daily_energy",
    }
    assert assets("insights_job") == {"weekday_hour_profile", "insights"}


def test_every_partition_succeeds(february):
    assert len(february.results) == 28
    assert all(result.success for result in february.results)


@pytest.mark.parametrize("table", ["daily_energy", "hourly_energy"])
def test_import_meter_reproduces_the_verified_tariff_split(february, table):
    ((imported, ht, nt, cost, exported),) = query(
        february.url,
        f"SELECT sum(import_kwh), sum(ht_kwh), sum(nt_kwh), sum(cost), sum(export_kwh) "
        f"FROM {{s}}.{table} WHERE muid = %s",
        (IMPORT_METER,),
    )
    assert ht == pytest.approx(35.9763, abs=5e-5)
    assert nt == pytest.approx(61.6319, abs=5e-5)
    assert cost == pytest.approx(25.0714, abs=5e-5)
    assert imported == pytest.approx(97.6082, abs=5e-5)
    assert exported == 0


@pytest.mark.parametrize("table", ["daily_energy", "hourly_energy"])
def test_export_meter_total_and_credit(february, table):
    ((exported, credit, imported),) = query(
        february.url,
        f"SELECT sum(export_kwh), sum(feed_in_credit), sum(import_kwh) FROM {{s}}.{table} "
        f"WHERE muid = %s",
        (EXPORT_METER,),
    )
    assert exported == pytest.approx(36.19725, abs=1e-9)
    assert credit == pytest.approx(3.619725, abs=1e-9)  # at 0.10 CHF/kWh
    assert imported == 0


@pytest.mark.parametrize("muid", [IMPORT_METER, EXPORT_METER])
def test_local_days_run_from_first_to_first_of_march(february, muid):
    days = query(
        february.url,
        "SELECT day, intervals, expected_intervals, complete FROM {s}.daily_energy "
        "WHERE muid = %s ORDER BY day",
        (muid,),
    )
    assert len(days) == 29
    assert days[0] == (date(2023, 2, 1), 92, 96, False)
    assert days[-1] == (date(2023, 3, 1), 4, 96, False)
    assert all(row[1:] == (96, 96, True) for row in days[1:-1])
    hours = query(
        february.url,
        "SELECT local_date, count(*), sum(intervals) FROM {s}.hourly_energy WHERE muid = %s "
        "GROUP BY 1 ORDER BY 1",
        (muid,),
    )
    assert hours[0] == (date(2023, 2, 1), 23, 92)  # 01:00 .. 23:45 local
    assert hours[-1] == (date(2023, 3, 1), 1, 4)  # 00:00 .. 00:45 local


def test_peak_is_the_largest_quarter_hour_in_kw(february):
    # the largest import value in the file is 0.9612 kWh in a quarter hour: 3.8448 kW
    ((peak, at),) = query(
        february.url,
        "SELECT peak_kw, peak_at FROM {s}.daily_energy WHERE muid = %s "
        "ORDER BY peak_kw DESC LIMIT 1",
        (IMPORT_METER,),
    )
    assert peak == pytest.approx(3.8448)
    ((kwh,),) = query(
        february.url,
        "SELECT kwh FROM {s}.meter_readings WHERE muid = %s AND ts = %s",
        (IMPORT_METER, at),
    )
    assert kwh == pytest.approx(0.9612)


def test_profile_covers_each_meters_trailing_window(february):
    rows = query(
        february.url,
        "SELECT muid::text, count(*), min(window_start), max(window_end), "
        "sum(avg_export_kwh) FILTER (WHERE hour < 7 OR hour > 18) "
        "FROM {s}.weekday_hour_profile GROUP BY 1 ORDER BY 1",
    )
    assert rows == [
        (EXPORT_METER, 168, date(2023, 2, 2), date(2023, 3, 1), 0.0),  # no feed-in at night
        (IMPORT_METER, 168, date(2023, 2, 2), date(2023, 3, 1), 0.0),
    ]
    # Monday 12:00-13:00 averaged over the window's four Mondays, from the hourly table
    ((average, days),) = query(
        february.url,
        "SELECT avg_import_kwh, days FROM {s}.weekday_hour_profile "
        "WHERE muid = %s AND weekday = 1 AND hour = 12",
        (IMPORT_METER,),
    )
    assert days == 4
    # from the raw import file (json + math.fsum, not this code): the 16 quarter hours of
    # 12:00-13:00 local on 6, 13, 20 and 27 Feb sum to 0.5714 kWh, / 4 Mondays = 0.14285
    assert average == pytest.approx(0.14285, abs=1e-9)


def insights_of(url: str, muid: str) -> dict[str, tuple]:
    found = query(
        url,
        "SELECT kind, value, unit, severity, message, period_start, period_end, rank, tenant "
        "FROM {s}.insights WHERE muid = %s",
        (muid,),
    )
    return {row[0]: row[1:] for row in found}


def test_insights_for_the_import_meter_match_the_aggregates(february):
    found = insights_of(february.url, IMPORT_METER)
    assert {
        "base_load",
        "peak_demand",
        "high_tariff_share",
        "weekday_weekend",
        "unusual_days",
        "daily_repetition",
        "weekly_repetition",
        "self_sufficiency",
        "data_quality",
    } <= set(found)
    for *_, message, start, end, _, tenant in found.values():
        assert (start, end, tenant) == (date(2023, 2, 2), date(2023, 3, 1), "demo")
        assert message.endswith(".") and any(ch.isdigit() for ch in message)
        assert "reactive" not in message.lower()
    assert sorted(row[6] for row in found.values()) == list(range(1, len(found) + 1))

    peak = found["peak_demand"]
    assert peak[0] == pytest.approx(3.8448)
    assert "3.84 kW, on Monday 20 February 2023" in peak[3]

    # Summed from the raw import file (json + math.fsum, not this code) over the window's
    # local days 2 Feb - 1 Mar (2596 quarter hours): 95.7783 kWh, of it 34.7694 kWh in the
    # high tariff (Mon-Fri 07:00-20:00 Zurich): 36.30 %
    share = found["high_tariff_share"]
    assert share[0] == pytest.approx(34.7694 / 95.7783 * 100, abs=1e-6)
    assert "(34.77 of 95.78 kWh)" in share[3]
    # the window holds 27 full days and 4 quarter hours of 1 March: 2596 / 96 days;
    # 0.2 * 34.7694 * (0.32 - 0.22) * 30 / (2596 / 96) = 0.7715 CHF
    assert "save about 0.77 CHF a month" in share[3]

    # the quietest quarter hour of a typical day is 0.0115 kWh: 0.046 kW
    assert found["base_load"][0] == pytest.approx(0.046)
    assert "0.046 kW (46 W)" in found["base_load"][3]

    # Wednesday 8 February used 4.8080 kWh; the other complete Wednesdays 2.2698 and 2.5825
    assert found["unusual_days"][0] == 1
    assert "Wednesday 8 February 2023 used 4.81 kWh" in found["unusual_days"][3]
    assert "usual Wednesday uses 2.58 kWh" in found["unusual_days"][3]

    assert found["data_quality"][0] == 1
    assert "1 March 2023 (4 of 96 quarter hours)" in found["data_quality"][3]


def test_insights_for_the_export_meter_match_the_aggregates(february):
    found = insights_of(february.url, EXPORT_METER)
    assert {"feed_in", "self_consumption", "daily_repetition", "data_quality"} <= set(found)
    assert "base_load" not in found and "peak_demand" not in found
    # summed from the raw export file (json + math.fsum, not this code) over the local days
    # 2 Feb - 1 Mar: 34.1185 kWh (36.19725 minus the 2.07875 kWh of local 1 Feb), worth
    # 3.41185 CHF at 0.10 CHF/kWh
    feed_in = found["feed_in"]
    assert feed_in[0] == pytest.approx(34.1185, abs=1e-9)
    assert "You fed 34.12 kWh into the grid" in feed_in[3]
    assert "worth 3.41 CHF" in feed_in[3]
    # the sample exports most between 11:00 and 12:00 UTC, i.e. 12:00-13:00 local
    assert "most of it between 12:00 and 13:00" in feed_in[3]
    own = found["self_consumption"]
    assert "installation 'home'" in own[3]
    assert "of 34.12 kWh" in own[3]


def test_the_per_day_work_covered_both_meters_once(february):
    assert february.per_day.success
    (event,) = february.per_day.asset_materializations_for_node("per_day_analytics")[-1:]
    assert event.metadata["meters_changed"].value == 2
    assert event.metadata["meters"].value == 2
    # every mark up to the last settled day was seen: nothing left for the sensor
    assert query(february.url, "SELECT count(*) FROM {s}.stale_windows") == [(0,)]


def test_rematerializing_a_partition_leaves_every_aggregate_unchanged(february):
    before = snapshot(february.url)
    # nothing new: the run lists the day's objects, records that and stops
    (idle,) = materialize_days("demo", [date(2023, 2, 14)], february.url, february.source_url)
    assert idle.success
    assert idle.asset_materializations_for_node("hourly_energy") == []
    (seen,) = [
        e
        for e in idle.all_events
        if e.event_type_value == "ASSET_OBSERVATION"
        and e.asset_key.to_user_string() == "raw_meter_readings"
    ]
    assert seen.event_specific_data.asset_observation.metadata["objects_new"].value == 0
    assert snapshot(february.url) == before

    # asked to recompute, it rebuilds both local days the UTC day touches, to the same rows
    (result,) = materialize_days(
        "demo",
        [date(2023, 2, 14)],
        february.url,
        february.source_url,
        run_config={"ops": {"raw_meter_readings": {"config": {"recompute": True}}}},
    )
    assert result.success
    assert snapshot(february.url) == before
    hourly = result.asset_materializations_for_node("hourly_energy")[0].metadata
    assert hourly["local_days_recomputed"].value == "2023-02-14, 2023-02-15"
    assert hourly["rows_written"].value == 2 * 2 * 24  # two meters, two local days
    daily = result.asset_materializations_for_node("daily_energy")[0].metadata
    assert daily["rows_written"].value == 4
    assert daily["incomplete_meter_days"].value == 0

    # and the per-day work, asked for every meter, finds the same windows
    again = materialize_per_day("demo", february.url, date(2023, 3, 1), all_meters=True)
    assert again.success
    assert snapshot(february.url) == before


def test_community_energy_of_the_real_sample(february):
    """Both meters as one community. From the raw files (independently of this code, per UTC
    timestamp of the two files): 2,688 quarter hours, import 97.6082 and export 36.19725 kWh,
    and the sum over quarter hours of min(import, export) 14.83605 kWh: 15.2 % of the import
    was covered by feed-in in the same quarter hour."""
    ((count, imported, exported, shared, meters, first, last),) = query(
        february.url,
        "SELECT count(*), sum(import_kwh), sum(export_kwh), sum(shared_kwh), min(meters), "
        "min(local_date), max(local_date) FROM {s}.community_energy",
    )
    assert (count, meters, first, last) == (2688, 2, date(2023, 2, 1), date(2023, 3, 1))
    assert imported == pytest.approx(97.6082, abs=1e-9)
    assert exported == pytest.approx(36.19725, abs=1e-9)
    assert shared == pytest.approx(14.83605, abs=1e-9)


def test_a_rate_change_reprices_exactly_the_days_it_affects(february, registry):
    """The registry's swiss_dual changes on 15 Feb 2023 to high 0.40, low 0.25, feed-in 0.12.
    From the raw files by hand (local time, Mon-Fri 07:00-20:00 high): before 15 Feb the
    import is 17.7391 kWh high and 32.5200 low = 12.830912 CHF (unchanged); from 15 Feb
    18.2372 high and 29.1119 low = 7.29488 + 7.277975 = 14.572855 CHF; 27.403767 CHF in all.
    Feed-in 18.12475 kWh before at 0.10 and 18.0725 from 15 Feb at 0.12: 3.981175 CHF.
    Run in a transaction that is rolled back: the session's sample stays as it was."""
    import dataclasses

    from exnaton_pipeline.lib.energy import analytics
    from exnaton_pipeline.lib.energy.tariffs import parse_plan
    from exnaton_pipeline_tests.lib.energy.test_tariffs import with_change

    tenant = dataclasses.replace(
        registry.get("demo"), tariff=parse_plan("swiss_dual", with_change())
    )
    costs = "SELECT day, cost FROM {s}.daily_energy WHERE muid = %s ORDER BY day"
    before = dict(query(february.url, costs, (IMPORT_METER,)))

    class RollBack(Exception):
        pass

    with pytest.raises(RollBack), database.transaction(february.url) as conn:
        changed = analytics.begin_refresh(conn, tenant)
        # 15 Feb - 1 Mar: the local days with aggregates from the change on, queued
        assert changed == [date(2023, 2, 15) + timedelta(days=n) for n in range(15)]
        assert analytics.sync_tariff_slots(conn, tenant.schema, tenant.tariff) == []
        # what the next tick's hourly and daily steps do with the queue
        hourly = analytics.refresh_hourly_energy(conn, tenant)
        assert hourly.local_days == changed
        analytics.refresh_daily_energy(conn, tenant)
        with conn.cursor() as cur:
            cur.execute(sql.SQL(costs).format(s=sql.Identifier("tenant_demo")), (IMPORT_METER,))
            after = dict(cur.fetchall())
            cur.execute(
                "SELECT sum(feed_in_credit) FROM tenant_demo.daily_energy WHERE muid = %s",
                (EXPORT_METER,),
            )
            (credit,) = cur.fetchone()
        raise RollBack
    assert {d: c for d, c in after.items() if d < date(2023, 2, 15)} == {
        d: c for d, c in before.items() if d < date(2023, 2, 15)
    }
    assert sum(c for d, c in after.items() if d < date(2023, 2, 15)) == pytest.approx(12.830912)
    assert sum(after.values()) == pytest.approx(27.403767, abs=1e-9)
    assert credit == pytest.approx(3.981175, abs=1e-9)
    assert dict(query(february.url, costs, (IMPORT_METER,))) == before  # rolled back

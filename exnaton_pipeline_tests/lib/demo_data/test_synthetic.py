"""Synthetic households: deterministic, realistic in shape, delivered in the source contract."""

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from exnaton_pipeline.lib.demo_data import synthetic
from exnaton_pipeline.lib.ingestion.responses import parse_response
from exnaton_pipeline.lib.tenants import MUID, parse_registry

REGISTRY_MUIDS = [
    "50879e7d-9207-40ec-a9dd-e023847532c5",
    "0cd0fb6b-57ff-428b-89f8-cb5e5998ae3b",
    "ec1e05c9-494f-41c7-85b9-e0b64b24787a",
    "9e24ed88-2179-4e0f-b451-5a57a12be2d0",
]


@pytest.fixture
def live(registry):
    return registry.get("live")


def tenant_in(zone: str, tenant_id: str = "elsewhere"):
    raw = {
        "tariff_plans": {
            "flat": {"currency": "CHF", "bands": {"low": {"rate": 0.2, "windows": "otherwise"}}}
        },
        "tenants": [{"id": tenant_id, "timezone": zone, "tariff_plan": "flat"}],
    }
    return parse_registry(raw).get(tenant_id)


def test_registry_meters_come_first_then_generated_ones(live):
    meters = synthetic.households(live, 7)
    assert [m.muid for m in meters[:4]] == REGISTRY_MUIDS
    assert [m.name for m in meters[:2]] == ["Household Aebi", "Household Brunner (PV)"]
    assert [m.name for m in meters[4:]] == ["Household 5", "Household 6", "Household 7"]
    assert all(MUID.fullmatch(m.muid) for m in meters)
    assert len({m.muid for m in meters}) == 7
    # two in five have PV: positions 1 and 3 (the registry names say so too)
    assert [m.pv_kwp > 0 for m in meters] == [False, True, False, True, False, False, True]
    # same seed, same meters; another seed, other generated muids (registry ones stay)
    assert synthetic.households(live, 7) == meters
    other = synthetic.households(live, 7, seed=1)
    assert [m.muid for m in other[:4]] == REGISTRY_MUIDS
    assert not {m.muid for m in other[4:]} & {m.muid for m in meters[4:]}
    assert len(synthetic.households(live)) == 4  # default: the registry's meters


def test_zone_coordinates():
    lat, lon = synthetic.location(ZoneInfo("Europe/Zurich"))
    assert lat == pytest.approx(47.38, abs=0.01)  # zone1970.tab: +4723+00832
    assert lon == pytest.approx(8.53, abs=0.01)
    # a zone without coordinates: mid-latitudes on the meridian of its offset (UTC+3 -> 45 E)
    assert synthetic.location(ZoneInfo("Etc/GMT-3")) == (47.0, 45.0)


def test_history_is_in_the_source_contract(live, local_source):
    meters = synthetic.households(live)
    keys = synthetic.write_history(
        local_source,
        live,
        meters,
        datetime(2024, 6, 14, tzinfo=UTC),
        datetime(2024, 6, 15, 12, tzinfo=UTC),
    )
    # 4 meters x (one full day + one half day)
    assert sorted(keys) == sorted(
        f"live/{day}/{muid}.json" for day in ("2024-06-14", "2024-06-15") for muid in REGISTRY_MUIDS
    )
    raw = json.loads(local_source.read(f"live/2024-06-14/{REGISTRY_MUIDS[1]}.json"))["data"]
    assert len(raw) == 96
    assert raw[0]["timestamp"] == "2024-06-14T23:45:00.000Z"  # newest first
    assert raw[-1]["timestamp"] == "2024-06-14T00:00:00.000Z"
    assert set(raw[0]) == {"measurement", "timestamp", "tags", "0100011D00FF", "0100021D00FF"}
    assert raw[0]["0100021D00FF"] == 0 and isinstance(raw[0]["0100021D00FF"], int)  # night
    parsed = parse_response(local_source.read(f"live/2024-06-14/{REGISTRY_MUIDS[1]}.json"))
    assert parsed.rejects == []
    assert len(parsed.readings) == 192  # import and export per interval
    half = parse_response(local_source.read(f"live/2024-06-15/{REGISTRY_MUIDS[0]}.json"))
    assert len(half.readings) == 48  # 00:00 .. 11:45
    assert set(half.readings["obis"]) == {"0100011D00FF"}  # no PV


def test_values_do_not_depend_on_the_range_asked_for(live):
    meters = synthetic.households(live, 6)
    alone = synthetic.simulate_day(meters[2:3], date(2024, 3, 5), live.zone)
    together = synthetic.simulate_day(meters, date(2024, 3, 5), live.zone)
    assert np.array_equal(alone.import_kwh[0], together.import_kwh[2])


def test_batch_holds_every_meters_newest_interval_matching_history(live, local_source):
    meters = synthetic.households(live)
    interval = datetime(2024, 6, 14, 11, 45, tzinfo=UTC)
    key = synthetic.write_batch(local_source, live, meters, interval)
    assert key == "live/2024-06-14/batch-1145.json"
    batch = json.loads(local_source.read(key))["data"]
    assert [r["tags"]["muid"] for r in batch] == REGISTRY_MUIDS
    assert {r["timestamp"] for r in batch} == {"2024-06-14T11:45:00.000Z"}
    day = synthetic.simulate_day(meters, date(2024, 6, 14), live.zone)
    slot = 11 * 4 + 3
    assert [r["0100011D00FF"] for r in batch] == [pytest.approx(v) for v in day.import_kwh[:, slot]]
    # midday in June: the PV households export
    assert batch[1]["0100021D00FF"] > 0 and batch[3]["0100021D00FF"] > 0


def _hourly_means(tenant, meters, first: date, days: int) -> pd.DataFrame:
    frames = []
    for n in range(days):
        readings = synthetic.simulate_day(meters, first + timedelta(days=n), tenant.zone)
        local = readings.starts.tz_convert(tenant.zone)
        frames.append(
            pd.DataFrame(
                {
                    "hour": local.hour,
                    "weekend": local.dayofweek >= 5,
                    "import": readings.import_kwh.mean(axis=0),
                    "export": readings.export_kwh.mean(axis=0),
                }
            )
        )
    return pd.concat(frames)


@pytest.mark.parametrize("zone", ["Europe/Zurich", "America/New_York"])
def test_pv_follows_the_local_sun(zone):
    tenant = tenant_in(zone)
    meters = synthetic.households(tenant, 10)
    june = _hourly_means(tenant, meters, date(2024, 6, 3), 14).groupby("hour")["export"].mean()
    december = _hourly_means(tenant, meters, date(2024, 12, 2), 14).groupby("hour")["export"].mean()
    # solar noon is about 13:30 CEST in Zurich and 13:00 EDT in New York
    assert june.idxmax() in (12, 13, 14)
    assert june.loc[[0, 1, 2, 3, 22, 23]].sum() == 0  # no export at night
    assert june.sum() > 2 * december.sum()  # long high summer days, short low winter ones


def test_load_shapes_weekday_mornings_and_evenings():
    tenant = tenant_in("Europe/Zurich")
    meters = synthetic.households(tenant, 20)
    means = _hourly_means(tenant, meters, date(2024, 1, 8), 28)  # four weeks from a Monday
    weekday = means[~means["weekend"]].groupby("hour")["import"].mean()
    weekend = means[means["weekend"]].groupby("hour")["import"].mean()
    assert weekday.loc[18:20].mean() > 2 * weekday.loc[1:4].mean()  # evening peak over night
    assert weekday.loc[6:7].mean() > weekend.loc[6:7].mean()  # weekday mornings start early
    assert weekend.loc[11:13].mean() > weekday.loc[11:13].mean()  # people home at weekends


def test_a_year_of_fifty_households_is_plausible():
    tenant = tenant_in("Europe/Zurich")
    meters = synthetic.households(tenant, 50)
    imports = np.zeros(50)
    for n in range(365):
        imports += synthetic.simulate_day(
            meters, date(2024, 1, 1) + timedelta(days=n), tenant.zone
        ).import_kwh.sum(axis=1)
    # Swiss households draw roughly 2000-7000 kWh a year from the grid, typically ~4000
    assert imports.min() > 2000 and imports.max() < 7000
    assert 3000 < np.median(imports) < 5500


def test_history_refuses_times_off_the_grid(live, local_source):
    with pytest.raises(ValueError, match="15-minute grid"):
        synthetic.write_history(
            local_source,
            live,
            synthetic.households(live),
            datetime(2024, 6, 14, 0, 5, tzinfo=UTC),
            datetime(2024, 6, 15, tzinfo=UTC),
        )


class FakeClock:
    def __init__(self, start: datetime):
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)


def test_producer_delivers_the_interval_that_just_ended(live, local_source):
    clock = FakeClock(datetime(2024, 6, 14, 23, 37, 30, tzinfo=UTC))
    lines = []
    count = synthetic.produce(
        local_source,
        live,
        synthetic.households(live),
        ticks=3,
        clock=clock,
        sleep=clock.sleep,
        report=lines.append,
    )
    assert count == 3
    # 23:15-23:30 at once; 23:30-23:45 at 23:45:05; 23:45-24:00 at 00:00:05, in its own day
    assert [o.key for o in local_source.list("live/2024-06-14")] == [
        "live/2024-06-14/batch-2315.json",
        "live/2024-06-14/batch-2330.json",
        "live/2024-06-14/batch-2345.json",
    ]
    assert clock.sleeps == [455.0, 900.0]
    assert "delivered live/2024-06-14/batch-2345.json (4 meters)" in lines[-1]


def test_fast_producer_simulates_an_interval_every_15_seconds(live, local_source):
    clock = FakeClock(datetime(2024, 6, 14, 12, 7, tzinfo=UTC))
    synthetic.produce(
        local_source,
        live,
        synthetic.households(live),
        fast=True,
        ticks=3,
        clock=clock,
        sleep=clock.sleep,
        report=lambda line: None,
    )
    assert [o.key.rsplit("/", 1)[1] for o in local_source.list("live/2024-06-14")] == [
        "batch-1200.json",
        "batch-1215.json",
        "batch-1230.json",
    ]
    assert clock.sleeps == [15.0, 15.0]

"""Tariff plans are checked at registry load: bad ones are refused naming tenant and field."""

from __future__ import annotations

import copy

import pytest
import yaml

from exnaton_pipeline.lib.tenants import RegistryError, load_registry, parse_registry

GOOD_PLAN = {
    "currency": "CHF",
    "feed_in_rate": 0.10,
    "bands": {
        "high": {
            "rate": 0.32,
            "windows": [{"weekdays": [1, 2, 3, 4, 5], "start": "07:00", "end": "20:00"}],
        },
        "low": {"rate": 0.22, "windows": "otherwise"},
    },
}


def registry_with(plan: dict, timezone: str = "Europe/Zurich") -> dict:
    return {
        "tariff_plans": {"house": plan},
        "tenants": [{"id": "hillside", "timezone": timezone, "tariff_plan": "house"}],
    }


def refused(raw: dict) -> str:
    with pytest.raises(RegistryError) as caught:
        parse_registry(raw, source="tenants.yaml")
    return str(caught.value)


def test_good_plan_loads_and_bands_follow_local_time():
    plan = parse_registry(registry_with(GOOD_PLAN)).get("hillside").tariff
    bands = plan.slot_bands()
    assert len(bands) == 7 * 96
    assert bands[(1, 27)] == "low"  # Monday 06:45
    assert bands[(1, 28)] == "high"  # Monday 07:00
    assert bands[(5, 79)] == "high"  # Friday 19:45
    assert bands[(5, 80)] == "low"  # Friday 20:00
    assert bands[(6, 40)] == "low"  # Saturday 10:00


def test_overlapping_windows_are_refused():
    plan = copy.deepcopy(GOOD_PLAN)
    plan["bands"]["low"]["windows"] = [
        {"weekdays": [1, 2, 3, 4, 5, 6, 7], "start": "00:00", "end": "08:00"},
        {"weekdays": [1, 2, 3, 4, 5, 6, 7], "start": "08:00", "end": "24:00"},
    ]
    message = refused(registry_with(plan))
    assert message == (
        "tenants.yaml: tenant 'hillside': tariff_plans.house.bands.low.windows[0]: "
        "overlaps band high on weekday 1 at 07:00"
    )


def test_gapped_windows_are_refused():
    plan = copy.deepcopy(GOOD_PLAN)
    # weekday nights only: the weekend is covered by no band
    plan["bands"]["low"]["windows"] = [
        {"weekdays": [1, 2, 3, 4, 5], "start": "00:00", "end": "07:00"},
        {"weekdays": [1, 2, 3, 4, 5], "start": "20:00", "end": "24:00"},
    ]
    message = refused(registry_with(plan))
    assert message == (
        "tenants.yaml: tenant 'hillside': tariff_plans.house.bands: "
        "no band covers weekday 6 at 00:00 (a gap)"
    )


@pytest.mark.parametrize(
    ("field", "set_value"),
    [
        ("bands.high.rate", lambda plan: plan["bands"]["high"].update(rate=-0.05)),
        ("feed_in_rate", lambda plan: plan.update(feed_in_rate=-0.10)),
    ],
)
def test_negative_rates_are_refused(field, set_value):
    plan = copy.deepcopy(GOOD_PLAN)
    set_value(plan)
    message = refused(registry_with(plan))
    assert message.startswith(
        f"tenants.yaml: tenant 'hillside': tariff_plans.house.{field}: rate -"
    )
    assert message.endswith("is below zero")


def test_unknown_time_zone_is_refused():
    message = refused(registry_with(GOOD_PLAN, timezone="Europe/Zurik"))
    assert message == (
        "tenants.yaml: tenant 'hillside': timezone: 'Europe/Zurik' is not an IANA time zone"
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda plan: plan["bands"]["high"]["windows"][0].update(start="07:10"),
            "tariff_plans.house.bands.high.windows[0].start: '07:10' is not a time on the "
            "15-minute grid (00:00..24:00)",
        ),
        (
            lambda plan: plan["bands"]["high"].update(windows="otherwise"),
            "tariff_plans.house.bands: only one band may take the 'otherwise' slots",
        ),
        (
            lambda plan: plan["bands"]["high"]["windows"][0].update(weekdays=[0, 1]),
            "tariff_plans.house.bands.high.windows[0].weekdays: expected ISO weekdays "
            "1 (Monday) .. 7 (Sunday)",
        ),
        (
            lambda plan: plan["bands"].update(peak=plan["bands"]["high"]),
            "tariff_plans.house.bands.peak: unknown band; bands are high, low",
        ),
    ],
)
def test_other_malformed_plans_name_the_field(change, expected):
    plan = copy.deepcopy(GOOD_PLAN)
    change(plan)
    assert refused(registry_with(plan)) == f"tenants.yaml: tenant 'hillside': {expected}"


def test_a_bad_plan_in_the_registry_file_stops_the_load(tmp_path):
    plan = copy.deepcopy(GOOD_PLAN)
    plan["bands"]["low"]["rate"] = -0.22
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump(registry_with(plan)))
    with pytest.raises(RegistryError, match=r"tenant 'hillside': .*bands\.low\.rate: rate -0.22"):
        load_registry(path)

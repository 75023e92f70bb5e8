"""Tariff plans: slot bands in local time, and bad plans refused naming the field."""

from collections import Counter

import pytest

from exnaton_pipeline.lib.energy.tariffs import TariffError, parse_plan
from exnaton_pipeline_tests.builders import swiss_dual_plan


def refused(plan: dict) -> str:
    with pytest.raises(TariffError) as err:
        parse_plan("p", plan)
    return str(err.value)


def test_swiss_dual_high_on_weekdays_from_7_to_20_local():
    plan = parse_plan("swiss_dual", swiss_dual_plan())
    bands = plan.slot_bands()
    assert len(bands) == 7 * 96
    # 5 weekdays x 13 hours x 4 quarter hours
    assert Counter(bands.values()) == {"high": 260, "low": 7 * 96 - 260}
    assert bands[(1, 27)] == "low"  # Monday 06:45
    assert bands[(1, 28)] == "high"  # Monday 07:00
    assert bands[(5, 79)] == "high"  # Friday 19:45
    assert bands[(5, 80)] == "low"  # Friday 20:00
    assert bands[(6, 40)] == "low"  # Saturday 10:00
    assert (plan.rate("high"), plan.rate("low"), plan.feed_in_rate) == (0.32, 0.22, 0.10)


def test_window_to_midnight_and_integer_rates():
    plan = parse_plan(
        "evening",
        {
            "currency": "EUR",
            "bands": {
                "high": {
                    "rate": 1,
                    "windows": [{"weekdays": [7], "start": "18:00", "end": "24:00"}],
                },
                "low": {"rate": 0, "windows": "otherwise"},
            },
        },
    )
    bands = plan.slot_bands()
    assert [bands[(7, s)] for s in (71, 72, 95)] == ["low", "high", "high"]
    assert plan.feed_in_rate == 0.0
    assert plan.rate("high") == 1.0


@pytest.mark.parametrize("split", ["07:15", "08:00"])
def test_overlapping_windows_are_refused(split):
    plan = swiss_dual_plan()
    plan["bands"]["low"]["windows"] = [
        {"weekdays": [1, 2, 3, 4, 5, 6, 7], "start": "00:00", "end": split},
        {"weekdays": [1, 2, 3, 4, 5, 6, 7], "start": split, "end": "24:00"},
    ]
    assert refused(plan) == (
        "tariff_plans.p.bands.low.windows[0]: overlaps band high on weekday 1 at 07:00"
    )


@pytest.mark.parametrize(
    ("weekend", "first_gap"),
    [
        ([], "weekday 6 at 00:00"),  # weekday nights only: the weekend has no band
        ([{"weekdays": [6], "start": "00:00", "end": "24:00"}], "weekday 7 at 00:00"),
    ],
)
def test_gapped_windows_are_refused(weekend, first_gap):
    plan = swiss_dual_plan()
    plan["bands"]["low"]["windows"] = [
        {"weekdays": [1, 2, 3, 4, 5], "start": "00:00", "end": "07:00"},
        {"weekdays": [1, 2, 3, 4, 5], "start": "20:00", "end": "24:00"},
        *weekend,
    ]
    assert refused(plan) == f"tariff_plans.p.bands: no band covers {first_gap} (a gap)"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda p: p["bands"]["high"].update(rate=-0.1),
            "tariff_plans.p.bands.high.rate: rate -0.1 is below zero",
        ),
        (
            lambda p: p.update(feed_in_rate=-0.05),
            "tariff_plans.p.feed_in_rate: rate -0.05 is below zero",
        ),
        (
            lambda p: p["bands"]["high"].update(rate="cheap"),
            "tariff_plans.p.bands.high.rate: expected a number, got 'cheap'",
        ),
        (
            lambda p: p.update(currency="chf"),
            "tariff_plans.p.currency: expected an ISO 4217 code like CHF, got 'chf'",
        ),
        (
            lambda p: p["bands"].update(peak=p["bands"].pop("high")),
            "tariff_plans.p.bands.peak: unknown band; bands are high, low",
        ),
        (
            lambda p: p["bands"].update(peak=p["bands"]["high"]),
            "tariff_plans.p.bands.peak: unknown band; bands are high, low",
        ),
        (
            lambda p: p["bands"]["high"]["windows"][0].update(start="07:10"),
            "tariff_plans.p.bands.high.windows[0].start: '07:10' is not a time on the 15-minute "
            "grid (00:00..24:00)",
        ),
        (
            lambda p: p["bands"]["high"]["windows"][0].update(end="06:00"),
            "tariff_plans.p.bands.high.windows[0]: end 06:00 is not after start 07:00",
        ),
        (
            lambda p: p["bands"]["high"]["windows"][0].update(weekdays=[0, 1]),
            "tariff_plans.p.bands.high.windows[0].weekdays: expected ISO weekdays 1 (Monday) .. "
            "7 (Sunday)",
        ),
        (
            lambda p: p["bands"]["high"].update(windows="otherwise"),
            "tariff_plans.p.bands: only one band may take the 'otherwise' slots",
        ),
    ],
)
def test_bad_plan_fields_are_named(change, message):
    plan = swiss_dual_plan()
    change(plan)
    assert refused(plan) == message


def with_change(**change) -> dict:
    """swiss_dual with one change: from 15 Feb 2023 high 0.40, low 0.25 (same hours) and
    feed-in 0.12, unless `change` says otherwise."""
    plan = swiss_dual_plan()
    bands = swiss_dual_plan()["bands"]
    bands["high"]["rate"], bands["low"]["rate"] = 0.40, 0.25
    plan["changes"] = [{"valid_from": "2023-02-15", "bands": bands, "feed_in_rate": 0.12, **change}]
    return plan


def test_a_plan_changes_on_a_date_and_keeps_what_the_change_leaves_out():
    from datetime import date

    plan = parse_plan("p", with_change())
    first, second = plan.versions()
    assert (first.valid_from, first.rate("high"), first.feed_in_rate) == (None, 0.32, 0.10)
    assert (second.valid_from, second.rate("high"), second.feed_in_rate) == (
        date(2023, 2, 15),
        0.40,
        0.12,
    )
    assert plan.at(date(2023, 2, 14)).rate("low") == 0.22
    assert plan.at(date(2023, 2, 15)).rate("low") == 0.25
    assert plan.latest() == second
    assert second.currency == "CHF"
    only_feed_in = swiss_dual_plan()
    only_feed_in["changes"] = [{"valid_from": "2024-01-01", "feed_in_rate": 0.08}]
    later = parse_plan("p", only_feed_in).latest()
    assert (later.rate("high"), later.rate("low"), later.feed_in_rate) == (0.32, 0.22, 0.08)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"valid_from": "15 Feb"},
            "tariff_plans.p.changes[0].valid_from: expected a date YYYY-MM-DD",
        ),
        (
            {"currency": "EUR"},
            "tariff_plans.p.changes[0]: currency: a change may set only bands and feed_in_rate "
            "(the currency stays the plan's)",
        ),
        ({"feed_in_rate": -1}, "tariff_plans.p.changes[0].feed_in_rate: rate -1 is below zero"),
    ],
)
def test_bad_changes_are_refused(change, message):
    assert refused(with_change(**change)) == message


def test_changes_must_come_in_date_order():
    plan = with_change()
    plan["changes"].append({"valid_from": "2023-02-15", "feed_in_rate": 0.2})
    assert refused(plan) == (
        "tariff_plans.p.changes[1].valid_from: 2023-02-15 is not after the change before it "
        "(2023-02-15)"
    )

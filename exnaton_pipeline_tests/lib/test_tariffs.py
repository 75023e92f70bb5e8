from collections import Counter

from exnaton_pipeline.lib.tariffs import parse_plan

SWISS_DUAL = {
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


def test_swiss_dual_high_on_weekdays_from_7_to_20_local():
    plan = parse_plan("swiss_dual", SWISS_DUAL)
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

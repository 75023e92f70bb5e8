"""Local-day arithmetic of the completeness check, without a database."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from exnaton_pipeline.lib.warehouse.quality import (
    Rejections,
    local_day,
    local_days_closing_in,
    markdown_table,
    reading_age,
)

ZURICH = ZoneInfo("Europe/Zurich")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("zone", "day", "expected"),
    [
        (ZURICH, date(2024, 1, 10), 96),
        (ZURICH, date(2024, 3, 31), 92),  # 02:00 -> 03:00
        (ZURICH, date(2024, 10, 27), 100),  # 03:00 -> 02:00
        (NEW_YORK, date(2024, 3, 10), 92),
        (NEW_YORK, date(2024, 11, 3), 100),
    ],
)
def test_expected_intervals(zone, day, expected):
    assert local_day(day, zone).expected_intervals == expected


def test_local_day_bounds_in_utc():
    ld = local_day(date(2024, 3, 31), ZURICH)
    assert ld.begin == datetime(2024, 3, 30, 23, tzinfo=UTC)
    assert ld.end == datetime(2024, 3, 31, 22, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "utc_day", "local_days"),
    [
        # Zurich's local day D ends at 23:00 (22:00 in summer) UTC of day D
        (ZURICH, date(2024, 1, 10), [date(2024, 1, 10)]),
        (ZURICH, date(2024, 3, 31), [date(2024, 3, 31)]),
        # New York's local day D ends at 05:00 (04:00 in summer) UTC of day D+1
        (NEW_YORK, date(2024, 1, 10), [date(2024, 1, 9)]),
        (NEW_YORK, date(2024, 3, 11), [date(2024, 3, 10)]),
        # UTC itself: the local day is the UTC day
        (ZoneInfo("UTC"), date(2024, 1, 10), [date(2024, 1, 10)]),
    ],
)
def test_each_local_day_closes_in_one_utc_day(zone, utc_day, local_days):
    assert [d.day for d in local_days_closing_in(utc_day, zone)] == local_days


def test_every_local_day_of_a_year_is_judged_exactly_once():
    for zone in (ZURICH, NEW_YORK, ZoneInfo("Australia/Lord_Howe"), ZoneInfo("Asia/Kolkata")):
        judged = [
            d.day
            for n in range(366)
            for d in local_days_closing_in(date(2024, 1, 1) + timedelta(days=n), zone)
        ]
        assert len(judged) == len(set(judged))
        assert judged == sorted(judged)
        assert (judged[-1] - judged[0]).days + 1 == len(judged)


def test_fault_share_leaves_superseded_rows_out():
    rejections = Rejections(
        objects=2,
        written=90,
        by_rule={"non_negative_kwh": 4, "unique_reading": 6},
        examples={"non_negative_kwh": "x", "unique_reading": "y"},
    )
    assert rejections.faults == 4
    assert rejections.delivered == 100
    assert rejections.fault_share == pytest.approx(0.04)


def test_reading_age_counts_from_the_end_of_the_interval():
    newest = datetime(2024, 1, 10, 12, 0, tzinfo=UTC)
    assert reading_age(newest, datetime(2024, 1, 10, 13, 0, tzinfo=UTC)) == timedelta(minutes=45)


def test_markdown_table_escapes_pipes_and_formats_times():
    text = markdown_table(["a", "b"], [("x|y", datetime(2024, 1, 10, 12, 15, tzinfo=UTC))])
    assert text.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | 2024-01-10 12:15 UTC |"]


def test_unreadable_objects_count_by_objects():
    rejections = Rejections(
        objects=10, written=768, by_rule={"unreadable_json": 2}, examples={}, unreadable=2
    )
    assert rejections.fault_share == pytest.approx(2 / 770)
    assert rejections.unreadable_share == pytest.approx(0.2)

"""Period arithmetic and the dashboard's pure computations, without database or Streamlit."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from streamlit_app import periods, summaries
from streamlit_app.periods import Period


def test_week_and_month_contain_their_anchor() -> None:
    assert periods.period_of("week", date(2023, 2, 15)) == Period(
        "week", date(2023, 2, 13), date(2023, 2, 19)
    )
    assert periods.period_of("week", date(2023, 2, 19)).start == date(2023, 2, 13)  # Sunday
    assert periods.period_of("month", date(2024, 2, 10)) == Period(
        "month", date(2024, 2, 1), date(2024, 2, 29)
    )
    with pytest.raises(ValueError, match="unknown period kind 'year'"):
        periods.period_of("year", date(2023, 1, 1))


def test_shift_moves_by_one_period_across_year_ends() -> None:
    december = periods.period_of("month", date(2022, 12, 5))
    assert periods.shift(december, 1) == Period("month", date(2023, 1, 1), date(2023, 1, 31))
    assert periods.shift(periods.shift(december, 1), -2).start == date(2022, 11, 1)
    custom = Period("custom", date(2023, 2, 6), date(2023, 2, 19))
    assert periods.shift(custom, -1) == Period("custom", date(2023, 1, 23), date(2023, 2, 5))


def test_previous_period_has_equal_length() -> None:
    february = periods.period_of("month", date(2023, 2, 1))
    assert february.previous() == Period("custom", date(2023, 1, 4), date(2023, 1, 31))


def test_all_data_has_nothing_before_or_after_it() -> None:
    everything = periods.all_data(date(2023, 2, 1), date(2023, 3, 1))
    assert (everything.kind, everything.days) == ("all", 29)
    assert everything.previous() is None
    with pytest.raises(ValueError, match="all data has no previous or next period"):
        periods.shift(everything, 1)
    with pytest.raises(ValueError, match="all data has bounds, not an anchor"):
        periods.period_of("all", date(2023, 2, 1))


def test_switching_kind_keeps_the_newest_day_shown() -> None:
    first, last, complete = date(2023, 2, 1), date(2023, 3, 1), date(2023, 2, 28)
    everything = periods.all_data(first, last)

    def switch(period: Period, kind: str) -> Period:
        return periods.switch_kind(period, kind, first, last, complete)

    # from all data: the month, week, day of the newest complete day, not of 1 Mar
    assert switch(everything, "month") == Period("month", date(2023, 2, 1), date(2023, 2, 28))
    assert switch(everything, "week") == Period("week", date(2023, 2, 27), date(2023, 3, 5))
    assert switch(everything, "day") == Period("day", complete, complete)
    assert switch(everything, "custom") == Period("custom", first, last)
    # otherwise the newest day shown, within the data
    week = Period("week", date(2023, 2, 27), date(2023, 3, 5))
    assert switch(week, "month") == Period("month", date(2023, 3, 1), date(2023, 3, 31))
    assert switch(week, "day") == Period("day", last, last)
    assert switch(week, "all") == everything
    # no complete day at all: the newest day
    assert periods.switch_kind(everything, "day", first, last, None) == Period("day", last, last)


@pytest.mark.parametrize(
    ("day", "hours"),
    [(date(2023, 3, 26), 23), (date(2023, 10, 29), 25), (date(2023, 2, 13), 24)],
)
def test_a_local_day_spans_23_24_or_25_hours(day: date, hours: int) -> None:
    start, end = periods.period_of("day", day).utc_bounds(ZoneInfo("Europe/Zurich"))
    assert (end - start).total_seconds() == hours * 3600
    assert start.utcoffset().total_seconds() == 0


def test_resolution_follows_period_length() -> None:
    def custom(days: int) -> Period:
        return Period("custom", date(2023, 1, 1), date(2023, 1, days))

    assert [periods.auto_resolution(custom(n)) for n in (1, 2, 3, 21, 22)] == [
        "15min",
        "15min",
        "hour",
        "hour",
        "day",
    ]
    assert periods.resolutions_for(custom(14)) == ["15min", "hour", "day"]
    assert periods.resolutions_for(custom(31)) == ["hour", "day"]
    assert periods.resolutions_for(Period("custom", date(2022, 1, 1), date(2022, 12, 31))) == [
        "day"
    ]


def test_default_period() -> None:
    # the real sample: 1 Feb - 1 Mar local, 29 days: all of it
    assert periods.default_period(
        date(2023, 2, 1), date(2023, 3, 1), date(2023, 2, 28), live=False
    ) == Period("all", date(2023, 2, 1), date(2023, 3, 1))
    # 62 days (1 Jan - 3 Mar) still all; 63 days the month of the newest complete day
    assert periods.default_period(
        date(2023, 1, 1), date(2023, 3, 3), date(2023, 3, 2), live=False
    ) == Period("all", date(2023, 1, 1), date(2023, 3, 3))
    assert periods.default_period(
        date(2022, 12, 31), date(2023, 3, 3), date(2023, 3, 2), live=False
    ) == Period("month", date(2023, 3, 1), date(2023, 3, 31))
    assert periods.default_period(
        date(2022, 12, 1), date(2023, 3, 1), None, live=False
    ) == periods.period_of("month", date(2023, 3, 1))
    # a live tenant: its newest day, however short its history
    assert periods.default_period(
        date(2026, 11, 20), date(2026, 11, 27), date(2026, 11, 26), live=True
    ) == Period("day", date(2026, 11, 27), date(2026, 11, 27))


ZURICH = ZoneInfo("Europe/Zurich")


def _local(*args: int) -> datetime:
    return datetime(*args, tzinfo=ZURICH)


def test_a_day_in_progress_is_compared_up_to_the_same_time() -> None:
    today = periods.period_of("day", date(2026, 11, 27))
    newest = _local(2026, 11, 27, 13, 30).astimezone(ZoneInfo("UTC"))  # covers 13:30-13:45
    progress = periods.in_progress(today, newest, ZURICH)
    assert progress.span == (_local(2026, 11, 27), _local(2026, 11, 27, 13, 45))
    assert progress.previous_span == (_local(2026, 11, 26), _local(2026, 11, 26, 13, 45))
    # the day's last interval (23:45) makes it finished; a reading outside it says nothing
    assert periods.in_progress(today, _local(2026, 11, 27, 23, 45), ZURICH) is None
    # 23:30 covers 23:30-23:45: the day has reached 23:45, the day before is cut there too
    assert periods.in_progress(today, _local(2026, 11, 27, 23, 30), ZURICH) == periods.Progress(
        span=(_local(2026, 11, 27), _local(2026, 11, 27, 23, 45)),
        previous_span=(_local(2026, 11, 26), _local(2026, 11, 26, 23, 45)),
        year_earlier_span=(_local(2025, 11, 27), _local(2025, 11, 27, 23, 45)),
    )
    assert periods.in_progress(today, _local(2026, 11, 26, 13, 30), ZURICH) is None
    assert periods.in_progress(today, _local(2026, 11, 28, 0, 0), ZURICH) is None
    assert periods.in_progress(today, None, ZURICH) is None
    everything = periods.all_data(date(2026, 11, 1), date(2026, 11, 27))
    assert periods.in_progress(everything, newest, ZURICH) is None  # nothing before it


def test_a_week_or_month_in_progress_is_compared_as_far_into_the_one_before() -> None:
    week = periods.period_of("week", date(2026, 11, 26))  # Mon 23 - Sun 29 Nov
    progress = periods.in_progress(week, _local(2026, 11, 26, 13, 30), ZURICH)
    assert progress.span == (_local(2026, 11, 23), _local(2026, 11, 26, 13, 45))
    assert progress.previous_span == (_local(2026, 11, 16), _local(2026, 11, 19, 13, 45))
    # March against the 31 days before it (29 Jan - 28 Feb): 9 days and 6 hours in
    march = periods.period_of("month", date(2026, 3, 10))
    progress = periods.in_progress(march, _local(2026, 3, 10, 5, 45), ZURICH)
    assert progress.previous_span == (_local(2026, 1, 29), _local(2026, 2, 7, 6, 0))


def test_across_a_dst_change_the_wall_clock_is_kept() -> None:
    # Sun 29 Mar 2026 lost 02:00-03:00: today to 13:45 is 12 h 45, yesterday's 13 h 45
    today = periods.period_of("day", date(2026, 3, 29))
    progress = periods.in_progress(today, _local(2026, 3, 29, 13, 30), ZURICH)

    def hours(span: tuple[datetime, datetime]) -> float:
        start, end = (moment.astimezone(ZoneInfo("UTC")) for moment in span)
        return (end - start).total_seconds() / 3600

    assert (hours(progress.span), hours(progress.previous_span)) == (12.75, 13.75)
    assert progress.span[1].utcoffset().total_seconds() == 7200  # CEST after the change


def test_the_same_period_a_year_earlier() -> None:
    # a day: the same calendar day, whatever its weekday (Mon 13 Feb 2023 -> Sun 13 Feb 2022)
    assert periods.period_of("day", date(2023, 2, 13)).year_earlier() == Period(
        "day", date(2022, 2, 13), date(2022, 2, 13)
    )
    assert periods.period_of("day", date(2024, 2, 29)).year_earlier() == Period(
        "day", date(2023, 2, 28), date(2023, 2, 28)
    )
    # a week: the one 52 weeks (364 days) before, Monday to Sunday
    week = periods.period_of("week", date(2023, 2, 15))  # ISO week 7: Mon 13 - Sun 19 Feb
    assert week.year_earlier() == Period("week", date(2022, 2, 14), date(2022, 2, 20))
    # ISO week 53 of 2020 has no namesake in 2019: 52 weeks before is ISO week 1 of 2020
    week_53 = periods.period_of("week", date(2020, 12, 31))
    assert week_53.year_earlier() == Period("week", date(2019, 12, 30), date(2020, 1, 5))
    # after a 53-week year, ISO week 10 of 2021 (8 - 14 Mar) is compared with 9 - 15 Mar 2020
    # (ISO week 11), one calendar day off, not with ISO week 10 (2 - 8 Mar), six days off
    week_10 = periods.period_of("week", date(2021, 3, 8))
    assert week_10.year_earlier() == Period("week", date(2020, 3, 9), date(2020, 3, 15))
    # a month: the same month, of its own length
    assert periods.period_of("month", date(2024, 2, 10)).year_earlier() == Period(
        "month", date(2023, 2, 1), date(2023, 2, 28)
    )
    assert periods.period_of("month", date(2023, 1, 31)).year_earlier() == Period(
        "month", date(2022, 1, 1), date(2022, 1, 31)
    )
    # a custom range: its dates a year back (over 29 Feb one day shorter)
    assert Period("custom", date(2023, 2, 6), date(2023, 2, 19)).year_earlier() == Period(
        "custom", date(2022, 2, 6), date(2022, 2, 19)
    )
    leap_range = Period("custom", date(2024, 2, 20), date(2024, 3, 5))
    assert (leap_range.days, leap_range.year_earlier()) == (
        15,
        Period("custom", date(2023, 2, 20), date(2023, 3, 5)),
    )
    assert periods.all_data(date(2023, 2, 1), date(2023, 3, 1)).year_earlier() is None


def test_a_period_in_progress_is_compared_with_a_year_earlier_up_to_the_same_point() -> None:
    today = periods.period_of("day", date(2026, 11, 27))
    progress = periods.in_progress(today, _local(2026, 11, 27, 13, 30), ZURICH)
    assert progress.year_earlier_span == (_local(2025, 11, 27), _local(2025, 11, 27, 13, 45))
    # Mon 23 - Thu 26 Nov 2026 13:45 against Mon 24 - Thu 27 Nov 2025 13:45
    week = periods.period_of("week", date(2026, 11, 26))
    progress = periods.in_progress(week, _local(2026, 11, 26, 13, 30), ZURICH)
    assert progress.year_earlier_span == (_local(2025, 11, 24), _local(2025, 11, 27, 13, 45))
    march = periods.period_of("month", date(2026, 3, 10))
    progress = periods.in_progress(march, _local(2026, 3, 10, 5, 45), ZURICH)
    assert progress.year_earlier_span == (_local(2025, 3, 1), _local(2025, 3, 10, 6, 0))
    # February 2024 has a 29th, February 2023 none: up to 29 Feb 13:45 counts all of Feb 2023
    february = periods.period_of("month", date(2024, 2, 1))
    progress = periods.in_progress(february, _local(2024, 2, 29, 13, 30), ZURICH)
    assert progress.year_earlier_span == (_local(2023, 2, 1), _local(2023, 3, 1))
    assert periods.span_label(date(2023, 2, 1), progress.year_earlier_span[1]) == (
        "1 – 28 Feb 2023"
    )
    # the 29 days before it: 3 - 31 Jan, up to 31 Jan 13:45
    assert progress.previous_span == (_local(2024, 1, 3), _local(2024, 1, 31, 13, 45))
    progress = periods.in_progress(february, _local(2024, 2, 10, 5, 45), ZURICH)
    assert progress.year_earlier_span == (_local(2023, 2, 1), _local(2023, 2, 10, 6, 0))


def test_a_year_earlier_keeps_the_wall_clock_across_a_dst_change() -> None:
    # Sun 29 Mar 2026 lost 02:00-03:00; Sat 29 Mar 2025 did not (its change was on the 30th)
    today = periods.period_of("day", date(2026, 3, 29))
    progress = periods.in_progress(today, _local(2026, 3, 29, 13, 30), ZURICH)
    start, end = (moment.astimezone(ZoneInfo("UTC")) for moment in progress.year_earlier_span)
    assert (end - start).total_seconds() / 3600 == 13.75  # today's span: 12.75 h
    assert progress.year_earlier_span[1] == _local(2025, 3, 29, 13, 45)


def test_the_day_in_progress_is_the_newest_readings_day_up_to_its_end() -> None:
    newest = _local(2026, 11, 27, 13, 30).astimezone(ZoneInfo("UTC"))
    assert periods.day_in_progress(newest, ZURICH) == (
        _local(2026, 11, 27),
        _local(2026, 11, 27, 13, 45),
    )
    # 23:45 is the day's last interval: the day is over
    assert periods.day_in_progress(_local(2026, 11, 27, 23, 45), ZURICH) is None
    assert periods.day_in_progress(None, ZURICH) is None


def _quarters(count: int) -> pd.DataFrame:
    """`count` 15-minute rows; day_so_far only counts them."""
    ts = pd.date_range("2026-01-01", periods=count, freq="15min", tz="UTC")
    return pd.DataFrame({"ts": ts, "import_kwh": 0.1, "export_kwh": 0.0})


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 11, 27), 55),  # 00:00 - 13:45: 13 h 45
        (date(2026, 3, 29), 51),  # clocks went from 02:00 to 03:00: 12 h 45
        (date(2026, 10, 25), 59),  # 02:00 - 03:00 came twice: 14 h 45
    ],
)
def test_a_day_so_far_expects_its_quarter_hours_up_to_the_newest_reading(
    day: date, expected: int
) -> None:
    newest = datetime.combine(day, time(13, 30), tzinfo=ZURICH).astimezone(ZoneInfo("UTC"))
    span = periods.day_in_progress(newest, ZURICH)
    assert summaries.day_so_far(span, _quarters(expected)).missing == 0
    so_far = summaries.day_so_far(span, _quarters(expected - 3))
    assert so_far == summaries.DaySoFar(day, _local(day.year, day.month, day.day, 13, 45), 3)


def test_span_labels() -> None:
    assert periods.span_label(date(2026, 11, 26), _local(2026, 11, 26, 13, 45)) == (
        "26 Nov 2026 up to 13:45"
    )
    assert periods.span_label(date(2026, 11, 16), _local(2026, 11, 19, 13, 45)) == (
        "16 – 19 Nov 2026 up to 13:45"
    )
    # up to a midnight: whole days
    assert periods.span_label(date(2026, 11, 16), _local(2026, 11, 19)) == "16 – 18 Nov 2026"


def test_labels() -> None:
    assert periods.date_range_label(date(2022, 12, 28), date(2023, 1, 3)) == (
        "28 Dec 2022 – 3 Jan 2023"
    )
    assert periods.date_range_label(date(2023, 1, 30), date(2023, 2, 5)) == "30 Jan – 5 Feb 2023"
    assert periods.period_of("day", date(2023, 2, 13)).label() == "Mon 13 Feb 2023"
    assert periods.period_of("month", date(2023, 2, 13)).label() == "February 2023"
    assert periods.all_data(date(2023, 2, 1), date(2023, 3, 1)).label() == (
        "1 Feb – 1 Mar 2023 (all data)"
    )


def test_meter_names_fall_back_to_the_register(registry) -> None:
    demo, alpine = registry.get("demo"), registry.get("alpine")
    muid = "0c0ffee0-0000-4000-8000-000000000001"
    assert summaries.meter_name(alpine, muid, ("active_export",)) == "Feed-in (0c0ffee0)"
    assert summaries.meter_name(alpine, muid, ("active_export", "active_import")) == (
        "Consumption & feed-in (0c0ffee0)"
    )
    assert summaries.meter_name(alpine, muid, ()) == "Meter (0c0ffee0)"
    house = "95ce3367-cbce-4a4d-bbe3-da082831d7bd"
    assert summaries.meter_name(demo, house, ("active_export",)) == "Household consumption"


def test_totals_sum_the_stored_cost_and_net_the_credit() -> None:
    """The stored cost, not ht/nt at today's rates: after a tariff change the pipeline
    reprices what it affects, and the dashboard must agree with it."""
    daily = pd.DataFrame(
        {
            "day": [date(2023, 2, 1), date(2023, 2, 2), date(2023, 2, 3)],
            "import_kwh": [10.0, 20.0, 99.0],
            "export_kwh": [4.0, 0.0, 99.0],
            "ht_kwh": [2.0, 5.0, 99.0],
            "nt_kwh": [8.0, 15.0, 0.0],
            "cost": [1.5, 3.25, 99.0],
            "feed_in_credit": [0.2, 0.0, 99.0],
        }
    )
    got = summaries.totals(daily, Period("custom", date(2023, 2, 1), date(2023, 2, 2)))
    assert (got.consumption, got.high_tariff_kwh) == (30.0, 7.0)
    assert got.import_cost == 4.75
    assert got.net_cost == pytest.approx(4.75 - 0.2)
    assert summaries.totals(daily, periods.period_of("day", date(2023, 2, 9))) is None


def test_quarter_hours_are_split_and_credited_as_the_pipeline_does(registry) -> None:
    plan = registry.get("nyc-coop").tariff  # high Mon-Fri 16:00-21:00 at 0.30, else 0.12
    quarters = pd.DataFrame(
        {
            # Fri 10 Mar 2023 15:45 and 16:00 EST, Sat 11 Mar 16:00 EST
            "ts": pd.to_datetime(
                ["2023-03-10 20:45Z", "2023-03-10 21:00Z", "2023-03-11 21:00Z"], utc=True
            ),
            "import_kwh": [1.0, 2.0, 4.0],
            "export_kwh": [None, 0.5, 1.5],  # no export reading in the first quarter hour
        }
    )
    priced = summaries.priced_quarter_hours(quarters, plan, ZoneInfo("America/New_York"))
    assert list(priced["ht_kwh"]) == [0.0, 2.0, 0.0]
    assert list(priced["nt_kwh"]) == [1.0, 0.0, 4.0]
    assert list(priced["export_kwh"]) == [0.0, 0.5, 1.5]
    assert list(priced["feed_in_credit"]) == pytest.approx([0.0, 0.025, 0.075])  # at 0.05
    assert list(priced["cost"]) == pytest.approx([0.12, 0.60, 0.48])
    # summed with an hour of hourly_energy: 3 kWh of it high, stored at 1.14
    hour = pd.DataFrame(
        {"import_kwh": [5.0], "export_kwh": [1.0], "ht_kwh": [3.0], "nt_kwh": [2.0]}
    ).assign(cost=1.14, feed_in_credit=0.05)
    got = summaries.sum_totals([hour, priced])
    assert (got.consumption, got.feed_in, got.high_tariff_kwh) == (12.0, 3.0, 5.0)
    assert got.import_cost == pytest.approx(5 * 0.30 + 7 * 0.12)
    assert got.feed_in_credit == pytest.approx(0.15)
    assert summaries.sum_totals([hour.iloc[:0], priced.iloc[:0]]) is None


def test_quarter_hours_are_priced_by_the_version_of_their_local_day() -> None:
    """swiss_dual changing on 15 Feb 2023 to low 0.25, feed-in 0.12: 14 Feb 23:45 and 15 Feb
    00:00 local (both low tariff) cost 0.22 and 0.25 per kWh."""
    from exnaton_pipeline.lib.energy.tariffs import parse_plan
    from exnaton_pipeline_tests.lib.energy.test_tariffs import with_change

    plan = parse_plan("swiss_dual", with_change())
    quarters = pd.DataFrame(
        {
            "ts": pd.to_datetime(["2023-02-14 22:45Z", "2023-02-14 23:00Z"], utc=True),
            "import_kwh": [2.0, 2.0],
            "export_kwh": [1.0, 1.0],
        }
    )
    priced = summaries.priced_quarter_hours(quarters, plan, ZoneInfo("Europe/Zurich"))
    assert list(priced["cost"]) == pytest.approx([0.44, 0.50])
    assert list(priced["feed_in_credit"]) == pytest.approx([0.10, 0.12])
    assert summaries.tariff_text(plan, date(2023, 2, 13), date(2023, 2, 19)) == (
        "Tariff: high 0.32 CHF/kWh, low 0.22 CHF/kWh; feed-in 0.10 CHF/kWh. From 15 Feb 2023: "
        "high 0.40 CHF/kWh, low 0.25 CHF/kWh; feed-in 0.12 CHF/kWh."
    )
    assert summaries.tariff_text(plan, date(2023, 2, 20), date(2023, 2, 26)) == (
        "Tariff: high 0.40 CHF/kWh, low 0.25 CHF/kWh; feed-in 0.12 CHF/kWh."
    )


def test_change_text() -> None:
    assert summaries.change_text(168.0, 84.0, "kWh", 1) == "+84.0 kWh (+100%)"
    assert summaries.change_text(2.42, 2.64, "CHF", 2) == "-0.22 CHF (-8%)"
    assert summaries.change_text(4.16, 0.0, "CHF", 2) == "+4.16 CHF"  # no ratio against zero
    assert summaries.change_text(1.0, None, "kWh", 1) is None
    assert summaries.change_text(0.0, 0.0, "kWh", 1) is None


def test_completeness_lists_incomplete_and_missing_days() -> None:
    daily = pd.DataFrame(
        {
            "day": [date(2023, 2, d) for d in (1, 2, 5, 6)],
            "complete": [False, True, True, False],
        }
    )
    week = Period("custom", date(2023, 1, 30), date(2023, 2, 5))
    result = summaries.completeness(daily, week, first=date(2023, 2, 1), last=date(2023, 2, 6))
    assert result.incomplete == [date(2023, 2, 1)]  # 6 Feb lies outside the period
    assert result.missing == [date(2023, 2, 3), date(2023, 2, 4)]  # before 1 Feb: no data yet
    assert result.notice() == (
        "Incomplete data: 1 day with missing readings (1 Feb 2023); 2 days without any "
        "reading (3 – 4 Feb 2023). The figures cover the readings that arrived."
    )


def test_completeness_judges_the_day_in_progress_up_to_its_newest_reading() -> None:
    daily = pd.DataFrame(
        {"day": [date(2023, 2, d) for d in (13, 14, 15, 16)], "complete": [True, False] * 2}
    )
    week = Period("week", date(2023, 2, 13), date(2023, 2, 19))
    until = datetime(2023, 2, 16, 13, 45, tzinfo=ZURICH)
    # 16 Feb holds 55 of its 96 quarter hours, but all of those up to 13:45
    whole = summaries.DaySoFar(date(2023, 2, 16), until, missing=0)
    result = summaries.completeness(daily, week, date(2023, 2, 13), date(2023, 2, 16), whole)
    assert result.incomplete == [date(2023, 2, 14)]  # days before it keep the daily rule
    assert result.notice() == (
        "Incomplete data: 1 day with missing readings (14 Feb 2023). The figures cover the "
        "readings that arrived."
    )
    gaps = summaries.DaySoFar(date(2023, 2, 16), until, missing=2)
    assert summaries.completeness(
        daily.iloc[2:], week, date(2023, 2, 13), date(2023, 2, 16), gaps
    ).notice() == (
        "Incomplete data: 16 Feb 2023 so far (readings up to 13:45): 2 quarter hours without "
        "a reading; 2 days without any reading (13 – 14 Feb 2023). The figures cover the "
        "readings that arrived."
    )


def test_high_band_windows_in_local_wall_clock(registry) -> None:
    plan = registry.get("nyc-coop").tariff  # high Mon-Fri 16:00-21:00
    windows = summaries.high_band_windows(plan, date(2023, 3, 10), date(2023, 3, 13))  # Fri-Mon
    assert windows == [
        (datetime(2023, 3, 10, 16), datetime(2023, 3, 10, 21)),
        (datetime(2023, 3, 13, 16), datetime(2023, 3, 13, 21)),
    ]


def test_weekday_weekend_profile_weights_by_days() -> None:
    profile = pd.DataFrame(
        {
            "weekday": [1, 2, 6, 7],
            "hour": [8, 8, 8, 8],
            "avg_import_kwh": [1.0, 4.0, 2.0, 3.0],
            "days": [3, 1, 1, 1],
        }
    )
    result = summaries.weekday_weekend_profile(profile, "avg_import_kwh")
    assert result.loc[8, "Weekdays"] == pytest.approx((3 * 1.0 + 4.0) / 4)
    assert result.loc[8, "Weekends"] == pytest.approx(2.5)
    assert result["Weekdays"].isna().sum() == 23  # hours without rows stay empty
    matrix = summaries.weekday_hour_matrix(profile, "avg_import_kwh")
    assert list(matrix.index) == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert matrix.loc["Sun", 8] == 3.0


def test_csv_export_names_columns_and_keeps_offsets(registry) -> None:
    tenant = registry.get("nyc-coop")
    frame = pd.DataFrame(
        {
            "start": pd.to_datetime(["2023-03-12 06:00Z", "2023-03-12 07:00Z"]).tz_convert(
                "America/New_York"
            ),
            "import_kwh": [1.0, 2.0],
            "export_kwh": [0.0, 0.0],
            "cost": [0.12, 0.24],
        }
    )
    text = summaries.csv_export(frame, "hour", {"import_kwh": "Consumption"}, tenant)
    assert text.splitlines() == [
        "interval_start (America/New_York),consumption_kwh,cost_usd",
        "2023-03-12 01:00:00-05:00,1.0,0.12",
        "2023-03-12 03:00:00-04:00,2.0,0.24",  # the DST switch: 02:00 does not exist
    ]


def test_plain_markdown_escapes_what_markdown_would_interpret() -> None:
    assert summaries.plain_markdown("Save $12 *now* [here](x)") == (
        r"Save \$12 \*now\* \[here\]\(x\)"
    )

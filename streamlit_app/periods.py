"""The periods a customer looks at: a local day, an ISO week (Monday to Sunday), a calendar
month, a custom range of local days or all the meter's data; the periods each is compared
with (the one just before, the same one a year earlier); how far a period still in progress
has got; and the chart resolution that suits each length."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

ALL = "all"  # the meter's first to last local day with data
KINDS = ("day", "week", "month", "custom", ALL)
KIND_LABELS = {"day": "Day", "week": "Week", "month": "Month", "custom": "Custom", ALL: "All data"}
YEAR_EARLIER_NAMES = {
    "day": "the same day a year earlier",
    "week": "the week 52 weeks before",
    "month": "the same month a year earlier",
    "custom": "the same dates a year earlier",
}
# A tenant whose data spans at most this many days opens on all of it, else on a month.
ALL_DATA_DEFAULT_MAX_DAYS = 62

# Resolution -> (label, the longest period in days it is offered for). 15-minute points come
# from meter_readings, so they are kept to short ranges; daily works for any length.
RESOLUTIONS = {"15min": ("15 minutes", 14), "hour": ("Hourly", 92), "day": ("Daily", None)}
AUTO_15MIN_MAX_DAYS = 2
AUTO_HOURLY_MAX_DAYS = 21
READING_INTERVAL = timedelta(minutes=15)  # a reading's ts is the start of its interval
# A week a year earlier is the week 52 weeks before: Monday to Sunday like this one, it exists
# for every week (ISO week 53 has no namesake in most years) and lies 364 days back, one or
# two calendar days off, where the ISO week of the same number lies 371 days back after a
# year of 53 weeks.
WEEKS_52 = timedelta(weeks=52)


@dataclass(frozen=True)
class Period:
    kind: str
    start: date
    end: date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period | None:
        """The period of equal length just before this one (the comparison baseline); None
        for all data, before which there is nothing to compare with."""
        if self.kind == ALL:
            return None
        return Period("custom", self.start - timedelta(days=self.days), self.start - timedelta(1))

    def year_earlier(self) -> Period | None:
        """The same period a year earlier: the same calendar day (29 Feb: the 28th), the week
        52 weeks before (WEEKS_52 says why), the same month, a custom range's dates a year
        back; None for all data."""
        if self.kind == ALL:
            return None
        if self.kind == "week":
            return Period("week", self.start - WEEKS_52, self.end - WEEKS_52)
        if self.kind == "month":
            return period_of("month", self.start.replace(year=self.start.year - 1))
        return Period(self.kind, a_year_before(self.start), a_year_before(self.end))

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    def label(self) -> str:
        if self.kind == "day":
            return self.start.strftime("%a %-d %b %Y")
        if self.kind == "month":
            return self.start.strftime("%B %Y")
        if self.kind == ALL:
            return f"{date_range_label(self.start, self.end)} (all data)"
        return date_range_label(self.start, self.end)

    def utc_bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) as instants: local midnight of the first day to the one after the last
        (23 or 25 hours apart on DST days)."""
        start = datetime.combine(self.start, time(), tzinfo=zone)
        end = datetime.combine(self.end + timedelta(1), time(), tzinfo=zone)
        return start.astimezone(UTC), end.astimezone(UTC)


def a_year_before(day: date) -> date:
    """The same calendar day a year earlier; 29 February's is 28 February."""
    if (day.month, day.day) == (2, 29):
        return date(day.year - 1, 2, 28)
    return day.replace(year=day.year - 1)


@dataclass(frozen=True)
class Progress:
    """A period still in progress: its readings so far cover `span`, and it is compared with
    `previous_span` and `year_earlier_span`, the same stretch of the period before it and of
    the same period a year earlier. All are [start, end) in local time; each end is the same
    wall-clock time as many days after its start (a year earlier: at most its period's end)."""

    span: tuple[datetime, datetime]
    previous_span: tuple[datetime, datetime]
    year_earlier_span: tuple[datetime, datetime]


def in_progress(period: Period, newest_reading: datetime | None, zone: ZoneInfo) -> Progress | None:
    """How far `period` has got when it holds the meter's newest reading and that reading is not
    its last interval (e.g. today up to 13:45); None for a finished period, one the newest
    reading lies outside of, and all data (nothing before it to compare with).

    The periods it is compared with are cut at the same local wall-clock time, as many days
    into them: today 00:00-13:45 against yesterday 00:00-13:45 and the same day a year earlier
    00:00-13:45, Mon-Thu 13:45 against the Mon-Thu 13:45 before and 52 weeks before. Across a
    DST change the spans differ by the hour the clocks moved, as the days do; a cut at a
    wall-clock time the change skipped falls as far after midnight as the time says. A year
    earlier may be a day shorter (a February, a range over 29 February): its cut is at most
    its end, so on 29 Feb 2024 at 13:45 the February before counts whole.
    """
    previous, year_earlier = period.previous(), period.year_earlier()
    if newest_reading is None or previous is None or year_earlier is None:
        return None
    start, end = period.utc_bounds(zone)
    reached = newest_reading + READING_INTERVAL
    if newest_reading < start or reached >= end:
        return None
    reached = reached.astimezone(zone)

    def same_stretch(baseline: Period) -> tuple[datetime, datetime]:
        cut = datetime.combine(
            baseline.start + (reached.date() - period.start), reached.time(), tzinfo=zone
        )
        after = datetime.combine(baseline.end + timedelta(days=1), time(), tzinfo=zone)
        return datetime.combine(baseline.start, time(), tzinfo=zone), min(cut, after)

    return Progress(
        span=(datetime.combine(period.start, time(), tzinfo=zone), reached),
        previous_span=same_stretch(previous),
        year_earlier_span=same_stretch(year_earlier),
    )


def day_in_progress(
    newest_reading: datetime | None, zone: ZoneInfo
) -> tuple[datetime, datetime] | None:
    """[local midnight, end of the newest reading) of the local day that holds the meter's
    newest reading while that day is in progress (today 00:00-13:45); None once the newest
    reading is its day's last interval, or without readings."""
    if newest_reading is None:
        return None
    day = period_of("day", newest_reading.astimezone(zone).date())
    progress = in_progress(day, newest_reading, zone)
    return None if progress is None else progress.span


def span_label(start: date, end: datetime) -> str:
    """Local days from `start` up to the instant `end`: '15 Feb 2023 up to 13:45',
    '6 – 9 Feb 2023 up to 13:45', or '6 – 8 Feb 2023' when `end` is a midnight."""
    if end.time() == time():
        return date_range_label(start, end.date() - timedelta(days=1))
    return f"{date_range_label(start, end.date())} up to {end:%H:%M}"


def date_range_label(start: date, end: date) -> str:
    """'13 – 19 Feb 2023', '30 Jan – 5 Feb 2023', '28 Dec 2022 – 3 Jan 2023', '1 Mar 2023'."""
    if start == end:
        return end.strftime("%-d %b %Y")
    if start.year != end.year:
        return f"{start:%-d %b %Y} – {end:%-d %b %Y}"
    if start.month != end.month:
        return f"{start:%-d %b} – {end:%-d %b %Y}"
    return f"{start:%-d} – {end:%-d %b %Y}"


def period_of(kind: str, anchor: date) -> Period:
    """The day, week or month containing `anchor` (a custom period is the day itself)."""
    if kind == "week":
        monday = anchor - timedelta(days=anchor.isoweekday() - 1)
        return Period("week", monday, monday + timedelta(days=6))
    if kind == "month":
        last = calendar.monthrange(anchor.year, anchor.month)[1]
        return Period("month", anchor.replace(day=1), anchor.replace(day=last))
    if kind in ("day", "custom"):
        return Period(kind, anchor, anchor)
    if kind == ALL:
        raise ValueError("all data has bounds, not an anchor: use all_data(first, last)")
    raise ValueError(f"unknown period kind {kind!r}; kinds are {', '.join(KINDS)}")


def shift(period: Period, step: int) -> Period:
    """The next (`step`=1) or previous (-1) period of the same kind."""
    if period.kind == ALL:
        raise ValueError("all data has no previous or next period")
    if period.kind == "month":
        month = period.start.month - 1 + step
        return period_of("month", date(period.start.year + month // 12, month % 12 + 1, 1))
    length = timedelta(days=period.days * step)
    return Period(period.kind, period.start + length, period.end + length)


def overlaps(period: Period, first: date, last: date) -> bool:
    return period.start <= last and period.end >= first


def clamp(day: date, first: date, last: date) -> date:
    return min(max(day, first), last)


def switch_kind(
    period: Period, kind: str, first_day: date, last_day: date, last_complete_day: date | None
) -> Period:
    """The period shown when the customer picks `kind` while looking at `period`.

    Custom keeps the dates; all data is every day with data; a day, week or month is the one
    of the newest day shown so far, which after all data is the newest complete day (the
    newest day may hold only a few readings, like the sample's 1 March, local time).
    """
    if kind == "custom":
        return Period("custom", period.start, period.end)
    if kind == ALL:
        return all_data(first_day, last_day)
    newest = period.end
    if period.kind == ALL and last_complete_day is not None:
        newest = last_complete_day
    return period_of(kind, clamp(newest, first_day, last_day))


def all_data(first_day: date, last_day: date) -> Period:
    """Every local day from the first to the last with data (it grows with the data)."""
    return Period(ALL, first_day, last_day)


def default_period(
    first_day: date, last_day: date, last_complete_day: date | None, live: bool
) -> Period:
    """What the dashboard opens on: today's day for a live tenant; all the data when it spans
    at most ALL_DATA_DEFAULT_MAX_DAYS (a sample file, a new tenant); else the month of the
    newest complete day (a month that only has a partial first day would look empty)."""
    if live:
        return period_of("day", last_day)
    everything = all_data(first_day, last_day)
    if everything.days <= ALL_DATA_DEFAULT_MAX_DAYS:
        return everything
    return period_of("month", last_complete_day or last_day)


def auto_resolution(period: Period) -> str:
    if period.days <= AUTO_15MIN_MAX_DAYS:
        return "15min"
    if period.days <= AUTO_HOURLY_MAX_DAYS:
        return "hour"
    return "day"


def resolutions_for(period: Period) -> list[str]:
    """The resolutions offered for `period`, finest first."""
    return [key for key, (_, limit) in RESOLUTIONS.items() if limit is None or period.days <= limit]

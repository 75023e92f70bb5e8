"""Per-meter insights: findings in plain sentences, with the numbers a customer can check.

Computed over each meter's trailing window (`analytics.meter_windows`: 28 local days ending
at the meter's newest day, or its newest day on or before a given last day, starting no
earlier than its first day), from `daily_energy` and the 15-minute series in
`meter_readings`. One row per (meter, kind):

- base_load: the always-on load, the median over complete days of the day's smallest
  15-minute import x 4 (kW); its yearly energy and cost at the plan's week-averaged rate.
- peak_demand: the largest 15-minute import x 4 (kW), when, and the hour of day the daily
  peak falls in most often.
- high_tariff_share: share of import in the high band and the money saved per 30-day month
  by moving SHIFT_SHARE of it to low-tariff hours.
- weekday_weekend: average daily import on complete weekdays vs weekend days.
- unusual_days: complete days far from the median of the same weekday (modified z-score on
  the median absolute deviation above UNUSUAL_Z, and at least UNUSUAL_MIN_DEVIATION off).
- daily_repetition / weekly_repetition: correlation of the 15-minute series with itself one
  day (96 intervals) and one week (672) earlier, over pairs where both are measured.
- feed_in: export total, its value at the feed-in rate, and the local hour exporting most.
- self_consumption / self_sufficiency: where one installation (registry `installation`, or
  one muid) has import and export: the energy imported in the same quarter hours in which
  energy was exported, as a share of the export and of the import.
- data_quality: days of the period with missing quarter hours or no readings at all.

How it scales: meters are processed in chunks of CHUNK_METERS (an installation never split),
so memory is bounded by the chunk, not the fleet. Per chunk one statement reads the daily rows
and one reads the readings (per meter an index range scan, its series aggregated into one
binary value per register); the statistics are computed for the whole chunk at once (numpy
matrices meters x quarter hours, pandas groupby over meter keys); a plain loop then only
words the sentences from each meter's numbers. A second thread runs the statements, so the
next chunk is read and the last one written while one is computed. Every sum that reaches a
sentence is added up in the same order and the same way as a per-meter `Series.sum()`
(`group_sums`), so the figures are those of a meter computed on its own to the last bit;
only the correlations, computed for many meters at once, may differ in the last bits.
"""

from __future__ import annotations

import io
import math
import struct
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from psycopg2 import sql

from exnaton_pipeline.lib.energy import analytics
from exnaton_pipeline.lib.energy.analytics import EXPORT, IMPORT, Connection, MeterWindow
from exnaton_pipeline.lib.tenants import Tenant

SHIFT_SHARE = 0.20
DAYS_PER_MONTH = 30
HOURS_PER_YEAR = 8760
INTERVALS_PER_DAY = 96
UNUSUAL_Z = 3.5
UNUSUAL_MIN_DEVIATION = 0.25
MIN_DAYS_FOR_BASELINE = 3  # per weekday
BASE_LOAD_TIP_SHARE = 0.25  # base load above this share of consumption is worth a tip
SAVING_TIP = 1.0  # a monthly saving from this amount (tariff currency) is worth a tip
LAGS = {"daily_repetition": (96, "day"), "weekly_repetition": (672, "week")}
CHUNK_METERS = 500  # meters computed together; see docs/benchmarks.md for the measurement
CORRELATION_ROWS = 128  # meters per block of the correlation matrices (bounds temporaries)

SEVERITY_ORDER = {"warning": 0, "tip": 1, "info": 2}
KIND_ORDER = [
    "unusual_days",
    "high_tariff_share",
    "base_load",
    "peak_demand",
    "self_sufficiency",
    "self_consumption",
    "feed_in",
    "weekday_weekend",
    "daily_repetition",
    "weekly_repetition",
    "data_quality",
]
KIND_RANK = {kind: n for n, kind in enumerate(KIND_ORDER)}

QUARTER_NS = 15 * 60 * 10**9
DAY_NS = 24 * 3600 * 10**9
HOUR_NS = 3600 * 10**9


@dataclass(frozen=True)
class Insight:
    muid: str
    kind: str
    value: float | None
    unit: str
    severity: str  # info | tip | warning
    message: str
    period_start: date
    period_end: date
    rank: int = 0


@dataclass(frozen=True)
class InsightsResult:
    """What one refresh did: meters computed, findings stored, rows inserted/changed/removed."""

    meters: int
    rows: int
    rows_changed: int
    warnings: int
    by_kind: dict[str, int]


# ---------------------------------------------------------------- statistics, vectorised


def group_sums(values: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """The sum of each run `values[bounds[i]:bounds[i + 1]]`.

    Each run is added up exactly as numpy (and so pandas' `Series.sum`) adds up a 1-D array:
    pairwise, in the order given. Runs of equal length are summed as the rows of one matrix,
    which numpy reduces row by row with the same algorithm. A grouped pandas sum would not do
    (it uses Kahan summation): a figure rounded to two decimals could come out differently.
    """
    counts = np.diff(bounds)
    sums = np.zeros(len(counts))
    for length in np.unique(counts[counts > 0]):
        runs = np.flatnonzero(counts == length)
        sums[runs] = values[bounds[runs][:, None] + np.arange(length)].sum(axis=1)
    return sums


def _bounds(keys: np.ndarray, groups: int) -> np.ndarray:
    """Run boundaries of sorted integer `keys` 0 .. groups - 1 (empty runs allowed)."""
    return np.searchsorted(keys, np.arange(groups + 1))


def lagged_correlations(series: np.ndarray, lengths: np.ndarray, lag: int) -> np.ndarray:
    """Per row of `series` (meters x regular intervals, NaN where missing): the Pearson
    correlation of its first `lengths[i]` values with themselves `lag` steps earlier.

    Pairs with a missing side are left out. NaN where a row has no more than `lag` values,
    fewer than `lag` pairs remain, or one side of the pairs is constant.
    """
    result = np.full(len(series), np.nan)
    if series.shape[1] <= lag:
        return result
    for first in range(0, len(series), CORRELATION_ROWS):
        rows = slice(first, first + CORRELATION_ROWS)
        earlier, later = series[rows, :-lag], series[rows, lag:]
        both = np.isfinite(earlier) & np.isfinite(later)
        pairs = both.sum(axis=1)
        usable = (
            (lengths[rows] > lag)
            & (pairs >= lag)
            & ~_constant(earlier, both)
            & ~_constant(later, both)
        )
        # numpy's corrcoef per usable row, on exactly the pairs the row has: the same float
        # operations on the same values as a meter on its own, so the stored value is
        # bit-identical however meters are grouped into chunks
        for i in np.flatnonzero(usable):
            pair = both[i]
            result[first + i] = np.corrcoef(earlier[i, pair], later[i, pair])[0, 1]
    return result


def _constant(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Per row: whether the present values are all equal (no present value counts as equal)."""
    high = np.where(present, values, -np.inf).max(axis=1)
    low = np.where(present, values, np.inf).min(axis=1)
    return ~(high > low)


def lagged_correlation(series: pd.Series, lag: int) -> float | None:
    """Pearson correlation of a regular series with itself `lag` steps earlier.

    NaN marks a missing interval; pairs with a missing side are left out. None when fewer
    than `lag` pairs remain or one side is constant.
    """
    values = series.to_numpy(dtype=float)[None, :]
    r = lagged_correlations(values, np.array([values.shape[1]]), lag)[0]
    return None if np.isnan(r) else float(r)


def daily_minima(meter: np.ndarray, day: np.ndarray, kwh: np.ndarray) -> pd.DataFrame:
    """The smallest value per meter and local day: columns meter, day, kwh.

    The values must be grouped by meter and in time order within a meter, so that each
    local day is one run.
    """
    if len(kwh) == 0:
        return pd.DataFrame({"meter": meter, "day": day, "kwh": kwh})
    starts = np.flatnonzero(np.r_[True, (meter[1:] != meter[:-1]) | (day[1:] != day[:-1])])
    return pd.DataFrame(
        {"meter": meter[starts], "day": day[starts], "kwh": np.minimum.reduceat(kwh, starts)}
    )


def base_loads_kw(minima: pd.DataFrame) -> pd.Series:
    """Per meter: the median of its `daily_minima` (of the days that count), as kW."""
    return minima.groupby("meter")["kwh"].median() * 4


def base_load_kw(imports: pd.DataFrame, zone: ZoneInfo, days: set[date]) -> float | None:
    """Median over `days` of each local day's smallest 15-minute import, as kW."""
    imports = imports.sort_values("ts", kind="stable")
    local_day = imports["ts"].dt.tz_convert(zone).dt.date.to_numpy()
    minima = daily_minima(np.zeros(len(imports), dtype=int), local_day, imports["kwh"].to_numpy())
    kw = base_loads_kw(minima[minima["day"].isin(days)])
    return None if kw.empty else float(kw.iloc[0])


def flag_unusual_days(days: pd.DataFrame) -> pd.DataFrame:
    """Of many meters' days (columns meter, day, kwh), those far from their weekday's median,
    with columns meter, day, kwh, usual, z; per meter by ISO weekday, then in the given order.

    The baseline is robust: median and median absolute deviation (MAD) of the meter's days of
    the same ISO weekday, from at least MIN_DAYS_FOR_BASELINE days. A day is unusual when its
    modified z-score 0.6745 * (kwh - median) / MAD exceeds UNUSUAL_Z and it is at least
    UNUSUAL_MIN_DEVIATION of the median away (so a tiny MAD does not flag small wobbles).
    """
    keys = [days["meter"], pd.Series([d.isoweekday() for d in days["day"]], index=days.index)]
    kwh = days["kwh"].astype(float)
    usual = kwh.groupby(keys).transform("median")
    off = kwh - usual
    mad = off.abs().groupby(keys).transform("median")
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(mad > 0, 0.6745 * off / mad, np.copysign(np.inf, off))
    flagged = (
        (kwh.groupby(keys).transform("size") >= MIN_DAYS_FOR_BASELINE)
        & (off != 0)
        & (np.abs(z) > UNUSUAL_Z)
        & (off.abs() >= UNUSUAL_MIN_DEVIATION * usual)
    ).to_numpy()
    found = pd.DataFrame(
        {
            "meter": days["meter"].to_numpy()[flagged],
            "weekday": keys[1].to_numpy()[flagged],
            "day": days["day"].to_numpy()[flagged],
            "kwh": kwh.to_numpy()[flagged],
            "usual": usual.to_numpy()[flagged],
            "z": z[flagged],
        }
    )
    return found.sort_values(["meter", "weekday"], kind="stable", ignore_index=True).drop(
        columns="weekday"
    )


def most_unusual_first(found: pd.DataFrame) -> pd.DataFrame:
    """Unusual days ordered by the size of their z-score, largest first."""
    return found.sort_values("z", key=abs, ascending=False, ignore_index=True)


class UnusualDay(NamedTuple):
    day: date
    kwh: float
    usual: float
    z: float


def _largest_first(found: list[UnusualDay]) -> list[UnusualDay]:
    """`most_unusual_first` of a few days: a plain sort when no two z-scores are the same
    size (then every sort agrees), else pandas' own, whose order of equal sizes is its own."""
    sizes = {abs(row.z) for row in found}
    if len(sizes) == len(found):
        return sorted(found, key=lambda row: -abs(row.z))
    frame = most_unusual_first(pd.DataFrame(found, columns=UnusualDay._fields))
    return [UnusualDay(*row) for row in frame.itertuples(index=False)]


def unusual_days(days: pd.DataFrame) -> pd.DataFrame:
    """Days far from their weekday's median: columns day, kwh, usual, z (from `day`, `kwh`),
    most unusual first; see `flag_unusual_days`."""
    one_meter = pd.DataFrame({"meter": 0, "day": days["day"].to_numpy(), "kwh": days["kwh"]})
    return most_unusual_first(flag_unusual_days(one_meter).drop(columns="meter"))


# ---------------------------------------------------------------- wording, one meter


def _day(d: date) -> str:
    return f"{d:%A} {d.day} {d:%B %Y}"


def _date(d: date) -> str:
    return f"{d.day} {d:%B %Y}"


def _hour(h: int) -> str:
    return f"between {h:02d}:00 and {(h + 1) % 24:02d}:00"


def _strength(r: float) -> str:
    if r >= 0.7:
        return "a strong"
    if r >= 0.4:
        return "a moderate"
    if r >= 0.2:
        return "a weak"
    return "no clear"


@dataclass(frozen=True)
class Overlap:
    """Import and export of one installation in the quarter hours where both are measured."""

    installation: str
    import_kwh: float
    export_kwh: float
    coincident_kwh: float  # sum over quarter hours of min(import, export)


@dataclass(frozen=True)
class _Tariff:
    """What the wording needs of the tenant's tariff plan, worked out once per chunk."""

    currency: str
    mean_rate: float  # averaged over the week's quarter hours: what a constant load pays
    feed_in_rate: float
    high: float | None  # high and low rate, when the plan has both bands
    low: float | None
    high_hours: str  # the high band's hours in words

    @classmethod
    def of(cls, tenant: Tenant) -> _Tariff:
        plan = tenant.tariff.latest()  # the rates a finding's advice is about: today's
        both = plan.has_band("high") and plan.has_band("low")
        return cls(
            currency=plan.currency,
            mean_rate=plan.mean_rate(),
            feed_in_rate=plan.feed_in_rate,
            high=plan.rate("high") if both else None,
            low=plan.rate("low") if both else None,
            high_hours=plan.describe_band("high") if both else "",
        )


@dataclass
class _Meter:
    """One meter's numbers, computed for its whole chunk at once: all the wording needs."""

    tariff: _Tariff
    zone: ZoneInfo
    window: MeterWindow
    start: date  # first day with readings in the window
    numbers: Any  # the meter's row of the chunk's table of numbers (a namedtuple)
    days: pd.DataFrame  # the chunk's daily rows ...
    rows: slice  # ... of which these are the meter's
    unusual: list[UnusualDay]  # its unusual days, by weekday
    overlap: Overlap | None

    @property
    def currency(self) -> str:
        return self.tariff.currency

    @property
    def has_imports(self) -> bool:
        return self.numbers.import_count > 0

    @property
    def has_exports(self) -> bool:
        return self.numbers.export_count > 0

    def insight(
        self, kind: str, value: float | None, unit: str, severity: str, message: str
    ) -> Insight:
        value = None if value is None else float(value)
        return Insight(
            self.window.muid, kind, value, unit, severity, message, self.start, self.window.end
        )


def _base_load(m: _Meter) -> Insight | None:
    kw, total = m.numbers.base_kw, m.numbers.import_kwh
    if math.isnan(kw) or total <= 0:
        return None
    yearly_kwh = kw * HOURS_PER_YEAR
    yearly_cost = yearly_kwh * m.tariff.mean_rate
    hours = m.numbers.import_count / 4
    share = kw * hours / total
    tip = share >= BASE_LOAD_TIP_SHARE
    message = (
        f"On a typical day your consumption never drops below {kw:.3f} kW ({kw * 1000:.0f} W): "
        f"this always-on base load adds up to {yearly_kwh:,.0f} kWh a year, about "
        f"{yearly_cost:,.2f} {m.currency} at your tariff, and is {share:.0%} of what you use."
    )
    if tip:
        message += " Devices on standby, old fridges and circulation pumps are the usual causes."
    return m.insight("base_load", kw, "kW", "tip" if tip else "info", message)


def _peak_demand(m: _Meter) -> Insight | None:
    n = m.numbers
    if math.isnan(n.peak_kw):
        return None
    at = n.peak_at.tz_convert(m.zone)
    message = (
        f"Your highest demand was {n.peak_kw:.2f} kW, on {_day(at.date())} in the quarter "
        f"hour from {at:%H:%M}; the daily peak came most often {_hour(int(n.peak_hour))} "
        f"({int(n.peak_hour_days)} of {int(n.peak_days)} days)."
    )
    return m.insight("peak_demand", n.peak_kw, "kW", "info", message)


def _high_tariff_share(m: _Meter) -> Insight | None:
    high, low = m.tariff.high, m.tariff.low
    if high is None or low is None:
        return None
    total, ht = m.numbers.daily_import_kwh, m.numbers.daily_ht_kwh
    if total <= 0 or high <= low:
        return None
    share = ht / total
    observed_days = m.numbers.intervals / INTERVALS_PER_DAY
    saving = SHIFT_SHARE * ht * (high - low) * DAYS_PER_MONTH / observed_days
    message = (
        f"{share:.0%} of your consumption ({ht:.2f} of {total:.2f} kWh) was in the high "
        f"tariff ({m.tariff.high_hours}, {high:.2f} instead of {low:.2f} "
        f"{m.currency}/kWh). Moving {SHIFT_SHARE:.0%} of it to low-tariff hours would save "
        f"about {saving:.2f} {m.currency} a month."
    )
    severity = "tip" if saving >= SAVING_TIP else "info"
    return m.insight("high_tariff_share", share * 100, "%", severity, message)


def _weekday_weekend(m: _Meter) -> Insight | None:
    n = m.numbers
    if n.workdays == 0 or n.weekend_days == 0:
        return None
    workday, rest = n.workday_kwh, n.weekend_kwh
    if workday <= 0:
        return None
    change = (rest / workday - 1) * 100
    if abs(change) < 0.5:
        compared = "about the same"
    else:
        compared = f"{abs(change):.0f}% {'more' if change > 0 else 'less'} at weekends"
    message = (
        f"On weekdays you use {workday:.2f} kWh a day on average, at weekends {rest:.2f} kWh: "
        f"{compared}."
    )
    return m.insight("weekday_weekend", change, "%", "info", message)


def _unusual_days(m: _Meter) -> Insight | None:
    if m.numbers.most_days_per_weekday < MIN_DAYS_FOR_BASELINE:
        return None
    found = _largest_first(m.unusual) if len(m.unusual) > 1 else m.unusual
    if not found:
        message = (
            f"No unusual days: every complete day from {_date(m.start)} to "
            f"{_date(m.window.end)} stayed close to what is usual for its weekday."
        )
        return m.insight("unusual_days", 0, "days", "info", message)
    listed = [
        f"{_day(row.day)} used {row.kwh:.2f} kWh where a usual {row.day:%A} uses "
        f"{row.usual:.2f} kWh ({(row.kwh / row.usual - 1):+.0%})"
        for row in found[:3]
    ]
    more = f", and {len(found) - 3} more" if len(found) > 3 else ""
    noun = "day stood" if len(found) == 1 else "days stood"
    message = f"{len(found)} {noun} out from your usual pattern: {'; '.join(listed)}{more}."
    return m.insight("unusual_days", len(found), "days", "warning", message)


def _repetition(m: _Meter) -> list[Insight]:
    if not (m.has_imports or m.has_exports):
        return []
    noun = "consumption" if m.has_imports else "feed-in"
    found = []
    for kind, (_, period) in LAGS.items():
        r = getattr(m.numbers, kind)
        if math.isnan(r):
            continue
        message = (
            f"Your {noun} has {_strength(r)} {'daily' if period == 'day' else 'weekly'} "
            f"rhythm: each quarter hour correlates {r:.2f} with the same quarter hour one "
            f"{period} earlier (1 means every {period} is the same, 0 no repeating pattern)."
        )
        found.append(m.insight(kind, r, "correlation", "info", message))
    return found


def _feed_in(m: _Meter) -> Insight | None:
    total, credit = m.numbers.daily_export_kwh, m.numbers.daily_feed_in_credit
    rate = m.tariff.feed_in_rate
    period = f"from {_date(m.start)} to {_date(m.window.end)}"
    if total <= 0:
        message = f"No energy was fed into the grid {period}."
        return m.insight("feed_in", 0, "kWh", "info", message)
    message = (
        f"You fed {total:.2f} kWh into the grid {period}, worth {credit:.2f} {m.currency} at "
        f"the feed-in rate of {rate:.2f} {m.currency}/kWh; most of it "
        f"{_hour(int(m.numbers.export_hour))}."
    )
    return m.insight("feed_in", total, "kWh", "info", message)


def _self_use(m: _Meter, overlap: Overlap) -> list[Insight]:
    where = (
        f"installation '{overlap.installation}'"
        if overlap.installation != m.window.muid
        else "this meter"
    )
    lead = (
        f"In the quarter hours in which {where} fed energy into the grid, it also drew "
        f"{overlap.coincident_kwh:.2f} kWh from the grid."
    )
    found = []
    if m.has_exports and overlap.export_kwh > 0:
        share = overlap.coincident_kwh / overlap.export_kwh
        message = (
            f"{lead} Using your own energy at those times would have kept {share:.0%} of "
            f"your feed-in on site (self-consumption): {overlap.coincident_kwh:.2f} of "
            f"{overlap.export_kwh:.2f} kWh."
        )
        found.append(m.insight("self_consumption", share * 100, "%", "info", message))
    if m.has_imports and overlap.import_kwh > 0:
        share = overlap.coincident_kwh / overlap.import_kwh
        message = (
            f"{lead} Using your own energy at those times would have covered {share:.0%} of "
            f"your grid consumption (self-sufficiency): {overlap.coincident_kwh:.2f} of "
            f"{overlap.import_kwh:.2f} kWh."
        )
        found.append(m.insight("self_sufficiency", share * 100, "%", "info", message))
    return found


def _gaps(m: _Meter, period: list[date]) -> list[tuple[date, str]]:
    """The days of `period` without readings or with missing quarter hours, in day order."""
    if m.numbers.stored_days == len(period) and m.numbers.incomplete_days == 0:
        return []
    days = m.days.iloc[m.rows]
    stored = dict(zip(days["day"], days.itertuples(index=False), strict=True))
    gaps = []
    for day in period:
        row = stored.get(day)
        if row is None:
            gaps.append((day, "no readings"))
        elif not row.complete:
            gaps.append((day, f"{row.intervals} of {row.expected_intervals} quarter hours"))
    return gaps


def _data_quality(m: _Meter) -> Insight:
    days = [m.start + timedelta(days=n) for n in range((m.window.end - m.start).days + 1)]
    gaps = _gaps(m, days)
    if not gaps:
        message = (
            f"All {len(days)} days from {_date(m.start)} to {_date(m.window.end)} have every "
            f"quarter-hour reading."
        )
        return m.insight("data_quality", 0, "days", "info", message)
    listed = "; ".join(f"{_date(day)} ({what})" for day, what in gaps[:5])
    more = f", and {len(gaps) - 5} more" if len(gaps) > 5 else ""
    only_latest = len(gaps) == 1 and gaps[0][0] == m.window.end
    note = " It is the latest day, so its readings may still be arriving." if only_latest else ""
    message = (
        f"{len(gaps)} of {len(days)} days {'has' if len(gaps) == 1 else 'have'} missing "
        f"readings: {listed}{more}.{note} Gaps are not filled in, so the totals of these days "
        f"are too low."
    )
    severity = "info" if only_latest else "warning"
    return m.insight("data_quality", len(gaps), "days", severity, message)


def _ranked(found: list[Insight]) -> list[Insight]:
    order = sorted(found, key=lambda i: (SEVERITY_ORDER[i.severity], KIND_RANK[i.kind]))
    return [replace(insight, rank=n) for n, insight in enumerate(order, 1)]


def _meter_insights(m: _Meter) -> list[Insight]:
    items: list[Insight | None] = []
    if m.has_imports:
        items += [
            _base_load(m),
            _peak_demand(m),
            _high_tariff_share(m),
            _weekday_weekend(m),
            _unusual_days(m),
        ]
    if m.has_exports:
        items.append(_feed_in(m))
    items += _repetition(m)
    if m.overlap is not None:
        items += _self_use(m, m.overlap)
    items.append(_data_quality(m))
    return _ranked([i for i in items if i is not None])


# ---------------------------------------------------------------- a chunk of meters


@dataclass(frozen=True)
class Register:
    """One register's readings of a chunk of meters, in time order per meter: meter i's are
    `ts[bounds[i]:bounds[i + 1]]` (UTC, ns since 1970) and `kwh[bounds[i]:bounds[i + 1]]`."""

    bounds: np.ndarray
    ts: np.ndarray
    kwh: np.ndarray

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.bounds)

    @property
    def meter(self) -> np.ndarray:
        """The meter of each reading."""
        return np.repeat(np.arange(len(self.counts)), self.counts)

    def local(self, zone: ZoneInfo) -> np.ndarray:
        """Each reading's local wall-clock time in `zone`, as ns since 1970.

        The offset is looked up per quarter hour of the readings' span (zones change their
        offset on quarter hours), which is much faster than converting every reading.
        """
        if len(self.ts) == 0:
            return self.ts
        quarter = self.ts // QUARTER_NS
        first = quarter.min()
        starts = (np.arange(first, quarter.max() + 1) * QUARTER_NS).view("datetime64[ns]")
        utc = pd.DatetimeIndex(starts).tz_localize("UTC")
        offsets = utc.tz_convert(zone).tz_localize(None).asi8 - utc.asi8
        return self.ts + offsets[quarter - first]


@dataclass(frozen=True)
class Chunk:
    """What the insights of a chunk of meters are computed from."""

    windows: Sequence[MeterWindow]
    installations: list[str]  # per meter: its installation (registry), else its muid
    daily: pd.DataFrame  # DAILY_COLUMNS, ordered by meter (position in windows) and day
    imports: Register
    exports: Register


DAILY_COLUMNS = [
    "meter",
    "day",
    "day_number",  # days since 1970-01-01
    "import_kwh",
    "export_kwh",
    "ht_kwh",
    "feed_in_credit",
    "peak_kw",
    "peak_at",
    "intervals",
    "expected_intervals",
    "complete",
]


def _daily_numbers(chunk: Chunk, zone: ZoneInfo) -> pd.DataFrame:
    """Per meter of the chunk (index), its numbers from `daily_energy`."""
    daily, meters = chunk.daily, len(chunk.windows)
    meter = daily["meter"].to_numpy()
    bounds = _bounds(meter, meters)
    table = pd.DataFrame(index=pd.RangeIndex(meters))
    for column in ["import_kwh", "ht_kwh", "export_kwh", "feed_in_credit"]:
        table[f"daily_{column}"] = group_sums(daily[column].to_numpy(dtype=float), bounds)
    table["intervals"] = np.bincount(meter, daily["intervals"], minlength=meters)
    table["stored_days"] = np.diff(bounds)
    table["incomplete_days"] = np.bincount(meter, ~daily["complete"], minlength=meters)

    # peak demand: the largest (the earliest of equal ones), and the local hour in which the
    # usual days' peaks fall most often: complete days', else every day's with a peak
    peaks = daily.dropna(subset=["peak_kw"])
    top = peaks.sort_values(["meter", "peak_kw", "peak_at"], ascending=[True, False, True])
    top = top.drop_duplicates("meter").set_index("meter")
    table["peak_kw"] = top["peak_kw"]
    table["peak_at"] = top["peak_at"]
    usual = peaks[peaks["complete"] | ~peaks.groupby("meter")["complete"].transform("any")]
    hours = usual["peak_at"].dt.tz_convert(zone).dt.hour
    per_hour = usual.groupby(["meter", hours.rename("hour")]).size().rename("days").reset_index()
    per_hour = per_hour.sort_values(["meter", "days", "hour"], ascending=[True, False, True])
    mode = per_hour.drop_duplicates("meter").set_index("meter")
    table["peak_hour"] = mode["hour"]
    table["peak_hour_days"] = mode["days"]
    table["peak_days"] = usual.groupby("meter").size()

    # complete weekdays against complete weekend days; days per weekday for a baseline
    complete = daily[daily["complete"]]
    weekday = (complete["day_number"].to_numpy() + 3) % 7 + 1  # 1970-01-01 was a Thursday
    for count, mean, rows in [
        ("workdays", "workday_kwh", complete[weekday < 6]),
        ("weekend_days", "weekend_kwh", complete[weekday >= 6]),
    ]:
        row_bounds = _bounds(rows["meter"].to_numpy(), meters)
        table[count] = np.diff(row_bounds)
        with np.errstate(invalid="ignore", divide="ignore"):  # the mean of no days: NaN
            table[mean] = group_sums(rows["import_kwh"].to_numpy(), row_bounds) / table[count]
    per_weekday = complete.groupby(["meter", weekday]).size().groupby(level=0).max()
    table["most_days_per_weekday"] = per_weekday.reindex(table.index, fill_value=0)
    return table


def _base_loads(chunk: Chunk, zone: ZoneInfo) -> pd.Series:
    """Per meter (index): the median of the local days' smallest import over its complete
    days (all its days when none is complete), as kW."""
    imports = chunk.imports
    minima = daily_minima(imports.meter, imports.local(zone) // DAY_NS, imports.kwh)
    daily = chunk.daily
    counted = daily[daily["complete"] | ~daily.groupby("meter")["complete"].transform("any")]
    keys = pd.MultiIndex.from_frame(minima[["meter", "day"]])
    wanted = pd.MultiIndex.from_frame(counted[["meter", "day_number"]])
    return base_loads_kw(minima[keys.isin(wanted)])


def _export_hours(chunk: Chunk, zone: ZoneInfo) -> pd.Series:
    """Per meter (index) with exports: the local hour of day exporting most in the window
    (the earliest of equal ones)."""
    exports = chunk.exports
    key = exports.meter * 24 + exports.local(zone) // HOUR_NS % 24
    # a grouped pandas sum, as the per-meter code took it: near-equal hours rank alike
    sums = pd.Series(exports.kwh).groupby(key).sum()
    frame = pd.DataFrame({"meter": sums.index // 24, "hour": sums.index % 24, "kwh": sums})
    most = frame[frame["kwh"] == frame.groupby("meter")["kwh"].transform("max")]
    return most.drop_duplicates("meter").set_index("meter")["hour"]


def _main_register(chunk: Chunk) -> Register:
    """Per meter its import readings, or its export readings when it imports nothing."""
    imports, exports = chunk.imports, chunk.exports
    take = (imports.counts == 0)[exports.meter]
    meter = np.r_[imports.meter, exports.meter[take]]
    order = np.argsort(meter, kind="stable")  # a meter's readings are of one register
    counts = np.where(imports.counts > 0, imports.counts, exports.counts)
    return Register(
        bounds=np.r_[0, np.cumsum(counts)],
        ts=np.r_[imports.ts, exports.ts[take]][order],
        kwh=np.r_[imports.kwh, exports.kwh[take]][order],
    )


def _repetitions(chunk: Chunk) -> dict[str, np.ndarray]:
    """Per meter: the daily and weekly repetition (lagged correlation) of its main register,
    each on its own 15-minute grid from its first to its last reading (NaN where missing)."""
    main = _main_register(chunk)
    counts = main.counts
    has = counts > 0
    first = np.zeros(len(counts), dtype=np.int64)
    last = np.zeros(len(counts), dtype=np.int64)
    first[has] = main.ts[main.bounds[:-1][has]]
    last[has] = main.ts[main.bounds[1:][has] - 1]
    lengths = np.where(has, (last - first) // QUARTER_NS + 1, 0)
    grid = np.full((len(counts), max(int(lengths.max(initial=0)), 1)), np.nan)
    meter = main.meter
    grid[meter, (main.ts - first[meter]) // QUARTER_NS] = main.kwh
    return {kind: lagged_correlations(grid, lengths, lag) for kind, (lag, _) in LAGS.items()}


def _sum_per_key(key: np.ndarray, ts: np.ndarray, kwh: np.ndarray) -> tuple:
    """Readings summed per (key, ts), sorted by key and ts: as pandas' grouped sum adds the
    rows of one group (in the given order), so one member's reading stays itself."""
    if len(key) == 0:
        return key, ts, kwh
    if not np.all((np.diff(key) > 0) | ((np.diff(key) == 0) & (np.diff(ts) > 0))):
        order = np.lexsort((ts, key))  # installations with several meters of the register
        key, ts, kwh = key[order], ts[order], kwh[order]
    starts = np.flatnonzero(np.r_[True, (key[1:] != key[:-1]) | (ts[1:] != ts[:-1])])
    if len(starts) == len(key):
        return key, ts, kwh
    run = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(key)]))
    return key[starts], ts[starts], pd.Series(kwh).groupby(run).sum().to_numpy()


def _overlaps(chunk: Chunk) -> dict[int, Overlap]:
    """Per meter (position) of an installation with import and export: the installation's
    import, export and coincident energy over the quarter hours where both are measured."""
    codes, names = pd.factorize(pd.Series(chunk.installations))
    codes = np.asarray(codes)
    imports, exports = chunk.imports, chunk.exports
    with_both = np.intersect1d(codes[imports.counts > 0], codes[exports.counts > 0])
    if len(with_both) == 0:
        return {}
    flows = []
    for register in (imports, exports):
        installation = codes[register.meter]
        keep = np.isin(installation, with_both)
        key, ts, kwh = _sum_per_key(installation[keep], register.ts[keep], register.kwh[keep])
        flows.append((key * 2**32 + ts // QUARTER_NS, kwh))
    (import_keys, import_kwh), (export_keys, export_kwh) = flows
    # both sorted and unique: each import quarter hour looked up among the export ones
    at = np.minimum(np.searchsorted(export_keys, import_keys), max(len(export_keys) - 1, 0))
    both = export_keys[at] == import_keys if len(export_keys) else np.zeros(0, dtype=bool)
    common = import_keys[both]
    imported, exported = import_kwh[both], export_kwh[at[both]]
    bounds = np.searchsorted(common >> 32, with_both)
    bounds = np.r_[bounds, len(common)]
    sums = [group_sums(values, bounds) for values in (imported, exported)]
    coincident = group_sums(np.minimum(imported, exported), bounds)
    found = {}
    read = (imports.counts + exports.counts) > 0
    for i, code in enumerate(with_both):
        overlap = Overlap(str(names[code]), sums[0][i], sums[1][i], coincident[i])
        found.update(dict.fromkeys(np.flatnonzero((codes == code) & read), overlap))
    return found


def compute_insights(tenant: Tenant, chunk: Chunk) -> list[Insight]:
    """Insights for every meter of the chunk, from its window's daily rows and readings."""
    zone, tariff = tenant.zone, _Tariff.of(tenant)
    table = _daily_numbers(chunk, zone)
    table["import_count"] = chunk.imports.counts
    table["export_count"] = chunk.exports.counts
    table["import_kwh"] = group_sums(chunk.imports.kwh, chunk.imports.bounds)
    table["base_kw"] = _base_loads(chunk, zone)
    table["export_hour"] = _export_hours(chunk, zone)
    for kind, values in _repetitions(chunk).items():
        table[kind] = values
    complete = chunk.daily[chunk.daily["complete"]]
    unusual = flag_unusual_days(
        complete[["meter", "day", "import_kwh"]].rename(columns={"import_kwh": "kwh"})
    )
    unusual_bounds = _bounds(unusual["meter"].to_numpy(), len(chunk.windows))
    unusual_rows = [
        UnusualDay(*row)
        for row in zip(*(unusual[c].tolist() for c in UnusualDay._fields), strict=True)
    ]
    overlaps = _overlaps(chunk)
    day_bounds = _bounds(chunk.daily["meter"].to_numpy(), len(chunk.windows))
    starts = chunk.daily["day"].to_numpy()
    found: list[Insight] = []
    for meter, numbers in enumerate(table.itertuples()):
        lo, hi = day_bounds[meter], day_bounds[meter + 1]
        if lo == hi:
            continue
        u_lo, u_hi = unusual_bounds[meter], unusual_bounds[meter + 1]
        m = _Meter(
            tariff,
            zone,
            chunk.windows[meter],
            start=starts[lo],
            numbers=numbers,
            days=chunk.daily,
            rows=slice(lo, hi),
            unusual=unusual_rows[u_lo:u_hi],
            overlap=overlaps.get(meter),
        )
        found += _meter_insights(m)
    return found


# ---------------------------------------------------------------- database


def _installations(tenant: Tenant) -> dict[str, str]:
    """muid -> installation, for the registry's meters that name one."""
    return {m.muid: m.installation for m in tenant.meters if m.installation}


def installation_members(tenant: Tenant, muids: Sequence[str]) -> list[str]:
    """`muids` and the other registered meters of their installations, sorted: self-use is
    computed per installation, so one member's insights need all members' readings."""
    installation = _installations(tenant)
    wanted = {installation[muid] for muid in muids if muid in installation}
    members = {m.muid for m in tenant.meters if m.installation in wanted}
    return sorted(set(muids) | members)


def meter_chunks(
    tenant: Tenant, windows: Sequence[MeterWindow], size: int
) -> Iterator[list[MeterWindow]]:
    """`windows` in chunks of about `size` meters; an installation's meters stay together
    (a chunk grows past `size` only for an installation larger than that)."""
    installation = _installations(tenant)
    groups: dict[str, list[MeterWindow]] = defaultdict(list)
    for window in windows:
        groups[installation.get(window.muid, window.muid)].append(window)
    chunk: list[MeterWindow] = []
    for members in groups.values():
        if chunk and len(chunk) + len(members) > size:
            yield chunk
            chunk = []
        chunk.extend(members)
    if chunk:
        yield chunk


_DAILY = (
    "WITH "
    + analytics.WINDOWS
    + """
    SELECT w.idx - 1, d.day, d.day - DATE '1970-01-01', d.import_kwh, d.export_kwh, d.ht_kwh,
        d.feed_in_credit, d.peak_kw, d.peak_at, d.intervals, d.expected_intervals, d.complete
    FROM w JOIN {s}.daily_energy d
      ON d.muid = w.muid AND d.day BETWEEN w.window_start AND w.window_end
    ORDER BY 1, 2"""
)

# Per meter one index range scan of its window; each register's readings come as one binary
# string of (time: int8 µs since 2000-01-01, timestamptz's binary form; kwh: float8) pairs,
# in the order of the scan: two values per meter to read instead of thousands of rows.
_READINGS = (
    "WITH "
    + analytics.WINDOWS
    + """
    SELECT w.idx - 1, r.*
    FROM w CROSS JOIN LATERAL (
        SELECT string_agg(timestamptz_send(m.ts) || float8send(m.kwh), ''::bytea)
                FILTER (WHERE m.register = %(import)s),
            string_agg(timestamptz_send(m.ts) || float8send(m.kwh), ''::bytea)
                FILTER (WHERE m.register = %(export)s)
        FROM {s}.meter_readings m
        WHERE m.muid = w.muid AND m.ts >= w.lo AND m.ts < w.hi
          AND m.register IN (%(import)s, %(export)s)) r"""
)
_READING = np.dtype([("ts", ">i8"), ("kwh", ">f8")])

_PG_EPOCH_NS = 946_684_800 * 10**9  # 2000-01-01 UTC, PostgreSQL's epoch, in ns since 1970


def _copy_out(cur, query: sql.Composable, params: dict) -> Iterator[list[memoryview | None]]:
    """The rows of `query`, read as one binary COPY; each row as its fields' raw bytes.

    COPY takes no bind parameters, so they are bound by psycopg2's mogrify: the same
    quoting that `execute` applies (psycopg2 always binds on the client).
    """
    buffer = io.BytesIO()
    statement = b"COPY (" + cur.mogrify(query, params) + b") TO STDOUT WITH (FORMAT binary)"
    cur.copy_expert(statement, buffer)
    data = buffer.getbuffer()
    (extension,) = struct.unpack_from(">i", data, 15)  # after signature (11) and flags (4)
    at = 19 + extension
    while True:
        (fields,) = struct.unpack_from(">h", data, at)
        at += 2
        if fields == -1:
            return
        row: list[memoryview | None] = []
        for _ in range(fields):
            (size,) = struct.unpack_from(">i", data, at)
            at += 4
            row.append(None if size < 0 else data[at : at + size])
            at += max(size, 0)
        yield row


def _register(parts: list[memoryview | None]) -> Register:
    """One register's per-meter binary strings of readings as a Register, in time order."""
    readings = [
        np.frombuffer(p, _READING) if p is not None else np.zeros(0, _READING) for p in parts
    ]
    counts = np.array([len(r) for r in readings], dtype=np.int64)
    joined = np.concatenate(readings) if readings else np.zeros(0, _READING)
    times = joined["ts"].astype(np.int64) * 1000 + _PG_EPOCH_NS
    values = joined["kwh"].astype(np.float64)
    meter = np.repeat(np.arange(len(counts)), counts)
    if len(times) > 1 and not np.all((np.diff(times) > 0) | (np.diff(meter) != 0)):
        order = np.lexsort((times, meter))  # the scan order is not promised: sort if needed
        times, values = times[order], values[order]
    return Register(np.r_[0, np.cumsum(counts)], times, values)


def load_chunk(conn: Connection, tenant: Tenant, windows: Sequence[MeterWindow]) -> Chunk:
    """The daily rows and import/export readings inside each meter's window."""
    s = sql.Identifier(tenant.schema)
    params = {**analytics.window_params(tenant, windows), "import": IMPORT, "export": EXPORT}
    with conn.cursor() as cur:
        cur.execute(sql.SQL(_DAILY).format(s=s), params)
        daily = pd.DataFrame(cur.fetchall(), columns=DAILY_COLUMNS)
        parts: list = [None] * len(windows)
        for meter, *fields in _copy_out(cur, sql.SQL(_READINGS).format(s=s), params):
            parts[struct.unpack(">q", meter)[0]] = fields
    daily["peak_at"] = pd.to_datetime(daily["peak_at"], utc=True)
    daily["complete"] = daily["complete"].astype(bool)
    installation = _installations(tenant)
    return Chunk(
        windows=windows,
        installations=[installation.get(w.muid, w.muid) for w in windows],
        daily=daily,
        imports=_register([p[0] for p in parts]),
        exports=_register([p[1] for p in parts]),
    )


def write_insights(
    conn: Connection, tenant: Tenant, muids: Sequence[str], found: list[Insight]
) -> int:
    """Make the table hold exactly `found` for the meters `muids`; unchanged findings keep
    their computed_at. Returns the number of rows inserted, changed or removed."""
    s = sql.Identifier(tenant.schema)
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "DELETE FROM {}.insights i WHERE i.muid = ANY(%s::uuid[]) "
                "AND (i.muid::text, i.kind) NOT IN (SELECT * FROM unnest(%s::text[], %s::text[]))"
            ).format(s),
            (list(muids), [i.muid for i in found], [i.kind for i in found]),
        )
        removed = cur.rowcount
        cur.execute(
            sql.SQL(
                """INSERT INTO {}.insights AS i (tenant, muid, period_start, period_end, kind,
                    value, unit, severity, rank, message)
                SELECT * FROM unnest(%s::text[], %s::uuid[], %s::date[], %s::date[], %s::text[],
                    %s::float8[], %s::text[], %s::text[], %s::smallint[], %s::text[])
                ON CONFLICT (muid, kind) DO UPDATE SET tenant = EXCLUDED.tenant,
                    period_start = EXCLUDED.period_start, period_end = EXCLUDED.period_end,
                    value = EXCLUDED.value, unit = EXCLUDED.unit, severity = EXCLUDED.severity,
                    rank = EXCLUDED.rank, message = EXCLUDED.message, computed_at = now()
                WHERE (i.tenant, i.period_start, i.period_end, i.value, i.unit, i.severity,
                       i.rank, i.message)
                    IS DISTINCT FROM (EXCLUDED.tenant, EXCLUDED.period_start,
                       EXCLUDED.period_end, EXCLUDED.value, EXCLUDED.unit, EXCLUDED.severity,
                       EXCLUDED.rank, EXCLUDED.message)"""
            ).format(s),
            (
                [tenant.id] * len(found),
                [i.muid for i in found],
                [i.period_start for i in found],
                [i.period_end for i in found],
                [i.kind for i in found],
                [i.value for i in found],
                [i.unit for i in found],
                [i.severity for i in found],
                [i.rank for i in found],
                [i.message for i in found],
            ),
        )
        return removed + cur.rowcount


def _remove_meters_without_window(
    conn: Connection, tenant: Tenant, muids: Sequence[str] | None, last_day: date | None
) -> int:
    """Drop the findings of meters (of `muids`, None: any) that have no window any more."""
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                """DELETE FROM {s}.insights i
                WHERE (%(all)s OR i.muid = ANY(%(muids)s::uuid[]))
                  AND NOT EXISTS (SELECT 1 FROM {s}.daily_energy d
                                  WHERE d.muid = i.muid AND d.day <= %(last_day)s)"""
            ).format(s=sql.Identifier(tenant.schema)),
            {"all": muids is None, "muids": list(muids or []), "last_day": last_day or date.max},
        )
        return cur.rowcount


@dataclass
class _Tally:
    rows: int = 0
    changed: int = 0
    warnings: int = 0
    kinds: Counter[str] = field(default_factory=Counter)

    def add(self, found: list[Insight]) -> None:
        self.rows += len(found)
        self.warnings += sum(i.severity == "warning" for i in found)
        self.kinds.update(i.kind for i in found)


def _refresh_chunks(
    conn: Connection, tenant: Tenant, chunks: Iterator[list[MeterWindow]]
) -> _Tally:
    """Read, compute and write the chunks; what was found and how many rows changed.

    Reading and writing a chunk is mostly the database's work, computing one this process's.
    A second thread runs every statement, in order and one at a time, on the caller's
    connection (and transaction), and this one only computes: the next chunk is read and the
    previous one written while a chunk is computed, so both cores are busy.
    """
    tally = _Tally()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="insights-sql") as statements:
        following = next(chunks, None)
        reading = (
            None if following is None else statements.submit(load_chunk, conn, tenant, following)
        )
        writing = None
        while reading is not None:
            chunk = reading.result()
            following = next(chunks, None)
            reading = (
                None
                if following is None
                else statements.submit(load_chunk, conn, tenant, following)
            )
            found = compute_insights(tenant, chunk)
            tally.add(found)
            if writing is not None:
                tally.changed += writing.result()  # one write waits at most: bounded memory
            muids = [w.muid for w in chunk.windows]
            writing = statements.submit(write_insights, conn, tenant, muids, found)
        if writing is not None:
            tally.changed += writing.result()
    return tally


def refresh_insights(
    conn: Connection,
    tenant: Tenant,
    muids: Sequence[str] | None = None,
    last_day: date | None = None,
) -> InsightsResult:
    """Recompute insights over each meter's trailing window and store them.

    `muids` restricts the work to those meters and the other meters of their installations
    (None: every meter); `last_day` ends each window at the meter's newest day on or before
    it (None: its newest day). Exactly those meters' rows are replaced; the rest stay.
    """
    scope = None if muids is None else installation_members(tenant, muids)
    windows = analytics.meter_windows(conn, tenant.schema, muids=scope, last_day=last_day)
    tally = _refresh_chunks(conn, tenant, meter_chunks(tenant, windows, CHUNK_METERS))
    tally.changed += _remove_meters_without_window(conn, tenant, scope, last_day)
    return InsightsResult(
        len(windows), tally.rows, tally.changed, tally.warnings, dict(tally.kinds)
    )

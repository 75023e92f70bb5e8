"""FROZEN PRE-REWRITE ORACLE: insights and the weekday-hour profile as they were computed before
issue 8's chunked, vectorised rewrite (exnaton_pipeline/lib/energy/insights.py and the profile
part of analytics.py at commit 05defe9). Do not edit; production code must not import it.

The golden test (test_insights_golden.py) runs this whole-tenant, per-meter pandas version and
the new one on the same synthetic fleet and demands identical findings. It is the
reference the rewrite is judged by, so it is deliberately a copy and not shared code: changing
it would move the goalposts. Only the window helpers and the profile statement it used from
analytics.py are copied in (section "frozen from analytics.py") so that it stays whole when
analytics.py changes; the tables it reads and writes are created by the production code.

Original module docstring follows.

Per-meter insights: findings in plain sentences, with the numbers a customer can check.

Computed per tenant over each meter's trailing window (`analytics.meter_windows`: 28 local
days ending at the meter's newest day, starting no earlier than its first day), from
`daily_energy` and the 15-minute series in `meter_readings`. One row per (meter, kind):

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
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from psycopg2 import sql
from psycopg2.extensions import connection as Connection

from exnaton_pipeline.lib.tenants import Tenant

IMPORT = "active_import"
EXPORT = "active_export"

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

DAILY_COLUMNS = [
    "muid",
    "day",
    "import_kwh",
    "export_kwh",
    "ht_kwh",
    "nt_kwh",
    "cost",
    "feed_in_credit",
    "peak_kw",
    "peak_at",
    "intervals",
    "expected_intervals",
    "complete",
]
READING_COLUMNS = ["muid", "register", "ts", "kwh"]


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


# ---------------------------------------------------------------- statistics (pure)


def base_load_kw(imports: pd.DataFrame, zone: ZoneInfo, days: set[date]) -> float | None:
    """Median over `days` of each local day's smallest 15-minute import, as kW."""
    local_day = imports["ts"].dt.tz_convert(zone).dt.date
    minima = imports.groupby(local_day)["kwh"].min()
    minima = minima[minima.index.isin(days)]
    return None if minima.empty else float(minima.median() * 4)


def lagged_correlation(series: pd.Series, lag: int) -> float | None:
    """Pearson correlation of a regular series with itself `lag` steps earlier.

    NaN marks a missing interval; pairs with a missing side are left out. None when fewer
    than `lag` pairs remain or one side is constant.
    """
    values = series.to_numpy(dtype=float)
    if len(values) <= lag:
        return None
    earlier, later = values[:-lag], values[lag:]
    both = np.isfinite(earlier) & np.isfinite(later)
    if both.sum() < lag:
        return None
    x, y = earlier[both], later[both]
    if np.ptp(x) == 0 or np.ptp(y) == 0:  # exact test: a float std of equal values is not 0
        return None
    return float(np.corrcoef(x, y)[0, 1])


def unusual_days(days: pd.DataFrame) -> pd.DataFrame:
    """Days far from their weekday's median: columns day, kwh, usual, z (from `day`, `kwh`).

    The baseline is robust: median and median absolute deviation (MAD) of the same ISO
    weekday, from at least MIN_DAYS_FOR_BASELINE days. A day is unusual when its modified
    z-score 0.6745 * (kwh - median) / MAD exceeds UNUSUAL_Z and it is at least
    UNUSUAL_MIN_DEVIATION of the median away (so a tiny MAD does not flag small wobbles).
    """
    frame = days.assign(weekday=[d.isoweekday() for d in days["day"]])
    rows = []
    for _, group in frame.groupby("weekday"):
        if len(group) < MIN_DAYS_FOR_BASELINE:
            continue
        usual = float(group["kwh"].median())
        mad = float((group["kwh"] - usual).abs().median())
        for day, kwh in zip(group["day"], group["kwh"], strict=True):
            off = kwh - usual
            if off == 0:
                continue
            z = 0.6745 * off / mad if mad > 0 else math.copysign(math.inf, off)
            if abs(z) > UNUSUAL_Z and abs(off) >= UNUSUAL_MIN_DEVIATION * usual:
                rows.append({"day": day, "kwh": float(kwh), "usual": usual, "z": z})
    found = pd.DataFrame(rows, columns=["day", "kwh", "usual", "z"])
    return found.sort_values("z", key=abs, ascending=False, ignore_index=True)


@dataclass(frozen=True)
class Overlap:
    """Import and export of one installation in the quarter hours where both are measured."""

    installation: str
    import_kwh: float
    export_kwh: float
    coincident_kwh: float  # sum over quarter hours of min(import, export)


def installation_overlaps(tenant: Tenant, readings: pd.DataFrame) -> dict[str, Overlap]:
    """Overlap per meter (muid -> its installation's overlap) for installations with both."""
    installation = {m.muid: m.installation for m in tenant.meters if m.installation}
    groups: dict[str, list[str]] = defaultdict(list)
    for muid in readings["muid"].unique():
        groups[installation.get(muid, muid)].append(muid)
    found = {}
    for name, muids in groups.items():
        rows = readings[readings["muid"].isin(muids)]
        flows = rows.pivot_table(index="ts", columns="register", values="kwh", aggfunc="sum")
        if IMPORT not in flows or EXPORT not in flows:
            continue
        both = flows[[IMPORT, EXPORT]].dropna()
        overlap = Overlap(
            installation=name,
            import_kwh=float(both[IMPORT].sum()),
            export_kwh=float(both[EXPORT].sum()),
            coincident_kwh=float(np.minimum(both[IMPORT], both[EXPORT]).sum()),
        )
        found.update(dict.fromkeys(muids, overlap))
    return found


# ---------------------------------------------------------------- wording


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


# ---------------------------------------------------------------- one meter


@dataclass
class _Meter:
    tenant: Tenant
    window: MeterWindow
    start: date  # first day with readings in the window
    daily: pd.DataFrame
    imports: pd.DataFrame
    exports: pd.DataFrame

    @property
    def currency(self) -> str:
        return self.tenant.tariff.currency

    @property
    def complete(self) -> pd.DataFrame:
        return self.daily[self.daily["complete"]]

    def insight(
        self, kind: str, value: float | None, unit: str, severity: str, message: str
    ) -> Insight:
        value = None if value is None else float(value)
        return Insight(
            self.window.muid, kind, value, unit, severity, message, self.start, self.window.end
        )


def _base_load(m: _Meter) -> Insight | None:
    days = set(m.complete["day"]) or set(m.daily["day"])
    kw = base_load_kw(m.imports, m.tenant.zone, days)
    if kw is None or m.imports["kwh"].sum() <= 0:
        return None
    yearly_kwh = kw * HOURS_PER_YEAR
    yearly_cost = yearly_kwh * m.tenant.tariff.mean_rate()
    hours = len(m.imports) / 4
    share = kw * hours / m.imports["kwh"].sum()
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
    peaks = m.daily.dropna(subset=["peak_kw"])
    if peaks.empty:
        return None
    top = peaks.sort_values(["peak_kw", "peak_at"], ascending=[False, True]).iloc[0]
    at = pd.Timestamp(top["peak_at"]).tz_convert(m.tenant.zone)
    usual = m.complete.dropna(subset=["peak_kw"])
    usual = usual if not usual.empty else peaks
    hours = pd.to_datetime(usual["peak_at"], utc=True).dt.tz_convert(m.tenant.zone).dt.hour
    counts = hours.value_counts()
    hour = int(counts[counts == counts.max()].index.min())
    message = (
        f"Your highest demand was {top['peak_kw']:.2f} kW, on {_day(at.date())} in the quarter "
        f"hour from {at:%H:%M}; the daily peak came most often {_hour(hour)} "
        f"({counts.max()} of {len(hours)} days)."
    )
    return m.insight("peak_demand", top["peak_kw"], "kW", "info", message)


def _high_tariff_share(m: _Meter) -> Insight | None:
    plan = m.tenant.tariff
    if not (plan.has_band("high") and plan.has_band("low")):
        return None
    high, low = plan.rate("high"), plan.rate("low")
    total, ht = m.daily["import_kwh"].sum(), m.daily["ht_kwh"].sum()
    if total <= 0 or high <= low:
        return None
    share = ht / total
    observed_days = m.daily["intervals"].sum() / INTERVALS_PER_DAY
    saving = SHIFT_SHARE * ht * (high - low) * DAYS_PER_MONTH / observed_days
    message = (
        f"{share:.0%} of your consumption ({ht:.2f} of {total:.2f} kWh) was in the high "
        f"tariff ({plan.describe_band('high')}, {high:.2f} instead of {low:.2f} "
        f"{m.currency}/kWh). Moving {SHIFT_SHARE:.0%} of it to low-tariff hours would save "
        f"about {saving:.2f} {m.currency} a month."
    )
    severity = "tip" if saving >= SAVING_TIP else "info"
    return m.insight("high_tariff_share", share * 100, "%", severity, message)


def _weekday_weekend(m: _Meter) -> Insight | None:
    days = m.complete
    weekend = np.array([d.isoweekday() >= 6 for d in days["day"]], dtype=bool)
    if weekend.all() or not weekend.any():
        return None
    workday = days.loc[~weekend, "import_kwh"].mean()
    rest = days.loc[weekend, "import_kwh"].mean()
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
    days = m.complete[["day", "import_kwh"]].rename(columns={"import_kwh": "kwh"})
    per_weekday = pd.Series([d.isoweekday() for d in days["day"]]).value_counts()
    if per_weekday.empty or per_weekday.max() < MIN_DAYS_FOR_BASELINE:
        return None
    found = unusual_days(days)
    if found.empty:
        message = (
            f"No unusual days: every complete day from {_date(m.start)} to "
            f"{_date(m.window.end)} stayed close to what is usual for its weekday."
        )
        return m.insight("unusual_days", 0, "days", "info", message)
    listed = [
        f"{_day(row.day)} used {row.kwh:.2f} kWh where a usual {row.day:%A} uses "
        f"{row.usual:.2f} kWh ({(row.kwh / row.usual - 1):+.0%})"
        for row in found.head(3).itertuples()
    ]
    more = f", and {len(found) - 3} more" if len(found) > 3 else ""
    noun = "day stood" if len(found) == 1 else "days stood"
    message = f"{len(found)} {noun} out from your usual pattern: {'; '.join(listed)}{more}."
    return m.insight("unusual_days", len(found), "days", "warning", message)


def _repetition(m: _Meter) -> list[Insight]:
    main, noun = (m.imports, "consumption") if not m.imports.empty else (m.exports, "feed-in")
    if main.empty:
        return []
    series = main.set_index("ts")["kwh"].sort_index()
    grid = pd.date_range(series.index.min(), series.index.max(), freq="15min")
    series = series.reindex(grid)
    found = []
    for kind, (lag, period) in LAGS.items():
        r = lagged_correlation(series, lag)
        if r is None:
            continue
        message = (
            f"Your {noun} has {_strength(r)} {'daily' if period == 'day' else 'weekly'} "
            f"rhythm: each quarter hour correlates {r:.2f} with the same quarter hour one "
            f"{period} earlier (1 means every {period} is the same, 0 no repeating pattern)."
        )
        found.append(m.insight(kind, r, "correlation", "info", message))
    return found


def _feed_in(m: _Meter) -> Insight | None:
    total = m.daily["export_kwh"].sum()
    credit = m.daily["feed_in_credit"].sum()
    rate = m.tenant.tariff.feed_in_rate
    period = f"from {_date(m.start)} to {_date(m.window.end)}"
    if total <= 0:
        message = f"No energy was fed into the grid {period}."
        return m.insight("feed_in", 0, "kWh", "info", message)
    hours = m.exports["ts"].dt.tz_convert(m.tenant.zone).dt.hour
    hour = int(m.exports.groupby(hours)["kwh"].sum().idxmax())
    message = (
        f"You fed {total:.2f} kWh into the grid {period}, worth {credit:.2f} {m.currency} at "
        f"the feed-in rate of {rate:.2f} {m.currency}/kWh; most of it {_hour(hour)}."
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
    if not m.exports.empty and overlap.export_kwh > 0:
        share = overlap.coincident_kwh / overlap.export_kwh
        message = (
            f"{lead} Using your own energy at those times would have kept {share:.0%} of "
            f"your feed-in on site (self-consumption): {overlap.coincident_kwh:.2f} of "
            f"{overlap.export_kwh:.2f} kWh."
        )
        found.append(m.insight("self_consumption", share * 100, "%", "info", message))
    if not m.imports.empty and overlap.import_kwh > 0:
        share = overlap.coincident_kwh / overlap.import_kwh
        message = (
            f"{lead} Using your own energy at those times would have covered {share:.0%} of "
            f"your grid consumption (self-sufficiency): {overlap.coincident_kwh:.2f} of "
            f"{overlap.import_kwh:.2f} kWh."
        )
        found.append(m.insight("self_sufficiency", share * 100, "%", "info", message))
    return found


def _data_quality(m: _Meter) -> Insight:
    days = [m.start + timedelta(days=n) for n in range((m.window.end - m.start).days + 1)]
    stored = m.daily.set_index("day")
    gaps = []
    for day in days:
        if day not in stored.index:
            gaps.append((day, "no readings"))
        elif not stored.at[day, "complete"]:
            row = stored.loc[day]
            gaps.append((day, f"{row['intervals']} of {row['expected_intervals']} quarter hours"))
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
    order = sorted(found, key=lambda i: (SEVERITY_ORDER[i.severity], KIND_ORDER.index(i.kind)))
    return [replace(insight, rank=n) for n, insight in enumerate(order, 1)]


def compute_insights(
    tenant: Tenant, windows: list[MeterWindow], daily: pd.DataFrame, readings: pd.DataFrame
) -> list[Insight]:
    """Insights for every meter with a window, from its window's daily rows and readings.

    `daily` has DAILY_COLUMNS, `readings` READING_COLUMNS (ts tz-aware UTC); both restricted
    to the meters' windows.
    """
    overlaps = installation_overlaps(tenant, readings)
    found: list[Insight] = []
    for window in windows:
        days = daily[daily["muid"] == window.muid].sort_values("day")
        if days.empty:
            continue
        mine = readings[readings["muid"] == window.muid]
        m = _Meter(
            tenant,
            window,
            start=days["day"].min(),
            daily=days,
            imports=mine[mine["register"] == IMPORT].sort_values("ts"),
            exports=mine[mine["register"] == EXPORT].sort_values("ts"),
        )
        items: list[Insight | None] = []
        if not m.imports.empty:
            items += [
                _base_load(m),
                _peak_demand(m),
                _high_tariff_share(m),
                _weekday_weekend(m),
                _unusual_days(m),
            ]
        if not m.exports.empty:
            items.append(_feed_in(m))
        items += _repetition(m)
        if window.muid in overlaps:
            items += _self_use(m, overlaps[window.muid])
        items.append(_data_quality(m))
        found += _ranked([i for i in items if i is not None])
    return found


# ---------------------------------------------------------------- database


def load_daily(conn: Connection, schema: str, windows: list[MeterWindow]) -> pd.DataFrame:
    """`daily_energy` rows inside each meter's window."""
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "SELECT d.muid::text, d.day, d.import_kwh, d.export_kwh, d.ht_kwh, d.nt_kwh, "
                "d.cost, d.feed_in_credit, d.peak_kw, d.peak_at, d.intervals, "
                "d.expected_intervals, d.complete FROM "
                + WINDOWS
                + " JOIN {}.daily_energy d ON d.muid = w.muid "
                "AND d.day BETWEEN w.window_start AND w.window_end ORDER BY 1, 2"
            ).format(sql.Identifier(schema)),
            window_params(windows),
        )
        frame = pd.DataFrame(cur.fetchall(), columns=DAILY_COLUMNS)
    frame["peak_at"] = pd.to_datetime(frame["peak_at"], utc=True)
    frame["complete"] = frame["complete"].astype(bool)
    return frame


def load_readings(conn: Connection, tenant: Tenant, windows: list[MeterWindow]) -> pd.DataFrame:
    """Import and export readings inside each meter's window (local days), oldest first."""
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "SELECT r.muid::text, r.register, r.ts, r.kwh FROM "
                + WINDOWS
                + " JOIN {}.meter_readings r ON r.muid = w.muid "
                "AND r.ts >= (w.window_start::timestamp AT TIME ZONE %(tz)s) "
                "AND r.ts < ((w.window_end + 1)::timestamp AT TIME ZONE %(tz)s) "
                "WHERE r.register IN (%(import)s, %(export)s) ORDER BY 1, 2, 3"
            ).format(sql.Identifier(tenant.schema)),
            {
                "tz": tenant.timezone,
                "import": IMPORT,
                "export": EXPORT,
                **window_params(windows),
            },
        )
        frame = pd.DataFrame(cur.fetchall(), columns=READING_COLUMNS)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame["kwh"] = frame["kwh"].astype(float)
    return frame


def write_insights(conn: Connection, tenant: Tenant, found: list[Insight]) -> int:
    """Make the table hold exactly `found`; unchanged findings keep their computed_at.

    Returns the number of rows inserted, changed or removed.
    """
    s = sql.Identifier(tenant.schema)
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "DELETE FROM {}.insights i WHERE (i.muid::text, i.kind) NOT IN "
                "(SELECT * FROM unnest(%s::text[], %s::text[]))"
            ).format(s),
            ([i.muid for i in found], [i.kind for i in found]),
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


def refresh_insights(conn: Connection, tenant: Tenant) -> list[Insight]:
    """Recompute the tenant's insights over each meter's trailing window and store them."""
    windows = meter_windows(conn, tenant.schema)
    daily = load_daily(conn, tenant.schema, windows)
    readings = load_readings(conn, tenant, windows)
    found = compute_insights(tenant, windows, daily, readings)
    write_insights(conn, tenant, found)
    return found


# ---------------------------------------------------------------- frozen from analytics.py


@dataclass(frozen=True)
class MeterWindow:
    """A meter's trailing window of local days, inclusive."""

    muid: str
    start: date
    end: date


def meter_windows(conn: Connection, schema: str, days: int = 28) -> list[MeterWindow]:
    """Each meter's trailing `days` local days ending at its newest day in `daily_energy`.

    A skip scan over the (muid, day) key: one index probe per meter, whatever the history.
    """
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                """WITH RECURSIVE m AS (
                    (SELECT muid FROM {s}.daily_energy ORDER BY muid LIMIT 1)
                    UNION ALL
                    SELECT (SELECT d.muid FROM {s}.daily_energy d WHERE d.muid > m.muid
                            ORDER BY d.muid LIMIT 1)
                    FROM m WHERE m.muid IS NOT NULL)
                SELECT m.muid::text,
                    (SELECT max(d.day) FROM {s}.daily_energy d WHERE d.muid = m.muid)
                FROM m WHERE m.muid IS NOT NULL ORDER BY 1"""
            ).format(s=sql.Identifier(schema))
        )
        rows = cur.fetchall()
    return [MeterWindow(muid, end - timedelta(days=days - 1), end) for muid, end in rows]


def window_params(windows: list[MeterWindow]) -> dict[str, list]:
    """Bind values for `unnest(%(muids)s::uuid[], %(starts)s::date[], %(ends)s::date[])`."""
    return {
        "muids": [w.muid for w in windows],
        "starts": [w.start for w in windows],
        "ends": [w.end for w in windows],
    }


WINDOWS = (
    "unnest(%(muids)s::uuid[], %(starts)s::date[], %(ends)s::date[]) "
    "AS w(muid, window_start, window_end)"
)

_PROFILE_INSERT = (
    """WITH per_day AS (
        SELECT h.muid, w.window_start, w.window_end, h.local_date, h.iso_weekday, h.local_hour,
            sum(h.import_kwh ORDER BY h.hour_start) AS import_kwh,
            sum(h.export_kwh ORDER BY h.hour_start) AS export_kwh
        FROM """
    + WINDOWS
    + """
        JOIN {s}.hourly_energy h ON h.muid = w.muid
         AND h.hour_start >= (w.window_start::timestamp AT TIME ZONE %(tz)s)
         AND h.hour_start < ((w.window_end + 1)::timestamp AT TIME ZONE %(tz)s)
        GROUP BY 1, 2, 3, 4, 5, 6)
    INSERT INTO {s}.weekday_hour_profile (muid, weekday, hour, avg_import_kwh, avg_export_kwh,
        days, window_start, window_end)
    SELECT muid, iso_weekday, local_hour, avg(import_kwh ORDER BY local_date),
        avg(export_kwh ORDER BY local_date), count(*), window_start, window_end
    FROM per_day GROUP BY muid, iso_weekday, local_hour, window_start, window_end
"""
)


@dataclass(frozen=True)
class ProfileResult:
    windows: list[MeterWindow]
    rows_written: int


def refresh_weekday_hour_profile(conn: Connection, tenant: Tenant) -> ProfileResult:
    """Recompute the tenant's weekday x hour profile over each meter's trailing window.

    The two 02:00 hours of an autumn DST day add up to one value for that day and hour.
    """
    windows = meter_windows(conn, tenant.schema)
    s = sql.Identifier(tenant.schema)
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DELETE FROM {s}.weekday_hour_profile").format(s=s))
        cur.execute(
            sql.SQL(_PROFILE_INSERT).format(s=s),
            {"tz": tenant.timezone, **window_params(windows)},
        )
        written = cur.rowcount
    return ProfileResult(windows, written)

"""What the dashboard computes from the loaded rows: headline figures and their change, meter
names, completeness, the typical-week matrices and the tariff's high-band windows.

Plain pandas and the tenant registry; no database, no Streamlit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from exnaton_pipeline.lib.energy.tariffs import WEEKDAY_NAMES, TariffPlan
from exnaton_pipeline.lib.tenants import Tenant
from streamlit_app.data import EXPORT, IMPORT, SelfUse
from streamlit_app.periods import READING_INTERVAL, Period, date_range_label

REGISTER_NAMES = {IMPORT: "Consumption", EXPORT: "Feed-in"}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!$|~])")


def plain_markdown(text: str) -> str:
    """`text` escaped for st.markdown: shown as is, no emphasis, links or $...$ maths."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


@dataclass(frozen=True)
class Totals:
    """Energy and money of one meter over a period (kWh; tariff currency), as the pipeline
    stored them: each reading priced by the tariff version valid on its local day."""

    consumption: float
    feed_in: float
    import_cost: float
    feed_in_credit: float
    high_tariff_kwh: float  # of the consumption

    @property
    def net_cost(self) -> float:
        """Import cost less the feed-in credit."""
        return self.import_cost - self.feed_in_credit

    @property
    def net_exchange(self) -> float:
        """Net grid exchange: import less export (negative: more fed in than drawn)."""
        return self.consumption - self.feed_in


# The headline figures: label, Totals attribute, unit ("money": the tariff's currency),
# colour of a rise. A meter shows the tariff split; a site with import and export (an
# installation, or one meter with both registers) its net exchange instead, and its self-use.
METER_FIGURES = [
    ("Consumption", "consumption", "kWh", "inverse"),
    ("Feed-in", "feed_in", "kWh", "normal"),
    ("Net cost", "net_cost", "money", "inverse"),
    ("Import cost", "import_cost", "money", "inverse"),
    ("Feed-in credit", "feed_in_credit", "money", "normal"),
]
SITE_FIGURES = [
    ("Consumption", "consumption", "kWh", "inverse"),
    ("Feed-in", "feed_in", "kWh", "normal"),
    ("Net grid exchange", "net_exchange", "kWh", "inverse"),
    ("Net cost", "net_cost", "money", "inverse"),
    ("Feed-in credit", "feed_in_credit", "money", "normal"),
]
SELF_USE_FIGURES = [
    ("Self-consumption", "self_consumption"),
    ("Self-sufficiency", "self_sufficiency"),
]


def share_figure(
    current: SelfUse | None, previous: SelfUse | None, attribute: str
) -> tuple[str, str | None]:
    """A self-use share as shown ('41%', or '–' without feed-in or import) and its change in
    percentage points against the previous period ('+3 pp'; None without one)."""
    value = getattr(current, attribute) if current else None
    old = getattr(previous, attribute) if previous else None
    if value is None:
        return "–", None
    return f"{value:.0%}", None if old is None else f"{(value - old) * 100:+.0f} pp"


def totals(daily: pd.DataFrame, period: Period) -> Totals | None:
    """Sum the daily rows of `period`; None when the period has no rows at all."""
    return sum_totals([daily[[period.contains(day) for day in daily["day"]]]])


def sum_totals(parts: list[pd.DataFrame]) -> Totals | None:
    """Sum rows of daily or hourly energy (or priced quarter hours), given in one or more
    frames; None when there are no rows at all.

    Money is the stored `cost` and `feed_in_credit`, never re-priced here: after a tariff
    change the pipeline reprices the days it affects, and the dashboard agrees with it.
    """
    if all(part.empty for part in parts):
        return None

    def total(column: str) -> float:
        return sum(float(part[column].sum()) for part in parts)

    return Totals(
        consumption=total("import_kwh"),
        feed_in=total("export_kwh"),
        import_cost=total("cost"),
        feed_in_credit=total("feed_in_credit"),
        high_tariff_kwh=total("ht_kwh"),
    )


def priced_quarter_hours(quarters: pd.DataFrame, plan: TariffPlan, zone: ZoneInfo) -> pd.DataFrame:
    """15-minute rows (ts UTC, import_kwh, export_kwh) with the energy columns of the
    aggregates, split, priced and credited as the pipeline does for hourly and daily energy
    (the last, partial hour of a period in progress, at most three quarter hours not read
    from the aggregates): import by the band and rate of its local slot in the plan's
    version valid on its local day (what the pipeline's tariff_slots hold), feed-in credit at
    that version's feed-in rate."""
    local = quarters["ts"].dt.tz_convert(zone)
    versions = [plan.at(t.date()) for t in local]
    bands = [
        v.slot_bands()[(t.isoweekday(), t.hour * 4 + t.minute // 15)]
        for v, t in zip(versions, local, strict=True)
    ]
    high = [band == "high" for band in bands]
    energy = quarters[["import_kwh", "export_kwh"]].astype(float).fillna(0.0)
    imported = energy["import_kwh"]
    rates = [v.rate(band) for v, band in zip(versions, bands, strict=True)]
    credit = [v.feed_in_rate for v in versions]
    return energy.assign(
        ht_kwh=imported.where(high, 0.0),
        nt_kwh=imported.mask(high, 0.0),
        cost=imported * rates,
        feed_in_credit=energy["export_kwh"] * credit,
    )


def tariff_text(plan: TariffPlan, start: date, end: date) -> str:
    """The rates of the plan's versions valid on the days start..end: 'Tariff: high 0.32
    CHF/kWh, low 0.22 CHF/kWh; feed-in 0.10 CHF/kWh.', each version after the first of the
    period named by its first day ('From 15 Feb 2023: ...')."""
    parts = []
    for version in plan.versions():
        if version.valid_from is not None and version.valid_from > end:
            continue
        if version != plan.at(start) and (
            version.valid_from is None or version.valid_from <= start
        ):
            continue  # replaced before the period starts
        rates = ", ".join(f"{b.name} {b.rate:.2f} {plan.currency}/kWh" for b in version.bands)
        lead = "Tariff" if not parts else f"From {version.valid_from:%-d %b %Y}"
        parts.append(f"{lead}: {rates}; feed-in {version.feed_in_rate:.2f} {plan.currency}/kWh.")
    return " ".join(parts)


def change_text(current: float, previous: float | None, unit: str, decimals: int) -> str | None:
    """'+84.0 kWh (+100%)' against the previous period; None without a previous period or
    when both are zero."""
    if previous is None or (abs(current) < 1e-9 and abs(previous) < 1e-9):
        return None  # nothing to compare, or nothing either time (e.g. feed-in of a consumer)
    diff = current - previous
    text = f"{diff:+,.{decimals}f} {unit}"
    if abs(previous) > 1e-9:
        text += f" ({diff / abs(previous):+.0%})"
    return text


def meter_name(tenant: Tenant, muid: str, registers: tuple[str, ...]) -> str:
    """The registry's name for the meter, else what it measures ('Consumption', 'Feed-in')."""
    named = tenant.meter_name(muid)
    if named:
        return named
    kinds = [REGISTER_NAMES[r] for r in (IMPORT, EXPORT) if r in registers]
    what = " & ".join(kinds).capitalize() if kinds else "Meter"
    return f"{what} ({muid[:8]})"


def meter_names(tenant: Tenant, meters: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """muid -> name for the meter picker: the registry's meters in its order, then the rest."""
    order = {meter.muid: n for n, meter in enumerate(tenant.meters)}
    names = {muid: meter_name(tenant, muid, registers) for muid, registers in meters.items()}
    return dict(sorted(names.items(), key=lambda item: (order.get(item[0], len(order)), item[1])))


INSTALLATION_KEY = "installation:"


@dataclass(frozen=True)
class Choice:
    """What the picker offers: one meter, or an installation (all registers of a site, the
    registry's meters sharing `installation:`), with the days its data covers."""

    key: str  # the muid, or "installation:<name>"
    name: str
    muids: tuple[str, ...]
    registers: tuple[str, ...]
    first_day: date
    last_day: date
    last_complete_day: date | None  # newest day complete for every member

    @property
    def is_installation(self) -> bool:
        return self.key.startswith(INSTALLATION_KEY)

    @property
    def has_both_registers(self) -> bool:
        """Imports and exports: the view shows net exchange and self-use."""
        return IMPORT in self.registers and EXPORT in self.registers


def choices(tenant: Tenant, meters: pd.DataFrame) -> dict[str, Choice]:
    """key -> Choice: every meter with data (named and ordered as `meter_names`), then every
    installation of the registry with a member with data, in the registry's order.

    `meters` is the catalogue (data.Catalogue.meters); one pass over its rows, so that a
    tenant of 10,000 meters costs milliseconds on every page run."""
    names = meter_names(tenant, dict(zip(meters["muid"], meters["registers"], strict=True)))
    rows = {
        row.muid: Choice(
            row.muid,
            names[row.muid],
            (row.muid,),
            row.registers,
            row.first_day,
            row.last_day,
            None if pd.isna(row.last_complete_day) else row.last_complete_day,
        )
        for row in meters.itertuples(index=False)
    }
    found = {muid: rows[muid] for muid in names}
    groups: dict[str, list[Choice]] = {}
    for meter in tenant.meters:
        if meter.installation and meter.muid in rows:
            groups.setdefault(meter.installation, []).append(rows[meter.muid])
    for installation, members in groups.items():
        key = INSTALLATION_KEY + installation
        found[key] = _installation(key, installation, members)
    return found


def _installation(key: str, name: str, members: list[Choice]) -> Choice:
    complete = [m.last_complete_day for m in members]
    return Choice(
        key,
        f"{name} (installation, {len(members)} meters)",
        tuple(m.key for m in members),
        tuple(sorted({r for m in members for r in m.registers})),
        min(m.first_day for m in members),
        max(m.last_day for m in members),
        None if None in complete else min(complete),
    )


def search(options: dict[str, Choice], text: str, current: str, limit: int) -> list[str]:
    """Keys of the choices whose name or key contains `text` (any case), at most `limit`,
    and always `current` (the picker must hold the value it shows)."""
    needle = text.strip().lower()
    found = [
        key
        for key, choice in options.items()
        if not needle or needle in choice.name.lower() or needle in key
    ][:limit]
    if current in options and current not in found:
        found.insert(0, current)
    return found


@dataclass(frozen=True)
class DaySoFar:
    """The local day still in progress: readings up to `until` (local), and `missing` quarter
    hours before it without a reading."""

    day: date
    until: datetime
    missing: int


def day_so_far(span: tuple[datetime, datetime], quarters: pd.DataFrame) -> DaySoFar:
    """Judge the local day in progress `span` ([midnight, end of the newest reading), from
    `periods.day_in_progress`) by `quarters`, its 15-minute rows (`load_quarter_hours`): it
    expects one per quarter hour up to the newest reading, counted in UTC so that the day of
    a DST change has one hour less or more before the same wall-clock time."""
    start, end = (moment.astimezone(UTC) for moment in span)
    expected = (end - start) // READING_INTERVAL
    return DaySoFar(span[0].date(), span[1], expected - len(quarters))


@dataclass(frozen=True)
class Completeness:
    missing: list[date]  # days of the period within the meter's data range without any row
    incomplete: list[date]  # finished days with fewer 15-minute readings than the day has
    so_far: DaySoFar | None = None  # the day in progress, when the period holds it

    def notice(self) -> str | None:
        parts = []
        if self.incomplete:
            count, days = _days_text(len(self.incomplete)), day_list(self.incomplete)
            parts.append(f"{count} with missing readings ({days})")
        if self.so_far is not None and self.so_far.missing > 0:
            count = self.so_far.missing
            parts.append(
                f"{date_range_label(self.so_far.day, self.so_far.day)} so far (readings up to "
                f"{self.so_far.until:%H:%M}): {count} quarter "
                f"{'hour' if count == 1 else 'hours'} without a reading"
            )
        if self.missing:
            parts.append(
                f"{_days_text(len(self.missing))} without any reading ({day_list(self.missing)})"
            )
        if not parts:
            return None
        return (
            "Incomplete data: "
            + "; ".join(parts)
            + ". The figures cover the readings that arrived."
        )


def _days_text(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def completeness(
    daily: pd.DataFrame, period: Period, first: date, last: date, so_far: DaySoFar | None = None
) -> Completeness:
    """Days of `period` with missing readings (`daily_energy.complete` false) or none at all.

    The day in progress (`so_far`, e.g. today up to 13:45; given when the period holds it) is
    not over, so it is not judged by the whole day's quarter hours but by those up to its
    newest reading.
    """
    present = set(daily["day"])
    incomplete = sorted(
        day
        for day, complete in zip(daily["day"], daily["complete"], strict=True)
        if not complete and period.contains(day) and (so_far is None or day != so_far.day)
    )
    start, end = max(period.start, first), min(period.end, last)
    span = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    return Completeness([d for d in span if d not in present], incomplete, so_far)


def day_list(days: list[date]) -> str:
    """Consecutive days folded into ranges: '1 Feb 2023, 20 – 26 Feb 2023'."""
    runs: list[list[date]] = []
    for day in days:
        if runs and day - runs[-1][-1] == timedelta(days=1):
            runs[-1].append(day)
        else:
            runs.append([day])
    return ", ".join(date_range_label(run[0], run[-1]) for run in runs)


def weekday_hour_matrix(profile: pd.DataFrame, column: str) -> pd.DataFrame:
    """7 x 24 frame of `column`: rows Mon..Sun (Monday first), columns local hours 0..23."""
    matrix = profile.pivot(index="weekday", columns="hour", values=column)
    matrix = matrix.reindex(index=range(1, 8), columns=range(24))
    matrix.index = list(WEEKDAY_NAMES)
    return matrix


def weekday_weekend_profile(profile: pd.DataFrame, column: str) -> pd.DataFrame:
    """Average energy per local hour on weekdays (Mon-Fri) and weekends (Sat, Sun).

    Each weekday's hourly average is weighted by the number of days behind it, so the result
    is the average over all observed weekdays (or weekend days), not an average of averages.
    """
    frame = profile.assign(
        group=profile["weekday"].map(lambda d: "Weekdays" if d <= 5 else "Weekends"),
        weighted=profile[column] * profile["days"],
    )
    sums = frame.groupby(["hour", "group"])[["weighted", "days"]].sum()
    average = (sums["weighted"] / sums["days"]).unstack("group")
    return average.reindex(index=range(24), columns=["Weekdays", "Weekends"])


def high_band_windows(plan: TariffPlan, start: date, end: date) -> list[tuple[datetime, datetime]]:
    """Local wall-clock (start, end) of every high-tariff window on the days start..end, by
    the plan's version valid on each day."""
    windows: list[tuple[datetime, datetime]] = []
    day = start
    while day <= end:
        bands = plan.at(day).slot_bands()
        midnight = datetime.combine(day, time())
        slot = 0
        while slot < 96:
            if bands[(day.isoweekday(), slot)] != "high":
                slot += 1
                continue
            first = slot
            while slot < 96 and bands[(day.isoweekday(), slot)] == "high":
                slot += 1
            windows.append(
                (midnight + timedelta(minutes=15 * first), midnight + timedelta(minutes=15 * slot))
            )
        day += timedelta(days=1)
    return windows


def csv_export(frame: pd.DataFrame, resolution: str, series: dict[str, str], tenant: Tenant) -> str:
    """The rows behind the energy chart as CSV, with plain column names and units.

    Interval starts are local times with their UTC offset, so DST hours stay unambiguous.
    """
    currency = tenant.tariff.currency.lower()
    names = {
        "start": "day" if resolution == "day" else f"interval_start ({tenant.timezone})",
        "import_kwh": "consumption_kwh",
        "export_kwh": "feed_in_kwh",
        "ht_kwh": "high_tariff_kwh",
        "nt_kwh": "low_tariff_kwh",
        "cost": f"cost_{currency}",
        "feed_in_credit": f"feed_in_credit_{currency}",
    }
    hidden = {"import_kwh", "export_kwh"} - set(series)
    columns = [c for c in names if c in frame.columns and c not in hidden]
    return frame[columns].rename(columns=names).to_csv(index=False)

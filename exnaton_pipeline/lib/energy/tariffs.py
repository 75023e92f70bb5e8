"""Tariff plans: energy rates by band and local time, and the feed-in rate.

A plan assigns every 15-minute slot of the week (ISO weekday 1..7 x slot 0..95, in the
tenant's local time) to exactly one band. Bands are `high` and `low` (a flat tariff uses
`low` only). A band's windows are (weekdays, start, end) at 15-minute resolution; one band
may instead say `windows: otherwise` and take every slot no other band claims.

A plan may change on dates: `changes:` lists later versions, each with a `valid_from` local
day and the `bands` and/or `feed_in_rate` that change then (what it leaves out stays as in
the version before). A reading is priced by the version valid on its local day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

BANDS = ("high", "low")
SLOTS_PER_DAY = 96
WEEKDAYS = range(1, 8)


class TariffError(ValueError):
    """A tariff plan that cannot be used; the message names the offending field."""


@dataclass(frozen=True)
class Window:
    weekdays: tuple[int, ...]
    start_slot: int  # inclusive, 15-minute slot of the local day
    end_slot: int  # exclusive; 96 means midnight at the end of the day


@dataclass(frozen=True)
class Band:
    name: str
    rate: float
    windows: tuple[Window, ...] | None  # None: every slot no other band claims


@dataclass(frozen=True)
class TariffPlan:
    """A tariff plan as first valid (`valid_from` None: since ever), with its later versions
    in `changes` (each a TariffPlan valid from its date, in order, without changes of its
    own)."""

    name: str
    currency: str
    feed_in_rate: float
    bands: tuple[Band, ...]
    valid_from: dt.date | None = None
    changes: tuple[TariffPlan, ...] = ()

    def versions(self) -> tuple[TariffPlan, ...]:
        """Every version, oldest first: this plan's own rates, then each change."""
        return (replace(self, changes=()), *self.changes)

    def at(self, day: dt.date) -> TariffPlan:
        """The version valid on local day `day`."""
        valid = [v for v in self.versions() if v.valid_from is None or v.valid_from <= day]
        return valid[-1]

    def latest(self) -> TariffPlan:
        """The newest version: today's rates."""
        return self.versions()[-1]

    def slot_bands(self) -> dict[tuple[int, int], str]:
        """Band name of every (ISO weekday, slot) of the week."""
        return _assign_slots(self, where=f"tariff_plans.{self.name}")

    def rate(self, band: str) -> float:
        return next(b.rate for b in self.bands if b.name == band)

    def has_band(self, band: str) -> bool:
        return any(b.name == band for b in self.bands)

    def describe_band(self, band: str) -> str:
        """The band's local hours in words, e.g. 'Mon-Fri 07:00-20:00'."""
        windows = next(b.windows for b in self.bands if b.name == band)
        if windows is None:
            return "at all other times"
        return ", ".join(
            f"{_days(w.weekdays)} {_hhmm(w.start_slot)}-{_hhmm(w.end_slot)}" for w in windows
        )

    def mean_rate(self) -> float:
        """The rate averaged over the 672 quarter hours of the week (what a constant load pays)."""
        slots = self.slot_bands()
        return sum(self.rate(band) for band in slots.values()) / len(slots)


def _slot(value: Any, where: str) -> int:
    text = str(value)
    try:
        hours, minutes = (int(part) for part in text.split(":"))
    except ValueError:
        raise TariffError(f"{where}: {text!r} is not a time HH:MM") from None
    if not (0 <= hours <= 24 and minutes in (0, 15, 30, 45)) or (hours == 24 and minutes):
        raise TariffError(f"{where}: {text!r} is not a time on the 15-minute grid (00:00..24:00)")
    return hours * 4 + minutes // 15


def _window(raw: Any, where: str) -> Window:
    if not isinstance(raw, dict):
        raise TariffError(f"{where}: expected a mapping with weekdays, start, end")
    days = raw.get("weekdays")
    if not isinstance(days, list) or not days or not all(d in WEEKDAYS for d in days):
        raise TariffError(f"{where}.weekdays: expected ISO weekdays 1 (Monday) .. 7 (Sunday)")
    start = _slot(raw.get("start"), f"{where}.start")
    end = _slot(raw.get("end"), f"{where}.end")
    if end <= start:
        raise TariffError(f"{where}: end {raw.get('end')} is not after start {raw.get('start')}")
    return Window(tuple(sorted(set(days))), start, end)


def _rate(raw: Any, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw != raw:
        raise TariffError(f"{where}: expected a number, got {raw!r}")
    if raw < 0:
        raise TariffError(f"{where}: rate {raw} is below zero")
    return float(raw)


def parse_plan(name: str, raw: Any) -> TariffPlan:
    """Build and check a plan from its registry mapping; raises TariffError naming the field."""
    where = f"tariff_plans.{name}"
    if not isinstance(raw, dict):
        raise TariffError(f"{where}: expected a mapping")
    currency = raw.get("currency")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isupper():
        raise TariffError(f"{where}.currency: expected an ISO 4217 code like CHF, got {currency!r}")
    raw_bands = raw.get("bands")
    plan = TariffPlan(
        name=name,
        currency=currency,
        feed_in_rate=_rate(raw.get("feed_in_rate", 0.0), f"{where}.feed_in_rate"),
        bands=_bands(raw_bands, where),
    )
    _assign_slots(plan, where)  # refuses overlaps and gaps now, at load
    return replace(plan, changes=_changes(plan, raw.get("changes"), where))


def _changes(plan: TariffPlan, raw: Any, where: str) -> tuple[TariffPlan, ...]:
    """The later versions of `plan`, each its predecessor with what the change names."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise TariffError(f"{where}.changes: expected a list of changes with valid_from")
    versions: list[TariffPlan] = []
    before = plan
    for i, change in enumerate(raw):
        cwhere = f"{where}.changes[{i}]"
        if not isinstance(change, dict):
            raise TariffError(f"{cwhere}: expected a mapping with valid_from")
        valid_from = change.get("valid_from")
        if isinstance(valid_from, str):
            try:
                valid_from = dt.date.fromisoformat(valid_from)
            except ValueError:
                valid_from = None
        if not isinstance(valid_from, dt.date) or isinstance(valid_from, dt.datetime):
            raise TariffError(f"{cwhere}.valid_from: expected a date YYYY-MM-DD")
        if before.valid_from is not None and valid_from <= before.valid_from:
            raise TariffError(
                f"{cwhere}.valid_from: {valid_from} is not after the change before it "
                f"({before.valid_from})"
            )
        unknown = set(change) - {"valid_from", "bands", "feed_in_rate"}
        if unknown:
            raise TariffError(
                f"{cwhere}: {', '.join(sorted(unknown))}: a change may set only bands and "
                f"feed_in_rate (the currency stays the plan's)"
            )
        version = replace(
            before,
            valid_from=valid_from,
            feed_in_rate=_rate(change["feed_in_rate"], f"{cwhere}.feed_in_rate")
            if "feed_in_rate" in change
            else before.feed_in_rate,
            bands=_bands(change["bands"], cwhere) if "bands" in change else before.bands,
        )
        _assign_slots(version, cwhere)
        versions.append(version)
        before = version
    return tuple(versions)


def _bands(raw_bands: Any, where: str) -> tuple[Band, ...]:
    if not isinstance(raw_bands, dict) or not raw_bands:
        raise TariffError(f"{where}.bands: expected a mapping of band name to rate and windows")
    bands = []
    for band_name, spec in raw_bands.items():
        bwhere = f"{where}.bands.{band_name}"
        if band_name not in BANDS:
            raise TariffError(f"{bwhere}: unknown band; bands are {', '.join(BANDS)}")
        if not isinstance(spec, dict):
            raise TariffError(f"{bwhere}: expected a mapping with rate and windows")
        windows = spec.get("windows")
        if windows == "otherwise":
            parsed = None
        elif isinstance(windows, list) and windows:
            parsed = tuple(_window(w, f"{bwhere}.windows[{i}]") for i, w in enumerate(windows))
        else:
            raise TariffError(f"{bwhere}.windows: expected a list of windows or 'otherwise'")
        bands.append(Band(band_name, _rate(spec.get("rate"), f"{bwhere}.rate"), parsed))
    return tuple(bands)


def _assign_slots(plan: TariffPlan, where: str) -> dict[tuple[int, int], str]:
    if sum(band.windows is None for band in plan.bands) > 1:
        raise TariffError(f"{where}.bands: only one band may take the 'otherwise' slots")
    owner: dict[tuple[int, int], str] = {}
    for band in plan.bands:
        for i, window in enumerate(band.windows or ()):
            for day in window.weekdays:
                for slot in range(window.start_slot, window.end_slot):
                    other = owner.get((day, slot))
                    if other is not None:
                        raise TariffError(
                            f"{where}.bands.{band.name}.windows[{i}]: overlaps band {other} "
                            f"on weekday {day} at {_hhmm(slot)}"
                        )
                    owner[(day, slot)] = band.name
    rest = next((band.name for band in plan.bands if band.windows is None), None)
    for day in WEEKDAYS:
        for slot in range(SLOTS_PER_DAY):
            if (day, slot) not in owner:
                if rest is None:
                    raise TariffError(
                        f"{where}.bands: no band covers weekday {day} at {_hhmm(slot)} (a gap)"
                    )
                owner[(day, slot)] = rest
    return owner


def _hhmm(slot: int) -> str:
    return f"{slot // 4:02d}:{slot % 4 * 15:02d}"


WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # ISO weekday 1..7


def _days(weekdays: tuple[int, ...]) -> str:
    names = [WEEKDAY_NAMES[d - 1] for d in weekdays]
    consecutive = list(weekdays) == list(range(weekdays[0], weekdays[-1] + 1))
    return f"{names[0]}-{names[-1]}" if consecutive and len(names) > 2 else ", ".join(names)

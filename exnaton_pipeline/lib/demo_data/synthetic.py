"""Synthetic household meters that deliver like the real source, for the live demo and benchmarks.

Every household imports: an always-on base load, a breakfast and a dinner peak (later and
flatter at weekends, when people are also home at midday), more in winter than in summer,
multiplicative noise and short appliance spikes (kettle, oven, washing machine). Two in five
households also have PV: output follows the sun's elevation at the tenant's location (from
its IANA zone's coordinates) through the day and the seasons, scaled by the day's weather,
which all households of a tenant share. A PV household's meter nets its load against its
production: it imports the shortfall and exports the surplus, both on the same muid, so its
records carry two OBIS values (0100011D00FF import, 0100021D00FF export).

Values are a pure function of (seed, muid, UTC day): history written today and the batch the
producer delivers for the same interval agree, whatever range was asked for. The generation
is vectorised over meters and intervals (numpy), so a year of 50 meters takes seconds.

Source layout written (see SOURCE.md): `<prefix>/<YYYY-MM-DD>/<muid>.json`, one API response
per meter and UTC day, newest record first; the producer adds
`<prefix>/<YYYY-MM-DD>/batch-<HHMM>.json` with every meter's reading of one interval.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
import time
import uuid
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from exnaton_pipeline.lib.ingestion.source import Source
from exnaton_pipeline.lib.tenants import Tenant

IMPORT_OBIS = "0100011D00FF"
EXPORT_OBIS = "0100021D00FF"
INTERVAL = timedelta(minutes=15)
SLOTS = 96
DEFAULT_SEED = 20230201
DEFAULT_METERS = 10
PV_SHARE_PATTERN = (1, 3)  # meters at positions 1 and 3 of every 5 have PV: two in five
FALLBACK_LATITUDE = 47.0


@dataclass(frozen=True)
class Household:
    """One synthetic meter and the parameters of its household (loads in kW)."""

    muid: str
    name: str
    base_kw: float
    morning_kw: float
    evening_kw: float
    midday_kw: float
    wake_hour: float
    spike_rate: float  # appliance spikes per interval
    pv_kwp: float  # 0.0: no PV


def _seed(*parts: int | str) -> np.random.SeedSequence:
    return np.random.SeedSequence(
        [p if isinstance(p, int) else zlib.crc32(p.encode()) for p in parts]
    )


def _household(muid: str, name: str, has_pv: bool, seed: int) -> Household:
    rng = np.random.default_rng(_seed(seed, uuid.UUID(muid).int))
    return Household(
        muid=muid,
        name=name,
        base_kw=float(rng.uniform(0.08, 0.25)),
        morning_kw=float(rng.uniform(0.4, 1.2)),
        evening_kw=float(rng.uniform(0.8, 2.0)),
        midday_kw=float(rng.uniform(0.2, 0.8)),
        wake_hour=float(rng.uniform(5.8, 7.6)),
        spike_rate=float(rng.uniform(0.01, 0.04)),
        pv_kwp=float(rng.uniform(4.0, 10.0)) if has_pv else 0.0,
    )


def households(
    tenant: Tenant, count: int | None = None, seed: int = DEFAULT_SEED
) -> list[Household]:
    """The tenant's synthetic meters: the registry's named meters first, then generated ones.

    `count` defaults to the registry's meters (or DEFAULT_METERS when it names none).
    Generated muids depend only on seed, tenant and position, so a re-run finds the same meters.
    """
    count = count if count is not None else (len(tenant.meters) or DEFAULT_METERS)
    if count < 1:
        raise ValueError(f"meter count must be at least 1, got {count}")
    result = []
    for index in range(count):
        if index < len(tenant.meters):
            muid, name = tenant.meters[index].muid, tenant.meters[index].name
        else:
            bits = np.random.default_rng(_seed(seed, tenant.id, index)).integers(0, 2**63, 2)
            muid = str(uuid.UUID(int=(int(bits[0]) << 64) | int(bits[1]), version=4))
            name = f"Household {index + 1}"
        result.append(_household(muid, name, index % 5 in PV_SHARE_PATTERN, seed))
    return result


# --- location and sun ----------------------------------------------------------------------


def _coordinate(text: str, degree_digits: int) -> float:
    sign = -1.0 if text[0] == "-" else 1.0
    digits = text[1:]
    degrees = int(digits[:degree_digits])
    minutes = int(digits[degree_digits : degree_digits + 2])
    seconds = int(digits[degree_digits + 2 :] or 0)
    return sign * (degrees + minutes / 60 + seconds / 3600)


def _zone_tab() -> str:
    """tzdata's zone1970.tab (zone coordinates): from the tzdata package, else the system's."""
    try:
        return importlib.resources.files("tzdata").joinpath("zoneinfo/zone1970.tab").read_text()
    except (ModuleNotFoundError, OSError):
        pass
    try:
        return Path("/usr/share/zoneinfo/zone1970.tab").read_text()
    except OSError:
        return ""


@functools.cache
def _zone_table() -> dict[str, tuple[float, float]]:
    table = {}
    for line in _zone_tab().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        _codes, coordinates, zone, *_ = line.split("\t")
        lat, lon = re.fullmatch(r"([+-]\d+)([+-]\d+)", coordinates).groups()
        table[zone] = (_coordinate(lat, 2), _coordinate(lon, 3))
    return table


def location(zone: ZoneInfo) -> tuple[float, float]:
    """(latitude, longitude) of the zone's reference city; without the zone table, a
    mid-latitude guess on the meridian of the zone's standard offset."""
    found = _zone_table().get(zone.key)
    if found:
        return found
    standard = min(datetime(2024, month, 15, tzinfo=zone).utcoffset() for month in (1, 7))
    return FALLBACK_LATITUDE, standard.total_seconds() / 3600 * 15


def sun_height(instants: pd.DatetimeIndex, latitude: float, longitude: float) -> np.ndarray:
    """Sine of the sun's elevation at UTC `instants` (negative at night)."""
    day_of_year = np.asarray(instants.dayofyear)
    declination = np.radians(23.44) * np.sin(2 * np.pi * (284 + day_of_year) / 365)
    solar_hours = np.asarray(instants.hour + instants.minute / 60) + longitude / 15
    hour_angle = np.radians(15 * (solar_hours - 12))
    lat = np.radians(latitude)
    return np.sin(lat) * np.sin(declination) + np.cos(lat) * np.cos(declination) * np.cos(
        hour_angle
    )


# --- one UTC day ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DayReadings:
    """kWh per interval of one UTC day: arrays (meters x 96)."""

    starts: pd.DatetimeIndex
    import_kwh: np.ndarray
    export_kwh: np.ndarray


def _bump(hours: np.ndarray, centre: np.ndarray | float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((hours - centre) / width) ** 2)


def simulate_day(
    meters: list[Household], day: date, zone: ZoneInfo, seed: int = DEFAULT_SEED
) -> DayReadings:
    """Every meter's import and export in each 15-minute interval of UTC `day`."""
    starts = pd.date_range(pd.Timestamp(day, tz=UTC), periods=SLOTS, freq="15min")
    local = starts.tz_convert(zone)
    hours = np.asarray(local.hour + local.minute / 60 + 7.5 / 60)[None, :]
    weekend = np.asarray(local.dayofweek >= 5)[None, :]
    day_of_year = np.asarray(local.dayofyear)[None, :]
    winter = 1 + 0.25 * np.cos(2 * np.pi * (day_of_year - 15) / 365)

    def column(attribute: str) -> np.ndarray:
        return np.array([getattr(m, attribute) for m in meters])[:, None]

    wake = column("wake_hour") + np.where(weekend, 1.5, 0.0)
    load_kw = winter * (
        column("base_kw")
        + column("morning_kw") * np.where(weekend, 0.7, 1.0) * _bump(hours, wake + 0.75, 0.8)
        + column("midday_kw") * np.where(weekend, 1.0, 0.35) * _bump(hours, 12.5, 2.0)
        + column("evening_kw") * _bump(hours, 19.0, 1.4)
    )
    noise = np.empty_like(load_kw)
    spikes = np.empty_like(load_kw)
    for row, meter in enumerate(meters):
        rng = np.random.default_rng(_seed(seed, uuid.UUID(meter.muid).int, day.toordinal()))
        noise[row] = rng.lognormal(0.0, 0.25, SLOTS)
        spikes[row] = (rng.random(SLOTS) < meter.spike_rate) * rng.uniform(1.2, 3.0, SLOTS)
    load_kw = load_kw * noise + spikes

    pv_kwp = column("pv_kwp")
    if pv_kwp.any():
        latitude, longitude = location(zone)
        height = sun_height(starts + pd.Timedelta(minutes=7.5), latitude, longitude)
        weather = np.random.default_rng(_seed(seed, zone.key, day.toordinal()))
        cloudiness = weather.beta(2.0, 2.0)  # 0 clear .. 1 overcast, for the whole tenant
        passing = np.clip(1 - cloudiness * weather.uniform(0.3, 1.0, SLOTS), 0.05, 1.0)
        pv_kw = pv_kwp * 0.8 * np.clip(height, 0, None)[None, :] ** 1.3 * passing[None, :]
    else:
        pv_kw = np.zeros_like(load_kw)

    net_kw = load_kw - pv_kw
    hour_fraction = INTERVAL / timedelta(hours=1)
    return DayReadings(
        starts=starts,
        import_kwh=np.round(np.clip(net_kw, 0, None) * hour_fraction, 4),
        export_kwh=np.round(np.clip(-net_kw, 0, None) * hour_fraction, 4),
    )


# --- API responses -------------------------------------------------------------------------


def _number(value: float) -> str:
    # exact zeros as JSON integers, as the real API sends them
    return "0" if value == 0 else repr(value)


def timestamps(starts: pd.DatetimeIndex) -> list[str]:
    """Interval starts as the API writes them: `2023-02-28T23:45:00.000Z`."""
    return list(starts.strftime("%Y-%m-%dT%H:%M:%S.000Z"))


def records(
    meter: Household, stamps: list[str], import_kwh: np.ndarray, export_kwh: np.ndarray
) -> list[str]:
    """JSON records of `meter`, oldest first; a PV household's carry import and export."""
    head = '{"measurement":"energy","timestamp":"'
    tags = f'","tags":{{"muid":"{meter.muid}","quality":"measured"}},'
    result = []
    for stamp, imp, exp in zip(stamps, import_kwh.tolist(), export_kwh.tolist(), strict=True):
        values = f'"{IMPORT_OBIS}":{_number(imp)}'
        if meter.pv_kwp:
            values += f',"{EXPORT_OBIS}":{_number(exp)}'
        result.append(f"{head}{stamp}{tags}{values}}}")
    return result


def api_response(json_records: Iterable[str]) -> bytes:
    """An API response (source contract) holding `json_records` in the order given."""
    return ('{"data":[' + ",".join(json_records) + "]}").encode()


def _day_range(start: datetime, end: datetime) -> list[date]:
    last = (end - INTERVAL).date()
    return [start.date() + timedelta(days=n) for n in range((last - start.date()).days + 1)]


def write_history(
    source: Source,
    tenant: Tenant,
    meters: list[Household],
    start: datetime,
    end: datetime,
    seed: int = DEFAULT_SEED,
) -> list[str]:
    """Write the intervals in [start, end) as one object per meter and UTC day; return the keys.

    `start` and `end` are aware datetimes on the 15-minute grid.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if start.minute % 15 or end.minute % 15 or start.second or end.second:
        raise ValueError(f"start {start} and end {end} must lie on the 15-minute grid")
    if end <= start:
        raise ValueError(f"end {end} is not after start {start}")
    keys = []
    for day in _day_range(start, end):
        readings = simulate_day(meters, day, tenant.zone, seed)
        keep = (readings.starts >= start) & (readings.starts < end)
        stamps = timestamps(readings.starts[keep])
        for row, meter in enumerate(meters):
            key = f"{tenant.source_prefix}/{day.isoformat()}/{meter.muid}.json"
            found = records(
                meter, stamps, readings.import_kwh[row, keep], readings.export_kwh[row, keep]
            )
            source.write(key, api_response(reversed(found)))  # newest first, as the API
            keys.append(key)
    return keys


# --- the producer --------------------------------------------------------------------------


def floor_interval(instant: datetime) -> datetime:
    instant = instant.astimezone(UTC)
    return instant.replace(minute=instant.minute - instant.minute % 15, second=0, microsecond=0)


def batch_key(tenant: Tenant, interval_start: datetime) -> str:
    """`<prefix>/<UTC day of the interval>/batch-<HHMM of its start>.json`."""
    return f"{tenant.source_prefix}/{interval_start:%Y-%m-%d}/batch-{interval_start:%H%M}.json"


def write_batch(
    source: Source,
    tenant: Tenant,
    meters: list[Household],
    interval_start: datetime,
    seed: int = DEFAULT_SEED,
) -> str:
    """Deliver every meter's reading of the interval starting at `interval_start` in one object."""
    interval_start = interval_start.astimezone(UTC)
    readings = simulate_day(meters, interval_start.date(), tenant.zone, seed)
    slot = readings.starts.get_loc(pd.Timestamp(interval_start))
    stamps = timestamps(readings.starts[slot : slot + 1])
    found = [
        record
        for row, meter in enumerate(meters)
        for record in records(
            meter,
            stamps,
            readings.import_kwh[row, slot : slot + 1],
            readings.export_kwh[row, slot : slot + 1],
        )
    ]
    key = batch_key(tenant, interval_start)
    source.write(key, api_response(found))
    return key


DELIVERY_DELAY = timedelta(seconds=5)  # a real head-end delivers shortly after the interval
FAST_TICK = timedelta(seconds=15)  # --fast: 15 seconds of wall time per simulated interval


def produce(
    source: Source,
    tenant: Tenant,
    meters: list[Household],
    *,
    seed: int = DEFAULT_SEED,
    fast: bool = False,
    ticks: int | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
    report: Callable[[str], None] = print,
) -> int:
    """Deliver one batch per interval until stopped (or after `ticks` batches); return the count.

    Normal mode: just after each quarter hour, the interval that has just ended.
    Fast mode: from the current interval on, one simulated interval every 15 seconds; the data
    runs ahead of the clock (for trying out the feed, not for the 15-minute schedule).
    """
    delivered = 0
    simulated = floor_interval(clock())
    last: datetime | None = None
    while ticks is None or delivered < ticks:
        if fast:
            interval = simulated
            simulated += INTERVAL
        else:
            interval = floor_interval(clock()) - INTERVAL
        if interval != last:
            key = write_batch(source, tenant, meters, interval, seed)
            report(f"{datetime.now(UTC):%H:%M:%S} delivered {key} ({len(meters)} meters)")
            last = interval
            delivered += 1
            if ticks is not None and delivered >= ticks:
                break
        if fast:
            sleep(FAST_TICK.total_seconds())
        else:
            due = floor_interval(clock()) + INTERVAL + DELIVERY_DELAY
            sleep(max((due - clock()).total_seconds(), 1.0))
    return delivered

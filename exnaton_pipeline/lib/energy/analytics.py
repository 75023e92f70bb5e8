"""Energy aggregates in the tenant's local time: hourly and daily energy, tariff costs, profiles.

Tables per tenant schema (declared in lib/warehouse/tables.py, created by its migrations; see
docs/analytics.md for the column contract):
- `tariff_slots`: the tenant's tariff plan as one row per (version, ISO weekday, 15-minute
  slot) of the LOCAL week with its band, rate and the version's feed-in rate, written from
  `TariffPlan.versions()` so that SQL can price every reading by the version valid on its
  local day with one join. A change of the plan in the registry is found by the sync, which
  returns the local days it reprices; `begin_refresh` recomputes them.
- `hourly_energy` / `daily_energy`: import, export, import split by tariff band, cost and
  feed-in credit per meter and local hour / local day. A UTC day partition touches two local
  days (three around some DST changes); `refresh_*` recomputes exactly those local days from
  `meter_readings`: DELETE their rows, then one INSERT ... SELECT, in the caller's transaction.
  A local day without readings gets no rows; a day with gaps is stored as measured and marked
  `complete = false`, never padded.
- `weekday_hour_profile`: average energy per ISO weekday x local hour over each meter's
  trailing window (28 local days ending at its newest local day, or at its newest day up to a
  given last day), recomputed for all or some meters of a tenant, a chunk of meters per
  statement.

The time zone reaches SQL only as a bound value (`AT TIME ZONE %(tz)s`); schema names are
psycopg2 identifiers built from validated tenant ids.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from psycopg2 import sql

from exnaton_pipeline.lib.energy.tariffs import TariffPlan
from exnaton_pipeline.lib.tenants import Tenant
from exnaton_pipeline.lib.warehouse import database, tenant_schema

Connection = database.Connection

IMPORT = "active_import"
EXPORT = "active_export"
WINDOW_DAYS = 28
LAST_READING_OF_DAY = timedelta(days=1) - timedelta(minutes=15)


def local_days(utc_day: date, zone: ZoneInfo) -> list[date]:
    """The local days that the readings of one UTC day (00:00 .. 23:45 starts) fall in."""
    start = datetime.combine(utc_day, time(), tzinfo=UTC)
    first = start.astimezone(zone).date()
    last = (start + LAST_READING_OF_DAY).astimezone(zone).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def begin_refresh(conn: Connection, tenant: Tenant) -> list[date]:
    """Start a refresh in the caller's transaction: take the tenant's lock (refreshes of
    overlapping local days take turns) and bring its tariff slots in line with the registry.
    When the plan changed, recompute hourly and daily energy of exactly the local days whose
    prices changed (returned), so that stored costs follow the registry.

    The tenant's schema must be at the newest migration (the tenant_schema asset runs first).
    """
    tenant_schema.lock_tenant(conn, tenant.schema)
    changed = sync_tariff_slots(conn, tenant.schema, tenant.tariff)
    for first, last in _runs(changed):
        for delete, insert in ((_HOURLY_DELETE, _HOURLY_INSERT), (_DAILY_DELETE, _DAILY_INSERT)):
            _recompute(conn, tenant, first, last, delete, insert)
    return changed


def _runs(days: list[date]) -> Iterator[tuple[date, date]]:
    """Sorted days folded into (first, last) runs of consecutive days."""
    first = last = None
    for day in days:
        if last is not None and day == last + timedelta(days=1):
            last = day
            continue
        if first is not None:
            yield first, last
        first = last = day
    if first is not None:
        yield first, last


FIRST_VERSION = date(1, 1, 1)  # valid_from of a plan's first version in tariff_slots
_Slots = dict[tuple[int, int], tuple[str, float]]


def _version_rows(plan: TariffPlan) -> dict[date, tuple[_Slots, float | None]]:
    """valid_from -> ((weekday, slot) -> (band, rate), feed-in rate) of every version."""
    rows = {}
    for version in plan.versions():
        slots = version.slot_bands()
        rows[version.valid_from or FIRST_VERSION] = (
            {key: (band, version.rate(band)) for key, band in slots.items()},
            version.feed_in_rate,
        )
    return rows


def _changed_spans(old: dict, new: dict) -> list[tuple[date, date]]:
    """[start, end) spans of local days priced differently by the `old` and `new` versions
    (valid_from -> (slots, feed-in rate)). A feed-in rate unknown before (rows written before
    versions) is taken as the new one: what was stored then was priced at its own time."""
    bounds = sorted(set(old) | set(new) | {FIRST_VERSION})
    spans = []
    for start, end in zip(bounds, [*bounds[1:], date.max], strict=True):
        was = _valid(old, start)
        now = _valid(new, start)
        if was is None or now is None:
            differ = (was is None) != (now is None)
        else:
            differ = was[0] != now[0] or (was[1] is not None and was[1] != now[1])
        if differ:
            spans.append((start, end))
    return spans


def _valid(versions: dict, day: date):
    starts = [start for start in versions if start <= day]
    return versions[max(starts)] if starts else None


def sync_tariff_slots(conn: Connection, schema: str, plan: TariffPlan) -> list[date]:
    """Write every version's band and rate for all 672 local slots of the week (and drop
    versions no longer in the plan); return the local days with daily energy whose prices
    changed, sorted: the days a refresh must recompute so that stored costs follow the plan
    (all of them for a new tenant's first sync: it has no daily energy yet)."""
    s = sql.Identifier(schema)
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "SELECT valid_from, isoweekday, slot, band, rate, feed_in_rate FROM {}.tariff_slots"
            ).format(s)
        )
        old: dict[date, tuple[_Slots, float | None]] = {}
        for valid_from, weekday, slot, band, rate, feed_in in cur.fetchall():
            slots, _ = old.setdefault(valid_from, ({}, feed_in))
            slots[(weekday, slot)] = (band, rate)
        new = _version_rows(plan)
        if old == new:
            return []
        rows = [
            (start, day, slot, band, rate, feed_in)
            for start, (slots, feed_in) in new.items()
            for (day, slot), (band, rate) in sorted(slots.items())
        ]
        cur.execute(
            sql.SQL("DELETE FROM {}.tariff_slots WHERE NOT valid_from = ANY(%s)").format(s),
            (list(new),),
        )
        cur.execute(
            sql.SQL(
                """INSERT INTO {}.tariff_slots AS t
                    (valid_from, isoweekday, slot, band, rate, feed_in_rate)
                SELECT * FROM unnest(%s::date[], %s::smallint[], %s::smallint[], %s::text[],
                    %s::float8[], %s::float8[])
                ON CONFLICT (valid_from, isoweekday, slot) DO UPDATE SET band = EXCLUDED.band,
                    rate = EXCLUDED.rate, feed_in_rate = EXCLUDED.feed_in_rate
                WHERE (t.band, t.rate, t.feed_in_rate)
                    IS DISTINCT FROM (EXCLUDED.band, EXCLUDED.rate, EXCLUDED.feed_in_rate)"""
            ).format(s),
            [list(column) for column in zip(*rows, strict=True)],
        )
        changed: set[date] = set()
        for start, end in _changed_spans(old, new):
            cur.execute(
                sql.SQL(
                    "SELECT DISTINCT day FROM {}.daily_energy WHERE day >= %s AND day < %s"
                ).format(s),
                (start, end),
            )
            changed.update(day for (day,) in cur.fetchall())
    return sorted(changed)


# Import/export readings of a range of local days, each with its local time and the tariff
# slot of the plan's version valid on its local day (with that version's feed-in rate).
_READINGS = """
    SELECT r.muid, r.register, r.ts, r.kwh, l.lts, t.band, t.rate, t.feed_in_rate
    FROM {s}.meter_readings r
    CROSS JOIN LATERAL (SELECT r.ts AT TIME ZONE %(tz)s AS lts) l
    JOIN (SELECT valid_from,
              lead(valid_from, 1, 'infinity'::date) OVER (ORDER BY valid_from) AS valid_to
          FROM (SELECT DISTINCT valid_from FROM {s}.tariff_slots) d) v
      ON l.lts >= v.valid_from AND l.lts < v.valid_to
    JOIN {s}.tariff_slots t
      ON t.valid_from = v.valid_from
     AND t.isoweekday = extract(isodow FROM l.lts)
     AND t.slot = extract(hour FROM l.lts) * 4 + floor(extract(minute FROM l.lts) / 15)
    WHERE r.register IN ('active_import', 'active_export')
      AND r.ts >= (%(first)s::timestamp AT TIME ZONE %(tz)s)
      AND r.ts < ((%(last)s + 1)::timestamp AT TIME ZONE %(tz)s)
"""

# Sums ordered by time: the same rows always add up to the same float, whatever the plan.
_ENERGY = """
    coalesce(sum(kwh ORDER BY ts) FILTER (WHERE register = 'active_import'), 0) AS import_kwh,
    coalesce(sum(kwh ORDER BY ts) FILTER (WHERE register = 'active_export'), 0) AS export_kwh,
    coalesce(sum(kwh ORDER BY ts)
        FILTER (WHERE register = 'active_import' AND band = 'high'), 0) AS ht_kwh,
    coalesce(sum(kwh ORDER BY ts)
        FILTER (WHERE register = 'active_import' AND band = 'low'), 0) AS nt_kwh,
    coalesce(sum(kwh * rate ORDER BY ts) FILTER (WHERE register = 'active_import'), 0) AS cost,
    count(DISTINCT ts) AS intervals,
    max(feed_in_rate) AS feed_in_rate
"""

_HOURLY_DELETE = """
    DELETE FROM {s}.hourly_energy
    WHERE hour_start >= (%(first)s::timestamp AT TIME ZONE %(tz)s)
      AND hour_start < ((%(last)s + 1)::timestamp AT TIME ZONE %(tz)s)
"""

# hour_start: the reading's instant minus its offset into the local hour, so the two 02:00
# hours of an autumn DST day stay apart and half-hour time zones stay right.
_HOURLY_INSERT = (
    "WITH r AS ("
    + _READINGS
    + """)
    INSERT INTO {s}.hourly_energy (muid, hour_start, local_date, local_hour, iso_weekday,
        import_kwh, export_kwh, ht_kwh, nt_kwh, cost, feed_in_credit, intervals)
    SELECT muid, hour_start, local_hour_start::date, extract(hour FROM local_hour_start),
        extract(isodow FROM local_hour_start), import_kwh, export_kwh, ht_kwh, nt_kwh, cost,
        export_kwh * feed_in_rate, intervals
    FROM (
        SELECT muid, ts - (lts - date_trunc('hour', lts)) AS hour_start,
            date_trunc('hour', lts) AS local_hour_start,"""
    + _ENERGY
    + """
        FROM r GROUP BY 1, 2, 3) e
"""
)

_DAILY_DELETE = "DELETE FROM {s}.daily_energy WHERE day BETWEEN %(first)s AND %(last)s"

# expected_intervals: the local day's length in quarter hours (92 / 100 on DST days).
_DAILY_INSERT = (
    "WITH r AS ("
    + _READINGS
    + """)
    INSERT INTO {s}.daily_energy (muid, day, import_kwh, export_kwh, ht_kwh, nt_kwh, cost,
        feed_in_credit, peak_kw, peak_at, intervals, expected_intervals, complete)
    SELECT muid, day, import_kwh, export_kwh, ht_kwh, nt_kwh, cost,
        export_kwh * feed_in_rate, peak_kw, peak_at, intervals, x.expected,
        intervals >= x.expected
    FROM (
        SELECT muid, lts::date AS day,"""
    + _ENERGY
    + """,
            4 * max(kwh) FILTER (WHERE register = 'active_import') AS peak_kw,
            (array_agg(ts ORDER BY kwh DESC, ts)
                FILTER (WHERE register = 'active_import'))[1] AS peak_at
        FROM r GROUP BY 1, 2) e
    CROSS JOIN LATERAL (
        SELECT extract(epoch FROM ((e.day + 1)::timestamp AT TIME ZONE %(tz)s)
            - (e.day::timestamp AT TIME ZONE %(tz)s))::int / 900 AS expected) x
"""
)


@dataclass(frozen=True)
class Recomputed:
    """What one refresh did: the local days recomputed and the rows replaced."""

    local_days: list[date]
    rows_deleted: int
    rows_written: int


def _recompute(
    conn: Connection, tenant: Tenant, first: date, last: date, delete: str, insert: str
) -> tuple[int, int]:
    """Replace the rows of local days first..last; (rows deleted, rows written)."""
    params = {"tz": tenant.timezone, "first": first, "last": last}
    s = sql.Identifier(tenant.schema)
    with conn.cursor() as cur:
        cur.execute(sql.SQL(delete).format(s=s), params)
        deleted = cur.rowcount
        cur.execute(sql.SQL(insert).format(s=s), params)
        return deleted, cur.rowcount


def _replace_local_days(
    conn: Connection, tenant: Tenant, utc_day: date, delete: str, insert: str
) -> Recomputed:
    begin_refresh(conn, tenant)
    days = local_days(utc_day, tenant.zone)
    deleted, written = _recompute(conn, tenant, days[0], days[-1], delete, insert)
    return Recomputed(days, deleted, written)


def refresh_hourly_energy(conn: Connection, tenant: Tenant, utc_day: date) -> Recomputed:
    """Recompute `hourly_energy` for the local days that UTC day `utc_day` touches."""
    return _replace_local_days(conn, tenant, utc_day, _HOURLY_DELETE, _HOURLY_INSERT)


def refresh_daily_energy(conn: Connection, tenant: Tenant, utc_day: date) -> Recomputed:
    """Recompute `daily_energy` for the local days that UTC day `utc_day` touches."""
    return _replace_local_days(conn, tenant, utc_day, _DAILY_DELETE, _DAILY_INSERT)


def incomplete_days(conn: Connection, schema: str, days: list[date]) -> int:
    """How many meter-days among local `days` in `daily_energy` miss quarter hours."""
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "SELECT count(*) FROM {}.daily_energy WHERE day = ANY(%s) AND NOT complete"
            ).format(sql.Identifier(schema)),
            (days,),
        )
        return cur.fetchone()[0]


@dataclass(frozen=True)
class MeterWindow:
    """A meter's trailing window of local days, inclusive."""

    muid: str
    start: date
    end: date


# Each meter's newest local day in daily_energy on or before %(last_day)s (an index probe).
_NEWEST_DAY = """
    SELECT m.muid::text AS muid,
        (SELECT max(d.day) FROM {s}.daily_energy d
         WHERE d.muid = m.muid AND d.day <= %(last_day)s) AS newest"""

# Every meter of daily_energy: a skip scan over the (muid, day) key, one index probe per
# meter, whatever the history.
_EVERY_METER = (
    """WITH RECURSIVE m AS (
        (SELECT muid FROM {s}.daily_energy ORDER BY muid LIMIT 1)
        UNION ALL
        SELECT (SELECT d.muid FROM {s}.daily_energy d WHERE d.muid > m.muid
                ORDER BY d.muid LIMIT 1)
        FROM m WHERE m.muid IS NOT NULL)"""
    + _NEWEST_DAY
    + " FROM m WHERE m.muid IS NOT NULL"
)

_GIVEN_METERS = _NEWEST_DAY + " FROM (SELECT DISTINCT unnest(%(muids)s::uuid[]) AS muid) m"


def meter_windows(
    conn: Connection,
    schema: str,
    days: int = WINDOW_DAYS,
    muids: Sequence[str] | None = None,
    last_day: date | None = None,
) -> list[MeterWindow]:
    """Each meter's trailing `days` local days ending at its newest day in `daily_energy`.

    `muids` restricts the answer to those meters (None: every meter with daily rows);
    `last_day` ignores days after it, so the window ends at the newest day on or before it
    (None: the newest day, for a live tenant today's partial day). A meter without such a
    day has no window. Ordered by muid.
    """
    query = _EVERY_METER if muids is None else _GIVEN_METERS
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "SELECT muid, newest FROM (" + query + ") n WHERE newest IS NOT NULL ORDER BY 1"
            ).format(s=sql.Identifier(schema)),
            {"muids": list(muids or []), "last_day": last_day or date.max},
        )
        rows = cur.fetchall()
    return [MeterWindow(muid, end - timedelta(days=days - 1), end) for muid, end in rows]


def window_params(tenant: Tenant, windows: Sequence[MeterWindow]) -> dict[str, object]:
    """Bind values of WINDOWS: the meters' windows and the tenant's time zone."""
    return {
        "tz": tenant.timezone,
        "muids": [w.muid for w in windows],
        "starts": [w.start for w in windows],
        "ends": [w.end for w in windows],
    }


# The windows as a relation w(idx, muid, window_start, window_end, lo, hi): idx numbers them
# from 1 in the order given; lo and hi are the instants of the local midnights that start and
# end the window, computed once per meter rather than once per row joined against them.
WINDOWS = """w AS MATERIALIZED (
    SELECT idx, muid, window_start, window_end,
        window_start::timestamp AT TIME ZONE %(tz)s AS lo,
        (window_end + 1)::timestamp AT TIME ZONE %(tz)s AS hi
    FROM unnest(%(muids)s::uuid[], %(starts)s::date[], %(ends)s::date[]) WITH ORDINALITY
        AS u(muid, window_start, window_end, idx))"""


def chunks(windows: Sequence[MeterWindow], size: int) -> Iterator[Sequence[MeterWindow]]:
    """`windows` in consecutive slices of at most `size`."""
    for first in range(0, len(windows), size):
        yield windows[first : first + size]


# Per meter (a lateral subquery: one index range scan and a small in-memory sort each): the
# hours of each local day first (the two 02:00 hours of an autumn DST day add up to one), then
# the average over the window's days per weekday and hour. Sums in time order, as always.
_PROFILE_INSERT = (
    "WITH "
    + WINDOWS
    + """
    INSERT INTO {s}.weekday_hour_profile (muid, weekday, hour, avg_import_kwh, avg_export_kwh,
        days, window_start, window_end)
    SELECT w.muid, p.iso_weekday, p.local_hour, p.avg_import_kwh, p.avg_export_kwh, p.days,
        w.window_start, w.window_end
    FROM w CROSS JOIN LATERAL (
        SELECT iso_weekday, local_hour, avg(import_kwh ORDER BY local_date) AS avg_import_kwh,
            avg(export_kwh ORDER BY local_date) AS avg_export_kwh, count(*) AS days
        FROM (
            SELECT local_date, iso_weekday, local_hour,
                sum(import_kwh ORDER BY hour_start) AS import_kwh,
                sum(export_kwh ORDER BY hour_start) AS export_kwh
            FROM {s}.hourly_energy h
            WHERE h.muid = w.muid AND h.hour_start >= w.lo AND h.hour_start < w.hi
            GROUP BY local_date, iso_weekday, local_hour) per_day
        GROUP BY iso_weekday, local_hour) p
"""
)

PROFILE_CHUNK_METERS = 2_000  # meters per INSERT: bounds the statement, not the result


@dataclass(frozen=True)
class ProfileResult:
    windows: list[MeterWindow]
    rows_written: int


def refresh_weekday_hour_profile(
    conn: Connection,
    tenant: Tenant,
    muids: Sequence[str] | None = None,
    last_day: date | None = None,
) -> ProfileResult:
    """Recompute the weekday x hour profile over each meter's trailing window.

    `muids` (None: every meter) and `last_day` choose the meters and their windows as in
    `meter_windows`; the rows of exactly those meters are replaced, other meters' rows stay.
    The two 02:00 hours of an autumn DST day add up to one value for that day and hour.
    """
    begin_refresh(conn, tenant)
    windows = meter_windows(conn, tenant.schema, muids=muids, last_day=last_day)
    s = sql.Identifier(tenant.schema)
    written = 0
    with conn.cursor() as cur:
        if muids is None:
            cur.execute(sql.SQL("DELETE FROM {s}.weekday_hour_profile").format(s=s))
        else:
            cur.execute(
                sql.SQL("DELETE FROM {s}.weekday_hour_profile WHERE muid = ANY(%s::uuid[])").format(
                    s=s
                ),
                (list(muids),),
            )
        for chunk in chunks(windows, PROFILE_CHUNK_METERS):
            cur.execute(sql.SQL(_PROFILE_INSERT).format(s=s), window_params(tenant, chunk))
            written += cur.rowcount
    return ProfileResult(windows, written)

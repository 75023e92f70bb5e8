"""Energy aggregates in the tenant's local time: hourly and daily energy, tariff costs, profiles.

Tables per tenant schema (declared in lib/warehouse/tables.py, created by its migrations; see
docs/analytics.md for the column contract):
- `tariff_slots`: the tenant's tariff plan as one row per (version, ISO weekday, 15-minute
  slot) of the LOCAL week with its band, rate and the version's feed-in rate, written from
  `TariffPlan.versions()` so that SQL can price every reading by the version valid on its
  local day with one join. A change of the plan in the registry is found by the sync, which
  returns the local days it reprices; `begin_refresh` queues them for recomputation.
- `hourly_energy` / `daily_energy`: import, export, import split by tariff band, cost and
  feed-in credit per meter and local hour / local day. `refresh_hourly_energy` recomputes the
  meter hours queued in `stale_hours` (the readings inserted or corrected since) from
  `meter_readings`; `refresh_daily_energy` rolls the meter days queued in `stale_days` up
  from their hours (lib/warehouse/stale.py, docs/analytics.md). A local day without readings
  gets no rows; a day with gaps is stored as measured and marked `complete = false`.
- `weekday_hour_profile`: average energy per ISO weekday x local hour over each meter's
  trailing window (28 local days ending at its newest local day, or at its newest day up to a
  given last day), recomputed for all or some meters of a tenant, a chunk of meters per
  statement.

The time zone reaches SQL only as a bound value (`AT TIME ZONE %(tz)s`); schema names are
psycopg2 identifiers built from validated tenant ids.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from psycopg2 import sql

from exnaton_pipeline.lib.energy.tariffs import TariffPlan
from exnaton_pipeline.lib.tenants import Tenant
from exnaton_pipeline.lib.warehouse import database, stale, tenant_schema

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
    When the plan changed, queue every meter hour of exactly the local days whose prices
    changed (returned) for the refresh that follows, so that stored costs follow the registry.

    The tenant's schema must be at the newest migration (the tenant_schema asset runs first).
    """
    tenant_schema.lock_tenant(conn, tenant.schema)
    changed = sync_tariff_slots(conn, tenant.schema, tenant.tariff)
    for first, last in _runs(changed):
        stale.mark_local_days(conn, tenant.schema, tenant.timezone, first, last)
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


# Import/export readings of the hours taken from the queue, in one range of consecutive hours
# [%(lo)s, %(hi)s): each with its local time, local hour (as HOUR_START) and the tariff slot
# of the plan's version valid on its local day (with that version's feed-in rate).
_TAKEN_READINGS = (
    """
    SELECT r.muid, r.register, r.ts, r.kwh, l.lts, t.band, t.rate, t.feed_in_rate, l.hour_start
    FROM {s}.meter_readings r
    CROSS JOIN LATERAL (SELECT r.ts AT TIME ZONE %(tz)s AS lts, """
    + stale.hour_start("r.ts")
    + """ AS hour_start) l
    JOIN taken_hours k ON k.muid = r.muid AND k.hour_start = l.hour_start
    JOIN (SELECT valid_from,
              lead(valid_from, 1, 'infinity'::date) OVER (ORDER BY valid_from) AS valid_to
          FROM (SELECT DISTINCT valid_from FROM {s}.tariff_slots) d) v
      ON l.lts >= v.valid_from AND l.lts < v.valid_to
    JOIN {s}.tariff_slots t
      ON t.valid_from = v.valid_from
     AND t.isoweekday = extract(isodow FROM l.lts)
     AND t.slot = extract(hour FROM l.lts) * 4 + floor(extract(minute FROM l.lts) / 15)
    WHERE r.register IN ('active_import', 'active_export')
      AND r.ts >= %(lo)s AND r.ts < %(hi)s
"""
)

# Sums ordered by time: the same rows always add up to the same float, whatever the plan.
_HOURLY_INSERT = (
    "WITH r AS ("
    + _TAKEN_READINGS
    + """)
    INSERT INTO {s}.hourly_energy (muid, hour_start, local_date, local_hour, iso_weekday,
        import_kwh, export_kwh, ht_kwh, nt_kwh, cost, feed_in_credit, intervals, peak_kwh,
        peak_at)
    SELECT muid, hour_start, local_hour_start::date, extract(hour FROM local_hour_start),
        extract(isodow FROM local_hour_start), import_kwh, export_kwh, ht_kwh, nt_kwh, cost,
        export_kwh * feed_in_rate, intervals, peak_kwh, peak_at
    FROM (
        SELECT muid, hour_start, date_trunc('hour', lts) AS local_hour_start,
            coalesce(sum(kwh ORDER BY ts) FILTER (WHERE register = 'active_import'), 0)
                AS import_kwh,
            coalesce(sum(kwh ORDER BY ts) FILTER (WHERE register = 'active_export'), 0)
                AS export_kwh,
            coalesce(sum(kwh ORDER BY ts)
                FILTER (WHERE register = 'active_import' AND band = 'high'), 0) AS ht_kwh,
            coalesce(sum(kwh ORDER BY ts)
                FILTER (WHERE register = 'active_import' AND band = 'low'), 0) AS nt_kwh,
            coalesce(sum(kwh * rate ORDER BY ts)
                FILTER (WHERE register = 'active_import'), 0) AS cost,
            count(DISTINCT ts) AS intervals,
            max(feed_in_rate) AS feed_in_rate,  -- one version per local day, so per hour
            max(kwh) FILTER (WHERE register = 'active_import') AS peak_kwh,
            (array_agg(ts ORDER BY kwh DESC, ts)
                FILTER (WHERE register = 'active_import'))[1] AS peak_at
        FROM r GROUP BY 1, 2, 3) e
"""
)

_HOURLY_DELETE = """
    DELETE FROM {s}.hourly_energy h USING taken_hours k
    WHERE h.muid = k.muid AND h.hour_start = k.hour_start
"""

_DAYS_OF_TAKEN_HOURS = """
    INSERT INTO {s}.stale_days (muid, day)
    SELECT DISTINCT muid, (hour_start AT TIME ZONE %(tz)s)::date FROM taken_hours
    ON CONFLICT DO NOTHING
"""

_DAILY_DELETE = """
    DELETE FROM {s}.daily_energy d USING taken_days k WHERE d.muid = k.muid AND d.day = k.day
"""

# A day rolled up from its hours (an index range per meter-day): sums in time order, the peak
# is the largest hourly peak (the earliest on a tie, as among quarter hours). expected: the
# local day's length in quarter hours (92 / 100 on DST days). A day left without hours (its
# readings are gone) gets no row.
_DAILY_INSERT = """
    INSERT INTO {s}.daily_energy (muid, day, import_kwh, export_kwh, ht_kwh, nt_kwh, cost,
        feed_in_credit, peak_kw, peak_at, intervals, expected_intervals, complete)
    SELECT k.muid, k.day, e.import_kwh, e.export_kwh, e.ht_kwh, e.nt_kwh, e.cost,
        e.feed_in_credit, 4 * e.peak_kwh, e.peak_at, e.intervals,
        b.expected, e.intervals >= b.expected
    FROM taken_days k
    CROSS JOIN LATERAL (
        SELECT k.day::timestamp AT TIME ZONE %(tz)s AS lo,
            (k.day + 1)::timestamp AT TIME ZONE %(tz)s AS hi) d
    CROSS JOIN LATERAL (
        SELECT (extract(epoch FROM d.hi - d.lo) / 900)::int AS expected) b
    JOIN LATERAL (
        SELECT sum(import_kwh ORDER BY hour_start) AS import_kwh,
            sum(export_kwh ORDER BY hour_start) AS export_kwh,
            sum(ht_kwh ORDER BY hour_start) AS ht_kwh,
            sum(nt_kwh ORDER BY hour_start) AS nt_kwh,
            sum(cost ORDER BY hour_start) AS cost,
            sum(feed_in_credit ORDER BY hour_start) AS feed_in_credit,
            sum(intervals) AS intervals,
            max(peak_kwh) AS peak_kwh,
            (array_agg(peak_at ORDER BY peak_kwh DESC, peak_at)
                FILTER (WHERE peak_kwh IS NOT NULL))[1] AS peak_at,
            count(*) AS hours
        FROM {s}.hourly_energy h
        WHERE h.muid = k.muid AND h.hour_start >= d.lo AND h.hour_start < d.hi) e
      ON e.hours > 0
"""

_WINDOWS_OF_TAKEN_DAYS = """
    INSERT INTO {s}.stale_windows (muid, day) SELECT muid, day FROM taken_days
    ON CONFLICT (muid, day) DO UPDATE SET marked_at = now()
"""


@dataclass(frozen=True)
class Recomputed:
    """What one refresh did: the keys taken from its queue, the local days they fall in, the
    rows replaced, and (hourly) the runs of hours [from, to) whose readings were read."""

    keys: int
    local_days: list[date]
    rows_deleted: int
    rows_written: int
    spans: list[tuple[datetime, datetime]] = field(default_factory=list)


def _params(tenant: Tenant) -> dict[str, object]:
    return {"tz": tenant.timezone}


def _taken_local_days(cur, table: str, column: str, tz: str) -> list[date]:
    cur.execute(
        sql.SQL("SELECT DISTINCT " + column + " FROM {} ORDER BY 1").format(sql.Identifier(table)),
        {"tz": tz},
    )
    return [row[0] for row in cur.fetchall()]


def refresh_hourly_energy(conn: Connection, tenant: Tenant) -> Recomputed:
    """Recompute `hourly_energy` for the meter hours queued in `stale_hours` (the readings
    inserted or corrected since), and queue their meter days for `daily_energy`.

    Each run of consecutive hours reads only its own range of readings; hours that lost all
    their readings lose their row.
    """
    begin_refresh(conn, tenant)
    runs = stale.take_hours(conn, tenant.schema)
    params = _params(tenant)
    s = sql.Identifier(tenant.schema)
    written = 0
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM taken_hours")
        keys = cur.fetchone()[0]
        cur.execute(sql.SQL(_HOURLY_DELETE).format(s=s))
        deleted = cur.rowcount
        for lo, hi in runs:
            cur.execute(sql.SQL(_HOURLY_INSERT).format(s=s), {**params, "lo": lo, "hi": hi})
            written += cur.rowcount
        cur.execute(sql.SQL(_DAYS_OF_TAKEN_HOURS).format(s=s), params)
        days = _taken_local_days(
            cur, "taken_hours", "(hour_start AT TIME ZONE %(tz)s)::date", tenant.timezone
        )
    return Recomputed(keys, days, deleted, written, runs)


def refresh_daily_energy(conn: Connection, tenant: Tenant) -> Recomputed:
    """Roll `daily_energy` up from `hourly_energy` for the meter days queued in `stale_days`,
    and mark them for the per-day work (`stale_windows`)."""
    begin_refresh(conn, tenant)
    keys = stale.take_days(conn, tenant.schema)
    params = _params(tenant)
    s = sql.Identifier(tenant.schema)
    with conn.cursor() as cur:
        cur.execute(sql.SQL(_DAILY_DELETE).format(s=s))
        deleted = cur.rowcount
        cur.execute(sql.SQL(_DAILY_INSERT).format(s=s), params)
        written = cur.rowcount
        cur.execute(sql.SQL(_WINDOWS_OF_TAKEN_DAYS).format(s=s))
        days = _taken_local_days(cur, "taken_days", "day", tenant.timezone)
    return Recomputed(keys, days, deleted, written)


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
    Takes no tenant lock: it only reads what the ticks write, so a tick never waits for it.
    """
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

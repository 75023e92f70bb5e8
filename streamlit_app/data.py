"""Data access for the dashboard: SQLAlchemy Core queries on one tenant's finished tables.

The tables are the pipeline's own declaration (lib/warehouse/tables.py). Every function reads
exactly one tenant schema, named by `schema` and put into the statements by SQLAlchemy's
schema translation (quoted identifiers, never spliced text);
values are bound. Each query is served by a primary key or an index of the analytics
contract, so a view costs what it shows, not the size of the tenant's history. No Streamlit
here: the app caches these functions, the benchmark times them uncached.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import sqlalchemy as sa

from exnaton_pipeline.lib.energy.analytics import EXPORT, IMPORT
from exnaton_pipeline.lib.warehouse import database
from exnaton_pipeline.lib.warehouse.tables import (
    ENERGY_COLUMNS,
    community_energy,
    daily_energy,
    hourly_energy,
    ingested_objects,
    insights,
    meter_readings,
    weekday_hour_profile,
)

# The pipeline refreshes every tenant every 15 minutes; cached data lives as long.
REFRESH = timedelta(minutes=15)

_ts = sa.DateTime(timezone=True)

# What a view shows: one meter (its muid) or an installation (its members' muids, summed).
Meters = str | Sequence[str]


def _muids(meters: Meters) -> list[str]:
    return [meters] if isinstance(meters, str) else list(meters)


class DataError(Exception):
    """The data cannot be shown; `str(error)` is a message for the customer."""


class DatabaseUnreachable(DataError):
    pass


class TenantNotReady(DataError):
    pass


class AccessDenied(DataError):
    pass


@contextmanager
def _connect(url: str, schema: str) -> Iterator[sa.Connection]:
    try:
        with database.engine(url).connect() as conn:
            yield conn.execution_options(schema_translate_map={None: schema})
    except sa.exc.DBAPIError as exc:
        raise _explain(exc) from exc


def _explain(exc: sa.exc.DBAPIError) -> DataError:
    code = getattr(exc.orig, "pgcode", None)
    if code in ("42P01", "3F000"):  # undefined_table, invalid_schema_name
        return TenantNotReady(
            "This tenant's data has not been published yet: the pipeline has not built its "
            "tables. Please check again after the next update."
        )
    if code == "42501":  # insufficient_privilege
        return AccessDenied(
            "The dashboard's database account may not read this tenant's data. The operator "
            "must give it the tenant's reader role (see EXNATON_DASHBOARD_DATABASE_URL)."
        )
    if isinstance(exc, sa.exc.OperationalError):
        return DatabaseUnreachable(
            "The database cannot be reached right now, so no figures can be shown. "
            "Please try again in a few minutes."
        )
    return DataError("The data could not be loaded. Please try again later.")


def _frame(conn: sa.Connection, statement: sa.Select) -> pd.DataFrame:
    result = conn.execute(statement)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def _utc(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


@dataclass(frozen=True)
class Catalogue:
    """The meters a tenant has data for, and when the pipeline last wrote.

    meters: muid, first_day, last_day, last_complete_day (local days with aggregates),
    registers (sorted tuple of the energy registers with energy in them: active_import,
    active_export). One aggregate of daily_energy: a tenant of 10,000 meters is read in
    milliseconds, never its readings (a meter's newest reading: `load_newest`).
    """

    meters: pd.DataFrame
    last_update: datetime | None  # newest manifest entry: when the pipeline last wrote


def _register_pairs(muid: str) -> sa.Select:
    """Distinct (muid, obis, register) of one meter's readings by a loose index scan on the
    primary key (muid, obis, ts), each with its newest reading: a few index probes per pair
    instead of reading every row (one meter per statement: with several, the planner cannot
    walk the key in order and reads every reading of them at each step)."""
    mr = meter_readings
    key = (mr.c.muid, mr.c.obis)
    pairs = (
        sa.select(mr.c.muid, mr.c.obis, mr.c.register)
        .where(mr.c.muid == muid)
        .order_by(*key)
        .limit(1)
        .cte("pairs", recursive=True)
    )
    seen = pairs.alias("seen")
    following = (
        sa.select(mr.c.muid, mr.c.obis, mr.c.register)
        .where(mr.c.muid == muid, sa.tuple_(*key) > sa.tuple_(seen.c.muid, seen.c.obis))
        .order_by(*key)
        .limit(1)
        .lateral("next_pair")
    )
    pairs = pairs.union_all(sa.select(following).select_from(seen.join(following, sa.true())))
    # The newest reading of a pair is the last key before (muid, obis, +infinity) in the
    # primary key. Asked as max(ts) WHERE muid = .. AND obis = .., the planner prefers walking
    # the (ts) index back from the tenant's newest reading, which for a meter out of service
    # since months reads every other meter's rows since then.
    newest = (
        sa.select(mr.c.ts)
        .where(
            sa.tuple_(*key, mr.c.ts)
            < sa.tuple_(pairs.c.muid, pairs.c.obis, sa.cast(sa.literal("infinity"), _ts))
        )
        .order_by(mr.c.muid.desc(), mr.c.obis.desc(), mr.c.ts.desc())
        .limit(1)
        .correlate(pairs)
        .scalar_subquery()
    )
    return sa.select(pairs.c.muid, pairs.c.register, newest.label("newest_reading"))


def load_catalogue(url: str, schema: str) -> Catalogue:
    de = daily_energy
    bounds = sa.select(
        de.c.muid,
        sa.func.min(de.c.day).label("first_day"),
        sa.func.max(de.c.day).label("last_day"),
        sa.func.max(de.c.day).filter(de.c.complete).label("last_complete_day"),
        sa.func.bool_or(de.c.import_kwh > 0).label("imports"),
        sa.func.bool_or(de.c.export_kwh > 0).label("exports"),
    ).group_by(de.c.muid)
    with _connect(url, schema) as conn:
        meters = _frame(conn, bounds)
        last_update = conn.execute(sa.select(sa.func.max(ingested_objects.c.ingested_at))).scalar()
    meters["registers"] = [
        tuple(r for r, has in ((IMPORT, imports), (EXPORT, exports)) if has)
        for imports, exports in zip(meters["imports"], meters["exports"], strict=True)
    ]
    meters = meters.drop(columns=["imports", "exports"])
    return Catalogue(meters.sort_values("muid", ignore_index=True), last_update)


def load_newest(url: str, schema: str, meters: Meters) -> datetime | None:
    """The start (UTC) of the newest reading of one meter or several; None without any."""
    with _connect(url, schema) as conn:
        pairs = pd.concat([_frame(conn, _register_pairs(muid)) for muid in _muids(meters)])
    newest = _utc(pairs, "newest_reading")["newest_reading"].max()
    return None if pd.isna(newest) else newest.to_pydatetime()


def load_community_newest(url: str, schema: str) -> datetime | None:
    """The start (UTC) of the tenant's newest quarter hour with a reading (community_energy's
    last key)."""
    with _connect(url, schema) as conn:
        newest = conn.execute(sa.select(sa.func.max(community_energy.c.ts))).scalar()
    return None if newest is None else pd.Timestamp(newest).tz_convert(UTC).to_pydatetime()


def load_daily(url: str, schema: str, meters: Meters, start: date, end: date) -> pd.DataFrame:
    """daily_energy of one meter, or the sum of several (an installation), for local days
    start..end (primary key ranges). A day is complete when every meter has a complete row."""
    de = daily_energy
    muids = _muids(meters)
    statement = (
        sa.select(
            de.c.day,
            *(sa.func.sum(de.c[n]).label(n) for n in ENERGY_COLUMNS),
            sa.func.sum(de.c.intervals).label("intervals"),
            (sa.func.bool_and(de.c.complete) & (sa.func.count() == len(muids))).label("complete"),
        )
        .where(de.c.muid.in_(muids), de.c.day.between(start, end))
        .group_by(de.c.day)
        .order_by(de.c.day)
    )
    with _connect(url, schema) as conn:
        frame = _frame(conn, statement)
    frame["day"] = pd.to_datetime(frame["day"]).dt.date
    return frame


def load_hourly(
    url: str, schema: str, meters: Meters, start: datetime, end: datetime
) -> pd.DataFrame:
    """hourly_energy of one meter, or the sum of several, for hours starting in [start, end)
    (primary key ranges)."""
    he = hourly_energy
    statement = (
        sa.select(he.c.hour_start, *(sa.func.sum(he.c[n]).label(n) for n in ENERGY_COLUMNS))
        .where(he.c.muid.in_(_muids(meters)), he.c.hour_start >= start, he.c.hour_start < end)
        .group_by(he.c.hour_start)
        .order_by(he.c.hour_start)
    )
    with _connect(url, schema) as conn:
        return _utc(_frame(conn, statement), "hour_start")


def _quarter_hours(meters: Meters, start: datetime, end: datetime) -> sa.Select:
    """15-minute import and export of the meters (summed) for intervals in [start, end).

    One primary key range per meter (UNION ALL): asked for several meters at once, the
    planner walks the time index through every meter's readings of the span instead."""
    mr = meter_readings
    rows = sa.union_all(
        *(
            sa.select(mr.c.ts, mr.c.register, mr.c.kwh).where(
                mr.c.muid == muid,
                mr.c.ts >= start,
                mr.c.ts < end,
                mr.c.register.in_([IMPORT, EXPORT]),
            )
            for muid in _muids(meters)
        )
    ).subquery("r")
    return sa.select(
        rows.c.ts,
        sa.func.sum(rows.c.kwh).filter(rows.c.register == IMPORT).label("import_kwh"),
        sa.func.sum(rows.c.kwh).filter(rows.c.register == EXPORT).label("export_kwh"),
    ).group_by(rows.c.ts)


def load_quarter_hours(
    url: str, schema: str, meters: Meters, start: datetime, end: datetime
) -> pd.DataFrame:
    """15-minute import and export of one meter, or the sum of several, for intervals
    starting in [start, end).

    Read from meter_readings (primary key muid, obis, ts); meant for a few days at most.
    """
    with _connect(url, schema) as conn:
        return _utc(_frame(conn, _quarter_hours(meters, start, end).order_by("ts")), "ts")


@dataclass(frozen=True)
class SelfUse:
    """An installation's import and export over the quarter hours in which both were
    measured, and the import drawn in the same quarter hours as export, sum of min(import,
    export) (docs/decisions.md: what grid meters can tell of self-use)."""

    import_kwh: float
    export_kwh: float
    coincident_kwh: float

    @property
    def self_consumption(self) -> float | None:
        """Share of the feed-in that using it on site at the time would have kept there."""
        return self.coincident_kwh / self.export_kwh if self.export_kwh > 0 else None

    @property
    def self_sufficiency(self) -> float | None:
        """Share of the grid consumption that the own feed-in at the time would have covered."""
        return self.coincident_kwh / self.import_kwh if self.import_kwh > 0 else None


def load_self_use(
    url: str, schema: str, meters: Meters, start: datetime, end: datetime
) -> SelfUse | None:
    """The installation's self-use over the instants [start, end), summed in the database
    (one row back); None when no quarter hour has both import and export."""
    q = _quarter_hours(meters, start, end).subquery("q")
    statement = sa.select(
        sa.func.sum(q.c.import_kwh),
        sa.func.sum(q.c.export_kwh),
        sa.func.sum(sa.func.least(q.c.import_kwh, q.c.export_kwh)),
    ).where(q.c.import_kwh.is_not(None), q.c.export_kwh.is_not(None))
    with _connect(url, schema) as conn:
        imported, exported, coincident = conn.execute(statement).one()
    if imported is None:
        return None
    return SelfUse(float(imported), float(exported), float(coincident))


def load_span(
    url: str, schema: str, meters: Meters, span: tuple[datetime, datetime]
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The energy of one meter (or an installation) over the local instants [start, end)
    (e.g. today 00:00-13:45): the hourly_energy rows of its whole local hours, and the
    15-minute rows (load_quarter_hours) of a last, partial hour, at most three; None when the
    span ends on the hour."""
    start, end = (moment.astimezone(UTC) for moment in span)
    # the local hour the span ends in (not the UTC hour: half-hour time zones)
    hour = span[1].replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    hourly = load_hourly(url, schema, meters, start, hour)
    return hourly, load_quarter_hours(url, schema, meters, hour, end) if hour < end else None


def load_profile(url: str, schema: str, meters: Meters) -> pd.DataFrame:
    """The weekday x hour profile of one meter, or the sum of several (168 rows at most;
    primary key prefixes). An installation's average hour is its members' averages added."""
    p = weekday_hour_profile
    statement = (
        sa.select(
            p.c.weekday,
            p.c.hour,
            sa.func.sum(p.c.avg_import_kwh).label("avg_import_kwh"),
            sa.func.sum(p.c.avg_export_kwh).label("avg_export_kwh"),
            sa.func.min(p.c.days).label("days"),
            sa.func.min(p.c.window_start).label("window_start"),
            sa.func.max(p.c.window_end).label("window_end"),
        )
        .where(p.c.muid.in_(_muids(meters)))
        .group_by(p.c.weekday, p.c.hour)
        .order_by(p.c.weekday, p.c.hour)
    )
    with _connect(url, schema) as conn:
        return _frame(conn, statement)


def load_insights(url: str, schema: str, meters: Meters) -> pd.DataFrame:
    """The insights of one meter or of several, most important first (primary key prefixes)."""
    i = insights
    statement = (
        sa.select(
            i.c.muid,
            i.c.kind,
            i.c.value,
            i.c.unit,
            i.c.severity,
            i.c.rank,
            i.c.message,
            i.c.period_start,
            i.c.period_end,
        )
        .where(i.c.muid.in_(_muids(meters)))
        .order_by(i.c.rank, i.c.kind, i.c.muid)
    )
    with _connect(url, schema) as conn:
        return _frame(conn, statement)


# --- the tenant as a community ------------------------------------------------------------

COMMUNITY_KEYS = {"15min": "ts", "hour": "hour_start", "day": "local_date"}


def load_community_energy(
    url: str, schema: str, start: datetime, end: datetime, resolution: str
) -> pd.DataFrame:
    """The community's import, export and shared energy (consumption covered by members'
    feed-in in the same quarter hour) for quarter hours in [start, end), per quarter hour,
    local hour or local day (`resolution`: 15min, hour, day), in column `start`. One primary
    key range of community_energy: a month is 2,976 rows at most, whatever the fleet."""
    ce = community_energy
    key = ce.c[COMMUNITY_KEYS[resolution]]
    statement = (
        sa.select(
            key.label("start"),
            sa.func.sum(ce.c.import_kwh).label("import_kwh"),
            sa.func.sum(ce.c.export_kwh).label("export_kwh"),
            sa.func.sum(ce.c.shared_kwh).label("shared_kwh"),
        )
        .where(ce.c.ts >= start, ce.c.ts < end)
        .group_by(key)
        .order_by(key)
    )
    with _connect(url, schema) as conn:
        frame = _frame(conn, statement)
    if resolution == "day":
        frame["start"] = pd.to_datetime(frame["start"]).dt.date
        return frame
    return _utc(frame, "start")


def load_meter_totals(
    url: str, schema: str, start: date, end: date, open_day: date
) -> pd.DataFrame:
    """Per meter with rows in local days start..end: import and export (kWh), the days with
    readings and those among them with missing quarter hours, before `open_day` (the day in
    progress, not over yet). One index range of daily_energy by day, aggregated in the
    database: one row per meter comes back."""
    de = daily_energy
    statement = (
        sa.select(
            de.c.muid,
            sa.func.sum(de.c.import_kwh).label("import_kwh"),
            sa.func.sum(de.c.export_kwh).label("export_kwh"),
            sa.func.count().label("days"),
            sa.func.count()
            .filter(sa.not_(de.c.complete), de.c.day < open_day)
            .label("incomplete_days"),
        )
        .where(de.c.day.between(start, end))
        .group_by(de.c.muid)
    )
    with _connect(url, schema) as conn:
        return _frame(conn, statement)

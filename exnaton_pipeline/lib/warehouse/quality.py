"""Data-quality measurements of a tenant's readings, in set-based SQL, without Dagster.

Each function measures one property of one tenant-day partition (a UTC day) and returns a
small report; deciding pass/fail and severity is left to the asset checks. A partition's
objects are the manifest entries (`ingested_objects`) of that UTC day in their current version
that the source still lists: an object withdrawn from the source (`withdrawn_at`) is no
longer judged, though its readings and rejections stay stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from psycopg2 import sql

from exnaton_pipeline.lib.scheduling import SETTLE_TIME
from exnaton_pipeline.lib.warehouse import stale
from exnaton_pipeline.lib.warehouse.database import Connection

INTERVAL = timedelta(minutes=15)
# A later delivery of the same reading replaced this row: recorded, but not a fault.
SUPERSEDED_RULE = "unique_reading"
# Series (muid, OBIS) seen this long before a local day are expected on that day too, so a
# meter that fell silent for a whole day is reported rather than forgotten.
SERIES_LOOKBACK = timedelta(days=7)


def utc_day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


# --- rejected rows -------------------------------------------------------------------------


@dataclass(frozen=True)
class Rejections:
    """What the partition's objects delivered and what was rejected, by rule.

    `unreadable` counts objects refused whole (not JSON, no data array, ...): each is one
    rejection row, though it held a whole delivery's readings, so they are judged by objects.
    """

    objects: int
    written: int
    by_rule: dict[str, int]
    examples: dict[str, str]  # rule -> one message
    unreadable: int = 0

    @property
    def rejected(self) -> int:
        return sum(self.by_rule.values())

    @property
    def faults(self) -> int:
        """Rejected rows that are errors in the data (superseded deliveries are not)."""
        return self.rejected - self.by_rule.get(SUPERSEDED_RULE, 0)

    @property
    def delivered(self) -> int:
        return self.written + self.rejected

    @property
    def fault_share(self) -> float:
        return self.faults / self.delivered if self.delivered else 0.0

    @property
    def unreadable_share(self) -> float:
        """Share of the partition's objects that could not be read at all."""
        return self.unreadable / self.objects if self.objects else 0.0


def rejections(conn: Connection, schema: str, day: date) -> Rejections:
    """Rows written and rejected (per rule, with an example message) for `day`'s objects that
    are still in the source."""
    s = sql.Identifier(schema)
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "SELECT count(*), coalesce(sum(rows_written), 0) FROM {}.ingested_objects "
                "WHERE partition_day = %s AND withdrawn_at IS NULL"
            ).format(s),
            (day,),
        )
        objects, written = cur.fetchone()
        cur.execute(
            sql.SQL(
                """SELECT r.rule, count(*), min(r.message),
                    count(DISTINCT r.source_key) FILTER (WHERE r.record_index IS NULL)
                FROM {}.rejected_readings r
                JOIN {}.ingested_objects o ON o.key = r.source_key AND o.etag = r.source_etag
                WHERE o.partition_day = %s AND o.withdrawn_at IS NULL
                GROUP BY r.rule ORDER BY count(*) DESC, r.rule"""
            ).format(s, s),
            (day,),
        )
        rows = cur.fetchall()
    return Rejections(
        objects=objects,
        written=int(written),
        by_rule={rule: n for rule, n, _, _ in rows},
        examples={rule: message for rule, _, message, _ in rows},
        unreadable=sum(whole for *_, whole in rows),
    )


# --- completeness --------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalDay:
    """A calendar day in a tenant's zone, as the UTC instants it begins and ends."""

    day: date
    begin: datetime
    end: datetime

    @property
    def expected_intervals(self) -> int:
        """96 on ordinary days; 92 or 100 on the days clocks change."""
        return int((self.end - self.begin) / INTERVAL)


def local_day(day: date, zone: ZoneInfo) -> LocalDay:
    begin = datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
    return LocalDay(day, begin, end)


def local_days_closing_in(day: date, zone: ZoneInfo) -> list[LocalDay]:
    """The local days whose last 15-minute interval lies in UTC day `day`.

    Every local day closes in exactly one UTC partition, so each is judged once, by the
    partition that completes it (Zurich: local day D closes in UTC day D; New York: local
    day D closes in UTC day D+1).
    """
    start, end = utc_day_bounds(day)
    first = start.astimezone(zone).date()
    last = (end - INTERVAL).astimezone(zone).date()
    candidates = (
        local_day(first + timedelta(days=n), zone) for n in range((last - first).days + 1)
    )
    return [d for d in candidates if start < d.end <= end]


@dataclass(frozen=True)
class SeriesGap:
    local_day: date
    muid: str
    obis: str
    present: int
    expected: int


@dataclass
class Completeness:
    judged: list[LocalDay] = field(default_factory=list)
    pending: list[LocalDay] = field(default_factory=list)  # not over (or not settled) yet
    series: int = 0  # meter registers judged, summed over judged days
    gaps: list[SeriesGap] = field(default_factory=list)


def completeness(
    conn: Connection, schema: str, zone: ZoneInfo, day: date, now: datetime
) -> Completeness:
    """Readings per meter register and local day closing in `day`, against the expected count.

    Only local days that ended at least SETTLE_TIME before `now` are judged. The registers
    expected are those with any reading in the SERIES_LOOKBACK before the day's end.
    """
    report = Completeness()
    for ld in local_days_closing_in(day, zone):
        if ld.end + SETTLE_TIME > now:
            report.pending.append(ld)
            continue
        report.judged.append(ld)
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL(
                    """WITH series AS (
                        SELECT DISTINCT muid, obis FROM {s}.meter_readings
                        WHERE ts >= %(lookback)s AND ts < %(end)s)
                    SELECT s.muid::text, s.obis, count(DISTINCT m.ts)
                    FROM series s
                    LEFT JOIN {s}.meter_readings m ON m.muid = s.muid AND m.obis = s.obis
                        AND m.ts >= %(begin)s AND m.ts < %(end)s
                    GROUP BY s.muid, s.obis
                    ORDER BY s.muid, s.obis"""
                ).format(s=sql.Identifier(schema)),
                {"lookback": ld.begin - SERIES_LOOKBACK, "begin": ld.begin, "end": ld.end},
            )
            rows = cur.fetchall()
        report.series += len(rows)
        report.gaps.extend(
            SeriesGap(ld.day, muid, obis.strip(), present, ld.expected_intervals)
            for muid, obis, present in rows
            if present < ld.expected_intervals
        )
    return report


# --- duplicates ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Duplicates:
    keys: int  # (muid, obis, ts) keys stored more than once
    extra_rows: int  # rows beyond the first of each key
    examples: list[tuple[str, str, datetime, int]]  # muid, obis, ts, copies


def duplicates(conn: Connection, schema: str, limit: int = 5) -> Duplicates:
    """Readings stored more than once under the same muid, OBIS and start, among the meter
    hours this run changed (still queued in `stale_hours` for `hourly_energy`): what the
    aggregates are about to add up. Each run of consecutive hours reads only its own range.
    """
    s = sql.Identifier(schema)
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT DISTINCT hour_start FROM {}.stale_hours ORDER BY 1").format(s))
        runs = stale.hour_runs([row[0] for row in cur.fetchall()])
        found: list[tuple[str, str, datetime, int]] = []
        for lo, hi in runs:
            cur.execute(
                # duplicates are rare: find them in the range first (one scan, one hash
                # aggregate), then keep those of queued hours; a join of every reading with the
                # queue first is at the planner's mercy (a minute for a day of 1,000 meters)
                sql.SQL(
                    """WITH d AS (
                        SELECT muid, obis, ts, count(*) AS copies FROM {s}.meter_readings
                        WHERE ts >= %s AND ts < %s
                        GROUP BY muid, obis, ts HAVING count(*) > 1)
                    SELECT d.muid::text, d.obis, d.ts, d.copies FROM d
                    WHERE EXISTS (
                        SELECT 1 FROM {s}.stale_hours k WHERE k.muid = d.muid
                        AND d.ts >= k.hour_start AND d.ts < k.hour_start + interval '1 hour')"""
                ).format(s=s),
                (lo, hi),
            )
            found.extend(cur.fetchall())
    found.sort(key=lambda row: (row[2], row[0], row[1]))
    return Duplicates(
        keys=len(found),
        extra_rows=sum(copies - 1 for *_, copies in found),
        examples=[(muid, obis.strip(), ts, copies) for muid, obis, ts, copies in found[:limit]],
    )


# --- freshness and previews ----------------------------------------------------------------


def newest_reading(conn: Connection, schema: str) -> datetime | None:
    """Start of the newest interval the tenant has a reading for (UTC), None when empty."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT max(ts) FROM {}.meter_readings").format(sql.Identifier(schema)))
        return cur.fetchone()[0]


def reading_age(newest: datetime, now: datetime) -> timedelta:
    """How long ago the newest interval ended (its reading could not exist before that)."""
    return now - (newest + INTERVAL)


def stored_rows(conn: Connection, schema: str, day: date) -> int:
    """Readings stored for UTC day `day`."""
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("SELECT count(*) FROM {}.meter_readings WHERE ts >= %s AND ts < %s").format(
                sql.Identifier(schema)
            ),
            utc_day_bounds(day),
        )
        return cur.fetchone()[0]


PREVIEW_COLUMNS = ["muid", "obis", "register", "ts", "kwh", "quality", "source_key"]


def preview(conn: Connection, schema: str, day: date, limit: int = 5) -> pd.DataFrame:
    """The newest `limit` readings of UTC day `day`."""
    start, end = utc_day_bounds(day)
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "SELECT muid::text, obis, register, ts, kwh, quality, source_key "
                "FROM {}.meter_readings WHERE ts >= %s AND ts < %s "
                "ORDER BY ts DESC, muid, obis LIMIT %s"
            ).format(sql.Identifier(schema)),
            (start, end, limit),
        )
        return pd.DataFrame(cur.fetchall(), columns=PREVIEW_COLUMNS)


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table (Dagster renders it in the UI)."""

    def cell(value: Any) -> str:
        if isinstance(value, datetime):
            value = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)

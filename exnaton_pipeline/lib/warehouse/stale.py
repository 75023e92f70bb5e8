"""Work queues of the incremental refresh: which meter hours, days and windows changed.

A tick's cost must follow what it changed, not the size of the fleet or its history. So each
step that changes an input records the keys it changed, in the same transaction, and the next
step takes (deletes) them in the transaction that recomputes them:

    meter_readings upsert  --stale_hours-->  hourly_energy  --stale_days-->  daily_energy
        --stale_windows-->  weekday_hour_profile and insights (once per local day)

A crash between two steps leaves the keys queued for the next run; two runs of one tenant take
turns under its lock, so no key is recomputed twice or lost. Tables are declared in tables.py.

The local hour of a reading is named by the UTC instant it starts (`HOUR_START`): the reading's
instant minus its offset into the local hour. So the two 02:00 hours of an autumn DST day stay
apart, and zones 30 or 45 minutes off UTC get their own hour boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from psycopg2 import sql

from exnaton_pipeline.lib.warehouse.database import Connection

# The UTC start of the local hour of the instant `ts`; %(tz)s is the tenant's IANA zone.
HOUR_START = "({ts} - (({ts} AT TIME ZONE %(tz)s) - date_trunc('hour', {ts} AT TIME ZONE %(tz)s)))"
HOUR = timedelta(hours=1)


def hour_start(ts: str) -> str:
    """HOUR_START of the column or expression `ts` (SQL text of ours, never input)."""
    return HOUR_START.format(ts=ts)


CHANGED_READINGS = "changed_readings"


def create_changed_readings(cur) -> None:
    """The transaction's temporary list of (muid, ts) whose readings were inserted or changed."""
    cur.execute(
        "CREATE TEMP TABLE IF NOT EXISTS changed_readings (muid uuid, ts timestamptz) "
        "ON COMMIT DROP"
    )


def mark_changed_hours(cur, schema: str, timezone: str) -> None:
    """Queue the local hours of the readings listed in `changed_readings`."""
    cur.execute(
        sql.SQL(
            "INSERT INTO {}.stale_hours (muid, hour_start) "
            "SELECT DISTINCT muid, " + hour_start("ts") + " FROM changed_readings "
            "ON CONFLICT DO NOTHING"
        ).format(sql.Identifier(schema)),
        {"tz": timezone},
    )


def mark_local_days(conn: Connection, schema: str, timezone: str, first: date, last: date) -> int:
    """Queue every meter hour of local days `first`..`last` for recomputation: the hours with
    readings and the hours with stored rows (whose readings may be gone). Returns hours queued.

    For repairs: a changed tariff plan, rows written by an older release, a manual request.
    """
    s = sql.Identifier(schema)
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                """INSERT INTO {s}.stale_hours (muid, hour_start)
                SELECT muid, """
                + hour_start("ts")
                + """ FROM {s}.meter_readings
                WHERE register IN ('active_import', 'active_export')
                  AND ts >= (%(first)s::timestamp AT TIME ZONE %(tz)s)
                  AND ts < ((%(last)s + 1)::timestamp AT TIME ZONE %(tz)s)
                UNION
                SELECT muid, hour_start FROM {s}.hourly_energy
                WHERE hour_start >= (%(first)s::timestamp AT TIME ZONE %(tz)s)
                  AND hour_start < ((%(last)s + 1)::timestamp AT TIME ZONE %(tz)s)
                ON CONFLICT DO NOTHING"""
            ).format(s=s),
            {"tz": timezone, "first": first, "last": last},
        )
        return cur.rowcount


def take_hours(conn: Connection, schema: str) -> list[tuple[datetime, datetime]]:
    """Move the queued hours into the transaction's temporary `taken_hours` (muid, hour_start)
    and return them as runs of consecutive hours [from, to): the ranges of readings to read.

    Until the transaction commits, the queue rows are only deleted in it: a failed
    recomputation leaves them queued.
    """
    with conn.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE taken_hours (muid uuid, hour_start timestamptz) ON COMMIT DROP"
        )
        cur.execute(
            sql.SQL(
                "WITH t AS (DELETE FROM {}.stale_hours RETURNING muid, hour_start) "
                "INSERT INTO taken_hours SELECT muid, hour_start FROM t"
            ).format(sql.Identifier(schema))
        )
        cur.execute("ANALYZE taken_hours")
        cur.execute("SELECT DISTINCT hour_start FROM taken_hours ORDER BY 1")
        starts = [row[0] for row in cur.fetchall()]
    return hour_runs(starts)


def hour_runs(starts: list[datetime]) -> list[tuple[datetime, datetime]]:
    """Sorted hour starts joined into ranges [from, to) of consecutive hours."""
    runs: list[tuple[datetime, datetime]] = []
    for start in starts:
        if runs and runs[-1][1] >= start:
            runs[-1] = (runs[-1][0], start + HOUR)
        else:
            runs.append((start, start + HOUR))
    return runs


def take_days(conn: Connection, schema: str) -> int:
    """Move the queued meter days into the temporary `taken_days` (muid, day); how many."""
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE taken_days (muid uuid, day date) ON COMMIT DROP")
        cur.execute(
            sql.SQL(
                "WITH t AS (DELETE FROM {}.stale_days RETURNING muid, day) "
                "INSERT INTO taken_days SELECT muid, day FROM t"
            ).format(sql.Identifier(schema))
        )
        taken = cur.rowcount
        cur.execute("ANALYZE taken_days")
    return taken


@dataclass(frozen=True)
class Windows:
    """Meters whose trailing windows changed on days up to a local day, and when the newest of
    those changes was marked (None: nothing to do)."""

    muids: list[str]
    newest_mark: datetime | None


def changed_windows(conn: Connection, schema: str, last_day: date) -> Windows:
    """The meters whose days up to `last_day` changed since the per-day work last ran."""
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "SELECT muid::text, max(marked_at) FROM {}.stale_windows WHERE day <= %s "
                "GROUP BY muid ORDER BY muid"
            ).format(sql.Identifier(schema)),
            (last_day,),
        )
        rows = cur.fetchall()
    return Windows([muid for muid, _ in rows], max((m for _, m in rows), default=None))


def clear_windows(conn: Connection, schema: str, last_day: date, marked_until: datetime) -> None:
    """Drop the marks of days up to `last_day` made no later than `marked_until`:
    the per-day work has seen them. A day changed again meanwhile keeps its newer mark, and
    marks of later days (today's, still filling) stay for the next day's run.

    Reading the marks first and clearing them after the work commits holds no lock while the
    windows are recomputed, so ticks marking days never wait, and a failed run loses nothing.
    """
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("DELETE FROM {}.stale_windows WHERE day <= %s AND marked_at <= %s").format(
                sql.Identifier(schema)
            ),
            (last_day, marked_until),
        )


def aggregation_pending(conn: Connection, schema: str) -> bool:
    """Whether hours or days are queued (a run failed after storing readings)."""
    s = sql.Identifier(schema)
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "SELECT EXISTS (SELECT 1 FROM {s}.stale_hours) "
                "OR EXISTS (SELECT 1 FROM {s}.stale_days)"
            ).format(s=s)
        )
        return cur.fetchone()[0]

"""Dashboard load benchmark: `python -m benchmarks.dashboard [--meters 50] [--days 365]`
(and `--meters 10000 --days 28`: an energy community of 10,000 meters).

Builds a tenant with 50 meters and a year of history in a scratch database on the warehouse
server (EXNATON_DATABASE_URL, else the embedded one): 15-minute readings, and hourly/daily
aggregates, the community's quarter hours, the weekday-hour profile and insights. Readings
and manifest rows are generated set-based in SQL (one INSERT ... SELECT each, never a
statement per meter); everything derived from them is computed by the analytics pipeline's
own set-based functions for all meters at once: hourly and daily energy per UTC day (only
as many UTC days as cover every local day once), the community for all local days in one
statement, the profile and the insights for the whole tenant. Then it times the dashboard's
data-loading functions per view, uncached and connected as the tenant's read-only role, for
random meters and periods, and reports p50/p95/max against the 300 ms target. It also
EXPLAINs every statement the views send and lists the access path per table, so a missing
index shows up as a Seq Scan.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import re
import statistics
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from time import perf_counter

import sqlalchemy as sa
from psycopg2 import sql

from exnaton_pipeline.lib import settings
from exnaton_pipeline.lib.energy import analytics, community, insights
from exnaton_pipeline.lib.tenants import load_registry
from exnaton_pipeline.lib.warehouse import database, migrate, roles, stale, tenant_schema
from streamlit_app import data, periods, summaries
from streamlit_app.periods import Period

# The scratch tenant: the zone and tariff plan of the registry's demo tenant, no named meters.
TENANT = dataclasses.replace(
    load_registry(settings.tenants_file()).get("demo"),
    id="bench-dashboard",
    name="Dashboard benchmark",
    source_prefix="bench-dashboard",
    meters=(),
)
SCHEMA = TENANT.schema
TARGET_MS = 300.0
PV_EVERY = 5  # every fifth meter also exports (a PV installation)


# 15-minute readings for local days first .. end - 1: import for every meter, export (a PV
# curve over the local day) for every PV_EVERY-th one.
_READINGS = """INSERT INTO {s}.meter_readings
        (muid, obis, register, ts, kwh, quality, source_key, source_etag)
    SELECT m.muid, r.obis, r.register, t.ts,
        CASE WHEN r.register = 'active_import' THEN 0.02 + 0.3 * random()
             ELSE greatest(0, sin(pi() * (extract(hour FROM t.ts AT TIME ZONE %(tz)s)
                                          - 6) / 12)) * 0.4 * random() END,
        'measured', 'bench', 'bench'
    FROM (SELECT n, md5('bench-meter-' || n)::uuid AS muid
          FROM generate_series(1, %(meters)s) n) m
    CROSS JOIN LATERAL (VALUES ('0100011D00FF', 'active_import'),
                               ('0100021D00FF', 'active_export')) r(obis, register)
    CROSS JOIN generate_series(%(first)s::timestamp AT TIME ZONE %(tz)s,
                               %(end)s::timestamp AT TIME ZONE %(tz)s
                                   - interval '15 minutes',
                               interval '15 minutes') t(ts)
    WHERE (r.register = 'active_import' OR m.n %% %(pv_every)s = 0)
        -- meter 1 was taken out of service half-way: the worst case for "newest"
        AND NOT (m.n = 1 AND t.ts >= %(first)s::date + %(days)s / 2)"""

# One manifest entry per meter and day, written an hour after the day ended.
_MANIFEST = """INSERT INTO {s}.ingested_objects (key, etag, size, last_modified, partition_day,
        rows_read, rows_written, rows_rejected, run_id, ingested_at)
    SELECT 'bench/' || d::date || '/' || m.muid || '.json', 'e', 1, d, d::date, 96, 96,
        0, NULL, d + interval '1 day 1 hour'
    FROM (SELECT DISTINCT muid FROM {s}.daily_energy) m,
        generate_series(%(first)s::timestamptz, %(end)s::timestamptz - interval '1 day',
                        interval '1 day') d"""


def generate(url: str, meters: int, first: date, days: int) -> None:
    """Readings, then the pipeline's aggregates, profile and insights, then manifest rows."""
    last = first + timedelta(days=days - 1)
    params = {
        "tz": TENANT.timezone,
        "first": first,
        "end": last + timedelta(days=1),
        "meters": meters,
        "days": days,
        "pv_every": PV_EVERY,
    }
    start, end = Period("custom", first, last).utc_bounds(TENANT.zone)
    utc_days = [start.date() + timedelta(days=n) for n in range((end - start).days + 1)]
    # a refresh recomputes every local day its UTC day touches: refresh only as many UTC
    # days as cover each local day once (every other one in Europe)
    covering: list[date] = []
    covered: set[date] = set()
    for day in utc_days:
        touched = set(analytics.local_days(day, TENANT.zone))
        if not touched <= covered:
            covering.append(day)
            covered |= touched

    def execute(statement: str) -> Callable[[database.Connection], None]:
        def run(conn: database.Connection) -> None:
            with conn.cursor() as cur:
                cur.execute(sql.SQL(statement).format(s=sql.Identifier(SCHEMA)), params)

        return run

    def per_utc_day(refresh: Callable) -> Callable[[database.Connection], None]:
        """The pipeline's refresh of the queued keys, with every local day queued first (the
        readings were COPYed, not upserted; what a `recompute: true` run queues)."""

        def run(conn: database.Connection) -> None:
            if refresh is analytics.refresh_hourly_energy:
                for day in covering:
                    days = analytics.local_days(day, TENANT.zone)
                    stale.mark_local_days(conn, SCHEMA, TENANT.timezone, days[0], days[-1])
            refresh(conn, TENANT)

        return run

    migrate.migrate_tenant(url, TENANT)
    with database.transaction(url) as conn:
        roles.ensure_reader_role(conn, SCHEMA)  # the dashboard's loads are timed as the reader
        tenant_schema.ensure_month_partitions(conn, SCHEMA, utc_days)
    steps = [
        ("meter_readings", execute(_READINGS)),
        ("hourly_energy", per_utc_day(analytics.refresh_hourly_energy)),
        ("daily_energy", per_utc_day(analytics.refresh_daily_energy)),
        (
            "community_energy",
            lambda conn: community.refresh_community_energy(
                conn, TENANT, community.local_day_spans(TENANT.zone, covered)
            ),
        ),
        ("weekday_hour_profile", lambda conn: analytics.refresh_weekday_hour_profile(conn, TENANT)),
        ("insights", lambda conn: insights.refresh_insights(conn, TENANT)),
        ("ingested_objects", execute(_MANIFEST)),
    ]
    for table, step in steps:
        started = perf_counter()
        with database.transaction(url) as conn:
            step(conn)
            with conn.cursor() as cur:
                cur.execute(
                    sql.SQL("SELECT count(*) FROM {}.{}").format(
                        sql.Identifier(SCHEMA), sql.Identifier(table)
                    )
                )
                rows = cur.fetchone()[0]
        print(f"  {table:<22} {rows:>10,} rows  {perf_counter() - started:6.1f} s", flush=True)
    conn = database.autocommit_connection(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("ANALYZE"))
    finally:
        conn.close()


def views(
    url: str, meters: list[str], sites: list[str], first: date, last: date
) -> dict[str, Callable[[], None]]:
    """One loader per dashboard view: what a page render of that view reads, for a random
    meter or installation (a meter and one of `sites`, those with import and export) and
    period (the app calls the same functions through st.cache_data)."""
    zone = TENANT.zone

    def anchor() -> date:
        return first + timedelta(days=random.randrange((last - first).days + 1))

    def newest_reading() -> datetime:
        """A live tenant's newest reading: a quarter hour of the last week, not its day's last
        (the generated days are whole; every load stops at this cut, as the app's do)."""
        day = last - timedelta(days=random.randrange(7))
        quarter = timedelta(minutes=15 * random.randrange(95))
        return (datetime.combine(day, time(), tzinfo=zone) + quarter).astimezone(UTC)

    def render(
        period: Period, resolution: str, newest: datetime | None = None, site: bool = False
    ) -> None:
        """The reads of the app's page for `period`: daily rows with the period before; for a
        day in progress in it, its quarter hours so far; for a period in progress, both spans
        up to the cut; the same period a year earlier where the history reaches back (whole,
        or up to the cut); for a site with import and export, its self-use in both periods;
        then the chart's rows."""
        # an installation: a consumer's meter and a PV site's, summed
        muid = (random.choice(meters), random.choice(sites)) if site else random.choice(meters)
        data.load_newest(url, SCHEMA, muid)  # freshness: the shown meter's newest reading
        previous = period.previous()  # none before all data
        data.load_daily(url, SCHEMA, muid, (previous or period).start, period.end)
        day = periods.day_in_progress(newest, zone)
        if day is not None and period.contains(day[0].date()):
            data.load_quarter_hours(url, SCHEMA, muid, *(moment.astimezone(UTC) for moment in day))
        progress = periods.in_progress(period, newest, zone)
        if progress is not None:
            data.load_span(url, SCHEMA, muid, progress.span)
            data.load_span(url, SCHEMA, muid, progress.previous_span)
        year_earlier = period.year_earlier()
        if year_earlier is not None and year_earlier.start >= first:
            if progress is None:
                data.load_daily(url, SCHEMA, muid, year_earlier.start, year_earlier.end)
            else:
                data.load_span(url, SCHEMA, muid, progress.year_earlier_span)
        start, end = period.utc_bounds(zone)
        if site:
            data.load_self_use(url, SCHEMA, muid, start, end)
            if previous is not None:
                data.load_self_use(url, SCHEMA, muid, *previous.utc_bounds(zone))
        if resolution == "15min":
            data.load_quarter_hours(url, SCHEMA, muid, start, end)
        elif resolution == "hour":
            data.load_hourly(url, SCHEMA, muid, start, end)

    def period_of(kind: str) -> Period:
        if kind == periods.ALL:
            return periods.all_data(first, last)
        if kind == "custom":  # a year
            return Period("custom", last - timedelta(days=364), last)
        return periods.period_of(kind, anchor())

    def period_view(kind: str, resolution: str, site: bool = False) -> Callable[[], None]:
        return lambda: render(period_of(kind), resolution, site=site)

    def community_view(kind: str, resolution: str) -> Callable[[], None]:
        def load() -> None:
            """The community page: both periods' totals, every meter's totals (distribution,
            rankings, missing data) and the chart's rows."""
            data.load_community_newest(url, SCHEMA)
            period = period_of(kind)
            previous = period.previous()
            for span in (period, previous):
                if span is not None:
                    data.load_community_energy(url, SCHEMA, *span.utc_bounds(zone), "day")
            data.load_meter_totals(
                url, SCHEMA, period.start, period.end, period.end + timedelta(days=1)
            )
            if resolution != "day":
                data.load_community_energy(url, SCHEMA, *period.utc_bounds(zone), resolution)

        return load

    def catalogue() -> None:
        """The meters, their bounds and freshness, and the picker's choices from them."""
        summaries.choices(TENANT, data.load_catalogue(url, SCHEMA).meters)

    def in_progress_view(kind: str, resolution: str) -> Callable[[], None]:
        def load() -> None:
            newest = newest_reading()
            render(periods.period_of(kind, newest.astimezone(zone).date()), resolution, newest)

        return load

    def typical_week() -> None:
        muid = random.choice(meters)
        data.load_profile(url, SCHEMA, muid)
        data.load_insights(url, SCHEMA, muid)

    return {
        "catalogue (meters, bounds, freshness)": catalogue,
        "day, 15-minute": period_view("day", "15min"),
        "today so far, 15-minute, cut comparison": in_progress_view("day", "15min"),
        "week, hourly": period_view("week", "hour"),
        "this week so far, hourly, cut comparison": in_progress_view("week", "hour"),
        "week, 15-minute": period_view("week", "15min"),
        "month, daily": period_view("month", "day"),
        "month, hourly": period_view("month", "hour"),
        "year, daily": period_view("custom", "day"),
        "all data, daily": period_view(periods.ALL, "day"),
        "typical week + insights": typical_week,
        "installation, month daily + self-use": period_view("month", "day", site=True),
        "installation, week hourly + self-use": period_view("week", "hour", site=True),
        "community, day 15-minute": community_view("day", "15min"),
        "community, week hourly": community_view("week", "hour"),
        "community, month daily": community_view("month", "day"),
        "community, all data daily": community_view(periods.ALL, "day"),
    }


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(loaders: dict[str, Callable[[], None]], runs: int) -> bool:
    print(f"\n{'view (uncached)':<40} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    ok = True
    for name, load in loaders.items():
        load()  # warm the connection pool and the server's plan and buffer caches
        samples = []
        for _ in range(runs):
            started = perf_counter()
            load()
            samples.append((perf_counter() - started) * 1000)
        p95 = _percentile(samples, 0.95)
        ok &= p95 < TARGET_MS
        print(
            f"{name:<40} {statistics.median(samples):8.1f} {p95:8.1f} {max(samples):8.1f}"
            f"{'' if p95 < TARGET_MS else '  OVER TARGET'}"
        )
    return ok


def explain(owner_url: str, reader_url: str, loaders: dict[str, Callable[[], None]]) -> None:
    """Capture each view's statements once, EXPLAIN them, list scan node and table."""
    captured: list[tuple[str, str]] = []
    current = {"view": ""}

    def capture(conn, cursor, statement, parameters, context, executemany):
        captured.append((current["view"], cursor.mogrify(statement, parameters).decode()))

    engine = database.engine(reader_url)
    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        for name, load in loaders.items():
            current["view"] = name
            load()
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    print("\naccess paths (EXPLAIN)")
    conn = database.autocommit_connection(owner_url)
    try:
        with conn.cursor() as cur:
            seen = set()
            for view, statement in captured:
                if statement in seen or not statement.lstrip().startswith(("SELECT", "WITH")):
                    continue
                seen.add(statement)
                cur.execute("EXPLAIN (FORMAT JSON) " + statement)
                scans = sorted(set(_scans(cur.fetchone()[0][0]["Plan"])))
                print(f"  {view:<40} " + "; ".join(scans))
    finally:
        conn.close()


def _scans(node: dict) -> list[str]:
    found = []
    if node["Node Type"] == "Bitmap Index Scan":
        found.append(_MONTH.sub("<month>", f"Bitmap Index Scan ({node['Index Name']})"))
    if "Relation Name" in node:
        index = f" ({node['Index Name']})" if "Index Name" in node else ""
        # the monthly partitions of meter_readings fold into one entry
        found.append(_MONTH.sub("<month>", f"{node['Node Type']} {node['Relation Name']}{index}"))
    for child in node.get("Plans", []):
        found.extend(_scans(child))
    return found


_MONTH = re.compile(r"(?<=meter_readings_)\d{4}_\d{2}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dashboard", description=__doc__)
    parser.add_argument("--meters", type=int, default=50)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=40, help="timed loads per view")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--reuse",
        metavar="DATABASE",
        help="time the views on a scratch database kept by an earlier run (--keep) with the "
        "same --days, instead of generating one; it is kept",
    )
    args = parser.parse_args(argv)
    random.seed(7)

    server = database.warehouse_url()
    scratch = args.reuse or f"exnaton_bench_dashboard_{uuid.uuid4().hex[:8]}"
    admin = database.autocommit_connection(server)
    if not args.reuse:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
    url = sa.make_url(server).set(database=scratch).render_as_string(hide_password=False)
    first = date(2025, 1, 1)
    last = first + timedelta(days=args.days - 1)
    try:
        if not args.reuse:
            print(f"generating {args.meters} meters x {args.days} days in database {scratch}")
            generate(url, args.meters, first, args.days)
        reader = roles.reader_url(url, SCHEMA)
        catalogue = data.load_catalogue(reader, SCHEMA).meters
        meters = list(catalogue["muid"])
        sites = [m for m, r in zip(meters, catalogue["registers"], strict=True) if len(r) == 2]
        loaders = views(reader, meters, sites, first, last)
        ok = measure(loaders, args.runs)
        explain(url, reader, loaders)
        print(f"\ntarget p95 < {TARGET_MS:.0f} ms for every view: {'met' if ok else 'NOT met'}")
    finally:
        database.engine(url).dispose()
        database.engine(roles.reader_url(url, SCHEMA)).dispose()
        if not (args.keep or args.reuse):
            with admin.cursor() as cur:
                cur.execute(
                    sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(scratch))
                )
                # the role is server-wide; its only grants were in the scratch database
                cur.execute(
                    sql.SQL("DROP ROLE IF EXISTS {}").format(
                        sql.Identifier(roles.reader_role_name(SCHEMA))
                    )
                )
        admin.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

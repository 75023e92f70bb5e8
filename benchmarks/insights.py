"""Per-day work benchmark: `python -m benchmarks.insights --meters 1000 --days 28`.

Builds `meters` synthetic households (the project's generator, lib.demo_data.synthetic: two
in five with PV, import and export on one muid) with `days` local days of 15-minute history
in a fresh tenant schema `tenant_bench_insights_<meters>x<days>` on the warehouse server
(--database-url, else EXNATON_DATABASE_URL, else the embedded one): readings by binary COPY
(as wide as ingested ones), then `hourly_energy` and `daily_energy` with the pipeline's own
refresh per UTC day (every other one: each recomputes both local days it touches). That is
setup and only reported. Then it times the per-day work for all meters of the tenant, each
step in a fresh process so that its peak memory is its own, after the insights of the day
before were stored (so that the timed run changes every row, as a real day's run does):

  refresh_weekday_hour_profile(conn, tenant)   and   refresh_insights(conn, tenant)

and reports seconds, the process's peak RSS (and the RSS after imports, before the step) and
the rows written. `--profile` adds a cProfile of each step (top functions by cumulative
time). `--keep` leaves the schema for the next run, which then skips the setup.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import hashlib
import io
import math
import multiprocessing
import pstats
import re
import struct
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from psycopg2 import sql

from exnaton_pipeline.lib import settings
from exnaton_pipeline.lib.demo_data import synthetic
from exnaton_pipeline.lib.energy import analytics, insights
from exnaton_pipeline.lib.tenants import Tenant, load_registry
from exnaton_pipeline.lib.warehouse import database, migrate, stale, tenant_schema
from exnaton_pipeline_tests.lib.energy import insights_oracle as oracle

FIRST_DAY = date(2023, 3, 6)  # a Monday; 28 days reach over the spring DST change (26 March)
COPY_METERS = 2_000  # meters per COPY statement: bounds the setup's memory
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
TOP_FUNCTIONS = 25


def bench_tenant(meters: int, days: int) -> Tenant:
    """The registry's demo tenant (Europe/Zurich, swiss_dual) under a benchmark id."""
    template = load_registry(settings.tenants_file()).get("demo")
    tenant_id = f"bench-insights-{meters}x{days}"
    return dataclasses.replace(
        template, id=tenant_id, name="Insights benchmark", source_prefix=tenant_id, meters=()
    )


# --------------------------------------------------------------------------- setup


def _binary_copy(
    muid: np.ndarray,
    obis: str,
    register: str,
    ts: np.ndarray,
    kwh: np.ndarray,
    source_key: np.ndarray,
    source_etag: np.ndarray,
) -> bytes:
    """Readings as COPY binary rows: muid (16 bytes each), ts in µs since 2000-01-01 UTC.

    Every column has a fixed width here, so the tuples are one numpy structured array.
    """
    fields = [
        ("muid", "V16"),
        ("obis", f"S{len(obis)}"),
        ("register", f"S{len(register)}"),
        ("ts", ">i8"),
        ("kwh", ">f8"),
        ("quality", "S8"),
        ("source_key", source_key.dtype.str),
        ("source_etag", source_etag.dtype.str),
    ]
    dtype = [("count", ">i2")]
    for name, kind in fields:
        dtype += [(f"{name}_len", ">i4"), (name, kind)]
    rows = np.zeros(len(kwh), dtype=dtype)
    rows["count"] = len(fields)
    for name, kind in fields:
        rows[f"{name}_len"] = np.dtype(kind).itemsize
    rows["muid"] = muid
    rows["obis"] = obis.encode()
    rows["register"] = register.encode()
    rows["ts"] = ts
    rows["kwh"] = kwh
    rows["quality"] = b"measured"
    rows["source_key"] = source_key
    rows["source_etag"] = source_etag
    header = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
    return header + rows.tobytes() + struct.pack(">h", -1)


def _copy_day(
    conn: database.Connection,
    tenant: Tenant,
    households: list[synthetic.Household],
    utc_day: date,
    start: datetime,
    end: datetime,
) -> int:
    """COPY the households' readings of one UTC day that fall in [start, end); return rows."""
    columns = ["muid", "obis", "register", "ts", "kwh", "quality", "source_key", "source_etag"]
    statement = sql.SQL("COPY {}.meter_readings ({}) FROM STDIN WITH (FORMAT binary)").format(
        sql.Identifier(tenant.schema), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    written = 0
    for first in range(0, len(households), COPY_METERS):
        group = households[first : first + COPY_METERS]
        day = synthetic.simulate_day(group, utc_day, tenant.zone)
        keep = np.asarray((day.starts >= start) & (day.starts < end))
        micros = ((day.starts[keep] - PG_EPOCH) // pd.Timedelta(microseconds=1)).to_numpy()
        muids = np.array([uuid.UUID(h.muid).bytes for h in group], dtype="V16")
        # source object and version as ingestion writes them: `<prefix>/<day>/<muid>.json`
        # and an MD5, so that rows are as wide as in production
        keys = np.array([f"{tenant.source_prefix}/{utc_day}/{h.muid}.json" for h in group])
        etags = np.array([hashlib.md5(k.encode()).hexdigest() for k in keys])
        keys, etags = keys.astype("S"), etags.astype("S")
        pv = np.array([h.pv_kwp > 0 for h in group])
        for obis, register, values, meters in [
            (synthetic.IMPORT_OBIS, analytics.IMPORT, day.import_kwh, np.ones_like(pv)),
            (synthetic.EXPORT_OBIS, analytics.EXPORT, day.export_kwh, pv),
        ]:
            kwh = values[meters][:, keep]
            if kwh.size == 0:
                continue
            per_row = kwh.shape[1]
            rows = _binary_copy(
                np.repeat(muids[meters], per_row),
                obis,
                register,
                np.tile(micros, kwh.shape[0]),
                kwh.ravel(),
                np.repeat(keys[meters], per_row),
                np.repeat(etags[meters], per_row),
            )
            with conn.cursor() as cur:
                cur.copy_expert(statement, io.BytesIO(rows))
            written += kwh.size
    return written


def build(url: str, tenant: Tenant, meters: int, days: int) -> None:
    """The tenant's readings, hourly and daily rows for local days FIRST_DAY .. + days - 1."""
    households = synthetic.households(tenant, meters)
    zone = tenant.zone
    start = datetime.combine(FIRST_DAY, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    last = FIRST_DAY + timedelta(days=days)
    end = datetime.combine(last, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    utc_days = [start.date() + timedelta(days=n) for n in range((end.date() - start.date()).days)]
    if end.time() != datetime.min.time():
        utc_days.append(end.date())
    migrate.migrate_tenant(url, tenant)
    with database.transaction(url) as conn:
        tenant_schema.ensure_month_partitions(conn, tenant.schema, utc_days)
    started = time.perf_counter()
    rows = 0
    for utc_day in utc_days:
        with database.transaction(url) as conn:
            rows += _copy_day(conn, tenant, households, utc_day, start, end)
    print(f"  setup: {rows:,} readings copied in {time.perf_counter() - started:.0f} s", flush=True)
    _vacuum_analyze(url, tenant)
    started = time.perf_counter()
    # the pipeline's own refresh, a UTC day at a time: its local days queued (the readings
    # were COPYed, not upserted; what a `recompute: true` run queues), then the queue taken
    for utc_day in utc_days:
        touched = analytics.local_days(utc_day, zone)
        with database.transaction(url) as conn:
            stale.mark_local_days(conn, tenant.schema, tenant.timezone, touched[0], touched[-1])
            analytics.refresh_hourly_energy(conn, tenant)
            analytics.refresh_daily_energy(conn, tenant)
    _vacuum_analyze(url, tenant)
    print(
        f"  setup: hourly and daily refreshed in {time.perf_counter() - started:.0f} s", flush=True
    )


def _vacuum_analyze(url: str, tenant: Tenant) -> None:
    conn = database.autocommit_connection(url)
    try:
        with conn.cursor() as cur:
            for table in ["meter_readings", "hourly_energy", "daily_energy"]:
                cur.execute(
                    sql.SQL("VACUUM ANALYZE {}.{}").format(
                        sql.Identifier(tenant.schema), sql.Identifier(table)
                    )
                )
    finally:
        conn.close()


def _schema_exists(url: str, tenant: Tenant) -> bool:
    with database.transaction(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (tenant.schema,))
        return cur.fetchone() is not None


def _drop_schema(url: str, tenant: Tenant) -> None:
    with database.transaction(url) as conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(tenant.schema))
        )


# --------------------------------------------------------------------------- timed steps


def yesterday(url: str, tenant: Tenant, last_day: date) -> None:
    """The insights as the run of the day before left them (windows one day earlier), so
    that the timed run changes every row, as a real day's run does."""
    started = time.perf_counter()
    with database.transaction(url) as conn:
        insights.refresh_insights(conn, tenant, last_day=last_day)
    print(f"  setup: insights up to {last_day} in {time.perf_counter() - started:.0f} s")


def _profile(conn: database.Connection, tenant: Tenant) -> str:
    result = analytics.refresh_weekday_hour_profile(conn, tenant)
    return f"{len(result.windows):,} meters, {result.rows_written:,} rows"


def _insights(conn: database.Connection, tenant: Tenant) -> str:
    result = insights.refresh_insights(conn, tenant)
    return f"{result.meters:,} meters, {result.rows:,} insights, {result.rows_changed:,} changed"


def _oracle_profile(conn: database.Connection, tenant: Tenant) -> str:
    result = oracle.refresh_weekday_hour_profile(conn, tenant)
    return f"{len(result.windows):,} meters, {result.rows_written:,} rows"


def _oracle_insights(conn: database.Connection, tenant: Tenant) -> str:
    found = oracle.refresh_insights(conn, tenant)
    return f"{len({i.muid for i in found}):,} meters, {len(found):,} insights"


STEPS: dict[str, Callable[[database.Connection, Tenant], str]] = {
    "weekday_hour_profile": _profile,
    "insights": _insights,
}
# the code before the rewrite (the tests' frozen oracle), for --oracle
ORACLE_STEPS: dict[str, Callable[[database.Connection, Tenant], str]] = {
    "weekday_hour_profile": _oracle_profile,
    "insights": _oracle_insights,
}


def _snapshot(url: str, tenant: Tenant, step: str) -> dict[tuple, tuple]:
    """The step's table by key: insights (muid, kind), the profile (muid, weekday, hour)."""
    table, key, columns = {
        "insights": ("insights", 2, "muid, kind, value, message, severity, rank"),
        "weekday_hour_profile": (
            "weekday_hour_profile",
            3,
            "muid, weekday, hour, avg_import_kwh, avg_export_kwh, days, window_end",
        ),
    }[step]
    with database.transaction(url) as conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL("SELECT " + columns + " FROM {}.{}").format(
                sql.Identifier(tenant.schema), sql.Identifier(table)
            )
        )
        return {tuple(map(str, row[:key])): row[key:] for row in cur.fetchall()}


def differences(new: dict[tuple, tuple], old: dict[tuple, tuple]) -> list[str]:
    """Keys only one side has, and rows whose texts differ or whose numbers differ by more
    than 1e-9 relative."""
    found = [f"only new: {k}" for k in new.keys() - old.keys()]
    found += [f"only oracle: {k}" for k in old.keys() - new.keys()]
    for key in new.keys() & old.keys():
        for a, b in zip(new[key], old[key], strict=True):
            same = (
                math.isclose(a, b, rel_tol=1e-9)
                if isinstance(a, float) and isinstance(b, float)
                else a == b
            )
            if not same:
                found.append(f"{key}: {a!r} != {b!r}")
    return found


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM). Not getrusage's ru_maxrss: a spawned
    process inherits its parent's peak across the exec."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def _run_step(url: str, tenant: Tenant, step: str, profile: bool, of_oracle: bool, queue) -> None:
    """In a fresh process: one step in one transaction; report seconds and memory."""
    baseline = _peak_rss_mb()
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    with database.transaction(url) as conn:
        if profiler:
            profiler.enable()
        outcome = (ORACLE_STEPS if of_oracle else STEPS)[step](conn, tenant)
        if profiler:
            profiler.disable()
    seconds = time.perf_counter() - started
    report = ""
    if profiler:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(TOP_FUNCTIONS)
        report = text.getvalue()
    queue.put((seconds, baseline, _peak_rss_mb(), outcome, report))


def timed(url: str, tenant: Tenant, step: str, profile: bool, of_oracle: bool = False) -> tuple:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_run_step, args=(url, tenant, step, profile, of_oracle, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def run_step(url: str, tenant: Tenant, step: str, profile: bool, of_oracle: bool = False) -> None:
    seconds, baseline, peak, outcome, report = timed(url, tenant, step, profile, of_oracle)
    name = f"{step} (oracle)" if of_oracle else step
    print(
        f"  {name:<30} {seconds:8.1f} s   peak RSS {peak:7.0f} MB "
        f"(after imports {baseline:.0f} MB)   {outcome}",
        flush=True,
    )
    if report:
        print(report)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.insights",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--meters", type=int, default=1_000, help="meters (default 1000)")
    parser.add_argument("--days", type=int, default=28, help="local days (default 28)")
    parser.add_argument("--database-url", help="default: EXNATON_DATABASE_URL, else embedded")
    parser.add_argument("--keep", action="store_true", help="keep the schema for the next run")
    parser.add_argument("--profile", action="store_true", help="cProfile each step")
    parser.add_argument(
        "--oracle",
        action="store_true",
        help="also time the code before the rewrite and compare its tables with the new ones",
    )
    parser.add_argument(
        "--steps", nargs="+", choices=list(STEPS), default=list(STEPS), help="steps to time"
    )
    args = parser.parse_args(argv)
    url = args.database_url or database.warehouse_url()
    tenant = bench_tenant(args.meters, args.days)
    print(f"{args.meters:,} meters x {args.days} local days from {FIRST_DAY}, {tenant.schema}")
    if not _schema_exists(url, tenant):
        build(url, tenant, args.meters, args.days)
    else:
        print("  setup: reusing the kept schema")
    if "insights" in args.steps:
        yesterday(url, tenant, FIRST_DAY + timedelta(days=args.days - 2))
    try:
        for step in args.steps:
            run_step(url, tenant, step, args.profile)
            if args.oracle:
                new = _snapshot(url, tenant, step)
                run_step(url, tenant, step, args.profile, of_oracle=True)
                found = differences(new, _snapshot(url, tenant, step))
                print(f"  {'':<22} {len(new):,} rows; differences from the oracle: {len(found)}")
                for line in found[:10]:
                    print(f"    {line}")
    finally:
        if not args.keep:
            _drop_schema(url, tenant)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Tick benchmark: `python -m benchmarks.tick --meters 1000 --days 28`.

What a real run costs, end to end, through Dagster: the job's own assets and checks executed
in-process (`dg.materialize`) against a fresh tenant schema on the warehouse server
(--database-url, else EXNATON_DATABASE_URL, else the embedded one) and a local source folder.

1. History: `days` UTC days up to the current quarter hour, written with the project's
   generator (lib.demo_data.synthetic: one object per meter and UTC day, newest record first,
   two in five households with PV), so that today's local day is still open as in production.
2. Backfill: `meter_data_job` for each UTC day, oldest first, each partition timed (the first
   two and last two are reported, and the ratio of the last full day to the second).
3. Per-day work: `insights_job` for the tenant, windows ending at its last settled day (every
   meter changed: what runs after a local day completes).
4. Tick: one batch object with the newest quarter hour of every meter
   (`synthetic.write_batch`, as the live producer delivers it); the partition's run, timed per
   step, and the ingest steps against a bare COPY of the same rows into a table with our
   columns and keys.
5. Idle tick: the same partition again, nothing new.

Steps 3-5 run each in a fresh process so that the peak memory reported is the run's own.
Then the tables' sizes. `--keep` leaves schema and source for a look afterwards.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import multiprocessing
import os
import re
import shutil
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import yaml
from psycopg2 import sql

from exnaton_pipeline.lib import settings
from exnaton_pipeline.lib.demo_data import synthetic
from exnaton_pipeline.lib.ingestion.responses import READING_COLUMNS, parse_response
from exnaton_pipeline.lib.ingestion.source import LocalSource
from exnaton_pipeline.lib.scheduling import last_settled_day
from exnaton_pipeline.lib.tenants import Tenant, load_registry
from exnaton_pipeline.lib.warehouse import database, migrate, writes

COPY_SCHEMA = "bench_tick_copy"
TICK_JOB, PER_DAY_JOB = "meter_data_job", "insights_job"


def bench_registry(meters: int, days: int, folder: Path) -> Tenant:
    """A registry of the repository's tenants plus `bench-tick-<meters>x<days>` (the demo
    tenant's zone and tariff, live), made the process's registry (EXNATON_TENANTS_FILE) before
    the code location is loaded, so that its partitions include the benchmark tenant."""
    registry = yaml.safe_load(Path(settings.tenants_file()).read_text())
    tenant_id = f"bench-tick-{meters}x{days}"
    registry["tenants"].append(
        {
            "id": tenant_id,
            "name": "Tick benchmark",
            "timezone": "Europe/Zurich",
            "tariff_plan": "swiss_dual",
            "source_prefix": tenant_id,
            "live": True,
        }
    )
    path = folder / "tenants.yaml"
    path.write_text(yaml.safe_dump(registry))
    os.environ["EXNATON_TENANTS_FILE"] = str(path)
    return load_registry(path).get(tenant_id)


@dataclasses.dataclass
class Run:
    seconds: float  # the whole Dagster run, as dg.materialize returns
    steps: dict[str, float]  # step key -> seconds from its start to its success
    peak_mb: float | None = None
    success: bool = True


def _peak_rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def _definitions(url: str, source_root: str):
    """The code location and its resources, pointed at the benchmark's warehouse and source."""
    import dagster as dg

    from exnaton_pipeline.definitions import defs
    from exnaton_pipeline.orchestration.resources import (
        S3ClientResource,
        SourceResource,
        WarehouseResource,
    )

    resources = {
        **(defs.resources or {}),
        "warehouse": WarehouseResource(database_url=url),
        "source": SourceResource(source_url=source_root, s3=S3ClientResource()),
    }
    return dg, defs, resources


def run_job(
    job: str, partition, tenant: Tenant, url: str, source_root: str, instance_dir: str, config
) -> Run:
    """Materialize `job`'s assets for one partition; seconds of the run and of each step."""
    dg, defs, resources = _definitions(url, source_root)
    from exnaton_pipeline.orchestration.job_assets import job_assets

    assets = job_assets(defs, job)
    with dg.DagsterInstance.from_config(instance_dir) as instance:
        started = time.perf_counter()
        result = dg.materialize(
            assets,
            partition_key=partition,
            resources=resources,
            instance=instance,
            run_config=config,
            raise_on_error=False,
        )
        seconds = time.perf_counter() - started
        steps: dict[str, float] = {}
        begun: dict[str, float] = {}
        for entry in instance.all_logs(result.run_id):
            event = entry.dagster_event
            if event is None or event.step_key is None:
                continue
            if event.event_type_value == "STEP_START":
                begun[event.step_key] = entry.timestamp
            elif event.event_type_value in ("STEP_SUCCESS", "STEP_SKIPPED"):
                steps[event.step_key] = entry.timestamp - begun.get(event.step_key, entry.timestamp)
    return Run(seconds, steps, success=result.success)


def _child(args: tuple, queue) -> None:
    run = run_job(*args)
    run.peak_mb = _peak_rss_mb()
    queue.put(run)


def run_in_fresh_process(*args) -> Run:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(args, queue))
    process.start()
    run = queue.get()
    process.join()
    return run


def bare_copy_seconds(url: str, tenant: Tenant, bodies: list[bytes]) -> tuple[int, float]:
    """The objects' rows COPYed into a table with our columns, key and index: (rows, seconds).
    Parsing is not counted: the rows are ready as CSV, the floor any ingest compares with."""
    rows = [row for body in bodies for row in parse_response(body).rows]
    frame = pd.DataFrame.from_records(rows, columns=READING_COLUMNS).assign(
        register="active_import", source_key="copy.json", source_etag="1"
    )
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True).dt.tz_convert(None)
    buffer = io.StringIO()
    frame[writes.READING_COPY_COLUMNS].to_csv(buffer, index=False, header=False)
    with database.transaction(url) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(COPY_SCHEMA)))
        cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(COPY_SCHEMA)))
        cur.execute(
            sql.SQL("CREATE TABLE {}.meter_readings (LIKE {}.meter_readings INCLUDING ALL)").format(
                sql.Identifier(COPY_SCHEMA), sql.Identifier(tenant.schema)
            )
        )
    buffer.seek(0)
    started = time.perf_counter()
    with database.transaction(url) as conn, conn.cursor() as cur:
        cur.execute("SET LOCAL TimeZone = 'UTC'")
        cur.copy_expert(
            sql.SQL("COPY {}.meter_readings ({}) FROM STDIN WITH (FORMAT csv)").format(
                sql.Identifier(COPY_SCHEMA),
                sql.SQL(", ").join(map(sql.Identifier, writes.READING_COPY_COLUMNS)),
            ),
            buffer,
        )
    seconds = time.perf_counter() - started
    with database.transaction(url) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(COPY_SCHEMA)))
    return len(frame), seconds


def table_sizes(url: str, tenant: Tenant) -> list[tuple[str, int, int]]:
    with database.transaction(url) as conn, conn.cursor() as cur:
        cur.execute(
            """SELECT c.relname,
                coalesce((SELECT sum(pg_total_relation_size(i.inhrelid)) FROM pg_inherits i
                          WHERE i.inhparent = c.oid), 0) + pg_total_relation_size(c.oid),
                coalesce((SELECT sum(s.n_live_tup) FROM pg_stat_user_tables s
                          JOIN pg_inherits i ON i.inhrelid = s.relid
                          WHERE i.inhparent = c.oid), 0)
                + coalesce((SELECT n_live_tup FROM pg_stat_user_tables WHERE relid = c.oid), 0)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition
            ORDER BY 2 DESC""",
            (tenant.schema,),
        )
        return cur.fetchall()


def _versus_copy(run: Run, rows: int, copy_seconds: float, what: str) -> str:
    steps = run.steps.get("raw_meter_readings", 0) + run.steps.get("meter_readings", 0)
    return (
        f"  ingest steps of {what}: {steps:.2f} s for {rows:,} readings; bare COPY "
        f"{copy_seconds:.2f} s ({steps / copy_seconds:.1f}x)"
    )


def _drop(url: str, tenant: Tenant) -> None:
    with database.transaction(url) as conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(tenant.schema))
        )


def _line(name: str, run: Run) -> str:
    peak = f"   peak RSS {run.peak_mb:6.0f} MB" if run.peak_mb else ""
    ok = "" if run.success else "   FAILED"
    return f"  {name:<34} {run.seconds:8.2f} s{peak}{ok}"


def _steps(run: Run) -> str:
    return "\n".join(f"      {step:<32} {seconds:8.2f} s" for step, seconds in run.steps.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.tick",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--meters", type=int, default=1_000, help="meters (default 1000)")
    parser.add_argument("--days", type=int, default=28, help="UTC days of history (default 28)")
    parser.add_argument("--database-url", help="default: EXNATON_DATABASE_URL, else embedded")
    parser.add_argument("--keep", action="store_true", help="keep schema and source afterwards")
    args = parser.parse_args(argv)
    url = args.database_url or database.warehouse_url()
    folder = Path(tempfile.mkdtemp(prefix="exnaton-bench-tick-"))
    tenant = bench_registry(args.meters, args.days, folder)
    from exnaton_pipeline.orchestration.partitions import partition_key

    now = datetime.now(UTC)
    tick = synthetic.floor_interval(now) - timedelta(minutes=15)  # the newest complete interval
    start = datetime.combine(tick.date() - timedelta(days=args.days - 1), datetime.min.time(), UTC)
    source, instance_dir = LocalSource(folder / "source"), str(folder / "dagster")
    Path(instance_dir).mkdir()
    meters = synthetic.households(tenant, args.meters)
    print(
        f"{args.meters:,} meters x {args.days} UTC days up to {tick:%Y-%m-%d %H:%M} UTC, "
        f"{tenant.schema}, source {folder}",
        flush=True,
    )
    _drop(url, tenant)
    migrate.migrate_tenant(url, tenant)
    try:
        began = time.perf_counter()
        synthetic.write_history(source, tenant, meters, start, tick)
        print(f"  history written: {time.perf_counter() - began:.0f} s (setup, not timed)")
        days = [start.date() + timedelta(days=n) for n in range(args.days)]
        backfill: list[tuple[date, Run]] = []
        began = time.perf_counter()
        for day in days:
            run = run_job(
                TICK_JOB,
                partition_key(tenant.id, day),
                tenant,
                url,
                str(source.root),
                instance_dir,
                None,
            )
            backfill.append((day, run))
            print(_line(f"backfill {day}", run), flush=True)
        total = time.perf_counter() - began
        full = [run.seconds for day, run in backfill if day < tick.date()]
        print(f"  backfill of {len(days)} partitions: {total:.1f} s", end="")
        if len(full) >= 3:
            print(f"; last full day / second day: {full[-1] / full[1]:.2f}", end="")
        print(flush=True)

        last_day = last_settled_day(now, tenant)
        per_day = run_in_fresh_process(
            PER_DAY_JOB,
            tenant.id,
            tenant,
            url,
            str(source.root),
            instance_dir,
            {"ops": {"per_day_analytics": {"config": {"last_day": last_day.isoformat()}}}},
        )
        print(_line(f"per-day work (up to {last_day})", per_day), flush=True)

        batch = synthetic.write_batch(source, tenant, meters, tick)
        key = partition_key(tenant.id, tick.date())
        tick_run = run_in_fresh_process(
            TICK_JOB, key, tenant, url, str(source.root), instance_dir, None
        )
        print(_line(f"tick: one batch, {tick:%H:%M} UTC", tick_run))
        print(_steps(tick_run))
        rows, copy_seconds = bare_copy_seconds(url, tenant, [source.read(batch)])
        print(_versus_copy(tick_run, rows, copy_seconds, "the batch"))
        # and a backfilled day of per-meter-day objects, against a COPY of the same rows
        day, run = backfill[-2]
        keys = [o.key for o in source.list(f"{tenant.source_prefix}/{day.isoformat()}")]
        rows, copy_seconds = bare_copy_seconds(url, tenant, [source.read(k) for k in keys])
        print(_versus_copy(run, rows, copy_seconds, f"backfill {day} ({len(keys):,} objects)"))
        idle = run_in_fresh_process(
            TICK_JOB, key, tenant, url, str(source.root), instance_dir, None
        )
        print(_line("idle tick: nothing new", idle))
        print(_steps(idle))
        print("  tables:")
        for name, size, live_rows in table_sizes(url, tenant):
            print(f"      {name:<24} {size / 2**20:9.1f} MB {live_rows:>12,} rows")
    finally:
        if not args.keep:
            _drop(url, tenant)
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

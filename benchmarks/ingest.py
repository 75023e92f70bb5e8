"""Ingest benchmark: our store path against a bare COPY of the same rows, in one run.

    python -m benchmarks.ingest [--meters 180] [--days 29] [--database-url URL]

Generates `meters x days` of 15-minute readings (one API object per meter and day) in the
shape `ingest.store` receives from `ingest.collect`, then measures, one tenant-day at a time
as the assets do:

  (a) bare COPY of the rows into a table with the same columns and primary key;
  (b) `ingest.store` of the same rows, all new (validate, COPY, manifest);
  (c) `ingest.store` re-delivering every row unchanged (all conflict, nothing written);
  (d) `ingest.store` of corrections (every value changed: all rows updated);
  (e) for scale: `readings.parse_response` of the generated API responses.

The database is --database-url, else EXNATON_DATABASE_URL, else the embedded server. The
benchmark works in the schemas `tenant_bench` and `bench_copy`, dropped before and after.
"""

from __future__ import annotations

import argparse
import io
import json
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
from psycopg2 import sql

from exnaton_pipeline.lib import settings
from exnaton_pipeline.lib.ingestion import ingest
from exnaton_pipeline.lib.ingestion.responses import REJECT_COLUMNS, parse_response
from exnaton_pipeline.lib.ingestion.source import SourceObject
from exnaton_pipeline.lib.tenants import Tenant, load_registry
from exnaton_pipeline.lib.warehouse import database, migrate, tenant_schema, writes

FIRST_DAY = date(2023, 1, 1)
IMPORT = "0100011D00FF"
SLOTS = 96
COPY_SCHEMA = "bench_copy"


@dataclass
class Phase:
    name: str
    rows: int
    seconds: float
    writes: bool = True  # compared with bare COPY

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def bench_tenant() -> Tenant:
    """The first registered tenant's settings under the id `bench`."""
    template = load_registry(settings.tenants_file()).tenants[0]
    return replace(template, id="bench", source_prefix="bench", meters=())


def generate(meters: int, days: int, seed: int = 7) -> list[ingest.RawBatch]:
    """One batch per UTC day: every meter's 96 import readings, one object per meter."""
    rng = np.random.default_rng(seed)
    muids = [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(meters)]
    batches = []
    for d in range(days):
        day = FIRST_DAY + timedelta(days=d)
        start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
        stamps = [
            (start + timedelta(minutes=15 * s)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            for s in range(SLOTS)
        ]
        keys = [f"bench/{day}/{m}.json" for m in muids]
        etags = [f"{d:04x}{n:08x}" for n in range(meters)]
        frame = pd.DataFrame(
            {
                "muid": np.repeat(muids, SLOTS),
                "obis": IMPORT,
                "ts": np.tile(stamps, meters),
                "kwh": rng.gamma(0.6, 0.06, meters * SLOTS).round(4),
                "quality": "measured",
                "record_index": np.tile(np.arange(SLOTS), meters),
                "source_key": np.repeat(keys, SLOTS),
                "source_etag": np.repeat(etags, SLOTS),
                "source_order": np.repeat(np.arange(meters), SLOTS),
            }
        )
        objects = [SourceObject(k, e, 9_000, start) for k, e in zip(keys, etags, strict=True)]
        rejects = pd.DataFrame(columns=[*REJECT_COLUMNS, "source_key", "source_etag"])
        batches.append(ingest.RawBatch("bench", day, objects, frame, rejects, meters))
    return batches


def corrected(batch: ingest.RawBatch) -> ingest.RawBatch:
    """The same objects re-delivered with every value changed (new versions)."""
    readings = batch.readings.assign(
        kwh=batch.readings["kwh"] + 0.001, source_etag=batch.readings["source_etag"] + "-v2"
    )
    objects = [replace(o, etag=o.etag + "-v2") for o in batch.objects]
    return replace(batch, readings=readings, objects=objects)


def drop_schemas(url: str, schemas: list[str]) -> None:
    with database.transaction(url) as conn, conn.cursor() as cur:
        for schema in schemas:
            cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def prepare_copy_table(url: str, tenant: Tenant) -> None:
    """Our readings table's columns, primary key and index, as a plain table (month partitions
    exist up front in both setups, so neither pays for creating them)."""
    migrate.migrate_tenant(url, tenant)
    with database.transaction(url) as conn, conn.cursor() as cur:
        tenant_schema.ensure_month_partitions(conn, tenant.schema, [FIRST_DAY])
        cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(COPY_SCHEMA)))
        cur.execute(
            sql.SQL("CREATE TABLE {}.meter_readings (LIKE {}.meter_readings INCLUDING ALL)").format(
                sql.Identifier(COPY_SCHEMA), sql.Identifier(tenant.schema)
            )
        )


def bare_copy(url: str, batch: ingest.RawBatch) -> None:
    columns = writes.READING_COPY_COLUMNS
    frame = batch.readings.assign(register="active_import")[columns]
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False)
    buffer.seek(0)
    with database.transaction(url) as conn, conn.cursor() as cur:
        cur.copy_expert(
            sql.SQL("COPY {}.meter_readings ({}) FROM STDIN WITH (FORMAT csv)").format(
                sql.Identifier(COPY_SCHEMA), sql.SQL(", ").join(map(sql.Identifier, columns))
            ),
            buffer,
        )


def totals(results: list[ingest.IngestResult]) -> tuple[int, int, int, int]:
    return (
        sum(r.inserted for r in results),
        sum(r.updated for r in results),
        sum(r.unchanged for r in results),
        sum(r.rejected for r in results),
    )


def api_bodies(batch: ingest.RawBatch) -> list[bytes]:
    records = batch.readings.rename(columns={"kwh": IMPORT})
    bodies = []
    for _, rows in records.groupby("source_key", sort=False):
        data = [
            {
                "measurement": "energy",
                "timestamp": ts,
                "tags": {"muid": muid, "quality": quality},
                IMPORT: value,
            }
            for muid, ts, value, quality in zip(
                rows["muid"], rows["ts"], rows[IMPORT], rows["quality"], strict=True
            )
        ]
        bodies.append(json.dumps({"data": data[::-1]}).encode())  # newest first, as the API
    return bodies


def run(meters: int, days: int, url: str) -> list[Phase]:
    """Each day goes through (a) to (d) in turn, so load from other processes on the machine
    falls on all phases alike; each phase's time is summed over the days."""
    tenant = bench_tenant()
    batches = generate(meters, days)
    n = sum(len(b.readings) for b in batches)
    names = [
        "(a) bare COPY",
        "(b) store, new rows",
        "(c) store, re-delivered unchanged",
        "(d) store, corrections",
    ]
    seconds = dict.fromkeys(names, 0.0)
    results: dict[str, list[ingest.IngestResult]] = {name: [] for name in names[1:]}
    fixes = [corrected(b) for b in batches]
    drop_schemas(url, [tenant.schema, COPY_SCHEMA])
    prepare_copy_table(url, tenant)
    try:
        for batch, fix in zip(batches, fixes, strict=True):
            steps = [
                (names[0], lambda b=batch: bare_copy(url, b)),
                (names[1], lambda b=batch: ingest.store(url, tenant, b, run_id="bench")),
                (names[2], lambda b=batch: ingest.store(url, tenant, b, run_id="bench")),
                (names[3], lambda b=fix: ingest.store(url, tenant, b, run_id="bench")),
            ]
            for name, step in steps:
                started = time.perf_counter()
                outcome = step()
                seconds[name] += time.perf_counter() - started
                if outcome is not None:
                    results[name].append(outcome)
    finally:
        drop_schemas(url, [tenant.schema, COPY_SCHEMA])
    # the store path did what it claims: every row new, then unchanged, then updated
    for name, expected in zip(names[1:], [(n, 0, 0, 0), (0, 0, n, 0), (0, n, 0, 0)], strict=True):
        if totals(results[name]) != expected:
            raise SystemExit(
                f"{name}: (inserted, updated, unchanged, rejected) = {totals(results[name])}, "
                f"expected {expected}"
            )
    phases = [Phase(name, n, seconds[name]) for name in names]

    bodies = [body for b in batches for body in api_bodies(b)]
    started = time.perf_counter()
    parsed = sum(len(parse_response(body).readings) for body in bodies)
    phases.append(
        Phase("(e) parse API responses", parsed, time.perf_counter() - started, writes=False)
    )
    return phases


def report(phases: list[Phase], meters: int, days: int, url: str) -> str:
    with database.transaction(url) as conn, conn.cursor() as cur:
        cur.execute("SHOW server_version")
        (version,) = cur.fetchone()
    copy = phases[0]
    lines = [
        f"{meters} meters x {days} days = {copy.rows:,} readings, one transaction per "
        f"tenant-day ({meters:,} objects, {meters * SLOTS:,} rows each); PostgreSQL {version}",
        f"{'phase':36} {'rows':>9} {'seconds':>8} {'rows/s':>9} {'x COPY':>7}",
    ]
    for phase in phases:
        ratio = f"{phase.seconds / copy.seconds:7.2f}" if phase.writes else ""
        lines.append(
            f"{phase.name:36} {phase.rows:9,} {phase.seconds:8.2f} {phase.rate:9,.0f} {ratio:>7}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ingest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--meters", type=int, default=180, help="meters (default 180)")
    parser.add_argument("--days", type=int, default=29, help="UTC days (default 29)")
    parser.add_argument("--database-url", help="default: EXNATON_DATABASE_URL, else embedded")
    args = parser.parse_args(argv)
    url = args.database_url or database.warehouse_url()
    phases = run(args.meters, args.days, url)
    print(report(phases, args.meters, args.days, url))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

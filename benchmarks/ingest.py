"""Ingest benchmark: reading, parsing, validating and storing API objects against a bare COPY.

    python -m benchmarks.ingest [--meters 180] [--days 29] [--database-url URL]

Writes `meters x days` of 15-minute readings as API responses into a local source folder (one
object per meter and UTC day, newest record first, as the upstream API delivers them), then
measures, one tenant-day at a time as the assets do:

  (a) bare COPY of the same rows (already in memory as CSV) into a table with our columns and
      primary key;
  (b) `list_new_objects` + `ingest_objects` of the new objects: list, diff against the
      manifest, read, parse, validate, COPY, rejections, manifest;
  (c) the same objects read again (`reprocess`): every row conflicts, nothing is written;
  (d) corrections: every object re-delivered with every value changed, all rows updated.

The database is --database-url, else EXNATON_DATABASE_URL, else the embedded server. The
benchmark works in the schemas `tenant_bench` and `bench_copy`, dropped before and after.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from psycopg2 import sql

from exnaton_pipeline.lib import settings
from exnaton_pipeline.lib.ingestion import ingest
from exnaton_pipeline.lib.ingestion.source import LocalSource
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

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def bench_tenant() -> Tenant:
    """The first registered tenant's settings under the id `bench`."""
    template = load_registry(settings.tenants_file()).tenants[0]
    return replace(template, id="bench", source_prefix="bench", meters=())


@dataclass
class Day:
    day: date
    rows: pd.DataFrame  # what a bare COPY writes


def generate(source: LocalSource, meters: int, days: int, seed: int = 7) -> list[Day]:
    """One object per meter and UTC day holding its 96 import readings; the same rows as a
    frame for the bare COPY."""
    rng = np.random.default_rng(seed)
    muids = [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(meters)]
    generated = []
    for d in range(days):
        day = FIRST_DAY + timedelta(days=d)
        start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
        stamps = [
            (start + timedelta(minutes=15 * s)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            for s in range(SLOTS)
        ]
        values = rng.gamma(0.6, 0.06, (meters, SLOTS)).round(4)
        write_day(source, day, muids, stamps, values)
        generated.append(
            Day(
                day,
                pd.DataFrame(
                    {
                        "muid": np.repeat(muids, SLOTS),
                        "obis": IMPORT,
                        "register": "active_import",
                        "ts": np.tile(stamps, meters),
                        "kwh": values.ravel(),
                        "quality": "measured",
                        "source_key": np.repeat([f"bench/{day}/{m}.json" for m in muids], SLOTS),
                        "source_etag": "bench",
                    }
                ),
            )
        )
    return generated


def write_day(source: LocalSource, day: date, muids, stamps, values) -> None:
    for muid, row in zip(muids, values, strict=True):
        data = [
            {
                "measurement": "energy",
                "timestamp": ts,
                "tags": {"muid": muid, "quality": "measured"},
                IMPORT: float(value),
            }
            for ts, value in zip(stamps, row, strict=True)
        ]
        body = json.dumps({"data": data[::-1]}, separators=(",", ":")).encode()
        source.write(f"bench/{day}/{muid}.json", body)


def correct(source: LocalSource, day: date) -> None:
    """Every object of `day` re-delivered with every value 0.001 kWh higher (new versions)."""
    for obj in source.list(f"bench/{day}"):
        payload = json.loads(source.read(obj.key))
        for item in payload["data"]:
            item[IMPORT] = round(item[IMPORT] + 0.001, 4)
        source.write(obj.key, json.dumps(payload, separators=(",", ":")).encode())


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


def bare_copy(url: str, rows: pd.DataFrame) -> None:
    columns = writes.READING_COPY_COLUMNS
    buffer = io.StringIO()
    rows[columns].to_csv(buffer, index=False, header=False)
    buffer.seek(0)
    with database.transaction(url) as conn, conn.cursor() as cur:
        cur.copy_expert(
            sql.SQL("COPY {}.meter_readings ({}) FROM STDIN WITH (FORMAT csv)").format(
                sql.Identifier(COPY_SCHEMA), sql.SQL(", ").join(map(sql.Identifier, columns))
            ),
            buffer,
        )


def ingest_day(source, url, tenant, day, reprocess=False) -> ingest.IngestResult:
    new = ingest.list_new_objects(source, url, tenant, day, reprocess)
    return ingest.ingest_objects(source, url, tenant, new, run_id="bench")


def totals(results: list[ingest.IngestResult]) -> tuple[int, int, int, int]:
    return (
        sum(r.inserted for r in results),
        sum(r.updated for r in results),
        sum(r.unchanged for r in results),
        sum(r.rejected for r in results),
    )


def run(meters: int, days: int, url: str) -> list[Phase]:
    """Each day goes through (a) to (d) in turn, so load from other processes on the machine
    falls on all phases alike; each phase's time is summed over the days."""
    tenant = bench_tenant()
    names = [
        "(a) bare COPY",
        "(b) ingest, new objects",
        "(c) ingest, read again unchanged",
        "(d) ingest, corrections",
    ]
    seconds = dict.fromkeys(names, 0.0)
    results: dict[str, list[ingest.IngestResult]] = {name: [] for name in names[1:]}
    drop_schemas(url, [tenant.schema, COPY_SCHEMA])
    prepare_copy_table(url, tenant)
    with tempfile.TemporaryDirectory(prefix="exnaton-bench-") as folder:
        source = LocalSource(Path(folder))
        generated = generate(source, meters, days)
        n = sum(len(g.rows) for g in generated)
        try:
            for g in generated:
                steps = [
                    (names[0], lambda g=g: bare_copy(url, g.rows)),
                    (names[1], lambda g=g: ingest_day(source, url, tenant, g.day)),
                    (names[2], lambda g=g: ingest_day(source, url, tenant, g.day, True)),
                    (names[3], lambda g=g: ingest_day(source, url, tenant, g.day)),
                ]
                for name, step in steps:
                    if name == names[3]:
                        correct(source, g.day)  # writing the corrections is not timed
                    started = time.perf_counter()
                    outcome = step()
                    seconds[name] += time.perf_counter() - started
                    if outcome is not None:
                        results[name].append(outcome)
        finally:
            drop_schemas(url, [tenant.schema, COPY_SCHEMA])
    # the ingest path did what it claims: every row new, then unchanged, then updated
    for name, expected in zip(names[1:], [(n, 0, 0, 0), (0, 0, n, 0), (0, n, 0, 0)], strict=True):
        if totals(results[name]) != expected:
            raise SystemExit(
                f"{name}: (inserted, updated, unchanged, rejected) = {totals(results[name])}, "
                f"expected {expected}"
            )
    return [Phase(name, n, seconds[name]) for name in names]


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
        ratio = f"{phase.seconds / copy.seconds:7.2f}"
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

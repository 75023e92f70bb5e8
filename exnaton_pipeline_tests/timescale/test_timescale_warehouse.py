"""The warehouse code, unchanged, on a real TimescaleDB (PGlite + TimescaleDB 2.23, WASM).

`warehouse_url` here is the TimescaleDB of timescale/conftest.py with every tenant schema
dropped. Expected figures come from the real sample's provenance (5376 readings, import
97.6082 kWh, export 36.19725 kWh) or are read from the source JSON itself.
"""

from __future__ import annotations

import dataclasses
import json
import socket
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest

from exnaton_pipeline.lib.demo_data.sample import sample_files, write_sample
from exnaton_pipeline.lib.ingestion import ingest
from exnaton_pipeline.lib.warehouse import database, migrate, tenant_schema
from exnaton_pipeline_tests.conftest import day_range
from exnaton_pipeline_tests.drift import differences
from exnaton_pipeline_tests.timescale.conftest import timescale_server

# install (120 s) + start (60 s) at most, then seconds: a wedged server fails, never hangs
pytestmark = pytest.mark.timeout(240)

IMPORT, EXPORT = "0100011D00FF", "0100021D00FF"
IMPORT_MUID = "95ce3367-cbce-4a4d-bbe3-da082831d7bd"
FEBRUARY = day_range(date(2023, 2, 1), date(2023, 2, 28))


def rows(url: str, query: str, params: tuple = ()) -> list[tuple]:
    conn = database.autocommit_connection(
        url
    )  # autocommit: an open transaction would block every other connection
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall()
    finally:
        conn.close()


def ingest_days(url, source, tenant, days, reprocess=False) -> list[ingest.IngestResult]:
    migrate.migrate_tenant(url, tenant)  # what each run's tenant_schema asset does first
    return [
        ingest.ingest_objects(
            source, url, tenant, ingest.list_new_objects(source, url, tenant, day, reprocess)
        )
        for day in days
    ]


def correct_noon(source, delta: float) -> tuple[float, float]:
    """Re-deliver 2023-02-01's import object with `delta` kWh added at 12:00 UTC.

    Returns the delivered day total and 12:00 value from before the change (read from the JSON).
    """
    key = f"demo/2023-02-01/{IMPORT_MUID}.json"
    payload = json.loads(source.read(key))
    noon = next(r for r in payload["data"] if r["timestamp"] == "2023-02-01T12:00:00.000Z")
    original = (sum(r[IMPORT] for r in payload["data"]), noon[IMPORT])
    noon[IMPORT] += delta
    source.write(key, json.dumps(payload).encode())
    return original


def test_tenant_readings_table_is_a_hypertable_with_weekly_chunks(warehouse_url):
    for _ in range(2):  # the second run finds the table and keeps it
        assert migrate.migrate_tenant(warehouse_url, "tenant_demo").storage == "timescaledb"
    assert rows(
        warehouse_url,
        "SELECT hypertable_name, num_dimensions FROM timescaledb_information.hypertables "
        "WHERE hypertable_schema = 'tenant_demo'",
    ) == [("meter_readings", 1)]
    assert rows(
        warehouse_url,
        "SELECT column_name, time_interval FROM timescaledb_information.dimensions "
        "WHERE hypertable_schema = 'tenant_demo'",
    ) == [("ts", timedelta(days=7))]
    # the key and TimescaleDB's own (ts DESC) index; no second index on ts
    assert rows(
        warehouse_url,
        "SELECT indexdef FROM pg_indexes "
        "WHERE schemaname = 'tenant_demo' AND tablename = 'meter_readings' ORDER BY indexname",
    ) == [
        (
            "CREATE UNIQUE INDEX meter_readings_pkey ON tenant_demo.meter_readings "
            "USING btree (muid, obis, ts)",
        ),
        ("CREATE INDEX meter_readings_ts_idx ON tenant_demo.meter_readings USING btree (ts DESC)",),
    ]


def test_a_migrated_tenant_matches_the_declaration_on_timescaledb(warehouse_url):
    migrate.migrate_tenant(warehouse_url, "tenant_demo")
    assert differences(warehouse_url, "tenant_demo") == []


def test_a_first_release_hypertable_is_adopted(warehouse_url):
    """Revision 0001 is the first release's DDL: without its version table, that is the
    schema the first release left. Adopting it builds a scratch hypertable to compare with,
    and rolls it back."""
    migrate.migrate_tenant(warehouse_url, "tenant_demo", target="0001")
    rows(warehouse_url, "DROP TABLE tenant_demo.alembic_version; SELECT 1")

    migrated = migrate.migrate_tenant(warehouse_url, "tenant_demo")

    assert (migrated.from_revision, migrated.to_revision, migrated.storage) == (
        None,
        migrate.head_revision(),
        "timescaledb",
    )
    assert differences(warehouse_url, "tenant_demo") == []
    assert rows(
        warehouse_url,
        "SELECT hypertable_schema, hypertable_name FROM timescaledb_information.hypertables",
    ) == [("tenant_demo", "meter_readings")]


def test_sample_month_lands_once_in_weekly_chunks(warehouse_url, local_source, registry):
    demo = registry.get("demo")
    write_sample(local_source, demo)

    results = ingest_days(warehouse_url, local_source, demo, FEBRUARY)

    assert {r.storage for r in results} == {"timescaledb"}
    assert sum(r.inserted for r in results) == 5376
    assert sum(r.rejected for r in results) == 0
    by_obis = rows(
        warehouse_url,
        "SELECT obis, register, count(*), round(sum(kwh)::numeric, 5), max(revision) "
        "FROM tenant_demo.meter_readings GROUP BY obis, register ORDER BY obis",
    )
    assert [(o, reg, n, float(s), rev) for o, reg, n, s, rev in by_obis] == [
        (IMPORT, "active_import", 2688, 97.6082, 0),
        (EXPORT, "active_export", 2688, 36.19725, 0),
    ]
    # 2023-02-01 00:00 .. 02-28 23:45 UTC touches five 7-day chunks, however they are aligned
    assert rows(
        warehouse_url,
        "SELECT count(*) FROM timescaledb_information.chunks "
        "WHERE hypertable_schema = 'tenant_demo'",
    ) == [(5,)]
    assert rows(warehouse_url, "SELECT count(*) FROM tenant_demo.ingested_objects") == [(56,)]

    # the manifest knows every object: a second run reads nothing
    again = ingest_days(warehouse_url, local_source, demo, FEBRUARY)
    assert sum(r.objects for r in again) == 0
    # forced re-processing of the same objects: every row conflicts and stays untouched
    redo = ingest_days(warehouse_url, local_source, demo, FEBRUARY[:3], reprocess=True)
    assert [(r.inserted, r.updated, r.unchanged) for r in redo] == [(0, 0, 192)] * 3
    assert rows(
        warehouse_url, "SELECT count(*), max(revision) FROM tenant_demo.meter_readings"
    ) == [(5376, 0)]


def test_concurrent_writers_take_turns(warehouse_url, local_source, registry):
    """Four connections store days at once, as parallel Dagster runs would."""
    demo = registry.get("demo")
    days = FEBRUARY[:8]
    write_sample(local_source, demo)
    expected = {}
    for path in sample_files():
        for record in json.loads(path.read_bytes())["data"]:
            for obis in {IMPORT, EXPORT} & record.keys():
                if record["timestamp"] < "2023-02-09":
                    expected[obis] = expected.get(obis, 0.0) + record[obis]

    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(lambda day: ingest_days(warehouse_url, local_source, demo, [day]), days)
        )

    assert [r.inserted for [r] in results] == [192] * 8
    assert dict(
        rows(warehouse_url, "SELECT obis, sum(kwh) FROM tenant_demo.meter_readings GROUP BY obis")
    ) == {obis: pytest.approx(total) for obis, total in expected.items()}


def test_redelivered_correction_updates_the_row(warehouse_url, local_source, registry):
    demo = registry.get("demo")
    day = date(2023, 2, 1)
    write_sample(local_source, demo)
    ingest_days(warehouse_url, local_source, demo, [day])

    original_day, original_noon = correct_noon(local_source, 1.0)

    [result] = ingest_days(warehouse_url, local_source, demo, [day])

    assert (result.objects, result.inserted, result.updated, result.unchanged) == (1, 0, 1, 95)
    assert rows(
        warehouse_url,
        "SELECT kwh, revision FROM tenant_demo.meter_readings "
        "WHERE obis = %s AND ts = '2023-02-01T12:00:00Z'",
        (IMPORT,),
    ) == [(pytest.approx(original_noon + 1.0), 1)]
    [(total, revised)] = rows(
        warehouse_url,
        "SELECT sum(kwh), count(*) FILTER (WHERE revision > 0) FROM tenant_demo.meter_readings "
        "WHERE obis = %s",
        (IMPORT,),
    )
    assert (total, revised) == (pytest.approx(original_day + 1.0), 1)


def test_rejections_are_stored_and_replaced_not_duplicated(warehouse_url, local_source, registry):
    demo = registry.get("demo")
    day = date(2023, 2, 2)
    key = "demo/2023-02-02/batch-0001.json"

    def record(timestamp, **values):
        tags = {"muid": IMPORT_MUID, "quality": "measured"}
        return {"measurement": "energy", "timestamp": timestamp, "tags": tags, **values}

    body = {
        "data": [
            record("2023-02-02T00:00:00.000Z", **{IMPORT: 0.25}),
            record("2023-02-02T00:15:00.000Z", **{IMPORT: -0.5}),
            record("2023-02-02T00:20:00.000Z", **{IMPORT: 0.1}),
            record("2023-02-02T00:30:00.000Z", **{"0100631D00FF": 0.1}),
        ]
    }
    local_source.write(key, json.dumps(body).encode())

    [first] = ingest_days(warehouse_url, local_source, demo, [day])
    [second] = ingest_days(warehouse_url, local_source, demo, [day], reprocess=True)

    assert (first.written, first.rejected) == (1, 3)
    assert first.rules == {"non_negative_kwh": 1, "on_15_minute_grid": 1, "unknown_obis": 1}
    assert second.rejected == 3
    assert rows(
        warehouse_url,
        "SELECT rule, record_index, source_key FROM tenant_demo.rejected_readings ORDER BY rule",
    ) == [
        ("non_negative_kwh", 1, key),
        ("on_15_minute_grid", 2, key),
        ("unknown_obis", 3, key),
    ]
    assert rows(warehouse_url, "SELECT ts, kwh FROM tenant_demo.meter_readings") == [
        (datetime(2023, 2, 2, tzinfo=UTC), 0.25)
    ]


def test_corrections_reach_compressed_chunks(warehouse_url, local_source, registry):
    """The production note's compression recipe (docs/timescale.md) keeps upserts working."""
    demo = registry.get("demo")
    days = day_range(date(2023, 2, 1), date(2023, 2, 3))
    write_sample(local_source, demo)
    ingest_days(warehouse_url, local_source, demo, days)
    conn = database.autocommit_connection(warehouse_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "ALTER TABLE tenant_demo.meter_readings SET (timescaledb.compress, "
                "timescaledb.compress_segmentby = 'muid, obis')"
            )
            cur.execute("SELECT compress_chunk(c) FROM show_chunks('tenant_demo.meter_readings') c")
    finally:
        conn.close()
    assert rows(
        warehouse_url,
        "SELECT bool_and(is_compressed) FROM timescaledb_information.chunks "
        "WHERE hypertable_schema = 'tenant_demo'",
    ) == [(True,)]
    _, original_noon = correct_noon(local_source, 1.0)

    [result] = ingest_days(warehouse_url, local_source, demo, days[:1])

    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 95)
    assert rows(
        warehouse_url,
        "SELECT count(*), count(*) FILTER (WHERE revision = 1 AND obis = %s "
        "AND ts = '2023-02-01T12:00:00Z' AND kwh = %s) FROM tenant_demo.meter_readings",
        (IMPORT, original_noon + 1.0),
    ) == [(3 * 192, 1)]


def compression_jobs(url: str) -> list[tuple]:
    return rows(
        url,
        "SELECT job_id, config->>'compress_after' FROM timescaledb_information.jobs "
        "WHERE proc_name = 'policy_compression' AND hypertable_schema = 'tenant_demo'",
    )


def test_old_chunks_are_compressed_and_a_late_correction_over_the_default_cap_lands(
    warehouse_url, local_source, registry
):
    """150 registers in one 7-day chunk (Thu 2 - Wed 8 Feb 2023, 672 quarter hours each) are
    100 800 compressed rows; a correction touching every register decompresses them all,
    over TimescaleDB's default cap of 100 000 per transaction."""
    demo = dataclasses.replace(registry.get("demo"), compress_after_days=7)
    migrate.migrate_tenant(warehouse_url, demo)
    with database.transaction(warehouse_url) as conn:
        assert tenant_schema.set_compression(conn, demo.schema, 30) == "chunks older than 30 days"
    with database.transaction(warehouse_url) as conn:  # the registry's age changed: 30 -> 7
        assert tenant_schema.set_compression(conn, demo.schema, 7) == "chunks older than 7 days"
    [(job, after)] = compression_jobs(warehouse_url)
    assert after == "7 days"
    muids = [f"aaaaaaaa-0000-4000-8000-{n:012d}" for n in range(150)]
    rows(
        warehouse_url,
        "INSERT INTO tenant_demo.meter_readings "
        "(muid, obis, register, ts, kwh, quality, source_key, source_etag) "
        "SELECT m::uuid, %s, 'active_import', t, 0.1, 'measured', 'demo/seed.json', 'seed' "
        "FROM unnest(%s) m, generate_series(timestamptz '2023-02-02 00:00+00', "
        "timestamptz '2023-02-08 23:45+00', interval '15 minutes') t; SELECT 1",
        (IMPORT, muids),
    )
    policy = database.autocommit_connection(warehouse_url)  # alone: the job commits itself
    try:
        with policy.cursor() as cur:
            cur.execute("CALL run_job(%s)", (job,))  # no background workers here
    finally:
        policy.close()
    assert rows(
        warehouse_url,
        "SELECT count(*), bool_and(is_compressed) FROM timescaledb_information.chunks "
        "WHERE hypertable_schema = 'tenant_demo'",
    ) == [(1, True)]
    assert rows(
        warehouse_url,
        "SELECT current_setting('timescaledb.max_tuples_decompressed_per_dml_transaction')",
    ) == [("100000",)]
    correction = [
        {
            "measurement": "energy",
            "timestamp": "2023-02-05T12:00:00.000Z",
            "tags": {"muid": muid, "quality": "corrected"},
            IMPORT: 2.5,
        }
        for muid in muids
    ]
    local_source.write("demo/2023-02-05/correction.json", json.dumps({"data": correction}).encode())

    [result] = ingest_days(warehouse_url, local_source, demo, [date(2023, 2, 5)])

    assert (result.inserted, result.updated, result.rejected) == (0, 150, 0)
    assert rows(
        warehouse_url,
        "SELECT count(*), count(*) FILTER (WHERE kwh = 2.5 AND revision = 1 "
        "AND ts = '2023-02-05T12:00:00Z'), sum(kwh) FROM tenant_demo.meter_readings",
    ) == [(150 * 672, 150, pytest.approx(150 * 671 * 0.1 + 150 * 2.5))]

    with database.transaction(warehouse_url) as conn:  # compress_after_days removed
        assert tenant_schema.set_compression(conn, demo.schema, None) == "off"
    assert compression_jobs(warehouse_url) == []


def test_a_connection_lost_inside_a_transaction_is_rolled_back(warehouse_url):
    migrate.migrate_tenant(warehouse_url, "tenant_demo")
    lost = database.autocommit_connection(warehouse_url)
    lost.autocommit = False
    with lost.cursor() as cur:
        cur.execute(
            "INSERT INTO tenant_demo.rejected_readings (source_key, rule, message) "
            "VALUES ('demo/x.json', 'unreadable_json', 'lost')"
        )
    # the client dies without COMMIT, ROLLBACK or Terminate, as a killed worker would
    with socket.fromfd(lost.fileno(), socket.AF_INET, socket.SOCK_STREAM) as raw:
        raw.shutdown(socket.SHUT_RDWR)

    # answered at all means the dead client's turn ended; empty means its insert was undone
    assert rows(warehouse_url, "SELECT count(*) FROM tenant_demo.rejected_readings") == [(0,)]
    lost.close()


def test_a_database_without_the_extension_gets_it_created(tmp_path):
    """As on a TimescaleDB server whose warehouse database has no extension yet."""
    with timescale_server(tmp_path, "--without-extension") as url:
        assert rows(url, "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'") == [
            (0,)
        ]
        assert migrate.migrate_tenant(url, "tenant_demo").storage == "timescaledb"
        assert rows(
            url,
            "SELECT hypertable_name FROM timescaledb_information.hypertables "
            "WHERE hypertable_schema = 'tenant_demo'",
        ) == [("meter_readings",)]

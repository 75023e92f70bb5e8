import json
import os
from datetime import UTC, date, datetime

import pytest

from exnaton_pipeline.lib.demo_data.sample import write_sample
from exnaton_pipeline.lib.ingestion import ingest
from exnaton_pipeline.lib.warehouse import database, migrate
from exnaton_pipeline_tests.builders import EXPORT, IMPORT, IMPORT_MUID, record, response

DAY = date(2023, 2, 1)


def query(url: str, text: str, params=()) -> list[tuple]:
    with database.transaction(url) as conn, conn.cursor() as cur:
        cur.execute(text, params)
        return cur.fetchall()


def run(source, url, tenant, day=DAY, reprocess=False) -> ingest.IngestResult:
    migrate.migrate_tenant(url, tenant)  # what the run's tenant_schema asset does first
    new = ingest.list_new_objects(source, url, tenant, day, reprocess=reprocess)
    return ingest.ingest_objects(source, url, tenant, new, run_id="test-run")


def put(source, key: str, body: bytes, mtime: int | None = None) -> None:
    """Write an object; `mtime` (seconds) fixes the delivery order where it matters."""
    source.write(key, body)
    if mtime is not None:
        os.utime(source.root / key, (mtime, mtime))


@pytest.fixture
def alpine(registry, warehouse_url):
    tenant = registry.get("alpine")
    migrate.migrate_tenant(warehouse_url, tenant)
    return tenant


def test_bad_object_does_not_block_the_good_ones(warehouse_url, local_source, alpine):
    put(
        local_source,
        "alpine/2023-02-01/good.json",
        response(record("2023-02-01T00:00:00Z"), record("2023-02-01T00:15:00Z")),
        mtime=1_000,
    )
    put(local_source, "alpine/2023-02-01/broken.json", b'{"data": [}', mtime=1_001)
    put(
        local_source,
        "alpine/2023-02-01/mixed.json",
        response(
            record("2023-02-01T00:30:00Z", {IMPORT: 0.25}),
            record("2023-02-01T00:45:00Z", {IMPORT: -2}),
            record("2023-02-01T01:00:00Z", {"0100071D00FF": 1}),
        ),
        mtime=1_002,
    )
    result = run(local_source, warehouse_url, alpine)

    assert (result.objects, result.written, result.inserted, result.rejected) == (3, 3, 3, 3)
    assert result.read == 6
    assert result.rules == {"unreadable_json": 1, "non_negative_kwh": 1, "unknown_obis": 1}
    assert result.storage == "partitioned"
    rows = query(
        warehouse_url,
        "SELECT muid::text, obis, register, ts, kwh, quality, source_key, revision "
        "FROM tenant_alpine.meter_readings ORDER BY ts",
    )
    assert [(r[4], r[6]) for r in rows] == [
        (0.5, "alpine/2023-02-01/good.json"),
        (0.5, "alpine/2023-02-01/good.json"),
        (0.25, "alpine/2023-02-01/mixed.json"),
    ]
    assert {(r[0], r[1], r[2], r[5], r[7]) for r in rows} == {
        (IMPORT_MUID, IMPORT, "active_import", "measured", 0)
    }
    assert [r[3].isoformat() for r in rows] == [
        "2023-02-01T00:00:00+00:00",
        "2023-02-01T00:15:00+00:00",
        "2023-02-01T00:30:00+00:00",
    ]
    rejects = query(
        warehouse_url,
        "SELECT source_key, record_index, muid, obis, ts_text, value_text, rule, message, "
        "record FROM tenant_alpine.rejected_readings ORDER BY source_key, record_index",
    )
    assert [r[:7] for r in rejects] == [
        ("alpine/2023-02-01/broken.json", None, None, None, None, None, "unreadable_json"),
        (
            "alpine/2023-02-01/mixed.json",
            1,
            IMPORT_MUID,
            IMPORT,
            "2023-02-01T00:45:00Z",
            "-2.0",
            "non_negative_kwh",
        ),
        (
            "alpine/2023-02-01/mixed.json",
            2,
            IMPORT_MUID,
            "0100071D00FF",
            "2023-02-01T01:00:00Z",
            "1",
            "unknown_obis",
        ),
    ]
    assert rejects[0][7].startswith("the object is not valid JSON")
    assert rejects[1][7] == "value -2.0 kWh is negative"
    assert rejects[2][7] == (
        "OBIS 1-0:7.29.0*255 (0100071D00FF) is not an energy register we know (C=7)"
    )
    assert rejects[2][8]["0100071D00FF"] == 1  # the raw record is kept as jsonb
    manifest = query(
        warehouse_url,
        "SELECT key, partition_day, rows_read, rows_written, rows_rejected, run_id "
        "FROM tenant_alpine.ingested_objects ORDER BY key",
    )
    assert manifest == [
        ("alpine/2023-02-01/broken.json", DAY, 1, 0, 1, "test-run"),
        ("alpine/2023-02-01/good.json", DAY, 2, 2, 0, "test-run"),
        ("alpine/2023-02-01/mixed.json", DAY, 3, 1, 2, "test-run"),
    ]


def test_non_finite_value_in_a_refused_record_is_stored(warehouse_url, local_source, alpine):
    # JSON's NaN extension is not valid jsonb; the rejection must still be written
    put(
        local_source,
        "alpine/2023-02-01/nan.json",
        response(record(values={"FFFFFFFFFFFF": float("nan")}), record(values={IMPORT: 1})),
    )
    result = run(local_source, warehouse_url, alpine)
    assert (result.written, result.rejected) == (1, 1)
    ((value_text, rule, raw),) = query(
        warehouse_url, "SELECT value_text, rule, record FROM tenant_alpine.rejected_readings"
    )
    assert (value_text, rule) == ("nan", "unknown_obis")
    assert raw["FFFFFFFFFFFF"] == "NaN"


def test_later_object_wins_a_duplicate_across_objects(warehouse_url, local_source, alpine):
    ts = "2023-02-01T08:00:00Z"
    put(local_source, "alpine/2023-02-01/b-first.json", response(record(ts, {IMPORT: 1})), 2_000)
    put(local_source, "alpine/2023-02-01/a-later.json", response(record(ts, {IMPORT: 2})), 2_001)
    result = run(local_source, warehouse_url, alpine)
    assert (result.written, result.rejected, result.rules) == (1, 1, {"unique_reading": 1})
    assert query(warehouse_url, "SELECT kwh, source_key FROM tenant_alpine.meter_readings") == [
        (2.0, "alpine/2023-02-01/a-later.json")
    ]
    assert query(
        warehouse_url, "SELECT source_key, value_text, rule FROM tenant_alpine.rejected_readings"
    ) == [("alpine/2023-02-01/b-first.json", "1.0", "unique_reading")]


def test_readings_outside_the_partition_day_are_rejected(warehouse_url, local_source, alpine):
    put(
        local_source,
        "alpine/2023-02-01/spill.json",
        response(record("2023-02-01T23:45:00Z"), record("2023-02-02T00:00:00Z")),
    )
    result = run(local_source, warehouse_url, alpine)
    assert (result.written, result.rules) == (1, {"within_partition_day": 1})


def test_empty_day_writes_nothing(warehouse_url, local_source, alpine):
    result = run(local_source, warehouse_url, alpine)
    assert (result.objects, result.read, result.written, result.rejected) == (0, 0, 0, 0)
    assert query(warehouse_url, "SELECT count(*) FROM tenant_alpine.meter_readings") == [(0,)]


@pytest.fixture
def demo_day(local_source, registry):
    """Demo tenant with the real sample plus one broken object on 2023-02-01."""
    tenant = registry.get("demo")
    write_sample(local_source, tenant)
    local_source.write("demo/2023-02-01/zz-broken.json", b"not json")
    return tenant


def table_state(url: str, schema: str) -> dict:
    return {
        "readings": query(
            url,
            f"SELECT muid, obis, ts, kwh, quality, source_key, source_etag, revision, "
            f"ingested_at FROM {schema}.meter_readings ORDER BY muid, obis, ts",
        ),
        "rejects": query(
            url, f"SELECT source_key, rule, rejected_at FROM {schema}.rejected_readings"
        ),
    }


def test_ingesting_twice_changes_nothing(warehouse_url, local_source, demo_day):
    first = run(local_source, warehouse_url, demo_day)
    # 2 meters x 96 quarter hours
    assert (first.objects, first.written, first.inserted, first.rejected) == (3, 192, 192, 1)
    before = table_state(warehouse_url, "tenant_demo")

    again = run(local_source, warehouse_url, demo_day)
    assert (again.objects, again.read, again.written, again.rejected) == (0, 0, 0, 0)
    assert table_state(warehouse_url, "tenant_demo") == before

    reprocessed = run(local_source, warehouse_url, demo_day, reprocess=True)
    assert (reprocessed.objects, reprocessed.written, reprocessed.rejected) == (3, 192, 1)
    assert (reprocessed.inserted, reprocessed.updated, reprocessed.unchanged) == (0, 0, 192)
    after = table_state(warehouse_url, "tenant_demo")
    assert after["readings"] == before["readings"]
    assert [r[:2] for r in after["rejects"]] == [
        ("demo/2023-02-01/zz-broken.json", "unreadable_json")
    ]
    totals = query(
        warehouse_url,
        "SELECT obis, count(*), round(sum(kwh)::numeric, 5) FROM tenant_demo.meter_readings "
        "GROUP BY obis ORDER BY obis",
    )
    # first UTC day of the real files, summed with plain json + math.fsum from SOURCE.md's copies
    assert [(o, n, float(s)) for o, n, s in totals] == [(IMPORT, 96, 1.8766), (EXPORT, 96, 2.07875)]


def test_corrected_object_updates_its_rows(warehouse_url, local_source, demo_day):
    run(local_source, warehouse_url, demo_day)
    key = f"demo/2023-02-01/{IMPORT_MUID}.json"
    payload = json.loads((local_source.root / key).read_bytes())
    target = next(r for r in payload["data"] if r["timestamp"] == "2023-02-01T12:00:00.000Z")
    old_value = target[IMPORT]
    target[IMPORT] = old_value + 1.5
    target["tags"]["quality"] = "corrected"
    local_source.write(key, json.dumps(payload).encode())
    new_etag = next(o.etag for o in local_source.list("demo/2023-02-01") if o.key == key)

    result = run(local_source, warehouse_url, demo_day)
    assert result.objects == 1
    assert (result.written, result.inserted, result.updated, result.unchanged) == (96, 0, 1, 95)
    changed = query(
        warehouse_url,
        "SELECT kwh, quality, revision, source_etag FROM tenant_demo.meter_readings "
        "WHERE obis = %s AND ts = '2023-02-01T12:00:00Z'",
        (IMPORT,),
    )
    assert changed == [(pytest.approx(old_value + 1.5), "corrected", 1, new_etag)]
    assert query(
        warehouse_url,
        "SELECT count(*) FROM tenant_demo.meter_readings WHERE revision > 0",
    ) == [(1,)]
    assert query(
        warehouse_url, "SELECT etag FROM tenant_demo.ingested_objects WHERE key = %s", (key,)
    ) == [(new_etag,)]


def test_day_of_only_broken_objects_records_them(warehouse_url, local_source, alpine):
    put(local_source, "alpine/2023-02-01/a.json", b"")
    put(local_source, "alpine/2023-02-01/b.json", response(record(values={})))
    result = run(local_source, warehouse_url, alpine)
    assert (result.objects, result.written, result.rejected) == (2, 0, 2)
    assert result.rules == {"unreadable_json": 1, "no_values": 1}
    assert query(
        warehouse_url,
        "SELECT key, rows_read, rows_written, rows_rejected FROM tenant_alpine.ingested_objects "
        "ORDER BY key",
    ) == [("alpine/2023-02-01/a.json", 1, 0, 1), ("alpine/2023-02-01/b.json", 1, 0, 1)]
    # recorded in the manifest: the next run does not read them again
    assert run(local_source, warehouse_url, alpine).objects == 0


# --- issue 9: nothing lost, nothing stuck ---------------------------------------------------


def test_hostile_objects_never_block_the_good_ones(warehouse_url, local_source, alpine):
    good = response(record("2023-02-01T00:00:00Z"), record("2023-02-01T00:15:00Z"))
    put(local_source, "alpine/2023-02-01/good.json", good, mtime=1_000)
    hostile = {
        "nested.json": b'{"data": [' + b"[" * 5000 + b"]" * 5000 + b"]}",
        "digits.json": b'{"data": [{"' + IMPORT.encode() + b'": 1' + b"0" * 5000 + b"}]}",
        "overflow.json": response(record("2023-02-01T00:30:00Z", {IMPORT: 10**400})),
        "twice.json": (
            b'{"data": [{"timestamp": "2023-02-01T00:45:00Z", "tags": {"muid": "'
            + IMPORT_MUID.encode()
            + b'", "quality": "measured"}, "0100011D00FF": 1, "0100011D00FF": 2}]}'
        ),
    }
    for n, (name, body) in enumerate(hostile.items()):
        put(local_source, f"alpine/2023-02-01/{name}", body, mtime=1_001 + n)
    # a file name that is not UTF-8 (possible on a local disk, never in S3)
    folder = os.fsencode(local_source.root / "alpine/2023-02-01")
    with open(os.path.join(folder, b"bad-\xff.json"), "wb") as handle:
        handle.write(good)

    result = run(local_source, warehouse_url, alpine)

    assert result.unreadable == []
    assert (result.objects, result.written) == (6, 2)
    assert result.rules == {
        "unreadable_json": 2,
        "value_not_a_number": 1,
        "duplicate_key": 1,
        "unreadable_object_name": 1,
    }
    assert (
        query(warehouse_url, "SELECT source_key FROM tenant_alpine.meter_readings")
        == [("alpine/2023-02-01/good.json",)] * 2
    )
    rejected = dict(
        query(warehouse_url, "SELECT source_key, rule FROM tenant_alpine.rejected_readings")
    )
    assert rejected == {
        "alpine/2023-02-01/nested.json": "unreadable_json",
        "alpine/2023-02-01/digits.json": "unreadable_json",
        "alpine/2023-02-01/overflow.json": "value_not_a_number",
        "alpine/2023-02-01/twice.json": "duplicate_key",
        "alpine/2023-02-01/bad-\\xff.json": "unreadable_object_name",
    }
    # every object is in the manifest: the next run reads none of them again
    assert len(query(warehouse_url, "SELECT key FROM tenant_alpine.ingested_objects")) == 6
    again = run(local_source, warehouse_url, alpine)
    assert (again.objects, again.read) == (0, 0)


def test_timestamp_without_offset_never_takes_another_objects_offset(
    warehouse_url, local_source, alpine
):
    day = date(2023, 3, 3)
    zurich = response(record("2023-03-03T13:00:00+01:00", {IMPORT: 0.4}))
    naive = response(record("2023-03-03T12:00:00", {IMPORT: 0.4}))
    put(local_source, "alpine/2023-03-03/zurich.json", zurich, mtime=1_000)
    put(local_source, "alpine/2023-03-03/naive.json", naive, mtime=1_001)
    first = run(local_source, warehouse_url, alpine, day)
    assert (first.written, first.rules) == (1, {"utc_offset_given": 1})
    # delivered again on its own, it must still not become a reading
    put(local_source, "alpine/2023-03-03/naive.json", naive + b" ", mtime=1_002)
    again = run(local_source, warehouse_url, alpine, day)
    assert (again.objects, again.written, again.rules) == (1, 0, {"utc_offset_given": 1})
    assert query(warehouse_url, "SELECT ts, kwh FROM tenant_alpine.meter_readings") == [
        (datetime(2023, 3, 3, 12, tzinfo=UTC), 0.4)
    ]


def test_every_rejection_keeps_the_record_as_delivered(warehouse_url, local_source, alpine):
    bad = [
        record("2023-02-01T00:00:00Z", {IMPORT: -1.5}),
        record("2023-02-01T00:15:00Z", {IMPORT: float("nan")}),
        record("2023-02-01T00:07:00Z", {IMPORT: 0.5}),
        record("2023-02-01T00:30:00Z", {IMPORT: 0.5}, muid="not-a-uuid"),
        record("2023-02-01T00:45:00Z", {IMPORT: 5000.0}),
        record("2023-02-01T01:00:00Z", {IMPORT: 0.1}),  # superseded by the next one
        record("2023-02-01T01:00:00Z", {IMPORT: 0.2}),
    ]
    put(local_source, "alpine/2023-02-01/mixed.json", response(*bad))
    result = run(local_source, warehouse_url, alpine)
    assert result.written == 1
    stored = query(
        warehouse_url,
        "SELECT record_index, rule, record FROM tenant_alpine.rejected_readings "
        "ORDER BY record_index",
    )
    assert [(index, rule) for index, rule, _ in stored] == [
        (0, "non_negative_kwh"),
        (1, "finite_kwh"),
        (2, "on_15_minute_grid"),
        (3, "well_formed_muid"),
        (4, "plausible_kwh"),
        (5, "unique_reading"),
    ]
    expected = json.loads(response(*bad).replace(b"NaN", b'"NaN"'))["data"]
    assert [raw for _, _, raw in stored] == expected[:6]


def test_only_json_objects_are_read_the_rest_is_listed(warehouse_url, local_source, alpine):
    body = response(record("2023-02-01T00:00:00Z"))
    put(local_source, "alpine/2023-02-01/.hidden.json", body)
    put(local_source, "alpine/2023-02-01/notes.txt", response(record("2023-02-01T00:15:00Z")))
    new = ingest.list_new_objects(local_source, warehouse_url, alpine, DAY)
    assert ([o.key for o in new.objects], new.ignored) == (
        ["alpine/2023-02-01/.hidden.json"],
        ["alpine/2023-02-01/notes.txt"],
    )
    result = ingest.ingest_objects(local_source, warehouse_url, alpine, new)
    assert (result.objects, result.written) == (1, 1)
    assert query(warehouse_url, "SELECT ts FROM tenant_alpine.meter_readings") == [
        (datetime(2023, 2, 1, tzinfo=UTC),)
    ]


def test_an_object_that_cannot_be_fetched_is_named_and_read_again(
    warehouse_url, local_source, alpine
):
    put(local_source, "alpine/2023-02-01/a.json", response(record("2023-02-01T00:00:00Z")))
    put(local_source, "alpine/2023-02-01/b.json", response(record("2023-02-01T00:15:00Z")))
    new = ingest.list_new_objects(local_source, warehouse_url, alpine, DAY)
    (local_source.root / "alpine/2023-02-01/b.json").unlink()  # gone between list and read
    result = ingest.ingest_objects(local_source, warehouse_url, alpine, new)
    assert (result.objects, result.written, result.unreadable) == (
        1,
        1,
        ["alpine/2023-02-01/b.json"],
    )
    assert query(warehouse_url, "SELECT key FROM tenant_alpine.ingested_objects") == [
        ("alpine/2023-02-01/a.json",)
    ]
    put(local_source, "alpine/2023-02-01/b.json", response(record("2023-02-01T00:15:00Z")))
    retried = run(local_source, warehouse_url, alpine)
    assert (retried.objects, retried.written, retried.unreadable) == (1, 1, [])


def test_objects_are_stored_in_chunks_with_the_same_outcome(warehouse_url, local_source, alpine):
    for n in range(5):
        ts = f"2023-02-01T0{n}:00:00Z"
        put(local_source, f"alpine/2023-02-01/{n}.json", response(record(ts)), mtime=1_000 + n)
    new = ingest.list_new_objects(local_source, warehouse_url, alpine, DAY)
    result = ingest.ingest_objects(local_source, warehouse_url, alpine, new, chunk_bytes=1)
    assert (result.objects, result.read, result.written, result.inserted) == (5, 5, 5, 5)
    assert query(warehouse_url, "SELECT count(*) FROM tenant_alpine.ingested_objects") == [(5,)]


def test_objects_gone_from_the_source_are_withdrawn_and_come_back(
    warehouse_url, local_source, alpine
):
    """Removal from the source marks the manifest entry; the readings stay; the checks see
    only current objects; an object listed again is current again (not read twice)."""
    from exnaton_pipeline.lib.warehouse import quality

    kept = response(record("2023-02-01T00:00:00Z", {IMPORT: 0.5}))
    gone = response(record("2023-02-01T00:15:00Z", {IMPORT: 0.25}), record(None))
    put(local_source, "alpine/2023-02-01/kept.json", kept)
    put(local_source, "alpine/2023-02-01/gone.json", gone)
    put(local_source, "alpine/2023-02-02/other.json", kept.replace(b"-01T", b"-02T"))
    run(local_source, warehouse_url, alpine)
    run(local_source, warehouse_url, alpine, day=date(2023, 2, 2))
    (local_source.root / "alpine/2023-02-01/gone.json").unlink()

    new = ingest.list_new_objects(local_source, warehouse_url, alpine, DAY)
    withdrawals = ingest.withdraw_missing(warehouse_url, alpine, new)

    assert withdrawals == ingest.manifest.Withdrawals(["alpine/2023-02-01/gone.json"], [])
    manifest_rows = "SELECT key, withdrawn_at IS NOT NULL FROM tenant_alpine.ingested_objects"
    assert sorted(query(warehouse_url, manifest_rows)) == [
        ("alpine/2023-02-01/gone.json", True),
        ("alpine/2023-02-01/kept.json", False),
        ("alpine/2023-02-02/other.json", False),  # another day's listing is not this one's
    ]
    assert query(warehouse_url, "SELECT sum(kwh) FROM tenant_alpine.meter_readings") == [(1.25,)]
    with database.transaction(warehouse_url) as conn:
        judged = quality.rejections(conn, "tenant_alpine", DAY)
    assert (judged.objects, judged.written, judged.rejected) == (1, 1, 0)
    # a second run finds nothing more to mark
    assert ingest.withdraw_missing(warehouse_url, alpine, new) == ingest.manifest.Withdrawals()

    put(local_source, "alpine/2023-02-01/gone.json", gone)  # delivered again, same version
    new = ingest.list_new_objects(local_source, warehouse_url, alpine, DAY)
    assert ingest.withdraw_missing(warehouse_url, alpine, new).restored == [
        "alpine/2023-02-01/gone.json"
    ]
    assert new.objects == []  # already ingested in this version
    with database.transaction(warehouse_url) as conn:
        judged = quality.rejections(conn, "tenant_alpine", DAY)
    assert (judged.objects, judged.written, judged.rejected) == (2, 2, 1)

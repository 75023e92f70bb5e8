"""The ingestion assets end to end: real sample in a real S3 endpoint (moto) into PostgreSQL."""

from datetime import date

import boto3
import dagster as dg
import pytest

from exnaton_pipeline.lib.demo_data.sample import write_sample
from exnaton_pipeline.lib.ingestion.source import S3Source
from exnaton_pipeline.lib.warehouse import database
from exnaton_pipeline_tests.builders import IMPORT, record, response
from exnaton_pipeline_tests.conftest import day_range, materialize_days

DAYS = day_range(date(2023, 2, 1), date(2023, 2, 3))
SELECTION = "key:tenant_schema or key:raw_meter_readings or key:meter_readings"


def metadata(result, asset: str) -> dict:
    (event,) = result.asset_materializations_for_node(asset)
    return {key: value.value for key, value in event.metadata.items()}


def query(url: str, text: str) -> list[tuple]:
    with database.transaction(url) as conn, conn.cursor() as cur:
        cur.execute(text)
        return cur.fetchall()


@pytest.fixture
def s3_sample(s3_endpoint, s3_bucket, registry) -> str:
    """The real sample in a bucket under prefix `raw`; returns the source URL."""
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    write_sample(S3Source(client, s3_bucket, "raw"), registry.get("demo"))
    return f"s3://{s3_bucket}/raw"


def test_sample_days_from_s3_land_in_the_warehouse(warehouse_url, s3_sample):
    results = materialize_days("demo", DAYS, warehouse_url, s3_sample, selection=SELECTION)
    assert [r.success for r in results] == [True, True, True]
    for result in results:
        raw = metadata(result, "raw_meter_readings")
        assert (raw["objects_listed"], raw["objects_new"], raw["objects_ignored"]) == (2, 2, 0)
        assert raw["source"].startswith(s3_sample + "/demo/2023-02-0")
        stored = metadata(result, "meter_readings")
        assert stored["storage"] == "partitioned"
        assert (stored["rows_read"], stored["rows_written"], stored["rows_inserted"]) == (
            192,
            192,
            192,
        )
        assert (stored["rows_updated"], stored["rows_rejected"]) == (0, 0)
        assert stored["objects_ingested"] == 2
    # sums over 2023-02-01..03 of the real files, computed with plain json + math.fsum
    totals = query(
        warehouse_url,
        "SELECT obis, count(*), round(sum(kwh)::numeric, 5) FROM tenant_demo.meter_readings "
        "GROUP BY obis ORDER BY obis",
    )
    assert [(o, n, float(s)) for o, n, s in totals] == [
        ("0100011D00FF", 288, 9.7023),
        ("0100021D00FF", 288, 4.40875),
    ]
    assert query(warehouse_url, "SELECT count(*) FROM tenant_demo.ingested_objects") == [(6,)]


def test_second_run_reads_nothing_and_reprocess_changes_nothing(warehouse_url, s3_sample):
    (day,) = DAYS[:1]
    materialize_days("demo", [day], warehouse_url, s3_sample, selection=SELECTION)

    (again,) = materialize_days("demo", [day], warehouse_url, s3_sample, selection=SELECTION)
    assert metadata(again, "raw_meter_readings")["objects_new"] == 0
    assert metadata(again, "meter_readings")["rows_written"] == 0

    (forced,) = materialize_days(
        "demo",
        [day],
        warehouse_url,
        s3_sample,
        selection=SELECTION,
        run_config={"ops": {"raw_meter_readings": {"config": {"reprocess": True}}}},
    )
    stored = metadata(forced, "meter_readings")
    assert metadata(forced, "raw_meter_readings")["objects_new"] == 2
    assert (stored["rows_written"], stored["rows_inserted"], stored["rows_updated"]) == (192, 0, 0)
    assert query(
        warehouse_url, "SELECT count(*), max(revision) FROM tenant_demo.meter_readings"
    ) == [(192, 0)]


def test_bad_records_are_reported_as_metadata(warehouse_url, s3_endpoint, s3_bucket):
    source = S3Source(boto3.client("s3", endpoint_url=s3_endpoint), s3_bucket, "raw")
    source.write(
        "alpine/2023-02-01/batch-0001.json",
        response(
            record("2023-02-01T00:00:00Z", {IMPORT: 0.5}),
            record("2023-02-01T00:07:00Z", {IMPORT: 0.5}),
            record("2023-02-01T00:15:00Z", {IMPORT: float("nan")}),
        ),
    )
    source.write("alpine/2023-02-01/batch-0002.json", b"<html>")
    (result,) = materialize_days(
        "alpine", DAYS[:1], warehouse_url, f"s3://{s3_bucket}/raw", selection=SELECTION
    )
    # 3 of 4 delivered rows are bad: meter_readings stores the good row and reports the rest,
    # then the blocking rejected-share check (> 10 %) fails the run
    assert not result.success
    share = {e.check_name: e for e in result.get_asset_check_evaluations()}["rejected_share"]
    assert not share.passed
    assert share.severity == dg.AssetCheckSeverity.ERROR
    assert metadata(result, "raw_meter_readings")["objects_new"] == 2
    stored = metadata(result, "meter_readings")
    assert (stored["rows_read"], stored["rows_written"], stored["rows_rejected"]) == (4, 1, 3)
    assert stored["rejected_by_rule"] == {
        "unreadable_json": 1,
        "on_15_minute_grid": 1,
        "finite_kwh": 1,
    }
    assert query(
        warehouse_url,
        "SELECT source_key, rule FROM tenant_alpine.rejected_readings ORDER BY rule",
    ) == [
        ("alpine/2023-02-01/batch-0001.json", "finite_kwh"),
        ("alpine/2023-02-01/batch-0001.json", "on_15_minute_grid"),
        ("alpine/2023-02-01/batch-0002.json", "unreadable_json"),
    ]


def test_an_implausible_value_is_rejected_and_the_aggregates_still_build(
    warehouse_url, local_source
):
    quarters = [f"2023-02-01T{h:02d}:{m:02d}:00Z" for h in range(5) for m in (0, 15, 30, 45)]
    records = [record(ts, {IMPORT: 0.5}) for ts in quarters]
    records.append(record("2023-02-01T05:00:00Z", {IMPORT: 1e308}))  # issue 9: poisoned sums
    local_source.write("alpine/2023-02-01/batch.json", response(*records))
    (result,) = materialize_days("alpine", DAYS[:1], warehouse_url, str(local_source.root))
    assert result.success
    assert metadata(result, "meter_readings")["rejected_by_rule"] == {"plausible_kwh": 1}
    assert query(
        warehouse_url, "SELECT count(*), sum(import_kwh) FROM tenant_alpine.hourly_energy"
    ) == [(5, 10.0)]


def test_an_object_that_cannot_be_fetched_fails_the_run_and_names_it(
    warehouse_url, local_source, tmp_path
):
    local_source.write("alpine/2023-02-01/a.json", response(record("2023-02-01T00:00:00Z")))
    local_source.write("alpine/2023-02-01/b.json", response(record("2023-02-01T00:15:00Z")))
    (tmp_path / "dagster").mkdir()
    instance = dg.DagsterInstance.local_temp(str(tmp_path / "dagster"))
    source = str(local_source.root)
    (listed,) = materialize_days(
        "alpine",
        DAYS[:1],
        warehouse_url,
        source,
        "key:tenant_schema or key:raw_meter_readings",
        instance,
    )
    assert listed.success
    (local_source.root / "alpine/2023-02-01/b.json").unlink()  # vanished after the listing
    (stored,) = materialize_days(
        "alpine", DAYS[:1], warehouse_url, source, "key:meter_readings", instance
    )
    assert not stored.success
    (failure,) = [e for e in stored.all_events if e.is_step_failure]
    message = failure.event_specific_data.error.message
    assert "1 of 2 new object(s) could not be fetched" in message
    assert "alpine/2023-02-01/b.json" in message
    # the other object is stored and in the manifest; b.json is not, so it is read again later
    assert query(warehouse_url, "SELECT key FROM tenant_alpine.ingested_objects") == [
        ("alpine/2023-02-01/a.json",)
    ]

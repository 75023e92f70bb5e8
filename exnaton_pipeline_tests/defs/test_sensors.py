"""late_objects_sensor: objects delivered after their day's runs are found and requested once."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from exnaton_pipeline.definitions import defs
from exnaton_pipeline.defs.sensors import late_objects_sensor
from exnaton_pipeline.orchestration.resources import (
    S3ClientResource,
    SourceResource,
    TenantRegistryResource,
    WarehouseResource,
)
from exnaton_pipeline_tests.builders import record, response
from exnaton_pipeline_tests.conftest import materialize_days

INGESTION = "key:tenant_schema or key:raw_meter_readings or key:meter_readings"


def evaluate(warehouse_url, source_root) -> list[dg.RunRequest]:
    with dg.build_sensor_context(
        resources={
            "source": SourceResource(source_url=str(source_root), s3=S3ClientResource()),
            "warehouse": WarehouseResource(database_url=warehouse_url),
            "tenants": TenantRegistryResource(),
        },
        repository_def=defs.get_repository_def(),
    ) as context:
        return list(late_objects_sensor.evaluate_tick(context).run_requests or [])


def test_objects_delivered_late_are_requested_once(warehouse_url, local_source):
    today = datetime.now(UTC).date()
    three_days_ago = today - timedelta(days=3)
    ten_days_ago = today - timedelta(days=10)  # beyond the sweep's 7 days
    stamp = f"{three_days_ago.isoformat()}T10:00:00Z"
    local_source.write(f"alpine/{three_days_ago}/a.json", response(record(stamp)))
    (ran,) = materialize_days(
        "alpine",
        [three_days_ago],
        warehouse_url,
        str(local_source.root),
        "key:tenant_schema or key:raw_meter_readings or key:meter_readings",
    )
    assert ran.success
    assert evaluate(warehouse_url, local_source.root) == []  # everything ingested

    later = f"{three_days_ago.isoformat()}T10:15:00Z"
    local_source.write(f"alpine/{three_days_ago}/late.json", response(record(later)))
    old = f"{ten_days_ago.isoformat()}T10:15:00Z"
    local_source.write(f"alpine/{ten_days_ago}/too-old.json", response(record(old)))
    (request,) = evaluate(warehouse_url, local_source.root)
    assert str(request.partition_key) == f"{three_days_ago.isoformat()}|alpine"
    assert request.tags["exnaton/reason"] == "1 object(s) not yet ingested"
    # the same late object gives the same run key: Dagster requests it once
    (again,) = evaluate(warehouse_url, local_source.root)
    assert again.run_key == request.run_key

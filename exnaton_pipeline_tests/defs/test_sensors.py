"""The sensors: late_objects_sensor finds objects delivered after their day's runs and
requests them once; insights_sensor asks for the per-day work when meter days changed."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from exnaton_pipeline.definitions import defs
from exnaton_pipeline.defs.sensors import insights_sensor, late_objects_sensor
from exnaton_pipeline.lib.scheduling import last_settled_day
from exnaton_pipeline.orchestration.resources import (
    S3ClientResource,
    SourceResource,
    TenantRegistryResource,
    WarehouseResource,
)
from exnaton_pipeline_tests.builders import EXPORT, EXPORT_MUID, IMPORT_MUID, record, response
from exnaton_pipeline_tests.conftest import materialize_days, materialize_per_day

INGESTION = "key:tenant_schema or key:raw_meter_readings or key:meter_readings"


def evaluate(warehouse_url, source_root, sensor=late_objects_sensor) -> list[dg.RunRequest]:
    with dg.build_sensor_context(
        resources={
            "source": SourceResource(source_url=str(source_root), s3=S3ClientResource()),
            "warehouse": WarehouseResource(database_url=warehouse_url),
            "tenants": TenantRegistryResource(),
        },
        repository_def=defs.get_repository_def(),
    ) as context:
        return list(sensor.evaluate_tick(context).run_requests or [])


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


def test_per_day_work_is_requested_once_per_change_for_the_meters_concerned(
    warehouse_url, local_source, registry
):
    alpine = registry.get("alpine")
    now = datetime.now(UTC)
    last_day = last_settled_day(now, alpine)
    day = now.date() - timedelta(days=3)
    both = [
        record(f"{day}T10:00:00Z", muid=IMPORT_MUID),
        record(f"{day}T10:00:00Z", values={EXPORT: 0.2}, muid=EXPORT_MUID),
    ]
    local_source.write(f"alpine/{day}/a.json", response(*both))
    # a reading of the current quarter hour: its local day is not over, so not yet asked for
    current = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    local_source.write(
        f"alpine/{current.date()}/now.json", response(record(f"{current:%Y-%m-%dT%H:%M}:00Z"))
    )
    runs = materialize_days(
        "alpine", sorted({day, current.date()}), warehouse_url, str(local_source.root)
    )
    assert all(run.success for run in runs)

    (request,) = evaluate(warehouse_url, local_source.root, insights_sensor)
    assert request.partition_key == "alpine"
    assert request.tags["exnaton/reason"] == f"2 meter(s) changed on days up to {last_day}"
    step = request.run_config["ops"]["per_day_analytics"]["config"]
    assert step == {"last_day": last_day.isoformat(), "all_meters": False}
    (again,) = evaluate(warehouse_url, local_source.root, insights_sensor)
    assert again.run_key == request.run_key  # the same changes: Dagster launches it once

    first = materialize_per_day("alpine", warehouse_url, last_day)
    assert first.success
    assert (
        first.asset_materializations_for_node("per_day_analytics")[0]
        .metadata["meters_changed"]
        .value
        == 2
    )
    assert evaluate(warehouse_url, local_source.root, insights_sensor) == []

    # a correction of one meter's old day: only that meter's windows are recomputed
    local_source.write(
        f"alpine/{day}/b.json",
        response(record(f"{day}T10:00:00Z", values={"0100011D00FF": 0.9}, muid=IMPORT_MUID)),
    )
    (fixed,) = materialize_days("alpine", [day], warehouse_url, str(local_source.root))
    assert fixed.success
    (request,) = evaluate(warehouse_url, local_source.root, insights_sensor)
    assert request.tags["exnaton/reason"] == f"1 meter(s) changed on days up to {last_day}"
    second = materialize_per_day("alpine", warehouse_url, last_day)
    assert (
        second.asset_materializations_for_node("per_day_analytics")[0]
        .metadata["meters_changed"]
        .value
        == 1
    )

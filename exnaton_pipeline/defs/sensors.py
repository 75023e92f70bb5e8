"""The sweep: objects delivered late, corrected or missed on days the schedule no longer visits."""

import hashlib
from datetime import UTC, datetime, timedelta

import dagster as dg

from exnaton_pipeline.lib import settings
from exnaton_pipeline.lib.ingestion import ingest
from exnaton_pipeline.lib.scheduling import partitions_due
from exnaton_pipeline.lib.warehouse.database import WarehouseNotConfigured
from exnaton_pipeline.orchestration.partitions import partition_key, tenant_partitions
from exnaton_pipeline.orchestration.resources import (
    SourceResource,
    TenantRegistryResource,
    WarehouseResource,
)

SWEEP_INTERVAL_SECONDS = 3600


@dg.sensor(
    job_name="meter_data_job",
    minimum_interval_seconds=SWEEP_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def late_objects_sensor(
    context: dg.SensorEvaluationContext,
    source: SourceResource,
    warehouse: WarehouseResource,
    tenants: TenantRegistryResource,
):
    """Every hour, lists each tenant's past EXNATON_SWEEP_DAYS UTC days (default 7) for
    objects the manifest has not seen in their version, and requests those partitions.

    The 15-minute schedule visits today (and yesterday in the first hour after midnight);
    an object delivered later, a correction of an old day, or one that could not be fetched
    when its day ran would otherwise never be read. The run key names the objects, so the
    same late objects are requested once; a run that fails keeps its failure visible.
    """
    now = datetime.now(UTC)
    known = set(tenant_partitions.get_partition_keys())
    active = [t for t in tenants.registry.tenants if t.id in known]
    scheduled = {(d.tenant_id, d.day) for d in partitions_due(now, active)}
    days = [now.date() - timedelta(days=n) for n in range(1, settings.sweep_days() + 1)]
    src = source.get_source()
    for tenant in active:
        todo = [day for day in days if (tenant.id, day) not in scheduled]
        try:
            url = warehouse.url(tenant)
        except WarehouseNotConfigured as exc:  # one tenant's setup must not stop the sweep
            context.log.error(str(exc))
            continue
        late = ingest.late_objects(src, url, tenant, todo)
        for day, objects in sorted(late.items()):
            versions = sorted(f"{o.key}@{o.etag}" for o in objects)
            digest = hashlib.sha256("\n".join(versions).encode()).hexdigest()[:16]
            key = partition_key(tenant.id, day)
            yield dg.RunRequest(
                run_key=f"{key}:{digest}",
                partition_key=key,
                tags={
                    "exnaton/trigger": "sweep",
                    "exnaton/reason": f"{len(objects)} object(s) not yet ingested",
                },
            )

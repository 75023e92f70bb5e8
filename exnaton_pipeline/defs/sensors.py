"""Sensors: the sweep for objects delivered late, corrected or missed on days the schedule no
longer visits, and the trigger of the per-day work once a tenant's local day is over."""

import hashlib
from datetime import UTC, datetime, timedelta

import dagster as dg

from exnaton_pipeline.lib import settings
from exnaton_pipeline.lib.ingestion import ingest
from exnaton_pipeline.lib.scheduling import last_settled_day, partitions_due
from exnaton_pipeline.lib.warehouse import stale, tenant_schema
from exnaton_pipeline.lib.warehouse.database import WarehouseNotConfigured, transaction
from exnaton_pipeline.orchestration.partitions import partition_key, tenant_partitions
from exnaton_pipeline.orchestration.per_day import PER_DAY_JOB, per_day_config
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


@dg.sensor(
    job_name=PER_DAY_JOB,
    minimum_interval_seconds=15 * 60,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def insights_sensor(
    context: dg.SensorEvaluationContext,
    warehouse: WarehouseResource,
    tenants: TenantRegistryResource,
):
    """Every 15 minutes, asks for each tenant's per-day work (weekday_hour_profile, insights)
    when meter days up to its last settled local day changed since that work last ran.

    So the 28-day windows move once per local day, about 30 minutes after local midnight, and
    a backfill or a late correction of an older day recomputes the windows of exactly the
    meters concerned. The run key names the tenant, the day and the newest change, so one
    set of changes is requested once.
    """
    now = datetime.now(UTC)
    known = set(tenant_partitions.get_partition_keys())
    for tenant in (t for t in tenants.registry.tenants if t.id in known):
        last_day = last_settled_day(now, tenant)
        try:
            url = warehouse.url(tenant)
        except WarehouseNotConfigured as exc:  # one tenant's setup must not stop the others
            context.log.error(str(exc))
            continue
        with transaction(url) as conn:
            if not tenant_schema.is_set_up(conn, tenant.schema):
                continue
            changed = stale.changed_windows(conn, tenant.schema, last_day)
        if changed.newest_mark is None:
            continue
        yield dg.RunRequest(
            run_key=f"{tenant.id}:{last_day}:{changed.newest_mark.isoformat()}",
            partition_key=tenant.id,
            run_config=per_day_config(last_day),
            tags={
                "exnaton/trigger": "sensor",
                "exnaton/reason": (
                    f"{len(changed.muids)} meter(s) changed on days up to {last_day}"
                ),
            },
        )

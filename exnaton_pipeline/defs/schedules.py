"""The 15-minute schedule that keeps every tenant's current day fresh."""

from datetime import UTC, datetime

import dagster as dg

from exnaton_pipeline.lib.scheduling import partitions_due
from exnaton_pipeline.orchestration.partitions import partition_key, tenant_partitions
from exnaton_pipeline.orchestration.resources import TenantRegistryResource


@dg.schedule(
    cron_schedule="*/15 * * * *",
    job_name="meter_data_job",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def meter_data_schedule(context: dg.ScheduleEvaluationContext, tenants: TenantRegistryResource):
    """Every 15 minutes, one run per tenant for the current UTC day's partition.

    Also the previous UTC day during the first hour after UTC midnight (its 23:45 batch
    arrives after midnight) and after the tenant's local midnight (the local day that just
    closed). The run key carries the tick time, so every tick runs; the run queue's limit
    on `dagster/partition/tenant` keeps one run per tenant at a time, later ticks queue.
    """
    tick = context.scheduled_execution_time or datetime.now(UTC)
    known = set(tenant_partitions.get_partition_keys())
    in_partitions = [t for t in tenants.registry.tenants if t.id in known]
    for due in partitions_due(tick, in_partitions):
        key = partition_key(due.tenant_id, due.day)
        yield dg.RunRequest(
            run_key=f"{key}@{tick.astimezone(UTC):%Y-%m-%dT%H:%MZ}",
            partition_key=key,
            tags={"exnaton/trigger": "schedule", "exnaton/reason": due.reason},
        )

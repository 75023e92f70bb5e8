"""Jobs: the 15-minute tick of one tenant-day, and the per-day work of one tenant."""

import dagster as dg

from exnaton_pipeline.orchestration.partitions import tenant_days, tenant_partitions
from exnaton_pipeline.orchestration.per_day import PER_DAY_JOB

PER_DAY_ASSETS = dg.AssetSelection.assets("weekday_hour_profile", "insights")

meter_data_job = dg.define_asset_job(
    "meter_data_job",
    selection=dg.AssetSelection.all() - PER_DAY_ASSETS,
    partitions_def=tenant_days,
    # A tenant-day is small and its steps form a chain: a process per step would spend more
    # time importing than working, on every 15-minute tick for every tenant.
    executor_def=dg.in_process_executor,
    description=(
        "The 15-minute tick of one tenant-day: ingest the new objects, check them, and "
        "recompute the hourly and daily rows of the meter hours and days they changed."
    ),
)

insights_job = dg.define_asset_job(
    PER_DAY_JOB,
    selection=PER_DAY_ASSETS,
    partitions_def=tenant_partitions,
    executor_def=dg.in_process_executor,
    # 28-day windows of a large tenant take minutes, more than run monitoring's default limit
    # for a tick (dagster.yaml); one run per tenant at a time (dagster/partition limit)
    tags={"dagster/max_runtime": 3600},
    description=(
        "The per-day work of one tenant: weekday_hour_profile and insights over 28-day "
        "windows, for the meters whose days changed, once a local day is over."
    ),
)

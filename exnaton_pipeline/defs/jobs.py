"""Jobs: the whole pipeline for one tenant-day partition."""

import dagster as dg

from exnaton_pipeline.orchestration.partitions import tenant_days

meter_data_job = dg.define_asset_job(
    "meter_data_job",
    selection=dg.AssetSelection.all(),
    partitions_def=tenant_days,
    # A tenant-day is small and its steps form a chain: a process per step would spend more
    # time importing than working, on every 15-minute tick for every tenant.
    executor_def=dg.in_process_executor,
    description="Ingest, validate and aggregate one tenant-day: every asset and its checks.",
)

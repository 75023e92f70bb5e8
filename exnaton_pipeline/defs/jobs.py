"""Jobs: the whole pipeline for one tenant-day partition."""

import dagster as dg

from exnaton_pipeline.defs.partitions import tenant_days

meter_data_job = dg.define_asset_job(
    "meter_data_job",
    selection=dg.AssetSelection.all(),
    partitions_def=tenant_days,
    description="Ingest, validate and aggregate one tenant-day: every asset and its checks.",
)

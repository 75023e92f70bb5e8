"""Partitions: tenant x UTC day. A day partition is one unit of ingestion work.

Multi-partition keys join dimensions alphabetically: `2023-02-01|demo`.
"""

from datetime import date

import dagster as dg

from exnaton_pipeline.lib import settings
from exnaton_pipeline.lib.tenants import load_registry

FIRST_DAY = "2023-02-01"

tenant_partitions = dg.StaticPartitionsDefinition(load_registry(settings.tenants_file()).ids)
# end_offset=1: today's partition exists while today's readings are still arriving
day_partitions = dg.DailyPartitionsDefinition(start_date=FIRST_DAY, end_offset=1)
tenant_days = dg.MultiPartitionsDefinition({"tenant": tenant_partitions, "date": day_partitions})


def partition_key(tenant_id: str, day: date) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"tenant": tenant_id, "date": day.isoformat()})


def tenant_and_day(context: dg.AssetExecutionContext) -> tuple[str, date]:
    keys = context.partition_key.keys_by_dimension
    return keys["tenant"], date.fromisoformat(keys["date"])

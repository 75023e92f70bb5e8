"""Partitions: tenant x UTC day. A day partition is one unit of ingestion work.

Multi-partition keys join dimensions alphabetically: `2023-02-01|demo`. Also what every
tenant-day step shares: its asset decorator and its tenant, day and warehouse transaction.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import dagster as dg

from exnaton_pipeline.lib import settings
from exnaton_pipeline.lib.tenants import Tenant, load_registry
from exnaton_pipeline.lib.warehouse.database import Connection, transaction
from exnaton_pipeline.orchestration.resources import TenantRegistryResource, WarehouseResource
from exnaton_pipeline.orchestration.retries import TRANSIENT_RETRY, retry_only_transient

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


OWNERS = ["team:data-platform"]


def tenant_day_asset(
    *, group_name: str, kinds: set[str], **kwargs: Any
) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """`dg.asset` for a table written per tenant-day partition, owned by the data platform,
    retried on transient S3 and database errors (see `retries`)."""
    return dg.asset(
        partitions_def=tenant_days,
        group_name=group_name,
        kinds=kinds,
        owners=OWNERS,
        retry_policy=TRANSIENT_RETRY,
        **kwargs,
    )


@contextmanager
def tenant_day_transaction(
    context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    tenants: TenantRegistryResource,
) -> Iterator[tuple[Tenant, date, Connection]]:
    """The partition's tenant and UTC day, and a warehouse transaction; only transient errors
    in it are left to the step's retry policy."""
    tenant_id, day = tenant_and_day(context)
    with retry_only_transient():
        tenant = tenants.tenant(tenant_id)
        with transaction(warehouse.url(tenant)) as conn:
            yield tenant, day, conn

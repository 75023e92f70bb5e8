"""Ingestion assets: raw meter objects from the source, validated into the readings table."""

import dagster as dg

from exnaton_pipeline.lib.ingestion import ingest
from exnaton_pipeline.lib.warehouse import tables
from exnaton_pipeline.orchestration.catalog import readings_metadata, table_metadata
from exnaton_pipeline.orchestration.partitions import tenant_and_day, tenant_day_asset
from exnaton_pipeline.orchestration.resources import (
    SourceResource,
    TenantRegistryResource,
    WarehouseResource,
)
from exnaton_pipeline.orchestration.retries import transient_retries


class RawReadingsConfig(dg.Config):
    reprocess: bool = False
    """Read every object of the day again, ignoring the manifest (repairs, rule changes)."""


@tenant_day_asset(group_name="ingestion", kinds={"s3", "pandas"}, deps=["tenant_schema"])
def raw_meter_readings(
    context: dg.AssetExecutionContext,
    config: RawReadingsConfig,
    source: SourceResource,
    warehouse: WarehouseResource,
    tenants: TenantRegistryResource,
) -> ingest.RawBatch:
    """Meter API responses delivered for one tenant and UTC day, parsed into readings.

    Source: `<source>/<tenant prefix>/<YYYY-MM-DD>/*.json`, each object one API response of
    one or many meters. Only objects whose key and ETag are not in the manifest are read, so
    a 15-minute tick costs what is new. Every OBIS key of a record becomes its own reading;
    records that cannot be read are kept as rejections with their object key.
    """
    tenant_id, day = tenant_and_day(context)
    tenant = tenants.tenant(tenant_id)
    src = source.get_source()
    with transient_retries(context):
        batch = ingest.collect(src, warehouse.url(), tenant, day, reprocess=config.reprocess)
        if not batch.listed and not src.has_prefix(tenant.source_prefix):
            # an absent day folder is just "nothing delivered yet"; an absent tenant prefix is
            # a misconfigured tenant or source, and must not pass as "nothing new" forever
            raise dg.Failure(
                description=(
                    f"tenant {tenant.id}: nothing exists under its source prefix "
                    f"{src.describe()}/{tenant.source_prefix}/ -- check source_prefix in the "
                    "tenant registry and EXNATON_SOURCE_URL"
                ),
                allow_retries=False,
            )
    if batch.unreadable:
        context.log.warning(
            f"could not fetch {len(batch.unreadable)} object(s): {batch.unreadable}"
        )
    context.add_output_metadata(
        {
            "source": dg.MetadataValue.text(f"{src.describe()}/{ingest.day_prefix(tenant, day)}/"),
            "objects_listed": batch.listed,
            "objects_new": len(batch.objects),
            "objects_unreadable": len(batch.unreadable),
            "readings_parsed": len(batch.readings),
            "records_refused": len(batch.rejects),
        }
    )
    return batch


@tenant_day_asset(
    group_name="warehouse",
    kinds={"postgres", "pandas"},
    metadata=table_metadata(tables.meter_readings),
)
def meter_readings(
    context: dg.AssetExecutionContext,
    raw_meter_readings: ingest.RawBatch,
    warehouse: WarehouseResource,
    tenants: TenantRegistryResource,
) -> dg.MaterializeResult:
    """Validated 15-minute readings in `tenant_<id>.meter_readings`: kWh per interval, UTC start.

    A TimescaleDB hypertable where the extension exists, else a monthly range-partitioned
    table. Rows failing the pandera contract go to `rejected_readings` with rule and source
    object; re-delivered objects update the rows they correct; re-running changes nothing.
    """
    tenant = tenants.tenant(raw_meter_readings.tenant_id)
    with transient_retries(context):
        result = ingest.store(warehouse.url(), tenant, raw_meter_readings, context.run.run_id)
        catalog = readings_metadata(warehouse.url(), tenant, raw_meter_readings.day)
    context.log.info(
        f"{tenant.schema}.meter_readings ({result.storage}): {result.inserted} inserted, "
        f"{result.updated} updated, {result.unchanged} unchanged, {result.rejected} rejected"
    )
    if result.rejected:
        context.log.warning(f"rejected readings by rule: {result.rules}")
    return dg.MaterializeResult(
        metadata={
            "storage": result.storage,
            "rows_read": result.read,
            "rows_written": result.written,
            "rows_inserted": result.inserted,
            "rows_updated": result.updated,
            "rows_rejected": result.rejected,
            "rejected_by_rule": dg.MetadataValue.json(result.rules),
            "objects_ingested": result.objects,
            **catalog,
        }
    )

"""Ingestion assets: raw meter objects from the source, validated into the readings table."""

from collections.abc import Iterator

import dagster as dg

from exnaton_pipeline.lib.energy.analytics import local_days
from exnaton_pipeline.lib.ingestion import ingest
from exnaton_pipeline.lib.warehouse import stale, tables
from exnaton_pipeline.lib.warehouse.database import transaction
from exnaton_pipeline.orchestration.catalog import readings_metadata, table_metadata
from exnaton_pipeline.orchestration.freshness import TICK_FRESHNESS
from exnaton_pipeline.orchestration.partitions import tenant_and_day, tenant_day_asset
from exnaton_pipeline.orchestration.resources import (
    SourceResource,
    TenantRegistryResource,
    WarehouseResource,
)
from exnaton_pipeline.orchestration.retries import retry_only_transient

IGNORED_SHOWN = 20


class RawReadingsConfig(dg.Config):
    reprocess: bool = False
    """Read every object of the day again, ignoring the manifest (repairs, rule changes)."""
    recompute: bool = False
    """Recompute the hourly and daily rows of the local days this UTC day touches, for every
    meter, even when nothing new arrived (after a tariff change or a repair)."""


@tenant_day_asset(
    group_name="ingestion",
    kinds={"s3"},
    deps=["tenant_schema"],
    output_required=False,
    freshness_policy=TICK_FRESHNESS,
)
def raw_meter_readings(
    context: dg.AssetExecutionContext,
    config: RawReadingsConfig,
    source: SourceResource,
    warehouse: WarehouseResource,
    tenants: TenantRegistryResource,
) -> Iterator[dg.Output[ingest.NewObjects] | dg.AssetObservation]:
    """Meter API responses delivered for one tenant and UTC day and not yet ingested.

    Source: `<source>/<tenant prefix>/<YYYY-MM-DD>/*.json`, each object one API response of
    one or many meters. Only objects whose key and version (ETag) are not in the manifest are
    handed on, so a 15-minute tick costs what is new; objects that are not `*.json` are
    listed as ignored, never read. Ingested objects the source no longer lists are marked
    withdrawn in the manifest (their readings stay; the checks judge only current objects).
    A tick with nothing new, nothing withdrawn and nothing left to aggregate is recorded as an
    observation and stops here: the steps after it are skipped. Fresh: listed every 15
    minutes by the schedule.
    """
    tenant_id, day = tenant_and_day(context)
    with retry_only_transient():
        tenant = tenants.tenant(tenant_id)
        src = source.get_source()
        new = ingest.list_new_objects(src, warehouse.url(tenant), tenant, day, config.reprocess)
        if not new.listed and not src.has_prefix(tenant.source_prefix):
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
        withdrawals = ingest.withdraw_missing(warehouse.url(tenant), tenant, new)
        with transaction(warehouse.url(tenant)) as conn:
            if config.recompute:
                days = local_days(day, tenant.zone)
                first, last = days[0], days[-1]
                hours = stale.mark_local_days(conn, tenant.schema, tenant.timezone, first, last)
                context.log.info(f"recompute: {hours} meter hours of {first}..{last} queued")
            pending = stale.aggregation_pending(conn, tenant.schema)
    if withdrawals.withdrawn:
        context.log.warning(
            f"{len(withdrawals.withdrawn)} ingested object(s) are no longer in the source and "
            f"are marked withdrawn (their readings stay stored): {withdrawals.withdrawn[:5]}"
        )
    if new.ignored:
        context.log.warning(f"ignored {len(new.ignored)} object(s) that are not *.json")
    metadata = {
        "source": dg.MetadataValue.text(f"{src.describe()}/{ingest.day_prefix(tenant, day)}/"),
        "objects_listed": new.listed,
        "objects_new": len(new.objects),
        "objects_ignored": len(new.ignored),
        "ignored": dg.MetadataValue.json(new.ignored[:IGNORED_SHOWN]),
        "objects_withdrawn": len(withdrawals.withdrawn),
        "objects_restored": len(withdrawals.restored),
        "withdrawn": dg.MetadataValue.json(withdrawals.withdrawn[:IGNORED_SHOWN]),
    }
    changed = new.objects or withdrawals.withdrawn or withdrawals.restored
    if not changed and not pending:
        context.log.info("nothing new and nothing to aggregate: the run stops here")
        yield dg.AssetObservation(
            asset_key=context.asset_key, partition=context.partition_key, metadata=metadata
        )
        return
    yield dg.Output(new, metadata=metadata)


@tenant_day_asset(
    group_name="warehouse",
    kinds={"postgres", "pandas"},
    metadata=table_metadata(tables.meter_readings),
    freshness_policy=TICK_FRESHNESS,
)
def meter_readings(
    context: dg.AssetExecutionContext,
    raw_meter_readings: ingest.NewObjects,
    source: SourceResource,
    warehouse: WarehouseResource,
    tenants: TenantRegistryResource,
) -> dg.MaterializeResult:
    """Validated 15-minute readings in `tenant_<id>.meter_readings`: kWh per interval, UTC start.

    A TimescaleDB hypertable where the extension exists, else a monthly range-partitioned
    table. Rows failing the pandera contract go to `rejected_readings` with rule, source
    object and raw record; an object that cannot be parsed at all is one rejection holding its
    first bytes. Re-delivered objects update the rows they correct; re-running changes nothing.
    Source: the new objects `raw_meter_readings` lists.
    """
    new = raw_meter_readings
    with retry_only_transient():
        tenant = tenants.tenant(new.tenant_id)
        result = ingest.ingest_objects(
            source.get_source(), warehouse.url(tenant), tenant, new, context.run.run_id
        )
        catalog = readings_metadata(warehouse.url(tenant), tenant, new.day)
    context.log.info(
        f"{tenant.schema}.meter_readings ({result.storage}): {result.inserted} inserted, "
        f"{result.updated} updated, {result.unchanged} unchanged, {result.rejected} rejected"
    )
    if result.rejected:
        context.log.warning(f"rejected readings by rule: {result.rules}")
    if result.unreadable:
        # The others are stored; these stay out of the manifest, so the partition's next run
        # lists the day again and reads them. A retry of this step would not: its list of
        # objects is fixed, and botocore has already retried each call.
        raise dg.Failure(
            description=(
                f"{len(result.unreadable)} of {len(new.objects)} new object(s) could not be "
                f"fetched and are not ingested yet: {', '.join(result.unreadable[:5])}; the "
                "next run of this partition reads them again"
            ),
            metadata={"unreadable": dg.MetadataValue.json(result.unreadable)},
            allow_retries=False,
        )
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

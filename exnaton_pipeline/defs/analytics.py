"""Analytics assets: energy, cost and insights per meter in each tenant's local time.

Two cadences (docs/analytics.md, "What a tick recomputes"). `hourly_energy` and
`daily_energy` run in every tick of the `meter_data_job` and recompute only the meter hours
and days whose readings changed. `weekday_hour_profile` and `insights` cover 28-day windows;
the `insights_job` recomputes them once per settled local day, for the meters whose days
changed, when the `insights_sensor` asks.
"""

from datetime import UTC, date, datetime

import dagster as dg

from exnaton_pipeline.lib.energy import analytics, community
from exnaton_pipeline.lib.energy.insights import refresh_insights
from exnaton_pipeline.lib.scheduling import last_settled_day
from exnaton_pipeline.lib.warehouse import stale, tables
from exnaton_pipeline.lib.warehouse.database import transaction
from exnaton_pipeline.orchestration.catalog import table_metadata
from exnaton_pipeline.orchestration.freshness import DAY_FRESHNESS, TICK_FRESHNESS
from exnaton_pipeline.orchestration.partitions import (
    OWNERS,
    tenant_day_asset,
    tenant_day_transaction,
    tenant_days,
    tenant_partitions,
)
from exnaton_pipeline.orchestration.per_day import PER_DAY_STEP
from exnaton_pipeline.orchestration.resources import TenantRegistryResource, WarehouseResource
from exnaton_pipeline.orchestration.retries import TRANSIENT_RETRY, retry_only_transient


def _recomputed_metadata(tenant_id: str, timezone: str, result: analytics.Recomputed) -> dict:
    return {
        "tenant": tenant_id,
        "timezone": timezone,
        "keys_recomputed": result.keys,
        "local_days_recomputed": ", ".join(d.isoformat() for d in result.local_days),
        "rows_deleted": result.rows_deleted,
        "rows_written": result.rows_written,
    }


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "hourly_energy",
            group_name="analytics",
            kinds={"postgres"},
            owners=OWNERS,
            deps=["meter_readings"],
            metadata=table_metadata(tables.hourly_energy),
            freshness_policy=TICK_FRESHNESS,
            description=(
                "Energy and money per meter and LOCAL hour in `tenant_<id>.hourly_energy`: "
                "import and export kWh, the import split into high/low tariff band (priced per "
                "15-minute interval by the tenant's plan version of the local day), cost, "
                "feed-in credit, the readings present and the largest import. Source: "
                "`meter_readings`, only the meter hours whose readings this run (or a failed "
                "earlier one) inserted or corrected. A DST day has 23 or 25 hours; hours never "
                "mix days. Fresh: within the 15-minute tick that delivered the readings."
            ),
        ),
        dg.AssetSpec(
            "community_energy",
            group_name="analytics",
            kinds={"postgres"},
            owners=OWNERS,
            deps=["meter_readings"],
            metadata=table_metadata(tables.community_energy),
            freshness_policy=TICK_FRESHNESS,
            description=(
                "The tenant as one energy community: all meters' import and export per quarter "
                "hour, and the consumption the members' own feed-in covered in the same quarter "
                "hour (the community view). Source: `meter_readings`, the quarter hours of the "
                "hours whose readings this run changed (the same queue as `hourly_energy`, "
                "taken once for both). Fresh: within the 15-minute tick that delivered the "
                "readings."
            ),
        ),
    ],
    partitions_def=tenant_days,
    retry_policy=TRANSIENT_RETRY,
    name="hourly_energy",
)
def hourly_tables(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    tenants: TenantRegistryResource,
):
    """The hour-grain tables of the meter hours whose readings changed, in one transaction."""
    with tenant_day_transaction(context, warehouse, tenants) as (tenant, _, conn):
        result = analytics.refresh_hourly_energy(conn, tenant)
        shared = community.refresh_community_energy(conn, tenant, result.spans)
    yield dg.MaterializeResult(
        asset_key="hourly_energy",
        metadata=_recomputed_metadata(tenant.id, tenant.timezone, result),
    )
    yield dg.MaterializeResult(
        asset_key="community_energy",
        metadata={
            "tenant": tenant.id,
            "spans": len(shared.spans),
            "quarter_hours": shared.quarter_hours,
            "rows_written": shared.rows_written,
            "rows_deleted": shared.rows_deleted,
        },
    )


@tenant_day_asset(
    group_name="analytics",
    kinds={"postgres"},
    deps=["hourly_energy"],
    metadata=table_metadata(tables.daily_energy),
    freshness_policy=TICK_FRESHNESS,
)
def daily_energy(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    tenants: TenantRegistryResource,
) -> dg.MaterializeResult:
    """Energy, cost and peak demand per meter and LOCAL day in `tenant_<id>.daily_energy`.

    What a customer's bill and daily chart are built from: import, export, high/low tariff
    split, cost, feed-in credit, the largest 15-minute demand (kW) and when, and how many of
    the day's quarter hours (92/96/100) were measured. A day without readings has no row; a
    day with gaps is stored as measured and marked complete = false. Rolled up from
    `hourly_energy` for the meter days whose hours this run recomputed. Fresh: within the
    15-minute tick that delivered the readings.
    """
    with tenant_day_transaction(context, warehouse, tenants) as (tenant, _, conn):
        result = analytics.refresh_daily_energy(conn, tenant)
        incomplete = analytics.incomplete_days(conn, tenant.schema, result.local_days)
    return dg.MaterializeResult(
        metadata={
            **_recomputed_metadata(tenant.id, tenant.timezone, result),
            "incomplete_meter_days": incomplete,
        }
    )


class PerDayConfig(dg.Config):
    last_day: str = ""
    """Local day (YYYY-MM-DD) the 28-day windows end at; empty: the tenant's last settled day."""
    all_meters: bool = False
    """Recompute every meter, not only those whose days changed (repairs, rule changes)."""


# Every day partition of a tenant feeds its tenant partition of the per-day assets.
_ALL_DAYS_OF_TENANT = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="tenant")


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "weekday_hour_profile",
            group_name="analytics",
            kinds={"postgres"},
            owners=OWNERS,
            deps=[dg.AssetDep("hourly_energy", partition_mapping=_ALL_DAYS_OF_TENANT)],
            metadata=table_metadata(tables.weekday_hour_profile),
            freshness_policy=DAY_FRESHNESS,
            description=(
                "Each meter's typical week: average kWh per ISO weekday and local hour (the "
                "heatmap), over its trailing 28 local days ending at the tenant's last settled "
                "day, from `hourly_energy`. Recomputed once per local day for the meters whose "
                "days changed. Fresh: within 30 minutes after each local day ends."
            ),
        ),
        dg.AssetSpec(
            "insights",
            group_name="analytics",
            kinds={"postgres", "pandas"},
            owners=OWNERS,
            deps=[
                dg.AssetDep("daily_energy", partition_mapping=_ALL_DAYS_OF_TENANT),
                dg.AssetDep("meter_readings", partition_mapping=_ALL_DAYS_OF_TENANT),
            ],
            metadata=table_metadata(tables.insights),
            freshness_policy=DAY_FRESHNESS,
            description=(
                "Findings per meter, each a plain sentence with the numbers, for the customer "
                "dashboard: base load and its yearly cost, peak demand, high-tariff share and "
                "the saving from shifting load, weekday vs weekend, unusual days, repetition, "
                "feed-in and its value, self-consumption and self-sufficiency per installation, "
                "days with missing readings. Over each meter's trailing 28 local days ending at "
                "the tenant's last settled day, from `daily_energy` and the 15-minute "
                "`meter_readings`. Recomputed once per local day for the meters whose days "
                "changed. Fresh: within 30 minutes after each local day ends."
            ),
        ),
    ],
    partitions_def=tenant_partitions,
    retry_policy=TRANSIENT_RETRY,
    name=PER_DAY_STEP,
)
def per_day_analytics(
    context: dg.AssetExecutionContext,
    config: PerDayConfig,
    warehouse: WarehouseResource,
    tenants: TenantRegistryResource,
):
    """The 28-day window work of one tenant, once its local day is over."""
    with retry_only_transient():
        tenant = tenants.tenant(context.partition_key)
        last_day = (
            date.fromisoformat(config.last_day)
            if config.last_day
            else last_settled_day(datetime.now(UTC), tenant)
        )
        with transaction(warehouse.url(tenant)) as conn:
            changed = stale.changed_windows(conn, tenant.schema, last_day)
            muids = None if config.all_meters else changed.muids
            profile = analytics.refresh_weekday_hour_profile(conn, tenant, muids, last_day)
            found = refresh_insights(conn, tenant, muids, last_day)
        if changed.newest_mark is not None:
            with transaction(warehouse.url(tenant)) as conn:
                stale.clear_windows(conn, tenant.schema, last_day, changed.newest_mark)
    scope = {
        "tenant": tenant.id,
        "last_day": last_day.isoformat(),
        "meters_changed": "all" if muids is None else len(muids),
    }
    yield dg.MaterializeResult(
        asset_key="weekday_hour_profile",
        metadata={
            **scope,
            "meters": len(profile.windows),
            "rows_written": profile.rows_written,
            "window_days": analytics.WINDOW_DAYS,
        },
    )
    yield dg.MaterializeResult(
        asset_key="insights",
        metadata={
            **scope,
            "meters": found.meters,
            "rows_written": found.rows,
            "warnings": found.warnings,
            "by_kind": dg.MetadataValue.json(found.by_kind),
        },
    )

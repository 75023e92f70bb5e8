"""Analytics assets: energy, cost and insights per meter in each tenant's local time."""

import dagster as dg

from exnaton_pipeline.lib.energy import analytics, community
from exnaton_pipeline.lib.energy.insights import refresh_insights
from exnaton_pipeline.lib.warehouse import tables
from exnaton_pipeline.orchestration.catalog import table_metadata
from exnaton_pipeline.orchestration.partitions import tenant_day_asset, tenant_day_transaction
from exnaton_pipeline.orchestration.resources import TenantRegistryResource, WarehouseResource


def _local_day_metadata(tenant_id: str, timezone: str, result: analytics.Recomputed) -> dict:
    return {
        "tenant": tenant_id,
        "timezone": timezone,
        "local_days_recomputed": ", ".join(d.isoformat() for d in result.local_days),
        "rows_deleted": result.rows_deleted,
        "rows_written": result.rows_written,
    }


@tenant_day_asset(
    group_name="analytics",
    kinds={"postgres"},
    deps=["meter_readings"],
    metadata=table_metadata(tables.hourly_energy),
)
def hourly_energy(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    tenants: TenantRegistryResource,
) -> dg.MaterializeResult:
    """Energy and money per meter and LOCAL hour in `tenant_<id>.hourly_energy`.

    Import and export kWh, the import split into high/low tariff band (priced per 15-minute
    interval by the tenant's plan in its time zone), cost, feed-in credit and the number of
    readings present. Source: `meter_readings`. A UTC day touches two local days; both are
    recomputed whole, so a DST day has 23 or 25 rows per meter and hours never mix days.
    """
    with tenant_day_transaction(context, warehouse, tenants) as (tenant, day, conn):
        result = analytics.refresh_hourly_energy(conn, tenant, day)
    return dg.MaterializeResult(metadata=_local_day_metadata(tenant.id, tenant.timezone, result))


@tenant_day_asset(
    group_name="analytics",
    kinds={"postgres"},
    deps=["meter_readings"],
    metadata=table_metadata(tables.daily_energy),
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
    day with gaps is stored as measured and marked complete = false. Source: `meter_readings`.
    """
    with tenant_day_transaction(context, warehouse, tenants) as (tenant, day, conn):
        result = analytics.refresh_daily_energy(conn, tenant, day)
        incomplete = analytics.incomplete_days(conn, tenant.schema, result.local_days)
    return dg.MaterializeResult(
        metadata={
            **_local_day_metadata(tenant.id, tenant.timezone, result),
            "incomplete_meter_days": incomplete,
        }
    )


@tenant_day_asset(
    group_name="analytics",
    kinds={"postgres"},
    deps=["meter_readings"],
    metadata=table_metadata(tables.community_energy),
)
def community_energy(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    tenants: TenantRegistryResource,
) -> dg.MaterializeResult:
    """The tenant as one energy community: all meters' import and export per quarter hour,
    and the consumption the members' own feed-in covered in the same quarter hour.

    What the dashboard's community view shows (totals, the share covered by members, the
    chart). Source: `meter_readings`. Recomputes the local days its UTC day touches; a
    quarter hour whose sums did not change is not written.
    """
    with tenant_day_transaction(context, warehouse, tenants) as (tenant, day, conn):
        result = community.refresh_community_energy(
            conn, tenant, analytics.local_days(day, tenant.zone)
        )
    return dg.MaterializeResult(
        metadata={
            "tenant": tenant.id,
            "local_days_recomputed": ", ".join(d.isoformat() for d in result.local_days),
            "quarter_hours": result.quarter_hours,
            "rows_written": result.rows_written,
            "rows_deleted": result.rows_deleted,
        }
    )


@tenant_day_asset(
    group_name="analytics",
    kinds={"postgres"},
    deps=[hourly_energy, daily_energy],
    metadata=table_metadata(tables.weekday_hour_profile),
)
def weekday_hour_profile(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    tenants: TenantRegistryResource,
) -> dg.MaterializeResult:
    """Each meter's typical week: average kWh per ISO weekday and local hour (the heatmap).

    Recomputed for the whole tenant whenever one of its partitions runs, over each meter's
    trailing 28 local days (ending at its newest day), from `hourly_energy`.
    """
    with tenant_day_transaction(context, warehouse, tenants) as (tenant, _, conn):
        result = analytics.refresh_weekday_hour_profile(conn, tenant)
    return dg.MaterializeResult(
        metadata={
            "tenant": tenant.id,
            "meters": len(result.windows),
            "rows_written": result.rows_written,
            "window_days": analytics.WINDOW_DAYS,
            "newest_local_day": str(max((w.end for w in result.windows), default="")),
        }
    )


@tenant_day_asset(
    group_name="analytics",
    kinds={"postgres", "pandas"},
    deps=[daily_energy, "meter_readings"],
    metadata=table_metadata(tables.insights),
)
def insights(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    tenants: TenantRegistryResource,
) -> dg.MaterializeResult:
    """Findings per meter, each a plain sentence with the numbers, for the customer dashboard.

    Base load and its yearly cost, peak demand, high-tariff share and the saving from shifting
    load, weekday vs weekend, unusual days, daily/weekly repetition, feed-in and its value,
    self-consumption and self-sufficiency per installation, and days with missing readings.
    Recomputed for the whole tenant over each meter's trailing 28 local days, from
    `daily_energy` and the 15-minute `meter_readings`.
    """
    with tenant_day_transaction(context, warehouse, tenants) as (tenant, _, conn):
        result = refresh_insights(conn, tenant)
    return dg.MaterializeResult(
        metadata={
            "tenant": tenant.id,
            "meters": result.meters,
            "rows_written": result.rows,
            "warnings": result.warnings,
            "by_kind": dg.MetadataValue.json(result.by_kind),
        }
    )

"""Warehouse setup: each tenant's schema at the newest migration, and its read-only role."""

import dagster as dg

from exnaton_pipeline.lib.warehouse import migrate, roles
from exnaton_pipeline.lib.warehouse.database import transaction
from exnaton_pipeline.lib.warehouse.tenant_schema import lock_tenant, set_compression
from exnaton_pipeline.orchestration.partitions import tenant_and_day, tenant_day_asset
from exnaton_pipeline.orchestration.resources import TenantRegistryResource, WarehouseResource
from exnaton_pipeline.orchestration.retries import retry_only_transient


@tenant_day_asset(group_name="warehouse", kinds={"postgres"})
def tenant_schema(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    tenants: TenantRegistryResource,
) -> dg.MaterializeResult:
    """The tenant's schema `tenant_<id>` at the newest migration, and its dashboard's role,
    on the tenant's warehouse server (its registry `warehouse_env`, else the shared one).

    Runs first in every run of the tenant, so the steps after it find every table as
    lib/warehouse/tables.py declares it: a new tenant gets its tables, a schema of an older
    release is upgraded (one of the first release adopted), one at head costs a lookup. Then
    creates or updates the read-only role `tenant_<id>_reader` and its grants. Reports the
    storage of `meter_readings`: a TimescaleDB hypertable or monthly range partitions, and on
    TimescaleDB keeps its compression policy at the registry's `compress_after_days`.
    """
    tenant_id, _ = tenant_and_day(context)
    tenant = tenants.tenant(tenant_id)
    with retry_only_transient():
        url = warehouse.url(tenant)
        migrated = migrate.migrate_tenant(url, tenant)
        with transaction(url) as conn:
            lock_tenant(conn, tenant.schema)  # grants of two runs at once would collide
            reader = roles.ensure_reader_role(conn, tenant.schema)
            compression = set_compression(conn, tenant.schema, tenant.compress_after_days)
    if migrated.from_revision != migrated.to_revision:
        context.log.info(
            f"{tenant.schema}: migrated from {migrated.from_revision or 'no version'} "
            f"to {migrated.to_revision}"
        )
    return dg.MaterializeResult(
        metadata={
            "schema": migrated.schema,
            "storage": migrated.storage,
            "compression": compression,
            "revision": migrated.to_revision,
            "previous_revision": migrated.from_revision or "none",
            "reader_role": reader.name,
            "reader_password": reader.password_source,
        }
    )

"""Resource classes shared by the assets: the warehouse, the raw-object source and the registry."""

from functools import cached_property

import dagster as dg
from dagster_aws.s3 import S3Resource

from exnaton_pipeline.lib import settings
from exnaton_pipeline.lib.ingestion.source import Source, open_source
from exnaton_pipeline.lib.tenants import Registry, Tenant, load_registry
from exnaton_pipeline.lib.warehouse import database


class WarehouseResource(dg.ConfigurableResource):
    """The PostgreSQL/TimescaleDB warehouse. Empty URL: EXNATON_DATABASE_URL, else embedded."""

    database_url: str = ""

    def url(self) -> str:
        return self.database_url or database.warehouse_url()


class SourceResource(dg.ConfigurableResource):
    """Raw meter objects: `s3://bucket/prefix` (read with dagster-aws) or a local folder.

    Empty URL: EXNATON_SOURCE_URL, else `$EXNATON_HOME/source`. The S3 endpoint comes from
    AWS_ENDPOINT_URL (MinIO, moto), credentials from the usual AWS variables.
    """

    source_url: str = ""
    s3: dg.ResourceDependency[S3Resource]

    def get_source(self) -> Source:
        return open_source(self.source_url or settings.source_url(), self.s3.get_client)


class TenantRegistryResource(dg.ConfigurableResource):
    """The tenant registry file (EXNATON_TENANTS_FILE, default tenants.yaml)."""

    path: str = ""

    @cached_property
    def registry(self) -> Registry:
        return load_registry(self.path or settings.tenants_file())

    def tenant(self, tenant_id: str) -> Tenant:
        return self.registry.get(tenant_id)

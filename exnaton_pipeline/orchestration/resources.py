"""Resource classes shared by the assets: the warehouse, the raw-object source and the registry.

The code location builds them with the effective settings of its environment (defs/resources.py),
so the UI's resource view shows where each one points; secrets are never part of them.
"""

from functools import cached_property
from typing import Any

import dagster as dg
from pydantic import Field

from exnaton_pipeline.lib import settings
from exnaton_pipeline.lib.ingestion.source import Source, open_source, s3_client
from exnaton_pipeline.lib.tenants import Registry, Tenant, load_registry
from exnaton_pipeline.lib.warehouse import database


class WarehouseResource(dg.ConfigurableResource):
    """The PostgreSQL/TimescaleDB warehouse servers, one per tenant.

    A tenant whose registry entry names `warehouse_env` lives on the server in that variable;
    every other tenant on the shared warehouse: `database_url` when set (tests), else
    EXNATON_DATABASE_URL, else the embedded server. URLs are resolved when first used, so
    passwords stay in the environment; `server` says where the shared one is, password hidden.
    """

    database_url: str = ""
    server: str = Field(
        default="",
        description="Where the shared warehouse URL from the environment points (password "
        "hidden); tenants with `warehouse_env` in the registry use their own server.",
    )

    def url(self, tenant: Tenant) -> str:
        """The URL of the warehouse holding `tenant`'s schema."""
        return database.tenant_warehouse_url(tenant, self.database_url or None)


class S3ClientResource(dg.ConfigurableResource):
    """Client of the S3 (or S3-compatible) store holding the raw objects.

    Credentials come from the usual AWS variables, profile or role. dagster-aws's S3Resource
    cannot set timeouts, and without them a silent endpoint stalls a step for minutes.
    """

    endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint (MinIO, moto); none: AWS itself."
    )
    connect_timeout: float = Field(default=5.0, description="Seconds to wait for a connection.")
    read_timeout: float = Field(default=20.0, description="Seconds to wait for the next bytes.")
    max_attempts: int = Field(
        default=3, description="Attempts of one call, the first included (botocore retries)."
    )

    def get_client(self) -> Any:
        return s3_client(
            self.endpoint_url,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            max_attempts=self.max_attempts,
        )


class SourceResource(dg.ConfigurableResource):
    """Raw meter objects: `s3://bucket/prefix` or a local folder.

    Empty URL: EXNATON_SOURCE_URL, else `$EXNATON_HOME/source`.
    """

    source_url: str = Field(default="", description="s3://bucket/prefix or a local folder.")
    s3: dg.ResourceDependency[S3ClientResource]

    def get_source(self) -> Source:
        return open_source(self.source_url or settings.source_url(), self.s3.get_client)


class TenantRegistryResource(dg.ConfigurableResource):
    """The tenant registry file (EXNATON_TENANTS_FILE, default tenants.yaml)."""

    path: str = Field(default="", description="The tenant registry (YAML).")

    @cached_property
    def registry(self) -> Registry:
        return load_registry(self.path or settings.tenants_file())

    def tenant(self, tenant_id: str) -> Tenant:
        return self.registry.get(tenant_id)

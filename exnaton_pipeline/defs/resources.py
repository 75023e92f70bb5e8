"""The code location's resources: the warehouse, the raw-object source and the tenant registry."""

import dagster as dg
from dagster_aws.s3 import S3Resource

from exnaton_pipeline.lib import settings
from exnaton_pipeline.orchestration.resources import (
    SourceResource,
    TenantRegistryResource,
    WarehouseResource,
)


@dg.definitions
def resources() -> dg.Definitions:
    s3 = S3Resource(endpoint_url=settings.s3_endpoint_url())
    return dg.Definitions(
        resources={
            "warehouse": WarehouseResource(),
            "source": SourceResource(s3=s3),
            "tenants": TenantRegistryResource(),
        }
    )

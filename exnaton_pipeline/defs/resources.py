"""The code location's resources, with the effective settings of this environment.

Values are read when the code location loads, so the UI's resource view shows where the
source, the S3 endpoint, the registry and the warehouse are; the warehouse password stays in
the environment and is read only when a step connects.
"""

import dagster as dg

from exnaton_pipeline.lib import settings
from exnaton_pipeline.lib.warehouse import database
from exnaton_pipeline.orchestration.resources import (
    S3ClientResource,
    SourceResource,
    TenantRegistryResource,
    WarehouseResource,
)


@dg.definitions
def resources() -> dg.Definitions:
    s3 = S3ClientResource(
        endpoint_url=settings.s3_endpoint_url(),
        connect_timeout=settings.s3_connect_timeout(),
        read_timeout=settings.s3_read_timeout(),
        max_attempts=settings.s3_max_attempts(),
    )
    return dg.Definitions(
        resources={
            "warehouse": WarehouseResource(server=database.describe_warehouse()),
            "source": SourceResource(source_url=settings.source_url(), s3=s3),
            # also at the top level, so that the resource view lists its settings
            "s3": s3,
            "tenants": TenantRegistryResource(path=str(settings.tenants_file())),
        }
    )

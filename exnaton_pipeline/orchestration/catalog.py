"""What the catalog shows about `meter_readings`: its columns, a preview and the newest reading."""

from datetime import date

import dagster as dg

from exnaton_pipeline.lib.tenants import Tenant
from exnaton_pipeline.lib.warehouse import database, quality

READINGS_COLUMNS = dg.TableSchema(
    columns=[
        dg.TableColumn("muid", "uuid", "meter id (tags.muid of the API record)"),
        dg.TableColumn("obis", "char(12)", "OBIS code as delivered, e.g. 0100011D00FF"),
        dg.TableColumn(
            "register",
            "text",
            "active_import | active_export | reactive_import | reactive_export (OBIS group C)",
        ),
        dg.TableColumn("ts", "timestamptz", "start of the 15-minute interval, UTC"),
        dg.TableColumn(
            "kwh",
            "double precision",
            "energy in the interval (kvarh for reactive registers), never negative",
        ),
        dg.TableColumn("quality", "text", "measured | estimated | substituted | corrected"),
        dg.TableColumn("source_key", "text", "source object the reading came from"),
        dg.TableColumn("source_etag", "text", "version of that object"),
        dg.TableColumn("revision", "integer", "how often a re-delivery corrected the value"),
        dg.TableColumn("ingested_at", "timestamptz", "when the row was last written"),
    ],
    constraints=dg.TableConstraints(other=["PRIMARY KEY (muid, obis, ts)"]),
)


def readings_metadata(database_url: str, tenant: Tenant, day: date) -> dict[str, dg.MetadataValue]:
    """Column schema, row count and a preview of the UTC day, and the tenant's newest reading."""
    with database.transaction(database_url) as conn:
        rows = quality.stored_rows(conn, tenant.schema, day)
        sample = quality.preview(conn, tenant.schema, day)
        newest = quality.newest_reading(conn, tenant.schema)
    metadata: dict[str, dg.MetadataValue] = {
        "dagster/column_schema": dg.MetadataValue.table_schema(READINGS_COLUMNS),
        "dagster/row_count": dg.MetadataValue.int(rows),
        "preview": dg.MetadataValue.md(
            quality.markdown_table(list(sample.columns), sample.itertuples(index=False))
        ),
    }
    if newest is not None:
        metadata["newest_reading"] = dg.MetadataValue.timestamp(newest)
    return metadata

"""What the catalog shows about the tenant tables: their columns (from lib/warehouse/tables.py),
and for `meter_readings` a preview and the newest reading."""

from datetime import date

import dagster as dg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from exnaton_pipeline.lib.tenants import Tenant
from exnaton_pipeline.lib.warehouse import database, quality, tables

_POSTGRES = postgresql.dialect()


def column_schema(table: sa.Table) -> dg.TableSchema:
    """The catalog's column schema of a tenant table, from its declaration in tables.py."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                column.name,
                column.type.compile(dialect=_POSTGRES).lower(),
                column.comment,
                dg.TableColumnConstraints(
                    nullable=column.nullable,
                    other=[
                        f"CHECK ({check.sqltext})"
                        for check in column.constraints
                        if isinstance(check, sa.CheckConstraint)
                    ],
                ),
            )
            for column in table.columns
        ],
        constraints=dg.TableConstraints(
            other=[f"PRIMARY KEY ({', '.join(c.name for c in table.primary_key.columns)})"]
        ),
    )


def table_metadata(table: sa.Table) -> dict[str, dg.MetadataValue]:
    """Definition metadata of the asset that writes `table` in each tenant's schema."""
    return {"dagster/column_schema": dg.MetadataValue.table_schema(column_schema(table))}


def readings_metadata(database_url: str, tenant: Tenant, day: date) -> dict[str, dg.MetadataValue]:
    """Column schema, row count and a preview of the UTC day, and the tenant's newest reading."""
    with database.transaction(database_url) as conn:
        rows = quality.stored_rows(conn, tenant.schema, day)
        sample = quality.preview(conn, tenant.schema, day)
        newest = quality.newest_reading(conn, tenant.schema)
    metadata: dict[str, dg.MetadataValue] = {
        **table_metadata(tables.meter_readings),
        "dagster/row_count": dg.MetadataValue.int(rows),
        "preview": dg.MetadataValue.md(
            quality.markdown_table(list(sample.columns), sample.itertuples(index=False))
        ),
    }
    if newest is not None:
        metadata["newest_reading"] = dg.MetadataValue.timestamp(newest)
    return metadata

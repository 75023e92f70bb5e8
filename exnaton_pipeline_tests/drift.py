"""How a tenant schema differs from the declaration in lib/warehouse/tables.py."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from exnaton_pipeline.lib.warehouse import database, migrate, tables


def differences(url: str, schema: str) -> list:
    """alembic's compare_metadata of `schema` against tables.metadata: tables, columns, types,
    nullability, server defaults, keys, indexes and comments. Empty when they agree."""
    with database.engine(url).connect() as connection, connection.begin():
        migrate.enter_tenant(connection, schema)
        options = migrate.context_options(connection, schema)
        context = MigrationContext.configure(connection, opts=options)
        found = compare_metadata(context, tables.metadata)
        connection.rollback()  # nothing to keep: enter_tenant may have created the schema
    return found

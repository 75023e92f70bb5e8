"""Alembic environment of the tenant tables: each run migrates or compares ONE tenant schema.

Run by `migrate.migrate_tenant` (`exnaton migrate`, the tenant_schema asset), which passes an
open connection and the schema in `config.attributes`, or by alembic's command line to write
and check revisions against a tenant of the configured warehouse (docs/schema.md):

    alembic -c exnaton_pipeline/lib/warehouse/migrations/alembic.ini -x tenant=demo check

Revisions name tables without a schema: the search_path starts at the tenant's schema, and
the version table is in it.
"""

from alembic import context

from exnaton_pipeline.lib.warehouse import migrate


def run(connection, schema: str) -> None:
    context.configure(connection=connection, **migrate.context_options(connection, schema))
    with context.begin_transaction():  # inside the caller's transaction: nothing of its own
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) mode is not supported: each tenant schema is migrated live")
connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection, context.config.attributes["schema"])
else:
    arguments = context.get_x_argument(as_dictionary=True)
    with migrate.command_line_connection(arguments) as (connection, schema):
        run(connection, schema)

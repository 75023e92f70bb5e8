"""Bringing a tenant's schema to the newest migration (Alembic, one version table per tenant).

The migrations live in `migrations/versions/`; each runs inside one tenant schema: the
connection's search_path starts at it, so revisions name tables without a schema, and its
version table is `<schema>.alembic_version`. A schema created by the first release (tables,
no version table) is adopted by revision 0001, which checks its shape first.

`migrate_tenant` runs in one transaction under the tenant's lock (the one its writers take):
two processes migrating one tenant run one after the other and the second finds it at head;
a failed migration leaves the schema as it was. See docs/schema.md.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from psycopg2 import sql

from exnaton_pipeline.lib import settings
from exnaton_pipeline.lib.tenants import Tenant, load_registry
from exnaton_pipeline.lib.warehouse import database, tables, tenant_schema

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().with_name("migrations")
VERSION_TABLE = "alembic_version"
TIMESCALE_TIME_INDEX = "meter_readings_ts_idx"

# Alembic's `op` and `context` are process-wide proxies: one migration at a time per process.
_alembic = threading.Lock()


@dataclass(frozen=True)
class Migrated:
    """What migrating one tenant did."""

    schema: str
    from_revision: str | None  # None: no version table before (a new or first-release schema)
    to_revision: str
    storage: str  # meter_readings: 'timescaledb' (hypertable) or 'partitioned' (by month)


def _config(connection: sa.Connection | None = None, schema: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes.update(connection=connection, schema=schema)
    return config


def head_revision() -> str:
    """The newest revision of the tenant tables."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(connection: sa.Connection, schema: str) -> str | None:
    """The revision `schema` is at; None without a version table."""
    context = MigrationContext.configure(connection, opts={"version_table_schema": schema})
    return context.get_current_revision()


def migrate_tenant(url: str, tenant: Tenant | str, target: str = "head") -> Migrated:
    """Bring the tenant's schema (created if missing) to the newest revision; idempotent.

    `tenant` is a registry tenant or the name of its schema; `target` an older revision to
    stop at (tests of a migration start from the revision before it).
    """
    schema = tenant if isinstance(tenant, str) else tenant.schema
    with database.engine(url).connect() as connection, connection.begin():
        enter_tenant(connection, schema)
        before = current_revision(connection, schema)
        with _alembic:
            command.upgrade(_config(connection, schema), target)
        after = current_revision(connection, schema)
        storage = tenant_schema.readings_storage(connection.connection.driver_connection, schema)
    if before != after:
        log.info("migrated %s from %s to %s (%s)", schema, before or "nothing", after, storage)
    return Migrated(schema, before, after, storage)


def enter_tenant(connection: sa.Connection, schema: str) -> None:
    """In the connection's transaction: take the tenant's lock, create its schema if missing,
    and put it first on the search_path (until the transaction ends)."""
    raw = connection.connection.driver_connection
    tenant_schema.lock_tenant(raw, schema)
    with raw.cursor() as cur:
        cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        cur.execute(
            "SELECT set_config('search_path', "
            "quote_ident(%s) || ', ' || current_setting('search_path'), true)",
            (schema,),
        )


def context_options(connection: sa.Connection, schema: str) -> dict[str, Any]:
    """Alembic's `context.configure` options for one tenant schema (connection entered).

    Comparisons (autogenerate, `alembic check`, the drift test) judge the tenant's own tables
    against `tables.metadata`: not the version table, not meter_readings' monthly partitions
    (made by the writers), not tables of other schemas on the search_path, and not the time
    index of a hypertable, which TimescaleDB makes itself on (ts DESC) under the name the
    declaration gives the (ts) index of native partitioning.
    """
    with connection.connection.driver_connection.cursor() as cur:
        cur.execute(
            "SELECT c.relname, c.relkind FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition",
            (schema,),
        )
        own = dict(cur.fetchall())
    own.pop(VERSION_TABLE, None)
    hypertable = own.get("meter_readings") == "r"

    def include_name(name: str | None, type_: str, parent_names: Mapping[str, Any]) -> bool:
        return type_ != "table" or name in own or name in tables.metadata.tables

    def include_object(item: Any, name: str | None, type_: str, *_: Any) -> bool:
        return not (hypertable and type_ == "index" and name == TIMESCALE_TIME_INDEX)

    return {
        "target_metadata": tables.metadata,
        "version_table_schema": schema,
        "include_name": include_name,
        "include_object": include_object,
        "compare_server_default": True,
    }


@contextmanager
def command_line_connection(x_arguments: Mapping[str, str]) -> Iterator[tuple[sa.Connection, str]]:
    """For alembic's own command line (`alembic -c <migrations>/alembic.ini -x tenant=demo
    check`): the tenant's warehouse, its schema entered, committed at the end."""
    tenant_id = x_arguments.get("tenant")
    if not tenant_id:
        raise SystemExit("name the tenant whose schema to compare or migrate: -x tenant=<id>")
    tenant = load_registry(settings.tenants_file()).get(tenant_id)
    url = database.tenant_warehouse_url(tenant)
    with database.engine(url).connect() as connection, connection.begin():
        enter_tenant(connection, tenant.schema)
        yield connection, tenant.schema

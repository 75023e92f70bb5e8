"""Moving a tenant to another warehouse server: tenants are the shard key, and a tenant's
schema is the unit that moves (docs/deploy.md, "Sharding tenants over servers").

`move_tenant` copies every declared table of the tenant's schema from its current server to
the target with COPY, table by table, in one transaction on the target, while it holds the
tenant's lock on the source (the lock every writer of the tenant takes, so no run changes
the tenant's data while it is read). Before committing it compares each table's figures on
both sides -- row count and an order-independent checksum of every column -- and rolls back
on any difference. The target schema is created by the migrations, so the copy works
between PostgreSQL versions and between storage kinds (a TimescaleDB hypertable, whose
chunks a `pg_dump -n` of the schema would miss, and native monthly partitions). The source
schema is left as it was: the registry change makes the target the tenant's warehouse, and
the old schema is dropped by hand once the tenant runs on its new server.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from psycopg2 import sql

from exnaton_pipeline.lib.tenants import Tenant
from exnaton_pipeline.lib.warehouse import database, migrate, roles, tables, tenant_schema

# Tables are spooled through memory up to this size, then through a temporary file.
SPOOL_BYTES = 64 * 1024 * 1024


class MoveError(RuntimeError):
    """The tenant cannot be moved as asked; none of its data was copied. The message says why."""


@dataclass(frozen=True)
class Figures:
    """What must be equal on both servers, per table: rows and a checksum of their values."""

    rows: int
    checksum: int


@dataclass(frozen=True)
class Moved:
    schema: str
    tables: dict[str, Figures]  # the figures found equal on both servers

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.tables.values())


def table_figures(conn: database.Connection, schema: str) -> dict[str, Figures]:
    """Row count and checksum of each declared table of `schema`, in one consistent read.

    The checksum is the sum of a 64-bit hash of each row's text in the declared column
    order, so it does not depend on the physical column order, the row order or the
    storage kind. Call inside a transaction: the text of timestamps follows the session
    time zone, set to UTC here for the transaction.
    """
    figures = {}
    with conn.cursor() as cur:
        cur.execute("SET LOCAL TimeZone = 'UTC'")
        cur.execute("SET LOCAL DateStyle = 'ISO'")
        for table in tables.metadata.sorted_tables:
            columns = sql.SQL(", ").join(sql.Identifier(c.name) for c in table.columns)
            cur.execute(
                sql.SQL(
                    "SELECT count(*), coalesce(sum(hashtextextended(ROW({})::text, 0)), 0) "
                    "FROM {}.{}"
                ).format(columns, sql.Identifier(schema), sql.Identifier(table.name))
            )
            rows, checksum = cur.fetchone()
            figures[table.name] = Figures(rows, int(checksum))
    return figures


def move_tenant(source_url: str, target_url: str, tenant: Tenant) -> Moved:
    """Copy `tenant`'s schema from the server at `source_url` to the one at `target_url`.

    The source must be at the newest migration; the target must not hold data of the
    tenant yet (an empty schema, e.g. of an earlier attempt, is fine). Raises MoveError,
    leaving the target without the tenant's data, when that is not so or when the copied
    figures differ. Needs the owner of the tenant's tables on both servers.
    """
    schema = tenant.schema
    if _same_database(source_url, target_url):
        raise MoveError(f"tenant {tenant.id!r} already lives in that database")
    head = migrate.head_revision()
    with database.transaction(source_url) as source:
        tenant_schema.lock_tenant(source, schema)  # writers of the tenant wait until the end
        revision = _revision(source, schema)
        if revision != head:
            raise MoveError(
                f"{schema} on the source is at revision {revision or 'none'}, not at head "
                f"{head}: bring it to head first (`exnaton migrate --tenant {tenant.id}`)"
            )
        expected = table_figures(source, schema)
        migrate.migrate_tenant(target_url, tenant)  # an empty schema at head, if missing
        with database.transaction(target_url) as target:
            tenant_schema.lock_tenant(target, schema)
            held = {name: f.rows for name, f in table_figures(target, schema).items() if f.rows}
            if held:
                raise MoveError(
                    f"the target already holds data of {schema} ({_describe(held)}): "
                    "nothing was copied"
                )
            tenant_schema.ensure_month_partitions(target, schema, _months(source, schema))
            for table in tables.metadata.sorted_tables:
                _copy_table(source, target, schema, table)
            copied = table_figures(target, schema)
            if copied != expected:
                differing = sorted(n for n in expected if copied[n] != expected[n])
                raise MoveError(
                    f"the copy of {schema} differs from the source in {', '.join(differing)}: "
                    "rolled back, nothing was copied"
                )
            roles.ensure_reader_role(target, schema)
    return Moved(schema, expected)


def _same_database(a: str, b: str) -> bool:
    url_a, url_b = sa.make_url(a), sa.make_url(b)
    where = (database.url_host(a), url_a.port, url_a.database)
    return where == (database.url_host(b), url_b.port, url_b.database)


def _revision(conn: database.Connection, schema: str) -> str | None:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text)) IS NOT NULL",
            (schema, migrate.VERSION_TABLE),
        )
        if not cur.fetchone()[0]:
            return None
        cur.execute(
            sql.SQL("SELECT version_num FROM {}.{}").format(
                sql.Identifier(schema), sql.Identifier(migrate.VERSION_TABLE)
            )
        )
        row = cur.fetchone()
    return None if row is None else row[0]


def _months(conn: database.Connection, schema: str) -> list[date]:
    """First days of the UTC months the tenant has readings in (monthly partitions)."""
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "SELECT DISTINCT date_trunc('month', ts AT TIME ZONE 'UTC')::date "
                "FROM {}.meter_readings"
            ).format(sql.Identifier(schema))
        )
        return [month for (month,) in cur.fetchall()]


def _copy_table(
    source: database.Connection, target: database.Connection, schema: str, table: sa.Table
) -> None:
    """COPY one table's rows from source to target, then move the target's id sequence, if
    the table has one, past the copied ids."""
    columns = sql.SQL(", ").join(sql.Identifier(c.name) for c in table.columns)
    name = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table.name))
    with (
        tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as buffer,
        source.cursor() as out,
        target.cursor() as into,
    ):
        out.copy_expert(sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT").format(columns, name), buffer)
        buffer.seek(0)
        into.copy_expert(sql.SQL("COPY {} ({}) FROM STDIN").format(name, columns), buffer)
        serial = table.autoincrement_column
        if serial is not None:
            into.execute(
                sql.SQL(
                    "SELECT setval(pg_get_serial_sequence(%s, %s), max({}), true) FROM {} "
                    "HAVING count(*) > 0"
                ).format(sql.Identifier(serial.name), name),
                (f"{schema}.{table.name}", serial.name),
            )


def _describe(rows: dict[str, int]) -> str:
    return ", ".join(f"{name}: {count} rows" for name, count in sorted(rows.items()))

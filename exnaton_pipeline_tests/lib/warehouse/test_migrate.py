"""Tenant schemas migrated with Alembic: equal to the declaration, idempotent, one at a time."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from exnaton_pipeline.lib.warehouse import database, migrate, tenant_schema
from exnaton_pipeline_tests.drift import differences
from exnaton_pipeline_tests.previous_release_snapshot import create_schema, execute

SCHEMA = "tenant_alpine"


def rows(url: str, query: str, params: tuple = ()) -> list[tuple]:
    with database.transaction(url) as conn, conn.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall()


def tables_of(url: str, schema: str) -> list[tuple[str, str]]:
    return rows(
        url,
        "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1",
        (schema,),
    )


def test_a_new_tenant_gets_every_table_as_declared(warehouse_url):
    migrated = migrate.migrate_tenant(warehouse_url, SCHEMA)

    assert migrated == migrate.Migrated(SCHEMA, None, migrate.head_revision(), "partitioned")
    assert tables_of(warehouse_url, SCHEMA) == [
        ("alembic_version", "r"),
        ("community_energy", "r"),
        ("daily_energy", "r"),
        ("hourly_energy", "r"),
        ("ingested_objects", "r"),
        ("insights", "r"),
        ("meter_readings", "p"),
        ("rejected_readings", "r"),
        ("stale_days", "r"),
        ("stale_hours", "r"),
        ("stale_windows", "r"),
        ("tariff_slots", "r"),
        ("weekday_hour_profile", "r"),
    ]
    assert rows(warehouse_url, f"SELECT version_num FROM {SCHEMA}.alembic_version") == [
        (migrated.to_revision,)
    ]
    assert differences(warehouse_url, SCHEMA) == []
    # a comment reaches the database (what the catalog and psql \d+ show)
    assert rows(
        warehouse_url, "SELECT col_description(%s::regclass, 5)", (f"{SCHEMA}.meter_readings",)
    ) == [("energy in the interval, kWh (kvarh for reactive registers), never negative",)]


def test_the_comparison_sees_changes_made_without_a_migration(warehouse_url):
    """The drift check is not blind: a column, an index and a comment changed by hand."""
    migrate.migrate_tenant(warehouse_url, SCHEMA)
    execute(
        warehouse_url,
        f"ALTER TABLE {SCHEMA}.daily_energy ADD COLUMN note text; "
        f"DROP INDEX {SCHEMA}.hourly_energy_hour_start; "
        f"COMMENT ON COLUMN {SCHEMA}.tariff_slots.band IS 'colour'",
    )

    found = differences(warehouse_url, SCHEMA)

    # alembic lists column changes as a list of steps per column, the rest as one tuple each
    steps = [step for entry in found for step in (entry if isinstance(entry, list) else [entry])]
    assert sorted(map(_what, steps)) == [
        ("add_index", "hourly_energy_hour_start"),  # declared, missing in the database
        ("modify_comment", "tariff_slots.band: 'colour' -> 'tariff band: high | low'"),
        ("remove_column", "daily_energy.note"),  # in the database, not declared
    ]


def _what(step: tuple) -> tuple[str, str]:
    """(operation, what it touches) of one step of alembic's comparison."""
    if step[0] == "modify_comment":  # (op, schema, table, column, existing, found, declared)
        return step[0], f"{step[2]}.{step[3]}: {step[5]!r} -> {step[6]!r}"
    if step[0] == "remove_column":  # (op, schema, table, column)
        return step[0], f"{step[2]}.{step[3].name}"
    return step[0], step[1].name


def test_migrating_again_changes_nothing(warehouse_url):
    first = migrate.migrate_tenant(warehouse_url, SCHEMA)
    catalog = (
        "SELECT c.relname, c.xmin::text, d.objsubid, d.xmin::text FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_description d ON d.objoid = c.oid "
        "WHERE n.nspname = %s ORDER BY 1, 3"
    )
    before = rows(warehouse_url, catalog, (SCHEMA,))

    again = migrate.migrate_tenant(warehouse_url, SCHEMA)

    assert again == migrate.Migrated(SCHEMA, first.to_revision, first.to_revision, "partitioned")
    # not a table, column or comment rewritten (each would carry a new transaction id)
    assert rows(warehouse_url, catalog, (SCHEMA,)) == before


def test_0003_keeps_the_manifest_and_marks_nothing_withdrawn(warehouse_url):
    """An existing manifest entry is current after 0003 (withdrawal is decided by runs)."""
    migrate.migrate_tenant(warehouse_url, SCHEMA, target="0002")
    execute(
        warehouse_url,
        f"INSERT INTO {SCHEMA}.ingested_objects (key, etag, size, last_modified, partition_day, "
        "rows_read, rows_written, rows_rejected) "
        "VALUES ('alpine/2023-02-01/a.json', 'e1', 10, now(), '2023-02-01', 2, 2, 0)",
    )

    migrated = migrate.migrate_tenant(warehouse_url, SCHEMA)

    assert (migrated.from_revision, migrated.to_revision) == ("0002", migrate.head_revision())
    assert rows(
        warehouse_url, f"SELECT key, rows_written, withdrawn_at FROM {SCHEMA}.ingested_objects"
    ) == [("alpine/2023-02-01/a.json", 2, None)]
    assert differences(warehouse_url, SCHEMA) == []


def test_two_processes_migrating_one_tenant_take_turns(warehouse_url):
    """Both start while a third holds the tenant's lock: both are then waiting at once, and
    the lock lets one migrate and the other find the tenant at head."""
    holder = database.autocommit_connection(warehouse_url)
    holder.autocommit = False
    with holder.cursor() as cur:
        tenant_schema.lock_tenant(holder, SCHEMA)
        with ThreadPoolExecutor(2) as pool:
            runs = [pool.submit(migrate.migrate_tenant, warehouse_url, SCHEMA) for _ in range(2)]
            deadline = time.monotonic() + 30
            while _advisory_waiters(cur) < 2:
                assert time.monotonic() < deadline, "the two migrations never queued"
                time.sleep(0.05)
            holder.rollback()  # release: they run now
            results = [run.result(timeout=60) for run in runs]
    holder.close()

    head = migrate.head_revision()
    assert sorted((r.from_revision or "", r.to_revision) for r in results) == [
        ("", head),
        (head, head),
    ]
    assert rows(warehouse_url, f"SELECT count(*) FROM {SCHEMA}.alembic_version") == [(1,)]
    assert differences(warehouse_url, SCHEMA) == []


def _advisory_waiters(cur) -> int:
    cur.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    return cur.fetchone()[0]


def test_a_first_release_schema_is_adopted_then_upgraded(warehouse_url):
    create_schema(warehouse_url)

    migrated = migrate.migrate_tenant(warehouse_url, "tenant_demo")

    assert (migrated.from_revision, migrated.to_revision) == (None, migrate.head_revision())
    assert migrated.storage == "partitioned"
    assert differences(warehouse_url, "tenant_demo") == []


def test_a_first_release_schema_without_analytics_tables_is_completed(warehouse_url):
    """A tenant whose first-release runs never got past ingestion has three tables."""
    create_schema(warehouse_url)
    execute(
        warehouse_url,
        "DROP TABLE tenant_demo.tariff_slots, tenant_demo.hourly_energy, "
        "tenant_demo.daily_energy, tenant_demo.weekday_hour_profile, tenant_demo.insights",
    )

    migrate.migrate_tenant(warehouse_url, "tenant_demo")

    # eight of the first release, three queues of 0004, community_energy of 0005, the version
    assert len(tables_of(warehouse_url, "tenant_demo")) == 13
    assert differences(warehouse_url, "tenant_demo") == []


def test_a_schema_unlike_the_first_release_is_refused_untouched(warehouse_url):
    create_schema(warehouse_url)
    execute(
        warehouse_url,
        "ALTER TABLE tenant_demo.insights ADD COLUMN extra integer; "
        "ALTER TABLE tenant_demo.tariff_slots ALTER COLUMN rate DROP NOT NULL",
    )

    with pytest.raises(RuntimeError) as refused:
        migrate.migrate_tenant(warehouse_url, "tenant_demo")

    assert str(refused.value) == (
        "schema tenant_demo holds tables from before migrations (daily_energy, hourly_energy, "
        "ingested_objects, insights, meter_readings, rejected_readings, tariff_slots, "
        "weekday_hour_profile) that are not the first release's: "
        "insights: unexpected column 012 extra (integer); "
        "tariff_slots: missing column 004 rate (double precision NOT NULL); "
        "tariff_slots: unexpected column 004 rate (double precision). "
        "Repair them by hand or move the tenant's data to a new schema; nothing was changed"
    )
    assert ("alembic_version", "r") not in tables_of(warehouse_url, "tenant_demo")
    assert rows(
        warehouse_url,
        "SELECT count(*) FROM pg_description d JOIN pg_class c ON c.oid = d.objoid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'tenant_demo'",
    ) == [(0,)]


def test_writing_to_a_tenant_that_was_never_migrated_says_what_to_do(warehouse_url):
    with (
        pytest.raises(tenant_schema.SchemaNotReady) as error,
        database.transaction(warehouse_url) as conn,
    ):
        tenant_schema.readings_storage(conn, SCHEMA)
    assert str(error.value) == (
        "schema tenant_alpine has no meter_readings table: migrate the tenant first "
        "(`exnaton migrate`, or materialize its tenant_schema asset)"
    )

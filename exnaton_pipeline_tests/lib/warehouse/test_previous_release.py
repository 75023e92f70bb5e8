"""A tenant of the release before migrations, upgraded: every row and figure unchanged.

`exnaton_pipeline_tests/previous_release/` holds what that release left in schema
tenant_demo after the real February 2023 sample went through its whole pipeline: its pg_dump
and every table's rows (README.md there). The figures are the sample's provenance (README,
docs/analytics.md).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date

import pytest
from psycopg2 import sql

from exnaton_pipeline.lib.demo_data.sample import write_sample
from exnaton_pipeline.lib.ingestion.source import LocalSource
from exnaton_pipeline.lib.warehouse import database, migrate
from exnaton_pipeline_tests.builders import IMPORT_MUID
from exnaton_pipeline_tests.conftest import create_database, drop_database, materialize_days
from exnaton_pipeline_tests.drift import differences
from exnaton_pipeline_tests.previous_release_snapshot import (
    SCHEMA,
    TABLES,
    create_schema,
    load_rows,
    stored_rows,
)


def contents(url: str, table: str, columns: list[str]) -> list[str]:
    """Every row of `table` as CSV lines in the snapshot's format (UTC), sorted."""
    conn = database.autocommit_connection(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SET TimeZone = 'UTC'")
            copied = io.StringIO()
            cur.copy_expert(
                sql.SQL("COPY (SELECT {} FROM {}.{}) TO STDOUT WITH (FORMAT csv)").format(
                    sql.SQL(", ").join(map(sql.Identifier, columns)),
                    sql.Identifier(SCHEMA),
                    sql.Identifier(table),
                ),
                copied,
            )
    finally:
        conn.close()
    return sorted(copied.getvalue().splitlines())


def _to_12_digits(line: str) -> str:
    """A CSV line with every decimal number written to 12 significant digits."""

    def field(text: str) -> str:
        try:
            return f"{float(text):.12g}" if "." in text else text
        except ValueError:
            return text

    return ",".join(map(field, line.split(",")))


def assert_rows_unchanged(url: str, rolled_up: bool = False) -> None:
    """Every table as the release stored it. `rolled_up`: daily_energy was recomputed from
    hourly rows, whose sums may differ from the release's sums over quarter hours in the
    last bits of a double (docs/decisions.md): compared to 12 significant digits."""
    for table in TABLES:
        columns, lines = stored_rows(table)
        stored = contents(url, table, columns)
        if rolled_up and table == "daily_energy":
            stored, lines = [_to_12_digits(x) for x in stored], [_to_12_digits(x) for x in lines]
        assert stored == lines, f"{table} changed"


def metadata(result, asset: str) -> dict:
    (event,) = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == asset
    ]
    return {key: value.value for key, value in event.materialization.metadata.items()}


def query(url: str, text: str, params: tuple = ()) -> list[tuple]:
    with database.transaction(url) as conn, conn.cursor() as cur:
        cur.execute(text, params)
        return cur.fetchall()


@pytest.fixture
def first_release_tenant(pg_server_url: str) -> Iterator[str]:
    """A database holding tenant demo as the release before migrations left it."""
    url = create_database(pg_server_url, prefix="exnaton_first_release")
    create_schema(url)
    load_rows(url)
    yield url
    drop_database(pg_server_url, url)


def test_the_snapshot_is_the_real_sample(first_release_tenant):
    """The restored rows are what the issue describes, before anything is upgraded."""
    counts = {table: len(stored_rows(table)[1]) for table in TABLES}
    assert counts == {
        "meter_readings": 5376,
        "rejected_readings": 0,
        "ingested_objects": 56,
        "tariff_slots": 672,
        "hourly_energy": 1344,
        "daily_energy": 58,
        "weekday_hour_profile": 336,
        "insights": 14,
    }
    assert_rows_unchanged(first_release_tenant)  # the restore itself kept every value


def test_upgrade_keeps_every_row_and_figure(first_release_tenant, registry, tmp_path):
    url = first_release_tenant

    migrated = migrate.migrate_tenant(url, registry.get("demo"))

    head = migrate.head_revision()
    assert (migrated.from_revision, migrated.to_revision) == (None, head)
    assert migrated.storage == "partitioned"
    assert differences(url, SCHEMA) == []
    assert_rows_unchanged(url)
    assert query(
        url,
        "SELECT register, count(*), round(sum(kwh)::numeric, 5)::float8 "
        "FROM tenant_demo.meter_readings GROUP BY register ORDER BY register",
    ) == [("active_export", 2688, 36.19725), ("active_import", 2688, 97.6082)]
    assert query(
        url,
        "SELECT round(sum(import_kwh)::numeric, 4)::float8, round(sum(ht_kwh)::numeric, 4)::float8,"
        " round(sum(nt_kwh)::numeric, 4)::float8, round(sum(cost)::numeric, 4)::float8 "
        "FROM tenant_demo.daily_energy WHERE muid = %s",
        (IMPORT_MUID,),
    ) == [(97.6082, 35.9763, 61.6319, 25.0714)]  # kWh, of it high / low tariff, CHF

    # the upgraded tenant keeps working: the current pipeline runs a February partition over
    # the same source objects, finds nothing new and stops after listing them
    source = LocalSource(tmp_path / "source")
    write_sample(source, registry.get("demo"))
    (idle,) = materialize_days("demo", [date(2023, 2, 14)], url, str(source.root))

    assert idle.success
    setup = metadata(idle, "tenant_schema")
    assert (setup["previous_revision"], setup["revision"]) == (head, head)
    assert idle.asset_materializations_for_node("meter_readings") == []
    assert_rows_unchanged(url)

    # asked to recompute, it rebuilds the local days 14 and 15 February (2 meters x 48
    # hours) from the same readings, to the same rows
    (result,) = materialize_days(
        "demo",
        [date(2023, 2, 14)],
        url,
        str(source.root),
        run_config={"ops": {"raw_meter_readings": {"config": {"recompute": True}}}},
    )
    assert result.success
    assert metadata(result, "meter_readings")["rows_written"] == 0
    hourly = metadata(result, "hourly_energy")
    assert (hourly["rows_deleted"], hourly["rows_written"]) == (96, 96)
    assert metadata(result, "daily_energy")["rows_written"] == 4
    assert_rows_unchanged(url, rolled_up=True)

"""Tenants spread over two real PostgreSQL servers: the suite's own (embedded PostgreSQL 16,
the shared warehouse) and the machine's PostgreSQL 15 at 127.0.0.1:5432 (tenant `alpine`'s
own warehouse, named in the registry by EXNATON_WAREHOUSE_URL_TEST_EAST).

Both tenants get the real two-meter sample; three UTC days are backfilled through the real
definitions. Expected figures are summed from the sample's JSON here.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import psycopg2
import psycopg2.errors
import pytest
import yaml
from streamlit.testing.v1 import AppTest

import streamlit_app
from exnaton_pipeline.cli import main
from exnaton_pipeline.lib.demo_data.sample import sample_files, write_sample
from exnaton_pipeline.lib.ingestion.source import LocalSource
from exnaton_pipeline.lib.tenants import load_registry
from exnaton_pipeline.lib.warehouse import database, move
from exnaton_pipeline_tests.conftest import (
    TEST_TENANTS,
    create_database,
    day_range,
    drop_database,
    materialize_days,
)
from streamlit_app import data, periods

EAST = "EXNATON_WAREHOUSE_URL_TEST_EAST"
MACHINE_SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
DAYS = day_range(date(2023, 2, 1), date(2023, 2, 3))
IMPORT, EXPORT = "0100011D00FF", "0100021D00FF"
IMPORT_METER = "95ce3367-cbce-4a4d-bbe3-da082831d7bd"


def sample_totals(before: str) -> tuple[int, float, float]:
    """Readings, import kWh and export kWh of the sample's intervals starting before `before`."""
    count, totals = 0, {IMPORT: 0.0, EXPORT: 0.0}
    for path in sample_files():
        for record in json.loads(path.read_bytes())["data"]:
            if record["timestamp"] < before:
                for obis in totals.keys() & record.keys():
                    count += 1
                    totals[obis] += record[obis]
    return count, totals[IMPORT], totals[EXPORT]


def rows(url: str, query: str, params: tuple = ()) -> list[tuple]:
    with database.transaction(url) as conn, conn.cursor() as cur:
        cur.execute(query, params or None)
        return cur.fetchall()


def schemas(url: str) -> set[str]:
    found = rows(url, "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant%'")
    return {schema for (schema,) in found}


def reader_roles(url: str) -> set[str]:
    return {r for (r,) in rows(url, "SELECT rolname FROM pg_roles WHERE rolname LIKE 'tenant%'")}


def write_registry(path: Path, homes: dict[str, str]) -> None:
    """The suite's registry with `warehouse_env` set for the tenants in `homes`."""
    raw = yaml.safe_load(TEST_TENANTS.read_text())
    for tenant in raw["tenants"]:
        if tenant["id"] in homes:
            tenant["warehouse_env"] = homes[tenant["id"]]
    path.write_text(yaml.safe_dump(raw))


@pytest.fixture(scope="module")
def east_server() -> Iterator[str]:
    """A database of this module's own on the machine's PostgreSQL at 127.0.0.1:5432."""
    try:
        probe = database.autocommit_connection(MACHINE_SERVER + "?connect_timeout=3")
    except psycopg2.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0]
        pytest.skip(
            "the two-server tests need the machine's PostgreSQL at 127.0.0.1:5432 with trust "
            f"auth for user postgres, as on the project's machines and CI: {reason}"
        )
    probe.close()
    roles_before = reader_roles(MACHINE_SERVER)
    url = create_database(MACHINE_SERVER, prefix="exnaton_east")
    yield url
    drop_database(MACHINE_SERVER, url)
    conn = database.autocommit_connection(MACHINE_SERVER)
    with conn.cursor() as cur:
        for role in reader_roles(MACHINE_SERVER) - roles_before:  # roles are per server
            # kept when another session's database on this server grants it something
            with contextlib.suppress(psycopg2.errors.DependentObjectsStillExist):
                cur.execute(f'DROP ROLE "{role}"')  # names read from pg_roles, not input
    conn.close()


@dataclass(frozen=True)
class Sharded:
    shared: str  # the shared warehouse (embedded server): tenant demo
    east: str  # alpine's own warehouse (machine's server)
    registry_file: Path
    source: LocalSource
    results: dict[str, list]


@pytest.fixture(scope="module")
def sharded(pg_server_url, east_server, tmp_path_factory) -> Iterator[Sharded]:
    folder = tmp_path_factory.mktemp("sharded")
    registry_file = folder / "tenants.yaml"
    write_registry(registry_file, {"alpine": EAST})
    previous = os.environ.get(EAST)
    os.environ[EAST] = east_server
    shared = create_database(pg_server_url, prefix="exnaton_shared")
    source = LocalSource(folder / "source")
    registry = load_registry(registry_file)
    results = {}
    for tenant_id in ("demo", "alpine"):
        write_sample(source, registry.get(tenant_id))
        results[tenant_id] = materialize_days(
            tenant_id, DAYS, shared, str(source.root), tenants_file=registry_file
        )
    yield Sharded(shared, east_server, registry_file, source, results)
    drop_database(pg_server_url, shared)
    if previous is None:
        os.environ.pop(EAST, None)
    else:
        os.environ[EAST] = previous


@pytest.fixture
def sharded_env(sharded: Sharded, monkeypatch: pytest.MonkeyPatch) -> Sharded:
    """The processes' environment of that deployment: registry, shared and east URLs."""
    monkeypatch.setenv("EXNATON_TENANTS_FILE", str(sharded.registry_file))
    monkeypatch.setenv("EXNATON_DATABASE_URL", sharded.shared)
    return sharded


def test_each_tenant_is_backfilled_and_checked_on_its_own_server(sharded):
    for tenant_id, results in sharded.results.items():
        assert [r.success for r in results] == [True] * 3, tenant_id
        checks = [e for r in results for e in r.get_asset_check_evaluations()]
        assert len(checks) == 3 * 5, tenant_id
        # the sample starts at 00:00 UTC, 01:00 in Zurich: local 1 Feb lacks 4 quarter hours
        assert [(e.check_name, e.partition) for e in checks if not e.passed] == [
            ("completeness", f"2023-02-01|{tenant_id}")
        ]

    assert {"tenant_demo"} <= schemas(sharded.shared) and "tenant_alpine" not in schemas(
        sharded.shared
    )
    assert "tenant_demo" not in schemas(sharded.east) and "tenant_alpine" in schemas(sharded.east)
    count, imported, exported = sample_totals("2023-02-04")
    assert count == 3 * 96 * 2
    for url, schema in ((sharded.shared, "tenant_demo"), (sharded.east, "tenant_alpine")):
        [(n, imp, exp)] = rows(
            url,
            f"SELECT count(*), sum(kwh) FILTER (WHERE obis = %s), sum(kwh) FILTER "
            f"(WHERE obis = %s) FROM {schema}.meter_readings",
            (IMPORT, EXPORT),
        )
        assert (n, imp, exp) == (count, pytest.approx(imported), pytest.approx(exported))
        [(daily,)] = rows(url, f"SELECT sum(import_kwh) FROM {schema}.daily_energy")
        assert daily == pytest.approx(imported)
    # the dashboard's role of alpine is on alpine's server, and may read its schema there
    privilege = "SELECT has_schema_privilege('tenant_alpine_reader', 'tenant_alpine', 'USAGE')"
    assert rows(sharded.east, privilege) == [(True,)]


def test_each_dashboard_reads_its_tenants_server(sharded_env):
    _, imported, _ = sample_totals("2023-02-04")
    registry = load_registry(sharded_env.registry_file)
    demo_url = database.tenant_warehouse_url(registry.get("demo"))
    assert demo_url == sharded_env.shared
    daily = data.load_daily(demo_url, "tenant_demo", IMPORT_METER, DAYS[0], date(2023, 2, 4))
    assert daily["import_kwh"].sum() == pytest.approx(imported)

    os.environ.update(EXNATON_DASHBOARD_AUTH="none", EXNATON_DASHBOARD_TENANT="alpine")
    try:
        at = AppTest.from_file(
            str(Path(streamlit_app.__file__).parent / "app.py"), default_timeout=60
        )
        at.run()
        at.sidebar.selectbox(key="meter_alpine").set_value(IMPORT_METER).run()
        at.radio(key="period_kind").set_value(periods.ALL).run()
    finally:
        for name in ("EXNATON_DASHBOARD_AUTH", "EXNATON_DASHBOARD_TENANT"):
            os.environ.pop(name)
    assert not at.exception and not at.error
    assert at.title[0].value == "Alpine Community"
    consumption = next(m.value for m in at.metric if m.label == "Consumption")
    assert consumption == f"{imported:.1f} kWh"


def test_an_unset_warehouse_variable_fails_clearly(sharded_env, monkeypatch, capsys):
    monkeypatch.delenv(EAST)
    assert main(["db-url", "--tenant", "alpine"]) == 2
    assert capsys.readouterr().err == (
        "exnaton: tenant 'alpine' lives on its own warehouse, whose URL the registry says is in "
        f"{EAST}, but {EAST} is not set in this process's environment: set it (a secret, like "
        "EXNATON_DATABASE_URL)\n"
    )
    [failed] = materialize_days(
        "alpine",
        DAYS[:1],
        sharded_env.shared,
        str(sharded_env.source.root),
        selection="tenant_schema",
        tenants_file=sharded_env.registry_file,
    )
    assert not failed.success
    assert "tenant_alpine" not in schemas(sharded_env.shared)  # never quietly on the shared one


def test_a_moved_tenant_keeps_every_figure_and_runs_on_its_new_server(sharded_env, capsys):
    shared, east = sharded_env.shared, sharded_env.east
    with database.transaction(shared) as conn:
        before = move.table_figures(conn, "tenant_demo")
    insights_before = data.load_insights(shared, "tenant_demo", IMPORT_METER)
    count, imported, _ = sample_totals("2023-02-04")

    assert main(["move-tenant", "--tenant", "demo", "--to-env", EAST]) == 0
    out = capsys.readouterr().out
    assert f"tenant_demo.meter_readings: {count} rows, equal on both servers" in out
    assert "set `warehouse_env: EXNATON_WAREHOUSE_URL_TEST_EAST` for tenant demo" in out

    write_registry(sharded_env.registry_file, {"alpine": EAST, "demo": EAST})  # the registry change
    demo = load_registry(sharded_env.registry_file).get("demo")
    assert database.tenant_warehouse_url(demo) == east
    with database.transaction(east) as conn:
        assert move.table_figures(conn, "tenant_demo") == before
    assert before["meter_readings"].rows == count and before["daily_energy"].rows > 0
    [(daily,)] = rows(east, "SELECT sum(import_kwh) FROM tenant_demo.daily_energy")
    assert daily == pytest.approx(imported)
    assert data.load_insights(east, "tenant_demo", IMPORT_METER).equals(insights_before)

    # the next day runs on the new server; the old copy is left as it was
    [tick] = materialize_days(
        "demo",
        [date(2023, 2, 4)],
        shared,
        str(sharded_env.source.root),
        tenants_file=sharded_env.registry_file,
    )
    assert tick.success
    assert rows(east, "SELECT count(*) FROM tenant_demo.meter_readings") == [
        (sample_totals("2023-02-05")[0],)
    ]
    assert rows(shared, "SELECT count(*) FROM tenant_demo.meter_readings") == [(count,)]

    # back to the shared warehouse is refused while the old copy is there
    assert main(["move-tenant", "--tenant", "demo", "--to-env", "EXNATON_DATABASE_URL"]) == 2
    assert "the target already holds data of tenant_demo (community_energy: " in (
        capsys.readouterr().err
    )

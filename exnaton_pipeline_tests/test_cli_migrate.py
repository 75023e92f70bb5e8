"""`exnaton migrate`: every tenant of the registry (or one) brought to the newest migration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from exnaton_pipeline.cli import main
from exnaton_pipeline.lib.warehouse import migrate
from exnaton_pipeline_tests.conftest import create_database, drop_database
from exnaton_pipeline_tests.previous_release_snapshot import create_schema, execute


@pytest.fixture
def warehouse(pg_server_url, monkeypatch, tmp_path) -> Iterator[str]:
    """A database of its own as the configured warehouse."""
    url = create_database(pg_server_url, prefix="exnaton_migrate")
    monkeypatch.setenv("EXNATON_DATABASE_URL", url)
    monkeypatch.setenv("EXNATON_HOME", str(tmp_path))
    yield url
    drop_database(pg_server_url, url)


def test_every_tenant_is_migrated_and_a_second_run_changes_nothing(warehouse, capsys):
    head = migrate.head_revision()

    assert main(["migrate"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"demo (tenant_demo): none -> {head}  upgraded, partitioned",
        f"alpine (tenant_alpine): none -> {head}  upgraded, partitioned",
        f"nyc-coop (tenant_nyc_coop): none -> {head}  upgraded, partitioned",
        f"live (tenant_live): none -> {head}  upgraded, partitioned",
        f"valley (tenant_valley): none -> {head}  upgraded, partitioned",
        f"5 of 5 tenants at head {head}",
    ]

    assert main(["migrate", "--tenant", "nyc-coop"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"nyc-coop (tenant_nyc_coop): {head} -> {head}  up to date, partitioned",
        f"1 of 1 tenants at head {head}",
    ]


def test_a_refused_tenant_is_reported_and_the_others_still_migrate(warehouse, capsys):
    """demo has first-release tables someone altered by hand; alpine's are the release's own."""
    create_schema(warehouse, "tenant_demo")
    execute(warehouse, "ALTER TABLE tenant_demo.insights ADD COLUMN extra integer")
    create_schema(warehouse, "tenant_alpine")
    head = migrate.head_revision()

    assert main(["migrate"]) == 1

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(
        "demo (tenant_demo): FAILED: schema tenant_demo holds tables from before migrations"
    )
    assert lines[0].endswith(
        "insights: unexpected column 012 extra (integer). Repair them by hand or move the "
        "tenant's data to a new schema; nothing was changed"
    )
    assert lines[1] == f"alpine (tenant_alpine): none -> {head}  upgraded, partitioned"
    assert lines[-1] == f"4 of 5 tenants at head {head}"


def test_an_unknown_tenant_exits_2(warehouse, capsys):
    assert main(["migrate", "--tenant", "atlantis"]) == 2
    assert capsys.readouterr().err.startswith("exnaton: unknown tenant 'atlantis'")

"""Dagster's own commands in the repository root of a fresh checkout, with nothing exported.

Only EXNATON_HOME points at a temporary folder; DAGSTER_HOME, DAGSTER_PG_URL and the
warehouse URL are unset, as for an engineer who has just run `make venv`. The commands must
find the code location, and an instance whose storage is the embedded PostgreSQL under
EXNATON_HOME (database `dagster`), where `make demo` keeps it too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster_graphql import DagsterGraphQLClient

from exnaton_pipeline.lib.warehouse import embedded_pg
from exnaton_pipeline_tests.conftest import free_port
from exnaton_pipeline_tests.test_dagster_services import BIN, REPO_ROOT, Services, wait_for

pytestmark = pytest.mark.timeout(600)

PARTITIONS_QUERY = """
{ assetNodeOrError(assetKey: {path: ["meter_readings"]}) { ... on AssetNode {
    partitionDefinition { type dimensionTypes { name type } }
    partitionKeysByDimension { name partitionKeys } } }
  schedulesOrError(repositorySelector: {repositoryLocationName: "exnaton_pipeline",
                                        repositoryName: "__repository__"}) {
    ... on Schedules { results { name cronSchedule scheduleState { status } } } }
  allTopLevelResourceDetailsOrError(repositorySelector: {
      repositoryLocationName: "exnaton_pipeline", repositoryName: "__repository__"}) {
    ... on ResourceDetailsList { results { name configuredValues { key value }
        nestedResources { name resource { configuredValues { key value } } } } } } }
"""


@pytest.fixture(scope="module")
def fresh_checkout_env() -> Iterator[dict[str, str]]:
    """The environment of an operator who set nothing: only a private EXNATON_HOME."""
    # short and outside root's home: the embedded server puts its socket in there
    home = Path(tempfile.mkdtemp(prefix="exn-dg-", dir="/tmp"))
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("EXNATON_", "DAGSTER_", "AWS_ENDPOINT"))
    }
    env.update(EXNATON_HOME=str(home), VIRTUAL_ENV=str(BIN.parent), PATH=f"{BIN}:{env['PATH']}")
    yield env
    embedded_pg.stop(home / "pg")
    shutil.rmtree(home, ignore_errors=True)


def run(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / argv[0]), *argv[1:]],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def dagster_tables(env: dict[str, str]) -> set[str]:
    """Tables of database `dagster` on the embedded server of this EXNATON_HOME."""
    import psycopg2

    socket_dir = Path(env["EXNATON_HOME"]) / "pg"
    conn = psycopg2.connect(dbname="dagster", user="postgres", host=str(socket_dir))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            return {name for (name,) in cur.fetchall()}
    finally:
        conn.close()


def test_validate_check_and_list_definitions(fresh_checkout_env):
    done = run(fresh_checkout_env, "dagster", "definitions", "validate")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "All code locations passed validation." in done.stdout + done.stderr
    # the instance it loaded is the embedded server's database `dagster`, tables created
    assert {"runs", "event_logs", "bulk_actions"} <= dagster_tables(fresh_checkout_env)

    done = run(fresh_checkout_env, "dg", "check", "defs")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "All definitions loaded successfully." in done.stdout + done.stderr

    done = run(fresh_checkout_env, "dg", "list", "defs", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    listed = json.loads(done.stdout)
    assets = {a["asset_key"] for a in listed["assets"]}
    assert {"raw_meter_readings", "meter_readings", "hourly_energy", "insights"} <= assets
    assert [s["name"] for s in listed["schedules"]] == ["meter_data_schedule"]
    assert sorted(j["name"] for j in listed["jobs"]) == ["insights_job", "meter_data_job"]
    assert sorted(s["name"] for s in listed["sensors"]) == [
        "insights_sensor",
        "late_objects_sensor",
    ]
    # nothing left behind in the checkout (dagster removes its temporary instance folder)
    assert not list(REPO_ROOT.glob(".tmp_dagster_home_*"))


def test_webserver_serves_the_schedule_and_the_tenant_day_grid(fresh_checkout_env, tmp_path):
    services = Services(fresh_checkout_env, tmp_path)
    port = free_port()
    try:
        services.start(
            "dagster-webserver", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"
        )
        client = DagsterGraphQLClient("127.0.0.1", port_number=port, timeout=30)

        def loaded():
            answer = client._execute(PARTITIONS_QUERY)
            return answer if answer["assetNodeOrError"] else None

        answer = wait_for("the code location", loaded, 240, services)
    finally:
        services.stop()

    node = answer["assetNodeOrError"]
    assert node["partitionDefinition"]["type"] == "MULTIPARTITIONED"
    dimensions = {d["name"]: d["partitionKeys"] for d in node["partitionKeysByDimension"]}
    assert {"demo", "live"} <= set(dimensions["tenant"])  # the repository's tenants.yaml
    assert dimensions["date"][:2] == ["2023-02-01", "2023-02-02"]
    (schedule,) = answer["schedulesOrError"]["results"]
    assert (schedule["name"], schedule["cronSchedule"]) == ("meter_data_schedule", "*/15 * * * *")
    assert schedule["scheduleState"]["status"] == "RUNNING"
    assert not list(REPO_ROOT.glob(".tmp_dagster_home_*"))

    # the resource view shows where each resource points in this environment
    home = Path(fresh_checkout_env["EXNATON_HOME"])
    shown = {
        r["name"]: {v["key"]: json.loads(v["value"]) for v in r["configuredValues"]}
        for r in answer["allTopLevelResourceDetailsOrError"]["results"]
    }
    assert shown["warehouse"]["server"] == f"embedded PostgreSQL in {home / 'pg'}, database exnaton"
    assert shown["source"]["source_url"] == str(home / "source")
    assert shown["tenants"]["path"] == str(REPO_ROOT / "tenants.yaml")
    timeouts = shown["s3"]
    assert (timeouts["connect_timeout"], timeouts["read_timeout"]) == (5.0, 20.0)

"""Integration: the real `dagster-webserver` and `dagster-daemon` against a temporary instance.

The instance uses the repository's dagster.yaml (queued run coordinator with the per-tenant
limit, run monitoring, run retries) with its storage in a fresh PostgreSQL database. Through
the dagster-graphql client the test reads the asset catalog, submits one tenant-day partition
of meter_data_job for the sample tenant and one for a tenant whose source prefix does not
exist, and waits for the first to succeed and the second to fail with a clear message.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pytest
import sqlalchemy as sa
from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

from exnaton_pipeline_tests.conftest import TEST_TENANTS, create_database, drop_database, free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LOCATION = "exnaton_pipeline"
STARTUP_SECONDS = 90
RUN_SECONDS = 150
BACKFILL_SECONDS = 300  # the daemon's backfill loop looks every 30 s
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}

pytestmark = pytest.mark.timeout(STARTUP_SECONDS + RUN_SECONDS + BACKFILL_SECONDS + 60)

ASSETS_QUERY = """
{ assetNodes { assetKey { path } groupName description kinds
    assetChecksOrError { ... on AssetChecks { checks { name } } } } }
"""
SCHEDULES_QUERY = """
query ($selector: RepositorySelector!) {
  schedulesOrError(repositorySelector: $selector) {
    __typename ... on Schedules { results { name scheduleState { id status } } } } }
"""
STOP_SCHEDULE = """
mutation ($id: String!) { stopRunningSchedule(id: $id) {
    __typename ... on ScheduleStateResult { scheduleState { status } }
    ... on PythonError { message } } }
"""
BACKFILLS_QUERY = """
{ partitionBackfillsOrError { ... on PartitionBackfills { results {
    id status isAssetBackfill title partitionNames
    runs(limit: 10) { status tags { key value } stepStats { stepKey status } } } } } }
"""
RUN_QUERY = """
query ($runId: ID!) {
  runOrError(runId: $runId) { ... on Run { status tags { key value } } }
  logsForRun(runId: $runId) { ... on EventConnection { events {
    __typename ... on ExecutionStepFailureEvent { stepKey error { message } } } } } }
"""


class Services:
    """The webserver and daemon processes, each in its own process group, logging to files."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.processes: list[subprocess.Popen] = []

    def start(self, name: str, *args: str) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        self.processes.append(
            subprocess.Popen(
                [str(BIN / name), *args],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its code servers and run workers share its group
            )
        )

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def tail(self) -> str:
        return "\n".join(
            f"--- {path.name}\n" + path.read_text(errors="replace")[-3000:]
            for path in sorted(self.logs.glob("*.log"))
        )


def wait_for(what: str, probe, seconds: float, services: Services):
    deadline = time.monotonic() + seconds
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        for process in services.processes:
            if process.poll() is not None:
                pytest.fail(
                    f"{process.args[0]} exited with {process.returncode}\n{services.tail()}"
                )
        try:
            found = probe()
            if found:
                return found
        except (DagsterGraphQLClientError, KeyError, TypeError) as exc:
            last_error = exc
        time.sleep(1)
    pytest.fail(f"timed out waiting for {what} ({last_error})\n{services.tail()}")


@pytest.fixture
def instance_env(pg_server_url, warehouse_url, tmp_path, registry):
    from exnaton_pipeline.lib.demo_data.sample import write_sample
    from exnaton_pipeline.lib.ingestion.source import LocalSource

    storage_url = create_database(pg_server_url, "dagster_it")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    source = LocalSource(tmp_path / "source")
    write_sample(source, registry.get("demo"))
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_URL": storage_url,
        "EXNATON_DATABASE_URL": warehouse_url,
        "EXNATON_SOURCE_URL": str(source.root),
        "EXNATON_TENANTS_FILE": str(TEST_TENANTS),
        "EXNATON_HOME": str(tmp_path / "exnaton"),
    }
    yield env
    drop_database(pg_server_url, storage_url)


def test_webserver_and_daemon_run_a_tenant_day(instance_env, warehouse_url, tmp_path):
    from exnaton_pipeline.orchestration.partitions import tenant_days

    logs = tmp_path / "logs"
    logs.mkdir()
    services = Services(instance_env, logs)
    port = free_port()
    try:
        services.start(
            "dagster-webserver", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"
        )
        client = DagsterGraphQLClient("127.0.0.1", port_number=port, timeout=30)

        # the catalog, once the code location has loaded
        def assets():
            nodes = client._execute(ASSETS_QUERY)["assetNodes"]
            return {"/".join(n["assetKey"]["path"]): n for n in nodes} or None

        catalog = wait_for("the code location", assets, STARTUP_SECONDS, services)
        assert catalog["raw_meter_readings"]["groupName"] == "ingestion"
        readings = catalog["meter_readings"]
        assert readings["groupName"] == "warehouse"
        assert set(readings["kinds"]) == {"postgres", "pandas"}
        assert readings["description"].startswith("Validated 15-minute readings")
        checks = {c["name"] for c in readings["assetChecksOrError"]["checks"]}
        assert {"completeness", "no_duplicate_readings", "freshness"} <= checks

        # keep the 15-minute schedule from adding runs while the test runs: stop it first
        selector = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__"}
        schedules = client._execute(SCHEDULES_QUERY, {"selector": selector})["schedulesOrError"]
        (schedule,) = [s for s in schedules["results"] if s["name"] == "meter_data_schedule"]
        assert schedule["scheduleState"]["status"] == "RUNNING"  # on by default
        stopped = client._execute(STOP_SCHEDULE, {"id": schedule["scheduleState"]["id"]})
        assert stopped["stopRunningSchedule"]["scheduleState"]["status"] == "STOPPED"

        services.start("dagster-daemon", "run", "-w", "workspace.yaml")

        def submit(key: str) -> str:
            return client.submit_job_execution(
                "meter_data_job",
                repository_location_name=LOCATION,
                tags=dict(tenant_days.get_tags_for_partition_key(key)),
            )

        good = submit("2023-02-01|demo")
        bad = submit("2023-02-01|nyc-coop")  # nothing at all under the prefix nyc-coop/

        def finished() -> dict[str, str] | None:
            status = {run: client.get_run_status(run).value for run in (good, bad)}
            return status if set(status.values()) <= TERMINAL else None

        status = wait_for("both runs to finish", finished, RUN_SECONDS, services)
        assert status == {good: "SUCCESS", bad: "FAILURE"}, services.tail()

        run = client._execute(RUN_QUERY, {"runId": good})
        tags = {t["key"]: t["value"] for t in run["runOrError"]["tags"]}
        assert tags["dagster/partition/tenant"] == "demo"  # what the run queue limits on

        failed = client._execute(RUN_QUERY, {"runId": bad})["logsForRun"]["events"]
        (failure,) = [e for e in failed if e["__typename"] == "ExecutionStepFailureEvent"]
        assert failure["stepKey"] == "raw_meter_readings"
        assert (
            "tenant nyc-coop: nothing exists under its source prefix"
            in (failure["error"]["message"])
        )

        # with the daemon serving the instance, `exnaton backfill` hands it a backfill
        cli = subprocess.run(
            [str(BIN / "exnaton"), "backfill", "--tenant", "demo"]
            + ["--start", "2023-02-02", "--end", "2023-02-03"],
            env=instance_env,
            capture_output=True,
            text=True,
            timeout=BACKFILL_SECONDS,
        )
        assert cli.returncode == 0, cli.stdout + cli.stderr[-3000:] + services.tail()
        lines = cli.stdout.splitlines()
        backfill_id = lines[0].split()[1]
        assert lines[0] == f"backfill {backfill_id} (2 partitions of demo): the daemon runs it"
        assert sorted(line.split()[1] for line in lines[1:3]) == [
            "2023-02-02|demo",
            "2023-02-03|demo",
        ]
        assert all("  ok  192 rows written, 192 new" in line for line in lines[1:3])
        assert lines[-2] == "2 of 2 partitions succeeded"
        assert lines[-1] == (
            "per-day work (profile, insights): the insights_sensor requests insights_job "
            "within 15 minutes"
        )

        # it is listed under Runs -> Backfills, as the UI's own backfills are
        listed = client._execute(BACKFILLS_QUERY)["partitionBackfillsOrError"]["results"]
        (backfill,) = [b for b in listed if b["id"] == backfill_id]
        assert (backfill["status"], backfill["isAssetBackfill"]) == ("COMPLETED_SUCCESS", True)
        assert sorted(backfill["partitionNames"]) == ["2023-02-02|demo", "2023-02-03|demo"]
        assert [r["status"] for r in backfill["runs"]] == ["SUCCESS", "SUCCESS"]
        for backfill_run in backfill["runs"]:  # through the run queue: the tenant limit applies
            tags = {t["key"]: t["value"] for t in backfill_run["tags"]}
            assert tags["dagster/partition/tenant"] == "demo"
            assert tags["exnaton/trigger"] == "cli-backfill"
            steps = {s["stepKey"]: s["status"] for s in backfill_run["stepStats"]}
            assert steps["meter_readings_quality"] == "SUCCESS"  # the checks ran too
    finally:
        services.stop()

    # the sample's first day landed: two meters x 96 intervals
    conn = psycopg2.connect(
        sa.make_url(warehouse_url).set(drivername="postgresql").render_as_string(False)
    )
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM tenant_demo.meter_readings "
                "WHERE ts >= '2023-02-01 00:00+00' AND ts < '2023-02-04 00:00+00'"
            )
            assert cur.fetchone()[0] == 3 * 192
    finally:
        conn.close()

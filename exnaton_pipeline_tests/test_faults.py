"""Faults injected into a running pipeline: the warehouse connection killed in the middle of a
store, the S3 endpoint stopped before and during a run. After each fault, the partition's next
run leaves the same rows as a run that met no fault, and no run is left STARTED.

The data: tenant alpine, UTC day 2024-01-10, one object per meter, 96 quarter hours each; meter
A delivers 0.25 kWh and meter B 0.5 kWh per quarter hour, so a clean run stores 192 readings
summing to 96 x 0.25 + 96 x 0.5 = 72 kWh.
"""

from __future__ import annotations

import threading
import time
from datetime import date

import boto3
import dagster as dg
import pytest
from moto.server import ThreadedMotoServer

from exnaton_pipeline.lib.ingestion.source import S3Source
from exnaton_pipeline.orchestration.resources import S3ClientResource
from exnaton_pipeline_tests.conftest import free_port, materialize_days, set_up_tenant
from exnaton_pipeline_tests.defs.test_checks import METER_A, METER_B, psql, write_day
from exnaton_pipeline_tests.orchestration.test_retries import error_text, step_events

DAY = date(2024, 1, 10)
INGEST = "key:tenant_schema or key:raw_meter_readings or key:meter_readings"
CLEAN = (192, 72.0, 2)  # readings, kWh, manifest entries


def stored(url: str) -> tuple[int, float, int]:
    """Readings, their kWh and manifest entries of tenant alpine."""
    conn = psql(url)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*), coalesce(sum(kwh), 0) FROM tenant_alpine.meter_readings")
        count, kwh = cur.fetchone()
        cur.execute("SELECT count(*) FROM tenant_alpine.ingested_objects")
        (objects,) = cur.fetchone()
    conn.close()
    return count, kwh, objects


def runs_started(instance: dg.DagsterInstance) -> list:
    return instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))


def failure_of(result, step: str) -> str:
    (failure,) = step_events(result, dg.DagsterEventType.STEP_FAILURE, step)
    return error_text(failure.event_specific_data.error)


# --- the warehouse connection killed mid-store ----------------------------------------------


class Killer(threading.Thread):
    """Holds a SHARE lock on rejected_readings, so that the pipeline's store -- which upserts
    the readings first, then replaces the rejections, in one transaction -- waits there with
    its readings written but not committed; then terminates that backend and lets go."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.holder, self.watcher = psql(url), psql(url)
        self.holder.autocommit = False
        with self.holder.cursor() as cur:
            cur.execute("LOCK TABLE tenant_alpine.rejected_readings IN SHARE MODE")
        self.victim: tuple | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with self.watcher.cursor() as cur:
                deadline = time.monotonic() + 60
                while self.victim is None and time.monotonic() < deadline:
                    cur.execute(
                        """SELECT a.pid, a.query,
                            EXISTS (SELECT FROM pg_locks l WHERE l.pid = a.pid AND l.granted
                                AND l.relation = 'tenant_alpine.meter_readings'::regclass
                                AND l.mode = 'RowExclusiveLock')
                        FROM pg_stat_activity a
                        WHERE %s = ANY(pg_blocking_pids(a.pid))""",
                        (self.holder.get_backend_pid(),),
                    )
                    self.victim = cur.fetchone()
                    time.sleep(0.02)
                if self.victim:
                    cur.execute("SELECT pg_terminate_backend(%s)", (self.victim[0],))
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            self.holder.rollback()  # the lock goes: the retried step can store
            self.holder.close()
            self.watcher.close()


def test_a_connection_killed_mid_store_loses_nothing(warehouse_url, local_source, registry):
    write_day(local_source, "alpine", DAY, METER_A, value=0.25)
    write_day(local_source, "alpine", DAY, METER_B, value=0.5)
    set_up_tenant(warehouse_url, registry.get("alpine"))
    instance = dg.DagsterInstance.ephemeral()
    killer = Killer(warehouse_url)
    killer.start()

    (result,) = materialize_days(
        "alpine", [DAY], warehouse_url, str(local_source.root), INGEST, instance=instance
    )
    killer.join(timeout=70)

    assert killer.error is None
    assert killer.victim is not None, "the store never waited on the lock"
    _, query, readings_written = killer.victim
    assert query.startswith('DELETE FROM "tenant_alpine".rejected_readings')
    assert readings_written  # it had upserted meter_readings, uncommitted, when it was killed
    # the lost connection is transient: the step's retry policy ran it again, and it stored
    (retry,) = step_events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY, "meter_readings")
    assert "server closed the connection unexpectedly" in error_text(
        retry.event_specific_data.error
    )
    assert result.success
    assert stored(warehouse_url) == CLEAN
    # the partition's next run finds everything ingested and changes nothing
    (again,) = materialize_days(
        "alpine", [DAY], warehouse_url, str(local_source.root), INGEST, instance=instance
    )
    assert again.success
    assert stored(warehouse_url) == CLEAN
    assert runs_started(instance) == []


# --- the S3 endpoint down, then back ----------------------------------------------------------


class Endpoint:
    """An S3 endpoint of the test's own (moto), which the pipeline's own S3 client stops and
    starts again on the same port at chosen calls (moto keeps its buckets in the process, so
    they survive a restart)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: ThreadedMotoServer | None = None
        self.calls = {"ListObjectsV2": 0, "GetObject": 0}
        self.stop_before_read = 0  # stop just before this object read (counted from 1)
        self.start_before_list = 0  # start again just before this listing

    def start(self) -> None:
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def before_call(self, model, **_) -> None:
        """botocore's `before-call` event of the pipeline's S3 client."""
        self.calls[model.name] = self.calls.get(model.name, 0) + 1
        if model.name == "GetObject" and self.calls[model.name] == self.stop_before_read:
            self.stop()
        if model.name == "ListObjectsV2" and self.calls[model.name] == self.start_before_list:
            self.start()


ENDPOINT: list[Endpoint] = []  # the test's endpoint, for FaultyS3Client (resources are config)


class FaultyS3Client(S3ClientResource):
    """The pipeline's S3 client, through which the test stops and starts the endpoint."""

    def get_client(self):
        client = super().get_client()
        client.meta.events.register("before-call.s3", ENDPOINT[0].before_call)
        return client


@pytest.fixture
def endpoint():
    endpoint = Endpoint()
    endpoint.start()
    ENDPOINT[:] = [endpoint]
    yield endpoint
    ENDPOINT.clear()
    endpoint.stop()


def test_an_s3_endpoint_down_then_back_loses_nothing(warehouse_url, endpoint):
    bucket = "faults"
    source = S3Source(boto3.client("s3", endpoint_url=endpoint.url), bucket, "raw")
    source.client.create_bucket(Bucket=bucket)
    write_day(source, "alpine", DAY, METER_A, value=0.25)
    second = write_day(source, "alpine", DAY, METER_B, value=0.5)
    instance = dg.DagsterInstance.ephemeral()

    def run() -> dg.ExecuteInProcessResult:
        (result,) = materialize_days(
            "alpine",
            [DAY],
            warehouse_url,
            f"s3://{bucket}/raw",
            INGEST,
            instance=instance,
            s3=FaultyS3Client(endpoint_url=endpoint.url, max_attempts=1),
        )
        return result

    # 1. the endpoint goes down between the two objects' reads: the first is stored, the run
    #    fails naming the second, which stays out of the manifest
    endpoint.stop_before_read = 2
    halfway = run()
    assert not halfway.success
    assert step_events(halfway, dg.DagsterEventType.STEP_UP_FOR_RETRY, "meter_readings") == []
    assert f"1 of 2 new object(s) could not be fetched and are not ingested yet: {second}" in (
        failure_of(halfway, "meter_readings")
    )
    assert stored(warehouse_url) == (96, 24.0, 1)
    assert endpoint.server is None  # still down

    # 2. the next run finds it down: the listing fails naming the endpoint, the step's retry
    #    policy tries again, the endpoint is back by then, and only what is missing is read
    endpoint.calls, endpoint.start_before_list = {}, 2
    recovered = run()
    (down,) = step_events(recovered, dg.DagsterEventType.STEP_UP_FOR_RETRY, "raw_meter_readings")
    message = error_text(down.event_specific_data.error)
    assert f"cannot list s3://{bucket}/raw/alpine/2024-01-10/" in message
    assert f'Could not connect to the endpoint URL: "{endpoint.url}/' in message
    assert recovered.success
    (raw,) = recovered.asset_materializations_for_node("raw_meter_readings")
    assert raw.metadata["objects_new"].value == 1
    assert endpoint.calls["GetObject"] == 1
    assert stored(warehouse_url) == CLEAN
    assert runs_started(instance) == []

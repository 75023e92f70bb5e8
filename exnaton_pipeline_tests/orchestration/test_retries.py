"""Step retries: transient S3 and database trouble is retried by the assets' RetryPolicy with
backoff; what will not heal fails at once, saying what to fix; bugs and bad data are not
retried. Against the moto S3 server and real PostgreSQL servers."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from datetime import date
from pathlib import Path
from urllib.parse import urlparse

import boto3
import dagster as dg
import psycopg2
import pytest
import sqlalchemy as sa

from exnaton_pipeline.lib.demo_data.sample import write_sample
from exnaton_pipeline.lib.ingestion.source import S3Source
from exnaton_pipeline.lib.warehouse import database
from exnaton_pipeline.orchestration.resources import S3ClientResource
from exnaton_pipeline.orchestration.retries import TRANSIENT_RETRY, retry_only_transient
from exnaton_pipeline_tests.endpoints import FlakyProxy
from exnaton_pipeline_tests.test_cli import dsn

DAY = date(2023, 2, 1)
INGEST = "key:tenant_schema or key:raw_meter_readings or key:meter_readings"


def step_events(result, event_type: dg.DagsterEventType, step: str) -> list:
    return [e for e in result.all_events if e.event_type == event_type and e.step_key == step]


def error_text(error) -> str:
    """The messages of a serialized error and of the errors it was raised from."""
    parts = []
    while error is not None:
        parts.append(error.message)
        error = error.cause
    return "\n".join(parts)


def failure_message(result, step: str) -> str:
    (failure,) = step_events(result, dg.DagsterEventType.STEP_FAILURE, step)
    return failure.event_specific_data.error.message


def test_the_policy_backs_off_with_jitter():
    assert TRANSIENT_RETRY.max_retries == 3
    assert (TRANSIENT_RETRY.backoff, TRANSIENT_RETRY.jitter) == (
        dg.Backoff.EXPONENTIAL,
        dg.Jitter.PLUS_MINUS,
    )


def test_a_missing_bucket_fails_at_once_with_what_to_fix(warehouse_url, s3_endpoint):
    (result,) = materialize(warehouse_url, "s3://no-such-bucket/raw", selection=INGEST)
    assert not result.success
    assert step_events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY, "raw_meter_readings") == []
    message = failure_message(result, "raw_meter_readings")
    assert "cannot list s3://no-such-bucket/raw/demo/" in message
    assert "NoSuchBucket" in message
    assert "the bucket does not exist: check the bucket in EXNATON_SOURCE_URL" in message


def test_an_endpoint_that_drops_the_connection_is_retried_until_it_recovers(
    warehouse_url, s3_endpoint, s3_bucket, registry
):
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    write_sample(S3Source(client, s3_bucket, "raw"), registry.get("demo"))
    moto = urlparse(s3_endpoint)
    # the first connection is dropped without an answer; botocore does not retry it here
    # (one attempt), so the step fails once and Dagster's retry policy runs it again
    with FlakyProxy((moto.hostname, moto.port), drop=1) as proxy:
        (result,) = materialize(
            warehouse_url,
            f"s3://{s3_bucket}/raw",
            selection=INGEST,
            s3=S3ClientResource(endpoint_url=proxy.url, max_attempts=1),
        )
    assert result.success
    (retry,) = step_events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY, "raw_meter_readings")
    assert "Connection was closed before we received a valid response" in (
        error_text(retry.event_specific_data.error)
    )
    with database.transaction(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM tenant_demo.meter_readings")
        assert cur.fetchone() == (192,)  # two meters x 96 intervals


@pytest.fixture(scope="module")
def password_server() -> tuple[str, str]:
    """A PostgreSQL server of its own that checks passwords (the suite's trusts everyone):
    returns the URL of user `meter` (password `Pw-right-7`) and of its superuser."""
    import pgserver

    datadir = Path(tempfile.mkdtemp(prefix="exn-pw-", dir="/tmp")) / "pg"
    server = pgserver.get_server(datadir, cleanup_mode="delete")
    admin = f"postgresql+psycopg2://postgres:@/postgres?host={server.pgdata}"
    conn = database.autocommit_connection(admin)
    with conn.cursor() as cur:
        cur.execute("CREATE ROLE meter LOGIN PASSWORD 'Pw-right-7'")
        cur.execute("SHOW hba_file")
        hba = Path(cur.fetchone()[0])
        hba.write_text("local all meter scram-sha-256\n" + hba.read_text())
        cur.execute("SELECT pg_reload_conf()")
    conn.close()
    yield f"postgresql+psycopg2://meter:Pw-right-7@/postgres?host={server.pgdata}", admin
    database.engine.cache_clear()
    server.cleanup()
    shutil.rmtree(datadir.parent, ignore_errors=True)


@pytest.mark.parametrize(
    ("change", "reason", "fix"),
    [
        (
            {"password": "Pw-wrong-7"},
            'password authentication failed for user "meter"',
            "the password is wrong: check the warehouse URL (EXNATON_DATABASE_URL)",
        ),
        (
            {"database": "nowhere"},
            'database "nowhere" does not exist',
            "check the database and user names in the warehouse URL (EXNATON_DATABASE_URL)",
        ),
    ],
)
def test_refused_database_credentials_fail_at_once(
    password_server, local_source, change, reason, fix
):
    good, _ = password_server
    with database.transaction(good) as conn, conn.cursor() as cur:  # the right password works
        cur.execute("SELECT current_user")
        assert cur.fetchone() == ("meter",)
    bad = sa.make_url(good).set(**change).render_as_string(hide_password=False)
    local_source.write("demo/2023-02-01/a.json", b'{"data": []}')
    (result,) = materialize(bad, str(local_source.root), selection=INGEST)
    assert not result.success
    # the run's first step reaches the warehouse: it fails at once, not after retries
    assert step_events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY, "tenant_schema") == []
    message = failure_message(result, "tenant_schema")
    assert "Failure: the warehouse refused the connection: connection to server" in message
    assert f"FATAL:  {reason} -- {fix}" in message
    assert "Pw-" not in message  # no password in the log


def raised_by_server(url: str, statement: str) -> psycopg2.Error:
    conn = psycopg2.connect(dsn(url))
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    except psycopg2.Error as exc:
        return exc
    finally:
        conn.close()
    pytest.fail(f"{statement} did not fail")


def raise_errcode(code: str) -> str:
    return f"DO $$ BEGIN RAISE EXCEPTION 'injected' USING ERRCODE = '{code}'; END $$"


@pytest.mark.parametrize(
    "statement",
    [raise_errcode("serialization_failure"), raise_errcode("deadlock_detected")],
)
def test_serialization_failures_and_deadlocks_are_left_to_the_retry_policy(database_url, statement):
    error = raised_by_server(database_url, statement)
    with pytest.raises(psycopg2.Error) as raised, retry_only_transient():
        raise error
    assert raised.value is error  # not turned into a Failure: the policy retries it


def test_a_lost_connection_is_left_to_the_retry_policy():
    # nothing listens on this socket folder: libpq fails to connect, as when the server restarts
    missing = f"postgresql+psycopg2://postgres:@/x?host=/tmp/no-server-{uuid.uuid4().hex[:8]}"
    with (
        pytest.raises((psycopg2.OperationalError, sa.exc.OperationalError)),
        retry_only_transient(),
        database.transaction(missing),
    ):
        pass


@pytest.mark.parametrize(
    ("statement", "kind"),
    [("SELECT 1 / 0", "DivisionByZero"), ("SELECT nonsense FROM nowhere", "UndefinedTable")],
)
def test_bad_data_and_bugs_are_not_retried(database_url, statement, kind):
    error = raised_by_server(database_url, statement)
    with pytest.raises(dg.Failure) as failed, retry_only_transient():
        raise error
    assert not failed.value.allow_retries
    assert failed.value.description.startswith(f"{kind}: ")
    assert failed.value.description.endswith("(not retried: not a transient error)")


def materialize(database_url: str, source_url: str, selection: str, s3=None) -> list:
    from exnaton_pipeline_tests.conftest import materialize_days

    return materialize_days("demo", [DAY], database_url, source_url, selection=selection, s3=s3)

"""Shared fixtures: a real PostgreSQL database, a real S3 endpoint, the test tenant registry.

PostgreSQL: EXNATON_TEST_DATABASE_URL (a server URL whose user may create databases) when
set, else an embedded pgserver started for the session. Each session works in a database
of its own, dropped at the end. S3: moto's threaded server on a free local port.
"""

from __future__ import annotations

import os
import socket
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from psycopg2 import sql

# safe before EXNATON_TENANTS_FILE is set below: lib reads settings only when called
from exnaton_pipeline.lib.settings import reader_password_variable
from exnaton_pipeline.lib.warehouse import database

TESTS_DIR = Path(__file__).resolve().parent
TEST_TENANTS = TESTS_DIR / "tenants_test.yaml"

# Must be set before any module of the code location is imported: partitions read the registry.
os.environ["EXNATON_TENANTS_FILE"] = str(TEST_TENANTS)
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_url() -> tuple[str, object | None]:
    given = os.environ.get("EXNATON_TEST_DATABASE_URL")
    if given:
        return given, None
    import pgserver

    # keep the data folder out of root's home: pgserver opens traverse rights on its parents
    datadir = Path(tempfile.mkdtemp(prefix="exnaton-test-pg-", dir="/tmp")) / "pg"
    server = pgserver.get_server(datadir, cleanup_mode="delete")
    return f"postgresql+psycopg2://postgres:@/postgres?host={server.pgdata}", server


def _with_database(url: str, name: str) -> str:
    return sa.make_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of the maintenance database of the PostgreSQL server the suite uses."""
    url, server = _server_url()
    yield url
    if server is not None:
        server.cleanup()


@dataclass(frozen=True)
class PasswordServer:
    """A PostgreSQL server of the tests' own that checks passwords, as a deployment's does
    (the suite's main server trusts every local connection), and logs every statement.

    It lives in `<home>/pg`: with EXNATON_HOME=`home` it is that home's embedded server;
    with any other EXNATON_HOME it is just another server.
    """

    home: Path
    url: str  # the superuser's URL of its `exnaton` database (no password needed)
    log: Path  # the server's log file

    def sign_in(self, role: str, password: str | None) -> None:
        """Open and close a session as `role`; raises psycopg2.OperationalError if refused."""
        import psycopg2

        url = sa.make_url(self.url)
        psycopg2.connect(
            host=url.query["host"], dbname=url.database, user=role, password=password or ""
        ).close()

    def log_size(self) -> int:
        return self.log.stat().st_size

    def log_since(self, offset: int) -> str:
        with self.log.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")


@pytest.fixture(scope="session")
def password_server() -> Iterator[PasswordServer]:
    import shutil
    import time

    import pgserver

    from exnaton_pipeline.lib.warehouse import embedded_pg

    home = Path(tempfile.mkdtemp(prefix="exn-pw-", dir="/tmp"))  # short: the socket is in it
    server = pgserver.get_server(home / "pg", cleanup_mode="delete")
    datadir = Path(server.pgdata)
    # the superuser keeps the trust the suite relies on; every other role needs its password
    (datadir / "pg_hba.conf").write_text("local all postgres trust\nlocal all all scram-sha-256\n")
    admin = database.autocommit_connection(embedded_pg.url(datadir))
    with admin.cursor() as cur:
        cur.execute("ALTER SYSTEM SET log_statement = 'all'")
        cur.execute("SELECT pg_reload_conf()")
    admin.close()
    deadline = time.monotonic() + 10
    while True:  # the postmaster reloads asynchronously; new sessions show when it has
        probe = database.autocommit_connection(embedded_pg.url(datadir))
        with probe.cursor() as cur:
            cur.execute("SELECT current_setting('log_statement')")
            reloaded = cur.fetchone() == ("all",)
        probe.close()
        if reloaded or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert reloaded, "the password server did not reload its configuration"
    embedded_pg.ensure_database(datadir, database.WAREHOUSE_DB)
    yield PasswordServer(home, embedded_pg.url(datadir, database.WAREHOUSE_DB), datadir / "log")
    server.cleanup()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def deployment_server(
    password_server: PasswordServer, registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PasswordServer]:
    """The password-checking server seen as a deployment's server (EXNATON_HOME is another
    folder), with no reader secret set; its tenant schemas and reader roles are dropped after."""
    monkeypatch.setenv("EXNATON_HOME", str(tmp_path / "elsewhere"))
    for tenant in registry.tenants:
        monkeypatch.delenv(reader_password_variable(tenant.schema), raising=False)
    yield password_server
    conn = database.autocommit_connection(password_server.url)
    with conn.cursor() as cur:
        cur.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\\_%'")
        for (schema,) in cur.fetchall():
            cur.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        cur.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'tenant\\_%\\_reader'")
        for (role,) in cur.fetchall():
            cur.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            cur.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    conn.close()


def create_database(server_url: str, prefix: str = "exnaton_test") -> str:
    """Create a fresh database on the test server and return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = database.autocommit_connection(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()
    return _with_database(server_url, name)


def drop_database(server_url: str, url: str) -> None:
    database.engine(url).dispose()
    name = sa.make_url(url).database
    conn = database.autocommit_connection(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    finally:
        conn.close()


@pytest.fixture(scope="session")
def database_url(pg_server_url: str) -> Iterator[str]:
    """A database of this session's own; also exported as EXNATON_DATABASE_URL."""
    url = create_database(pg_server_url)
    os.environ["EXNATON_DATABASE_URL"] = url
    yield url
    drop_database(pg_server_url, url)


@pytest.fixture
def warehouse_url(database_url: str) -> str:
    """The session database with every tenant schema dropped: each test starts empty."""
    conn = database.autocommit_connection(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\\_%'")
            for (schema,) in cur.fetchall():
                cur.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    finally:
        conn.close()
    return database_url


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 HTTP endpoint (moto server mode); AWS_ENDPOINT_URL points at it."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    previous = os.environ.get("AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    yield endpoint
    server.stop()
    if previous is None:
        os.environ.pop("AWS_ENDPOINT_URL", None)
    else:
        os.environ["AWS_ENDPOINT_URL"] = previous


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A new empty bucket; returns its name."""
    import boto3

    name = f"meters-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture
def local_source(tmp_path: Path):
    from exnaton_pipeline.lib.ingestion.source import LocalSource

    return LocalSource(tmp_path / "source")


@pytest.fixture(scope="session")
def registry():
    from exnaton_pipeline.lib.tenants import load_registry

    return load_registry(TEST_TENANTS)


def set_up_tenant(url: str, tenant) -> str:
    """What a run's tenant_schema asset does first: bring the tenant's schema (a Tenant or a
    schema name) to the newest migration and set up its read-only role. Returns the storage
    kind of meter_readings."""
    from exnaton_pipeline.lib.warehouse import migrate, roles

    migrated = migrate.migrate_tenant(url, tenant)
    with database.transaction(url) as conn:
        roles.ensure_reader_role(conn, migrated.schema)
    return migrated.storage


def _resources(database_url: str, source_url: str, s3=None) -> dict:
    """The code location's resources, the warehouse and source pointed at the test's own (and
    the S3 client resource `s3`, default: AWS_ENDPOINT_URL's)."""
    from exnaton_pipeline.definitions import defs
    from exnaton_pipeline.orchestration.resources import (
        S3ClientResource,
        SourceResource,
        WarehouseResource,
    )

    return {
        **(defs.resources or {}),
        "warehouse": WarehouseResource(database_url=database_url),
        "source": SourceResource(
            source_url=source_url,
            s3=s3 or S3ClientResource(endpoint_url=os.environ.get("AWS_ENDPOINT_URL")),
        ),
    }


def _job_assets(job_name: str) -> list:
    from exnaton_pipeline.definitions import defs
    from exnaton_pipeline.orchestration.job_assets import job_assets

    return job_assets(defs, job_name)


def materialize_days(
    tenant_id: str,
    days: list[date],
    database_url: str,
    source_url: str,
    selection: str | None = None,
    instance=None,
    run_config: dict | None = None,
    s3=None,
    tenants_file: Path | None = None,
):
    """Materialize the assets (and checks) of the 15-minute tick (`meter_data_job`) for
    tenant-day partitions, with the real definitions and the test's warehouse and source
    (the registry `tenants_file`, default: the suite's, whose tenant ids the partitions know).
    Returns the list of ExecuteInProcessResult, one per day."""
    import dagster as dg

    from exnaton_pipeline.orchestration.partitions import partition_key
    from exnaton_pipeline.orchestration.resources import TenantRegistryResource

    assets = _job_assets("meter_data_job")
    resources = _resources(database_url, source_url, s3)
    if tenants_file is not None:
        resources["tenants"] = TenantRegistryResource(path=str(tenants_file))
    return [
        dg.materialize(
            assets,
            partition_key=partition_key(tenant_id, day),
            resources=resources,
            instance=instance,
            selection=selection,
            run_config=run_config,
            raise_on_error=False,
        )
        for day in days
    ]


def materialize_per_day(
    tenant_id: str,
    database_url: str,
    last_day: date | None = None,
    all_meters: bool = False,
    instance=None,
):
    """Materialize the tenant's per-day work (`insights_job`: profile and insights), windows
    ending at local day `last_day` (default: the tenant's last settled day, today)."""
    import dagster as dg

    from exnaton_pipeline.orchestration.per_day import per_day_config

    config = per_day_config(last_day, all_meters) if last_day else None
    if config is None and all_meters:
        raise ValueError("all_meters needs last_day")
    return dg.materialize(
        _job_assets("insights_job"),
        partition_key=tenant_id,
        resources=_resources(database_url, ""),
        instance=instance,
        run_config=config,
        raise_on_error=False,
    )


def day_range(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


FEBRUARY = day_range(date(2023, 2, 1), date(2023, 2, 28))


@dataclass
class Sample:
    url: str
    source_url: str
    results: list  # the tick job's run of each day
    per_day: object  # the per-day job's run after them


@pytest.fixture(scope="session")
def february(pg_server_url, tmp_path_factory, registry) -> Iterator[Sample]:
    """The real sample of tenant demo materialized once, all 28 February UTC days, with every
    asset and check of the real definitions, in a database of its own. Shared by the session:
    a test may re-materialize, but must leave every table as it found it."""
    from exnaton_pipeline.lib.demo_data.sample import write_sample
    from exnaton_pipeline.lib.ingestion.source import LocalSource

    url = create_database(pg_server_url, prefix="exnaton_february")
    source = LocalSource(tmp_path_factory.mktemp("february") / "source")
    write_sample(source, registry.get("demo"))
    results = materialize_days("demo", FEBRUARY, url, str(source.root))
    per_day = materialize_per_day("demo", url)
    yield Sample(url, str(source.root), results, per_day)
    drop_database(pg_server_url, url)

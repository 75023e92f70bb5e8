"""The per-tenant read-only role: reads its own schema, nothing else, and never writes; its
password is set once, from the tenant's secret, and travels only as a SCRAM verifier."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import date

import psycopg2
import psycopg2.errors
import pytest
import sqlalchemy as sa
from psycopg2 import sql

from exnaton_pipeline.lib.tenants import Registry, Tenant
from exnaton_pipeline.lib.warehouse import database, migrate, roles
from exnaton_pipeline_tests.conftest import (
    PasswordServer,
    create_database,
    drop_database,
    materialize_days,
)

DEMO_SECRET = "EXNATON_READER_PASSWORD_DEMO"
DEMO_READER = "tenant_demo_reader"
REFUSED = r'password authentication failed for user "{}"'


def _setup(url: str, schema: str) -> roles.ReaderRole:
    """What a run's tenant_schema step does for a tenant: its tables, then its reader role."""
    migrate.migrate_tenant(url, schema)
    with database.transaction(url) as conn:
        return roles.ensure_reader_role(conn, schema)


def _tenant_with_one_day(url: str, tenant: Tenant, kwh: float) -> None:
    """The pipeline's tables for the tenant and its role, then one daily row."""
    _setup(url, tenant.schema)
    with database.transaction(url) as conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "INSERT INTO {}.daily_energy VALUES (%s, '2023-02-01', %s, 0, 0, %s, %s, 0, "
                "NULL, NULL, 96, 96, true)"
            ).format(sql.Identifier(tenant.schema)),
            (str(uuid.uuid4()), kwh, kwh, kwh * 0.22),
        )


@pytest.fixture
def two_tenants(warehouse_url: str, registry: Registry) -> str:
    _tenant_with_one_day(warehouse_url, registry.get("demo"), 12.5)
    _tenant_with_one_day(warehouse_url, registry.get("alpine"), 7.0)
    return warehouse_url


def _reader(url: str, schema: str):
    return database.autocommit_connection(roles.reader_url(url, schema))


def test_reader_reads_its_own_tenant(two_tenants: str) -> None:
    conn = _reader(two_tenants, "tenant_demo")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user, import_kwh FROM tenant_demo.daily_energy")
            assert cur.fetchall() == [("tenant_demo_reader", 12.5)]
            cur.execute("SELECT count(*) FROM tenant_demo.meter_readings")
            assert cur.fetchone() == (0,)
    finally:
        conn.close()


@pytest.mark.parametrize("table", ["daily_energy", "meter_readings", "ingested_objects"])
def test_reader_of_one_tenant_cannot_read_another(two_tenants: str, table: str) -> None:
    conn = _reader(two_tenants, "tenant_demo")
    try:
        with conn.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege) as err:
            cur.execute(sql.SQL("SELECT * FROM tenant_alpine.{}").format(sql.Identifier(table)))
        assert "permission denied for schema tenant_alpine" in str(err.value)
    finally:
        conn.close()


def test_reader_cannot_write_even_when_it_asks_to(two_tenants: str) -> None:
    conn = _reader(two_tenants, "tenant_demo")
    try:
        with conn.cursor() as cur:
            with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
                cur.execute("DELETE FROM tenant_demo.daily_energy")
            cur.execute("SET default_transaction_read_only = off")
            with pytest.raises(psycopg2.errors.InsufficientPrivilege) as err:
                cur.execute("DELETE FROM tenant_demo.daily_energy")
            assert "permission denied for table daily_energy" in str(err.value)
            with pytest.raises(psycopg2.errors.InsufficientPrivilege) as err:
                cur.execute("CREATE TABLE public.leak (x int)")
            assert "permission denied for schema public" in str(err.value)
    finally:
        conn.close()


def test_password_comes_from_the_tenants_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXNATON_READER_PASSWORD_NYC_COOP", raising=False)
    dev = roles.reader_credentials("tenant_nyc_coop", embedded=True)
    assert dev == roles.ReaderRole(
        "tenant_nyc_coop_reader", "tenant_nyc_coop_reader-dev-only", "dev-default"
    )
    assert roles.reader_credentials("tenant_nyc_coop", embedded=False) == roles.ReaderRole(
        "tenant_nyc_coop_reader", None, "none"
    )
    owner_url = "postgresql+psycopg2://owner:pw@db:5432/exnaton?connect_timeout=5"
    assert roles.reader_url(owner_url, "tenant_nyc_coop") == (
        "postgresql+psycopg2://tenant_nyc_coop_reader@db:5432/exnaton?connect_timeout=5"
    )
    monkeypatch.setenv("EXNATON_READER_PASSWORD_NYC_COOP", "s3cret")
    for embedded in (True, False):
        role = roles.reader_credentials("tenant_nyc_coop", embedded)
        assert (role.password, role.password_source) == ("s3cret", "secret")
    url = sa.make_url(roles.reader_url(owner_url, "tenant_nyc_coop"))
    assert (url.username, url.password, url.host) == ("tenant_nyc_coop_reader", "s3cret", "db")


@pytest.fixture
def scratch_schema(warehouse_url: str) -> Iterator[str]:
    """A tenant schema of this test alone (roles are server-wide: no other test shares it)."""
    schema = f"tenant_scratch_{uuid.uuid4().hex[:8]}"
    yield schema
    admin = database.autocommit_connection(warehouse_url)
    with admin.cursor() as cur:
        cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        cur.execute(
            sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(roles.reader_role_name(schema)))
        )
    admin.close()


def _admin(url: str, statement: str, *names: str) -> None:
    """Run `statement` as the server's superuser, with `names` as {} identifiers."""
    conn = database.autocommit_connection(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL(statement).format(*map(sql.Identifier, names)))
    finally:
        conn.close()


def _refusal(schema: str, problems: str, fixes: str) -> str:
    return (
        f"role {schema}_reader could read more than schema {schema}: {problems}. A tenant's "
        "reader must hold no power, be a member of no role and use no other tenant's schema; "
        f"the pipeline does not undo such grants. Fix it by hand, then run again: {fixes}"
    )


def test_a_reader_role_that_already_has_powers_is_refused(
    warehouse_url: str, scratch_schema: str
) -> None:
    reader = roles.reader_role_name(scratch_schema)
    _admin(warehouse_url, "CREATE ROLE {} LOGIN CREATEDB", reader)
    with pytest.raises(roles.RoleError) as err:
        _setup(warehouse_url, scratch_schema)
    assert str(err.value) == _refusal(
        scratch_schema, "it has createdb", f'ALTER ROLE "{reader}" NOCREATEDB;'
    )


def test_powers_given_to_a_reader_later_are_refused_on_the_next_run(
    warehouse_url: str, scratch_schema: str
) -> None:
    reader = roles.reader_role_name(scratch_schema)
    _setup(warehouse_url, scratch_schema)
    _admin(warehouse_url, "ALTER ROLE {} SUPERUSER BYPASSRLS", reader)
    with pytest.raises(roles.RoleError, match=r": it has superuser, bypassrls\. ") as err:
        _setup(warehouse_url, scratch_schema)
    assert str(err.value).endswith(f'ALTER ROLE "{reader}" NOSUPERUSER NOBYPASSRLS;')


def test_reader_gets_connect_where_public_may_not_connect(pg_server_url: str) -> None:
    url = create_database(pg_server_url, prefix="exnaton_hardened")
    try:
        admin = database.autocommit_connection(url)
        with admin.cursor() as cur:
            cur.execute(
                sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(
                    sql.Identifier(sa.make_url(url).database)
                )
            )
        admin.close()
        _setup(url, "tenant_demo")
        reader = _reader(url, "tenant_demo")
        with reader.cursor() as cur:
            cur.execute("SELECT has_database_privilege(current_database(), 'CONNECT')")
            assert cur.fetchone() == (True,)
        reader.close()
    finally:
        drop_database(pg_server_url, url)


# --- memberships and grants that open other tenants ------------------------------------


@pytest.mark.parametrize("granted", ["pg_read_all_data", "tenant_alpine_reader"])
def test_a_reader_made_member_of_a_role_is_refused(two_tenants: str, granted: str) -> None:
    _admin(two_tenants, "GRANT {} TO {}", granted, DEMO_READER)
    try:
        # the grant is real: through it tenant demo's dashboard reads tenant alpine
        conn = _reader(two_tenants, "tenant_demo")
        with conn.cursor() as cur:
            cur.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(granted)))
            cur.execute("SELECT import_kwh FROM tenant_alpine.daily_energy")
            assert cur.fetchall() == [(7.0,)]
        conn.close()
        with pytest.raises(roles.RoleError) as err:
            _setup(two_tenants, "tenant_demo")
        assert str(err.value) == _refusal(
            "tenant_demo",
            f"it is a member of {granted}",
            f'REVOKE "{granted}" FROM "{DEMO_READER}";',
        )
    finally:
        _admin(two_tenants, "REVOKE {} FROM {}", granted, DEMO_READER)
    _setup(two_tenants, "tenant_demo")  # fixed by hand: the next run goes on


def test_another_tenants_schema_opened_to_a_reader_or_to_everyone_is_refused(
    two_tenants: str,
) -> None:
    _admin(two_tenants, "GRANT USAGE ON SCHEMA {} TO {}", "tenant_alpine", DEMO_READER)
    _admin(two_tenants, "GRANT USAGE ON SCHEMA {} TO PUBLIC", "tenant_demo")
    try:
        with pytest.raises(roles.RoleError) as err:
            _setup(two_tenants, "tenant_demo")
        assert str(err.value) == _refusal(
            "tenant_demo",
            "it may use schema tenant_alpine",
            f'REVOKE USAGE ON SCHEMA "tenant_alpine" FROM "{DEMO_READER}";',
        )
        with pytest.raises(roles.RoleError) as err:
            _setup(two_tenants, "tenant_alpine")
        assert str(err.value) == _refusal(
            "tenant_alpine",
            "PUBLIC may use schema tenant_demo",
            'REVOKE USAGE ON SCHEMA "tenant_demo" FROM PUBLIC;',
        )
    finally:
        _admin(two_tenants, "REVOKE USAGE ON SCHEMA {} FROM {}", "tenant_alpine", DEMO_READER)
        _admin(two_tenants, "REVOKE USAGE ON SCHEMA {} FROM PUBLIC", "tenant_demo")


def test_a_run_says_why_it_refuses_the_reader(
    warehouse_url: str, registry: Registry, local_source
) -> None:
    _setup(warehouse_url, "tenant_demo")
    _admin(warehouse_url, "GRANT {} TO {}", "pg_read_all_data", DEMO_READER)
    try:
        [result] = materialize_days(
            "demo", [date(2023, 2, 1)], warehouse_url, str(local_source.root)
        )
    finally:
        _admin(warehouse_url, "REVOKE {} FROM {}", "pg_read_all_data", DEMO_READER)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert failure.step_key == "tenant_schema"  # the run's setup step owns the role
    error = failure.event_specific_data.error
    while error.cls_name != "RoleError":  # Dagster wraps the asset's error
        error = error.cause
    assert error.message == (
        "exnaton_pipeline.lib.warehouse.roles.RoleError: "
        + _refusal(
            "tenant_demo",
            "it is a member of pg_read_all_data",
            f'REVOKE "pg_read_all_data" FROM "{DEMO_READER}";',
        )
        + "\n"
    )


def test_setup_never_lets_a_locked_reader_sign_in_again(
    warehouse_url: str, scratch_schema: str
) -> None:
    reader = roles.reader_role_name(scratch_schema)
    _setup(warehouse_url, scratch_schema)
    _admin(warehouse_url, "ALTER ROLE {} NOLOGIN INHERIT", reader)
    _admin(warehouse_url, "ALTER ROLE {} RESET default_transaction_read_only", reader)
    _setup(warehouse_url, scratch_schema)
    with database.transaction(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT rolcanlogin, rolinherit, rolconfig FROM pg_roles WHERE rolname = %s",
            (reader,),
        )
        # the operator's lock stays; the restrictions the pipeline gives a reader come back
        assert cur.fetchone() == (False, False, ["default_transaction_read_only=on"])


# --- the password: set once, from the secret, never in clear text ----------------------


def _stored_password(server: PasswordServer, role: str) -> str | None:
    with database.transaction(server.url) as conn, conn.cursor() as cur:
        cur.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,))
        return cur.fetchone()[0]


def test_a_run_without_the_secret_keeps_the_password(deployment_server, monkeypatch) -> None:
    server = deployment_server
    monkeypatch.setenv(DEMO_SECRET, "first secret")
    _setup(server.url, "tenant_demo")
    server.sign_in(DEMO_READER, "first secret")
    monkeypatch.delenv(DEMO_SECRET)  # e.g. a run worker started without the secret
    _setup(server.url, "tenant_demo")
    monkeypatch.setenv(DEMO_SECRET, "rotated secret")  # only `exnaton reader-password` sets it
    _setup(server.url, "tenant_demo")
    server.sign_in(DEMO_READER, "first secret")
    for wrong in ("rotated secret", "tenant_demo_reader-dev-only"):
        with pytest.raises(psycopg2.OperationalError, match=REFUSED.format(DEMO_READER)):
            server.sign_in(DEMO_READER, wrong)


def test_the_password_reaches_the_server_only_as_a_scram_verifier(
    deployment_server, monkeypatch
) -> None:
    server = deployment_server
    monkeypatch.setenv(DEMO_SECRET, "Never-in-SQL-42")
    offset = server.log_size()
    _setup(server.url, "tenant_demo")
    logged = server.log_since(offset)
    assert "Never-in-SQL-42" not in logged
    assert f'statement: CREATE ROLE "{DEMO_READER}" LOGIN NOINHERIT PASSWORD ' in logged
    assert "PASSWORD 'SCRAM-SHA-256$4096:" in logged
    assert _stored_password(server, DEMO_READER).startswith("SCRAM-SHA-256$4096:")
    server.sign_in(DEMO_READER, "Never-in-SQL-42")


def test_without_its_secret_a_deployed_reader_cannot_sign_in(
    deployment_server, monkeypatch, caplog
) -> None:
    server = deployment_server
    monkeypatch.setenv("EXNATON_DATABASE_URL", server.url)
    with caplog.at_level(logging.WARNING, logger=roles.__name__):
        role = _setup(server.url, "tenant_demo")
    assert role == roles.ReaderRole(DEMO_READER, None, "none")
    assert caplog.messages == [
        f"created read-only role {DEMO_READER} without a password: it cannot sign in until "
        f"{DEMO_SECRET} is set and `exnaton reader-password --tenant demo` has run"
    ]
    assert _stored_password(server, DEMO_READER) is None
    offset = server.log_size()
    for guess in ("tenant_demo_reader-dev-only", "anything"):
        with pytest.raises(psycopg2.OperationalError, match=REFUSED.format(DEMO_READER)):
            server.sign_in(DEMO_READER, guess)
    assert f'User "{DEMO_READER}" has no password assigned.' in server.log_since(offset)
    assert sa.make_url(roles.reader_url(server.url, "tenant_demo")).password is None


def test_only_the_embedded_database_gives_the_development_password(
    deployment_server, monkeypatch, caplog
) -> None:
    server = deployment_server
    monkeypatch.setenv("EXNATON_HOME", str(server.home))  # its server is the embedded one
    monkeypatch.setenv("EXNATON_DATABASE_URL", server.url)  # as `make demo` exports it
    with caplog.at_level(logging.WARNING, logger=roles.__name__):
        role = _setup(server.url, "tenant_demo")
    dev = "tenant_demo_reader-dev-only"
    assert role == roles.ReaderRole(DEMO_READER, dev, "dev-default")
    assert caplog.messages == [
        f"created read-only role {DEMO_READER} with the development password because "
        f"{DEMO_SECRET} is not set: acceptable on the embedded database only"
    ]
    server.sign_in(DEMO_READER, dev)
    assert sa.make_url(roles.reader_url(server.url, "tenant_demo")).password == dev
    # the tenant with a secret gets its secret, embedded or not
    monkeypatch.setenv("EXNATON_READER_PASSWORD_ALPINE", "alpine secret")
    _setup(server.url, "tenant_alpine")
    server.sign_in("tenant_alpine_reader", "alpine secret")


def test_set_reader_passwords_rotates_and_refuses_without_every_secret(
    deployment_server, monkeypatch
) -> None:
    server = deployment_server
    monkeypatch.setenv(DEMO_SECRET, "first secret")
    _setup(server.url, "tenant_demo")
    monkeypatch.setenv(DEMO_SECRET, "rotated secret")
    with pytest.raises(roles.RoleError) as err, database.transaction(server.url) as conn:
        roles.set_reader_passwords(conn, ["tenant_demo", "tenant_alpine", "tenant_nyc_coop"])
    assert str(err.value) == (
        "EXNATON_READER_PASSWORD_ALPINE, EXNATON_READER_PASSWORD_NYC_COOP are not set: "
        "no password was changed"
    )
    server.sign_in(DEMO_READER, "first secret")
    monkeypatch.setenv("EXNATON_READER_PASSWORD_ALPINE", "alpine secret")
    offset = server.log_size()
    with database.transaction(server.url) as conn:
        done = roles.set_reader_passwords(conn, ["tenant_demo", "tenant_alpine"])
    assert done == [
        f"set the password of role {DEMO_READER} from {DEMO_SECRET}",
        "role tenant_alpine_reader does not exist yet: the tenant's first pipeline run creates "
        "it with the password from EXNATON_READER_PASSWORD_ALPINE",
    ]
    assert "rotated secret" not in server.log_since(offset)
    server.sign_in(DEMO_READER, "rotated secret")
    with pytest.raises(psycopg2.OperationalError, match=REFUSED.format(DEMO_READER)):
        server.sign_in(DEMO_READER, "first secret")


def test_a_pipeline_user_with_createrole_alone_suffices(deployment_server, monkeypatch) -> None:
    """The deployment we advise: the pipeline's user has CREATEROLE, not superuser."""
    server = deployment_server
    _admin(server.url, "CREATE ROLE {} LOGIN CREATEROLE PASSWORD 'pipeline pw'", "pipeline")
    _admin(server.url, "GRANT CREATE ON DATABASE {} TO {}", "exnaton", "pipeline")
    pipeline_url = (
        sa.make_url(server.url)
        .set(username="pipeline", password="pipeline pw")
        .render_as_string(hide_password=False)
    )
    try:
        monkeypatch.setenv(DEMO_SECRET, "first")
        _setup(pipeline_url, "tenant_demo")
        monkeypatch.setenv(DEMO_SECRET, "second")
        with database.transaction(pipeline_url) as conn:
            roles.set_reader_passwords(conn, ["tenant_demo"])
        server.sign_in(DEMO_READER, "second")
        # what such a user could not undo, had we chosen to revoke (docs/decisions.md)
        _admin(server.url, "GRANT {} TO {}", "pg_read_all_data", DEMO_READER)
        with (
            pytest.raises(psycopg2.errors.InsufficientPrivilege, match="permission denied"),
            database.transaction(pipeline_url) as conn,
            conn.cursor() as cur,
        ):
            cur.execute("REVOKE pg_read_all_data FROM tenant_demo_reader")
        with pytest.raises(roles.RoleError, match="it is a member of pg_read_all_data"):
            _setup(pipeline_url, "tenant_demo")
    finally:
        database.engine(pipeline_url).dispose()
        _admin(server.url, "DROP SCHEMA IF EXISTS {} CASCADE", "tenant_demo")
        _admin(server.url, "DROP ROLE IF EXISTS {}", DEMO_READER)
        _admin(server.url, "DROP OWNED BY {}", "pipeline")
        _admin(server.url, "DROP ROLE {}", "pipeline")

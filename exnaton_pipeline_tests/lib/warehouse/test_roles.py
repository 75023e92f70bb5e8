"""The per-tenant read-only role: reads its own schema, nothing else, and never writes."""

from __future__ import annotations

import uuid

import psycopg2
import psycopg2.errors
import pytest
import sqlalchemy as sa
from psycopg2 import sql

from exnaton_pipeline.lib.tenants import Registry, Tenant
from exnaton_pipeline.lib.warehouse import database, roles
from exnaton_pipeline_tests.conftest import create_database, drop_database, set_up_tenant


def _tenant_with_one_day(url: str, tenant: Tenant, kwh: float) -> None:
    """The pipeline's tables for the tenant and its role, then one daily row."""
    set_up_tenant(url, tenant)
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
    dev = roles.reader_credentials("tenant_nyc_coop")
    assert (dev.name, dev.password_source) == ("tenant_nyc_coop_reader", "dev-default")
    monkeypatch.setenv("EXNATON_READER_PASSWORD_NYC_COOP", "s3cret")
    role = roles.reader_credentials("tenant_nyc_coop")
    assert (role.password, role.password_source) == ("s3cret", "secret")
    owner_url = "postgresql+psycopg2://owner:pw@db:5432/exnaton"
    url = sa.make_url(roles.reader_url(owner_url, "tenant_nyc_coop"))
    assert (url.username, url.password, url.host) == ("tenant_nyc_coop_reader", "s3cret", "db")


def test_a_reader_role_with_extra_powers_is_refused(warehouse_url: str) -> None:
    schema = f"tenant_powers_{uuid.uuid4().hex[:8]}"
    admin = database.autocommit_connection(warehouse_url)
    try:
        with admin.cursor() as cur:
            cur.execute(
                sql.SQL("CREATE ROLE {} LOGIN CREATEDB").format(
                    sql.Identifier(roles.reader_role_name(schema))
                )
            )
        with pytest.raises(roles.RoleError, match=r"already exists with createdb"):
            set_up_tenant(warehouse_url, schema)
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
            cur.execute(
                sql.SQL("DROP ROLE {}").format(sql.Identifier(roles.reader_role_name(schema)))
            )
        admin.close()


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
        set_up_tenant(url, "tenant_demo")
        reader = _reader(url, "tenant_demo")
        with reader.cursor() as cur:
            cur.execute("SELECT has_database_privilege(current_database(), 'CONNECT')")
            assert cur.fetchone() == (True,)
        reader.close()
    finally:
        drop_database(pg_server_url, url)

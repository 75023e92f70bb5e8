"""`exnaton reader-password`: the only way a rotated secret reaches a tenant's reader role,
run by `main()` against a server that checks passwords."""

from __future__ import annotations

import psycopg2
import pytest

from exnaton_pipeline.cli import main
from exnaton_pipeline.lib.warehouse import database, migrate, roles
from exnaton_pipeline_tests.conftest import PasswordServer

REFUSED = 'password authentication failed for user "{}"'
SECRETS = {
    "demo": "EXNATON_READER_PASSWORD_DEMO",
    "alpine": "EXNATON_READER_PASSWORD_ALPINE",
    "nyc-coop": "EXNATON_READER_PASSWORD_NYC_COOP",
    "live": "EXNATON_READER_PASSWORD_LIVE",
    "valley": "EXNATON_READER_PASSWORD_VALLEY",
}


@pytest.fixture
def server(deployment_server: PasswordServer, monkeypatch: pytest.MonkeyPatch) -> PasswordServer:
    """The operator's environment: the warehouse is the password-checking server."""
    monkeypatch.setenv("EXNATON_DATABASE_URL", deployment_server.url)
    return deployment_server


def _run_setup(url: str, *schemas: str) -> None:
    """The readers as the tenants' runs leave them, with this environment's secrets."""
    for schema in schemas:
        migrate.migrate_tenant(url, schema)
    with database.transaction(url) as conn:
        for schema in schemas:
            roles.ensure_reader_role(conn, schema)


def test_rotates_one_tenants_password_and_says_so(server, monkeypatch, capsys) -> None:
    monkeypatch.setenv(SECRETS["nyc-coop"], "old secret")
    _run_setup(server.url, "tenant_nyc_coop")
    monkeypatch.setenv(SECRETS["nyc-coop"], "new secret")
    offset = server.log_size()
    assert main(["reader-password", "--tenant", "nyc-coop"]) == 0
    assert capsys.readouterr().out == (
        "set the password of role tenant_nyc_coop_reader from EXNATON_READER_PASSWORD_NYC_COOP\n"
    )
    assert "new secret" not in server.log_since(offset)
    server.sign_in("tenant_nyc_coop_reader", "new secret")
    with pytest.raises(psycopg2.OperationalError, match=REFUSED.format("tenant_nyc_coop_reader")):
        server.sign_in("tenant_nyc_coop_reader", "old secret")


def test_gives_a_password_to_a_role_created_without_one(server, monkeypatch, capsys) -> None:
    _run_setup(server.url, "tenant_demo")  # a run without the secret: no password
    monkeypatch.setenv(SECRETS["demo"], "finally")
    assert main(["reader-password", "--tenant", "demo"]) == 0
    server.sign_in("tenant_demo_reader", "finally")


def test_refuses_without_the_secret_and_changes_nothing(server, monkeypatch, capsys) -> None:
    monkeypatch.setenv(SECRETS["demo"], "kept")
    _run_setup(server.url, "tenant_demo")
    monkeypatch.delenv(SECRETS["demo"])
    assert main(["reader-password", "--tenant", "demo"]) == 2
    assert capsys.readouterr() == (
        "",
        "exnaton: EXNATON_READER_PASSWORD_DEMO is not set: no password was changed\n",
    )
    server.sign_in("tenant_demo_reader", "kept")


def test_all_tenants_or_none(server, monkeypatch, capsys) -> None:
    monkeypatch.setenv(SECRETS["demo"], "demo 1")
    monkeypatch.setenv(SECRETS["alpine"], "alpine 1")
    _run_setup(server.url, "tenant_demo", "tenant_alpine")
    for tenant in ("demo", "alpine", "live"):
        monkeypatch.setenv(SECRETS[tenant], f"{tenant} 2")
    assert main(["reader-password", "--all"]) == 2
    assert capsys.readouterr().err == (
        "exnaton: EXNATON_READER_PASSWORD_NYC_COOP, EXNATON_READER_PASSWORD_VALLEY are not set: "
        "no password was changed\n"
    )
    server.sign_in("tenant_demo_reader", "demo 1")
    for tenant in ("nyc-coop", "valley"):
        monkeypatch.setenv(SECRETS[tenant], f"{tenant} 2")
    assert main(["reader-password", "--all"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "set the password of role tenant_demo_reader from EXNATON_READER_PASSWORD_DEMO",
        "set the password of role tenant_alpine_reader from EXNATON_READER_PASSWORD_ALPINE",
        "role tenant_nyc_coop_reader does not exist yet: the tenant's first pipeline run "
        "creates it with the password from EXNATON_READER_PASSWORD_NYC_COOP",
        "role tenant_live_reader does not exist yet: the tenant's first pipeline run creates "
        "it with the password from EXNATON_READER_PASSWORD_LIVE",
        "role tenant_valley_reader does not exist yet: the tenant's first pipeline run creates "
        "it with the password from EXNATON_READER_PASSWORD_VALLEY",
    ]
    server.sign_in("tenant_demo_reader", "demo 2")
    server.sign_in("tenant_alpine_reader", "alpine 2")


def test_refuses_to_reopen_a_role_that_could_read_other_tenants(
    server, monkeypatch, capsys
) -> None:
    monkeypatch.setenv(SECRETS["demo"], "first")
    _run_setup(server.url, "tenant_demo")
    admin = database.autocommit_connection(server.url)
    with admin.cursor() as cur:
        cur.execute("GRANT pg_read_all_data TO tenant_demo_reader")
    admin.close()
    monkeypatch.setenv(SECRETS["demo"], "second")
    assert main(["reader-password", "--tenant", "demo"]) == 2
    assert capsys.readouterr().err.startswith(
        "exnaton: role tenant_demo_reader could read more than schema tenant_demo: it is a "
        "member of pg_read_all_data."
    )
    server.sign_in("tenant_demo_reader", "first")


def test_needs_a_tenant_or_all(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(["reader-password"])
    assert done.value.code == 2
    assert "one of the arguments --tenant --all is required" in capsys.readouterr().err

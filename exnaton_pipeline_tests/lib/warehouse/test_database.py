import socket

import psycopg2
import pytest

from exnaton_pipeline.lib.warehouse import database
from exnaton_pipeline_tests.conftest import free_port


def test_unreachable_database_is_a_clear_error():
    url = f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/exnaton"
    with pytest.raises(psycopg2.OperationalError) as err, database.transaction(url):
        pass
    assert "127.0.0.1" in str(err.value)
    assert "Connection refused" in str(err.value)


@pytest.mark.timeout(60)
def test_silent_database_times_out(monkeypatch):
    # a port that accepts TCP connections but never speaks PostgreSQL
    monkeypatch.setattr(database, "CONNECT_TIMEOUT_SECONDS", 2)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        url = f"postgresql+psycopg2://postgres@127.0.0.1:{port}/exnaton"
        with pytest.raises(psycopg2.OperationalError) as err, database.transaction(url):
            pass
    assert "timeout expired" in str(err.value)


def test_a_connection_lost_mid_transaction_is_reported_as_lost(database_url):
    """The error says the connection was lost (transient, so the step is retried), not the
    "connection already closed" of the rollback that followed; the pool drops it."""
    with (
        pytest.raises(psycopg2.OperationalError) as lost,
        database.transaction(database_url) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("SELECT pg_backend_pid()")
        (pid,) = cur.fetchone()
        killer = database.autocommit_connection(database_url)
        with killer.cursor() as other:
            other.execute("SELECT pg_terminate_backend(%s)", (pid,))
        killer.close()
        cur.execute("SELECT 1")
    assert database.is_transient_error(lost.value)
    with database.transaction(database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid() <> %s", (pid,))
        assert cur.fetchone() == (True,)

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

"""The embedded server starts, is shared, and stops on request (pgserver, a real PostgreSQL)."""

import psycopg2

from exnaton_pipeline.lib.warehouse import embedded_pg


def test_start_share_and_stop(tmp_path):
    datadir = tmp_path / "pg"
    assert not embedded_pg.is_running(datadir)
    assert embedded_pg.stop(datadir) is False  # nothing to stop

    socket_dir = embedded_pg.start(datadir)
    assert embedded_pg.is_running(datadir)
    embedded_pg.ensure_database(socket_dir, "exnaton")
    embedded_pg.ensure_database(socket_dir, "exnaton")  # idempotent
    conn = psycopg2.connect(dbname="exnaton", user="postgres", host=str(socket_dir))
    with conn.cursor() as cur:
        cur.execute("SELECT 40 + 2")
        assert cur.fetchone() == (42,)
    conn.close()

    assert embedded_pg.stop(datadir) is True
    assert not embedded_pg.is_running(datadir)
    assert not (datadir / "postmaster.pid").exists()

"""The `exnaton` command line, run as an operator runs it: the console script in a subprocess,
with a fresh EXNATON_HOME and the warehouse in a database of its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import sqlalchemy as sa

from exnaton_pipeline.cli import main
from exnaton_pipeline_tests.builders import EXPORT, EXPORT_MUID, IMPORT, IMPORT_MUID
from exnaton_pipeline_tests.conftest import create_database, drop_database

EXNATON = Path(sys.executable).with_name("exnaton")


def dsn(url: str) -> str:
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def query(url: str, text: str) -> list[tuple]:
    conn = psycopg2.connect(dsn(url))
    try:
        with conn.cursor() as cur:
            cur.execute(text)
            return cur.fetchall()
    finally:
        conn.close()


@pytest.fixture
def home() -> Iterator[Path]:
    # short and outside root's home: the embedded server puts its socket in there
    folder = Path(tempfile.mkdtemp(prefix="exn-cli-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def operator_env(home: Path, database_url: str | None) -> dict[str, str]:
    """A clean operator environment: only the test registry and our home are given."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("EXNATON_", "DAGSTER_", "AWS_ENDPOINT"))
    }
    env.update(EXNATON_HOME=str(home), EXNATON_TENANTS_FILE=os.environ["EXNATON_TENANTS_FILE"])
    if database_url:
        env["EXNATON_DATABASE_URL"] = database_url
    return env


def exnaton(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(EXNATON), *args], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def fresh_database(pg_server_url):
    url = create_database(pg_server_url, prefix="exnaton_cli")
    yield url
    drop_database(pg_server_url, url)


def test_db_url_prints_the_configured_url(home):
    url = "postgresql+psycopg2://meter:secret@db.example:5432/warehouse"
    done = exnaton(operator_env(home, url), "db-url")
    assert (done.returncode, done.stdout) == (0, url + "\n")


def test_db_url_starts_the_embedded_server(home):
    import pgserver

    done = exnaton(operator_env(home, None), "db-url")
    try:
        assert done.returncode == 0, done.stderr
        url = done.stdout.strip()
        assert url == f"postgresql+psycopg2://postgres:@/exnaton?host={home / 'pg'}"
        # it is running, and the `exnaton` database exists
        assert query(url, "SELECT current_database()") == [("exnaton",)]
    finally:
        server = pgserver.get_server(home / "pg", cleanup_mode="delete")
        server.cleanup()


def test_db_stop_stops_the_embedded_server(home):
    env = operator_env(home, None)
    assert exnaton(env, "db-url").returncode == 0
    done = exnaton(env, "db-stop")
    assert (done.returncode, done.stdout) == (
        0,
        f"stopped the embedded PostgreSQL in {home / 'pg'}\n",
    )
    assert not (home / "pg" / "postmaster.pid").exists()
    done = exnaton(env, "db-stop")
    assert done.stdout == f"no embedded PostgreSQL is running in {home / 'pg'}\n"


def test_load_sample_writes_one_object_per_meter_and_day(home):
    done = exnaton(
        operator_env(home, "postgresql+psycopg2://unused@/x"), "load-sample", "--tenant", "demo"
    )
    assert done.returncode == 0, done.stderr
    source = home / "source"
    assert done.stdout == (
        f"wrote 56 objects for tenant demo to {source} (2023-02-01 .. 2023-02-28)\n"
    )
    files = sorted(p.relative_to(source).as_posix() for p in source.rglob("*.json"))
    assert len(files) == 56
    assert files[:2] == [
        f"demo/2023-02-01/{EXPORT_MUID}.json",
        f"demo/2023-02-01/{IMPORT_MUID}.json",
    ]
    assert files[-1] == f"demo/2023-02-28/{IMPORT_MUID}.json"


def test_february_backfill_gives_the_known_totals_and_is_repeatable(home, fresh_database):
    env = operator_env(home, fresh_database)
    assert exnaton(env, "load-sample", "--tenant", "demo").returncode == 0
    args = ["backfill", "--tenant", "demo", "--start", "2023-02-01", "--end", "2023-02-28"]

    first = exnaton(env, *args)
    assert first.returncode == 0, first.stderr[-3000:]
    lines = first.stdout.splitlines()
    assert lines[0].startswith("[1/28] 2023-02-01|demo  ok  192 rows written, 192 new")
    assert lines[-1] == "28 of 28 partitions succeeded"
    totals = "SELECT obis, count(*), round(sum(kwh)::numeric, 5) FROM tenant_demo.meter_readings "
    totals += "GROUP BY obis ORDER BY obis"
    # SOURCE.md: 2 x 2688 readings summing to 97.6082 and 36.19725 kWh
    expected = [(IMPORT, 2688, 97.6082), (EXPORT, 2688, 36.19725)]
    assert [(o, n, float(s)) for o, n, s in query(fresh_database, totals)] == expected
    assert query(fresh_database, "SELECT count(*) FROM tenant_demo.rejected_readings") == [(0,)]
    snapshot = "SELECT muid, obis, ts, kwh, revision, ingested_at FROM tenant_demo.meter_readings "
    snapshot += "ORDER BY muid, obis, ts"
    before = query(fresh_database, snapshot)
    # the runs are recorded on the Dagster instance (same PostgreSQL)
    assert query(
        fresh_database, "SELECT count(*) FROM runs WHERE pipeline_name = 'meter_data_job'"
    ) == [(28,)]

    again = exnaton(env, *args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.splitlines()[0].startswith("[1/28] 2023-02-01|demo  ok  0 rows written")
    assert query(fresh_database, snapshot) == before
    assert [(o, n, float(s)) for o, n, s in query(fresh_database, totals)] == expected


@pytest.fixture
def in_process(home, monkeypatch):
    """For main() in this process: nothing may touch the repository's own .exnaton."""
    monkeypatch.setenv("EXNATON_HOME", str(home))
    for name in ("DAGSTER_HOME", "DAGSTER_PG_URL"):  # restored afterwards even if set by main()
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


def test_unknown_tenant_exits_2_with_a_clear_message(in_process, capsys):
    assert (
        main(["backfill", "--tenant", "nobody", "--start", "2023-02-01", "--end", "2023-02-01"])
        == 2
    )
    # the test registry only grows at its end
    assert capsys.readouterr().err.startswith(
        "exnaton: unknown tenant 'nobody'; the registry has: demo, alpine, nyc-coop"
    )
    assert main(["load-sample", "--tenant", "Robert'); DROP TABLE x;--"]) == 2
    assert "invalid tenant id" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2023-02-30", "2023-03-01", "argument --start: '2023-02-30' is not a date YYYY-MM-DD"),
        ("2023-02-01", "28.02.2023", "argument --end: '28.02.2023' is not a date YYYY-MM-DD"),
    ],
)
def test_bad_dates_are_refused(start, end, message, in_process, capsys):
    with pytest.raises(SystemExit) as done:
        main(["backfill", "--tenant", "demo", "--start", start, "--end", end])
    assert done.value.code == 2
    assert message in capsys.readouterr().err


def test_end_before_start_is_refused(in_process, home):
    with pytest.raises(SystemExit) as done:
        main(["backfill", "--tenant", "demo", "--start", "2023-02-10", "--end", "2023-02-01"])
    assert done.value.code == "--end 2023-02-01 is before --start 2023-02-10"
    assert list(home.iterdir()) == []  # refused before any database or Dagster home was made

"""The `exnaton` command line, run as an operator runs it: the console script in a subprocess,
with a fresh EXNATON_HOME and the warehouse in a database of its own."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import sqlalchemy as sa

from exnaton_pipeline.cli import main
from exnaton_pipeline_tests.builders import EXPORT, EXPORT_MUID, IMPORT, IMPORT_MUID
from exnaton_pipeline_tests.conftest import create_database, drop_database

EXNATON = Path(sys.executable).with_name("exnaton")
REPO_ROOT = Path(__file__).resolve().parents[1]


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
    backfill_id = lines[0].split()[1]
    assert lines[0] == (
        f"backfill {backfill_id} (28 partitions of demo): no daemon serves the instance: run here"
    )
    assert lines[1].startswith("[1/28] 2023-02-01|demo  ok  192 rows written, 192 new")
    assert lines[28].startswith("[28/28] 2023-02-28|demo  ok  192 rows written, 192 new")
    assert lines[28].endswith("ETA 0:00")  # not a terminal: each line says how long is left
    assert lines[-2] == "28 of 28 partitions succeeded"
    # then the per-day work, here as no daemon would ask for it: both meters' windows
    assert re.fullmatch(
        r"per-day work up to \d{4}-\d\d-\d\d \(insights_job, run \w{8}, [\d.]+s\): "
        r"2 meter\(s\) changed, 14 insights written",
        lines[-1],
    ), lines[-1]
    totals = "SELECT obis, count(*), round(sum(kwh)::numeric, 5) FROM tenant_demo.meter_readings "
    totals += "GROUP BY obis ORDER BY obis"
    # SOURCE.md: 2 x 2688 readings summing to 97.6082 and 36.19725 kWh
    expected = [(IMPORT, 2688, 97.6082), (EXPORT, 2688, 36.19725)]
    assert [(o, n, float(s)) for o, n, s in query(fresh_database, totals)] == expected
    assert query(fresh_database, "SELECT count(*) FROM tenant_demo.rejected_readings") == [(0,)]
    snapshot = "SELECT muid, obis, ts, kwh, revision, ingested_at FROM tenant_demo.meter_readings "
    snapshot += "ORDER BY muid, obis, ts"
    before = query(fresh_database, snapshot)
    # the runs are recorded on the Dagster instance (same PostgreSQL), as one backfill
    assert query(
        fresh_database, "SELECT count(*) FROM runs WHERE pipeline_name = 'meter_data_job'"
    ) == [(28,)]
    assert backfill_runs(fresh_database, backfill_id) == {
        f"2023-02-{day:02d}|demo": "SUCCESS" for day in range(1, 29)
    }
    assert query(fresh_database, "SELECT key, status FROM bulk_actions") == [
        (backfill_id, "COMPLETED_SUCCESS")
    ]

    again = exnaton(env, *args)
    assert again.returncode == 0, again.stderr[-3000:]
    again_lines = again.stdout.splitlines()
    assert again_lines[1].startswith("[1/28] 2023-02-01|demo  ok  nothing to do")
    assert again_lines[-1].endswith("0 meter(s) changed, 0 insights written")
    assert query(fresh_database, snapshot) == before
    assert [(o, n, float(s)) for o, n, s in query(fresh_database, totals)] == expected


def backfill_runs(url: str, backfill_id: str) -> dict[str, str]:
    """Status of each run of the backfill, by partition."""
    rows = query(
        url,
        "SELECT p.value, r.status FROM runs r "
        "JOIN run_tags b ON b.run_id = r.run_id AND b.key = 'dagster/backfill' "
        "JOIN run_tags p ON p.run_id = r.run_id AND p.key = 'dagster/partition' "
        f"WHERE b.value = '{backfill_id}'",  # an id this test read from the command's output
    )
    return dict(rows)


def test_failed_partitions_are_recorded_on_the_backfill_and_exit_1(home, fresh_database):
    env = operator_env(home, fresh_database)
    assert exnaton(env, "load-sample", "--tenant", "demo").returncode == 0
    # tenant alpine has nothing under its source prefix: each of its partitions fails at once
    done = exnaton(
        env, "backfill", "--tenant", "alpine", "--start", "2023-02-01", "--end", "2023-02-02"
    )
    assert done.returncode == 1, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    backfill_id = lines[0].split()[1]
    assert lines[1].startswith(
        "[1/2] 2023-02-01|alpine  FAILED  raw_meter_readings: tenant alpine: nothing exists under "
        f"its source prefix {home / 'source'}/alpine/"
    )
    assert lines[-2] == "0 of 2 partitions succeeded"
    assert backfill_runs(fresh_database, backfill_id) == {
        "2023-02-01|alpine": "FAILURE",
        "2023-02-02|alpine": "FAILURE",
    }
    assert query(fresh_database, "SELECT status FROM bulk_actions") == [("COMPLETED_FAILED",)]


def started_runs(url: str) -> int:
    try:
        return query(url, "SELECT count(*) FROM runs WHERE status = 'STARTED'")[0][0]
    except psycopg2.errors.UndefinedTable:  # the instance has not created its tables yet
        return 0


def start_backfill_and_wait_for_a_run(env: dict[str, str], url: str) -> subprocess.Popen:
    args = ["backfill", "--tenant", "demo", "--start", "2023-02-01", "--end", "2023-02-28"]
    process = subprocess.Popen(
        [str(EXNATON), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 180
    while not started_runs(url):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no run started"
        time.sleep(0.2)
    return process


def test_ctrl_c_cancels_the_run_in_progress_and_the_backfill(home, fresh_database):
    env = operator_env(home, fresh_database)
    assert exnaton(env, "load-sample", "--tenant", "demo").returncode == 0
    process = start_backfill_and_wait_for_a_run(env, fresh_database)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-3000:]
    assert "interrupted: backfill" in out and out.rstrip().endswith("is cancelled")
    assert started_runs(fresh_database) == 0
    # Dagster stops the run in progress and marks it failed; the ones before it succeeded. A
    # run takes a second or two: the signal may also land between two runs (none failed).
    statuses = [status for (status,) in query(fresh_database, "SELECT status FROM runs")]
    assert set(statuses) <= {"SUCCESS", "FAILURE"}
    assert statuses.count("FAILURE") <= 1
    assert len(statuses) < 28  # the backfill did not go on
    assert query(fresh_database, "SELECT status FROM bulk_actions") == [("CANCELED",)]


def test_a_killed_backfill_leaves_no_run_holding_the_tenant(home, fresh_database):
    env = operator_env(home, fresh_database)
    assert exnaton(env, "load-sample", "--tenant", "demo").returncode == 0
    process = start_backfill_and_wait_for_a_run(env, fresh_database)
    process.kill()  # SIGKILL: no chance to clean up
    process.communicate(timeout=60)
    (orphan,) = query(fresh_database, "SELECT run_id FROM runs WHERE status = 'STARTED'")
    # the next backfill marks the orphan failed before it starts, then does its own work
    done = exnaton(
        env, "backfill", "--tenant", "demo", "--start", "2023-02-01", "--end", "2023-02-01"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[0] == (
        f"marked run {orphan[0][:8]} failed: the backfill process that ran it is gone"
    )
    assert started_runs(fresh_database) == 0
    assert query(fresh_database, f"SELECT status FROM runs WHERE run_id = '{orphan[0]}'") == [
        ("FAILURE",)
    ]
    statuses = dict(query(fresh_database, "SELECT status, count(*) FROM bulk_actions GROUP BY 1"))
    assert statuses == {"FAILED": 1, "COMPLETED_SUCCESS": 1}


def test_a_daemon_that_stopped_before_it_started_is_taken_over(home, fresh_database, monkeypatch):
    """`make demo` run again at once: the stopped daemon's last heartbeats are still recent."""
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef
    from dagster._daemon.types import DaemonHeartbeat

    env = operator_env(home, fresh_database)
    assert exnaton(env, "load-sample", "--tenant", "demo").returncode == 0
    monkeypatch.setenv("DAGSTER_PG_URL", fresh_database)
    (home / "dagster").mkdir()
    ref = InstanceRef.from_dir(str(home / "dagster"), config_dir=str(REPO_ROOT))
    with dg.DagsterInstance.from_ref(ref) as instance:
        beat = time.time() - 30  # they count as stale 30 s later
        for daemon in ("BACKFILL", "QUEUED_RUN_COORDINATOR"):
            instance.add_daemon_heartbeat(DaemonHeartbeat(beat, daemon, "gone", None))
    args = ["backfill", "--tenant", "demo", "--start", "2023-02-01", "--end", "2023-02-02"]
    done = exnaton(env, *args)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].endswith("(2 partitions of demo): the daemon runs it")
    assert lines[1] == "the daemon stopped before it started on the backfill: run here"
    assert lines[-2] == "2 of 2 partitions succeeded"
    # it ran the backfill, so it runs the per-day work too: both meters, on 2 days of data
    assert lines[-1].endswith("2 meter(s) changed, 10 insights written")
    assert query(fresh_database, "SELECT status FROM bulk_actions") == [("COMPLETED_SUCCESS",)]


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

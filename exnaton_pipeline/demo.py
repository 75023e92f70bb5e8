"""`exnaton demo`: the whole platform on one machine, started and stopped with one command.

Loads the real sample into the local source and materializes its partitions, writes recent
history for the synthetic live tenant, then serves the Dagster webserver and daemon, the
dashboard and the live producer until Ctrl-C, which stops everything it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from exnaton_pipeline.lib import settings
from exnaton_pipeline.lib.runtime import prepare_dagster_home
from exnaton_pipeline.lib.warehouse import database, embedded_pg

SAMPLE_TENANT = "demo"
SAMPLE_DAYS = ("2023-02-01", "2023-02-28")
LIVE_TENANT = "live"  # synthetic households, fed every 15 minutes while the demo runs
LIVE_HISTORY_DAYS = 2


@dataclass(frozen=True)
class Service:
    name: str
    argv: list[str]
    url: str | None = None


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def services() -> list[Service]:
    dagster_port = os.environ.get("EXNATON_DAGSTER_PORT", "3000")
    dashboard_port = os.environ.get("EXNATON_DASHBOARD_PORT", "8501")
    workspace = str(settings.REPO_ROOT / "workspace.yaml")
    return [
        Service(
            "dagster-webserver",
            [_bin("dagster-webserver"), "-h", "127.0.0.1", "-p", dagster_port, "-w", workspace],
            f"http://127.0.0.1:{dagster_port}",
        ),
        Service("dagster-daemon", [_bin("dagster-daemon"), "run", "-w", workspace]),
        Service("producer", [_bin("exnaton"), "produce", "--tenant", LIVE_TENANT]),
        Service(
            "dashboard",
            [
                _bin("streamlit"),
                "run",
                str(settings.REPO_ROOT / "streamlit_app" / "app.py"),
                "--server.address",
                "127.0.0.1",
                "--server.port",
                dashboard_port,
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
            ],
            f"http://127.0.0.1:{dashboard_port}",
        ),
    ]


def _step(title: str, argv: list[str]) -> None:
    print(f"==> {title}", flush=True)
    subprocess.run(argv, check=True)


def run() -> int:
    """Prepare the data, serve until Ctrl-C, stop what was started; return the exit code."""
    # the embedded server, if this demo starts it, is stopped with everything else at the end
    owns_database = settings.configured_database_url() is None and not embedded_pg.is_running(
        database.embedded_datadir()
    )
    # Children share one server. Dagster's storage is pinned first: with EXNATON_DATABASE_URL
    # exported it would resolve to the warehouse database, not the embedded `dagster` database
    # that `dagster dev` in the repository root uses.
    os.environ.setdefault("DAGSTER_PG_URL", database.dagster_storage_url())
    os.environ["EXNATON_DATABASE_URL"] = database.warehouse_url()
    try:
        prepare_dagster_home()
        _prepare_data(_bin("exnaton"))
        _serve()
    except subprocess.CalledProcessError as exc:
        print(f"exnaton demo: step failed ({' '.join(exc.cmd[1:])}); see the output above")
        return 1
    except KeyboardInterrupt:
        print("interrupted.")
        return 130
    finally:
        if owns_database and embedded_pg.stop(database.embedded_datadir()):
            print("stopped the embedded PostgreSQL.")
    return 0


def _prepare_data(exnaton: str) -> None:
    """The real sample and the live tenant's recent history, materialized."""
    today = datetime.now(UTC).date()
    live_start = (today - timedelta(days=LIVE_HISTORY_DAYS)).isoformat()
    _step("loading the bundled real sample", [exnaton, "load-sample", "--tenant", SAMPLE_TENANT])
    _step(
        "materializing its partitions",
        [
            exnaton,
            "backfill",
            "--tenant",
            SAMPLE_TENANT,
            "--start",
            SAMPLE_DAYS[0],
            "--end",
            SAMPLE_DAYS[1],
        ],
    )
    _step(
        f"writing {LIVE_HISTORY_DAYS} days of history for the live tenant",
        [exnaton, "generate", "--tenant", LIVE_TENANT, "--days", str(LIVE_HISTORY_DAYS)],
    )
    _step(
        "materializing them",
        [
            exnaton,
            "backfill",
            "--tenant",
            LIVE_TENANT,
            "--start",
            live_start,
            "--end",
            today.isoformat(),
        ],
    )


def _serve() -> None:
    """Run the services until Ctrl-C (or one of them exits), then stop them all."""
    os.environ.setdefault("EXNATON_DASHBOARD_AUTH", "none")  # local demo: tenant picker, no sign-in
    started: list[tuple[Service, subprocess.Popen]] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        for service in services():
            # own process group: Ctrl-C reaches us once and we stop the children in order;
            # the repo root as working directory so streamlit finds .streamlit/config.toml
            proc = subprocess.Popen(service.argv, cwd=settings.REPO_ROOT, start_new_session=True)
            started.append((service, proc))
        print("\nexnaton demo is running:")
        for service, _ in started:
            if service.url:
                print(f"  {service.name:18} {service.url}")
        print("Press Ctrl-C to stop everything.\n", flush=True)
        while not stopping:
            for service, proc in started:
                if proc.poll() is not None:
                    print(f"{service.name} exited with code {proc.returncode}; stopping the demo")
                    stopping = True
            time.sleep(0.5)
    finally:
        _terminate(started)


def _terminate(started: list[tuple[Service, subprocess.Popen]]) -> None:
    for _, proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for service, proc in started:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"{service.name} did not stop in time; killing it")
            os.killpg(proc.pid, signal.SIGKILL)
    print("stopped.")

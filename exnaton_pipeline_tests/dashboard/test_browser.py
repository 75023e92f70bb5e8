"""The dashboard in a real browser: `streamlit run` on a free port against the test database,
driven by Debian's Chromium through Playwright (system binary, never `playwright install`).

Fails to sign in until the throttle makes the client wait, reloads, signs in, changes the
period, waits for the Plotly charts, compares the headline figures and the CSV download with
the database, and saves screenshots under test-output/dashboard/. Over the real sample (the
pipeline's own tables) it opens installation `home` and the community view.
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from psycopg2 import sql

from exnaton_pipeline.lib.warehouse import database
from exnaton_pipeline_tests.conftest import free_port
from exnaton_pipeline_tests.dashboard.conftest import HOUSE, PASSWORD, SCHEMA

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "test-output" / "dashboard"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="browser test needs Debian's Chromium at /usr/bin/chromium: "
    "run `apt-get install -y chromium` to enable it",
)


@pytest.fixture
def dashboard(deployed_env: dict) -> Iterator[str]:
    """A `streamlit run` of the app pinned to tenant demo; yields its base URL."""
    with _serve(deployed_env) as base:
        yield base


@pytest.fixture
def sample_dashboard(real_sample_reader: str) -> Iterator[str]:
    """The app pinned to tenant demo over the real sample as the pipeline built it."""
    with _serve(dict(os.environ)) as base:
        yield base


@contextmanager
def _serve(env: dict) -> Iterator[str]:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = (OUTPUT / "streamlit.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(REPO / "streamlit_app" / "app.py"),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.fileWatcherType",
            "none",
        ],
        cwd=REPO,  # picks up .streamlit/config.toml
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                    if response.read() == b"ok":
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not start; see {log.name}") from None
                time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def _expected(url: str, start: str, end: str) -> dict[str, str]:
    """The headline figures of HOUSE for local days start..end, straight from daily_energy."""
    with database.transaction(url) as conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "SELECT sum(import_kwh), sum(cost), sum(cost) - sum(feed_in_credit) "
                "FROM {}.daily_energy WHERE muid = %s AND day BETWEEN %s AND %s"
            ).format(sql.Identifier(SCHEMA)),
            (HOUSE, start, end),
        )
        consumption, cost, net = cur.fetchone()
    return {
        "Consumption": f"{consumption:,.1f} kWh",
        "Import cost": f"{cost:,.2f} CHF",
        "Net cost": f"{net:,.2f} CHF",
    }


CLIENT = "203.0.113.7"
TOO_MANY = "Too many sign-in attempts"


def _sign_in(page, user: str, password: str) -> None:
    page.get_by_role("textbox", name="User name").fill(user)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def _wait_for_sign_in_lines(count: int) -> list[str]:
    """The server's log lines of sign-in attempts, once there are `count` of them."""
    deadline = time.monotonic() + 30
    while True:
        text = (OUTPUT / "streamlit.log").read_text()
        lines = [
            line.split("streamlit_app.auth: ", 1)[1]
            for line in text.splitlines()
            if "streamlit_app.auth: sign-in " in line
        ]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def _expect_figures(page, expected: dict[str, str]) -> None:
    """Wait until every expected headline figure shows (Streamlit redraws them one by one),
    then compare them all."""
    from playwright.sync_api import expect

    metrics = page.locator('[data-testid="stMetric"]')
    for label, value in expected.items():
        expect(metrics.filter(has_text=label).first).to_contain_text(value)
    # a rerun still in flight may redraw a figure once more: settle on the final page
    deadline = time.monotonic() + 30
    while True:
        shown = {k: v for k, v in _headline(page).items() if k in expected}
        if shown == expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert shown == expected


def _headline(page) -> dict[str, str]:
    """Label -> value of every metric on the page, read in one pass of the browser (a metric
    redrawn meanwhile cannot leave a half-read page)."""
    pairs = page.eval_on_selector_all(
        '[data-testid="stMetric"]',
        """els => els.map(e => [
            e.querySelector('[data-testid="stMetricLabel"]')?.innerText.trim(),
            e.querySelector('[data-testid="stMetricValue"]')?.innerText.trim()])""",
    )
    return {label: value for label, value in pairs if label}


def test_sign_in_change_period_and_check_figures(dashboard: str, demo_db) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2300})
            # as a reverse proxy on this host would send it (the server trusts 127.0.0.1)
            page.set_extra_http_headers({"X-Forwarded-For": CLIENT})
            page.goto(dashboard)
            for n in range(3):
                _sign_in(page, "mallory", f"guess-{n}")
                _wait_for_sign_in_lines(n + 1)
            expect(page.get_by_text(f"{TOO_MANY}: please wait 30 seconds")).to_be_visible()
            page.reload()  # a new session: the wait goes on
            _sign_in(page, "mallory", "guess-3")
            expect(page.get_by_text(re.compile(rf"{TOO_MANY}\. Please wait"))).to_be_visible()
            page.screenshot(path=OUTPUT / "sign_in_wait.png")
            log = _wait_for_sign_in_lines(4)
            assert log[:3] == [
                f"sign-in failed: user='mallory' client='{CLIENT}' delay={wait}s"
                for wait in (0, 0, 30)
            ]
            # refused with the rest of the 30 seconds, a few of which have passed
            refused, delay = log[3].split(" delay=")
            assert refused == f"sign-in refused: user='mallory' client='{CLIENT}'"
            assert 20 <= int(delay.removesuffix("s")) <= 30

            _sign_in(page, "alice", PASSWORD)  # another account from the same client

            # opens on all data, 1 - 28 Feb; three charts: energy, heatmap, daily profile
            expect(page.locator(".js-plotly-plot")).to_have_count(3, timeout=30_000)
            expected = _expected(demo_db.url, "2023-02-01", "2023-02-28")
            metric = page.locator('[data-testid="stMetric"]').first
            _expect_figures(page, expected)
            page.screenshot(path=OUTPUT / "all_data.png", full_page=True)

            # a week from there: the newest complete day's, 13 - 19 Feb
            page.get_by_text("Week", exact=True).click()
            expected = _expected(demo_db.url, "2023-02-13", "2023-02-19")
            assert expected["Consumption"] == "168.0 kWh"  # the fixture's hand-made week
            _expect_figures(page, expected)
            expect(page.locator(".js-plotly-plot")).to_have_count(3)

            with page.expect_download() as download:
                page.get_by_role("button", name="Download these data (CSV)").click()
            rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
            assert len(rows) == 7 * 24  # hourly for a week
            assert rows[0]["interval_start (Europe/Zurich)"] == "2023-02-13 00:00:00+01:00"
            assert sum(float(r["consumption_kwh"]) for r in rows) == pytest.approx(168.0)

            page.wait_for_timeout(500)  # let Plotly finish its transitions
            shot = OUTPUT / "week.png"
            page.screenshot(path=shot, full_page=True)
            assert shot.stat().st_size > 20_000

            # forward over the empty week to the newest day's, where only 28 Feb has readings
            page.get_by_role("button", name="Next ▶").click()
            expect(page.get_by_text("No readings for Household consumption")).to_be_visible()
            page.get_by_role("button", name="Next ▶").click()
            expect(metric).to_contain_text("6.0 kWh")
            expect(page.get_by_role("button", name="Next ▶")).to_be_disabled()
        finally:
            browser.close()
    assert os.path.getsize(OUTPUT / "all_data.png") > 20_000
    log = (OUTPUT / "streamlit.log").read_text()
    assert f"sign-in signed_in: user='alice' client='{CLIENT}' delay=0s" in log
    assert "guess-" not in log and PASSWORD not in log


def test_installation_and_community_of_the_real_sample(sample_dashboard: str) -> None:
    """The figures of the issue, from the raw files: installation `home` consumed 97.6 kWh,
    fed in 36.2 kWh and costs 25.07 - 3.62 = 21.45 CHF net; the community (both meters)
    covered 14.83605 of its 97.6082 kWh by feed-in in the same quarter hour: 15.2 %."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2000})
            page.goto(sample_dashboard)
            _sign_in(page, "alice", PASSWORD)
            metric = page.locator('[data-testid="stMetric"]').first
            expect(metric).to_contain_text("97.6 kWh")  # opens on the consumption meter
            page.locator('[data-testid="stSelectbox"]').filter(has_text="Meter").click()
            page.get_by_role("option", name="home (installation, 2 meters)").click()
            expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=30_000)
            _expect_figures(
                page, {"Consumption": "97.6 kWh", "Feed-in": "36.2 kWh", "Net cost": "21.45 CHF"}
            )
            page.screenshot(path=OUTPUT / "installation.png", full_page=True)

            page.get_by_text("The whole community").click()
            _expect_figures(
                page,
                {
                    "Consumption": "97.6 kWh",
                    "Feed-in": "36.2 kWh",
                    "Covered by members' feed-in": "15.2%",
                },
            )
            page.screenshot(path=OUTPUT / "community.png", full_page=True)
        finally:
            browser.close()

"""Placeholder and empty secrets are refused, by name, before a deployed process starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from exnaton_pipeline.lib.secrets_check import secret_problems
from exnaton_pipeline.lib.settings import REPO_ROOT

EXNATON = Path(sys.executable).with_name("exnaton")
TENANTS = ["demo", "nyc-coop"]
PIPELINE = {
    "EXNATON_DATABASE_URL": "postgresql+psycopg2://exnaton:pg-Secret-1@db:5432/exnaton",
    "DAGSTER_PG_URL": "postgresql+psycopg2://exnaton:pg-Secret-1@db:5432/dagster",
    "AWS_SECRET_ACCESS_KEY": "s3-Secret-2",
    "EXNATON_READER_PASSWORD_DEMO": "demo-Secret-3",
    "EXNATON_READER_PASSWORD_NYC_COOP": "nyc-Secret-4",
}
PLACEHOLDER = (
    "is still the placeholder from .env.example (starts with 'change-me'): set a real secret"
)


def test_a_real_configuration_passes():
    assert secret_problems(PIPELINE, TENANTS) == []


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("POSTGRES_PASSWORD", "change-me", f"POSTGRES_PASSWORD {PLACEHOLDER}"),
        ("MINIO_ROOT_PASSWORD", "Change-Me-Too", f"MINIO_ROOT_PASSWORD {PLACEHOLDER}"),
        ("AWS_SECRET_ACCESS_KEY", "change-me-too", f"AWS_SECRET_ACCESS_KEY {PLACEHOLDER}"),
        (
            "EXNATON_READER_PASSWORD_DEMO",
            "change-me-demo-reader",
            f"EXNATON_READER_PASSWORD_DEMO {PLACEHOLDER}",
        ),
        (
            "EXNATON_READER_PASSWORD_NYC_COOP",
            "",
            "EXNATON_READER_PASSWORD_NYC_COOP is empty: set a real secret",
        ),
        ("POSTGRES_PASSWORD", "   ", "POSTGRES_PASSWORD is empty: set a real secret"),
        (
            "EXNATON_DATABASE_URL",
            "postgresql+psycopg2://exnaton:change-me@db:5432/exnaton",
            "EXNATON_DATABASE_URL carries a placeholder password (starts with 'change-me'): "
            "set a real secret",
        ),
        (
            "DAGSTER_PG_URL",
            # percent-encoded in the URL, still the placeholder once decoded
            "postgresql+psycopg2://exnaton:change%2Dme@db:5432/dagster",
            "DAGSTER_PG_URL carries a placeholder password (starts with 'change-me'): "
            "set a real secret",
        ),
        (
            "EXNATON_WAREHOUSE_URL_EAST",
            "postgresql+psycopg2://exnaton:change-me-east@east:5432/exnaton",
            "EXNATON_WAREHOUSE_URL_EAST carries a placeholder password (starts with "
            "'change-me'): set a real secret",
        ),
    ],
)
def test_a_placeholder_or_empty_secret_is_named(name, value, problem):
    assert secret_problems({**PIPELINE, name: value}, TENANTS) == [problem]


def test_a_secret_that_merely_contains_the_placeholder_text_is_accepted():
    assert secret_problems({**PIPELINE, "POSTGRES_PASSWORD": "x-change-me-x"}, TENANTS) == []


def test_a_pipeline_process_needs_every_tenants_reader_password():
    environ = {k: v for k, v in PIPELINE.items() if k != "EXNATON_READER_PASSWORD_NYC_COOP"}
    assert secret_problems(environ, TENANTS) == [
        "EXNATON_READER_PASSWORD_NYC_COOP is not set: the pipeline creates tenant nyc-coop's "
        "read-only role with it"
    ]


def test_a_dashboard_needs_only_its_own_reader_url():
    dashboard = {
        "EXNATON_DASHBOARD_TENANT": "demo",
        "EXNATON_DASHBOARD_DATABASE_URL": "postgresql+psycopg2://tenant_demo_reader:r-Secret@db/x",
    }
    assert secret_problems(dashboard, TENANTS) == []
    placeholder = {**dashboard, "EXNATON_DASHBOARD_DATABASE_URL": "postgresql://r:change-me@db/x"}
    assert [p.split(" ")[0] for p in secret_problems(placeholder, TENANTS)] == [
        "EXNATON_DASHBOARD_DATABASE_URL"
    ]


def test_a_url_without_password_is_accepted():
    """Trust, peer or certificate authentication need no password (the embedded demo server)."""
    environ = {**PIPELINE, "EXNATON_DATABASE_URL": "postgresql+psycopg2://postgres:@/x?host=/tmp"}
    assert secret_problems(environ, TENANTS) == []


def _env_example() -> dict[str, str]:
    lines = (REPO_ROOT / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_every_secret_of_env_example_is_refused_as_it_stands():
    example = _env_example()
    placeholders = sorted(k for k, v in example.items() if v.startswith("change-me"))
    assert placeholders == [
        "EXNATON_READER_PASSWORD_DEMO",
        "EXNATON_READER_PASSWORD_LIVE",
        "MINIO_ROOT_PASSWORD",
        "POSTGRES_PASSWORD",
    ]
    refused = [p.split(" ")[0] for p in secret_problems(example, ["demo", "live"])]
    assert refused == placeholders


def _check_config(environ: dict[str, str]) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ["PATH"],
        "EXNATON_TENANTS_FILE": str(REPO_ROOT / "tenants.yaml"),
        **environ,
    }
    return subprocess.run(
        [str(EXNATON), "check-config"], env=env, capture_output=True, text=True, timeout=120
    )


def test_exnaton_check_config_stops_with_the_variables_named():
    result = _check_config({**PIPELINE, "POSTGRES_PASSWORD": "change-me"})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"exnaton: refusing to start: POSTGRES_PASSWORD {PLACEHOLDER}",
        # the repository's registry has tenant live, whose reader password is missing here
        "exnaton: refusing to start: EXNATON_READER_PASSWORD_LIVE is not set: the pipeline "
        "creates tenant live's read-only role with it",
    ]


def test_exnaton_check_config_passes_a_real_configuration():
    environ = {**PIPELINE, "EXNATON_READER_PASSWORD_LIVE": "live-Secret-5"}
    result = _check_config(environ)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "exnaton: configuration ok (no placeholder secrets; 2 tenants)\n"

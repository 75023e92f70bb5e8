"""Process configuration, read from environment variables with the documented defaults.

Every environment difference enters here: the warehouse URL, the source URL, the tenant
registry and the local state folder. Nothing else in the code reads the environment.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def exnaton_home() -> Path:
    """Local state folder: embedded database, local source, the demo's DAGSTER_HOME."""
    return Path(os.environ.get("EXNATON_HOME") or REPO_ROOT / ".exnaton").resolve()


def configured_database_url() -> str | None:
    """The warehouse URL given by the operator, or None when the embedded server is wanted."""
    return os.environ.get("EXNATON_DATABASE_URL") or None


def configured_dagster_storage_url() -> str | None:
    """PostgreSQL URL for Dagster's own run/event storage, if given (DAGSTER_PG_URL)."""
    return os.environ.get("DAGSTER_PG_URL") or None


def source_url() -> str:
    """`s3://bucket/prefix` or a local directory holding the source objects."""
    return os.environ.get("EXNATON_SOURCE_URL") or str(exnaton_home() / "source")


def tenants_file() -> Path:
    """The tenant registry (YAML)."""
    return Path(os.environ.get("EXNATON_TENANTS_FILE") or REPO_ROOT / "tenants.yaml")


def s3_endpoint_url() -> str | None:
    """Endpoint of an S3-compatible store (MinIO, moto); None for AWS itself."""
    return os.environ.get("AWS_ENDPOINT_URL") or None

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


def dagster_home() -> Path:
    """The Dagster instance folder: DAGSTER_HOME, else `$EXNATON_HOME/dagster`."""
    return Path(os.environ.get("DAGSTER_HOME") or exnaton_home() / "dagster").resolve()


def configured_database_url() -> str | None:
    """The warehouse URL given by the operator, or None when the embedded server is wanted."""
    return os.environ.get("EXNATON_DATABASE_URL") or None


def tenant_warehouse_url(variable: str) -> str | None:
    """The URL in a tenant's own warehouse variable (the registry's `warehouse_env`), if set."""
    return os.environ.get(variable) or None


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


def s3_connect_timeout() -> float:
    """Seconds to wait for a connection to the S3 endpoint (EXNATON_S3_CONNECT_TIMEOUT)."""
    return float(os.environ.get("EXNATON_S3_CONNECT_TIMEOUT") or 5)


def s3_read_timeout() -> float:
    """Seconds to wait for the S3 endpoint's next bytes (EXNATON_S3_READ_TIMEOUT)."""
    return float(os.environ.get("EXNATON_S3_READ_TIMEOUT") or 20)


def s3_max_attempts() -> int:
    """Attempts of one S3 call, the first included (EXNATON_S3_MAX_ATTEMPTS)."""
    return int(os.environ.get("EXNATON_S3_MAX_ATTEMPTS") or 3)


def sweep_days() -> int:
    """EXNATON_SWEEP_DAYS: how many past UTC days the sweep lists for late objects (default 7)."""
    return int(os.environ.get("EXNATON_SWEEP_DAYS") or 7)


def reader_password_variable(schema: str) -> str:
    """EXNATON_READER_PASSWORD_<TENANT>: the variable holding a tenant's read-only role secret.

    <TENANT> is the tenant id upper-cased with `-` as `_` (tenant `nyc-coop` reads
    EXNATON_READER_PASSWORD_NYC_COOP), i.e. the schema name without its `tenant_` prefix.
    """
    return "EXNATON_READER_PASSWORD_" + schema.removeprefix("tenant_").upper()


def reader_password(schema: str) -> str | None:
    """Secret of a tenant's read-only role (None if its variable is unset)."""
    return os.environ.get(reader_password_variable(schema)) or None


def dashboard_tenant() -> str | None:
    """The tenant a dashboard deployment is pinned to (EXNATON_DASHBOARD_TENANT)."""
    return os.environ.get("EXNATON_DASHBOARD_TENANT") or None


def dashboard_database_url() -> str | None:
    """The dashboard's database URL: the pinned tenant's reader role (deployed mode)."""
    return os.environ.get("EXNATON_DASHBOARD_DATABASE_URL") or None


def dashboard_auth() -> str:
    """EXNATON_DASHBOARD_AUTH: `password` (default, sign-in required) or `none` (local demo)."""
    return (os.environ.get("EXNATON_DASHBOARD_AUTH") or "password").strip().lower()


def dashboard_users_file() -> Path | None:
    """Users and bcrypt password hashes for sign-in (EXNATON_DASHBOARD_USERS_FILE; TOML/YAML)."""
    value = os.environ.get("EXNATON_DASHBOARD_USERS_FILE")
    return Path(value) if value else None

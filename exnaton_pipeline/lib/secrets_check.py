"""Refusing placeholder secrets before a deployed process starts.

`.env.example` ships every secret as a value starting with `change-me`. Copied unchanged, those
would become the real passwords of the warehouse, the object store and the tenants' read-only
roles, and anyone who has read the repository would know them. Every container of the image
runs `exnaton check-config` before its own command (deploy/entrypoint.sh), so a stack started
with such a value, or with an empty one, stops at once with a message naming the variable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import sqlalchemy as sa

from exnaton_pipeline.lib import settings
from exnaton_pipeline.lib.tenants import schema_name

PLACEHOLDER_PREFIX = "change-me"

# Secrets passed as plain variables (compose's .env, a Kubernetes Secret); the tenants' reader
# passwords EXNATON_READER_PASSWORD_<TENANT> are found by their prefix.
SECRET_VARIABLES = ("POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD", "AWS_SECRET_ACCESS_KEY")
READER_PASSWORD_PREFIX = "EXNATON_READER_PASSWORD_"
# Database URLs whose password part is a secret. An empty password stays allowed here: trust,
# peer or certificate authentication need none (the embedded demo database has none).
URL_VARIABLES = ("EXNATON_DATABASE_URL", "DAGSTER_PG_URL", "EXNATON_DASHBOARD_DATABASE_URL")
# and the URLs of tenants' own warehouse servers (the registry's `warehouse_env`)
TENANT_WAREHOUSE_PREFIX = "EXNATON_WAREHOUSE_URL_"


def is_placeholder(value: str) -> bool:
    """True for an empty value or one still starting with `change-me` (any case)."""
    return value.strip().lower().startswith(PLACEHOLDER_PREFIX) or not value.strip()


def secret_problems(environ: Mapping[str, str], tenant_ids: Iterable[str]) -> list[str]:
    """One sentence per secret that must be set before the process may start.

    A process with EXNATON_DATABASE_URL is a pipeline process of a deployment: it creates and
    secures every tenant's read-only role, so it needs every tenant's reader password.
    """
    problems = []
    plain = sorted(
        name
        for name in environ
        if name in SECRET_VARIABLES or name.startswith(READER_PASSWORD_PREFIX)
    )
    for name in plain:
        if not environ[name].strip():
            problems.append(f"{name} is empty: set a real secret")
        elif is_placeholder(environ[name]):
            problems.append(
                f"{name} is still the placeholder from .env.example "
                f"(starts with {PLACEHOLDER_PREFIX!r}): set a real secret"
            )
    tenant_warehouses = sorted(n for n in environ if n.startswith(TENANT_WAREHOUSE_PREFIX))
    for name in (*URL_VARIABLES, *tenant_warehouses):
        password = _url_password(environ.get(name))
        if password and is_placeholder(password):
            problems.append(
                f"{name} carries a placeholder password (starts with {PLACEHOLDER_PREFIX!r}): "
                "set a real secret"
            )
    if environ.get("EXNATON_DATABASE_URL"):
        for tenant_id in tenant_ids:
            name = settings.reader_password_variable(schema_name(tenant_id))
            if name not in environ:
                problems.append(
                    f"{name} is not set: the pipeline creates tenant {tenant_id}'s read-only "
                    "role with it"
                )
    return problems


def _url_password(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return sa.make_url(url).password
    except sa.exc.ArgumentError:
        return None  # not a URL at all: the database layer says so when it connects

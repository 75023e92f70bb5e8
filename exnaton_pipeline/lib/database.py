"""The effective database URLs: the configured ones, else databases on the embedded server."""

from __future__ import annotations

from pathlib import Path

from exnaton_pipeline.lib import embedded_pg, settings

WAREHOUSE_DB = "exnaton"
DAGSTER_DB = "dagster"


def embedded_datadir() -> Path:
    """Data folder of the embedded server: `$EXNATON_HOME/pg`."""
    return settings.exnaton_home() / "pg"


def _embedded(database: str) -> str:
    socket_dir = embedded_pg.start(embedded_datadir())
    embedded_pg.ensure_database(socket_dir, database)
    return embedded_pg.url(socket_dir, database)


def warehouse_url() -> str:
    """EXNATON_DATABASE_URL, else the `exnaton` database of the embedded server (started now)."""
    return settings.configured_database_url() or _embedded(WAREHOUSE_DB)


def dagster_storage_url() -> str:
    """DAGSTER_PG_URL, else the warehouse server when one is configured, else embedded `dagster`."""
    return (
        settings.configured_dagster_storage_url()
        or settings.configured_database_url()
        or _embedded(DAGSTER_DB)
    )

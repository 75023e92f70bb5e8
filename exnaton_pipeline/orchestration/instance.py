"""Where the Dagster instance keeps its state, resolved like the rest of the platform.

dagster.yaml names these classes instead of `postgres_url: {env: DAGSTER_PG_URL}`: Dagster's
config cannot give an environment variable a default (dagster-io/dagster#3947), and the
platform's default is the embedded PostgreSQL under $EXNATON_HOME. So `dagster dev`,
`dg dev`, `dagster definitions validate` and `dg check defs` in the repository root share one
instance with `make demo` and `exnaton backfill` with nothing exported, and production
(DAGSTER_PG_URL and DAGSTER_HOME set) gets exactly what it configured.

- run, event and schedule storage: DAGSTER_PG_URL, else the warehouse URL
  (EXNATON_DATABASE_URL), else database `dagster` of the embedded server;
- run artifacts (IO manager outputs) and captured step logs: under DAGSTER_HOME, else under
  $EXNATON_HOME/dagster -- not in the temporary folder `dagster dev` deletes on exit.

The resolved URL never enters the instance's serialized configuration, which run workers
receive on their command line: each process resolves it again.
"""

from __future__ import annotations

import os
from typing import Any

from dagster._config.config_schema import UserConfigSchema
from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager
from dagster._core.storage.root import LocalArtifactStorage
from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage

from exnaton_pipeline.lib import settings
from exnaton_pipeline.lib.warehouse import database


class PlatformPostgresStorage(DagsterPostgresStorage):
    """Dagster's run, event and schedule storage at `database.dagster_storage_url()`."""

    @classmethod
    def config_type(cls) -> UserConfigSchema:
        return {}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Any
    ) -> PlatformPostgresStorage:
        return cls(postgres_url=database.dagster_storage_url(), inst_data=inst_data)


class PlatformArtifactStorage(LocalArtifactStorage):
    """Run artifacts (the IO manager's stored outputs) under `settings.dagster_home()`."""

    @classmethod
    def config_type(cls) -> UserConfigSchema:
        return {}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Any
    ) -> PlatformArtifactStorage:
        return cls(base_dir=str(settings.dagster_home()), inst_data=inst_data)


class PlatformComputeLogs(LocalComputeLogManager):
    """Captured stdout/stderr of each step, in `settings.dagster_home()/storage`."""

    @classmethod
    def config_type(cls) -> UserConfigSchema:
        return {}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Any
    ) -> PlatformComputeLogs:
        return cls(base_dir=os.path.join(settings.dagster_home(), "storage"), inst_data=inst_data)

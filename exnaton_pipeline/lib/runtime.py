"""Preparing the environment that Dagster processes run in (DAGSTER_HOME and its storage)."""

from __future__ import annotations

import os
import shutil

from exnaton_pipeline.lib import settings
from exnaton_pipeline.lib.warehouse import database

DAGSTER_YAML = settings.REPO_ROOT / "dagster.yaml"


def prepare_dagster_home() -> str:
    """Make sure DAGSTER_HOME holds our dagster.yaml and DAGSTER_PG_URL is set; return the home.

    An operator's own DAGSTER_HOME is used as it is; otherwise `$EXNATON_HOME/dagster` gets
    a copy of the repository's dagster.yaml.
    """
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        home = str(settings.exnaton_home() / "dagster")
        os.makedirs(home, exist_ok=True)
        shutil.copyfile(DAGSTER_YAML, os.path.join(home, "dagster.yaml"))
        os.environ["DAGSTER_HOME"] = home
    os.environ.setdefault("DAGSTER_PG_URL", database.dagster_storage_url())
    return home

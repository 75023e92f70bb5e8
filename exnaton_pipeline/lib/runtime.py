"""Preparing the environment that Dagster processes run in: DAGSTER_HOME and its dagster.yaml."""

from __future__ import annotations

import os
import shutil

from exnaton_pipeline.lib import settings

DAGSTER_YAML = settings.REPO_ROOT / "dagster.yaml"


def prepare_dagster_home() -> str:
    """Make sure DAGSTER_HOME is set and holds our dagster.yaml; return the home.

    An operator's own DAGSTER_HOME is used as it is; otherwise `$EXNATON_HOME/dagster` gets
    a copy of the repository's dagster.yaml. The instance's storage resolves itself from
    there (orchestration/instance.py), so nothing else needs exporting.
    """
    home = settings.dagster_home()
    if not os.environ.get("DAGSTER_HOME"):
        home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DAGSTER_YAML, home / "dagster.yaml")
        os.environ["DAGSTER_HOME"] = str(home)
    return str(home)

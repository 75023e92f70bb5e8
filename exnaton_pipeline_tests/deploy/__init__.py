"""Deployment files (image, compose, Helm values, Kubernetes manifests), checked without a
container engine or a cluster: parsed, and validated against pinned schemas.

Shared here: where the files are, the production tenant registry (the suite itself runs on
tenants_test.yaml) and the pinned Kubernetes schemas.
"""

from __future__ import annotations

import json
import re
from importlib import resources

from exnaton_pipeline.lib.settings import REPO_ROOT
from exnaton_pipeline.lib.tenants import load_registry

DEPLOY = REPO_ROOT / "deploy"

# The oldest Kubernetes minor version we support; kubernetes-validate (a pinned dev dependency)
# ships its API schemas, strict ones reject unknown fields.
KUBERNETES_VERSION = "1.32.0"


def production_tenant_ids() -> list[str]:
    """Tenant ids of the repository's tenants.yaml, the registry the image ships."""
    return load_registry(REPO_ROOT / "tenants.yaml").ids


def kubernetes_definitions() -> dict:
    """Kubernetes' strict object definitions for KUBERNETES_VERSION, as one JSON document.

    Each definition is reachable both as `#/$defs/<name>` (how the file refers to its own
    definitions) and as `#/definitions/<name>` (the older layout the Dagster chart's schema
    refers to). The document has no `$id`: it takes the address it is registered under.
    """
    folder = f"v{KUBERNETES_VERSION}-local-strict"
    path = resources.files("kubernetes_validate") / "kubernetes-json-schema" / folder
    definitions = json.loads((path / "_definitions.json").read_text())["$defs"]
    return {"$defs": definitions, "definitions": definitions}


def image_user() -> tuple[int, int]:
    """The numeric user and group the Dockerfile's USER line runs the image as."""
    match = re.search(r"^USER (\d+):(\d+)$", (REPO_ROOT / "Dockerfile").read_text(), re.M)
    assert match, "the Dockerfile must name a numeric USER uid:gid"
    return int(match[1]), int(match[2])

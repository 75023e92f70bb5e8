"""Our Kubernetes manifests (deploy/k8s/): the pipeline's ConfigMap and one dashboard per tenant.

Every YAML document is parsed; every Kubernetes object is validated against the strict API
schema of its apiVersion/kind for KUBERNETES_VERSION (unknown fields are errors); the rendered
per-tenant dashboards (kustomize, built into kubectl) are checked for what matters: the
tenant, its Secret, the health probe, a non-root security context, a Service that reaches it.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml

from exnaton_pipeline_tests.deploy import (
    DEPLOY,
    KUBERNETES_VERSION,
    image_user,
    production_tenant_ids,
)

K8S = DEPLOY / "k8s"
KUSTOMIZE_API = "kustomize.config.k8s.io/v1beta1"


def documents(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def manifest_files() -> list:
    return sorted(K8S.rglob("*.yaml"))


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    """`kubectl kustomize deploy/k8s`: what `kubectl apply -k deploy/k8s` would send."""
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("kubectl (with its built-in kustomize) is not installed: overlays not rendered")
    out = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, check=True
    ).stdout
    return documents(out)


def test_every_file_parses_into_known_kinds():
    kinds = set()
    for path in manifest_files():
        for doc in documents(path.read_text()):
            assert {"apiVersion", "kind"} <= doc.keys(), path
            kinds.add((doc["apiVersion"], doc["kind"]))
    assert kinds == {
        (KUSTOMIZE_API, "Kustomization"),
        ("v1", "ConfigMap"),
        ("apps/v1", "Deployment"),
        ("v1", "Service"),
    }


def test_every_kubernetes_object_fits_its_api_schema():
    checked = 0
    for path in manifest_files():
        for doc in documents(path.read_text()):
            if doc["apiVersion"] != KUSTOMIZE_API:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
                checked += 1
    assert checked == 3  # the ConfigMap, the dashboard's Deployment and Service


def test_the_schema_check_catches_an_unknown_field():
    deployment = documents((K8S / "dashboard" / "deployment.yaml").read_text())[0]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"]["httpGet"]["paht"] = "/_stcore/health"
    with pytest.raises(kubernetes_validate.ValidationError, match="paht"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_rendered_objects_fit_their_api_schemas(rendered):
    for doc in rendered:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    assert all(doc["metadata"]["namespace"] == "exnaton" for doc in rendered)
    # the base's placeholder (value TENANT, Secret exnaton-dashboard-TENANT) is replaced
    assert not re.search(r"(?<![A-Z_])TENANT(?![A-Z_])", yaml.safe_dump_all(rendered))


def _by_kind_and_name(rendered: list[dict]) -> dict:
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in rendered}


@pytest.mark.parametrize("tenant", production_tenant_ids())
def test_each_tenant_has_its_own_dashboard(rendered, tenant):
    objects = _by_kind_and_name(rendered)
    name = f"exnaton-dashboard-{tenant}"
    pod = objects[("Deployment", name)]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    env = {item["name"]: item for item in container["env"]}

    assert env["EXNATON_DASHBOARD_TENANT"]["value"] == tenant
    assert env["EXNATON_DASHBOARD_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": name,
        "key": "database-url",
    }
    users = next(volume for volume in pod["spec"]["volumes"] if volume["name"] == "users")
    assert users["secret"] == {
        "secretName": name,
        "items": [{"key": "users.yaml", "path": "users.yaml"}],
    }
    mount = next(m for m in container["volumeMounts"] if m["name"] == "users")
    assert env["EXNATON_DASHBOARD_USERS_FILE"]["value"] == f"{mount['mountPath']}/users.yaml"
    assert container["args"][:3] == ["streamlit", "run", "streamlit_app/app.py"]
    assert "command" not in container  # the image's entry point checks the secrets first

    port = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert (
        port["http"] == 8501 == int(container["args"][container["args"].index("--server.port") + 1])
    )
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/_stcore/health", "port": "http"}

    security = pod["spec"]["securityContext"]
    assert security["runAsNonRoot"] is True
    assert (security["runAsUser"], security["runAsGroup"]) == image_user()
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}

    service = objects[("Service", name)]
    selector = service["spec"]["selector"]
    assert selector.items() <= pod["metadata"]["labels"].items()
    assert selector["exnaton.io/tenant"] == tenant  # never another tenant's pods
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]


def test_dashboards_exist_for_the_registry_and_nothing_else(rendered):
    dashboards = {
        doc["metadata"]["name"].removeprefix("exnaton-dashboard-")
        for doc in rendered
        if doc["kind"] == "Deployment"
    }
    assert dashboards == set(production_tenant_ids())


def test_the_pipeline_config_holds_no_secret():
    (config,) = documents((K8S / "pipeline-config.yaml").read_text())
    assert config["metadata"]["name"] == "exnaton-pipeline-config"
    for key, value in config["data"].items():
        assert "PASSWORD" not in key and "SECRET" not in key and "@" not in value, key

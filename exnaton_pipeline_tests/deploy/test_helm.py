"""deploy/helm/values.yaml against the Dagster chart's own values schema, pinned in
deploy/helm/dagster-chart/ (its README says which file and why), and against the run rules of
dagster.yaml that the chart must repeat. No cluster and no helm are needed; `helm template`
runs too where helm and an unpacked chart are at hand."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT202012

from exnaton_pipeline.lib.settings import REPO_ROOT
from exnaton_pipeline_tests.deploy import DEPLOY, image_user, kubernetes_definitions

SCHEMA_FILE = DEPLOY / "helm" / "dagster-chart" / "values.schema.json"
VALUES_FILE = DEPLOY / "helm" / "values.yaml"
# where the chart's schema expects Kubernetes' definitions (resolved offline, see the README)
KUBERNETES_REFERENCE = (
    "https://raw.githubusercontent.com/yannh/kubernetes-json-schema/master/v1.19.0/"
    "_definitions.json"
)
SHA256 = "6d9aadb17881f23a96cdc0df89e3c4a5aa65e5b4a010b2eada443f6884c27ee1"


@pytest.fixture(scope="module")
def schema() -> dict:
    return yaml.safe_load(SCHEMA_FILE.read_text())


@pytest.fixture
def values() -> dict:
    return yaml.safe_load(VALUES_FILE.read_text())


def _registry() -> Registry:
    definitions = Resource.from_contents(
        kubernetes_definitions(), default_specification=DRAFT202012
    )

    def retrieve(uri: str) -> Resource:
        if uri == KUBERNETES_REFERENCE:
            return definitions
        raise NoSuchResource(ref=uri)

    return Registry(retrieve=retrieve)


def merged_with_chart_defaults(schema: dict) -> dict:
    """The schema as it applies to our values once Helm has merged them into the chart's.

    Helm validates the chart's values.yaml merged with ours, so every map key the chart sets
    is there. We keep the chart's schema, not its values.yaml (README), so `required` is
    dropped for maps; lists are replaced whole by Helm, and their items are checked with every
    requirement (test_list_items_are_complete). A `required` inside `then` (the section a
    chosen type needs, e.g. k8sRunLauncher for K8sRunLauncher) is kept.
    """

    def relax(node):
        if isinstance(node, dict):
            return {
                key: (value if key == "then" else relax(value))
                for key, value in node.items()
                if not (key == "required" and isinstance(value, list))
            }
        if isinstance(node, list):
            return [relax(item) for item in node]
        return node

    return relax(schema)


def _messages(error) -> list[str]:
    """The error and, for anyOf/oneOf, why each alternative failed."""
    where = ".".join(map(str, error.absolute_path)) or "(top)"
    return [f"{where}: {error.message}"] + [
        message for cause in error.context for message in _messages(cause)
    ]


def chart_errors(schema: dict, values: dict) -> list[str]:
    validator = Draft202012Validator(merged_with_chart_defaults(schema), registry=_registry())
    return [message for error in validator.iter_errors(values) for message in _messages(error)]


def item_errors(schema: dict, definition: str, item: dict) -> list[str]:
    validator = Draft202012Validator(
        {"$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"}, registry=_registry()
    )
    return [error.message for error in validator.iter_errors(item)]


def test_the_pinned_schema_is_the_file_its_readme_names():
    import hashlib

    assert hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest() == SHA256
    assert SHA256 in (SCHEMA_FILE.parent / "README.md").read_text()


def test_values_pass_the_charts_schema(schema, values):
    assert chart_errors(schema, values) == []


def test_list_items_are_complete(schema, values):
    """Lists replace the chart's defaults whole: each item needs all its required keys."""
    deployments = values["dagster-user-deployments"]["deployments"]
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert deployments and queued["tagConcurrencyLimits"]
    for deployment in deployments:
        assert item_errors(schema, "UserDeployment", deployment) == []
    for limit in queued["tagConcurrencyLimits"]:
        definition = "schema__charts__dagster__subschema__daemon__TagConcurrencyLimit"
        assert item_errors(schema, definition, limit) == []


def _set(values: dict, path: str, value) -> dict:
    changed = copy.deepcopy(values)
    *parents, last = path.split(".")
    node = changed
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return changed


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        # a misspelt key of a section the chart closes (additionalProperties: false)
        ("dagsterDaemon.runCoordinater", {"enabled": True}, "runCoordinater"),
        ("runLauncher.type", "K8sRunLaunchr", "K8sRunLaunchr"),
        # the launcher type chosen needs its own config section
        ("runLauncher.config.k8sRunLauncher", _DELETE, "k8sRunLauncher"),
        # Kubernetes' own definition of a pod security context, reached through the chart's $ref
        (
            "dagster-user-deployments.deployments.0.podSecurityContext.runAsNonRoot",
            "yes",
            "'yes' is not of type 'boolean'",
        ),
        (
            "dagster-user-deployments.deployments.0.securityContext.allowPrivilegeEscalaton",
            False,
            "allowPrivilegeEscalaton",
        ),
        (
            "dagsterDaemon.runCoordinator.config.queuedRunCoordinator.maxConcurrentRuns",
            "four",
            "'four'",
        ),
    ],
)
def test_the_schema_check_catches_mistakes(schema, values, path, value, expected):
    errors = chart_errors(schema, _set(values, path, value))
    assert any(expected in error for error in errors), errors


def test_a_user_deployment_without_its_port_is_refused(schema, values):
    deployment = dict(values["dagster-user-deployments"]["deployments"][0])
    del deployment["port"]
    assert item_errors(schema, "UserDeployment", deployment) == ["'port' is a required property"]


def test_run_queue_monitoring_and_retries_repeat_dagster_yaml(values):
    """The chart writes the instance's dagster.yaml itself: it must hold our rules too."""
    instance = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    daemon = values["dagsterDaemon"]
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    ours = instance["run_coordinator"]["config"]
    assert daemon["runCoordinator"]["type"] == instance["run_coordinator"]["class"]
    assert queued["maxConcurrentRuns"] == ours["max_concurrent_runs"] == 4
    assert (
        queued["tagConcurrencyLimits"]
        == ours["tag_concurrency_limits"]
        == [
            {
                "key": "dagster/partition/tenant",
                "value": {"applyLimitPerUniqueValue": True},
                "limit": 1,
            },
            {  # insights_job is partitioned by tenant alone
                "key": "dagster/partition",
                "value": {"applyLimitPerUniqueValue": True},
                "limit": 1,
            },
        ]
    )
    monitoring = instance["run_monitoring"]
    assert daemon["runMonitoring"]["enabled"] is monitoring["enabled"] is True
    assert daemon["runMonitoring"]["startTimeoutSeconds"] == monitoring["start_timeout_seconds"]
    assert daemon["runMonitoring"]["maxRuntimeSeconds"] == monitoring["max_runtime_seconds"]
    retries = instance["run_retries"]
    assert daemon["runRetries"] == {
        "enabled": retries["enabled"],
        "maxRetries": retries["max_retries"],
        "retryOnAssetOrOpFailure": retries["retry_on_asset_or_op_failure"],
    }


def test_our_image_serves_the_code_location_and_runs_one_pod_per_run(values):
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "exnaton_pipeline.definitions"]
    assert deployment["image"]["repository"].endswith("/exnaton-pipeline")
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    # runs are sized by the launcher, not by the small gRPC server's container context
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": False}


def _bytes(quantity: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()
    return int(number) * {"Mi": 2**20, "Gi": 2**30}[unit]


def test_run_pods_are_sized_for_the_scale_target(values):
    """< 1 GB per 100,000-meter batch is the target; the limit leaves room above it."""
    resources = values["runLauncher"]["config"]["k8sRunLauncher"]["resources"]
    request = _bytes(resources["requests"]["memory"])
    assert request <= 2**30 <= _bytes(resources["limits"]["memory"])
    assert "2.2 GB" in VALUES_FILE.read_text()  # today's peak, stated beside the sizing


def test_every_secret_comes_from_a_kubernetes_secret(values):
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    for reader in (launcher, deployment):
        assert {"name": "exnaton-pipeline-env"} in reader["envSecrets"]
        assert {"name": "exnaton-pipeline-config"} in reader["envConfigMaps"]
        assert not reader.get("env") and not reader.get("envVars")
    assert values["postgresql"]["enabled"] is False
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"] == "dagster-postgresql-secret"

    def keys_and_strings(node):
        if isinstance(node, dict):
            for key, value in node.items():
                yield key
                yield from keys_and_strings(value)
        elif isinstance(node, list):
            for item in node:
                yield from keys_and_strings(item)
        elif isinstance(node, str):
            yield node

    # no password field (postgresqlPassword, ...) and no URL, which would carry its password
    for text in keys_and_strings(values):
        assert not text.lower().endswith("password") and "://" not in text, text


def test_pods_run_as_the_images_non_root_user(values):
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    for pod in (
        deployment["podSecurityContext"],
        launcher["runK8sConfig"]["podSpecConfig"]["securityContext"],
    ):
        assert pod["runAsNonRoot"] is True
        assert (pod["runAsUser"], pod["runAsGroup"]) == image_user()
    for container in (deployment["securityContext"], launcher["securityContext"]):
        assert container["allowPrivilegeEscalation"] is False


def test_helm_template_renders_our_values():
    """The chart's templates with our values (needs helm and an unpacked chart 1.13.27)."""
    helm = shutil.which("helm")
    chart = os.environ.get("EXNATON_DAGSTER_CHART")
    if not helm or not chart:
        pytest.skip(
            "helm template not run: needs `helm` on the PATH and EXNATON_DAGSTER_CHART set to an "
            "unpacked dagster chart 1.13.27 (deploy/helm/dagster-chart/README.md)"
        )
    assert yaml.safe_load((Path(chart) / "Chart.yaml").read_text())["version"] == "1.13.27"
    rendered = subprocess.run(
        [helm, "template", "exnaton", chart, "--namespace", "exnaton", "-f", str(VALUES_FILE)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    documents = [doc for doc in yaml.safe_load_all(rendered) if doc]
    instance = next(
        doc for doc in documents if doc["kind"] == "ConfigMap" and "dagster.yaml" in doc["data"]
    )["data"]["dagster.yaml"]
    assert "K8sRunLauncher" in instance and "dagster/partition/tenant" in instance
    images = {
        container["image"]
        for doc in documents
        if doc["kind"] == "Deployment"
        for container in doc["spec"]["template"]["spec"]["containers"]
    }
    assert "registry.example.com/exnaton-pipeline:0.1.0" in images

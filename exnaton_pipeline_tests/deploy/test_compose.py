"""docker-compose.yml as compose itself resolves it (`config`, no engine needed): healthchecks,
one-shot gates, the Dagster UI on loopback only, every tenant's reader secret, and the secret
check refusing .env.example's placeholders in the very environment each container would get.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from exnaton_pipeline.lib.secrets_check import secret_problems
from exnaton_pipeline.lib.settings import REPO_ROOT
from exnaton_pipeline.lib.tenants import schema_name
from exnaton_pipeline_tests.deploy import production_tenant_ids

ENTRYPOINT = REPO_ROOT / "deploy" / "entrypoint.sh"
OUR_IMAGE = "exnaton-pipeline:latest"


def _compose() -> list[str]:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone:
        return [standalone]
    pytest.skip(
        "neither `docker compose` nor `docker-compose` is installed "
        "(.ci/run installs Debian's docker-compose)"
    )


def reader_variable(tenant: str) -> str:
    return "EXNATON_READER_PASSWORD_" + schema_name(tenant).removeprefix("tenant_").upper()


def real_env() -> dict[str, str]:
    """A .env with real-looking secrets, each distinct, so that a mix-up shows."""
    env = {
        "POSTGRES_PASSWORD": "pg-Secret-1",
        "MINIO_ROOT_USER": "exnaton",
        "MINIO_ROOT_PASSWORD": "s3-Secret-2",
    }
    for tenant in production_tenant_ids():
        env[reader_variable(tenant)] = f"{tenant}-reader-Secret"
    return env


def compose_config(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    env_file = tmp_path / "test.env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
    command = [*_compose(), "--project-directory", str(REPO_ROOT), "--env-file", str(env_file)]
    command += ["-f", str(REPO_ROOT / "docker-compose.yml"), "--profile", "proxy", "config"]
    # a bare environment: compose would let the caller's variables override the .env file
    return subprocess.run(
        command,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def services(tmp_path: Path, env: dict[str, str]) -> dict[str, dict]:
    result = compose_config(tmp_path, env)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> dict[str, dict]:
    return services(tmp_path_factory.mktemp("compose"), real_env())


def published(service: dict) -> list[tuple[str, int]]:
    """(host address, host port) of each published port; "" is every interface."""
    out = []
    for port in service.get("ports", []):
        if isinstance(port, str):  # compose v1: "127.0.0.1:3000:3000/tcp" or "3000:3000"
            *host, _target = port.split("/")[0].split(":")
            out.append((host[0] if len(host) == 2 else "", int(host[-1])))
        else:
            out.append((port.get("host_ip", ""), int(port["published"])))
    return out


def health_test(service: dict) -> str:
    return " ".join(service["healthcheck"]["test"])


def depends(service: dict) -> dict[str, str]:
    return {name: spec["condition"] for name, spec in service.get("depends_on", {}).items()}


def test_every_long_running_service_has_its_healthcheck(stack):
    long_running = {name for name, s in stack.items() if s.get("restart") != "no"}
    assert long_running == {name for name, s in stack.items() if "healthcheck" in s}
    expected = {
        "timescaledb": "pg_isready -U exnaton -d exnaton",
        "minio": "CMD mc ready local",
        "user_code": "CMD dagster api grpc-health-check -p 4000",
        "dagster_webserver": "http://127.0.0.1:3000/server_info",
        "dagster_daemon": "CMD dagster-daemon liveness-check",
        "proxy": "http://127.0.0.1:2019/config/",
    }
    expected |= {f"dashboard_{t}": "8501/_stcore/health" for t in production_tenant_ids()}
    assert set(expected) == long_running
    for name, command in expected.items():
        assert command in health_test(stack[name]), name


def test_one_shot_jobs_gate_what_depends_on_them(stack):
    assert {name for name, s in stack.items() if s.get("restart") == "no"} == {
        "config_check",
        "minio_bucket",
    }
    # the database and the object store fix their passwords at first start: check first
    for name in ("timescaledb", "minio"):
        assert depends(stack[name]) == {"config_check": "service_completed_successfully"}
    assert depends(stack["user_code"])["minio_bucket"] == "service_completed_successfully"
    for name in ("dagster_webserver", "dagster_daemon"):
        assert depends(stack[name]) == {
            "timescaledb": "service_healthy",
            "user_code": "service_healthy",
        }


def test_the_dagster_ui_is_published_on_loopback_only(stack):
    assert published(stack["dagster_webserver"]) == [("127.0.0.1", 3000)]
    assert published(stack["minio"]) == [("127.0.0.1", 9001)]
    # on every interface: only the dashboards (their own sign-in) and the authenticating proxy
    open_to_all = {name for name, s in stack.items() if any(h == "" for h, _ in published(s))}
    assert open_to_all == {f"dashboard_{t}" for t in production_tenant_ids()} | {"proxy"}
    assert stack["proxy"]["profiles"] == ["proxy"]


PIPELINE_SERVICES = ("config_check", "user_code", "dagster_webserver", "dagster_daemon")


@pytest.mark.parametrize("name", PIPELINE_SERVICES)
def test_the_pipeline_gets_every_tenants_reader_secret_and_explicit_urls(stack, name):
    environment = stack[name]["environment"]
    for tenant in production_tenant_ids():
        assert environment[reader_variable(tenant)] == f"{tenant}-reader-Secret"
    assert environment["EXNATON_DATABASE_URL"] == (
        "postgresql+psycopg2://exnaton:pg-Secret-1@timescaledb:5432/exnaton"
    )
    assert environment["DAGSTER_PG_URL"] == (
        "postgresql+psycopg2://exnaton:pg-Secret-1@timescaledb:5432/dagster"
    )


@pytest.mark.parametrize("tenant", production_tenant_ids())
def test_each_tenant_has_a_dashboard_signed_in_as_its_own_reader(stack, tenant):
    dashboard = stack[f"dashboard_{tenant}"]
    environment = dashboard["environment"]
    assert environment["EXNATON_DASHBOARD_TENANT"] == tenant
    assert environment["EXNATON_DASHBOARD_DATABASE_URL"] == (
        f"postgresql+psycopg2://{schema_name(tenant)}_reader:{tenant}-reader-Secret"
        "@timescaledb:5432/exnaton"
    )
    secret = f"dashboard_users_{tenant}"
    assert [s if isinstance(s, str) else s["source"] for s in dashboard["secrets"]] == [secret]
    assert environment["EXNATON_DASHBOARD_USERS_FILE"] == f"/run/secrets/{secret}"
    assert not any(key.startswith("EXNATON_READER_PASSWORD_") for key in environment)


def test_a_missing_secret_stops_compose_naming_it(tmp_path):
    env = real_env()
    del env["EXNATON_READER_PASSWORD_LIVE"]
    result = compose_config(tmp_path, env)
    assert result.returncode != 0
    assert "set EXNATON_READER_PASSWORD_LIVE in .env" in result.stderr


def _entrypoint(environment: dict[str, str]) -> subprocess.CompletedProcess:
    """deploy/entrypoint.sh with a container's environment, as the image runs it."""
    env = {
        **{key: str(value) for key, value in environment.items()},
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        # the image's /app/tenants.yaml is the repository's tenants.yaml
        "EXNATON_TENANTS_FILE": str(REPO_ROOT / "tenants.yaml"),
    }
    return subprocess.run(
        [str(ENTRYPOINT), "true"], env=env, capture_output=True, text=True, timeout=120
    )


def refused_variables(environment: dict[str, str]) -> set[str]:
    """What `exnaton check-config` refuses in this environment (its own function, in-process:
    the entry point itself is run once per test below and in test_image.py)."""
    problems = secret_problems({k: str(v) for k, v in environment.items()}, production_tenant_ids())
    return {problem.split(" ")[0] for problem in problems}


def _our_containers(stack: dict[str, dict]) -> dict[str, dict]:
    return {name: s for name, s in stack.items() if s.get("image") == OUR_IMAGE}


def test_every_container_of_our_image_refuses_env_example(tmp_path):
    """.env.example copied as it is: compose accepts it, each container's check does not."""
    lines = (REPO_ROOT / ".env.example").read_text().splitlines()
    example = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    stack = services(tmp_path, example)
    containers = _our_containers(stack)
    dashboards = {f"dashboard_{t}" for t in production_tenant_ids()}
    assert set(containers) == set(PIPELINE_SERVICES) | dashboards
    readers = {reader_variable(t) for t in production_tenant_ids()}
    pipeline = {"EXNATON_DATABASE_URL", "DAGSTER_PG_URL", "AWS_SECRET_ACCESS_KEY"} | readers
    for name, service in containers.items():
        refused = refused_variables(service["environment"])
        if name in dashboards:
            assert refused == {"EXNATON_DASHBOARD_DATABASE_URL"}, name
        elif name == "config_check":
            assert refused == pipeline | {"POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD"}
        else:
            assert refused == pipeline, name
    result = _entrypoint(stack["user_code"]["environment"])
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == len(pipeline)


def test_every_container_of_our_image_starts_with_real_secrets(stack):
    for name, service in _our_containers(stack).items():
        assert refused_variables(service["environment"]) == set(), name
    result = _entrypoint(stack["dagster_daemon"]["environment"])
    assert (result.returncode, result.stderr) == (0, "")

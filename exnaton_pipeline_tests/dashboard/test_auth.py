"""Users file, password checks and the hashing command line."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import bcrypt
import pytest

from streamlit_app import auth


def _hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


def test_users_from_toml_and_yaml(tmp_path: Path) -> None:
    hashed = _hash("pw-alice")
    toml = tmp_path / "users.toml"
    toml.write_text(f'[users.alice]\nname = "Alice Muster"\npassword_hash = "{hashed}"\n')
    yaml_file = tmp_path / "users.yaml"
    yaml_file.write_text(f"users:\n  bob:\n    password_hash: '{hashed}'\n")
    assert auth.load_users(toml) == {"alice": auth.User("alice", "Alice Muster", hashed)}
    assert auth.load_users(yaml_file) == {"bob": auth.User("bob", "bob", hashed)}


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("users.toml", "[users.alice\n", r"users.toml is not valid toml"),
        ("users.yaml", "people: []\n", r"expected a non-empty mapping under 'users'"),
        (
            "users.toml",
            '[users.alice]\npassword_hash = "hunter2"\n',
            r"users.alice.password_hash must be a bcrypt hash",
        ),
    ],
)
def test_unusable_users_files_are_named(tmp_path: Path, name: str, text: str, message: str):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(auth.UsersFileError, match=message):
        auth.load_users(path)


def test_missing_users_file(tmp_path: Path) -> None:
    with pytest.raises(auth.UsersFileError, match=r"nope.toml cannot be read \(No such file"):
        auth.load_users(tmp_path / "nope.toml")


def test_verify() -> None:
    users = {"alice": auth.User("alice", "Alice", _hash("pw-alice"))}
    assert auth.verify(users, "alice", "pw-alice") == users["alice"]
    assert auth.verify(users, " alice ", "pw-alice") == users["alice"]
    assert auth.verify(users, "alice", "pw-bob") is None
    assert auth.verify(users, "bob", "pw-alice") is None


def test_hash_password_command_prints_lines_for_the_users_file() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "streamlit_app.auth", "hash-password", "--user", "alice"]
        + ["--rounds", "4"],
        input="pw-alice\n",
        capture_output=True,
        text=True,
        check=True,
    )
    entry = tomllib.loads(done.stdout)["users"]["alice"]
    assert bcrypt.checkpw(b"pw-alice", entry["password_hash"].encode())
    assert entry["password_hash"].startswith("$2b$04$")


def test_hash_password_command_refuses_an_empty_password() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "streamlit_app.auth", "hash-password"],
        input="\n",
        capture_output=True,
        text=True,
    )
    assert (done.returncode, done.stderr) == (2, "hash-password: the password is empty\n")

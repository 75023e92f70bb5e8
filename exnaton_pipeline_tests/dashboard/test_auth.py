"""Users file, password checks and the hashing command line."""

from __future__ import annotations

import logging
import subprocess
import sys
import tomllib
from pathlib import Path

import bcrypt
import pytest

from exnaton_pipeline_tests.dashboard.conftest import FakeClock
from streamlit_app import auth
from streamlit_app.throttle import SignInThrottle


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


def test_a_password_longer_than_bcrypt_takes_is_wrong_not_an_error() -> None:
    # bcrypt 5 refuses more than 72 bytes; hash-password refuses to hash them, so none matches
    users = {"alice": auth.User("alice", "Alice", _hash("pw-alice"))}
    assert auth.verify(users, "alice", "pw-alice" + "x" * 70) is None
    assert auth.verify(users, "mallory", "ä" * 40) is None  # 80 bytes


# --- sign-in under the throttle, and its log ---------------------------------------------


def test_sign_in_waits_after_repeated_failures_and_logs_without_the_password(caplog) -> None:
    clock = FakeClock()
    gate = SignInThrottle(clock=clock)
    users = {"alice": auth.User("alice", "Alice", _hash("pw-alice"))}
    wrong = ["guess-one", "guess-two", "guess-three"]

    def attempt(password: str) -> auth.Attempt:
        return auth.sign_in(users, gate, " alice ", password, "203.0.113.7")

    caplog.set_level(logging.INFO, logger="streamlit_app")
    failures = [attempt(password) for password in wrong]
    assert failures == [
        auth.Attempt(auth.FAILED),
        auth.Attempt(auth.FAILED),
        auth.Attempt(auth.FAILED, wait=30.0),
    ]
    assert [a.message() for a in failures[1:]] == [
        "Wrong user name or password.",
        "Wrong user name or password. Too many sign-in attempts: please wait 30 seconds "
        "before trying again.",
    ]
    refused = attempt("pw-alice")  # the right password during the wait
    assert (refused, refused.message()) == (
        auth.Attempt(auth.REFUSED, wait=30.0),
        "Too many sign-in attempts. Please wait 30 seconds before trying again.",
    )
    clock.advance(29.5)
    assert attempt("pw-alice").message() == (
        "Too many sign-in attempts. Please wait 1 second before trying again."
    )
    clock.advance(0.5)
    signed_in = attempt("pw-alice")
    assert (signed_in, signed_in.message()) == (auth.Attempt(auth.SIGNED_IN, users["alice"]), None)

    assert caplog.record_tuples == [
        ("streamlit_app.auth", logging.WARNING, f"sign-in {outcome}: user='alice' {rest}")
        for outcome, rest in [
            ("failed", "client='203.0.113.7' delay=0s"),
            ("failed", "client='203.0.113.7' delay=0s"),
            ("failed", "client='203.0.113.7' delay=30s"),
            ("refused", "client='203.0.113.7' delay=30s"),
            ("refused", "client='203.0.113.7' delay=1s"),
        ]
    ] + [
        (
            "streamlit_app.auth",
            logging.INFO,
            "sign-in signed_in: user='alice' client='203.0.113.7' delay=0s",
        )
    ]
    for password in [*wrong, "pw-alice"]:
        assert password not in caplog.text


def test_sign_in_logs_an_unknown_client_and_a_hostile_name_on_one_line(caplog) -> None:
    users = {"alice": auth.User("alice", "Alice", _hash("pw-alice"))}
    caplog.set_level(logging.INFO, logger="streamlit_app")
    attempt = auth.sign_in(users, SignInThrottle(), "bob\nsign-in signed_in", "pw", None)
    assert attempt == auth.Attempt(auth.FAILED)
    assert caplog.messages == [
        r"sign-in failed: user='bob\nsign-in signed_in' client='unknown' delay=0s"
    ]


def test_a_failing_check_counts_as_a_failed_attempt(monkeypatch) -> None:
    gate = SignInThrottle(clock=FakeClock())
    users = {"alice": auth.User("alice", "Alice", _hash("pw-alice"))}

    def broken(*args):
        raise RuntimeError("bcrypt broke")

    monkeypatch.setattr(auth, "verify", broken)
    for _ in range(3):
        with pytest.raises(RuntimeError, match="bcrypt broke"):
            auth.sign_in(users, gate, "alice", "pw-alice", "203.0.113.7")
    assert gate.admit("alice", "203.0.113.7") == 30


def test_addresses_of_one_ipv6_network_are_one_client(caplog) -> None:
    gate = SignInThrottle(clock=FakeClock())
    users = {"alice": auth.User("alice", "Alice", _hash("pw-alice"))}
    caplog.set_level(logging.INFO, logger="streamlit_app")
    # eleven names from eleven addresses of one /64: the 11th failure makes the network wait
    attempts = [
        auth.sign_in(users, gate, f"user{n}", "guess", f"2001:db8:1:2::{n + 1:x}")
        for n in range(11)
    ]
    assert [a.wait for a in attempts] == [0] * 10 + [30]
    assert auth.sign_in(users, gate, "alice", "pw-alice", "2001:db8:1:2::ff").outcome == (
        auth.REFUSED
    )
    assert auth.sign_in(users, gate, "alice", "pw-alice", "2001:db8:1:3::1").outcome == (
        auth.SIGNED_IN
    )
    assert caplog.messages[10] == "sign-in failed: user='user10' client='2001:db8:1:2::b' delay=30s"

"""Dashboard sign-in: users and bcrypt password hashes from a secrets file.

The file (EXNATON_DASHBOARD_USERS_FILE, TOML or YAML) lists the people allowed into one
deployment, i.e. one tenant:

    [users.alice]                       # TOML          users:            # YAML
    name = "Alice Muster"                                 alice:
    password_hash = "$2b$12$..."                            name: Alice Muster
                                                            password_hash: "$2b$12$..."

Make a hash with `python -m streamlit_app.auth hash-password --user alice` (asks twice,
prints the TOML lines to paste). Only hashes are stored; nothing here needs Streamlit.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import yaml

# Checked when the user name is unknown, so that a wrong name costs as long as a wrong password.
_DUMMY_HASH = b"$2b$12$JFeBzLnzm4JLqHr969xtmu/lHIe6FfqchGMHYgcMjJSV7sQLjRhdK"


class UsersFileError(ValueError):
    """The users file cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class User:
    username: str
    name: str
    password_hash: str


def load_users(path: Path) -> dict[str, User]:
    """Read and check the users file; raises UsersFileError naming the problem."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsersFileError(f"users file {path} cannot be read ({exc.strerror})") from None
    try:
        raw = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise UsersFileError(f"users file {path} is not valid {path.suffix[1:]}: {exc}") from None
    entries = raw.get("users") if isinstance(raw, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise UsersFileError(f"users file {path}: expected a non-empty mapping under 'users'")
    users = {}
    for username, spec in entries.items():
        hashed = spec.get("password_hash") if isinstance(spec, dict) else None
        if not isinstance(hashed, str) or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            raise UsersFileError(
                f"users file {path}: users.{username}.password_hash must be a bcrypt hash "
                f"($2b$...); make one with `python -m streamlit_app.auth hash-password`"
            )
        users[str(username)] = User(str(username), str(spec.get("name") or username), hashed)
    return users


def verify(users: dict[str, User], username: str, password: str) -> User | None:
    """The user if `password` matches the stored hash, else None."""
    user = users.get(username.strip())
    hashed = user.password_hash.encode() if user else _DUMMY_HASH
    matches = bcrypt.checkpw(password.encode(), hashed)
    return user if user and matches else None


def hash_password(password: str, rounds: int = 12) -> str:
    if not password:
        raise ValueError("the password is empty")
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()


def _read_password() -> str:
    if not sys.stdin.isatty():  # piped: `echo secret | python -m streamlit_app.auth ...`
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat: ") != first:
        raise SystemExit("the two passwords differ")
    return first


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streamlit_app.auth", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("hash-password", help="print a bcrypt hash for the users file")
    p.add_argument("--user", help="also print the TOML lines for this user name")
    p.add_argument("--rounds", type=int, default=12, help="bcrypt cost (default 12)")
    args = parser.parse_args(argv)
    try:
        hashed = hash_password(_read_password(), args.rounds)
    except ValueError as exc:
        print(f"hash-password: {exc}", file=sys.stderr)
        return 2
    if args.user:
        print(f'[users."{args.user}"]\npassword_hash = "{hashed}"')
    else:
        print(hashed)
    return 0


if __name__ == "__main__":
    sys.exit(main())

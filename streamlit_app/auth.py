"""Dashboard sign-in: users and bcrypt password hashes from a secrets file.

The file (EXNATON_DASHBOARD_USERS_FILE, TOML or YAML) lists the people allowed into one
deployment, i.e. one tenant:

    [users.alice]                       # TOML          users:            # YAML
    name = "Alice Muster"                                 alice:
    password_hash = "$2b$12$..."                            name: Alice Muster
                                                            password_hash: "$2b$12$..."

Make a hash with `python -m streamlit_app.auth hash-password --user alice` (asks twice,
prints the TOML lines to paste). Only hashes are stored. A sign-in (`sign_in`) is checked
under the growing waits of `throttle` and logged without its password; nothing here needs
Streamlit.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import math
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import yaml

from streamlit_app.throttle import SignInThrottle, client_key, wait_text

log = logging.getLogger(__name__)

_BCRYPT_MAX_BYTES = 72  # the longest password bcrypt takes
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
    encoded = password.encode()
    # bcrypt 5 refuses more than 72 bytes and hash_password never hashed such a password: it
    # is wrong, and costs the same check as any wrong one
    usable = user is not None and len(encoded) <= _BCRYPT_MAX_BYTES
    hashed = user.password_hash.encode() if usable else _DUMMY_HASH
    matches = bcrypt.checkpw(encoded[:_BCRYPT_MAX_BYTES], hashed)
    return user if usable and matches else None


SIGNED_IN, FAILED, REFUSED = "signed_in", "failed", "refused"
UNKNOWN_CLIENT = "unknown"  # no address: a loopback connection (a proxy on the same host)


@dataclass(frozen=True)
class Attempt:
    """The outcome of one sign-in: SIGNED_IN (with the user), FAILED (wrong user name or
    password) or REFUSED (not checked: the account or client must still wait); `wait` is
    the seconds to wait before the next attempt."""

    outcome: str
    user: User | None = None
    wait: float = 0.0

    def message(self) -> str | None:
        """What the sign-in form says, or None after a success."""
        if self.outcome == REFUSED:
            return (
                f"Too many sign-in attempts. Please wait {wait_text(self.wait)} before "
                f"trying again."
            )
        if self.outcome == FAILED:
            if self.wait <= 0:
                return "Wrong user name or password."
            return (
                f"Wrong user name or password. Too many sign-in attempts: please wait "
                f"{wait_text(self.wait)} before trying again."
            )
        return None


def sign_in(
    users: dict[str, User],
    throttle: SignInThrottle,
    username: str,
    password: str,
    client: str | None,
) -> Attempt:
    """Check a sign-in by `client` (its address, None when unknown) unless the account or the
    client must still wait, record the outcome and log it: user name, client, outcome and
    the wait in whole seconds, never the password."""
    account, address = username.strip(), client or UNKNOWN_CLIENT
    key = client_key(address)
    wait = throttle.admit(account, key)
    if wait > 0:
        attempt = Attempt(REFUSED, wait=wait)
    else:
        user = None
        try:
            user = verify(users, account, password)
        finally:  # an error while checking counts as a failure
            wait = throttle.settle(account, key, succeeded=user is not None)
        attempt = Attempt(SIGNED_IN, user) if user else Attempt(FAILED, wait=wait)
    log.log(
        logging.INFO if attempt.user else logging.WARNING,
        "sign-in %s: user=%r client=%r delay=%ds",
        attempt.outcome,
        account,
        address,
        math.ceil(attempt.wait),
    )
    return attempt


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

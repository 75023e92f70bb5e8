"""How long sign-ins must wait after failed ones: a growing delay per account and per client.

Every failed sign-in counts against the user name tried (known or not, so the wait does not
tell whether the name exists) and against the client's address. A few failures are free;
from then on each failure makes the key wait twice as long as the one before, up to a cap.
An attempt while either key waits is refused without checking its password and is not
counted; only one attempt per key is checked at a time, so parallel sessions cannot test
many passwords before the first failure is recorded. A success resets the account, not the
client: someone with an account of their own could otherwise clear their address's record.
A key's failures are forgotten an hour after its last one.

The record is kept in this process, shared by all its sessions (`SHARED`): a page reload or
a new session does not reset it, and neither does Streamlit's "clear caches" request, which
any browser can send and which empties `st.cache_resource`. Several replicas each keep their
own record (docs/dashboard.md). No Streamlit here; the clock is injectable.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    """`free_failures` in a row cost nothing; the next waits `first_delay` seconds, each
    further one twice as long, at most `max_delay`."""

    free_failures: int
    first_delay: float = 30.0
    max_delay: float = 15 * 60.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failure in a row."""
        beyond = failures - self.free_failures
        if beyond <= 0:
            return 0.0
        # the exponent is bounded: the cap is reached long before, and 2.0**1100 overflows
        return min(self.first_delay * 2.0 ** min(beyond - 1, 64), self.max_delay)


# An account belongs to one person: waits from the 3rd failure (30 s, 1 min, 2 min, ... 15 min).
ACCOUNT = Policy(free_failures=2)
# An address may be shared by a household, an office or a mobile carrier's NAT: from the 11th.
CLIENT = Policy(free_failures=10)
FORGET_AFTER = 60 * 60.0  # seconds after a key's last failure
# The wait while another attempt for the same account or client is being checked (bcrypt
# takes about a quarter of a second).
CHECKING_WAIT = 1.0
MAX_KEYS = 100_000  # bounds the memory a flood of invented names or addresses can take


@dataclass(frozen=True)
class _Failures:
    count: int
    last: float  # clock reading of the latest failure


class SignInThrottle:
    """Failed sign-ins per account and per client, and the waits they impose.

    `clock` returns seconds (time.monotonic by default; tests pass a fake one). Safe to use
    from Streamlit's session threads.
    """

    def __init__(
        self,
        account: Policy = ACCOUNT,
        client: Policy = CLIENT,
        clock: Callable[[], float] = time.monotonic,
        forget_after: float = FORGET_AFTER,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self._policies = {"account": account, "client": client}
        self._clock = clock
        self._forget_after = forget_after
        self._max_keys = max_keys
        self._lock = threading.Lock()
        # ordered by latest failure (re-inserted on each): the oldest is always first
        self._failures: dict[tuple[str, str], _Failures] = {}
        self._checking: set[tuple[str, str]] = set()

    def admit(self, account: str, client: str) -> float:
        """0 when an attempt for `account` from `client` may be checked now (it is then being
        checked until `settle`), else the seconds still to wait."""
        keys = _keys(account, client)
        with self._lock:
            if self._checking.intersection(keys):
                return CHECKING_WAIT
            wait = self._wait(keys, self._clock())
            if wait == 0:
                self._checking.update(keys)
            return wait

    def settle(self, account: str, client: str, succeeded: bool) -> float:
        """Record the outcome of an admitted attempt; returns the seconds the account or the
        client must now wait before the next one (0 after a success)."""
        keys = _keys(account, client)
        with self._lock:
            self._checking.difference_update(keys)
            if succeeded:
                self._failures.pop(keys[0], None)
                return 0.0
            now = self._clock()
            for key in keys:
                before = self._failures.pop(key, None)
                count = 1 if before is None or self._forgotten(before, now) else before.count + 1
                self._failures[key] = _Failures(count, now)
            self._trim(now)
            return self._wait(keys, now)

    def _wait(self, keys: tuple[tuple[str, str], ...], now: float) -> float:
        waits = [0.0]
        for key in keys:
            failures = self._failures.get(key)
            if failures is not None and not self._forgotten(failures, now):
                until = failures.last + self._policies[key[0]].delay(failures.count)
                waits.append(until - now)
        return max(waits)

    def _forgotten(self, failures: _Failures, now: float) -> bool:
        return now - failures.last >= self._forget_after

    def _trim(self, now: float) -> None:
        """Drop forgotten keys, and the oldest ones beyond MAX_KEYS."""
        while self._failures:
            oldest = next(iter(self._failures))
            if len(self._failures) <= self._max_keys and not self._forgotten(
                self._failures[oldest], now
            ):
                break
            del self._failures[oldest]


def _keys(account: str, client: str) -> tuple[tuple[str, str], ...]:
    # kinds kept apart: a user name that looks like an address is still a user name
    return ("account", account), ("client", client)


def client_key(address: str) -> str:
    """The client an address counts as: an IPv6 address by its /64 network, which one
    household or server is usually given whole (else each of its addresses would count as a
    client of its own); an IPv4 address, also one written as IPv6 (::ffff:a.b.c.d), as is;
    anything else unchanged."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 4:
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))


def wait_text(seconds: float) -> str:
    """'1 second', '45 seconds', '2 minutes', '1 minute 30 seconds' (whole seconds, rounded up)."""
    whole = max(1, math.ceil(seconds))
    minutes, rest = divmod(whole, 60)
    parts = [f"{minutes} minute{'s' * (minutes != 1)}"] if minutes else []
    if rest or not minutes:
        parts.append(f"{rest} second{'s' * (rest != 1)}")
    return " ".join(parts)


SHARED = SignInThrottle()  # the process's record, used by the app

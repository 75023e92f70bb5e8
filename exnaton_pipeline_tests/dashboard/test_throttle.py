"""The sign-in throttle's policy, on a fake clock (no sleeps)."""

from __future__ import annotations

import pytest

from exnaton_pipeline_tests.dashboard.conftest import FakeClock
from streamlit_app import throttle
from streamlit_app.throttle import SignInThrottle


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _fail(gate: SignInThrottle, account: str, client: str) -> float:
    """One admitted, failed attempt; the wait it imposes."""
    assert gate.admit(account, client) == 0
    return gate.settle(account, client, succeeded=False)


def test_waits_double_from_the_third_failure_of_an_account_up_to_15_minutes() -> None:
    delays = [throttle.ACCOUNT.delay(n) for n in range(1, 10)]
    assert delays == [0, 0, 30, 60, 120, 240, 480, 900, 900]  # 960 capped at 900
    assert throttle.ACCOUNT.delay(5_000) == 900  # no float overflow on a long attack
    # a client's address may be shared: it waits from its 11th failure
    assert [throttle.CLIENT.delay(n) for n in (10, 11, 12)] == [0, 30, 60]


def test_an_account_waits_after_its_third_failure_and_a_success_resets_it(clock) -> None:
    gate = SignInThrottle(clock=clock)
    assert [_fail(gate, "alice", "203.0.113.7") for _ in range(3)] == [0, 0, 30]
    assert gate.admit("alice", "203.0.113.7") == 30  # refused, even with the right password
    clock.advance(10)
    assert gate.admit("alice", "203.0.113.7") == 20
    assert gate.admit("alice", "198.51.100.9") == 20  # from another client too
    assert gate.admit("bob", "203.0.113.7") == 0  # the client itself is still free
    gate.settle("bob", "203.0.113.7", succeeded=True)
    clock.advance(20)
    assert gate.admit("alice", "203.0.113.7") == 0
    assert gate.settle("alice", "203.0.113.7", succeeded=True) == 0
    # counted from zero again: two free failures, the third waits 30 s, not 60 s
    assert [_fail(gate, "alice", "203.0.113.7") for _ in range(3)] == [0, 0, 30]


def test_each_failure_after_the_wait_doubles_it(clock) -> None:
    gate = SignInThrottle(clock=clock)
    waits = []
    for _ in range(9):
        waits.append(_fail(gate, "alice", "203.0.113.7"))
        clock.advance(waits[-1])
    assert waits == [0, 0, 30, 60, 120, 240, 480, 900, 900]


def test_attempts_during_the_wait_are_refused_and_not_counted(clock) -> None:
    gate = SignInThrottle(clock=clock)
    for _ in range(3):
        _fail(gate, "alice", "203.0.113.7")
    for _ in range(5):
        assert gate.admit("alice", "203.0.113.7") == 30
    clock.advance(30)
    assert _fail(gate, "alice", "203.0.113.7") == 60  # the 4th failure, not the 9th


def test_a_client_waits_after_failures_across_accounts(clock) -> None:
    gate = SignInThrottle(clock=clock)
    waits = [_fail(gate, f"user{n}", "203.0.113.7") for n in range(11)]
    assert waits == [0] * 10 + [30]
    assert gate.admit("someone-else", "203.0.113.7") == 30
    assert gate.admit("someone-else", "198.51.100.9") == 0  # another client may try
    gate.settle("someone-else", "198.51.100.9", succeeded=False)
    clock.advance(30)
    # a success from the client resets the account only: the next failure is its 12th
    assert gate.admit("alice", "203.0.113.7") == 0
    gate.settle("alice", "203.0.113.7", succeeded=True)
    assert _fail(gate, "user0", "203.0.113.7") == 60


def test_failures_are_forgotten_an_hour_after_the_last_one(clock) -> None:
    gate = SignInThrottle(clock=clock)
    for _ in range(3):
        _fail(gate, "alice", "203.0.113.7")
    clock.advance(3_599)
    assert _fail(gate, "alice", "203.0.113.7") == 60  # 59:59 later: still the 4th failure
    clock.advance(3_600)
    assert gate.admit("alice", "203.0.113.7") == 0
    assert gate.settle("alice", "203.0.113.7", succeeded=False) == 0  # the 1st again


def test_one_attempt_per_account_and_client_is_checked_at_a_time(clock) -> None:
    gate = SignInThrottle(clock=clock)
    assert gate.admit("alice", "203.0.113.7") == 0  # being checked
    assert gate.admit("alice", "198.51.100.9") == throttle.CHECKING_WAIT  # same account
    assert gate.admit("bob", "203.0.113.7") == throttle.CHECKING_WAIT  # same client
    assert gate.admit("bob", "198.51.100.9") == 0
    gate.settle("alice", "203.0.113.7", succeeded=False)
    assert gate.admit("alice", "198.51.100.9") == throttle.CHECKING_WAIT  # bob's client
    gate.settle("bob", "198.51.100.9", succeeded=True)
    assert gate.admit("alice", "198.51.100.9") == 0


def test_the_record_keeps_at_most_max_keys_dropping_the_oldest(clock) -> None:
    gate = SignInThrottle(clock=clock, max_keys=4)
    for _ in range(3):
        _fail(gate, "alice", "203.0.113.7")
    assert gate.admit("alice", "198.51.100.9") == 30
    # three more names from another client: 6 keys, the oldest two (alice, 203.0.113.7) go
    for name in ("n1", "n2", "n3"):
        _fail(gate, name, "192.0.2.1")
    assert gate.admit("alice", "203.0.113.7") == 0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.2, "1 second"),
        (1, "1 second"),
        (29.01, "30 seconds"),
        (60, "1 minute"),
        (90, "1 minute 30 seconds"),
        (121, "2 minutes 1 second"),
        (900, "15 minutes"),
    ],
)
def test_wait_text(seconds: float, text: str) -> None:
    assert throttle.wait_text(seconds) == text


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),  # IPv4 written as IPv6
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("unknown", "unknown"),
    ],
)
def test_an_ipv6_client_is_its_64_network(address: str, key: str) -> None:
    assert throttle.client_key(address) == key

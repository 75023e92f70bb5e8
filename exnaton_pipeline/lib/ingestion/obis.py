"""OBIS codes as the meter API delivers them: 12 hex digits, one byte per group A-B:C.D.E*F.

Only load-profile deltas (value group D = 0x1D = 29: energy in the interval, not a counter)
of electricity (A = 1) are readings we accept; C tells the register.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

HEX12 = re.compile(r"[0-9A-Fa-f]{12}")

# Value group C -> (register, unit)
REGISTERS: dict[int, tuple[str, str]] = {
    1: ("active_import", "kWh"),  # +A, consumption from the grid
    2: ("active_export", "kWh"),  # -A, feed-in to the grid
    3: ("reactive_import", "kvarh"),  # +R
    4: ("reactive_export", "kvarh"),  # -R
}
LOAD_PROFILE_DELTA = 0x1D


@dataclass(frozen=True)
class Obis:
    code: str  # 12 upper-case hex digits, as delivered
    a: int
    b: int
    c: int
    d: int
    e: int
    f: int

    @property
    def notation(self) -> str:
        return f"{self.a}-{self.b}:{self.c}.{self.d}.{self.e}*{self.f}"

    @property
    def register(self) -> str:
        return REGISTERS[self.c][0]

    @property
    def unit(self) -> str:
        return REGISTERS[self.c][1]


class ObisError(ValueError):
    """A value key that is not an OBIS code we can store."""


@functools.lru_cache(maxsize=1024)  # a batch repeats a handful of codes thousands of times
def decode(key: str) -> Obis:
    """Decode a 12-hex OBIS value key; raise ObisError saying why it is not a known reading."""
    if not HEX12.fullmatch(key):
        raise ObisError(f"key {key!r} is not a 12-hex-digit OBIS code")
    a, b, c, d, e, f = (int(key[i : i + 2], 16) for i in range(0, 12, 2))
    obis = Obis(key.upper(), a, b, c, d, e, f)
    if a != 1:
        raise ObisError(f"OBIS {obis.notation} ({key}) is not electricity (A must be 1)")
    if c not in REGISTERS:
        raise ObisError(f"OBIS {obis.notation} ({key}) is not an energy register we know (C={c})")
    if d != LOAD_PROFILE_DELTA:
        raise ObisError(
            f"OBIS {obis.notation} ({key}) is not a 15-minute load-profile delta (D must be 29)"
        )
    return obis


def try_decode(key: str) -> Obis | None:
    try:
        return decode(key)
    except ObisError:
        return None

"""Small builders for meter API responses, shaped like the real files (see SOURCE.md)."""

from __future__ import annotations

import json
from typing import Any

IMPORT_MUID = "95ce3367-cbce-4a4d-bbe3-da082831d7bd"  # real sample meter, active import
EXPORT_MUID = "1db7649e-9342-4e04-97c7-f0ebb88ed1f8"  # real sample meter, active export (PV)
IMPORT = "0100011D00FF"  # 1-0:1.29.0*255
EXPORT = "0100021D00FF"  # 1-0:2.29.0*255


def record(
    timestamp: Any = "2023-02-01T00:00:00.000Z",
    values: dict[str, Any] | None = None,
    muid: Any = IMPORT_MUID,
    quality: Any = "measured",
) -> dict[str, Any]:
    """One API record; `None` for timestamp, muid or quality leaves that field out."""
    tags: dict[str, Any] = {}
    if muid is not None:
        tags["muid"] = muid
    if quality is not None:
        tags["quality"] = quality
    out: dict[str, Any] = {"measurement": "energy", "tags": tags}
    if timestamp is not None:
        out["timestamp"] = timestamp
    out.update({IMPORT: 0.5} if values is None else values)
    return out


def response(*records: Any) -> bytes:
    """An API response body; NaN/Infinity are written as the JSON extensions Python emits."""
    return json.dumps({"data": list(records)}).encode()


def swiss_dual_plan() -> dict[str, Any]:
    """The `swiss_dual` tariff plan as the registry spells it, a new dict each call.

    High 0.32 CHF/kWh Mon-Fri 07:00-20:00 local time, low 0.22 at all other times, feed-in
    0.10 CHF/kWh.
    """
    return {
        "currency": "CHF",
        "feed_in_rate": 0.10,
        "bands": {
            "high": {
                "rate": 0.32,
                "windows": [{"weekdays": [1, 2, 3, 4, 5], "start": "07:00", "end": "20:00"}],
            },
            "low": {"rate": 0.22, "windows": "otherwise"},
        },
    }

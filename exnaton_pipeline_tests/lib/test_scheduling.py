"""Which partitions a tick requests, at instants whose local times were worked out by hand."""

from datetime import UTC, date, datetime

import pytest

from exnaton_pipeline.lib.scheduling import local_midnight, partitions_due


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def days_by_tenant(instant: datetime, registry) -> dict[str, list[str]]:
    tenants = [registry.get("alpine"), registry.get("nyc-coop")]  # Zurich, New York
    found: dict[str, list[str]] = {}
    for due in partitions_due(instant, tenants):
        found.setdefault(due.tenant_id, []).append(due.day.isoformat())
    return found


@pytest.mark.parametrize(
    ("instant", "alpine", "nyc"),
    [
        # midday: Zurich 13:00, New York 07:00 -> today only
        ("2024-01-17 12:00", ["2024-01-17"], ["2024-01-17"]),
        # Zurich 00:10 (CET, UTC+1) on the 18th: the local day just closed
        ("2024-01-17 23:10", ["2024-01-16", "2024-01-17"], ["2024-01-17"]),
        # 00:05 UTC: everyone re-reads yesterday's folder for its 23:45 batch
        ("2024-01-18 00:05", ["2024-01-17", "2024-01-18"], ["2024-01-17", "2024-01-18"]),
        # 01:00 UTC exactly: the UTC late window (one hour) is over
        ("2024-01-18 01:00", ["2024-01-18"], ["2024-01-18"]),
        # New York 00:10 (EST, UTC-5) on the 18th; Zurich is at 06:10
        ("2024-01-18 05:10", ["2024-01-18"], ["2024-01-17", "2024-01-18"]),
        # autumn DST day: Zurich 00:30 CEST (UTC+2) on 27 Oct -- a fixed UTC+1 would say 23:30
        ("2024-10-26 22:30", ["2024-10-25", "2024-10-26"], ["2024-10-26"]),
        # same night, Zurich 01:30 CEST: the local window is over (a fixed UTC+1 says 00:30)
        ("2024-10-26 23:30", ["2024-10-26"], ["2024-10-26"]),
        # the 23-hour day 31 Mar 2024 ended at 22:00 UTC: Zurich 00:20 CEST on 1 Apr
        ("2024-03-31 22:20", ["2024-03-30", "2024-03-31"], ["2024-03-31"]),
        # New York sprang forward on 10 Mar: 04:30 UTC is 00:30 EDT on 11 Mar
        ("2024-03-11 04:30", ["2024-03-11"], ["2024-03-10", "2024-03-11"]),
        # and 05:30 UTC is 01:30 EDT: over (a fixed UTC-5 would say 00:30)
        ("2024-03-11 05:30", ["2024-03-11"], ["2024-03-11"]),
    ],
)
def test_partitions_due(instant, alpine, nyc, registry):
    assert days_by_tenant(at(instant), registry) == {"alpine": alpine, "nyc-coop": nyc}


def test_reasons_say_why_the_previous_day_is_due(registry):
    due = partitions_due(at("2024-01-17 23:10"), [registry.get("alpine")])
    assert [(d.day, d.reason) for d in due] == [
        (date(2024, 1, 16), "local day closed at midnight Europe/Zurich"),
        (date(2024, 1, 17), "current UTC day"),
    ]
    due = partitions_due(at("2024-01-18 00:45"), [registry.get("alpine")])
    assert due[0].reason == "late readings after UTC midnight"


def test_local_midnight_moves_with_dst(registry):
    zurich = registry.get("alpine")
    assert local_midnight(at("2024-01-18 10:00"), zurich) == at("2024-01-17 23:00")
    assert local_midnight(at("2024-07-18 10:00"), zurich) == at("2024-07-17 22:00")
    # on the 25-hour day the local day began at 22:00 UTC the evening before (still CEST)
    assert local_midnight(at("2024-10-27 12:00"), zurich) == at("2024-10-26 22:00")


def test_naive_instant_is_refused(registry):
    with pytest.raises(ValueError, match="has no time zone"):
        partitions_due(datetime(2024, 1, 17, 12), [registry.get("alpine")])

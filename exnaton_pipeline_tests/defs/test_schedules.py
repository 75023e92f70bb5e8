"""meter_data_schedule evaluated at chosen tick times yields exactly the expected run requests."""

from datetime import UTC, datetime

import dagster as dg
import pytest

from exnaton_pipeline.definitions import defs
from exnaton_pipeline.defs.schedules import meter_data_schedule
from exnaton_pipeline.orchestration.resources import TenantRegistryResource

# Expected partition days per tenant time zone, worked out by hand for each tick (UTC).
TICKS = {
    # midday everywhere that matters: today only
    "2024-01-17T12:00": {
        "Europe/Zurich": ["2024-01-17"],
        "America/New_York": ["2024-01-17"],
    },
    # 00:15 local in Zurich (CET): the local day just closed, yesterday's UTC day too
    "2024-01-17T23:15": {
        "Europe/Zurich": ["2024-01-16", "2024-01-17"],
        "America/New_York": ["2024-01-17"],
    },
    # 00:15 local in New York (EST)
    "2024-01-18T05:15": {
        "Europe/Zurich": ["2024-01-18"],
        "America/New_York": ["2024-01-17", "2024-01-18"],
    },
    # DST day: 27 Oct 2024 began at 22:00 UTC in Zurich (CEST); 22:45 is 00:45 local
    "2024-10-26T22:45": {
        "Europe/Zurich": ["2024-10-25", "2024-10-26"],
        "America/New_York": ["2024-10-26"],
    },
    # an hour later it is 01:45 CEST: only the current day
    "2024-10-26T23:45": {
        "Europe/Zurich": ["2024-10-26"],
        "America/New_York": ["2024-10-26"],
    },
}


def evaluate(tick: datetime) -> list[dg.RunRequest]:
    context = dg.build_schedule_context(
        scheduled_execution_time=tick,
        resources={"tenants": TenantRegistryResource()},
        repository_def=defs.get_repository_def(),
    )
    return list(meter_data_schedule.evaluate_tick(context).run_requests or [])


@pytest.mark.parametrize("tick_text", list(TICKS))
def test_tick_requests_expected_partitions(tick_text, registry):
    tick = datetime.fromisoformat(tick_text).replace(tzinfo=UTC)
    requests = evaluate(tick)
    expected = sorted(
        f"{day}|{tenant.id}"
        for tenant in registry.tenants
        for day in TICKS[tick_text][tenant.timezone]
    )
    assert sorted(str(r.partition_key) for r in requests) == expected
    for request in requests:
        tenant = str(request.partition_key).split("|")[1]
        # the run queue limits concurrency on this tag: one run per tenant at a time
        assert request.tags["dagster/partition/tenant"] == tenant
        assert request.run_key == f"{request.partition_key}@{tick_text}Z"


def test_every_tick_of_a_day_has_its_own_run_keys():
    first = evaluate(datetime(2024, 1, 17, 12, 0, tzinfo=UTC))
    second = evaluate(datetime(2024, 1, 17, 12, 15, tzinfo=UTC))
    # midday: each of the five test tenants is due for today's UTC day only
    today = sorted(f"2024-01-17|{t}" for t in ("alpine", "demo", "live", "nyc-coop", "valley"))
    assert sorted(str(r.partition_key) for r in first) == today
    assert sorted(str(r.partition_key) for r in second) == today
    assert {r.run_key for r in first} == {f"{key}@2024-01-17T12:00Z" for key in today}
    assert {r.run_key for r in second} == {f"{key}@2024-01-17T12:15Z" for key in today}


def test_schedule_targets_meter_data_job_every_15_minutes():
    schedule = defs.resolve_schedule_def("meter_data_schedule")
    assert schedule.cron_schedule == "*/15 * * * *"
    assert schedule.job_name == "meter_data_job"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING

"""community_energy per quarter hour, with hand-computed numbers.

Tenant alpine (Europe/Zurich), local Wed 1 and Thu 2 Feb 2023 (UTC+1):
- A imports 0.3 kWh every quarter hour of both days;
- B imports 0.1 kWh per quarter hour, and exports 0.2 in the local hours 10..13 (16 quarter
  hours a day);
- C exports 0.05 in the local hours 12..13 (8 quarter hours a day), no import register.

Per quarter hour of 10:00-11:45: import 0.4, export 0.2, shared 0.2; of 12:00-13:45: import
0.4, export 0.25, shared 0.25; otherwise import 0.4, export 0, shared 0. A day: import
96 x 0.4 = 38.4 kWh, export 8 x 0.2 + 8 x 0.25 = 3.6 kWh, shared 3.6 kWh.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from exnaton_pipeline.lib.energy.community import local_day_spans, refresh_community_energy
from exnaton_pipeline.lib.warehouse import database
from exnaton_pipeline_tests.builders import EXPORT, IMPORT
from exnaton_pipeline_tests.stored_readings import local_quarters, readings, rows, store

ZURICH = ZoneInfo("Europe/Zurich")
A = "aaaaaaaa-1111-4111-8111-000000000001"
B = "aaaaaaaa-1111-4111-8111-000000000002"
C = "aaaaaaaa-1111-4111-8111-000000000003"
DAYS = [date(2023, 2, 1), date(2023, 2, 2)]


def _hour(ts: datetime) -> int:
    return ts.astimezone(ZURICH).hour


def _refresh(url, tenant, days):
    with database.transaction(url) as conn:
        return refresh_community_energy(conn, tenant, local_day_spans(tenant.zone, days))


def _day(url, tenant, day: date) -> dict:
    (row,) = rows(
        url,
        tenant,
        "SELECT count(*) AS n, sum(import_kwh) AS imp, sum(export_kwh) AS exp, "
        "sum(shared_kwh) AS shared, min(meters) AS min_meters, max(meters) AS max_meters "
        "FROM {s}.community_energy WHERE local_date = %s",
        (day,),
    )
    return row


def test_community_energy_sums_members_per_quarter_hour(warehouse_url, registry):
    tenant = registry.get("alpine")
    quarters = local_quarters(ZURICH, *DAYS)
    store(
        warehouse_url,
        tenant,
        readings(A, IMPORT, quarters, lambda ts: 0.3),
        readings(B, IMPORT, quarters, lambda ts: 0.1),
        readings(B, EXPORT, quarters, lambda ts: 0.2 if 10 <= _hour(ts) <= 13 else 0.0),
        readings(C, EXPORT, quarters, lambda ts: 0.05 if 12 <= _hour(ts) <= 13 else None),
    )
    done = _refresh(warehouse_url, tenant, DAYS)
    assert (done.quarter_hours, done.rows_written, done.rows_deleted) == (192, 192, 0)
    for day in DAYS:
        figures = _day(warehouse_url, tenant, day)
        assert figures["n"] == 96
        assert figures["imp"] == pytest.approx(38.4)
        assert figures["exp"] == pytest.approx(3.6)
        assert figures["shared"] == pytest.approx(3.6)
        # C reads only 8 quarter hours a day
        assert (figures["min_meters"], figures["max_meters"]) == (2, 3)
    # 12:00 local on 1 Feb is 11:00 UTC; its hour starts then too
    (noon,) = rows(
        warehouse_url,
        tenant,
        "SELECT * FROM {s}.community_energy WHERE ts = %s",
        (datetime(2023, 2, 1, 11, 15, tzinfo=UTC),),
    )
    assert noon["hour_start"] == datetime(2023, 2, 1, 11, tzinfo=UTC)
    assert (noon["import_kwh"], noon["export_kwh"], noon["shared_kwh"]) == pytest.approx(
        (0.4, 0.25, 0.25)
    )

    # nothing changed: nothing written
    again = _refresh(warehouse_url, tenant, DAYS)
    assert (again.rows_written, again.rows_deleted) == (0, 0)

    # B's feed-in of 2 Feb 10:00 local corrected to 0.5 (import 0.4 now below it), and every
    # reading of 2 Feb 23:45 local gone: only 2 Feb is recomputed, and only those rows change
    ten, last = (datetime(2023, 2, 2, h, m, tzinfo=ZURICH) for h, m in ((10, 0), (23, 45)))
    with database.transaction(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute(
            "UPDATE tenant_alpine.meter_readings SET kwh = 0.5 WHERE muid = %s AND obis = %s "
            "AND ts = %s",
            (B, EXPORT, ten),
        )
        cur.execute("DELETE FROM tenant_alpine.meter_readings WHERE ts = %s", (last,))
    done = _refresh(warehouse_url, tenant, [DAYS[1]])
    assert (len(done.spans), done.rows_written, done.rows_deleted) == (1, 1, 1)
    figures = _day(warehouse_url, tenant, DAYS[1])
    assert figures["n"] == 95
    assert figures["imp"] == pytest.approx(38.0)  # one quarter hour of 0.4 less
    assert figures["exp"] == pytest.approx(3.9)  # 0.2 -> 0.5
    assert figures["shared"] == pytest.approx(3.8)  # that quarter hour shares 0.4, not 0.2
    assert _day(warehouse_url, tenant, DAYS[0])["n"] == 96

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from exnaton_pipeline.lib.warehouse import database, migrate, writes
from exnaton_pipeline_tests.builders import EXPORT, EXPORT_MUID, IMPORT, IMPORT_MUID

SCHEMA = "tenant_alpine"
ZURICH = "Europe/Zurich"


def readings(rows: list[tuple[str, str, str, float]], quality="measured") -> pd.DataFrame:
    """(muid, obis, ts, kwh) rows in the shape `upsert_readings` receives."""
    frame = pd.DataFrame(rows, columns=["muid", "obis", "ts", "kwh"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame.assign(quality=quality, source_key="alpine/x.json", source_etag="e1")


def query(url: str, text: str, params=()) -> list[tuple]:
    with database.transaction(url) as conn, conn.cursor() as cur:
        cur.execute(text, params)
        return cur.fetchall()


def timescale_available(url: str) -> bool:
    return bool(query(url, "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"))


@pytest.fixture(autouse=True)
def alpine_at_head(warehouse_url: str) -> None:
    """Every test here writes into tenant alpine's schema at the newest migration."""
    migrate.migrate_tenant(warehouse_url, SCHEMA)


def test_month_partitions_follow_the_readings(warehouse_url):
    if timescale_available(warehouse_url):
        pytest.skip("TimescaleDB makes chunks, not monthly partitions")
    frame = readings(
        [
            (IMPORT_MUID, IMPORT, "2023-01-31T23:45:00Z", 0.1),
            (IMPORT_MUID, IMPORT, "2023-02-01T00:00:00Z", 0.2),
            (IMPORT_MUID, IMPORT, "2023-02-28T23:45:00Z", 0.3),
        ]
    )
    with database.transaction(warehouse_url) as conn:
        writes.upsert_readings(conn, SCHEMA, frame, ZURICH)
    partitions = query(
        warehouse_url,
        "SELECT c.relname FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass ORDER BY 1",
        (f"{SCHEMA}.meter_readings",),
    )
    assert partitions == [("meter_readings_2023_01",), ("meter_readings_2023_02",)]
    # the last quarter hour of January lands in January's partition
    placed = query(
        warehouse_url,
        "SELECT tableoid::regclass::text, count(*) FROM tenant_alpine.meter_readings "
        "GROUP BY 1 ORDER BY 1",
    )
    assert placed == [
        ("tenant_alpine.meter_readings_2023_01", 1),
        ("tenant_alpine.meter_readings_2023_02", 2),
    ]


def test_upsert_counts_inserts_corrections_and_repeats(warehouse_url):
    rows = [
        (IMPORT_MUID, IMPORT, "2023-02-01T00:00:00Z", 0.1),
        (EXPORT_MUID, EXPORT, "2023-02-01T00:00:00Z", 0.0),
    ]
    with database.transaction(warehouse_url) as conn:
        assert writes.upsert_readings(conn, SCHEMA, readings(rows), ZURICH) == (
            writes.UpsertResult(inserted=2, updated=0, unchanged=0)
        )
    with database.transaction(warehouse_url) as conn:
        assert writes.upsert_readings(conn, SCHEMA, readings(rows), ZURICH) == (
            writes.UpsertResult(inserted=0, updated=0, unchanged=2)
        )
    corrected = [
        rows[0],
        (EXPORT_MUID, EXPORT, "2023-02-01T00:00:00Z", 0.04),
        (EXPORT_MUID, EXPORT, "2023-02-01T00:15:00Z", 0.0),
    ]
    with database.transaction(warehouse_url) as conn:
        assert writes.upsert_readings(conn, SCHEMA, readings(corrected), ZURICH) == (
            writes.UpsertResult(inserted=1, updated=1, unchanged=1)
        )
    # a quality change alone is a correction too
    with database.transaction(warehouse_url) as conn:
        result = writes.upsert_readings(conn, SCHEMA, readings(corrected[:2], "estimated"), ZURICH)
        assert result == writes.UpsertResult(inserted=0, updated=2, unchanged=0)
    stored = query(
        warehouse_url,
        "SELECT muid::text, obis, register, ts, kwh, quality, revision "
        "FROM tenant_alpine.meter_readings ORDER BY obis, ts",
    )
    feb1 = datetime(2023, 2, 1, tzinfo=UTC)
    assert stored == [
        (IMPORT_MUID, IMPORT, "active_import", feb1, 0.1, "estimated", 1),
        (EXPORT_MUID, EXPORT, "active_export", feb1, 0.04, "estimated", 2),
        (EXPORT_MUID, EXPORT, "active_export", feb1 + timedelta(minutes=15), 0.0, "measured", 0),
    ]


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/New_York"])
def test_instants_survive_any_session_time_zone(warehouse_url, zone):
    url = (
        sa.make_url(warehouse_url)
        .update_query_dict({"options": f"-c TimeZone={zone}"})
        .render_as_string(hide_password=False)
    )
    first = readings([(IMPORT_MUID, IMPORT, "2023-02-01T00:00:00Z", 0.1)])
    both = readings(
        [
            (IMPORT_MUID, IMPORT, "2023-02-01T00:00:00Z", 0.2),  # a correction: upsert path
            (IMPORT_MUID, IMPORT, "2023-02-01T23:45:00Z", 0.3),
        ]
    )
    with database.transaction(url) as conn:
        writes.upsert_readings(conn, SCHEMA, first, ZURICH)  # all new: direct copy
    with database.transaction(url) as conn:
        writes.upsert_readings(conn, SCHEMA, both, ZURICH)
    stored = query(
        warehouse_url,
        "SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), kwh "
        "FROM tenant_alpine.meter_readings ORDER BY ts",
    )
    assert stored == [("2023-02-01 00:00", 0.2), ("2023-02-01 23:45", 0.3)]


def test_failed_transaction_leaves_nothing(warehouse_url):
    with pytest.raises(RuntimeError), database.transaction(warehouse_url) as conn:
        writes.upsert_readings(
            conn, SCHEMA, readings([(IMPORT_MUID, IMPORT, "2023-02-01T00:00:00Z", 1.0)]), ZURICH
        )
        raise RuntimeError("crash after the write")
    assert query(warehouse_url, "SELECT count(*) FROM tenant_alpine.meter_readings") == [(0,)]


def queued_hours(url: str) -> list[tuple[str, str]]:
    return [
        (muid, start)
        for muid, start in query(
            url,
            "SELECT muid::text, to_char(hour_start AT TIME ZONE 'UTC', 'MM-DD HH24:MI') "
            "FROM tenant_alpine.stale_hours ORDER BY 2, 1",
        )
    ]


def test_new_and_corrected_readings_queue_their_local_hours(warehouse_url):
    """The upsert queues the (meter, local hour) of every row it inserts or changes, and
    nothing for rows delivered again unchanged; hours are named by their UTC start."""
    rows = [
        (IMPORT_MUID, IMPORT, "2023-10-29T00:15:00Z", 0.1),  # 02:15 CEST
        (IMPORT_MUID, IMPORT, "2023-10-29T01:30:00Z", 0.2),  # 02:30 CET, the second 02:00
        (EXPORT_MUID, EXPORT, "2023-10-29T01:45:00Z", 0.3),
    ]
    with database.transaction(warehouse_url) as conn:  # all new: the COPY path
        writes.upsert_readings(conn, SCHEMA, readings(rows), ZURICH)
    assert queued_hours(warehouse_url) == [
        (IMPORT_MUID, "10-29 00:00"),
        (EXPORT_MUID, "10-29 01:00"),
        (IMPORT_MUID, "10-29 01:00"),
    ]
    with database.transaction(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM tenant_alpine.stale_hours")
    corrected = [rows[0], (IMPORT_MUID, IMPORT, "2023-10-29T01:30:00Z", 0.25), rows[2]]
    with database.transaction(warehouse_url) as conn:  # one change: the upsert path
        writes.upsert_readings(conn, SCHEMA, readings(corrected), ZURICH)
    assert queued_hours(warehouse_url) == [(IMPORT_MUID, "10-29 01:00")]


def test_half_hour_zones_get_their_own_hour_boundaries(warehouse_url):
    """Kolkata is UTC+05:30: local 06:00-07:00 is 00:30-01:30 UTC."""
    rows = [
        (IMPORT_MUID, IMPORT, "2023-02-01T00:15:00Z", 0.1),  # 05:45 IST
        (IMPORT_MUID, IMPORT, "2023-02-01T00:30:00Z", 0.1),  # 06:00 IST
        (IMPORT_MUID, IMPORT, "2023-02-01T01:15:00Z", 0.1),  # 06:45 IST
    ]
    with database.transaction(warehouse_url) as conn:
        writes.upsert_readings(conn, SCHEMA, readings(rows), "Asia/Kolkata")
    assert queued_hours(warehouse_url) == [
        (IMPORT_MUID, "01-31 23:30"),
        (IMPORT_MUID, "02-01 00:30"),
    ]

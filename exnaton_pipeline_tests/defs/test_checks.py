"""The asset checks on meter_readings: pass on clean data, fail with the right severity on data
built to break each one. Runs the real definitions against the test database and a local source.
"""

import json
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import psycopg2
import pytest
import sqlalchemy as sa

from exnaton_pipeline_tests.conftest import day_range, materialize_days

METER_A = "aaaaaaaa-0000-4000-8000-000000000001"
METER_B = "bbbbbbbb-0000-4000-8000-000000000002"
IMPORT = "0100011D00FF"
WARN = dg.AssetCheckSeverity.WARN
ERROR = dg.AssetCheckSeverity.ERROR


def write_day(source, prefix, day, muid, value=0.25, bad=(), start=None, end=None):
    """One API response for `muid` over UTC `day` (or [start, end)): every 15-minute interval;
    the slot indices in `bad` carry a negative value."""
    start = start or datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    end = end or start + timedelta(days=1)
    records, slot, ts = [], 0, start
    while ts < end:
        records.append(
            {
                "measurement": "energy",
                "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "tags": {"muid": muid, "quality": "measured"},
                IMPORT: -0.5 if slot in bad else value,
            }
        )
        slot, ts = slot + 1, ts + timedelta(minutes=15)
    records.reverse()  # the API sends newest first
    key = f"{prefix}/{start.date().isoformat()}/{muid}.json"
    source.write(key, json.dumps({"data": records}).encode())
    return key


# A run that recomputes its local days although no object is new (else it stops after listing)
RECOMPUTE = {"ops": {"raw_meter_readings": {"config": {"recompute": True}}}}


def run(tenant, days, warehouse_url, source, run_config=None):
    return materialize_days(tenant, days, warehouse_url, str(source.root), run_config=run_config)


def checks(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def materialized(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def psql(url: str):
    conn = psycopg2.connect(sa.make_url(url).set(drivername="postgresql").render_as_string(False))
    conn.autocommit = True
    return conn


@pytest.fixture
def sample(local_source, registry):
    from exnaton_pipeline.lib.demo_data.sample import write_sample

    write_sample(local_source, registry.get("demo"))
    return local_source


def test_clean_sample_day_passes_every_check(warehouse_url, sample):
    # local 14 Feb (Zurich, UTC+1) spans UTC 13 Feb 23:00 .. 14 Feb 23:00: load both UTC days
    *_, result = run("demo", day_range(date(2023, 2, 13), date(2023, 2, 14)), warehouse_url, sample)
    assert result.success
    found = checks(result)
    assert set(found) == {
        "schema_validation",
        "completeness",
        "no_duplicate_readings",
        "rejected_share",
        "freshness",
    }
    assert all(e.passed for e in found.values()), {n: e.description for n, e in found.items()}
    # two meters x 96 intervals, two objects
    assert found["schema_validation"].description == "all 192 rows of 2 objects valid"
    assert found["completeness"].description.startswith(
        "all 2 meter register-days complete on local day 2023-02-14 (96 intervals)"
    )
    assert found["rejected_share"].description == "0.0% of delivered rows rejected (0 of 192)"
    assert "is historical (not live)" in found["freshness"].description
    assert {"raw_meter_readings", "meter_readings", "daily_energy"} <= materialized(result)


def test_meter_readings_materialization_metadata(warehouse_url, sample):
    (result,) = run("demo", [date(2023, 2, 28)], warehouse_url, sample)
    (event,) = result.asset_materializations_for_node("meter_readings")
    meta = event.metadata
    columns = [c.name for c in meta["dagster/column_schema"].value.columns]
    assert columns[:5] == ["muid", "obis", "register", "ts", "kwh"]
    assert meta["dagster/row_count"].value == 192
    # the newest interval of the sample starts 2023-02-28 23:45 UTC
    assert meta["newest_reading"].value == datetime(2023, 2, 28, 23, 45, tzinfo=UTC).timestamp()
    preview = meta["preview"].value.splitlines()
    assert preview[0] == "| muid | obis | register | ts | kwh | quality | source_key |"
    assert len(preview) == 2 + 5
    assert "2023-02-28 23:45 UTC" in preview[2]


def test_first_sample_day_misses_the_first_local_hour(warehouse_url, sample):
    # the sample starts 2023-02-01 00:00 UTC = 01:00 in Zurich: 4 intervals of local 1 Feb absent
    (result,) = run("demo", [date(2023, 2, 1)], warehouse_url, sample)
    assert result.success  # a warning does not fail the run
    found = checks(result)["completeness"]
    assert not found.passed
    assert found.severity == WARN
    assert found.description.startswith("2 of 2 meter register-days incomplete in Europe/Zurich")
    assert "1db7649e-9342-4e04-97c7-f0ebb88ed1f8 0100021D00FF on 2023-02-01: 92 of 96" in (
        found.description
    )


@pytest.mark.parametrize(
    ("days", "local_day", "expected"),
    [
        # spring forward: local 31 Mar 2024 runs from 30 Mar 23:00 to 31 Mar 22:00 UTC
        ((date(2024, 3, 30), date(2024, 3, 31)), "2024-03-31", 92),
        # fall back: local 27 Oct 2024 runs from 26 Oct 22:00 to 27 Oct 23:00 UTC
        ((date(2024, 10, 26), date(2024, 10, 27)), "2024-10-27", 100),
    ],
)
def test_completeness_expects_the_intervals_of_the_local_dst_day(
    warehouse_url, local_source, days, local_day, expected
):
    for day in days:
        write_day(local_source, "alpine", day, METER_A)
    *_, result = run("alpine", list(days), warehouse_url, local_source)
    found = checks(result)["completeness"]
    assert found.passed, found.description
    assert f"on local day {local_day} ({expected} intervals)" in found.description

    # the reading of 10:00 UTC on the second day is lost from the table
    conn = psql(warehouse_url)
    with conn, conn.cursor() as cur:
        cur.execute(
            "DELETE FROM tenant_alpine.meter_readings WHERE ts = %s",
            (datetime.combine(days[1], datetime.min.time(), tzinfo=UTC) + timedelta(hours=10),),
        )
    conn.close()
    (result,) = run("alpine", [days[1]], warehouse_url, local_source, RECOMPUTE)
    found = checks(result)["completeness"]
    assert not found.passed
    assert found.severity == WARN
    assert f"{METER_A} 0100011D00FF on {local_day}: {expected - 1} of {expected}" in (
        found.description
    )


def test_a_meter_silent_for_a_whole_local_day_is_reported(warehouse_url, local_source):
    day1, day2 = date(2024, 1, 9), date(2024, 1, 10)
    for day in (day1, day2):
        write_day(local_source, "alpine", day, METER_A)
    # meter B delivered on 9 Jan only (UTC), so local 10 Jan (9 Jan 23:00 .. 10 Jan 23:00 UTC)
    # holds just its 9 Jan 23:00-24:00 hour: 4 readings
    write_day(local_source, "alpine", day1, METER_B)
    *_, result = run("alpine", [day1, day2], warehouse_url, local_source)
    found = checks(result)["completeness"]
    assert not found.passed
    assert found.description.startswith("1 of 2 meter register-days incomplete")
    assert f"{METER_B} 0100011D00FF on 2024-01-10: 4 of 96" in found.description


def test_few_rejected_rows_warn(warehouse_url, local_source):
    day = date(2024, 1, 10)
    write_day(local_source, "alpine", day, METER_A, bad={10, 11, 12})
    (result,) = run("alpine", [day], warehouse_url, local_source)
    assert result.success
    found = checks(result)
    schema = found["schema_validation"]
    assert not schema.passed and schema.severity == WARN
    assert schema.description.startswith(
        "3 of 96 rows rejected -- non_negative_kwh: 3 (value -0.5 kWh is negative)"
    )
    share = found["rejected_share"]
    assert not share.passed and share.severity == WARN
    # 3 / 96 = 3.125 %
    assert share.description == (
        "3.1% of delivered rows rejected (3 of 96): above the 1% warning threshold"
    )


def test_many_rejected_rows_are_an_error_that_blocks(warehouse_url, local_source):
    day = date(2024, 1, 10)
    write_day(local_source, "alpine", day, METER_A, bad=set(range(20)))
    (result,) = run("alpine", [day], warehouse_url, local_source)
    share = checks(result)["rejected_share"]
    assert not share.passed and share.severity == ERROR
    # 20 / 96 = 20.83 %
    assert share.description == (
        "20.8% of delivered rows rejected (20 of 96): above the 10% error threshold"
    )
    assert not result.success  # a blocking check failing with ERROR fails its step
    # and nothing downstream of meter_readings (the analytics) was computed from it
    assert materialized(result) == {"tenant_schema", "raw_meter_readings", "meter_readings"}


def test_duplicate_readings_are_an_error(warehouse_url, local_source):
    day = date(2024, 1, 10)
    write_day(local_source, "alpine", day, METER_A)
    (result,) = run("alpine", [day], warehouse_url, local_source)
    assert checks(result)["no_duplicate_readings"].passed
    # the primary key makes duplicates impossible through the pipeline: simulate a table
    # that lost it (a manual load, a restored dump) and holds two readings twice
    conn = psql(warehouse_url)
    with conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE tenant_alpine.meter_readings DROP CONSTRAINT meter_readings_pkey")
        cur.execute(
            "INSERT INTO tenant_alpine.meter_readings SELECT * FROM tenant_alpine.meter_readings "
            "WHERE ts IN ('2024-01-10 00:00+00', '2024-01-10 00:15+00')"
        )
    conn.close()
    # the check judges the readings a run is about to aggregate: here every hour of the day
    (result,) = run("alpine", [day], warehouse_url, local_source, RECOMPUTE)
    found = checks(result)["no_duplicate_readings"]
    assert not found.passed and found.severity == ERROR
    assert found.description.startswith(
        f"2 readings are stored more than once (2 extra rows), e.g. {METER_A} 0100011D00FF "
        "2024-01-10 00:00 UTC x2"
    )
    assert not result.success


def _quarter_hour(instant: datetime) -> datetime:
    return instant.replace(minute=instant.minute - instant.minute % 15, second=0, microsecond=0)


@pytest.mark.parametrize(("lag_minutes", "fresh"), [(15, True), (120, False)])
def test_freshness_of_a_live_tenant(warehouse_url, local_source, lag_minutes, fresh):
    # one reading, its interval starting `lag_minutes` before the current quarter hour
    now = datetime.now(UTC)
    newest = _quarter_hour(now) - timedelta(minutes=lag_minutes)
    write_day(local_source, "live", None, METER_A, start=newest, end=newest + timedelta(minutes=15))
    # its day, then today's partition (the same one unless midnight lies in between)
    *_, result = run("live", day_range(newest.date(), now.date()), warehouse_url, local_source)
    found = checks(result)["freshness"]
    assert found.passed is fresh
    assert found.severity == WARN
    if not fresh:
        assert found.description.startswith("live tenant live: newest reading ended 1")
        assert f"(interval starting {newest:%Y-%m-%d %H:%M} UTC), more than 45 minutes" in (
            found.description
        )
    assert found.metadata["newest_reading"].value == newest.timestamp()


def test_freshness_is_not_judged_on_past_days(warehouse_url, local_source):
    write_day(local_source, "live", date(2024, 1, 10), METER_A)
    (result,) = run("live", [date(2024, 1, 10)], warehouse_url, local_source)
    found = checks(result)["freshness"]
    assert found.passed
    assert found.description.startswith("judged on the current UTC day's partition (")
    assert found.description.endswith("not on 2024-01-10")


def test_missing_source_prefix_fails_the_run_with_a_clear_message(
    warehouse_url, sample, local_source
):
    # nyc-coop has nothing at all in the source: misconfigured, not "nothing new"
    (bad,) = run("nyc-coop", [date(2023, 2, 1)], warehouse_url, local_source)
    assert not bad.success
    failure = next(e for e in bad.all_events if e.is_step_failure)
    assert failure.step_key == "raw_meter_readings"
    message = failure.event_specific_data.error.message
    assert (
        f"tenant nyc-coop: nothing exists under its source prefix {local_source.root}/nyc-coop/"
        in message
    )
    # another tenant's run goes on; a day folder that does not exist (yet) is just empty
    good, empty = run("demo", [date(2023, 2, 1), date(2023, 3, 5)], warehouse_url, local_source)
    assert good.success and empty.success
    assert materialized(empty) == {"tenant_schema"}  # listed nothing, stopped there


def test_synthetic_feed_lands_clean(warehouse_url, local_source, registry):
    from exnaton_pipeline.lib.demo_data import synthetic

    live = registry.get("live")
    meters = synthetic.households(live)
    synthetic.write_history(
        local_source,
        live,
        meters,
        datetime(2024, 6, 12, 22, tzinfo=UTC),  # local midnight of 13 June (CEST)
        datetime(2024, 6, 14, 12, tzinfo=UTC),
    )
    # the producer then delivers 11:45 again (a repeat of the history) and 12:00
    for minute in (11 * 60 + 45, 12 * 60):
        synthetic.write_batch(
            local_source,
            live,
            meters,
            datetime(2024, 6, 14, tzinfo=UTC) + timedelta(minutes=minute),
        )
    days = day_range(date(2024, 6, 12), date(2024, 6, 14))
    _, first, second = run("live", days, warehouse_url, local_source)
    assert first.success and second.success
    (event,) = second.asset_materializations_for_node("meter_readings")
    # 49 intervals (00:00 .. 12:00) x (2 import-only + 2 PV households with two registers)
    assert event.metadata["dagster/row_count"].value == 49 * 6
    found = checks(second)
    assert found["schema_validation"].passed
    # the repeated 11:45 readings of the four meters (six registers) are superseded, not faults
    assert found["schema_validation"].description == (
        f"all {49 * 6} rows of 6 objects valid; 6 superseded by a later delivery"
    )
    assert found["rejected_share"].passed
    # local 13 June (12 June 22:00 .. 13 June 22:00 UTC) is complete in every register
    completeness = checks(first)["completeness"]
    assert completeness.passed, completeness.description
    assert "on local day 2024-06-13 (96 intervals)" in completeness.description


def test_unreadable_objects_are_judged_by_objects_not_as_one_row(warehouse_url, local_source):
    # issue 9: two truncated objects (192 readings lost) showed as "0.3% (2 of 770)"
    day = date(2024, 1, 10)
    for n in range(8):
        write_day(local_source, "alpine", day, f"aaaaaaaa-0000-4000-8000-00000000000{n}")
    for n in range(2):
        key = f"alpine/2024-01-10/truncated-{n}.json"
        local_source.write(key, b'{"data": [{"measurement": "energy", "timesta')
    (result,) = run("alpine", [day], warehouse_url, local_source)
    share = checks(result)["rejected_share"]
    assert not share.passed and share.severity == ERROR
    assert share.description == (
        "20.0% of objects could not be read at all (2 of 10); 0.3% of delivered rows rejected "
        "(2 of 770): above the 10% error threshold"
    )
    assert share.metadata["objects_unreadable"].value == 2


def test_removing_bad_objects_from_the_source_clears_the_blocking_check(
    warehouse_url, s3_endpoint, s3_bucket
):
    """Defect 6: the check judged manifest entries of objects deleted from the source, so the
    partition stayed failed for good, even with `reprocess`."""
    import boto3

    from exnaton_pipeline.lib.ingestion.source import S3Source

    client = boto3.client("s3", endpoint_url=s3_endpoint)
    source = S3Source(client, s3_bucket, "raw")
    day = date(2024, 1, 10)
    good = write_day(source, "alpine", day, METER_A)  # 96 x 0.25 kWh
    bad = write_day(source, "alpine", day, METER_B, bad=set(range(96)))  # 96 negative values
    source.write("alpine/2024-01-10/notes.txt", b"not an API response")
    selection = "key:tenant_schema or key:raw_meter_readings or key:meter_readings"

    def ingest(**run_config):
        (result,) = materialize_days(
            "alpine",
            [day],
            warehouse_url,
            f"s3://{s3_bucket}/raw",
            selection,
            run_config=run_config,
        )
        return result

    first = ingest()
    assert not first.success
    share = checks(first)["rejected_share"]
    assert (share.passed, share.severity) == (False, ERROR)
    assert share.description.startswith("50.0% of delivered rows rejected (96 of 192)")

    client.delete_object(Bucket=s3_bucket, Key=f"raw/{bad}")  # the operator removes it
    again = ingest(ops={"raw_meter_readings": {"config": {"reprocess": True}}})

    assert again.success
    found = checks(again)
    assert found["rejected_share"].passed
    assert found["rejected_share"].description == "0.0% of delivered rows rejected (0 of 96)"
    assert found["schema_validation"].description == "all 96 rows of 1 objects valid"
    (raw,) = again.asset_materializations_for_node("raw_meter_readings")
    meta = {key: value.value for key, value in raw.metadata.items()}
    assert (meta["objects_withdrawn"], meta["objects_restored"], meta["withdrawn"]) == (
        1,
        0,
        [bad],
    )
    # what is not *.json is never read, and listed in the run's metadata (README's promise)
    assert (meta["objects_ignored"], meta["ignored"]) == (1, ["alpine/2024-01-10/notes.txt"])
    conn = psql(warehouse_url)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT key, withdrawn_at IS NOT NULL, rows_written, rows_rejected "
            "FROM tenant_alpine.ingested_objects ORDER BY key"
        )
        assert cur.fetchall() == [(good, False, 96, 0), (bad, True, 0, 96)]
        # nothing delivered is dropped: the good readings, and the withdrawn object's rejections
        cur.execute("SELECT count(*), sum(kwh) FROM tenant_alpine.meter_readings")
        assert cur.fetchone() == (96, 24.0)
        cur.execute("SELECT count(*) FROM tenant_alpine.rejected_readings")
        assert cur.fetchone() == (96,)
    conn.close()

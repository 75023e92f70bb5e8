from datetime import date

import pandas as pd
import pytest

from exnaton_pipeline.lib.ingestion.responses import parse_response
from exnaton_pipeline.lib.ingestion.validation import split_valid
from exnaton_pipeline_tests.builders import EXPORT, IMPORT, IMPORT_MUID, record, response

DAY = date(2023, 2, 1)
GOOD = record("2023-02-01T12:00:00.000Z", {IMPORT: 0.5})


def split(*records, day=DAY):
    return split_valid(parse_response(response(*records)).readings, day)


def test_valid_rows_pass_with_utc_timestamps():
    valid, rejected = split(GOOD, record("2023-02-01T13:00:00+01:00", {EXPORT: 0}))
    assert rejected.empty
    assert str(valid["ts"].dtype) == "datetime64[ns, UTC]"
    assert valid["ts"].tolist() == [pd.Timestamp("2023-02-01T12:00:00Z")] * 2
    assert valid["kwh"].tolist() == [0.5, 0.0]


@pytest.mark.parametrize(
    ("bad", "rule", "message"),
    [
        (record(values={IMPORT: -0.5}), "non_negative_kwh", "value -0.5 kWh is negative"),
        (record(values={IMPORT: float("nan")}), "finite_kwh", "value nan is not a finite number"),
        (record(values={IMPORT: float("inf")}), "finite_kwh", "value inf is not a finite number"),
        (
            record("2023-02-01T00:07:00.000Z"),
            "on_15_minute_grid",
            "timestamp 2023-02-01T00:07:00+00:00 is not on the 15-minute grid",
        ),
        (
            record("2023-02-01T00:15:30Z"),
            "on_15_minute_grid",
            "timestamp 2023-02-01T00:15:30+00:00 is not on the 15-minute grid",
        ),
        (
            record("2023-02-01T00:15:00.250Z"),
            "on_15_minute_grid",
            "timestamp 2023-02-01T00:15:00.250000+00:00 is not on the 15-minute grid",
        ),
        (
            record("yesterday"),
            "valid_timestamp",
            "timestamp 'yesterday' is not an ISO 8601 time",
        ),
        (
            record("2023-02-30T00:00:00Z"),
            "valid_timestamp",
            "timestamp '2023-02-30T00:00:00Z' is not an ISO 8601 time",
        ),
        (
            record("2023-02-02T00:00:00.000Z"),
            "within_partition_day",
            "timestamp 2023-02-02T00:00:00+00:00 is outside the UTC day of its partition",
        ),
        (
            # 00:30 in Zurich is still 31 January in UTC
            record("2023-02-01T00:30:00+01:00"),
            "within_partition_day",
            "timestamp 2023-01-31T23:30:00+00:00 is outside the UTC day of its partition",
        ),
        (
            record(muid="not-a-uuid"),
            "well_formed_muid",
            "muid 'not-a-uuid' is not a lower-case uuid",
        ),
        (
            record(muid=IMPORT_MUID.upper()),
            "well_formed_muid",
            f"muid {IMPORT_MUID.upper()!r} is not a lower-case uuid",
        ),
        (
            record(quality="guessed"),
            "known_quality",
            "quality 'guessed' is not one of measured, estimated, substituted, corrected",
        ),
        (record(quality=None), "known_quality", "the record has no quality tag"),
        (
            record(quality=5),
            "wrong_type",
            "value 5 has the wrong type; quality 5 is not one of measured, estimated, "
            "substituted, corrected",
        ),
    ],
)
def test_each_rule_rejects_with_its_message(bad, rule, message):
    valid, rejected = split(GOOD, bad)
    assert valid["record_index"].tolist() == [0]
    assert rejected["record_index"].tolist() == [1]
    assert rejected["rule"].tolist() == [rule]
    assert rejected["message"].tolist() == [message]


def test_negative_infinity_breaks_the_finiteness_rule():
    _, rejected = split(record(values={IMPORT: float("-inf")}))
    assert "value -inf is not a finite number" in rejected["message"].iloc[0]


def test_row_breaking_two_rules_names_both():
    _, rejected = split(record("2023-02-01T00:07:00Z", {IMPORT: -1}, muid="x"))
    (message,) = rejected["message"].tolist()
    assert "muid 'x' is not a lower-case uuid" in message
    assert "timestamp 2023-02-01T00:07:00+00:00 is not on the 15-minute grid" in message
    assert "value -1.0 kWh is negative" in message


def test_duplicate_reading_keeps_the_later_delivery():
    first = record("2023-02-01T06:00:00.000Z", {IMPORT: 0.1})
    # same instant written differently is the same reading
    second = record("2023-02-01T06:00:00Z", {IMPORT: 0.2})
    third = record("2023-02-01T07:00:00+01:00", {IMPORT: 0.3})
    valid, rejected = split(first, second, third)
    assert valid["kwh"].tolist() == [0.3]
    assert rejected["record_index"].tolist() == [0, 1]
    assert set(rejected["rule"]) == {"unique_reading"}
    assert rejected["message"].iloc[0] == (
        "a later delivery of the same muid, OBIS code and timestamp supersedes it"
    )


def test_a_broken_later_delivery_does_not_push_out_the_good_reading():
    good = record("2023-02-01T06:00:00Z", {IMPORT: 0.1})
    broken = record("2023-02-01T06:00:00Z", {IMPORT: -0.2})
    valid, rejected = split(good, broken)
    assert valid["kwh"].tolist() == [0.1]  # the only valid delivery of that reading
    assert rejected["record_index"].tolist() == [1]
    assert rejected["rule"].tolist() == ["non_negative_kwh"]


def test_same_instant_of_another_register_is_no_duplicate():
    valid, rejected = split(record(values={IMPORT: 0.1, EXPORT: 0.2}))
    assert rejected.empty
    assert sorted(zip(valid["obis"], valid["kwh"], strict=True)) == [(IMPORT, 0.1), (EXPORT, 0.2)]


def test_without_a_day_any_grid_time_passes():
    valid, rejected = split(record("2024-07-01T00:00:00Z"), day=None)
    assert rejected.empty
    assert valid["ts"].tolist() == [pd.Timestamp("2024-07-01T00:00:00Z")]


# --- each timestamp with its own offset; none without one (issue 9, defect 2) --------------


def test_timestamp_without_offset_is_rejected_not_guessed():
    valid, rejected = split(
        record("2023-02-01T13:00:00+01:00", {IMPORT: 0.1}),  # an offset the naive one must not take
        record("2023-02-01T12:15:00", {IMPORT: 0.2}),
        record("2023-02-01 12:30:00.000", {IMPORT: 0.3}),
    )
    assert valid["ts"].tolist() == [pd.Timestamp("2023-02-01T12:00:00Z")]
    assert rejected["rule"].tolist() == ["utc_offset_given", "utc_offset_given"]
    assert rejected["message"].tolist() == [
        "timestamp '2023-02-01T12:15:00' has no UTC offset (the API sends UTC, ending in Z)",
        "timestamp '2023-02-01 12:30:00.000' has no UTC offset (the API sends UTC, ending in Z)",
    ]


def test_mixed_offsets_in_one_batch_each_count():
    valid, rejected = split(
        record("2023-02-01T07:00:00-05:00", {IMPORT: 0.1}),
        record("2023-02-01T12:15:00Z", {IMPORT: 0.2}),
        record("2023-02-01T13:30:00+01:00", {IMPORT: 0.3}),
        record("2023-02-01T18:15:00+05:30", {IMPORT: 0.4}),
    )
    assert rejected.empty
    assert valid["ts"].tolist() == [
        pd.Timestamp("2023-02-01T12:00:00Z"),
        pd.Timestamp("2023-02-01T12:15:00Z"),
        pd.Timestamp("2023-02-01T12:30:00Z"),
        pd.Timestamp("2023-02-01T12:45:00Z"),
    ]


# --- implausible values (issue 9, defect 3) -------------------------------------------------


def test_value_above_the_plausible_maximum_is_rejected():
    valid, rejected = split(GOOD, record(values={IMPORT: 1e308}))
    assert valid["kwh"].tolist() == [0.5]
    assert rejected["rule"].tolist() == ["plausible_kwh"]
    assert rejected["message"].tolist() == [
        "value 1e+308 kWh in 15 minutes is above the plausible 1000 kWh"
    ]


def test_a_tenant_may_raise_the_plausible_maximum():
    frame = parse_response(response(record(values={IMPORT: 2500.0}))).readings
    _, rejected = split_valid(frame, DAY)
    assert rejected["rule"].tolist() == ["plausible_kwh"]
    valid, rejected = split_valid(frame, DAY, max_interval_kwh=5000)
    assert rejected.empty
    assert valid["kwh"].tolist() == [2500.0]

import hashlib
import json
import math

import pytest

from exnaton_pipeline.lib.demo_data.sample import sample_files
from exnaton_pipeline.lib.ingestion.responses import parse_response
from exnaton_pipeline_tests.builders import (
    EXPORT,
    EXPORT_MUID,
    IMPORT,
    IMPORT_MUID,
    record,
    response,
)

# from SOURCE.md (computed there independently of this code)
SAMPLE_SHA256 = {
    IMPORT_MUID: "47398e4a5149645ec1a2448ade0d5b51aa3f91e40f1d1f5b7376c90078184f44",
    EXPORT_MUID: "8e1be9491c0523bd6adfa9cefe0d731518cab19934f584c53049e52139a8fe9b",
}


def sample_body(muid: str) -> bytes:
    (path,) = [p for p in sample_files() if p.stem == muid]
    return path.read_bytes()


@pytest.mark.parametrize("muid", [IMPORT_MUID, EXPORT_MUID])
def test_bundled_sample_is_the_original_bytes(muid):
    assert hashlib.sha256(sample_body(muid)).hexdigest() == SAMPLE_SHA256[muid]


def test_import_file_parses_to_2688_readings_summing_to_97_6082():
    parsed = parse_response(sample_body(IMPORT_MUID))
    frame = parsed.readings
    assert parsed.rejects == []
    assert len(frame) == 2688
    assert set(frame["obis"]) == {IMPORT}
    assert set(frame["muid"]) == {IMPORT_MUID}
    assert set(frame["quality"]) == {"measured"}
    assert math.fsum(frame["kwh"]) == pytest.approx(97.6082, abs=1e-9)
    assert frame["kwh"].min() == 0.0114
    assert frame["kwh"].max() == 0.9612
    # newest first in the file
    assert frame["ts"].iloc[0] == "2023-02-28T23:45:00.000Z"
    assert frame["ts"].iloc[-1] == "2023-02-01T00:00:00.000Z"
    assert frame["ts"].nunique() == 2688


def test_export_file_accepts_integer_zeros():
    parsed = parse_response(sample_body(EXPORT_MUID))
    frame = parsed.readings
    assert parsed.rejects == []
    assert len(frame) == 2688
    assert set(frame["obis"]) == {EXPORT}
    assert (frame["kwh"] == 0).sum() == 1680
    assert frame["kwh"].dtype == float
    assert math.fsum(frame["kwh"]) == pytest.approx(36.19725, abs=1e-9)
    assert frame["kwh"].max() == pytest.approx(0.17325)


def test_record_order_does_not_matter():
    records = json.loads(sample_body(EXPORT_MUID))["data"]
    newest_first = parse_response(response(*records)).readings
    oldest_first = parse_response(response(*reversed(records))).readings
    key = ["muid", "obis", "ts"]
    a = newest_first.drop(columns="record_index").sort_values(key).reset_index(drop=True)
    b = oldest_first.drop(columns="record_index").sort_values(key).reset_index(drop=True)
    assert a.equals(b)


def test_record_with_import_and_export_becomes_two_readings():
    body = response(record("2023-02-01T10:15:00.000Z", {IMPORT: 0.25, EXPORT: 0}))
    parsed = parse_response(body)
    assert parsed.rejects == []
    rows = parsed.readings.sort_values("obis").to_dict("records")
    assert rows == [
        {
            "muid": IMPORT_MUID,
            "obis": IMPORT,
            "ts": "2023-02-01T10:15:00.000Z",
            "kwh": 0.25,
            "quality": "measured",
            "record_index": 0,
        },
        {
            "muid": IMPORT_MUID,
            "obis": EXPORT,
            "ts": "2023-02-01T10:15:00.000Z",
            "kwh": 0.0,
            "quality": "measured",
            "record_index": 0,
        },
    ]


def test_lower_case_obis_key_is_stored_upper_case():
    parsed = parse_response(response(record(values={"0100011d00ff": 1})))
    assert parsed.readings["obis"].tolist() == [IMPORT]


@pytest.mark.parametrize(
    ("body", "rule", "message"),
    [
        (b'{"data": [', "unreadable_json", "the object is not valid JSON: Expecting value"),
        (b"\xff\xfe\x00", "unreadable_json", "the object is not valid JSON"),
        (b"", "unreadable_json", "the object is not valid JSON"),
        (b'{"items": []}', "missing_data_array", "the object has no 'data' array at the top level"),
        (b"[1, 2]", "missing_data_array", "the object has no 'data' array at the top level"),
        (b'{"data": {"x": 1}}', "missing_data_array", "the object has no 'data' array"),
    ],
)
def test_unusable_object_is_one_rejection(body, rule, message):
    parsed = parse_response(body)
    assert parsed.readings.empty
    assert len(parsed.rejects) == 1
    reject = parsed.rejects[0]
    assert reject["rule"] == rule
    assert reject["message"].startswith(message)
    assert reject["record_index"] is None


GOOD = record("2023-02-01T00:00:00.000Z", {IMPORT: 0.5})


@pytest.mark.parametrize(
    ("bad", "rule", "message"),
    [
        (42, "malformed_record", "the record is not a JSON object"),
        (["a"], "malformed_record", "the record is not a JSON object"),
        (record(timestamp=None), "missing_timestamp", "the record has no timestamp"),
        (record(timestamp=""), "missing_timestamp", "the record has no timestamp"),
        (record(timestamp=1675209600), "missing_timestamp", "the record has no timestamp"),
        (record(muid=None), "missing_muid", "the record has no tags.muid"),
        (
            {"measurement": "energy", "timestamp": "2023-02-01T00:00:00Z", IMPORT: 1},
            "missing_muid",
            "the record has no tags.muid",
        ),
        (record(values={}), "no_values", "the record carries no OBIS value"),
        (
            record(values={"energy": 0.5}),
            "unknown_obis",
            "key 'energy' is not a 12-hex-digit OBIS code",
        ),
        (
            record(values={"0100051D00FF": 0.5}),
            "unknown_obis",
            "OBIS 1-0:5.29.0*255 (0100051D00FF) is not an energy register we know (C=5)",
        ),
        (
            record(values={"0100010800FF": 0.5}),
            "unknown_obis",
            "OBIS 1-0:1.8.0*255 (0100010800FF) is not a 15-minute load-profile delta "
            "(D must be 29)",
        ),
        (
            record(values={IMPORT: "0.5"}),
            "value_not_a_number",
            "value '0.5' of 0100011D00FF is not a number",
        ),
        (
            record(values={IMPORT: None}),
            "value_not_a_number",
            "value None of 0100011D00FF is not a number",
        ),
        (
            record(values={IMPORT: True}),
            "value_not_a_number",
            "value True of 0100011D00FF is not a number",
        ),
    ],
)
def test_unusable_record_is_rejected_and_the_rest_kept(bad, rule, message):
    parsed = parse_response(response(GOOD, bad))
    assert parsed.readings[["muid", "obis", "kwh", "record_index"]].values.tolist() == [
        [IMPORT_MUID, IMPORT, 0.5, 0]
    ]
    assert len(parsed.rejects) == 1
    reject = parsed.rejects[0]
    assert (reject["rule"], reject["message"], reject["record_index"]) == (rule, message, 1)
    assert json.loads(reject["record"]) == bad


def test_rejection_keeps_what_could_be_read():
    parsed = parse_response(
        response(record("2023-02-01T00:15:00Z", {IMPORT: 0.5, "0100051D00FF": 7}))
    )
    assert len(parsed.readings) == 1
    (reject,) = parsed.rejects
    assert reject["muid"] == IMPORT_MUID
    assert reject["obis"] == "0100051D00FF"
    assert reject["ts_text"] == "2023-02-01T00:15:00Z"
    assert reject["value_text"] == "7"


# --- hostile objects: each is one rejection, never an exception (issue 9, defect 1) --------


def test_deeply_nested_object_is_one_rejection():
    body = b'{"data": [' + b"[" * 5000 + b"]" * 5000 + b"]}"
    parsed = parse_response(body)
    (reject,) = parsed.rejects
    assert reject["rule"] == "unreadable_json"
    assert reject["message"] == "the object is not valid JSON: it is nested too deeply"
    assert parsed.readings.empty


def test_integer_of_5001_digits_is_one_rejection():
    body = b'{"data": [{"timestamp": "2023-02-01T00:00:00Z", "0100011D00FF": 1' + b"0" * 5000
    parsed = parse_response(body + b"}]}")
    (reject,) = parsed.rejects
    assert reject["rule"] == "unreadable_json"
    assert "Exceeds the limit (4300 digits)" in reject["message"]


def test_integer_beyond_a_double_rejects_its_record_only():
    huge = 10**400  # 401 digits: JSON allows it, no float holds it
    parsed = parse_response(response(GOOD, record(values={IMPORT: huge})))
    assert parsed.readings["kwh"].tolist() == [0.5]
    (reject,) = parsed.rejects
    assert (reject["rule"], reject["record_index"]) == ("value_not_a_number", 1)
    assert reject["message"] == (
        "value 10000000000000000000...00000000 (401 characters) of 0100011D00FF is not a number"
    )


def test_number_written_beyond_a_double_becomes_infinity_for_validation():
    body = response(GOOD).replace(b"0.5", b"1e400")
    parsed = parse_response(body)
    assert parsed.rejects == []
    assert parsed.readings["kwh"].tolist() == [math.inf]  # refused by finite_kwh later


def test_whole_object_rejection_keeps_the_first_bytes():
    body = b"<html>" + b"x" * 10_000
    (reject,) = parse_response(body).rejects
    kept = json.loads(reject["record"])
    assert kept["object_bytes"] == 10_006
    assert kept["object_head"] == (b"<html>" + b"x" * 4090).decode()


def test_nul_and_invalid_utf8_in_a_broken_object_are_kept_readably():
    (reject,) = parse_response(b"\x00\xff{").rejects
    assert json.loads(reject["record"])["object_head"] == "\ufffd\ufffd{"


# --- duplicated keys are refused, not silently resolved (issue 9, defect 10) ----------------


def test_record_with_a_duplicated_value_key_is_rejected():
    good = json.dumps(GOOD)
    twice = (
        '{"measurement": "energy", "timestamp": "2023-02-01T00:15:00Z", '
        f'"tags": {{"muid": "{IMPORT_MUID}", "quality": "measured"}}, '
        f'"{IMPORT}": 0.1, "{IMPORT}": 0.2}}'
    )
    parsed = parse_response(f'{{"data": [{good}, {twice}]}}'.encode())
    assert parsed.readings[["kwh", "record_index"]].values.tolist() == [[0.5, 0]]
    (reject,) = parsed.rejects
    assert (reject["rule"], reject["record_index"]) == ("duplicate_key", 1)
    assert reject["message"] == (
        f"the record has the key '{IMPORT}' twice: which value holds is unknown"
    )


def test_duplicated_tag_is_rejected():
    twice = (
        '{"timestamp": "2023-02-01T00:15:00Z", '
        f'"tags": {{"muid": "{IMPORT_MUID}", "muid": "{EXPORT_MUID}"}}, "{IMPORT}": 0.1}}'
    )
    (reject,) = parse_response(f'{{"data": [{twice}]}}'.encode()).rejects
    assert reject["rule"] == "duplicate_key"
    assert "'muid' twice" in reject["message"]


def test_duplicated_top_level_key_rejects_the_object():
    body = b'{"data": [], "data": []}'
    (reject,) = parse_response(body).rejects
    assert reject["rule"] == "duplicate_key"
    assert reject["message"] == "the object has the key 'data' twice at the top level"


def test_colon_inside_a_string_value_is_no_duplicate():
    value = record(values={IMPORT: 0.5})
    value["measurement"] = 'energy":1'
    parsed = parse_response(response(value))
    assert parsed.rejects == []
    assert parsed.readings["kwh"].tolist() == [0.5]

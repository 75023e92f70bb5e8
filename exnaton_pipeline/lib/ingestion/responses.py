"""Parsing of meter API responses into one row per (record, OBIS key).

A response is `{"data": [record, ...]}`; a record carries `measurement`, `timestamp` (start
of the interval, UTC), `tags.muid`, `tags.quality` and one or more OBIS value keys. Anything
that cannot become a row is returned as a rejection with its rule, message and the record.
Order of records does not matter (the API sends newest first).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from exnaton_pipeline.lib.ingestion.obis import ObisError, decode

RECORD_FIELDS = {"measurement", "timestamp", "tags"}
READING_COLUMNS = ["muid", "obis", "ts", "kwh", "quality", "record_index"]
REJECT_COLUMNS = [
    "record_index",
    "muid",
    "obis",
    "ts_text",
    "value_text",
    "rule",
    "message",
    "record",
]


@dataclass
class ParsedObject:
    """What one source object yielded: candidate readings and the records refused outright."""

    readings: pd.DataFrame
    rejects: list[dict[str, Any]] = field(default_factory=list)


def parse_response(body: bytes) -> ParsedObject:
    """Parse one API response. Never raises for bad content: problems become rejections."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _whole_object_rejected("unreadable_json", f"the object is not valid JSON: {exc}")
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        return _whole_object_rejected(
            "missing_data_array", "the object has no 'data' array at the top level"
        )

    rows: list[tuple] = []
    rejects: list[dict[str, Any]] = []
    for index, record in enumerate(payload["data"]):
        _parse_record(index, record, rows, rejects)
    frame = pd.DataFrame.from_records(rows, columns=READING_COLUMNS)
    return ParsedObject(frame, rejects)


def _parse_record(index: int, record: Any, rows: list[tuple], rejects: list[dict]) -> None:
    if not isinstance(record, dict):
        rejects.append(
            _reject(index, record, "malformed_record", "the record is not a JSON object")
        )
        return
    tags = record.get("tags") if isinstance(record.get("tags"), dict) else {}
    muid = tags.get("muid")
    timestamp = record.get("timestamp")
    if not isinstance(timestamp, str) or not timestamp:
        rejects.append(_reject(index, record, "missing_timestamp", "the record has no timestamp"))
        return
    if not isinstance(muid, str) or not muid:
        rejects.append(_reject(index, record, "missing_muid", "the record has no tags.muid"))
        return
    quality = tags.get("quality")
    value_keys = [key for key in record if key not in RECORD_FIELDS]
    if not value_keys:
        rejects.append(_reject(index, record, "no_values", "the record carries no OBIS value"))
        return
    for key in value_keys:
        value = record[key]
        try:
            obis = decode(key)
        except ObisError as exc:
            rejects.append(_reject(index, record, "unknown_obis", str(exc), muid, key, value))
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            rejects.append(
                _reject(
                    index,
                    record,
                    "value_not_a_number",
                    f"value {value!r} of {obis.code} is not a number",
                    muid,
                    key,
                    value,
                )
            )
            continue
        rows.append((muid, obis.code, timestamp, float(value), quality, index))


def _reject(index, record, rule, message, muid=None, obis=None, value=None) -> dict[str, Any]:
    ts = record.get("timestamp") if isinstance(record, dict) else None
    return {
        "record_index": index,
        "muid": muid if isinstance(muid, str) else None,
        "obis": obis,
        "ts_text": ts if isinstance(ts, str) else None,
        "value_text": None if value is None else _text(value),
        "rule": rule,
        "message": message,
        "record": json.dumps(_jsonb_safe(record)),
    }


def _jsonb_safe(value: Any) -> Any:
    """`value` with NaN/Infinity spelled as strings: jsonb refuses those JSON extensions."""
    if isinstance(value, float) and not math.isfinite(value):
        return json.dumps(value)  # 'NaN', 'Infinity', '-Infinity', as delivered
    if isinstance(value, dict):
        return {key: _jsonb_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonb_safe(item) for item in value]
    return value


def _text(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return json.dumps(value)


def _whole_object_rejected(rule: str, message: str) -> ParsedObject:
    reject = {column: None for column in REJECT_COLUMNS}
    reject.update(rule=rule, message=message)
    return ParsedObject(pd.DataFrame(columns=READING_COLUMNS), [reject])

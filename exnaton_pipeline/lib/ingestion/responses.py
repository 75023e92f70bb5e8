"""Parsing of meter API responses into one row per (record, OBIS key).

A response is `{"data": [record, ...]}`; a record carries `measurement`, `timestamp` (start
of the interval, UTC), `tags.muid`, `tags.quality` and one or more OBIS value keys. Anything
that cannot become a row is returned as a rejection with its rule, message and the record;
an object that cannot be read at all is one rejection holding the first bytes of its content.
Order of records does not matter (the API sends newest first).

Parsing is orjson first (C, a few hundred ns per record). The standard library parses what
orjson refuses or cannot tell apart: the NaN/Infinity extensions, numbers beyond a double, and
duplicate keys (orjson keeps the last silently; here a record with a duplicate key is refused).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import orjson
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
# what a rejection of a whole object keeps of its content
OBJECT_HEAD_BYTES = 4096


@dataclass
class ParsedObject:
    """What one source object yielded: candidate readings and the records refused outright.

    `rows` are the candidate readings as READING_COLUMNS tuples; `records` the records as
    delivered (index = `record_index`), kept so that a reading refused later, by validation,
    is stored with its raw record too.
    """

    rows: list[tuple] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    records: list[Any] = field(default_factory=list)

    @property
    def readings(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.rows, columns=READING_COLUMNS)


class _DuplicateKeys(dict):
    """A JSON object that had at least one key twice (the standard library's last value kept)."""

    duplicates: tuple[str, ...] = ()


def _pairs(pairs: list[tuple[str, Any]]) -> dict:
    obj = _DuplicateKeys(pairs)
    if len(obj) == len(pairs):
        return dict(obj)
    seen: set[str] = set()
    obj.duplicates = tuple(k for k, _ in pairs if k in seen or seen.add(k))
    return obj


def _count_pairs(value: dict | list) -> int:
    """Key-value pairs in a parsed JSON tree (a loop, not a generator: it runs per record)."""
    count = 0
    if type(value) is dict:
        count = len(value)
        value = value.values()
    for item in value:
        if type(item) is dict or type(item) is list:
            count += _count_pairs(item)
    return count


def _load(body: bytes) -> Any:
    """The parsed JSON; raises ValueError/RecursionError for what is not JSON."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    else:
        # Every key is written `"key":` in compact and pretty JSON alike; more `":` in the text
        # than keys parsed means a duplicate key (or `":` inside a string, or `"key" :` with a
        # space): then the exact, slower parse below decides.
        if type(payload) not in (dict, list) or body.count(b'":') == _count_pairs(payload):
            return payload
    return json.loads(body, object_pairs_hook=_pairs)


def parse_response(body: bytes) -> ParsedObject:
    """Parse one API response. Never raises for bad content: problems become rejections."""
    try:
        payload = _load(body)
    except RecursionError:
        return whole_object_rejected(
            "unreadable_json", "the object is not valid JSON: it is nested too deeply", body
        )
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        return whole_object_rejected(
            "unreadable_json", f"the object is not valid JSON: {exc}", body
        )
    if isinstance(payload, _DuplicateKeys):
        return whole_object_rejected(
            "duplicate_key",
            f"the object has the key {payload.duplicates[0]!r} twice at the top level",
            body,
        )
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        return whole_object_rejected(
            "missing_data_array", "the object has no 'data' array at the top level", body
        )

    records = payload["data"]
    rows: list[tuple] = []
    rejects: list[dict[str, Any]] = []
    for index, record in enumerate(records):
        _parse_record(index, record, rows, rejects)
    return ParsedObject(rows, rejects, records)


def _parse_record(index: int, record: Any, rows: list[tuple], rejects: list[dict]) -> None:
    if not isinstance(record, dict):
        rejects.append(
            _reject(index, record, "malformed_record", "the record is not a JSON object")
        )
        return
    tags = record.get("tags") if isinstance(record.get("tags"), dict) else {}
    duplicated = getattr(record, "duplicates", ()) or getattr(tags, "duplicates", ())
    if duplicated:
        message = f"the record has the key {duplicated[0]!r} twice: which value holds is unknown"
        rejects.append(_reject(index, record, "duplicate_key", message))
        return
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
        kwh = _number(value)
        if kwh is None:
            rejects.append(
                _reject(
                    index,
                    record,
                    "value_not_a_number",
                    f"value {_short(value)} of {obis.code} is not a number",
                    muid,
                    key,
                    value,
                )
            )
            continue
        rows.append((muid, obis.code, timestamp, kwh, quality, index))


def _number(value: Any) -> float | None:
    """`value` as a float; None for what is not a JSON number or exceeds a double."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer of hundreds of digits
        return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...{text[-8:]} ({len(text)} characters)"


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
        "record": record_json(record),
    }


def record_json(record: Any) -> str:
    """The record as JSON that PostgreSQL's jsonb accepts (NaN and Infinity spelled as strings)."""
    return json.dumps(_jsonb_safe(record))


def _jsonb_safe(value: Any) -> Any:
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


def whole_object_rejected(rule: str, message: str, body: bytes) -> ParsedObject:
    reject = {column: None for column in REJECT_COLUMNS}
    # the first bytes, so that an operator sees what arrived (jsonb refuses NUL characters)
    head = body[:OBJECT_HEAD_BYTES].decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    reject.update(
        rule=rule,
        message=message,
        record=json.dumps({"object_head": head, "object_bytes": len(body)}),
    )
    return ParsedObject([], [reject])

"""The contract a reading must meet before it enters the warehouse, as a pandera schema.

`split_valid` runs the schema lazily and divides a batch into rows that pass and rows that
fail, each failure carrying the rule it broke and a sentence that says why. Duplicate keys
keep the last delivery (batches are ordered oldest object first) and reject the earlier ones.

Each timestamp is read with its own UTC offset; one without an offset is refused rather than
guessed (the API promises UTC, and a guess would make a re-delivery a second reading).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from exnaton_pipeline.lib.ingestion.obis import try_decode
from exnaton_pipeline.lib.tenants import DEFAULT_MAX_INTERVAL_KWH, MUID

QUALITIES = ("measured", "estimated", "substituted", "corrected")
KEY = ["muid", "obis", "ts"]
# An ISO 8601 date and time without a UTC offset: what `utc_offset_given` refuses.
_NAIVE_ISO = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?")

# rule name -> sentence template; {value} is the offending value
RULES: dict[str, str] = {
    "well_formed_muid": "muid {value!r} is not a lower-case uuid",
    "known_obis": "OBIS code {value!r} is not a known 15-minute energy register",
    "utc_offset_given": "timestamp {value!r} has no UTC offset (the API sends UTC, ending in Z)",
    "valid_timestamp": "timestamp {value!r} is not an ISO 8601 time",
    "on_15_minute_grid": "timestamp {value} is not on the 15-minute grid",
    "within_partition_day": "timestamp {value} is outside the UTC day of its partition",
    "finite_kwh": "value {value} is not a finite number",
    "non_negative_kwh": "value {value} kWh is negative",
    "plausible_kwh": "value {value} kWh in 15 minutes is above the plausible {limit} kWh",
    "known_quality": "quality {value!r} is not one of " + ", ".join(QUALITIES),
    "unique_reading": "a later delivery of the same muid, OBIS code and timestamp supersedes it",
    "wrong_type": "value {value!r} has the wrong type",
}


def readings_schema(
    day: date | None = None,
    unique: bool = True,
    max_interval_kwh: float = DEFAULT_MAX_INTERVAL_KWH,
) -> pa.DataFrameSchema:
    """Schema of validated readings; with `day`, timestamps must fall in that UTC day.

    `ts_text` is the timestamp as delivered, `ts` its instant. `unique=False` leaves out the
    duplicate-key rule, for judging each row on its own.
    """
    # ignore_na=False: pandera lets nulls pass a check by default, but an unparseable
    # timestamp (NaT) or a NaN value must fail its rule, not slip through to the database
    ts_checks = [
        pa.Check(lambda s: s.notna(), name="valid_timestamp", ignore_na=False),
        pa.Check(
            lambda s: (
                s.isna()
                | (
                    (s.dt.minute % 15 == 0)
                    & (s.dt.second == 0)
                    & (s.dt.microsecond == 0)
                    & (s.dt.nanosecond == 0)
                )
            ),
            name="on_15_minute_grid",
        ),
    ]
    if day is not None:
        start = pd.Timestamp(datetime.combine(day, datetime.min.time(), tzinfo=UTC))
        end = start + timedelta(days=1)
        ts_checks.append(
            pa.Check(lambda s: s.isna() | ((s >= start) & (s < end)), name="within_partition_day")
        )
    return pa.DataFrameSchema(
        {
            "muid": pa.Column(
                str,
                pa.Check(
                    lambda s: _per_distinct(s, lambda m: MUID.fullmatch(m) is not None),
                    name="well_formed_muid",
                ),
            ),
            "obis": pa.Column(
                str,
                pa.Check(
                    lambda s: _per_distinct(s, lambda c: try_decode(c) is not None),
                    name="known_obis",
                ),
            ),
            "ts_text": pa.Column(
                str,
                pa.Check(
                    lambda s: _per_distinct(s, lambda t: _NAIVE_ISO.fullmatch(t) is None),
                    name="utc_offset_given",
                ),
                nullable=True,
            ),
            "ts": pa.Column(pd.DatetimeTZDtype("ns", "UTC"), ts_checks, nullable=True),
            "kwh": pa.Column(
                float,
                [
                    pa.Check(lambda s: np.isfinite(s), name="finite_kwh", ignore_na=False),
                    pa.Check(lambda s: ~(s < 0), name="non_negative_kwh"),
                    pa.Check(
                        lambda s: ~(np.isfinite(s) & (s > max_interval_kwh)), name="plausible_kwh"
                    ),
                ],
                nullable=True,  # NaN is reported by finite_kwh, not as a missing value
            ),
            "quality": pa.Column(
                str, pa.Check(lambda s: s.isin(QUALITIES), name="known_quality"), nullable=True
            ),
        },
        unique=KEY if unique else None,
        report_duplicates="exclude_last",
        name="meter_readings",
    )


def _per_distinct(series: pd.Series, test: Callable[[str], bool]) -> pd.Series:
    """`test` applied once per distinct value: a batch has few meters and codes, many rows."""
    outcome = {value: isinstance(value, str) and test(value) for value in series.unique()}
    return series.map(outcome).astype(bool)


def split_valid(
    batch: pd.DataFrame,
    day: date | None = None,
    max_interval_kwh: float = DEFAULT_MAX_INTERVAL_KWH,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (valid rows, rejected rows with `rule` and `message`) for a parsed batch.

    `batch` has the parser's columns (ts as text); `ts` comes back as UTC timestamps.
    """
    frame = batch.reset_index(drop=True).copy()
    frame["ts_text"] = frame["ts"].astype(object)
    # Only texts with an offset are read: pandas would give an offset-less time the offset of
    # another row in the batch. The rest is NaT and refused by utc_offset_given.
    naive = _per_distinct(frame["ts_text"], lambda t: _NAIVE_ISO.fullmatch(t) is not None)
    frame["ts"] = pd.to_datetime(
        frame["ts_text"].mask(naive), utc=True, format="ISO8601", errors="coerce"
    )
    frame["ts"] = frame["ts"].astype(pd.DatetimeTZDtype("ns", "UTC"))
    frame["kwh"] = frame["kwh"].astype(float)
    frame["quality"] = frame["quality"].where(frame["quality"].notna(), None)
    frame.loc[frame["quality"].isna(), "quality"] = "__missing__"
    try:
        # row rules first; duplicates are judged among the rows that pass them (below), so a
        # broken later delivery does not push out the good reading it would have superseded
        readings_schema(day, unique=False, max_interval_kwh=max_interval_kwh).validate(
            frame, lazy=True
        )
        failures = pd.DataFrame(columns=["index", "check"])
    except SchemaErrors as exc:
        failures = exc.failure_cases[["index", "check", "column", "failure_case"]]
        failures = failures[failures["index"].notna()]

    reasons: dict[int, list[tuple[str, str]]] = {}
    for row in failures.itertuples(index=False):
        rule = _rule_name(row.check)
        value = frame.at[int(row.index), row.column] if row.column in frame.columns else None
        if rule == "valid_timestamp":
            value = frame.at[int(row.index), "ts_text"]
        found = reasons.setdefault(int(row.index), [])
        if rule not in (seen for seen, _ in found):
            found.append((rule, _message(rule, value, max_interval_kwh)))
    for found in reasons.values():
        # a missing offset is why the time could not be read: one reason, the precise one
        if any(rule == "utc_offset_given" for rule, _ in found):
            found[:] = [r for r in found if r[0] != "valid_timestamp"]

    passing = frame.loc[~frame.index.isin(list(reasons))]
    superseded = passing.index[passing.duplicated(KEY, keep="last")]
    for index in superseded:
        reasons[int(index)] = [("unique_reading", RULES["unique_reading"])]

    bad = frame.index.isin(list(reasons))
    rejected = frame.loc[bad].copy()
    rejected["rule"] = [reasons[i][0][0] for i in rejected.index]
    rejected["message"] = ["; ".join(m for _, m in reasons[i]) for i in rejected.index]
    valid = frame.loc[~bad].drop(columns=["ts_text"])
    return valid, rejected


def _rule_name(check: str) -> str:
    if check.startswith(("field_uniqueness", "multiple_fields_uniqueness", "unique")):
        return "unique_reading"
    if check.startswith("not_nullable"):
        return "missing_value"
    if check.startswith("dtype"):
        return "wrong_type"
    return check


def _message(rule: str, value, limit: float) -> str:
    template = RULES.get(rule)
    if rule == "known_quality" and value == "__missing__":
        return "the record has no quality tag"
    if template is None:
        return f"{rule} failed for value {value!r}"
    if isinstance(value, pd.Timestamp):
        value = value.isoformat()
    return template.format(value=value, limit=f"{limit:g}")


# pandera loads its pandas backends on the first validation, over a second with hypothesis
# installed: done once at import (code-location load), so that a run's steps spend their
# time on their own work.
with contextlib.suppress(SchemaErrors):  # an empty frame lacks every column: only the
    readings_schema().validate(pd.DataFrame(), lazy=True)  # loading of the backends is wanted

"""Business meaning as comments on every tenant table and column (the catalog shows them).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Frozen history: the texts are this revision's, copied here, not read from the live
declaration; a later change of wording is a later revision.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# table: (table comment, {column: comment})
COMMENTS = {
    "daily_energy": (
        "energy, money and peak demand per meter and LOCAL day; a day without "
        "readings has no row, a day with gaps is stored as measured",
        {
            "muid": "meter id (tags.muid of the API record)",
            "day": "local day",
            "import_kwh": "energy drawn from the grid (active import), kWh",
            "export_kwh": "energy fed into the grid (active export), kWh",
            "ht_kwh": "import in the high tariff band, kWh",
            "nt_kwh": "import in the low tariff band, kWh",
            "cost": "import priced per 15-minute interval by the tenant's plan, in its currency",
            "feed_in_credit": "export times the plan's feed-in rate, in its currency",
            "peak_kw": "peak demand: the largest 15-minute import times 4, kW (empty "
            "without import)",
            "peak_at": "UTC start of the quarter hour of the peak",
            "intervals": "quarter hours with readings",
            "expected_intervals": "quarter hours the local day has: 96, or 92 / 100 on DST days",
            "complete": "no quarter hour missing (intervals >= expected_intervals)",
        },
    ),
    "hourly_energy": (
        "energy and money per meter and LOCAL hour, from meter_readings in the tenant's time zone",
        {
            "muid": "meter id (tags.muid of the API record)",
            "hour_start": "UTC instant the local hour starts (the two 02:00 hours of "
            "an autumn DST day stay apart)",
            "local_date": "local day of the hour",
            "local_hour": "local hour of day, 0..23",
            "iso_weekday": "ISO weekday, 1 = Monday",
            "import_kwh": "energy drawn from the grid (active import), kWh",
            "export_kwh": "energy fed into the grid (active export), kWh",
            "ht_kwh": "import in the high tariff band, kWh",
            "nt_kwh": "import in the low tariff band, kWh",
            "cost": "import priced per 15-minute interval by the tenant's plan, in its currency",
            "feed_in_credit": "export times the plan's feed-in rate, in its currency",
            "intervals": "quarter hours with readings (at most 4)",
        },
    ),
    "ingested_objects": (
        "manifest of ingested source objects and their versions: a run reads "
        "only objects new in this version",
        {
            "key": "source object key: <prefix>/<YYYY-MM-DD>/<name>",
            "etag": "version ingested (S3 ETag; locally the MD5 of the content)",
            "size": "object size, bytes",
            "last_modified": "when the object was written to the source",
            "partition_day": "UTC day partition that ingested it",
            "rows_read": "readings and records read from it",
            "rows_written": "valid readings written",
            "rows_rejected": "records rejected",
            "run_id": "Dagster run that ingested it",
            "ingested_at": "when it was ingested; the newest is the dashboard's 'last update'",
        },
    ),
    "insights": (
        "findings per meter, each a plain sentence with its numbers, over the meter's "
        "trailing 28 local days",
        {
            "tenant": "tenant id",
            "muid": "meter id (tags.muid of the API record)",
            "period_start": "first local day the finding covers",
            "period_end": "last local day the finding covers",
            "kind": "the finding: base_load, peak_demand, high_tariff_share, feed_in, ... "
            "(docs/analytics.md)",
            "value": "the finding's main figure, in unit",
            "unit": "unit of value: kW, kWh, %, days, correlation",
            "severity": "info | tip | warning",
            "rank": "1 = most important for the meter",
            "message": "the sentence the customer reads, with numbers",
            "computed_at": "when the finding last changed",
        },
    ),
    "meter_readings": (
        "validated 15-minute readings: a TimescaleDB hypertable (7-day chunks) "
        "where the extension exists, else range-partitioned by month "
        "(meter_readings_YYYY_MM)",
        {
            "muid": "meter id (tags.muid of the API record)",
            "obis": "OBIS code as delivered, 12 hex digits, e.g. 0100011D00FF = 1-0:1.29.0*255",
            "register": "what the OBIS code measures: active_import (from the grid) | "
            "active_export (into the grid) | reactive_import | "
            "reactive_export",
            "ts": "start of the 15-minute interval, UTC",
            "kwh": "energy in the interval, kWh (kvarh for reactive registers), never negative",
            "quality": "measured | estimated | substituted | corrected, as delivered",
            "source_key": "source object the reading came from",
            "source_etag": "version (ETag) of that object",
            "revision": "how often a re-delivery corrected the value (0: as first delivered)",
            "ingested_at": "when the row was last written",
        },
    ),
    "rejected_readings": (
        "every record that failed validation, with the rule, a message and its "
        "source object: nothing delivered is lost",
        {
            "id": "row id",
            "source_key": "source object the record came from",
            "source_etag": "version (ETag) of that object",
            "record_index": "position of the record in the object's data array; "
            "empty for a problem of the whole object (e.g. "
            "unreadable JSON)",
            "muid": "meter id as delivered",
            "obis": "OBIS key as delivered",
            "ts_text": "timestamp as delivered",
            "value_text": "value as delivered",
            "rule": "the rule it broke, e.g. non_negative_kwh",
            "message": "what is wrong, in one sentence",
            "record": "the raw record, when it could be parsed",
            "rejected_at": "when the rejection was stored",
        },
    ),
    "tariff_slots": (
        "the tenant's tariff plan, one row per 15-minute slot of the LOCAL week "
        "(672), written from the tenant registry; SQL prices each reading with one "
        "join on it",
        {
            "isoweekday": "ISO weekday in local time, 1 = Monday .. 7 = Sunday",
            "slot": "quarter hour of the local day: 0 = 00:00-00:15 .. 95 = 23:45-24:00",
            "band": "tariff band: high | low",
            "rate": "price of one imported kWh in this slot, in the plan's currency",
        },
    ),
    "weekday_hour_profile": (
        "each meter's typical week (the heatmap): average energy per ISO "
        "weekday and local hour over its trailing 28 local days",
        {
            "muid": "meter id (tags.muid of the API record)",
            "weekday": "ISO weekday, 1 = Monday",
            "hour": "local hour of day, 0..23",
            "avg_import_kwh": "average import in that hour, kWh",
            "avg_export_kwh": "average export in that hour, kWh",
            "days": "days of the window that contributed",
            "window_start": "first local day of the window",
            "window_end": "last local day of the window",
        },
    ),
}


def upgrade() -> None:
    for table, (comment, columns) in COMMENTS.items():
        op.create_table_comment(table, comment)
        for column, text in columns.items():
            op.alter_column(table, column, comment=text)


def downgrade() -> None:
    for table, (comment, columns) in COMMENTS.items():
        op.drop_table_comment(table, existing_comment=comment)
        for column, text in columns.items():
            op.alter_column(table, column, comment=None, existing_comment=text)

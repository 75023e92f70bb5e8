"""The tenant tables, declared once: what every tenant schema holds at the newest migration.

Tables have no schema here (schema=None); a connection maps them to one tenant's schema with
`execution_options(schema_translate_map={None: tenant.schema})`, so a statement built from
them is quoted by SQLAlchemy and never carries a tenant id as text.

This declaration is what the catalog shows (column comments are the business meaning) and
what the dashboard queries. The database is built by the Alembic migrations in
`migrations/versions/`, never from this file; a test migrates a fresh tenant and compares it
with this declaration (alembic's compare_metadata), so the two cannot drift. Changing a table
means changing it here AND adding a migration (docs/schema.md).

Keys, indexes and CHECK constraints carry the names PostgreSQL gave them when the first
release created them with plain DDL (`<table>_pkey`, `<table>_<column>_check`).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData()

_uuid = sa.Uuid(as_uuid=False)  # muids travel as text
_ts = sa.DateTime(timezone=True)


def _muid() -> sa.Column:
    return sa.Column(
        "muid", _uuid, nullable=False, comment="meter id (tags.muid of the API record)"
    )


meter_readings = sa.Table(
    "meter_readings",
    metadata,
    _muid(),
    sa.Column(
        "obis",
        sa.CHAR(12),
        nullable=False,
        comment="OBIS code as delivered, 12 hex digits, e.g. 0100011D00FF = 1-0:1.29.0*255",
    ),
    sa.Column(
        "register",
        sa.Text,
        nullable=False,
        comment="what the OBIS code measures: active_import (from the grid) | active_export "
        "(into the grid) | reactive_import | reactive_export",
    ),
    sa.Column("ts", _ts, nullable=False, comment="start of the 15-minute interval, UTC"),
    sa.Column(
        "kwh",
        sa.Double,
        sa.CheckConstraint("kwh >= 0", name="meter_readings_kwh_check"),
        nullable=False,
        comment="energy in the interval, kWh (kvarh for reactive registers), never negative",
    ),
    sa.Column(
        "quality",
        sa.Text,
        nullable=False,
        comment="measured | estimated | substituted | corrected, as delivered",
    ),
    sa.Column("source_key", sa.Text, nullable=False, comment="source object the reading came from"),
    sa.Column("source_etag", sa.Text, nullable=False, comment="version (ETag) of that object"),
    sa.Column(
        "revision",
        sa.Integer,
        nullable=False,
        server_default=sa.text("0"),
        comment="how often a re-delivery corrected the value (0: as first delivered)",
    ),
    sa.Column(
        "ingested_at",
        _ts,
        nullable=False,
        server_default=sa.func.now(),
        comment="when the row was last written",
    ),
    sa.PrimaryKeyConstraint("muid", "obis", "ts", name="meter_readings_pkey"),
    # TimescaleDB makes it on (ts DESC) for a hypertable; native partitioning on (ts)
    sa.Index("meter_readings_ts_idx", "ts"),
    comment="validated 15-minute readings: a TimescaleDB hypertable (7-day chunks) where the "
    "extension exists, else range-partitioned by month (meter_readings_YYYY_MM)",
)

rejected_readings = sa.Table(
    "rejected_readings",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True, comment="row id"),
    sa.Column("source_key", sa.Text, nullable=False, comment="source object the record came from"),
    sa.Column("source_etag", sa.Text, comment="version (ETag) of that object"),
    sa.Column(
        "record_index",
        sa.Integer,
        comment="position of the record in the object's data array; empty for a problem of "
        "the whole object (e.g. unreadable JSON)",
    ),
    sa.Column("muid", sa.Text, comment="meter id as delivered"),
    sa.Column("obis", sa.Text, comment="OBIS key as delivered"),
    sa.Column("ts_text", sa.Text, comment="timestamp as delivered"),
    sa.Column("value_text", sa.Text, comment="value as delivered"),
    sa.Column("rule", sa.Text, nullable=False, comment="the rule it broke, e.g. non_negative_kwh"),
    sa.Column("message", sa.Text, nullable=False, comment="what is wrong, in one sentence"),
    sa.Column("record", postgresql.JSONB, comment="the raw record, when it could be parsed"),
    sa.Column(
        "rejected_at",
        _ts,
        nullable=False,
        server_default=sa.func.now(),
        comment="when the rejection was stored",
    ),
    sa.PrimaryKeyConstraint("id", name="rejected_readings_pkey"),
    sa.Index("rejected_readings_source", "source_key", "source_etag"),
    comment="every record that failed validation, with the rule, a message and its source "
    "object: nothing delivered is lost",
)

ingested_objects = sa.Table(
    "ingested_objects",
    metadata,
    sa.Column(
        "key", sa.Text, nullable=False, comment="source object key: <prefix>/<YYYY-MM-DD>/<name>"
    ),
    sa.Column(
        "etag",
        sa.Text,
        nullable=False,
        comment="version ingested (S3 ETag; locally the MD5 of the content)",
    ),
    sa.Column("size", sa.BigInteger, nullable=False, comment="object size, bytes"),
    sa.Column(
        "last_modified", _ts, nullable=False, comment="when the object was written to the source"
    ),
    sa.Column(
        "partition_day", sa.Date, nullable=False, comment="UTC day partition that ingested it"
    ),
    sa.Column("rows_read", sa.Integer, nullable=False, comment="readings and records read from it"),
    sa.Column("rows_written", sa.Integer, nullable=False, comment="valid readings written"),
    sa.Column("rows_rejected", sa.Integer, nullable=False, comment="records rejected"),
    sa.Column("run_id", sa.Text, comment="Dagster run that ingested it"),
    sa.Column(
        "ingested_at",
        _ts,
        nullable=False,
        server_default=sa.func.now(),
        comment="when it was ingested; the newest is the dashboard's 'last update'",
    ),
    sa.Column(
        "withdrawn_at",
        _ts,
        comment="when a run of its day found the object no longer listed in the source; empty "
        "while it is listed. Its readings are kept (docs/decisions.md)",
    ),
    sa.PrimaryKeyConstraint("key", name="ingested_objects_pkey"),
    sa.Index("ingested_objects_ingested_at", "ingested_at"),
    # a partition's checks and catalog figures read its own objects, not the whole history
    sa.Index("ingested_objects_partition_day", "partition_day"),
    comment="manifest of ingested source objects and their versions: a run reads only "
    "objects new in this version",
)

tariff_slots = sa.Table(
    "tariff_slots",
    metadata,
    sa.Column(
        "isoweekday",
        sa.SmallInteger,
        sa.CheckConstraint("isoweekday BETWEEN 1 AND 7", name="tariff_slots_isoweekday_check"),
        nullable=False,
        comment="ISO weekday in local time, 1 = Monday .. 7 = Sunday",
    ),
    sa.Column(
        "slot",
        sa.SmallInteger,
        sa.CheckConstraint("slot BETWEEN 0 AND 95", name="tariff_slots_slot_check"),
        nullable=False,
        comment="quarter hour of the local day: 0 = 00:00-00:15 .. 95 = 23:45-24:00",
    ),
    sa.Column("band", sa.Text, nullable=False, comment="tariff band: high | low"),
    sa.Column(
        "rate",
        sa.Double,
        sa.CheckConstraint("rate >= 0", name="tariff_slots_rate_check"),
        nullable=False,
        comment="price of one imported kWh in this slot, in the plan's currency",
    ),
    sa.Column(
        "valid_from",
        sa.Date,
        nullable=False,
        comment="first local day the version holds (0001-01-01: the plan's first version); "
        "a reading is priced by the newest version on or before its local day",
    ),
    sa.Column(
        "feed_in_rate",
        sa.Double,
        sa.CheckConstraint("feed_in_rate >= 0", name="tariff_slots_feed_in_rate_check"),
        comment="credit for one exported kWh under this version, in the plan's currency "
        "(empty on rows written before versions: set by the next run)",
    ),
    sa.PrimaryKeyConstraint("valid_from", "isoweekday", "slot", name="tariff_slots_pkey"),
    comment="the tenant's tariff plan, one row per version and 15-minute slot of the LOCAL "
    "week (672 per version), written from the tenant registry; SQL prices each reading with "
    "one join on it",
)

# The energy and money columns that hourly_energy and daily_energy share, each at its grain.
ENERGY_COLUMNS = ("import_kwh", "export_kwh", "ht_kwh", "nt_kwh", "cost", "feed_in_credit")
_ENERGY_MEANINGS = (
    "energy drawn from the grid (active import), kWh",
    "energy fed into the grid (active export), kWh",
    "import in the high tariff band, kWh",
    "import in the low tariff band, kWh",
    "import priced per 15-minute interval by the tenant's plan, in its currency",
    "export times the plan's feed-in rate, in its currency",
)


def _energy() -> list[sa.Column]:
    return [
        sa.Column(name, sa.Double, nullable=False, comment=meaning)
        for name, meaning in zip(ENERGY_COLUMNS, _ENERGY_MEANINGS, strict=True)
    ]


hourly_energy = sa.Table(
    "hourly_energy",
    metadata,
    _muid(),
    sa.Column(
        "hour_start",
        _ts,
        nullable=False,
        comment="UTC instant the local hour starts (the two 02:00 hours of an autumn DST day "
        "stay apart)",
    ),
    sa.Column("local_date", sa.Date, nullable=False, comment="local day of the hour"),
    sa.Column("local_hour", sa.SmallInteger, nullable=False, comment="local hour of day, 0..23"),
    sa.Column("iso_weekday", sa.SmallInteger, nullable=False, comment="ISO weekday, 1 = Monday"),
    *_energy(),
    sa.Column(
        "intervals",
        sa.SmallInteger,
        nullable=False,
        comment="quarter hours with readings (at most 4)",
    ),
    sa.Column(
        "peak_kwh",
        sa.Double,
        comment="the hour's largest 15-minute import, kWh (empty without import); the day's "
        "peak demand is rolled up from it",
    ),
    sa.Column("peak_at", _ts, comment="UTC start of the quarter hour of that import"),
    sa.PrimaryKeyConstraint("muid", "hour_start", name="hourly_energy_pkey"),
    sa.Index("hourly_energy_hour_start", "hour_start"),
    comment="energy and money per meter and LOCAL hour, from meter_readings in the tenant's "
    "time zone",
)

daily_energy = sa.Table(
    "daily_energy",
    metadata,
    _muid(),
    sa.Column("day", sa.Date, nullable=False, comment="local day"),
    *_energy(),
    sa.Column(
        "peak_kw",
        sa.Double,
        comment="peak demand: the largest 15-minute import times 4, kW (empty without import)",
    ),
    sa.Column("peak_at", _ts, comment="UTC start of the quarter hour of the peak"),
    sa.Column("intervals", sa.SmallInteger, nullable=False, comment="quarter hours with readings"),
    sa.Column(
        "expected_intervals",
        sa.SmallInteger,
        nullable=False,
        comment="quarter hours the local day has: 96, or 92 / 100 on DST days",
    ),
    sa.Column(
        "complete",
        sa.Boolean,
        nullable=False,
        comment="no quarter hour missing (intervals >= expected_intervals)",
    ),
    sa.PrimaryKeyConstraint("muid", "day", name="daily_energy_pkey"),
    sa.Index("daily_energy_day", "day"),
    comment="energy, money and peak demand per meter and LOCAL day; a day without readings has "
    "no row, a day with gaps is stored as measured",
)

weekday_hour_profile = sa.Table(
    "weekday_hour_profile",
    metadata,
    _muid(),
    sa.Column(
        "weekday",
        sa.SmallInteger,
        sa.CheckConstraint("weekday BETWEEN 1 AND 7", name="weekday_hour_profile_weekday_check"),
        nullable=False,
        comment="ISO weekday, 1 = Monday",
    ),
    sa.Column(
        "hour",
        sa.SmallInteger,
        sa.CheckConstraint("hour BETWEEN 0 AND 23", name="weekday_hour_profile_hour_check"),
        nullable=False,
        comment="local hour of day, 0..23",
    ),
    sa.Column(
        "avg_import_kwh", sa.Double, nullable=False, comment="average import in that hour, kWh"
    ),
    sa.Column(
        "avg_export_kwh", sa.Double, nullable=False, comment="average export in that hour, kWh"
    ),
    sa.Column(
        "days", sa.SmallInteger, nullable=False, comment="days of the window that contributed"
    ),
    sa.Column("window_start", sa.Date, nullable=False, comment="first local day of the window"),
    sa.Column("window_end", sa.Date, nullable=False, comment="last local day of the window"),
    sa.PrimaryKeyConstraint("muid", "weekday", "hour", name="weekday_hour_profile_pkey"),
    comment="each meter's typical week (the heatmap): average energy per ISO weekday and local "
    "hour over its trailing 28 local days",
)

insights = sa.Table(
    "insights",
    metadata,
    sa.Column("tenant", sa.Text, nullable=False, comment="tenant id"),
    _muid(),
    sa.Column(
        "period_start", sa.Date, nullable=False, comment="first local day the finding covers"
    ),
    sa.Column("period_end", sa.Date, nullable=False, comment="last local day the finding covers"),
    sa.Column(
        "kind",
        sa.Text,
        nullable=False,
        comment="the finding: base_load, peak_demand, high_tariff_share, feed_in, ... "
        "(docs/analytics.md)",
    ),
    sa.Column("value", sa.Double, comment="the finding's main figure, in unit"),
    sa.Column(
        "unit", sa.Text, nullable=False, comment="unit of value: kW, kWh, %, days, correlation"
    ),
    sa.Column(
        "severity",
        sa.Text,
        sa.CheckConstraint(
            "severity IN ('info', 'tip', 'warning')", name="insights_severity_check"
        ),
        nullable=False,
        comment="info | tip | warning",
    ),
    sa.Column("rank", sa.SmallInteger, nullable=False, comment="1 = most important for the meter"),
    sa.Column(
        "message", sa.Text, nullable=False, comment="the sentence the customer reads, with numbers"
    ),
    sa.Column(
        "computed_at",
        _ts,
        nullable=False,
        server_default=sa.func.now(),
        comment="when the finding last changed",
    ),
    sa.PrimaryKeyConstraint("muid", "kind", name="insights_pkey"),
    comment="findings per meter, each a plain sentence with its numbers, over the meter's "
    "trailing 28 local days",
)


# Work queues of the incremental refresh (docs/analytics.md, "What a tick recomputes"): keys
# whose inputs changed and whose aggregates are not yet recomputed. Written in the transaction
# that changes the inputs, taken (deleted) in the transaction that recomputes, so nothing is
# lost to a crash in between and nothing is recomputed twice.
stale_hours = sa.Table(
    "stale_hours",
    metadata,
    _muid(),
    sa.Column(
        "hour_start",
        _ts,
        nullable=False,
        comment="UTC instant the local hour starts, as in hourly_energy",
    ),
    sa.PrimaryKeyConstraint("muid", "hour_start", name="stale_hours_pkey"),
    comment="meter hours whose readings were inserted or corrected and whose hourly_energy "
    "row is not yet recomputed (queue of the hourly_energy asset)",
)

stale_days = sa.Table(
    "stale_days",
    metadata,
    _muid(),
    sa.Column("day", sa.Date, nullable=False, comment="local day"),
    sa.PrimaryKeyConstraint("muid", "day", name="stale_days_pkey"),
    comment="meter days whose hourly rows changed and whose daily_energy row is not yet "
    "rolled up (queue of the daily_energy asset)",
)

stale_windows = sa.Table(
    "stale_windows",
    metadata,
    _muid(),
    sa.Column("day", sa.Date, nullable=False, comment="local day whose daily row changed"),
    sa.Column(
        "marked_at",
        _ts,
        nullable=False,
        server_default=sa.func.now(),
        comment="when the day last changed",
    ),
    sa.PrimaryKeyConstraint("muid", "day", name="stale_windows_pkey"),
    sa.Index("stale_windows_day", "day"),
    comment="meter days changed since the per-day work (weekday_hour_profile, insights) last "
    "saw them: the meters whose 28-day windows must be recomputed",
)

community_energy = sa.Table(
    "community_energy",
    metadata,
    sa.Column("ts", _ts, nullable=False, comment="start of the 15-minute interval, UTC"),
    sa.Column(
        "hour_start",
        _ts,
        nullable=False,
        comment="UTC instant the interval's local hour starts (as hourly_energy.hour_start)",
    ),
    sa.Column("local_date", sa.Date, nullable=False, comment="local day of the interval"),
    sa.Column(
        "import_kwh",
        sa.Double,
        nullable=False,
        comment="energy all meters of the tenant drew from the grid in the interval, kWh",
    ),
    sa.Column(
        "export_kwh",
        sa.Double,
        nullable=False,
        comment="energy all meters of the tenant fed into the grid in the interval, kWh",
    ),
    sa.Column(
        "shared_kwh",
        sa.Double,
        nullable=False,
        comment="consumption covered by the members' own feed-in in the same interval: "
        "min(import_kwh, export_kwh), kWh",
    ),
    sa.Column(
        "meters",
        sa.Integer,
        nullable=False,
        comment="meters with an import or export reading in the interval",
    ),
    sa.PrimaryKeyConstraint("ts", name="community_energy_pkey"),
    comment="the tenant as one community: all meters' import and export per quarter hour, "
    "and how much of the consumption the members' feed-in covered in that quarter hour",
)

"""Asset checks on `meter_readings`, judged per tenant-day partition.

Severities: WARN for what an operator should look at but which does not make the numbers
wrong (rejected rows, missing intervals, a quiet live feed); ERROR, blocking the analytics
downstream, for what would make them wrong (duplicate readings, a large share of rejects).
All five run in one step (one process, one database transaction) per partition.
"""

import warnings
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from exnaton_pipeline.lib.scheduling import SETTLE_TIME
from exnaton_pipeline.lib.tenants import Tenant
from exnaton_pipeline.lib.warehouse import quality
from exnaton_pipeline.orchestration.partitions import tenant_day_transaction, tenant_days
from exnaton_pipeline.orchestration.resources import TenantRegistryResource, WarehouseResource
from exnaton_pipeline.orchestration.retries import TRANSIENT_RETRY

# Partitioned checks (results kept per tenant-day) are a preview feature of the pinned Dagster
# 1.13.27; we rely on it knowingly and keep the load log free of the notice.
warnings.filterwarnings(
    "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning
)

REJECTED_WARN_SHARE = 0.01
REJECTED_ERROR_SHARE = 0.10
FRESHNESS_LIMIT = timedelta(minutes=45)
# by key, not by importing the asset: a module-level import would be autoloaded a second time
METER_READINGS = dg.AssetKey("meter_readings")
GAPS_SHOWN = 20

WARN = dg.AssetCheckSeverity.WARN
ERROR = dg.AssetCheckSeverity.ERROR


def _spec(name: str, description: str, blocking: bool = False) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name,
        asset=METER_READINGS,
        description=description,
        blocking=blocking,
        partitions_def=tenant_days,
    )


SPECS = [
    _spec(
        "schema_validation",
        "Rows of the partition's source objects (those still in the source) that failed the "
        "reading contract, by rule and with an example message. WARN when any row was "
        "rejected (they are kept in rejected_readings); rows superseded by a later delivery "
        "are not faults.",
    ),
    _spec(
        "completeness",
        "Readings per meter register and local day against the intervals the day has in "
        "the tenant's time zone (96; 92 or 100 when clocks change). Judges the local day "
        "that closes in this UTC day, once it is over. WARN when intervals are missing.",
    ),
    _spec(
        "no_duplicate_readings",
        "No (muid, OBIS, interval start) stored twice among the meter hours this run "
        "changed, before they are aggregated. ERROR, blocking: duplicates would "
        "double-count energy and cost in every aggregate.",
        blocking=True,
    ),
    _spec(
        "rejected_share",
        f"Share of the partition's delivered rows rejected as faulty, or of its objects that "
        f"could not be read at all, whichever is larger: WARN above "
        f"{REJECTED_WARN_SHARE:.0%}, ERROR (blocking) above {REJECTED_ERROR_SHARE:.0%}, "
        "when the aggregates would miss too much to be trusted. Objects withdrawn from the "
        "source are not judged: removing bad objects and running again clears it.",
        blocking=True,
    ),
    _spec(
        "freshness",
        f"For live tenants, on the current UTC day's partition: the newest reading ended less "
        f"than {int(FRESHNESS_LIMIT.total_seconds() // 60)} minutes ago. WARN when the feed "
        "went quiet. Historical tenants and past days are not judged.",
    ),
]


@dg.multi_asset_check(specs=SPECS, name="meter_readings_quality", retry_policy=TRANSIENT_RETRY)
def meter_readings_quality(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    tenants: TenantRegistryResource,
) -> Iterator[dg.AssetCheckResult]:
    """Quality of one tenant-day of `meter_readings`, measured in the warehouse."""
    now = datetime.now(UTC)
    with tenant_day_transaction(context, warehouse, tenants) as (tenant, day, conn):
        rejections = quality.rejections(conn, tenant.schema, day)
        complete = quality.completeness(conn, tenant.schema, tenant.zone, day, now)
        dupes = quality.duplicates(conn, tenant.schema)
        newest = quality.newest_reading(conn, tenant.schema)
    yield schema_validation(rejections)
    yield completeness(complete, tenant)
    yield no_duplicate_readings(dupes)
    yield rejected_share(rejections)
    yield freshness(tenant, day, newest, now)


def _result(
    name: str, passed: bool, severity: dg.AssetCheckSeverity, description: str, **metadata
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=name,
        asset_key=METER_READINGS,
        passed=passed,
        severity=severity,
        description=description,
        metadata=metadata,
    )


def _rules_table(rejections: quality.Rejections) -> dg.MetadataValue:
    rows = [(rule, n, rejections.examples[rule]) for rule, n in rejections.by_rule.items()]
    return dg.MetadataValue.md(quality.markdown_table(["rule", "rows", "example"], rows))


def schema_validation(rejections: quality.Rejections) -> dg.AssetCheckResult:
    faults = {r: n for r, n in rejections.by_rule.items() if r != quality.SUPERSEDED_RULE}
    superseded = rejections.by_rule.get(quality.SUPERSEDED_RULE, 0)
    if faults:
        reasons = "; ".join(f"{r}: {n} ({rejections.examples[r]})" for r, n in faults.items())
        description = (
            f"{rejections.faults} of {rejections.delivered} rows rejected -- {reasons}. "
            "They are kept in rejected_readings with their source object."
        )
    elif not rejections.objects:
        description = "no objects delivered for this UTC day (yet)"
    else:
        description = f"all {rejections.written} rows of {rejections.objects} objects valid"
        if superseded:
            description += f"; {superseded} superseded by a later delivery"
    return _result(
        "schema_validation",
        not faults,
        WARN,
        description,
        objects=rejections.objects,
        rows_written=rejections.written,
        rows_rejected=rejections.rejected,
        rejected_by_rule=dg.MetadataValue.json(rejections.by_rule),
        rules=_rules_table(rejections),
    )


def completeness(report: quality.Completeness, tenant: Tenant) -> dg.AssetCheckResult:
    judged = ", ".join(f"{d.day} ({d.expected_intervals} intervals)" for d in report.judged)
    pending = ", ".join(
        f"{d.day} (judged after {(d.end + SETTLE_TIME):%Y-%m-%d %H:%M} UTC)" for d in report.pending
    )
    metadata = {
        "local_days_judged": [str(d.day) for d in report.judged],
        "local_days_pending": [str(d.day) for d in report.pending],
        "meter_registers_judged": report.series,
        "incomplete_meter_registers": len(report.gaps),
    }
    if report.gaps:
        shown = report.gaps[:GAPS_SHOWN]
        listing = "; ".join(
            f"{g.muid} {g.obis} on {g.local_day}: {g.present} of {g.expected}" for g in shown[:3]
        )
        more = f" and {len(report.gaps) - 3} more" if len(report.gaps) > 3 else ""
        metadata["gaps"] = dg.MetadataValue.md(
            quality.markdown_table(
                ["local day", "muid", "obis", "present", "expected"],
                [(g.local_day, g.muid, g.obis, g.present, g.expected) for g in shown],
            )
        )
        return _result(
            "completeness",
            False,
            WARN,
            f"{len(report.gaps)} of {report.series} meter register-days incomplete in "
            f"{tenant.timezone}: {listing}{more}",
            **metadata,
        )
    if report.judged and report.series:
        description = (
            f"all {report.series} meter register-days complete on local day {judged} "
            f"in {tenant.timezone}"
        )
    elif report.judged:
        description = f"no meter reported in the week up to local day {judged}: none expected"
    else:
        description = f"no local day to judge yet in {tenant.timezone}"
    if pending:
        description += f"; not over yet: {pending}"
    return _result("completeness", True, WARN, description, **metadata)


def no_duplicate_readings(dupes: quality.Duplicates) -> dg.AssetCheckResult:
    if not dupes.keys:
        return _result("no_duplicate_readings", True, ERROR, "no reading is stored twice")
    examples = "; ".join(
        f"{muid} {obis} {ts:%Y-%m-%d %H:%M} UTC x{copies}"
        for muid, obis, ts, copies in dupes.examples
    )
    return _result(
        "no_duplicate_readings",
        False,
        ERROR,
        f"{dupes.keys} readings are stored more than once ({dupes.extra_rows} extra rows), "
        f"e.g. {examples}; aggregates downstream would double-count",
        duplicated_keys=dupes.keys,
        extra_rows=dupes.extra_rows,
    )


def rejected_share(rejections: quality.Rejections) -> dg.AssetCheckResult:
    """The larger of two shares: faulty rows among delivered rows, and objects that could not
    be read at all among the partition's objects (such an object is one rejected row, but
    a whole delivery's readings are missing)."""
    share = max(rejections.fault_share, rejections.unreadable_share)
    counts = (
        f"{rejections.fault_share:.1%} of delivered rows rejected "
        f"({rejections.faults} of {rejections.delivered})"
    )
    if rejections.unreadable:
        counts = (
            f"{rejections.unreadable_share:.1%} of objects could not be read at all "
            f"({rejections.unreadable} of {rejections.objects}); {counts}"
        )
    metadata = {
        "share": share,
        "rows_rejected": rejections.faults,
        "rows": rejections.delivered,
        "objects_unreadable": rejections.unreadable,
        "objects": rejections.objects,
    }
    if share > REJECTED_ERROR_SHARE:
        return _result(
            "rejected_share",
            False,
            ERROR,
            f"{counts}: above the {REJECTED_ERROR_SHARE:.0%} error threshold",
            **metadata,
        )
    if share > REJECTED_WARN_SHARE:
        return _result(
            "rejected_share",
            False,
            WARN,
            f"{counts}: above the {REJECTED_WARN_SHARE:.0%} warning threshold",
            **metadata,
        )
    return _result("rejected_share", True, ERROR, counts, **metadata)


def freshness(
    tenant: Tenant, day: date, newest: datetime | None, now: datetime
) -> dg.AssetCheckResult:
    if not tenant.live:
        return _result(
            "freshness",
            True,
            WARN,
            f"tenant {tenant.id} is historical (not live): freshness is not judged",
        )
    if day != now.date():
        # a backfilled or late-readings run of a past day says nothing about the feed today
        return _result(
            "freshness",
            True,
            WARN,
            f"judged on the current UTC day's partition ({now.date()}), not on {day}",
        )
    if newest is None:
        return _result("freshness", False, WARN, f"live tenant {tenant.id} has no readings at all")
    age = quality.reading_age(newest, now)
    minutes = int(age.total_seconds() // 60)
    metadata = {"newest_reading": dg.MetadataValue.timestamp(newest), "age_minutes": minutes}
    limit = int(FRESHNESS_LIMIT.total_seconds() // 60)
    if age > FRESHNESS_LIMIT:
        return _result(
            "freshness",
            False,
            WARN,
            f"live tenant {tenant.id}: newest reading ended {minutes} minutes ago "
            f"(interval starting {newest:%Y-%m-%d %H:%M} UTC), more than {limit} minutes",
            **metadata,
        )
    return _result(
        "freshness",
        True,
        WARN,
        f"newest reading ended {minutes} minutes ago (limit {limit})",
        **metadata,
    )

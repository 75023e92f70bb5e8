"""The chunked, vectorised insights and profile against the frozen pre-rewrite oracle.

A fleet of synthetic households (lib.demo_data.synthetic) in Europe/Zurich, 2 October -
5 November 2023 (the autumn DST change on 29 October inside every window), with what the
per-meter code had to get right: households with PV (import and export on one muid), an
installation of an import meter and an export meter ("barn"), one of three import meters and
an export meter ("block", so that readings of one register are added up across meters),
missing quarter hours and days, a meter that stopped early and one that started late, a meter
with flat consumption and days of several times as much on different weekdays (unusual days
with equal, infinite z-scores), one that imports nothing, one whose export register is zero.

The oracle (insights_oracle.py, the code as it was) and the new code run on the same tables;
the findings must be the same (muid, kind) set with identical messages and values equal
within 1e-9 relative, and the profile rows the same. Each test works in one transaction that
is rolled back, so the module's database stays as built.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from psycopg2 import sql

from exnaton_pipeline.lib.demo_data import synthetic
from exnaton_pipeline.lib.energy import analytics, insights
from exnaton_pipeline.lib.tenants import Meter, Tenant
from exnaton_pipeline.lib.warehouse import database, migrate, writes
from exnaton_pipeline_tests.conftest import create_database, drop_database
from exnaton_pipeline_tests.lib.energy import insights_oracle as oracle
from exnaton_pipeline_tests.stored_readings import local_quarters, refresh, utc_days

FIRST, LAST = date(2023, 10, 2), date(2023, 11, 5)  # Monday .. Sunday, 35 local days
BARN_IMPORT = "bbbbbbbb-0000-4000-8000-000000000001"
BARN_EXPORT = "bbbbbbbb-0000-4000-8000-000000000002"
BLOCK_IMPORTS = [f"bbbbbbbb-0000-4000-8000-00000000001{n}" for n in range(3)]
BLOCK_EXPORT = "bbbbbbbb-0000-4000-8000-000000000019"
HOUSEHOLDS = 30
# households (positions) with something to get right; 1, 3, 6, 8, ... have PV
GAPPY, EXPORT_GAPS, STOPPED, STARTED, FLAT, NO_IMPORT, ZERO_EXPORT = 0, 1, 2, 4, 5, 6, 8
BARN, BLOCK = (10, 11), (13, 15, 16)  # their readings, under the installations' muids
# four weekdays of the flat meter, each with three ordinary days of its kind in its window
SPIKES = {date(2023, 10, d): 3.0 for d in (10, 19, 27)} | {date(2023, 11, 1): 2.0}


@dataclasses.dataclass(frozen=True)
class Fleet:
    url: str
    tenant: Tenant
    muids: list[str]  # the households' muids, by position


def golden_tenant(registry) -> Tenant:
    installations = [
        Meter(BARN_IMPORT, "Barn consumption", "barn"),
        Meter(BARN_EXPORT, "Barn solar", "barn"),
        *(Meter(m, f"Block flat {n}", "block") for n, m in enumerate(BLOCK_IMPORTS, 1)),
        Meter(BLOCK_EXPORT, "Block solar", "block"),
    ]
    return dataclasses.replace(
        registry.get("alpine"),
        id="golden",
        name="Golden fleet",
        source_prefix="golden",
        meters=tuple(installations),
    )


def _frame(muid: str, obis: str, ts: pd.DatetimeIndex, kwh: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "muid": muid,
            "obis": obis,
            "ts": ts,
            "kwh": kwh,
            "quality": "measured",
            "source_key": "golden",
            "source_etag": "1",
        }
    )


def fleet_readings(tenant: Tenant) -> tuple[pd.DataFrame, list[str]]:
    """The whole fleet's readings (stored_readings' columns) and the households' muids."""
    zone = tenant.zone
    generic = dataclasses.replace(tenant, meters=())
    households = synthetic.households(generic, HOUSEHOLDS)
    quarters = pd.DatetimeIndex(local_quarters(zone, FIRST, LAST))
    imports, exports = [], []
    for utc_day in utc_days(list(quarters)):
        day = synthetic.simulate_day(households, utc_day, zone)
        keep = np.asarray(day.starts.isin(quarters))
        imports.append(pd.DataFrame(day.import_kwh[:, keep], columns=day.starts[keep]))
        exports.append(pd.DataFrame(day.export_kwh[:, keep], columns=day.starts[keep]))
    imp, exp = pd.concat(imports, axis=1), pd.concat(exports, axis=1)
    local = quarters.tz_convert(zone)
    local_day = np.array(local.date)

    frames = []
    for n, household in enumerate(households):
        muid, kwh_in, kwh_out = household.muid, imp.iloc[n].to_numpy(), exp.iloc[n].to_numpy()
        keep = np.ones(len(quarters), dtype=bool)
        keep_export = keep.copy()
        if n == GAPPY:
            for gappy_day in pd.date_range("2023-10-20", "2023-10-27").date:  # 6 of 96 missing
                on_day = np.flatnonzero(local_day == gappy_day)
                keep[np.random.default_rng(1).choice(on_day, 6, replace=False)] = False
            keep[local_day == date(2023, 10, 17)] = False  # a day without readings
            keep[(local_day == LAST) & (local.hour >= 12)] = False  # the newest day half done
        if n == EXPORT_GAPS:
            keep_export[(local_day == date(2023, 10, 25)) & (local.hour >= 11)] = False
        if n == STOPPED:
            keep &= local_day <= LAST - timedelta(days=5)
            keep_export = keep.copy()
        if n == STARTED:
            keep &= local_day >= LAST - timedelta(days=9)
        if n == FLAT:
            kwh_in = np.full(len(quarters), 0.05) * [SPIKES.get(d, 1.0) for d in local_day]
        if n == ZERO_EXPORT:
            kwh_out = np.zeros(len(quarters))
        if n in (*BARN, *BLOCK):
            continue
        if n != NO_IMPORT:
            frames.append(_frame(muid, synthetic.IMPORT_OBIS, quarters[keep], kwh_in[keep]))
        if household.pv_kwp or n == NO_IMPORT:
            keep_export &= keep
            frames.append(
                _frame(muid, synthetic.EXPORT_OBIS, quarters[keep_export], kwh_out[keep_export])
            )
    # the installations: one household's import and another's export under two muids (a
    # household's own meter never imports and exports in the same quarter hour), and three
    # households' imports with one export under four
    barn_in, barn_out = imp.iloc[BARN[0]].to_numpy(), exp.iloc[BARN[1]].to_numpy()
    frames.append(_frame(BARN_IMPORT, synthetic.IMPORT_OBIS, quarters, barn_in))
    frames.append(_frame(BARN_EXPORT, synthetic.EXPORT_OBIS, quarters, barn_out))
    for muid, n in zip(BLOCK_IMPORTS, BLOCK, strict=True):
        frames.append(_frame(muid, synthetic.IMPORT_OBIS, quarters, imp.iloc[n].to_numpy()))
    solar = exp.iloc[BLOCK[0]].to_numpy() * 3
    frames.append(_frame(BLOCK_EXPORT, synthetic.EXPORT_OBIS, quarters, solar))
    return pd.concat(frames, ignore_index=True), [h.muid for h in households]


@pytest.fixture(scope="module")
def fleet(pg_server_url, registry) -> Iterator[Fleet]:
    tenant = golden_tenant(registry)
    url = create_database(pg_server_url, prefix="exnaton_golden")
    readings, muids = fleet_readings(tenant)
    migrate.migrate_tenant(url, tenant)
    with database.transaction(url) as conn:
        writes.upsert_readings(conn, tenant.schema, readings, tenant.timezone)
    refresh(url, tenant)
    yield Fleet(url, tenant, muids)
    drop_database(pg_server_url, url)


@pytest.fixture
def conn(fleet) -> Iterator[database.Connection]:
    """A connection to the fleet's database in a transaction that is rolled back."""
    connection = database.autocommit_connection(fleet.url)
    connection.autocommit = False
    try:
        yield connection
    finally:
        connection.rollback()
        connection.close()


INSIGHT_COLUMNS = "tenant, period_start, period_end, value, unit, severity, rank, message"
PROFILE_COLUMNS = "avg_import_kwh, avg_export_kwh, days, window_start, window_end"


def table(conn, tenant: Tenant, name: str, columns: str, key: str) -> dict[tuple, dict]:
    """Rows of a tenant table by key (a tuple of the key columns, muid as text)."""
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("SELECT " + key + ", ctid::text, " + columns + " FROM {}.{}").format(
                sql.Identifier(tenant.schema), sql.Identifier(name)
            )
        )
        names = [c.name for c in cur.description]
        width = key.count(",") + 1
        return {
            tuple(str(v) for v in row[:width]): dict(zip(names[width:], row[width:], strict=True))
            for row in cur.fetchall()
        }


def insight_rows(conn, tenant: Tenant) -> dict[tuple, dict]:
    return table(conn, tenant, "insights", INSIGHT_COLUMNS, "muid, kind")


def profile_rows(conn, tenant: Tenant) -> dict[tuple, dict]:
    return table(conn, tenant, "weekday_hour_profile", PROFILE_COLUMNS, "muid, weekday, hour")


def clear(conn, tenant: Tenant, name: str) -> None:
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("DELETE FROM {}.{}").format(sql.Identifier(tenant.schema), sql.Identifier(name))
        )


def assert_same_rows(new: dict[tuple, dict], old: dict[tuple, dict]) -> None:
    """Same keys; every column equal, floats within 1e-9 relative (ctid aside)."""
    assert sorted(new) == sorted(old)
    for key, row in old.items():
        for column, value in row.items():
            if column == "ctid":
                continue
            if isinstance(value, float):
                assert new[key][column] == pytest.approx(value, rel=1e-9, abs=0), (key, column)
            else:
                assert new[key][column] == value, (key, column)


def oracle_tables(conn, tenant: Tenant) -> tuple[dict, dict]:
    clear(conn, tenant, "insights")
    oracle.refresh_insights(conn, tenant)
    oracle.refresh_weekday_hour_profile(conn, tenant)
    return insight_rows(conn, tenant), profile_rows(conn, tenant)


def new_tables(conn, tenant: Tenant, **scope) -> tuple[dict, dict]:
    clear(conn, tenant, "insights")
    insights.refresh_insights(conn, tenant, **scope)
    analytics.refresh_weekday_hour_profile(conn, tenant, **scope)
    return insight_rows(conn, tenant), profile_rows(conn, tenant)


@pytest.mark.parametrize("chunk", [insights.CHUNK_METERS, 7])
def test_every_meter_as_the_oracle_computes_it(fleet, conn, monkeypatch, chunk):
    monkeypatch.setattr(insights, "CHUNK_METERS", chunk)
    monkeypatch.setattr(analytics, "PROFILE_CHUNK_METERS", chunk)
    old_insights, old_profile = oracle_tables(conn, fleet.tenant)
    new_insights, new_profile = new_tables(conn, fleet.tenant)

    assert_same_rows(new_insights, old_insights)
    assert_same_rows(new_profile, old_profile)
    # stricter than asked: every sum is taken as the per-meter code took it, so only the
    # correlations (computed for many meters at once) may differ, in the last bits
    exact = [k for k in old_insights if k[1] not in insights.LAGS]
    assert [new_insights[k]["value"] for k in exact] == [old_insights[k]["value"] for k in exact]
    # the comparison covers what it is meant to: every meter, and every kind of finding
    assert len({muid for muid, _ in old_insights}) == HOUSEHOLDS - 5 + 6
    kinds = {kind for _, kind in old_insights}
    assert kinds == set(insights.KIND_ORDER)
    by_kind = {(muid, kind): row for (muid, kind), row in old_insights.items()}
    flat = fleet.muids[FLAT]
    assert by_kind[(flat, "unusual_days")]["value"] == 4  # infinite z-scores, shown in some order
    assert ", and 1 more." in by_kind[(flat, "unusual_days")]["message"]
    assert "installation 'block'" in by_kind[(BLOCK_EXPORT, "self_consumption")]["message"]
    assert "No energy was fed" in by_kind[(fleet.muids[ZERO_EXPORT], "feed_in")]["message"]
    gaps = by_kind[(fleet.muids[GAPPY], "data_quality")]
    assert gaps["value"] == 10  # 17 October, 20-27 October, 5 November
    assert (
        "17 October 2023 (no readings); 20 October 2023 (90 of 96 quarter hours)"
        in (gaps["message"])
    )
    assert ", and 5 more." in gaps["message"]
    assert (fleet.muids[NO_IMPORT], "daily_repetition") in by_kind  # from its feed-in


def test_last_day_ends_each_window_at_the_newest_day_up_to_it(fleet, conn):
    tenant, last_day = fleet.tenant, LAST - timedelta(days=3)
    new_insights, new_profile = new_tables(conn, tenant, last_day=last_day)
    windows = analytics.meter_windows(conn, tenant.schema, last_day=last_day)
    ends = {w.muid: w.end for w in windows}
    assert ends[fleet.muids[GAPPY]] == last_day
    assert ends[fleet.muids[STOPPED]] == LAST - timedelta(days=5)
    assert {w.end - w.start for w in windows} == {timedelta(days=27)}

    # the oracle knew no last day: it must find the same on history cut after that day
    cut = datetime(2023, 11, 3, tzinfo=tenant.zone).astimezone(UTC)
    with conn.cursor() as cur:
        for statement, value in [
            ("DELETE FROM {}.meter_readings WHERE ts >= %s", cut),
            ("DELETE FROM {}.hourly_energy WHERE local_date > %s", last_day),
            ("DELETE FROM {}.daily_energy WHERE day > %s", last_day),
        ]:
            cur.execute(sql.SQL(statement).format(sql.Identifier(tenant.schema)), (value,))
    old_insights, old_profile = oracle_tables(conn, tenant)
    assert_same_rows(new_insights, old_insights)
    assert_same_rows(new_profile, old_profile)


def test_muids_replace_only_their_rows_and_widen_to_the_installation(fleet, conn):
    tenant = fleet.tenant
    before, profile_before = new_tables(conn, tenant)
    # a correction doubles the barn's import on 30 October; the barn's export meter's
    # self-consumption depends on it
    day = datetime(2023, 10, 30, tzinfo=UTC)
    quarters = pd.date_range(day, periods=96, freq="15min")
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "SELECT ts, kwh FROM {}.meter_readings WHERE muid = %s AND ts >= %s AND ts < %s "
                "ORDER BY ts"
            ).format(sql.Identifier(tenant.schema)),
            (BARN_IMPORT, day, day + timedelta(days=1)),
        )
        kwh = np.array([v for _, v in cur.fetchall()])
    corrected = _frame(BARN_IMPORT, synthetic.IMPORT_OBIS, quarters, kwh * 2).assign(
        source_etag="2"
    )
    writes.upsert_readings(conn, tenant.schema, corrected, tenant.timezone)
    analytics.refresh_hourly_energy(conn, tenant)
    analytics.refresh_daily_energy(conn, tenant)

    result = insights.refresh_insights(conn, tenant, muids=[BARN_IMPORT])
    analytics.refresh_weekday_hour_profile(conn, tenant, muids=[BARN_IMPORT])
    assert result.meters == 2  # widened to the barn's export meter
    after, profile_after = insight_rows(conn, tenant), profile_rows(conn, tenant)

    barn = {BARN_IMPORT, BARN_EXPORT}
    untouched = {k: r for k, r in before.items() if k[0] not in barn}
    assert {k: r for k, r in after.items() if k[0] not in barn} == untouched  # same ctid too
    assert after[(BARN_EXPORT, "self_consumption")] != before[(BARN_EXPORT, "self_consumption")]
    profile_untouched = {k: r for k, r in profile_before.items() if k[0] != BARN_IMPORT}
    assert {k: r for k, r in profile_after.items() if k[0] != BARN_IMPORT} == profile_untouched

    old_insights, old_profile = oracle_tables(conn, tenant)
    assert_same_rows(
        {k: r for k, r in after.items() if k[0] in barn},
        {k: r for k, r in old_insights.items() if k[0] in barn},
    )
    assert_same_rows(
        {k: r for k, r in profile_after.items() if k[0] == BARN_IMPORT},
        {k: r for k, r in old_profile.items() if k[0] == BARN_IMPORT},
    )


def test_chunks_keep_installations_whole_and_muids_widen_to_them(fleet):
    tenant = fleet.tenant
    assert insights.installation_members(tenant, [BLOCK_IMPORTS[1], fleet.muids[0]]) == sorted(
        [*BLOCK_IMPORTS, BLOCK_EXPORT, fleet.muids[0]]
    )
    assert insights.installation_members(tenant, [fleet.muids[3]]) == [fleet.muids[3]]
    muids = sorted([*fleet.muids, BARN_IMPORT, BARN_EXPORT, *BLOCK_IMPORTS, BLOCK_EXPORT])
    windows = [analytics.MeterWindow(m, FIRST, LAST) for m in muids]
    chunks = list(insights.meter_chunks(tenant, windows, 3))
    assert sorted(w.muid for chunk in chunks for w in chunk) == muids
    block = next(c for c in chunks if any(w.muid == BLOCK_EXPORT for w in c))
    assert {w.muid for w in block} == {*BLOCK_IMPORTS, BLOCK_EXPORT}  # 4 > 3: one chunk
    assert all(len(c) <= 3 for c in chunks if c is not block)

"""Property-based proof that one bad object never costs a good one (issue 9).

Hypothesis builds a day of objects from good records, subtly wrong records and hostile whole
objects, mixed in any order, and ingests it into a real PostgreSQL next to data of another
day that must not move. Invariants, for every generated day:

- ingesting never raises because of an object;
- every object is in the manifest with rows_read = rows_written + rows_rejected, and exactly
  rows_written readings and rows_rejected rejections carry its key;
- every reading of a good object is stored with its value; a hostile object stores nothing
  and is one rejection;
- the other day's readings are unchanged.

EXNATON_PROPERTY_EXAMPLES sets the number of generated days (default 40, about 20 s); pytest's
`--hypothesis-show-statistics` prints how many ran.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg2 import sql

from exnaton_pipeline.lib.ingestion import ingest
from exnaton_pipeline.lib.ingestion.source import LocalSource
from exnaton_pipeline.lib.warehouse import database
from exnaton_pipeline_tests.builders import EXPORT, IMPORT

DAY = date(2023, 2, 1)
OTHER_DAY = date(2023, 2, 2)
EXAMPLES = int(os.environ.get("EXNATON_PROPERTY_EXAMPLES", "40"))
SLOTS = [f"2023-02-01T{h:02d}:{m:02d}:00Z" for h in range(24) for m in (0, 15, 30, 45)]


def muids() -> st.SearchStrategy[str]:
    return st.uuids(version=4).map(str)


kwh = st.floats(min_value=0, max_value=50, allow_nan=False).map(lambda v: round(v, 4))


@st.composite
def good_object(draw) -> tuple[str, list[tuple[str, str, float]]]:
    """(body, readings): one meter's records on distinct quarter hours, import and maybe
    export, as the API delivers them."""
    muid = draw(muids())
    slots = draw(st.lists(st.sampled_from(SLOTS), min_size=1, max_size=8, unique=True))
    records, expected = [], []
    for ts in slots:
        values = {IMPORT: draw(kwh)}
        if draw(st.booleans()):
            values[EXPORT] = draw(kwh)
        records.append(
            {
                "measurement": "energy",
                "timestamp": ts,
                "tags": {"muid": muid, "quality": "measured"},
            }
            | values
        )
        expected += [(muid, obis, ts, value) for obis, value in values.items()]
    return json.dumps({"data": records}), expected


def wrong_record(muid: str, ts: str) -> st.SearchStrategy[str]:
    """One record, as JSON text, that validation or parsing must refuse."""
    base = {"measurement": "energy", "timestamp": ts, "tags": {"muid": muid, "quality": "measured"}}
    variants = [
        base | {"timestamp": ts.removesuffix("Z"), IMPORT: 0.1},  # no offset
        base | {"timestamp": ts.replace(":00Z", ":07Z", 1), IMPORT: 0.1},  # off the grid
        base | {"timestamp": "2023-02-05T00:00:00Z", IMPORT: 0.1},  # another day
        base | {IMPORT: -0.4},
        base | {IMPORT: 1e6},  # above the plausible maximum
        base | {IMPORT: "0.1"},
        base | {IMPORT: True},
        base | {"0100071D00FF": 0.1},  # unknown register
        base | {"tags": {"muid": muid.upper(), "quality": "measured"}, IMPORT: 0.1},
        base | {"tags": {"muid": muid, "quality": "guessed"}, IMPORT: 0.1},
        {"measurement": "energy", "timestamp": ts, IMPORT: 0.1},  # no tags
        base,  # no value
    ]
    texts = [json.dumps(v) for v in variants]
    texts += [
        json.dumps(base | {IMPORT: 0.1})[:-1] + f', "{IMPORT}": 0.2}}',  # a key twice
        json.dumps(base)[:-1] + f', "{IMPORT}": NaN}}',
        json.dumps(base)[:-1] + f', "{IMPORT}": 1e400}}',
        json.dumps(base)[:-1] + f', "{IMPORT}": 1{"0" * 400}}}',
        "42",
        "[]",
    ]
    return st.sampled_from(texts)


@st.composite
def mixed_object(draw) -> str:
    """Good and wrong records of one meter (its own muid: nothing here supersedes a good
    object's reading)."""
    muid = draw(muids())
    slots = draw(st.lists(st.sampled_from(SLOTS), min_size=1, max_size=6, unique=True))
    records = []
    for ts in slots:
        if draw(st.booleans()):
            records.append(json.dumps({"timestamp": ts, "tags": {"muid": muid}, IMPORT: 0.3}))
        else:
            records.append(draw(wrong_record(muid, ts)))
    return '{"data": [' + ", ".join(records) + "]}"


HOSTILE = [
    b'{"data": [' + b"[" * 3000 + b"]" * 3000 + b"]}",
    b'{"data": [{"' + IMPORT.encode() + b'": 1' + b"0" * 5000 + b"}]}",
    b"\xff\xfe not even text",
    b'{"data": [{"timestamp": "2023-02-01T00:00:00Z", "tags": {"mu',  # truncated delivery
    b"",
    b"[1, 2, 3]",
    b"<html>Gateway Timeout</html>",
    b'{"data": [], "data": []}',
]

day_objects = st.lists(
    st.one_of(
        good_object().map(lambda g: ("good", g[0].encode(), g[1])),
        mixed_object().map(lambda body: ("mixed", body.encode(), None)),
        st.sampled_from(HOSTILE).map(lambda body: ("hostile", body, None)),
    ),
    min_size=1,
    max_size=8,
)


def query(url: str, text: str, params=()) -> list[tuple]:
    with database.transaction(url) as conn, conn.cursor() as cur:
        cur.execute(text, params)
        return cur.fetchall()


def reset(url: str) -> None:
    with database.transaction(url) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("DROP SCHEMA IF EXISTS tenant_alpine CASCADE"))


def ingest_day(source, url, tenant, day):
    new = ingest.list_new_objects(source, url, tenant, day)
    return ingest.ingest_objects(source, url, tenant, new, run_id="property")


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(objects=day_objects)
def test_no_object_costs_another_its_readings(objects, warehouse_url, registry, tmp_path):
    tenant = registry.get("alpine")
    reset(warehouse_url)
    source = LocalSource(tmp_path / uuid.uuid4().hex)
    other = json.dumps(
        {
            "data": [
                {
                    "timestamp": "2023-02-02T10:00:00Z",
                    "tags": {"muid": str(uuid.uuid4()), "quality": "measured"},
                    IMPORT: 1.25,
                }
            ]
        }
    )
    source.write("alpine/2023-02-02/other.json", other.encode())
    ingest_day(source, warehouse_url, tenant, OTHER_DAY)
    before = query(warehouse_url, "SELECT * FROM tenant_alpine.meter_readings ORDER BY ts")

    keys = {}
    for n, (kind, body, expected) in enumerate(objects):
        key = f"alpine/2023-02-01/{n:02d}-{kind}.json"
        source.write(key, body)
        keys[key] = (kind, expected)
    result = ingest_day(source, warehouse_url, tenant, DAY)  # must not raise

    assert result.unreadable == []
    manifest = {
        key: (read, written, rejected)
        for key, read, written, rejected in query(
            warehouse_url,
            "SELECT key, rows_read, rows_written, rows_rejected "
            "FROM tenant_alpine.ingested_objects WHERE partition_day = %s",
            (DAY,),
        )
    }
    assert set(manifest) == set(keys)
    stored = dict(
        query(
            warehouse_url,
            "SELECT source_key, count(*) FROM tenant_alpine.meter_readings GROUP BY 1",
        )
    )
    rejected = dict(
        query(
            warehouse_url,
            "SELECT source_key, count(*) FROM tenant_alpine.rejected_readings GROUP BY 1",
        )
    )
    for key, (kind, expected) in keys.items():
        read, written, refused = manifest[key]
        assert read == written + refused, key
        assert stored.get(key, 0) == written, key
        assert rejected.get(key, 0) == refused, key
        if kind == "good":
            rows = query(
                warehouse_url,
                "SELECT muid::text, obis, ts, kwh FROM tenant_alpine.meter_readings "
                "WHERE source_key = %s",
                (key,),
            )
            got = {(m, o, t.strftime("%Y-%m-%dT%H:%M:%SZ"), v) for m, o, t, v in rows}
            assert got == set(expected), key
            assert refused == 0, key
        if kind == "hostile":
            assert (written, refused) == (0, 1), key

    after = query(
        warehouse_url,
        "SELECT * FROM tenant_alpine.meter_readings WHERE ts >= '2023-02-02' ORDER BY ts",
    )
    assert after == before

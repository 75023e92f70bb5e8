"""Ingestion of one tenant-day: find the new source objects, then read, validate and store them.

Two steps, matching the two assets. `list_new_objects` lists the day's prefix and keeps the
`*.json` objects whose key and version the manifest has not seen (anything else is reported
as ignored); `withdraw_missing` marks the manifest entries the listing no longer has.
`ingest_objects` reads and parses the new objects, validates the readings and writes
readings, rejections and manifest entries in one transaction per chunk of objects: memory is
bounded by the chunk, and every object is either wholly ingested or not at all.

Nothing one object holds can stop the others: content that cannot be parsed becomes a
rejection of that object. An object that cannot be fetched (the store failed, the object
vanished) is left out of the manifest and named in `IngestResult.unreadable`, so that the
caller can fail the run and a retry reads it again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np
import pandas as pd

from exnaton_pipeline.lib.ingestion.responses import (
    READING_COLUMNS,
    REJECT_COLUMNS,
    ParsedObject,
    parse_response,
    record_json,
    whole_object_rejected,
)
from exnaton_pipeline.lib.ingestion.source import Source, SourceError, SourceObject
from exnaton_pipeline.lib.ingestion.validation import split_valid
from exnaton_pipeline.lib.tenants import Tenant
from exnaton_pipeline.lib.warehouse import database, manifest, tenant_schema, writes

log = logging.getLogger(__name__)

OBJECT_SUFFIX = ".json"
# JSON read and parsed per transaction: a day of 100,000 one-meter objects is ingested in
# chunks instead of holding every parsed record at once.
CHUNK_BYTES = 64 * 2**20


@dataclass
class NewObjects:
    """The objects of one tenant-day to ingest: new keys, or keys in a new version."""

    tenant_id: str
    day: date
    objects: list[SourceObject]  # *.json, oldest delivery first
    listed: int = 0  # every object under the prefix, new or not
    ignored: list[str] = field(default_factory=list)  # not *.json: never read
    misnamed: list[str] = field(default_factory=list)  # names that are not UTF-8, escaped
    # every *.json key listed now, new or not (as the manifest holds it): what is not among
    # them was withdrawn from the source
    current: list[str] = field(default_factory=list, repr=False)


@dataclass(frozen=True)
class IngestResult:
    storage: str
    read: int
    written: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    rules: dict[str, int]
    objects: int
    unreadable: list[str] = field(default_factory=list)  # could not be fetched: not ingested


def day_prefix(tenant: Tenant, day: date) -> str:
    return f"{tenant.source_prefix}/{day.isoformat()}"


def _storable(key: str) -> str | None:
    """`key` if PostgreSQL can store it as text; None for a file name that is not UTF-8."""
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return key


def _escaped(key: str) -> str:
    return key.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def list_new_objects(
    source: Source, database_url: str, tenant: Tenant, day: date, reprocess: bool = False
) -> NewObjects:
    """The `*.json` objects of `tenant`'s `day` not yet ingested in their version (all of them
    with `reprocess`); the other objects are listed as ignored."""
    listed = source.list(day_prefix(tenant, day))
    ignored = [_escaped(o.key) for o in listed if not o.key.endswith(OBJECT_SUFFIX)]
    candidates, misnamed = [], []
    for obj in listed:
        if not obj.key.endswith(OBJECT_SUFFIX):
            continue
        if _storable(obj.key) is None:
            obj = replace(obj, key=_escaped(obj.key))
            misnamed.append(obj.key)
        candidates.append(obj)
    with database.transaction(database_url) as conn:
        todo = candidates if reprocess else writes.new_objects(conn, tenant.schema, candidates)
    return NewObjects(
        tenant.id,
        day,
        todo,
        listed=len(listed),
        ignored=ignored,
        misnamed=[key for key in misnamed if key in {o.key for o in todo}],
        current=[o.key for o in candidates],
    )


def withdraw_missing(database_url: str, tenant: Tenant, new: NewObjects) -> manifest.Withdrawals:
    """Mark the manifest entries of `new`'s day that the source no longer lists as withdrawn,
    and clear the mark of those listed again. Their readings stay stored; the quality checks
    judge only objects that are still delivered."""
    with database.transaction(database_url) as conn:
        tenant_schema.lock_tenant(conn, tenant.schema)
        return manifest.mark_withdrawn(conn, tenant.schema, new.day, new.current)


def late_objects(
    source: Source, database_url: str, tenant: Tenant, days: list[date]
) -> dict[date, list[SourceObject]]:
    """For each of `days`, the `*.json` objects not yet ingested in their version (delivered
    late, corrected, or not fetched when their day ran); days without any are left out.
    A tenant that was never set up has nothing ingested to compare with: its first run is
    the schedule's."""
    with database.transaction(database_url) as conn:
        if not tenant_schema.is_set_up(conn, tenant.schema):
            return {}
    found = {}
    for day in days:
        new = list_new_objects(source, database_url, tenant, day)
        if new.objects:
            found[day] = new.objects
    return found


def ingest_objects(
    source: Source,
    database_url: str,
    tenant: Tenant,
    new: NewObjects,
    run_id: str | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> IngestResult:
    """Read, validate and store `new` objects, one transaction per chunk of objects."""
    totals = _Totals()
    storage = ""
    for chunk in _chunks(new.objects, chunk_bytes):
        batch = _read(source, chunk, set(new.misnamed))
        totals.unreadable += batch.unreadable
        if not batch.done:
            continue
        stored = _store(database_url, tenant, new.day, batch, run_id)
        storage = stored.storage
        totals.add(stored)
    if not storage:  # nothing was written: still say which storage the tenant uses
        with database.transaction(database_url) as conn:
            storage = tenant_schema.readings_storage(conn, tenant.schema)
    return totals.result(storage)


def _chunks(objects: list[SourceObject], limit: int) -> Iterator[list[tuple[int, SourceObject]]]:
    """Objects with their delivery order, in runs of at most `limit` bytes (one at least)."""
    chunk: list[tuple[int, SourceObject]] = []
    size = 0
    for order, obj in enumerate(objects):
        if chunk and size + obj.size > limit:
            yield chunk
            chunk, size = [], 0
        chunk.append((order, obj))
        size += obj.size
    if chunk:
        yield chunk


@dataclass
class _Batch:
    """What a chunk of objects yielded, before validation."""

    done: list[SourceObject] = field(default_factory=list)
    parsed: list[tuple[int, ParsedObject]] = field(default_factory=list)  # delivery order
    rejects: list[dict] = field(default_factory=list)
    records: dict[int, list] = field(default_factory=dict)  # delivery order -> records
    unreadable: list[str] = field(default_factory=list)


def _read(source: Source, chunk: list[tuple[int, SourceObject]], misnamed: set[str]) -> _Batch:
    batch = _Batch()
    for order, obj in chunk:
        if obj.key in misnamed:
            parsed = whole_object_rejected(
                "unreadable_object_name",
                f"the object's name is not valid UTF-8 (shown escaped: {obj.key}); rename it "
                "and it is ingested under the new name",
                b"",
            )
        else:
            try:
                body = source.read(obj.key)
            except SourceError as exc:
                if not exc.transient:  # e.g. access denied: every read fails until fixed
                    raise
                # the store failed, not the object: left out of the manifest, read again later
                log.warning("%s", exc)
                batch.unreadable.append(obj.key)
                continue
            parsed = _parse(obj, body)
        batch.done.append(obj)
        batch.parsed.append((order, parsed))
        batch.records[order] = parsed.records
        batch.rejects.extend(
            {**r, "source_key": obj.key, "source_etag": obj.etag} for r in parsed.rejects
        )
    return batch


def _parse(obj: SourceObject, body: bytes) -> ParsedObject:
    try:
        return parse_response(body)
    except Exception as exc:  # whatever the content does, it must not stop the other objects
        log.exception("parsing %s failed", obj.key)
        return whole_object_rejected(
            "unreadable_object",
            f"the object could not be parsed ({type(exc).__name__}: {exc})",
            body,
        )


def _store(
    database_url: str, tenant: Tenant, day: date, batch: _Batch, run_id: str | None
) -> IngestResult:
    """Validate one chunk and write it: readings, rejections and manifest in one transaction."""
    readings = _readings(batch)
    valid, invalid = split_valid(readings, day, tenant.max_interval_kwh)
    invalid = invalid.assign(
        value_text=invalid["kwh"].map(repr),
        record=[
            record_json(batch.records[order][index])
            for order, index in zip(invalid["source_order"], invalid["record_index"], strict=True)
        ],
    )
    parsed_rejects = pd.DataFrame(
        batch.rejects, columns=[*REJECT_COLUMNS, "source_key", "source_etag"]
    )
    parts = [parsed_rejects, invalid.reindex(columns=parsed_rejects.columns)]
    # concat of empty frames is deprecated in pandas
    parts = [part for part in parts if not part.empty] or parts[:1]
    rejects = pd.concat(parts, ignore_index=True)
    with database.transaction(database_url) as conn:
        tenant_schema.lock_tenant(conn, tenant.schema)
        storage = tenant_schema.readings_storage(conn, tenant.schema)
        if storage == "timescaledb":  # corrections of old days reach compressed chunks
            tenant_schema.lift_decompression_limit(conn)
        result = writes.upsert_readings(conn, tenant.schema, valid, tenant.timezone)
        writes.replace_rejects(conn, tenant.schema, batch.done, rejects)
        writes.record_objects(
            conn,
            tenant.schema,
            day,
            _object_stats(batch.done, readings, parsed_rejects, valid, rejects),
            run_id,
        )
    return IngestResult(
        storage=storage,
        read=len(readings) + len(parsed_rejects),
        written=len(valid),
        inserted=result.inserted,
        updated=result.updated,
        unchanged=result.unchanged,
        rejected=len(rejects),
        rules=rejects["rule"].value_counts().to_dict(),
        objects=len(batch.done),
    )


def _readings(batch: _Batch) -> pd.DataFrame:
    """The chunk's candidate readings in delivery order, with their source object: one frame
    built once, not one per object."""
    counts = [len(parsed.rows) for _, parsed in batch.parsed]  # batch.done, in the same order
    frame = pd.DataFrame.from_records(
        [row for _, parsed in batch.parsed for row in parsed.rows], columns=READING_COLUMNS
    )
    frame["source_key"] = np.repeat([obj.key for obj in batch.done], counts).astype(object)
    frame["source_etag"] = np.repeat([obj.etag for obj in batch.done], counts).astype(object)
    frame["source_order"] = np.repeat([order for order, _ in batch.parsed], counts).astype(int)
    return frame


@dataclass
class _Totals:
    read: int = 0
    written: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    objects: int = 0
    rules: dict[str, int] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)

    def add(self, part: IngestResult) -> None:
        for name in ("read", "written", "inserted", "updated", "unchanged", "rejected", "objects"):
            setattr(self, name, getattr(self, name) + getattr(part, name))
        for rule, count in part.rules.items():
            self.rules[rule] = self.rules.get(rule, 0) + count

    def result(self, storage: str) -> IngestResult:
        return IngestResult(
            storage,
            self.read,
            self.written,
            self.inserted,
            self.updated,
            self.unchanged,
            self.rejected,
            self.rules,
            self.objects,
            self.unreadable,
        )


def _object_stats(
    objects: list[SourceObject],
    readings: pd.DataFrame,
    parsed_rejects: pd.DataFrame,
    valid: pd.DataFrame,
    rejects: pd.DataFrame,
) -> list[dict]:
    # what an object yielded: candidate readings plus records refused while parsing
    read = (
        readings.groupby("source_key")
        .size()
        .add(parsed_rejects.groupby("source_key").size(), fill_value=0)
    )
    written = valid.groupby("source_key").size()
    rejected = rejects.groupby("source_key").size()
    return [
        {
            "object": obj,
            "read": int(read.get(obj.key, 0)),
            "written": int(written.get(obj.key, 0)),
            "rejected": int(rejected.get(obj.key, 0)),
        }
        for obj in objects
    ]

"""Ingestion of one tenant-day: read new source objects, validate, upsert, keep the manifest.

Two steps, matching the two assets: `collect` reads and parses the objects under the day's
prefix that the manifest has not seen in this version; `store` validates the batch and
writes readings, rejections and manifest entries in one transaction, so a failed run leaves
nothing half-done and the next run retries the same objects.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from exnaton_pipeline.lib.ingestion.responses import READING_COLUMNS, REJECT_COLUMNS, parse_response
from exnaton_pipeline.lib.ingestion.source import Source, SourceError, SourceObject
from exnaton_pipeline.lib.ingestion.validation import split_valid
from exnaton_pipeline.lib.tenants import Tenant
from exnaton_pipeline.lib.warehouse import database, tenant_schema, writes

log = logging.getLogger(__name__)


@dataclass
class RawBatch:
    """The parsed content of the new objects of one tenant-day."""

    tenant_id: str
    day: date
    objects: list[SourceObject]
    readings: pd.DataFrame  # parser columns + source_key, source_etag
    rejects: pd.DataFrame  # parse-level rejections + source_key, source_etag
    listed: int = 0  # objects under the prefix, new or not
    unreadable: list[str] = field(default_factory=list)  # keys that could not be fetched


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


def day_prefix(tenant: Tenant, day: date) -> str:
    return f"{tenant.source_prefix}/{day.isoformat()}"


def collect(
    source: Source, database_url: str, tenant: Tenant, day: date, reprocess: bool = False
) -> RawBatch:
    """Read and parse the objects of `tenant`'s `day` that are new (all of them if `reprocess`)."""
    listed = source.list(day_prefix(tenant, day))
    with database.transaction(database_url) as conn:
        todo = listed if reprocess else writes.new_objects(conn, tenant.schema, listed)
    frames, reject_rows, done, unreadable = [], [], [], []
    for order, obj in enumerate(todo):
        try:
            body = source.read(obj.key)
        except SourceError as exc:
            # transient or permission problem: leave it out of the manifest so it is retried
            log.warning("%s", exc)
            unreadable.append(obj.key)
            continue
        parsed = parse_response(body)
        if not parsed.readings.empty:  # concat of empty frames is deprecated in pandas
            frames.append(
                parsed.readings.assign(source_key=obj.key, source_etag=obj.etag, source_order=order)
            )
        reject_rows.extend(
            {**r, "source_key": obj.key, "source_etag": obj.etag} for r in parsed.rejects
        )
        done.append(obj)
    readings = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=[*READING_COLUMNS, "source_key", "source_etag", "source_order"])
    )
    rejects = pd.DataFrame(reject_rows, columns=[*REJECT_COLUMNS, "source_key", "source_etag"])
    return RawBatch(tenant.id, day, done, readings, rejects, len(listed), unreadable)


def store(
    database_url: str, tenant: Tenant, batch: RawBatch, run_id: str | None = None
) -> IngestResult:
    """Validate `batch` and write it; one transaction for readings, rejections and manifest."""
    ordered = batch.readings.sort_values(["source_order", "record_index"], kind="stable")
    valid, invalid = split_valid(ordered, batch.day)
    invalid = invalid.assign(value_text=invalid["kwh"].map(repr), record=None)
    parts = [batch.rejects, invalid.reindex(columns=batch.rejects.columns)]
    # concat of empty frames is deprecated in pandas
    parts = [part for part in parts if not part.empty] or parts[:1]
    rejects = pd.concat(parts, ignore_index=True)
    with database.transaction(database_url) as conn:
        tenant_schema.lock_tenant(conn, tenant.schema)
        storage = tenant_schema.readings_storage(conn, tenant.schema)
        result = writes.upsert_readings(conn, tenant.schema, valid)
        writes.replace_rejects(conn, tenant.schema, batch.objects, rejects)
        writes.record_objects(
            conn, tenant.schema, batch.day, _object_stats(batch, valid, rejects), run_id
        )
    return IngestResult(
        storage=storage,
        read=len(batch.readings) + len(batch.rejects),
        written=len(valid),
        inserted=result.inserted,
        updated=result.updated,
        unchanged=result.unchanged,
        rejected=len(rejects),
        rules=rejects["rule"].value_counts().to_dict(),
        objects=len(batch.objects),
    )


def _object_stats(batch: RawBatch, valid: pd.DataFrame, rejects: pd.DataFrame) -> list[dict]:
    # what an object yielded: candidate readings plus records refused while parsing
    read = (
        batch.readings.groupby("source_key")
        .size()
        .add(batch.rejects.groupby("source_key").size(), fill_value=0)
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
        for obj in batch.objects
    ]

"""Where raw meter objects live: an S3 bucket prefix or a local folder, behind one interface.

Keys are relative to the source root and use `/`:
`<tenant source prefix>/<YYYY-MM-DD>/<name>.json`. Each object has a version tag (S3 ETag,
or the same MD5 content hash locally) so a re-delivery with corrections is recognised as new.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse


class SourceError(RuntimeError):
    """The source cannot be read; the message names the location and the cause."""


@dataclass(frozen=True)
class SourceObject:
    key: str
    etag: str
    size: int
    last_modified: datetime


class Source(Protocol):
    def list(self, prefix: str) -> list[SourceObject]:
        """Objects below `prefix/`, oldest first."""
        ...

    def has_prefix(self, prefix: str) -> bool:
        """Whether anything at all exists below `prefix/` (cheap: one listing entry)."""
        ...

    def read(self, key: str) -> bytes: ...

    def write(self, key: str, body: bytes) -> None: ...

    def describe(self) -> str: ...


# An object being written by LocalSource.write: not an object yet, so not listed.
_PARTIAL_SUFFIX = ".partial"


class LocalSource:
    """A folder on disk laid out like the bucket."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def describe(self) -> str:
        return str(self.root)

    def list(self, prefix: str) -> list[SourceObject]:
        folder = self.root / prefix
        if not folder.is_dir():
            return []
        found = []
        for path in folder.rglob("*"):
            if path.is_file() and not path.name.endswith(_PARTIAL_SUFFIX):
                stat = path.stat()
                found.append(
                    SourceObject(
                        key=path.relative_to(self.root).as_posix(),
                        # the content hash, like S3's ETag: rewriting the same bytes is not new
                        etag=hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest(),
                        size=stat.st_size,
                        last_modified=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
                    )
                )
        return sorted(found, key=lambda o: (o.last_modified, o.key))

    def has_prefix(self, prefix: str) -> bool:
        return (self.root / prefix).is_dir()

    def read(self, key: str) -> bytes:
        try:
            return (self.root / key).read_bytes()
        except OSError as exc:
            raise SourceError(f"cannot read {self.root / key}: {exc}") from exc

    def write(self, key: str, body: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        # write-then-rename so a reader never sees half an object
        tmp = path.with_name(f".{path.name}{_PARTIAL_SUFFIX}")
        tmp.write_bytes(body)
        os.replace(tmp, path)


class S3Source:
    """A bucket prefix, read through a boto3 S3 client (dagster-aws S3Resource in Dagster)."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def _full(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def list(self, prefix: str) -> list[SourceObject]:
        full_prefix = self._full(prefix.strip("/")) + "/"
        found = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full_prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    key = item["Key"][len(self.prefix) + 1 :] if self.prefix else item["Key"]
                    found.append(
                        SourceObject(
                            key, item["ETag"].strip('"'), item["Size"], item["LastModified"]
                        )
                    )
        except Exception as exc:  # botocore raises many unrelated types; name the place
            raise SourceError(f"cannot list s3://{self.bucket}/{full_prefix}: {exc}") from exc
        return sorted(found, key=lambda o: (o.last_modified, o.key))

    def has_prefix(self, prefix: str) -> bool:
        full_prefix = self._full(prefix.strip("/")) + "/"
        try:
            page = self.client.list_objects_v2(Bucket=self.bucket, Prefix=full_prefix, MaxKeys=1)
        except Exception as exc:
            raise SourceError(f"cannot list s3://{self.bucket}/{full_prefix}: {exc}") from exc
        return page.get("KeyCount", 0) > 0

    def read(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._full(key))["Body"].read()
        except Exception as exc:
            raise SourceError(f"cannot read s3://{self.bucket}/{self._full(key)}: {exc}") from exc

    def write(self, key: str, body: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._full(key), Body=body)
        except Exception as exc:
            raise SourceError(f"cannot write s3://{self.bucket}/{self._full(key)}: {exc}") from exc


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/prefix` -> (bucket, prefix)."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise SourceError(f"not an s3://bucket/prefix URL: {url!r}")
    return parsed.netloc, parsed.path.strip("/")


def open_source(url: str, s3_client: Callable[[], Any]) -> Source:
    """The source at `url`: an S3 prefix (client made by `s3_client`) or a local folder."""
    if url.startswith("s3://"):
        bucket, prefix = parse_s3_url(url)
        return S3Source(s3_client(), bucket, prefix)
    return LocalSource(Path(url))

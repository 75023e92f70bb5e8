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

from botocore import exceptions as boto_errors


class SourceError(RuntimeError):
    """The source cannot be read; the message names the location, the cause and, when an
    operator must act, what to fix.

    `transient`: trying again later may succeed (a timeout, throttling, a dropped connection,
    an object replaced while it was read). False when it will fail the same way until someone
    fixes access, the bucket name or the credentials, and for mistakes in the request itself.
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


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
            # replaced or removed while the run read it: the next listing tells
            raise SourceError(f"cannot read {self.root / key}: {exc}", transient=True) from exc

    def write(self, key: str, body: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        # write-then-rename so a reader never sees half an object
        tmp = path.with_name(f".{path.name}{_PARTIAL_SUFFIX}")
        tmp.write_bytes(body)
        os.replace(tmp, path)


class S3Source:
    """A bucket prefix, read through a boto3 S3 client (`s3_client`)."""

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
        except S3_ERRORS as exc:
            raise s3_error(f"list s3://{self.bucket}/{full_prefix}", exc) from exc
        return sorted(found, key=lambda o: (o.last_modified, o.key))

    def has_prefix(self, prefix: str) -> bool:
        full_prefix = self._full(prefix.strip("/")) + "/"
        try:
            page = self.client.list_objects_v2(Bucket=self.bucket, Prefix=full_prefix, MaxKeys=1)
        except S3_ERRORS as exc:
            raise s3_error(f"list s3://{self.bucket}/{full_prefix}", exc) from exc
        return page.get("KeyCount", 0) > 0

    def read(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._full(key))["Body"].read()
        except S3_ERRORS as exc:
            raise s3_error(f"read s3://{self.bucket}/{self._full(key)}", exc) from exc

    def write(self, key: str, body: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._full(key), Body=body)
        except S3_ERRORS as exc:
            raise s3_error(f"write s3://{self.bucket}/{self._full(key)}", exc) from exc


S3_ERRORS = (boto_errors.BotoCoreError, boto_errors.ClientError)

# Error codes that fail the same way until an operator acts, with what to check.
_S3_FIXES = {
    "AccessDenied": "the AWS identity may not do this: grant it s3:ListBucket and s3:GetObject "
    "(s3:PutObject to write) on the bucket",
    "AllAccessDisabled": "all access to the bucket is disabled: ask its owner",
    "NoSuchBucket": "the bucket does not exist: check the bucket in EXNATON_SOURCE_URL "
    "(and AWS_ENDPOINT_URL for an S3-compatible store)",
    "InvalidBucketName": "check the bucket in EXNATON_SOURCE_URL",
    "InvalidAccessKeyId": "the access key is not known to the store: check AWS_ACCESS_KEY_ID "
    "(and AWS_ENDPOINT_URL)",
    "SignatureDoesNotMatch": "the secret key does not belong to the access key: check "
    "AWS_SECRET_ACCESS_KEY",
    "ExpiredToken": "the session credentials have expired: renew AWS_SESSION_TOKEN",
}
# Errors the store answers that heal: throttling, its own trouble, and an object that changed
# between listing and reading (the retry lists again).
_S3_TRANSIENT_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "InternalError",
    "ServiceUnavailable",
    "NoSuchKey",
}


def s3_error(action: str, exc: boto_errors.BotoCoreError | boto_errors.ClientError) -> SourceError:
    """`exc` of an S3 call as a SourceError that says whether it heals and, if not, the fix."""
    message = f"cannot {action}: {exc}"
    if isinstance(exc, boto_errors.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in _S3_FIXES:
            return SourceError(f"{message} -- {_S3_FIXES[code]}")
        return SourceError(
            message, transient=code in _S3_TRANSIENT_CODES or status in (429, 500, 502, 503, 504)
        )
    if isinstance(exc, boto_errors.NoCredentialsError):
        return SourceError(
            f"{message} -- set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or "
            "give the host an IAM role)"
        )
    # no answer in time, a refused or dropped connection: the endpoint may be back soon
    unanswered = (boto_errors.ConnectionError, boto_errors.HTTPClientError)
    return SourceError(message, transient=isinstance(exc, unanswered))


def s3_client(
    endpoint_url: str | None,
    *,
    connect_timeout: float,
    read_timeout: float,
    max_attempts: int,
    region_name: str | None = None,
    profile_name: str | None = None,
) -> Any:
    """A boto3 S3 client that gives up on a silent endpoint.

    Without timeouts botocore waits 60 s for each answer, so a store that accepts connections
    and never replies stalls a step for minutes. `max_attempts` counts the first call;
    botocore's standard mode retries throttling, 5xx answers and dropped connections with
    backoff. Credentials come from the usual AWS variables, profile or role.
    """
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"total_max_attempts": max_attempts, "mode": "standard"},
    )
    session = boto3.session.Session(profile_name=profile_name)
    return session.client("s3", endpoint_url=endpoint_url, region_name=region_name, config=config)


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

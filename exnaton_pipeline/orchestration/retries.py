"""Retry with backoff for transient trouble only; a bad file or a bug fails at once."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import psycopg2
import sqlalchemy.exc

from exnaton_pipeline.lib.ingestion.source import SourceError

MAX_RETRIES = 3
FIRST_WAIT_SECONDS = 5

TRANSIENT = (psycopg2.OperationalError, sqlalchemy.exc.OperationalError, SourceError)


@contextmanager
def transient_retries(context: dg.AssetExecutionContext) -> Iterator[None]:
    """Turn connection errors of S3 or the database into a retry, waiting 5 s, 10 s, 20 s."""
    try:
        yield
    except TRANSIENT as exc:
        wait = FIRST_WAIT_SECONDS * 2**context.retry_number
        context.log.warning(f"transient error, retry {context.retry_number + 1} in {wait} s: {exc}")
        raise dg.RetryRequested(max_retries=MAX_RETRIES, seconds_to_wait=wait) from exc

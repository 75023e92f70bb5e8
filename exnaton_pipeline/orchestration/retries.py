"""Which step failures Dagster retries: transient S3 and database trouble only.

`TRANSIENT_RETRY` is declared on every tenant-day asset and on the quality checks; Dagster
waits about 5 s, 15 s, 35 s (exponential backoff with jitter, so that the tenants' runs do not
retry in step). `retry_only_transient` decides what reaches it: an error that will fail the
same way again -- access denied, a missing bucket or database, wrong credentials -- fails the
step at once with what to fix, and so does a bug or bad data.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from exnaton_pipeline.lib.ingestion.source import SourceError
from exnaton_pipeline.lib.warehouse import database

TRANSIENT_RETRY = dg.RetryPolicy(
    max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


@contextmanager
def retry_only_transient() -> Iterator[None]:
    """Let transient errors through to the step's retry policy; fail anything else for good."""
    try:
        yield
    except (dg.Failure, dg.RetryRequested):
        raise
    except SourceError as exc:
        if exc.transient:
            raise
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    except Exception as exc:
        if database.is_transient_error(exc):
            raise
        fix = database.connection_fix(exc)
        if fix:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            raise dg.Failure(
                description=f"the warehouse refused the connection: {reason} -- {fix}",
                allow_retries=False,
            ) from exc
        # a bug or bad data: the same input fails the same way, a retry would only add noise
        raise dg.Failure(
            description=f"{type(exc).__name__}: {exc} (not retried: not a transient error)",
            allow_retries=False,
        ) from exc

import logging
from types import SimpleNamespace

import dagster as dg
import psycopg2
import pytest

from exnaton_pipeline.lib.ingestion.source import SourceError
from exnaton_pipeline.orchestration.retries import transient_retries


def step(retry_number: int) -> SimpleNamespace:
    """The two things transient_retries reads from an asset's context."""
    return SimpleNamespace(retry_number=retry_number, log=logging.getLogger("test"))


@pytest.mark.parametrize(
    "error", [SourceError("cannot list s3://b/p/: refused"), psycopg2.OperationalError("down")]
)
@pytest.mark.parametrize(("retry_number", "wait"), [(0, 5), (1, 10), (2, 20)])
def test_connection_trouble_becomes_a_retry_with_backoff(error, retry_number, wait, caplog):
    with pytest.raises(dg.RetryRequested) as retry, transient_retries(step(retry_number)):
        raise error
    assert (retry.value.max_retries, retry.value.seconds_to_wait) == (3, wait)
    assert f"retry {retry_number + 1} in {wait} s: {error}" in caplog.text


def test_other_errors_fail_at_once():
    with pytest.raises(ValueError), transient_retries(step(0)):
        raise ValueError("a bug")

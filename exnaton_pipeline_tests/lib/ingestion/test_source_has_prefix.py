"""`has_prefix` tells a tenant prefix that does not exist at all from an empty day folder."""

import boto3
import pytest

from exnaton_pipeline.lib.ingestion.source import S3Source, SourceError


def test_local_source(local_source):
    local_source.write("live/2024-01-10/batch-1200.json", b"{}")
    assert local_source.has_prefix("live")
    assert not local_source.has_prefix("livee")
    assert local_source.list("live/2024-01-11") == []  # a missing day is only empty


def test_s3_source(s3_bucket, s3_endpoint):
    source = S3Source(boto3.client("s3", endpoint_url=s3_endpoint), s3_bucket, "meters")
    source.write("live/2024-01-10/batch-1200.json", b"{}")
    assert source.has_prefix("live")
    assert not source.has_prefix("liv")  # a key prefix, not a folder: must not match "live/"
    assert not S3Source(source.client, s3_bucket, "other").has_prefix("live")


def test_s3_source_without_bucket_names_the_place(s3_endpoint):
    source = S3Source(boto3.client("s3", endpoint_url=s3_endpoint), "no-such-bucket", "meters")
    with pytest.raises(SourceError, match="cannot list s3://no-such-bucket/meters/live/"):
        source.has_prefix("live")

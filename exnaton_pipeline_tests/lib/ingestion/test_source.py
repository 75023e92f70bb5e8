import os
import time

import boto3
import pytest

from exnaton_pipeline import cli
from exnaton_pipeline.lib.ingestion.source import (
    LocalSource,
    S3Source,
    SourceError,
    open_source,
    parse_s3_url,
)
from exnaton_pipeline.orchestration.resources import S3ClientResource, SourceResource
from exnaton_pipeline_tests.conftest import free_port
from exnaton_pipeline_tests.endpoints import SilentEndpoint


def test_local_source_lists_objects_under_a_day_oldest_first(local_source):
    local_source.write("demo/2023-02-01/b.json", b"{}")
    local_source.write("demo/2023-02-01/a.json", b"{}")
    local_source.write("demo/2023-02-01/batch/c.json", b"{}")
    local_source.write("demo/2023-02-02/a.json", b"{}")
    local_source.write("demo/2023-02-010/x.json", b"{}")
    local_source.write("demo/2023-02-01/.hidden.json", b"{}")
    for n, name in enumerate(["b.json", "a.json", "batch/c.json", ".hidden.json"]):
        os.utime(local_source.root / "demo/2023-02-01" / name, (1_000 + n, 1_000 + n))
    # what LocalSource.write leaves while it writes is not an object yet
    (local_source.root / "demo/2023-02-01/.a.json.partial").write_bytes(b"partial")

    listed = local_source.list("demo/2023-02-01")
    assert [o.key for o in listed] == [
        "demo/2023-02-01/b.json",
        "demo/2023-02-01/a.json",
        "demo/2023-02-01/batch/c.json",
        "demo/2023-02-01/.hidden.json",  # a name like any other: listed, not skipped
    ]
    assert listed[0].size == 2
    assert local_source.read("demo/2023-02-01/a.json") == b"{}"
    assert local_source.list("demo/2023-03-01") == []


def test_local_rewrite_changes_the_version_tag(local_source):
    local_source.write("demo/2023-02-01/a.json", b'{"data": []}')
    os.utime(local_source.root / "demo/2023-02-01/a.json", (1_000, 1_000))
    (before,) = local_source.list("demo/2023-02-01")
    local_source.write("demo/2023-02-01/a.json", b'{"data": [1]}')
    (after,) = local_source.list("demo/2023-02-01")
    assert after.etag != before.etag


def test_local_missing_object_names_the_path(local_source):
    with pytest.raises(SourceError, match=r"cannot read .*demo/nope\.json"):
        local_source.read("demo/nope.json")


def test_s3_source_round_trip_below_a_prefix(s3_endpoint, s3_bucket):
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    source = S3Source(client, s3_bucket, "/raw/")
    assert source.describe() == f"s3://{s3_bucket}/raw"
    source.write("demo/2023-02-01/a.json", b'{"data": []}')
    source.write("demo/2023-02-01/b.json", b'{"data": [1]}')
    source.write("demo/2023-02-011/c.json", b"{}")
    client.put_object(Bucket=s3_bucket, Key="elsewhere/demo/2023-02-01/x.json", Body=b"{}")

    listed = source.list("demo/2023-02-01")
    assert [o.key for o in listed] == ["demo/2023-02-01/a.json", "demo/2023-02-01/b.json"]
    assert [o.size for o in listed] == [12, 13]
    assert source.read("demo/2023-02-01/b.json") == b'{"data": [1]}'
    # the object sits under the prefix in the bucket
    assert client.head_object(Bucket=s3_bucket, Key="raw/demo/2023-02-01/a.json")["ContentLength"]

    source.write("demo/2023-02-01/a.json", b'{"data": [2]}')
    etags = {o.key: o.etag for o in source.list("demo/2023-02-01")}
    assert etags["demo/2023-02-01/a.json"] != listed[0].etag
    assert etags["demo/2023-02-01/b.json"] == listed[1].etag


def test_s3_source_through_the_dagster_resource(s3_endpoint, s3_bucket):
    resource = SourceResource(
        source_url=f"s3://{s3_bucket}/raw", s3=S3ClientResource(endpoint_url=s3_endpoint)
    )
    source = resource.get_source()
    source.write("demo/2023-02-01/a.json", b"{}")
    assert [o.key for o in source.list("demo/2023-02-01")] == ["demo/2023-02-01/a.json"]


def test_missing_object_and_bucket_are_clear_errors(s3_endpoint, s3_bucket):
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    with pytest.raises(SourceError) as err:
        S3Source(client, s3_bucket, "raw").read("demo/2023-02-01/none.json")
    assert f"cannot read s3://{s3_bucket}/raw/demo/2023-02-01/none.json" in str(err.value)
    assert "NoSuchKey" in str(err.value)
    assert err.value.transient  # listed, then gone: the retry lists again
    with pytest.raises(SourceError) as err:
        S3Source(client, "no-such-bucket", "raw").list("demo/2023-02-01")
    assert "cannot list s3://no-such-bucket/raw/demo/2023-02-01/" in str(err.value)
    assert "NoSuchBucket" in str(err.value)
    assert str(err.value).endswith(
        " -- the bucket does not exist: check the bucket in EXNATON_SOURCE_URL "
        "(and AWS_ENDPOINT_URL for an S3-compatible store)"
    )
    assert not err.value.transient


@pytest.mark.timeout(60)
def test_an_endpoint_that_never_answers_gives_up_after_its_timeouts():
    """Issue 9: a store that accepts connections and never answers must not stall a step."""
    with SilentEndpoint() as silent:
        resource = SourceResource(
            source_url="s3://meters/raw",
            s3=S3ClientResource(endpoint_url=silent.url, read_timeout=1.0, max_attempts=2),
        )
        started = time.monotonic()
        with pytest.raises(SourceError) as err:
            resource.get_source().list("demo/2023-02-01")
        waited = time.monotonic() - started
        assert silent.accepted == 2  # two attempts, each given up after one second
    assert 2.0 <= waited < 8.0
    assert str(err.value).startswith(
        "cannot list s3://meters/raw/demo/2023-02-01/: "
        f'Read timeout on endpoint URL: "{silent.url}/'
    )
    assert err.value.transient


def test_s3_timeouts_and_attempts_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("EXNATON_S3_CONNECT_TIMEOUT", "2.5")
    monkeypatch.setenv("EXNATON_S3_READ_TIMEOUT", "7")
    monkeypatch.setenv("EXNATON_S3_MAX_ATTEMPTS", "4")
    client = cli._s3_client()
    assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (2.5, 7)
    assert client.meta.config.retries == {"total_max_attempts": 4, "mode": "standard"}
    monkeypatch.delenv("EXNATON_S3_READ_TIMEOUT")
    assert cli._s3_client().meta.config.read_timeout == 20  # the default


@pytest.mark.timeout(60)
def test_unreachable_endpoint_is_a_source_error():
    endpoint = f"http://127.0.0.1:{free_port()}"
    resource = SourceResource(
        source_url="s3://meters/raw", s3=S3ClientResource(endpoint_url=endpoint, max_attempts=1)
    )
    with pytest.raises(SourceError) as err:
        resource.get_source().list("demo/2023-02-01")
    assert str(err.value).startswith("cannot list s3://meters/raw/demo/2023-02-01/:")
    assert f'Could not connect to the endpoint URL: "{endpoint}/' in str(err.value)


def test_open_source_picks_the_kind_by_url(tmp_path):
    local = open_source(str(tmp_path), s3_client=lambda: pytest.fail("no S3 for a folder"))
    assert isinstance(local, LocalSource)
    remote = open_source("s3://meters/raw/eu", s3_client=lambda: "client")
    assert isinstance(remote, S3Source)
    assert (remote.bucket, remote.prefix, remote.client) == ("meters", "raw/eu", "client")


@pytest.mark.parametrize("url", ["s3://", "s3:///prefix", "http://meters/raw"])
def test_bad_s3_url_is_refused(url):
    with pytest.raises(SourceError, match="not an s3://bucket/prefix URL"):
        parse_s3_url(url)


def test_bucket_without_prefix():
    assert parse_s3_url("s3://meters") == ("meters", "")

"""S3 against moto's server: single and multipart uploads, ETag checked against the file."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from pbx_bridge.delivery.naming import CallFacts
from pbx_bridge.delivery.queue import submit
from tests.delivery.conftest import Env, secret_file

FACTS = CallFacts("Recording", "12025550123", "Alice", "12025559876",
                  datetime(2025, 5, 7, 10, 57, 38, tzinfo=UTC))


@pytest.fixture
def bucket(s3_server: str) -> str:
    name = f"rec-{__import__('uuid').uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test").create_bucket(Bucket=name)
    return name


@pytest.mark.parametrize("size", [300_000, 20 << 20], ids=["single", "multipart"])
def test_recording_lands_under_its_pattern_name(
        size: int, s3_server: str, bucket: str, make_env: Callable[..., Env],
        recording: Callable[..., Path], tmp_path: Path) -> None:
    env = make_env(f"""
        - name: s3
          type: s3
          endpoint_url: {s3_server}
          bucket: {bucket}
          prefix: "%{{call_year}}/%{{call_month}}/%{{call_day}}/"
          access_key: {secret_file(tmp_path, "s3k", "test")}
          secret_key: {secret_file(tmp_path, "s3s", "test")}
          file_name: "%{{service_name}}-%{{src_number}}-%{{call_time}}.wav"
        """)
    source = recording(size)
    data = source.read_bytes()
    job = submit(env.store, env.config, source, ["s3"], FACTS)[0]
    env.run_until_idle()
    done = env.store.job(job.id)
    assert done is not None and done.state == "delivered", done
    key = "2025/05/07/Recording-12025550123-2025-05-07 06-57-38.wav"
    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [key]
    attempt = env.store.attempts(job.id)[-1]
    assert attempt.remote_hash.startswith("etag:")
    assert attempt.remote_hash.endswith("-3") == (size > 8 << 20)

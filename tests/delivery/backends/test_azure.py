"""Azure Blob against Azurite: block upload, Content-MD5 recorded and compared."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from azure.storage.blob import BlobServiceClient

from pbx_bridge.delivery.naming import CallFacts
from pbx_bridge.delivery.queue import submit
from tests.delivery.conftest import Env, secret_file

FACTS = CallFacts("Recording", "12025550123", "Alice", "12025559876",
                  datetime(2025, 5, 7, 10, 57, 38, tzinfo=UTC))


def test_recording_lands_under_its_pattern_name(
        azure_server: str, make_env: Callable[..., Env], recording: Callable[..., Path],
        tmp_path: Path) -> None:
    service = BlobServiceClient.from_connection_string(azure_server)
    service.create_container("recordings")
    env = make_env(f"""
        - name: azure
          type: azure_blob
          connection_string: {secret_file(tmp_path, "azure", azure_server)}
          container: recordings
          prefix: "%{{call_year}}"
          file_name: "%{{call_time}}-%{{src_number}}.wav"
        """)
    source = recording(9 << 20)  # three 4 MiB blocks
    data = source.read_bytes()
    job = submit(env.store, env.config, source, ["azure"], FACTS)[0]
    env.run_until_idle()
    done = env.store.job(job.id)
    assert done is not None and done.state == "delivered", done
    blob = service.get_blob_client("recordings", "2025/2025-05-07 06-57-38-12025550123.wav")
    assert blob.download_blob().readall() == data
    assert env.store.attempts(job.id)[-1].remote_hash.startswith("md5:")

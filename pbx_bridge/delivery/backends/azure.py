"""Azure Blob Storage (azure-storage-blob): block upload, committed in one Put Block List.

Uncommitted blocks are invisible, so the blob appears whole or not at all. Errors are mapped on
HTTP status and error code, not exception class: Azurite and Azure raise different classes
for the same refusal.
"""

from __future__ import annotations

import base64
from typing import Any

from azure.core.exceptions import AzureError, HttpResponseError
from azure.storage.blob import BlobServiceClient, ContentSettings

from pbx_bridge.config.delivery_model import AzureBlobDelivery
from pbx_bridge.delivery.backends.base import (
    Backend,
    LocalFile,
    Receipt,
    Refused,
    TemporaryFailure,
    secret,
)
from pbx_bridge.delivery.naming import CallFacts

BLOCK_SIZE = 4 << 20


class AzureBlobBackend(Backend):
    concurrency = 4
    kind = "azure_blob"
    method: AzureBlobDelivery

    def _blob(self, name: str) -> Any:
        m = self.method
        service = BlobServiceClient.from_connection_string(
            secret(m.connection_string, f"{m.name}.connection_string"),
            max_single_put_size=BLOCK_SIZE, max_block_size=BLOCK_SIZE,
            # The worker owns retries and back-off; keep the SDK's short.
            retry_total=1, connection_timeout=10, read_timeout=60)
        return service.get_blob_client(m.container, name)

    def _fail(self, exc: Exception) -> TemporaryFailure | Refused:
        if isinstance(exc, HttpResponseError) and exc.status_code is not None:
            code = exc.error_code or ""
            headers = exc.response.headers if exc.response is not None else {}
            retry_after = _seconds(headers.get("Retry-After"))
            text = f"{self.method.container}: {exc.status_code} {code}"
            if exc.status_code == 413 or code in ("RequestBodyTooLarge", "InvalidBlobOrBlock"):
                return Refused(text)
            return TemporaryFailure(text, retry_after=retry_after,
                                    auth="misconfigured" if exc.status_code in (401, 403)
                                    else None)
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return TemporaryFailure(f"{self.method.container}: {first_line}")

    def upload(self, file: LocalFile, remote_name: str, facts: CallFacts, tag: str) -> Receipt:
        name = remote_name.lstrip("/")
        md5 = bytes.fromhex(file.md5)
        try:
            blob = self._blob(name)
            with file.path.open("rb") as fh:
                blob.upload_blob(fh, length=file.size, overwrite=True, max_concurrency=2,
                                 content_settings=ContentSettings(content_type=file.content_type,
                                                                  content_md5=bytearray(md5)),
                                 metadata={"sha256": file.sha256})
            props = blob.get_blob_properties()
        except AzureError as exc:
            raise self._fail(exc) from None
        stored = props.content_settings.content_md5
        stored_hex = bytes(stored).hex() if stored else ""
        return Receipt(name, int(props.size), f"md5:{stored_hex}" if stored_hex else "",
                       (stored_hex == file.md5) if stored_hex else None)

    def test(self, file: LocalFile, remote_name: str) -> str:
        receipt = self.upload(file, remote_name, CallFacts(), "test")
        try:
            blob = self._blob(receipt.remote_name)
            data = blob.download_blob().readall()
            blob.delete_blob()
        except AzureError as exc:
            raise self._fail(exc) from None
        if data != file.path.read_bytes():
            raise TemporaryFailure(f"{receipt.remote_name}: read back different bytes")
        return (f"wrote {self.method.container}/{receipt.remote_name} ({receipt.size} bytes, "
                f"md5 {base64.b64encode(bytes.fromhex(file.md5)).decode()}), read it back, "
                "removed it")


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None

"""S3 and S3-compatible stores (MinIO, ...), boto3; multipart above 8 MiB.

An S3 object appears only when its upload completes (a multipart one on CompleteMultipartUpload),
so the final key is written directly: nobody can see half a file.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Any

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from pbx_bridge.config.delivery_model import DeliveryMethod, S3Delivery
from pbx_bridge.config.model import Config
from pbx_bridge.delivery.backends.base import (
    Backend,
    LocalFile,
    Receipt,
    Refused,
    TemporaryFailure,
    in_background,
    secret,
)
from pbx_bridge.delivery.naming import CallFacts

PART_SIZE = 8 << 20
_AUTH_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied",
               "ExpiredToken", "InvalidToken"}
_REFUSED_CODES = {"EntityTooLarge", "InvalidObjectName", "KeyTooLongError"}


def expected_etag(path: Any, size: int, md5_hex: str, part_size: int = PART_SIZE) -> str:
    """S3's ETag for an unencrypted upload: the MD5, or for multipart the MD5 of the parts'
    MD5s followed by `-<parts>`."""
    if size < part_size:
        return md5_hex
    digests = []
    with open(path, "rb") as fh:
        while block := fh.read(part_size):
            digests.append(hashlib.md5(block, usedforsecurity=False).digest())
    combined = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()
    return f"{combined}-{len(digests)}"


def _client_error(exc: BaseException) -> ClientError | None:
    while exc is not None:
        if isinstance(exc, ClientError):
            return exc
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return None


class S3Backend(Backend):
    concurrency = 4
    kind = "s3"
    method: S3Delivery

    def __init__(self, method: DeliveryMethod, config: Config) -> None:
        super().__init__(method, config)
        self._lock = threading.Lock()
        self._cached: tuple[tuple[str, str], Any] | None = None

    def _client(self) -> Any:
        """One client per set of credentials, shared by the upload threads (boto3 clients are
        thread-safe; making one costs 20-50 ms of CPU, more than uploading a small file).
        The secrets are resolved each time, so a changed key takes effect at the next upload."""
        m = self.method
        keys = (secret(m.access_key, f"{m.name}.access_key"),
                secret(m.secret_key, f"{m.name}.secret_key"))
        with self._lock:
            if self._cached is None or self._cached[0] != keys:
                self._cached = (keys, self._new_client(*keys))
            return self._cached[1]

    def _new_client(self, access_key: str, secret_key: str) -> Any:
        m = self.method
        return boto3.session.Session().client(
            "s3", endpoint_url=m.endpoint_url or None, region_name=m.region or "us-east-1",
            aws_access_key_id=access_key or None, aws_secret_access_key=secret_key or None,
            # Our worker owns retries and back-off; boto's own stay short so a dead endpoint
            # is reported quickly. Path-style addressing is what MinIO and friends expect.
            config=BotoConfig(retries={"max_attempts": 2, "mode": "standard"},
                              connect_timeout=10, read_timeout=60,
                              s3={"addressing_style": "path"} if m.endpoint_url else {}))

    def _fail(self, exc: BaseException) -> TemporaryFailure | Refused:
        err = _client_error(exc)
        if err is None:
            return TemporaryFailure(f"{self.method.bucket}: {exc}")
        code = err.response.get("Error", {}).get("Code", "")
        headers = err.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        retry_after = _seconds(headers.get("retry-after"))
        text = f"{self.method.bucket}: {code}: {err.response.get('Error', {}).get('Message', '')}"
        if code in _REFUSED_CODES:
            return Refused(text)
        return TemporaryFailure(text, retry_after=retry_after,
                                auth="misconfigured" if code in _AUTH_CODES else None)

    def upload(self, file: LocalFile, remote_name: str, facts: CallFacts, tag: str) -> Receipt:
        key = remote_name.lstrip("/")
        client = self._client()
        bucket = self.method.bucket
        extra = {"ContentType": file.content_type, "Metadata": {"sha256": file.sha256}}
        if file.size < PART_SIZE:
            # One PutObject: its ETag is the MD5 of what the server stored, so when it matches
            # the file the bytes (and so the size) are ours, and no HEAD is needed.
            try:
                with file.path.open("rb") as body:
                    put = client.put_object(Bucket=bucket, Key=key, Body=body, **extra)
            except (ClientError, BotoCoreError) as exc:
                raise self._fail(exc) from None
            except OSError as exc:
                raise TemporaryFailure(f"{file.path}: reading: {exc.strerror or exc}") from None
            etag = str(put.get("ETag", "")).strip('"')
            if etag == file.md5:
                return Receipt(key, file.size, f"etag:{etag}", True)
            return self._receipt(client, key, lambda: file.md5)
        # The parts' MD5s (for the multipart ETag) are computed while the parts go up.
        parts = in_background(expected_etag, file.path, file.size, "")
        try:
            client.upload_file(
                str(file.path), bucket, key, ExtraArgs=extra,
                Config=TransferConfig(multipart_threshold=PART_SIZE, multipart_chunksize=PART_SIZE,
                                      max_concurrency=4))
        except (ClientError, S3UploadFailedError, BotoCoreError) as exc:
            raise self._fail(exc) from None
        return self._receipt(client, key, parts.result)

    def _receipt(self, client: Any, key: str, expected: Callable[[], str]) -> Receipt:
        """What the server holds under `key`, its ETag compared with the file's."""
        try:
            head = client.head_object(Bucket=self.method.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc) from None
        etag = str(head.get("ETag", "")).strip('"')
        try:
            wanted = expected()
        except OSError as exc:
            raise TemporaryFailure(f"reading the file: {exc.strerror or exc}") from None
        # An ETag is an MD5 only for plain (not KMS-encrypted) objects; compare when the shape
        # matches, else record it without a verdict.
        comparable = "-" in etag or len(etag) == 32
        return Receipt(key, int(head.get("ContentLength", -1)), f"etag:{etag}",
                       (etag == wanted) if comparable else None)

    def test(self, file: LocalFile, remote_name: str) -> str:
        receipt = self.upload(file, remote_name, CallFacts(), "test")
        try:
            self._client().delete_object(Bucket=self.method.bucket, Key=receipt.remote_name)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc) from None
        if receipt.hash_matches is False:
            raise TemporaryFailure(f"{receipt.remote_name}: ETag does not match the file")
        return (f"wrote s3://{self.method.bucket}/{receipt.remote_name} ({receipt.size} bytes, "
                f"{receipt.remote_hash}), checked it, removed it")


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None

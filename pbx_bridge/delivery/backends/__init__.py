"""One module per backend, chosen by the delivery method's `type`. Client libraries are imported
only when a method of that type is used, so a bridge that only mails never loads boto3."""

from __future__ import annotations

from pbx_bridge.config.delivery_model import DeliveryMethod
from pbx_bridge.config.model import Config
from pbx_bridge.delivery.backends.base import (
    Backend,
    DeliveryError,
    LocalFile,
    NotYetSupported,
    Receipt,
    Refused,
    TemporaryFailure,
)

__all__ = ["Backend", "DeliveryError", "LocalFile", "NotYetSupported", "Receipt", "Refused",
           "TemporaryFailure", "backend_for"]


def backend_for(method: DeliveryMethod, config: Config) -> Backend:
    kind = method.type
    if kind == "local":
        from pbx_bridge.delivery.backends.local import LocalBackend
        return LocalBackend(method, config)
    if kind == "email":
        from pbx_bridge.delivery.backends.email import EmailBackend
        return EmailBackend(method, config)
    if kind == "ftp":
        from pbx_bridge.delivery.backends.ftp import FtpBackend
        return FtpBackend(method, config)
    if kind == "sftp":
        from pbx_bridge.delivery.backends.sftp import SftpBackend
        return SftpBackend(method, config)
    if kind == "s3":
        from pbx_bridge.delivery.backends.s3 import S3Backend
        return S3Backend(method, config)
    if kind == "azure_blob":
        from pbx_bridge.delivery.backends.azure import AzureBlobBackend
        return AzureBlobBackend(method, config)
    # dropbox, google_drive, onedrive: the interface is ready, the OAuth flows are not.
    return NotYetSupported(method, config)

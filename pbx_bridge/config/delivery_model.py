"""Delivery methods as typed objects: where finished files (recordings, voicemails...) go."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from pbx_bridge.config.secrets import Secret
from pbx_bridge.config.source import Where

DEFAULT_FILE_NAME = "%{service_name}-%{src_number}-%{dst_number}-%{call_time}"

# The dynamic fields a pattern may use (CONTRACT.md).
DYNAMIC_FIELDS: tuple[str, ...] = (
    "src_number", "src_name", "dst_number", "service_name", "call_time",
    "call_year", "call_month", "call_day", "call_hour",
)


@dataclass(frozen=True)
class DeliveryMethod:
    where: Where
    lines: Mapping[str, Where] = field(compare=False, repr=False)
    name: str = ""
    type: str = ""
    file_name: str = DEFAULT_FILE_NAME
    fallback: str = ""

    # Keys holding patterns with dynamic fields, for the pattern rule.
    PATTERN_KEYS: ClassVar[tuple[str, ...]] = ("file_name",)
    OAUTH_PROVIDER: ClassVar[str] = ""

    def at(self, key: str) -> Where:
        return self.lines.get(key, self.where)

    def patterns(self) -> list[tuple[str, str]]:
        return [(key, getattr(self, key)) for key in self.PATTERN_KEYS if getattr(self, key)]

    def secrets(self) -> list[Secret]:
        return [v for v in vars(self).values() if isinstance(v, Secret)]


@dataclass(frozen=True)
class _Retrying(DeliveryMethod):
    # Read like any type-specific key (parse_delivery reads every field not on the base class).
    # `retry: "1m..6h for 4d"`: exponential back-off from 1 minute, capped at 6 hours, giving up
    # after 4 days; empty means the delivery worker's default.
    retry: str = ""


@dataclass(frozen=True)
class LocalDelivery(_Retrying):
    directory: str = ""
    PATTERN_KEYS = ("file_name", "directory")


@dataclass(frozen=True)
class EmailDelivery(_Retrying):
    emails: tuple[str, ...] = ()
    subject: str = "%{service_name} from %{src_number}"
    message: str = ""
    PATTERN_KEYS = ("file_name", "subject", "message")


@dataclass(frozen=True)
class FtpDelivery(_Retrying):
    host: str = ""
    port: int = 21
    directory: str = "/"
    passive_mode: bool = True
    anonymous: bool = False
    username: str = ""
    password: Secret | None = None
    tls: bool = False
    PATTERN_KEYS = ("file_name", "directory")


@dataclass(frozen=True)
class SftpDelivery(_Retrying):
    host: str = ""
    port: int = 22
    directory: str = "."
    username: str = ""
    password: Secret | None = None
    private_key: Secret | None = None
    known_hosts: str = ""
    accept_unknown_host_key: bool = False
    PATTERN_KEYS = ("file_name", "directory")


@dataclass(frozen=True)
class S3Delivery(_Retrying):
    endpoint_url: str = ""
    region: str = ""
    bucket: str = ""
    prefix: str = ""
    access_key: Secret | None = None
    secret_key: Secret | None = None
    PATTERN_KEYS = ("file_name", "prefix")


@dataclass(frozen=True)
class AzureBlobDelivery(_Retrying):
    connection_string: Secret | None = None
    container: str = ""
    prefix: str = ""
    PATTERN_KEYS = ("file_name", "prefix")


@dataclass(frozen=True)
class DropboxDelivery(_Retrying):
    directory: str = ""
    PATTERN_KEYS = ("file_name", "directory")
    OAUTH_PROVIDER = "dropbox"


@dataclass(frozen=True)
class GoogleDriveDelivery(_Retrying):
    directory: str = ""
    PATTERN_KEYS = ("file_name", "directory")
    OAUTH_PROVIDER = "google"


@dataclass(frozen=True)
class OneDriveDelivery(_Retrying):
    folder: str = ""
    PATTERN_KEYS = ("file_name", "folder")
    OAUTH_PROVIDER = "microsoft"


DELIVERY_TYPES: dict[str, type[DeliveryMethod]] = {
    "local": LocalDelivery,
    "email": EmailDelivery,
    "ftp": FtpDelivery,
    "sftp": SftpDelivery,
    "s3": S3Delivery,
    "azure_blob": AzureBlobDelivery,
    "dropbox": DropboxDelivery,
    "google_drive": GoogleDriveDelivery,
    "onedrive": OneDriveDelivery,
}

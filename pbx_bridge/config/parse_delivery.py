"""Reading `delivery_methods` and `sms`."""

from __future__ import annotations

import dataclasses
from typing import Any

from pbx_bridge.config.delivery_model import DEFAULT_FILE_NAME, DELIVERY_TYPES, DeliveryMethod
from pbx_bridge.config.model import SmsRoute
from pbx_bridge.config.parse_system import lines
from pbx_bridge.config.reader import Section
from pbx_bridge.config.secrets import Secret

_REQUIRED = {
    "local": ("directory",),
    "email": ("emails",),
    "ftp": ("host",),
    "sftp": ("host", "username"),
    "s3": ("bucket",),
    "azure_blob": ("connection_string", "container"),
}
_BASE_FIELDS = {f.name for f in dataclasses.fields(DeliveryMethod)}


def _read_field(s: Section, field: dataclasses.Field[Any], required: bool) -> Any:
    key, default = field.name, field.default
    annotation = str(field.type)
    if "Secret" in annotation:
        return s.secret(key, required=required)
    if annotation.startswith("tuple"):
        return tuple(v for v, _ in s.texts(key, required=required))
    if annotation == "bool":
        return s.boolean(key, bool(default))
    if annotation == "int":
        return s.integer(key, int(default), low=1, high=65535)  # ports
    return s.text(key, str(default), required=required)


def read_delivery_method(s: Section) -> DeliveryMethod | None:
    name = s.text("name", required=True, what="the delivery method's name")
    type_ = s.choice("type", DELIVERY_TYPES, required=True)
    if not type_:
        s.done([key for key in s.data])  # the type is wrong: other keys can't be judged
        return None
    cls = DELIVERY_TYPES[type_]
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if field.name in _BASE_FIELDS:
            continue
        values[field.name] = _read_field(s, field, field.name in _REQUIRED.get(type_, ()))
    method = cls(s.where, lines(s), name, type_,
                 s.text("file_name", DEFAULT_FILE_NAME, what="a file-name pattern"),
                 s.text("fallback", what="another delivery method's name"), **values)
    if type_ == "sftp" and not (values["password"] or values["private_key"]):
        s.error("password", "an SFTP delivery method needs a password or a private_key")
    if type_ == "ftp" and not values["anonymous"] and not values["username"]:
        s.error("username", "an FTP delivery method needs a username, or anonymous: true")
    if type_ == "s3" and bool(values["access_key"]) != bool(values["secret_key"]):
        s.error("secret_key", "give both access_key and secret_key, or neither")
    s.done()
    return method


def read_delivery_methods(root: Section) -> tuple[DeliveryMethod, ...]:
    methods = (read_delivery_method(s) for s in root.sections("delivery_methods"))
    return tuple(m for m in methods if m is not None)


SMS_TYPES = ("device", "email", "url", "forward", "none")


def read_sms(root: Section) -> tuple[SmsRoute, ...]:
    routes = []
    for s in root.sections("sms", label="number"):
        number = s.number("number", required=True)
        r = s.section("receive", required=True)
        type_ = r.choice("type", SMS_TYPES, "none")
        value = r.text("value", numeric=True, required=type_ != "none",
                       what={"device": "a contact method name", "email": "an email address",
                             "url": "an http(s) URL", "forward": "a phone number"}.get(type_, ""))
        if type_ == "url" and value and not value.startswith(("http://", "https://")):
            r.error("value", f"{value!r} is not an http:// or https:// URL")
        if type_ == "forward" and value and not value.lstrip("+").isdigit():
            r.error("value", f"{value!r} is not a phone number")
        password: Secret | None = r.secret("password")
        routes.append(SmsRoute(s.where, {**lines(s), **{f"receive.{k}": w for k, w in
                                                       lines(r).items()}},
                               number, type_, value.lstrip("+") if type_ == "forward"  # type: ignore[arg-type]
                               else value, r.text("username"), password))
        r.done()
        s.done()
    return tuple(routes)

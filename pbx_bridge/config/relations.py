"""Relations: what uses an object. Deleting an object is refused while anything does."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pbx_bridge.config.delivery_model import EmailDelivery
from pbx_bridge.config.model import Config
from pbx_bridge.config.source import Where

KINDS = {
    "delivery-method": "delivery method",
    "contact-method": "contact method",
    "schedule": "time schedule",
    "time-schedule": "time schedule",
    "audio-file": "audio file",
    "module": "module",
    "user": "user",
    "email": "email contact method",
}


@dataclass(frozen=True)
class Use:
    where: Where
    user: str  # the object that uses it, in an operator's words
    key: str  # the key holding the reference


class UnknownObject(LookupError):
    pass


def canonical_kind(kind: str) -> str:
    key = kind.lower().replace("_", "-").rstrip("s")
    if key not in KINDS:
        raise UnknownObject(f"unknown kind {kind!r}; use one of: {', '.join(KINDS)}")
    return key


def _exists(config: Config, kind: str, name: str) -> bool:
    if kind == "module":
        return any(_module_matches(flow.name, m, name) for flow in config.call_flows
                   for m in flow.modules)
    lookup = {
        "delivery-method": config.delivery_method, "contact-method": config.contact_method,
        "schedule": config.schedule, "time-schedule": config.schedule,
        "audio-file": config.audio_file, "user": config.user, "email": config.email,
    }[kind]
    return lookup(name) is not None


def _module_matches(flow: str, module: str, name: str) -> bool:
    """A module is named `FLOW/MODULE`, or just `MODULE` when that is unambiguous enough."""
    return name in (module, f"{flow}/{module}")


def relations(config: Config, kind: str, name: str) -> list[Use]:
    """Every use of the object, in file order; UnknownObject when it does not exist."""
    kind = canonical_kind(kind)
    if not _exists(config, kind, name):
        raise UnknownObject(f"no {KINDS[kind]} named {name!r}")
    finder = {
        "delivery-method": _delivery_method_uses, "contact-method": _contact_method_uses,
        "schedule": _schedule_uses, "time-schedule": _schedule_uses,
        "audio-file": _audio_file_uses, "module": _module_uses,
        "user": _user_uses, "email": _email_uses,
    }[kind]
    return sorted(finder(config, name), key=lambda use: (use.where.line, use.user))


def _delivery_method_uses(config: Config, name: str) -> Iterator[Use]:
    for cm in config.contact_methods:
        if name in cm.recording.delivery_methods:
            yield Use(cm.recording.at("delivery_methods"), f"contact method {cm.name}",
                      "recording.delivery_methods")
        if name in cm.when_unavailable.delivery_methods:
            yield Use(cm.when_unavailable.at("delivery_methods"), f"contact method {cm.name}",
                      "when_unavailable.delivery_methods")
    for flow in config.call_flows:
        for m in flow.modules.values():
            if name in m.delivery_methods:
                yield Use(m.at("delivery_methods"),
                          f"call flow {flow.name}, module {m.name} ({m.type})", "delivery_methods")
    for method in config.delivery_methods:
        if method.fallback == name:
            yield Use(method.at("fallback"), f"delivery method {method.name}", "fallback")


def _contact_method_uses(config: Config, name: str) -> Iterator[Use]:
    for flow in config.call_flows:
        for m in flow.modules.values():
            if name in m.destinations:
                key = "members" if m.type == "queue" else "destinations"
                yield Use(m.at(key), f"call flow {flow.name}, module {m.name} ({m.type})", key)
    for route in config.sms:
        if route.type == "device" and route.value == name:
            yield Use(route.at("receive.value"), f"sms route of {route.number}", "receive")


def _schedule_uses(config: Config, name: str) -> Iterator[Use]:
    for user in config.users:
        if user.time_schedule == name:
            yield Use(user.at("time_schedule"), f"user {user.name}", "time_schedule")
    for flow in config.call_flows:
        for m in flow.modules.values():
            if m.schedule == name:
                yield Use(m.at("schedule"), f"call flow {flow.name}, module {m.name} ({m.type})",
                          "schedule")


def _audio_file_uses(config: Config, name: str) -> Iterator[Use]:
    for cm in config.contact_methods:
        if cm.when_unavailable.greeting == name:
            yield Use(cm.when_unavailable.at("greeting"), f"contact method {cm.name}",
                      "when_unavailable.greeting")
    for flow in config.call_flows:
        for m in flow.modules.values():
            if m.greeting == name:
                yield Use(m.at("greeting"), f"call flow {flow.name}, module {m.name} ({m.type})",
                          "greeting")


def _module_uses(config: Config, name: str) -> Iterator[Use]:
    for flow in config.call_flows:
        for target in flow.modules:
            if not _module_matches(flow.name, target, name):
                continue
            if flow.start == target:
                yield Use(flow.at("start"), f"call flow {flow.name}", "start")
            for m in flow.modules.values():
                for key, exit_to in m.exits():
                    if exit_to == target:
                        yield Use(m.at(key.split(".")[0]),
                                  f"call flow {flow.name}, module {m.name} ({m.type})", key)


def _user_uses(config: Config, name: str) -> Iterator[Use]:
    user = config.user(name)
    if user is not None and user.app_configuration is not None:
        yield from _contact_method_uses(config, name)


def _email_uses(config: Config, address: str) -> Iterator[Use]:
    wanted = address.lower()
    for method in config.delivery_methods:
        if isinstance(method, EmailDelivery) and wanted in (e.lower() for e in method.emails):
            yield Use(method.at("emails"), f"delivery method {method.name}", "emails")
    for route in config.sms:
        if route.type == "email" and route.value.lower() == wanted:
            yield Use(route.at("receive.value"), f"sms route of {route.number}", "receive")

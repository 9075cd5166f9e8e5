"""Rules about names: unique names, references that exist, loops, patterns, email targets."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator

from pbx_bridge.config.delivery_model import DYNAMIC_FIELDS, EmailDelivery
from pbx_bridge.config.model import INSTANT_MODULE_TYPES, CallFlow, Config
from pbx_bridge.config.problems import Problem
from pbx_bridge.config.source import Where

_FIELD = re.compile(r"%\{([^}]*)\}")


def _unique(kind: str, items: Iterable[tuple[str, Where]]) -> Iterator[Problem]:
    seen: dict[str, Where] = {}
    for name, where in items:
        if not name:
            continue
        if name in seen:
            yield Problem(where, f"{kind} name {name!r} is already used at line "
                          f"{seen[name].line}; names must be unique")
        else:
            seen[name] = where


def unique_names(config: Config) -> Iterator[Problem]:
    yield from _unique("contact method", ((c.name, c.where) for c in config.contact_methods))
    yield from _unique("delivery method", ((d.name, d.where) for d in config.delivery_methods))
    yield from _unique("time schedule", ((s.name, s.where) for s in config.time_schedules))
    yield from _unique("audio file", ((a.name, a.where) for a in config.audio_files))
    yield from _unique("user", ((u.name, u.where) for u in config.users))
    yield from _unique("call flow", ((f.name, f.where) for f in config.call_flows))
    yield from _unique("trunk", ((t.name, t.where) for t in config.trunks))
    yield from _unique("SIP username", ((c.username, c.at("username"))
                                        for c in config.sip_accounts))


KNOWN_LISTED = 8


def _known_hint(name: str, known: set[str]) -> str:
    """The names there are, when few; the closest ones when there are thousands."""
    names = sorted(filter(None, known))
    if len(names) <= KNOWN_LISTED:
        return f"known: {', '.join(names) or 'none'}"
    close = difflib.get_close_matches(name, names, n=3)
    return (f"did you mean {' or '.join(repr(n) for n in close)}? " if close else "") + \
        f"{len(names)} are defined"


class _Refs:
    """Checks that a named thing exists, with one message shape for every kind."""

    def __init__(self, config: Config) -> None:
        self.kinds = {
            "contact method": {c.name for c in config.contact_methods},
            "delivery method": {d.name for d in config.delivery_methods},
            "time schedule": {s.name for s in config.time_schedules},
            "audio file": {a.name for a in config.audio_files},
            "email contact method": {e.address.lower() for e in config.emails},
        }
        self.users_without_app = {u.name for u in config.users if not u.app_configuration}

    def check(self, kind: str, names: Iterable[str], where: Where, owner: str) -> Iterator[Problem]:
        known = self.kinds[kind]
        for name in names:
            if not name or (name.lower() if kind.startswith("email") else name) in known:
                continue
            if kind == "contact method" and name in self.users_without_app:
                yield Problem(where, f"{owner}: user {name!r} has no app_configuration, so "
                              "there is nothing of theirs to ring; add one to the user, or "
                              "name a contact method")
            else:
                yield Problem(where, f"{owner}: no {kind} named {name!r}; define it, or fix "
                              f"the name ({_known_hint(name, known)})")


def references(config: Config) -> Iterator[Problem]:
    refs = _Refs(config)
    for cm in config.contact_methods:
        owner = f"contact method {cm.name}"
        yield from refs.check("delivery method", cm.recording.delivery_methods,
                              cm.recording.at("delivery_methods"), f"{owner}: recording")
        wu = cm.when_unavailable
        yield from refs.check("audio file", [wu.greeting], wu.at("greeting"),
                              f"{owner}: when_unavailable")
        yield from refs.check("delivery method", wu.delivery_methods,
                              wu.at("delivery_methods"), f"{owner}: when_unavailable")
    for user in config.users:
        yield from refs.check("time schedule", [user.time_schedule], user.at("time_schedule"),
                              f"user {user.name}")
    for flow in config.call_flows:
        yield from _flow_references(flow, refs)
    for method in config.delivery_methods:
        if method.fallback == method.name:
            yield Problem(method.at("fallback"), f"delivery method {method.name}: fallback "
                          "cannot be the method itself")
        yield from refs.check("delivery method", [method.fallback], method.at("fallback"),
                              f"delivery method {method.name}: fallback")
    yield from _fallback_loops(config)
    for route in config.sms:
        where, owner = route.at("receive.value"), f"sms {route.number}"
        if route.type == "device":
            yield from refs.check("contact method", [route.value], where, owner)
        elif route.type == "email":
            yield from refs.check("email contact method", [route.value], where, owner)


def _flow_references(flow: CallFlow, refs: _Refs) -> Iterator[Problem]:
    if flow.start and flow.start not in flow.modules:
        yield Problem(flow.at("start"), f"call flow {flow.name}: start: no module named "
                      f"{flow.start!r} in its modules; add it, or start with one of: "
                      f"{', '.join(flow.modules) or 'none yet'}")
    for module in flow.modules.values():
        owner = f"call flow {flow.name}, module {module.name}"
        for key, target in module.exits():
            if target not in flow.modules:
                where = module.at(key.split(".")[0])
                yield Problem(where, f"{owner}: {key}: no module named {target!r} in this "
                              f"call flow; add it, or use one of: {', '.join(flow.modules)}")
        key = "members" if module.type == "queue" else "destinations"
        yield from refs.check("contact method", module.destinations, module.at(key), owner)
        yield from refs.check("delivery method", module.delivery_methods,
                              module.at("delivery_methods"), owner)
        yield from refs.check("time schedule", [module.schedule], module.at("schedule"), owner)
        yield from refs.check("audio file", [module.greeting], module.at("greeting"), owner)


def instant_loops(config: Config) -> Iterator[Problem]:
    """A loop made only of modules that take no time would spin the PBX forever."""
    for flow in config.call_flows:
        instant = {n for n, m in flow.modules.items() if m.type in INSTANT_MODULE_TYPES}
        reported: set[frozenset[str]] = set()
        for start in sorted(instant, key=lambda n: flow.modules[n].where.line):
            stack: list[tuple[str, list[str]]] = [(start, [start])]
            while stack:
                name, path = stack.pop()
                for key, target in flow.modules[name].exits():
                    if target == start:
                        loop = frozenset(path)
                        if loop not in reported:
                            reported.add(loop)
                            chain = " -> ".join([*path, start])
                            yield Problem(flow.modules[name].at(key.split(".")[0]),
                                          f"call flow {flow.name}: {chain} loops without the "
                                          "call waiting anywhere (time routers, call recorders "
                                          "and notifications take no time); route it to a "
                                          "module that rings, plays or records")
                    elif target in instant and target not in path:
                        stack.append((target, [*path, target]))


def patterns(config: Config) -> Iterator[Problem]:
    allowed = ", ".join(f"%{{{f}}}" for f in DYNAMIC_FIELDS)
    places: list[tuple[str, str, Where]] = []
    for method in config.delivery_methods:
        places += [(f"delivery method {method.name}: {key}", value, method.at(key))
                   for key, value in method.patterns()]
    for flow in config.call_flows:
        places += [(f"call flow {flow.name}, module {m.name}: message", m.message, m.at("message"))
                   for m in flow.modules.values() if m.message]
    for owner, value, where in places:
        for name in _FIELD.findall(value):
            if name not in DYNAMIC_FIELDS:
                yield Problem(where, f"{owner}: unknown dynamic field %{{{name}}}; use one of "
                              f"{allowed}")
        if "%{" in _FIELD.sub("", value):
            yield Problem(where, f"{owner}: '%{{' without a closing '}}'; close the field "
                          "(like %{src_number}), or remove the '%{'")


def email_targets(config: Config) -> Iterator[Problem]:
    for method in config.delivery_methods:
        if not isinstance(method, EmailDelivery):
            continue
        for address in method.emails:
            email = config.email(address)
            if email is None:
                yield Problem(method.at("emails"), f"delivery method {method.name}: {address} "
                              "is not an email contact method; add it under "
                              "contact_methods.emails and verify it")
            elif not email.verified:
                yield Problem(method.at("emails"), f"delivery method {method.name}: {address} "
                              f"is not verified (line {email.where.line}); an email delivery "
                              "method only sends to verified addresses: verify it first, or "
                              "remove it from emails")


def trunk_needed(config: Config) -> Iterator[Problem]:
    if config.trunks:
        return
    for cm in config.contact_methods:
        if cm.kind == "pstn_forwarding" or cm.external_outbound_calls:
            key = "number" if cm.kind == "pstn_forwarding" else "external_outbound_calls"
            yield Problem(cm.at(key), f"contact method {cm.name} calls the PSTN, but no "
                          "`trunks` are defined; add the carrier trunk")


def _fallback_loops(config: Config) -> Iterator[Problem]:
    """A fallback chain that comes back to itself would hand a refused file round forever."""
    fallback = {m.name: m.fallback for m in config.delivery_methods if m.fallback}
    reported: set[frozenset[str]] = set()
    for method in config.delivery_methods:  # in file order: a loop is reported at its first
        if method.fallback == method.name:
            continue  # reported above, in the product's own words
        chain, name = [method.name], fallback.get(method.name)
        while name and name not in chain:
            chain.append(name)
            name = fallback.get(name)
        if name != method.name or frozenset(chain) in reported:
            continue
        reported.add(frozenset(chain))
        yield Problem(method.at("fallback"), f"delivery method {method.name}: the fallback "
                      f"chain {' -> '.join([*chain, method.name])} loops; end it with a "
                      "method that has no fallback")

"""Rules about numbers: internal numbers, DIDs, caller IDs, feature codes."""

from __future__ import annotations

from collections.abc import Iterator

from pbx_bridge.config.model import Config, ContactMethod
from pbx_bridge.config.problems import Problem
from pbx_bridge.config.source import Where


def _label(cm: ContactMethod) -> str:
    return {
        "sip_account": "SIP account",
        "app_configuration": "app configuration of user",
        "pstn_forwarding": "PSTN forwarding",
        "sip_forwarding": "SIP forwarding",
    }[cm.kind] + f" {cm.name}"


_INTERNAL = ("internal_number", "internal_numbers")
_DID = ("did_number", "did_numbers")


def _in_file_order(config: Config) -> list[ContactMethod]:
    """Contact methods as the operator reads them: the first written wins, later ones clash."""
    return sorted(config.contact_methods, key=lambda cm: cm.where)


def internal_numbers(config: Config) -> Iterator[Problem]:
    seen: dict[str, tuple[ContactMethod, Where]] = {}
    for cm in _in_file_order(config):
        for number in cm.internal_numbers:
            key, where = cm.number_at(_INTERNAL, number)
            if not (number.isdigit() and 1 <= len(number) <= 4):
                yield Problem(where, f"{_label(cm)}: {key} {number!r} must be 1 to 4 digits; "
                              "pick a shorter number")
            elif number in seen:
                other, other_where = seen[number]
                yield Problem(where, f"{_label(cm)}: {key} {number} is already used by "
                              f"{_label(other)} (line {other_where.line}); internal numbers "
                              "are unique across the whole system, pick another")
            else:
                seen[number] = (cm, where)


def dids(config: Config) -> Iterator[Problem]:
    listed = set(config.numbers)
    flow_numbers: dict[str, tuple[str, Where]] = {}
    for flow in config.call_flows:
        for number in flow.numbers:
            where = flow.at("number") if number == flow.number else flow.at("numbers")
            if number in flow_numbers:
                other_name, other_where = flow_numbers[number]
                yield Problem(where, f"call flow {flow.name}: number {number} already starts "
                              f"call flow {other_name} (line {other_where.line})")
            else:
                flow_numbers[number] = (flow.name, where)
    direct: dict[str, tuple[ContactMethod, Where]] = {}
    for cm in _in_file_order(config):
        for number in cm.did_numbers:
            key, where = cm.number_at(_DID, number)
            if number in flow_numbers:
                flow_name, flow_where = flow_numbers[number]
                yield Problem(where, f"{_label(cm)}: {key} {number} is also the number of call "
                              f"flow {flow_name} (line {flow_where.line}); a DID either rings "
                              "one contact method directly or starts a call flow, not both")
            elif number in direct:
                other, other_where = direct[number]
                yield Problem(where, f"{_label(cm)}: {key} {number} is already assigned to "
                              f"{_label(other)} (line {other_where.line}); a DID rings one "
                              "contact method, remove it from one of them")
            else:
                direct[number] = (cm, where)
    # Every DID used anywhere must belong to the system.
    used: list[tuple[str, Where, str]] = []
    for cm in config.contact_methods:
        for number in cm.did_numbers:
            key, where = cm.number_at(_DID, number)
            used.append((number, where, f"{_label(cm)}: {key}"))
        used += [(n, cm.number_at(("caller_ids",), n)[1], f"{_label(cm)}: caller_ids")
                 for n in cm.caller_ids]
    for flow in config.call_flows:
        for n in flow.numbers:
            key = "number" if n == flow.number else "numbers"
            used.append((n, flow.at(key), f"call flow {flow.name}: {key}"))
    used += [(r.number, r.at("number"), "sms: number") for r in config.sms]
    for number, where, what in used:
        if number and number not in listed:
            yield Problem(where, f"{what} {number} is not listed under `numbers`; add it "
                          "there (every DID used must belong to this system)")


def caller_ids(config: Config) -> Iterator[Problem]:
    for cm in config.contact_methods:
        if cm.caller_ids and not cm.external_outbound_calls:
            yield Problem(cm.at("caller_ids"), f"{_label(cm)}: caller_ids are only allowed with "
                          "external_outbound_calls: true; set it, or remove caller_ids")


def feature_codes(config: Config) -> Iterator[Problem]:
    codes = config.feature_codes.as_dict()
    items = sorted(codes.items(), key=lambda kv: config.feature_codes.at(kv[0]).line)
    for index, (key, code) in enumerate(items):
        for other_key, other in items[:index]:
            if not code or not other:
                continue
            where = config.feature_codes.at(key)
            if code == other:
                yield Problem(where, f"feature_codes.{key}: {code!r} is also {other_key}; "
                              "feature codes must be distinct")
            elif code.startswith(other) or other.startswith(code):
                short, long_ = sorted((code, other), key=len)
                yield Problem(where, f"feature_codes.{key}: {code!r} and {other_key} {other!r} "
                              f"overlap ({short!r} is a prefix of {long_!r}), so the longer "
                              "one could never be dialled; pick codes where none starts another")

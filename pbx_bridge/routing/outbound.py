"""Calls a contact method makes: internal, or out through the trunk. Pure.

Caller IDs: an internal call shows the internal caller ID; an external call shows one of the
contact method's `caller_ids`. A phone may ask for one (its asserted identity); asking for
anything else is refused, as is any external call when `external_outbound_calls` is off.
"""

from __future__ import annotations

from dataclasses import dataclass

from pbx_bridge.config.model import Config, ContactMethod
from pbx_bridge.routing.resolve import normalise


@dataclass(frozen=True)
class OutboundCall:
    allowed: bool
    reason: str
    number: str = ""  # the digits to send to the trunk
    trunk: str = ""  # the trunk's endpoint
    caller_id: str = ""


def internal_caller_id(cm: ContactMethod) -> str:
    return cm.internal_caller_id or (cm.internal_numbers[0] if cm.internal_numbers else "")


def display_name(config: Config, cm: ContactMethod) -> str:
    user = config.user(cm.user) if cm.user else None
    return user.display_name if user else cm.name


def is_ours(config: Config, number: str) -> bool:
    """A number answered inside this system (internal number, DID, call flow number)."""
    number = normalise(number)
    return bool(config.contact_method_for_internal(number) or config.call_flow_for(number)
                or config.contact_method_for_did(number))


def is_did(config: Config, number: str) -> bool:
    """A number the outside world may call: a direct DID or a call flow's number."""
    number = normalise(number)
    return bool(config.call_flow_for(number) or config.contact_method_for_did(number))


def outbound(config: Config, cm: ContactMethod, dialled: str, requested: str,
             device: str = "") -> OutboundCall:
    """May `cm` call `dialled` (not a number of this system) out through the trunk, and with
    which caller ID? `requested` is the caller ID the phone asked for (untrusted); its own
    names (`device`: the PBX's name for it) and internal numbers ask for none."""
    number = normalise(dialled)
    if not number.isdigit():
        return OutboundCall(False, f"{dialled!r} is not a number")
    if not cm.external_outbound_calls:
        return OutboundCall(False, f"{cm.name} may not make external calls "
                                   "(external_outbound_calls is false)")
    if not config.trunks:
        return OutboundCall(False, "no trunk is configured for external calls")
    allowed = cm.caller_ids or cm.did_numbers
    if not allowed:
        return OutboundCall(False, f"{cm.name} has no caller ID for external calls "
                                   "(caller_ids is empty)")
    asked = normalise(requested)
    own = {cm.username, cm.name, device, *cm.internal_numbers, cm.internal_caller_id} - {""}
    if not asked or asked in own or requested in own:
        caller_id = allowed[0]
    elif asked in allowed:
        caller_id = asked
    else:
        return OutboundCall(False, f"caller ID {_shown(requested)} is not allowed for "
                                   f"{cm.name} (allowed: {', '.join(allowed)})")
    trunk = config.trunks[0].endpoint
    return OutboundCall(True, f"{cm.name} calls {number} through {trunk} as {caller_id}",
                        number, trunk, caller_id)


def _shown(text: str) -> str:
    """Caller text for a log line: short, printable."""
    return repr("".join(ch for ch in text[:40] if ch.isprintable()))

"""Transfers: who may transfer a call, and to which numbers. Pure: config objects in, a verdict
with its reason out. The PBX adapters use it twice: to render the numbers a transferer's digits
are checked against before the call moves (so a bad number never loses the caller), and again
when the transferred call is routed.

The rule (issue 5):
- only a contact method with `allow_call_transfer` may transfer, and only a SIP account, an app
  configuration or a PSTN forwarding (the kinds whose leg can send DTMF to the PBX);
- a target is a number of this system (internal number, DID, call flow number), routed like any
  call to it; or an E.164 number (8 to 15 digits, no '+': the transferer types digits) that the
  transferer may call out through the trunk (`external_outbound_calls`, a caller ID), placed
  with the transferer's caller ID, as if the transferer had called it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pbx_bridge.config.model import Config, ContactMethod
from pbx_bridge.routing.outbound import OutboundCall, is_ours, outbound
from pbx_bridge.routing.resolve import normalise

TRANSFER_KINDS = ("sip_account", "app_configuration", "pstn_forwarding")
E164_DIGITS = range(8, 16)  # lengths of an external number typed as a transfer target


@dataclass(frozen=True)
class TransferVerdict:
    allowed: bool
    reason: str
    internal: bool = False  # a number of this system: route it like any call to it
    out: OutboundCall | None = None  # an external number: the call through the trunk


def may_transfer(cm: ContactMethod | None) -> bool:
    return cm is not None and cm.allow_call_transfer and cm.kind in TRANSFER_KINDS


def internal_targets(config: Config) -> tuple[str, ...]:
    """Every number of this system a call can be transferred to, sorted."""
    numbers: set[str] = set()
    for cm in config.contact_methods:
        numbers.update(cm.internal_numbers)
        numbers.update(normalise(n) for n in cm.did_numbers)
    numbers.update(normalise(flow.number) for flow in config.call_flows)
    return tuple(sorted(n for n in numbers if n.isdigit()))


def may_call_out(config: Config, cm: ContactMethod) -> bool:
    """Whether `cm`'s transfers may leave through the trunk at all."""
    return bool(config.trunks) and cm.external_outbound_calls and bool(
        cm.caller_ids or cm.did_numbers)


def transfer(config: Config, cm: ContactMethod | None, number: str) -> TransferVerdict:
    """May `cm` transfer a call to `number` (the digits typed), and how is it placed?"""
    if cm is None:
        return TransferVerdict(False, "the transferer is not a contact method of this system")
    if not may_transfer(cm):
        return TransferVerdict(False, f"{cm.name} may not transfer calls "
                                      "(allow_call_transfer is false)")
    if not number.isdigit():
        return TransferVerdict(False, f"{number[:20]!r} is not a number")
    if is_ours(config, number):
        return TransferVerdict(True, f"{cm.name} transfers the call to {number}",
                               internal=True)
    if len(number) not in E164_DIGITS:
        return TransferVerdict(False, f"{number} is neither a number of this system nor an "
                                      "E.164 number")
    verdict = outbound(config, cm, number, "")
    if not verdict.allowed:
        return TransferVerdict(False, f"transfer to {number}: {verdict.reason}")
    return TransferVerdict(True, f"{cm.name} transfers the call out: {verdict.reason}",
                           out=verdict)

"""Reading `users` (with their app configurations) and `contact_methods`."""

from __future__ import annotations

from typing import Any

from pbx_bridge.config.model import (
    ContactKind,
    ContactMethod,
    EmailAddress,
    Recording,
    User,
    WhenUnavailable,
)
from pbx_bridge.config.parse_system import lines
from pbx_bridge.config.reader import Section
from pbx_bridge.config.source import Where

CONTACT_LISTS: dict[str, ContactKind] = {
    "sip_accounts": "sip_account",
    "pstn_forwardings": "pstn_forwarding",
    "sip_forwardings": "sip_forwarding",
}


def names(section: Section, key: str) -> tuple[str, ...]:
    return tuple(value for value, _ in section.texts(key))


def read_recording(s: Section) -> Recording:
    rec = Recording(s.where, lines(s), names(s, "delivery_methods"),
                    *(s.boolean(flag, False) for flag in Recording.FLAGS),
                    s.boolean("on_demand", False))
    s.done()
    return rec


def read_when_unavailable(s: Section) -> WhenUnavailable:
    action = s.choice("action", ("nothing", "voicemail"), "nothing")
    greeting = s.text("greeting", what="an audio file name")
    if greeting and action != "voicemail":
        s.error("greeting", "a greeting is only played with `action: voicemail`")
    wu = WhenUnavailable(s.where, lines(s), action, greeting,  # type: ignore[arg-type]
                         names(s, "delivery_methods"))
    s.done()
    return wu


def _located(found: dict[tuple[str, str], Where], key: str,
             items: tuple[tuple[str, Where], ...]) -> tuple[str, ...]:
    """The values of `items`, remembering in `found` where each one is written."""
    for value, where in items:
        found.setdefault((key, value), where)
    return tuple(value for value, _ in items)


def _internal_numbers(s: Section, found: dict[tuple[str, str], Where]) -> tuple[str, ...]:
    return tuple(number for key in ("internal_number", "internal_numbers")
                 for number in _located(found, key, s.texts(key, what="internal numbers",
                                                                numeric=True)))


def _dids(s: Section, found: dict[tuple[str, str], Where]) -> tuple[str, ...]:
    return tuple(number for key in ("did_number", "did_numbers")
                 for number in _located(found, key, s.numbers(key)))


def read_contact_method(s: Section, kind: ContactKind, name: str, user: str = "") -> ContactMethod:
    fields: dict[str, Any] = {}
    if kind == "sip_account":
        fields["username"] = s.text("username", required=True, what="the SIP user name")
        fields["password"] = s.secret("password", required=True)
    elif kind == "pstn_forwarding":
        fields["number"] = s.number("number", required=True)
    elif kind == "sip_forwarding":
        uri = s.text("uri", required=True, what="a SIP URI like sip:user@host")
        if uri and not uri.startswith(("sip:", "sips:")):
            s.error("uri", f"{uri!r} is not a SIP URI; write it like sip:user@host")
        fields["uri"] = uri
    ring_time = s.integer("ring_time", 0, low=5, high=600, unit="seconds") or None
    item_lines: dict[tuple[str, str], Where] = {}
    cm = ContactMethod(
        s.where, lines(s), kind, name, user,
        internal_numbers=_internal_numbers(s, item_lines),
        did_numbers=_dids(s, item_lines),
        when_unavailable=read_when_unavailable(s.section("when_unavailable")),
        external_outbound_calls=s.boolean("external_outbound_calls", False),
        caller_ids=_located(item_lines, "caller_ids", s.numbers("caller_ids")),
        internal_caller_id=s.text("internal_caller_id", numeric=True),
        allow_call_transfer=s.boolean("allow_call_transfer", False),
        recording=read_recording(s.section("recording")),
        ring_time=ring_time,
        item_lines=item_lines,
        **fields,
    )
    s.done(("name",))
    return cm


def read_users(root: Section) -> tuple[User, ...]:
    users = []
    for u in root.sections("users"):
        name = u.text("name", required=True, what="the user's name")
        app = None
        if u.has("app_configuration"):
            app = read_contact_method(u.section("app_configuration"), "app_configuration",
                                      name, user=name)
        users.append(User(u.where, lines(u), name, u.text("first_name"), u.text("last_name"),
                          u.text("department"), u.text("job_title"), u.text("email"),
                          u.text("time_schedule", what="a time schedule name"), app))
        u.done()
    return tuple(users)


def read_contact_methods(s: Section) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, kind in CONTACT_LISTS.items():
        methods = []
        for c in s.sections(key):
            name = c.text("name", required=True, what="the contact method's name")
            methods.append(read_contact_method(c, kind, name))
        out[key] = tuple(methods)
    emails = []
    for e in s.sections("emails", label="address"):
        address = e.text("address", required=True, what="an email address")
        if address and ("@" not in address or any(ch in address for ch in " \r\n,;<>")):
            e.error("address", f"{address!r} is not an email address")
        emails.append(EmailAddress(e.where, lines(e), address, e.boolean("verified", False)))
        e.done()
    out["emails"] = tuple(emails)
    s.done()
    return out

"""Names the generated Asterisk files and the AGI router must agree on. Pure.

Config names are operator text (any characters); Asterisk section names, queue names, file
names and dial strings are not. Each name here is a slug of the config name, with a short hash
when the slug had to change it, so two different names never meet.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from pbx_bridge.config.model import AudioFile, CallFlow, Config, ContactMethod, Module

PREFIX = "pbx-bridge"
SIP_FORWARD_ENDPOINT = f"{PREFIX}-forward"  # carries SIP forwardings to their URI
# What Asterisk accepts, unquoted, in a section name, a dial string and a file name.
SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
# A SIP URI that can sit in a dial string: no separators Dial or the dialplan would split on.
SAFE_URI = re.compile(r"^sips?:[A-Za-z0-9._~+=;!$'*%@:\[\]-]+$")


def slug(text: str) -> str:
    """`text` if it is already safe, else a lower-case slug plus 6 hex digits of its hash."""
    if SAFE.match(text):
        return text
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "x"
    return f"{base}-{hashlib.sha256(text.encode()).hexdigest()[:6]}"


def endpoint(cm: ContactMethod) -> str:
    """The PJSIP endpoint (and auth, aor) of a SIP account or an app configuration."""
    if cm.kind == "sip_account":
        return cm.username
    return f"app-{slug(cm.user or cm.name)}"


def check_endpoint(cm: ContactMethod) -> str | None:
    """Why `cm`'s SIP user name can't be an endpoint name, or None."""
    if cm.kind != "sip_account":
        return None
    if not SAFE.match(cm.username):
        return (f"SIP user name {cm.username!r} of {cm.name}: use letters, digits, '.', '_' "
                "and '-' (at most 63)")
    if cm.username.startswith((PREFIX, "app-")):
        return f"SIP user name {cm.username!r} of {cm.name}: {PREFIX}-* and app-* are reserved"
    return None


def app_password(cm: ContactMethod, key: str) -> str:
    """An app configuration's SIP password: the config has none, so it is derived from a
    secret the operator already keeps (the AMI secret): stable, and never in the config."""
    message = f"pbx-bridge app {cm.user or cm.name}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()[:24]


def queue(flow: CallFlow, module: Module) -> str:
    return f"{PREFIX}-{slug(flow.name)}-{slug(module.name)}"


def sound(audio: AudioFile) -> str:
    """The file name (no extension) of a greeting in the sounds folder."""
    return f"{PREFIX}-{slug(audio.name)}"


def dial_target(config: Config, cm: ContactMethod) -> str | None:
    """What Dial and Queue ring for a contact method; None when it can't be reached."""
    if cm.kind in ("sip_account", "app_configuration"):
        return f"PJSIP/{endpoint(cm)}"
    if cm.kind == "pstn_forwarding":
        if not config.trunks or not cm.number.isdigit():
            return None
        return f"PJSIP/{cm.number}@{config.trunks[0].endpoint}"
    if SAFE_URI.match(cm.uri):
        return f"PJSIP/{SIP_FORWARD_ENDPOINT}/{cm.uri}"
    return None

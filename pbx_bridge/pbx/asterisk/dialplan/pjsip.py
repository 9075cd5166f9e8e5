"""`pjsip_pbx_bridge.conf`: an endpoint, auth and aor for every SIP account and app. Pure."""

from __future__ import annotations

from pbx_bridge.config.model import Config, ContactMethod
from pbx_bridge.pbx.asterisk.dialplan import names
from pbx_bridge.routing.outbound import display_name, internal_caller_id

PHONES_CONTEXT = "pbx-bridge-phones"
NOWHERE_CONTEXT = "pbx-bridge-nowhere"

TEMPLATES = f"""[{names.PREFIX}-endpoint](!)
type = endpoint
context = {PHONES_CONTEXT}
disallow = all
allow = alaw,ulaw
direct_media = no
rtp_symmetric = yes
force_rport = yes
rewrite_contact = yes
dtmf_mode = rfc4733
; a phone may ask for one of its caller IDs (P-Asserted-Identity); the bridge checks it
trust_id_inbound = yes

[{names.PREFIX}-auth](!)
type = auth
auth_type = userpass

[{names.PREFIX}-aor](!)
type = aor
max_contacts = 1
remove_existing = yes

; SIP forwardings are dialled as PJSIP/{names.SIP_FORWARD_ENDPOINT}/<uri>; it takes no calls in.
[{names.SIP_FORWARD_ENDPOINT}]
type = endpoint
context = {NOWHERE_CONTEXT}
disallow = all
allow = alaw,ulaw
direct_media = no
"""


class PjsipError(ValueError):
    pass


def conf_value(text: str, what: str) -> str:
    """A value for an Asterisk .conf line: `;` starts a comment unless escaped."""
    if any(ch in text for ch in "\r\n\0") or text != text.strip():
        raise PjsipError(f"{what} contains a line break or surrounding spaces")
    return text.replace("\\", "\\\\").replace(";", "\\;")


def _caller_id(config: Config, cm: ContactMethod) -> str:
    name = "".join(ch for ch in display_name(config, cm) if ch.isprintable() and ch not in '"<>;\\')
    number = internal_caller_id(cm)
    return f'"{name}" <{number}>' if number else f'"{name}"'


def endpoint_block(config: Config, cm: ContactMethod, password: str) -> str:
    name = names.endpoint(cm)
    what = f"the password of {cm.name}"
    return f"""
; {cm.kind.replace('_', ' ')} {cm.name}
[{name}]({names.PREFIX}-endpoint)
auth = {name}
aors = {name}
callerid = {_caller_id(config, cm)}

[{name}]({names.PREFIX}-auth)
username = {name}
password = {conf_value(password, what)}

[{name}]({names.PREFIX}-aor)
"""


def render(config: Config, passwords: dict[str, str]) -> str:
    """`passwords`: contact method name -> resolved SIP password (the caller resolves them)."""
    blocks = [TEMPLATES]
    for cm in config.contact_methods:
        if cm.kind in ("sip_account", "app_configuration"):
            blocks.append(endpoint_block(config, cm, passwords[cm.name]))
    return "\n".join(blocks)

"""The dialplan side of feature codes (appended to `extensions_pbx_bridge.conf`). Pure.

Who gets which code (`grants`): a leg of a contact method with `allow_call_transfer` (SIP
account, app configuration, PSTN forwarding) gets the operator's transfer codes
(`FEATUREMAP(blindxfer|atxfer)`, off for everyone else: features.py) and its own
TRANSFER_CONTEXT; a leg of a contact method whose recording has `on_demand` (with a delivery
method) gets DYNAMIC_FEATURES=pbx-bridge-record. Nobody else gets either.
- the rung legs: Dial's predial handler `b(pbx-bridge-callee^s^1(<number>))` (set by the
  bridge with Dial's `tT`) looks the leg up in `pbx-bridge-grants` by its endpoint, or, on the
  trunk, by the forwarding's number;
- the calling leg (a phone of this system): the bridge sets the same variables over AGI.

Transfers (`pbx-bridge-xfer-<transferer>`): Asterisk collects the digits after the code until
`#` and accepts them only if they are an extension of the transferer's context, which holds
exactly the numbers this transferer may transfer to (routing/transfer.py): this system's
numbers, and E.164 lengths when it may call out. Anything else is refused by Asterisk and asked
again, before the call moves. Then `pbx-bridge-transfer`:
- a leg that never ran our routing (the consultation leg of an attended transfer, or a rung
  leg) enters the routing loop with PBXB_ORIGIN = the transferer's context name, so the bridge
  knows who transferred and checks the target again;
- a leg that did (the caller of a blind transfer: its hangup handler will hand on what its
  routing made, e.g. the call recording) keeps its state and dials the target through a Local
  channel, whose other half is routed as above: the recording the caller's leg carries goes on
  through the transfer, in one file, and nothing it started is started twice.

Record on demand (`pbx-bridge-ondemand`, run on the presser's channel by the dynamic feature):
the first press asks the bridge (AGI `ondemand,start`) for the file, named
`ondemand-<uniqueid>-<epoch>-<n>` from Asterisk's ids only, in the recordings folder, and starts
MixMonitor into it; the next press stops it; stopping, or the leg's hangup, hands the file to
the bridge (AGI `ondemand,stop`), which queues it for the presser's delivery methods.

Caller-supplied text never reaches an argument here: keys are config slugs and digits.
"""

from __future__ import annotations

from pbx_bridge.config.model import Config, ContactMethod
from pbx_bridge.pbx.asterisk.dialplan import names
from pbx_bridge.pbx.asterisk.dialplan.features import ONDEMAND_CONTEXT, RECORD_FEATURE
from pbx_bridge.routing.transfer import (
    E164_DIGITS,
    internal_targets,
    may_call_out,
    may_transfer,
)

CALLEE = "pbx-bridge-callee"
GRANTS = "pbx-bridge-grants"
TRANSFER = "pbx-bridge-transfer"
XFER_PREFIX = "pbx-bridge-xfer-"  # + the transferer's slug: its context, and the origin
ONDEMAND_DONE = "pbx-bridge-ondemand-done"
PSTN_KEY = "pbx-bridge-pstn-"  # + a PSTN forwarding's digits (endpoints can't start so)


def transfer_origin(cm: ContactMethod) -> str:
    """The transferer's context, also PBXB_ORIGIN of the call it transfers (<= 63 chars)."""
    return XFER_PREFIX + names.slug(cm.name)


def recorder_key(cm: ContactMethod) -> str:
    return names.slug(cm.name)


def grant_key(config: Config, cm: ContactMethod) -> str | None:
    """How a rung leg of `cm` is found in pbx-bridge-grants; None if it can't have codes."""
    if cm.kind in ("sip_account", "app_configuration"):
        return names.endpoint(cm)
    if cm.kind == "pstn_forwarding" and config.trunks and cm.number.lstrip("+").isdigit():
        return PSTN_KEY + cm.number.lstrip("+")
    return None


def grants(config: Config, cm: ContactMethod) -> dict[str, str]:
    """Channel variables that give a leg of `cm` its feature codes, in a stable order."""
    out: dict[str, str] = {}
    codes = config.feature_codes
    if may_transfer(cm):
        out["FEATUREMAP(blindxfer)"] = codes.unattended_transfer
        out["FEATUREMAP(atxfer)"] = codes.attended_transfer
        out["TRANSFER_CONTEXT"] = transfer_origin(cm)
    if cm.recording.on_demand and cm.recording.delivery_methods:
        out["DYNAMIC_FEATURES"] = RECORD_FEATURE
        out["PBXB_ODBY"] = recorder_key(cm)
    return out


def dial_options(number: str) -> str:
    """Dial options of a ringing step: transfer features for both sides (only legs with a
    FEATUREMAP grant have codes), and the rung legs' grants. `number`: digits."""
    return f"tTb({CALLEE}^s^1({number if number.isdigit() else ''}))"


def _grants_context(config: Config) -> str:
    lines = [f"[{GRANTS}]"]
    for cm in config.contact_methods:
        key = grant_key(config, cm)
        given = grants(config, cm)
        if key is None or not given:
            continue
        lines.append(f"; {cm.kind.replace('_', ' ')} {names.slug(cm.name)}")
        lines.append(f"exten => {key},1,NoOp(feature codes)")
        lines += [f" same => n,Set({name}={value})" for name, value in given.items()]
        lines.append(" same => n,Return()")
    lines.append("; every other leg: no feature codes")
    lines.append("exten => _[0-9A-Za-z],1,Return()")
    lines.append("exten => _[0-9A-Za-z].,1,Return()")
    return "\n".join(lines) + "\n"


def _callee_context(config: Config) -> str:
    trunk = config.trunks[0].endpoint if config.trunks else ""
    pstn = ""
    if trunk and names.SAFE.match(trunk):
        pstn = (f' same => n,GotoIf($["${{PBXB_GRANT}}" != "{trunk}"]?grant)\n'
                " same => n,Set(PBXB_GRANT=${DIALEDPEERNUMBER})\n"
                f" same => n,Set(PBXB_GRANT={PSTN_KEY}${{SHIFT(PBXB_GRANT,@)}})\n")
    return f"""; Dial's predial handler on each rung leg: ARG1 is the number the caller dialled.
[{CALLEE}]
exten => s,1,Set(PBXB_DST=${{FILTER(0-9,${{ARG1}})}})
 same => n,Set(PBXB_LEG=callee)
 same => n,Set(PBXB_GRANT=${{CHANNEL(endpoint)}})
{pstn} same => n(grant),Goto({GRANTS},${{PBXB_GRANT}},1)
"""


def _transferer_context(config: Config, cm: ContactMethod, targets: tuple[str, ...]) -> str:
    origin = transfer_origin(cm)
    patterns = list(targets)
    if may_call_out(config, cm):
        patterns += ["_" + "X" * n for n in E164_DIGITS]
    lines = [f"; transfers by {names.slug(cm.name)}: the numbers it may transfer to",
             f"[{origin}]"]
    for pattern in patterns:
        lines.append(f"exten => {pattern},1,Set(PBXB_XFER={origin})")
        lines.append(f" same => n,Goto({TRANSFER},${{EXTEN}},1)")
    return "\n".join(lines) + "\n"


def _transfer_body() -> str:
    body = ""
    for pattern in ("_X", "_X."):
        body += (f'exten => {pattern},1,GotoIf($["${{PBXB_ORIGIN}}" = ""]?route)\n'
                 " same => n,Dial(Local/${EXTEN}@${PBXB_XFER}/n,,T)\n"
                 " same => n,Hangup()\n"
                 " same => n(route),Set(PBXB_NUMBER=${EXTEN})\n"
                 " same => n,Set(PBXB_ORIGIN=${PBXB_XFER})\n"
                 " same => n,Goto(pbx-bridge-start,s,1)\n")
    return body


def render(config: Config, agi: str) -> str:
    """`agi`: host:port of the bridge's FastAGI server, validated by the caller."""
    url = f"agi://{agi}"
    targets = internal_targets(config)
    transferers = [_transferer_context(config, cm, targets) for cm in config.contact_methods
                   if may_transfer(cm)]
    return f"""
; ---- Feature codes (features_pbx_bridge.conf holds the codes) -------------------------------
{_callee_context(config)}
{_grants_context(config)}
{chr(10).join(transferers)}
; A transfer target that passed the transferer's context (see feature_codes.py).
[{TRANSFER}]
{_transfer_body()}
; Record on demand, on the presser's channel: start, or stop and hand the file on.
[{ONDEMAND_CONTEXT}]
exten => s,1,GotoIf($["${{PBXB_ODID}}" != ""]?stop)
 same => n,Set(PBXB_ODT=${{EPOCH}})
 same => n,Set(PBXB_ODN=$[0${{PBXB_ODN}} + 1])
 same => n,Set(PBXB_ODFILE=)
 same => n,AGI({url}/ondemand,start,${{PBXB_ODBY}},${{PBXB_ODT}},${{PBXB_ODN}})
 same => n,GotoIf($["${{PBXB_ODFILE}}" = ""]?started)
 same => n,MixMonitor(${{PBXB_ODFILE}}.wav,i(PBXB_ODID))
 same => n,GotoIf($["${{PBXB_ODHANDLER}}" != ""]?started)
 same => n,Set(CHANNEL(hangup_handler_push)={ONDEMAND_DONE},s,1)
 same => n,Set(PBXB_ODHANDLER=1)
 same => n(started),Return()
 same => n(stop),Gosub({ONDEMAND_DONE},s,1)
 same => n,Return()

; Stops the on-demand recording (StopMixMonitor closes the file) and hands it to the bridge.
[{ONDEMAND_DONE}]
exten => s,1,GotoIf($["${{PBXB_ODID}}" = ""]?done)
 same => n,StopMixMonitor(${{PBXB_ODID}})
 same => n,Set(PBXB_ODID=)
 same => n,AGI({url}/ondemand,stop,${{PBXB_ODBY}},${{PBXB_ODT}},${{PBXB_ODN}},${{PBXB_DST}})
 same => n(done),Return()
"""

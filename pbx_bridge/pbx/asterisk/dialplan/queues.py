"""`queues_pbx_bridge.conf`: one app_queue queue per queue module. Pure."""

from __future__ import annotations

from pbx_bridge.config.model import Config
from pbx_bridge.pbx.asterisk.dialplan import names

MEMBER_RING_SECONDS = 15  # each ring attempt; the module's max_wait bounds the whole wait


def render(config: Config) -> str:
    blocks = []
    for flow in config.call_flows:
        for module in flow.modules.values():
            if module.type != "queue":
                continue
            members = []
            for name in module.destinations:
                cm = config.contact_method(name)
                target = names.dial_target(config, cm) if cm else None
                members.append(f"member => {target}" if target
                               else f"; {name}: cannot be rung (no trunk or unusable URI)")
            blocks.append(f"""
; call flow {flow.name}, queue module {module.name} (max_wait {module.max_wait} s: Queue's
; own timeout, set by the dialplan)
[{names.queue(flow, module)}]
strategy = ringall
timeout = {min(MEMBER_RING_SECONDS, module.max_wait)}
retry = 1
timeoutpriority = app
joinempty = yes
leavewhenempty = no
ringinuse = no
""" + "\n".join(members) + "\n")
    return "".join(blocks) or "; no queue modules in this config\n"

"""`voicemail_pbx_bridge.conf`: nothing for app_voicemail. Pure.

Messages are recorded by the generated dialplan (Playback of the greeting, then Record into a
file named from the call's uniqueid) and handed to the bridge's delivery queue, so no mailbox
is needed; the file exists so the operator's `#include` always finds it.
"""

from __future__ import annotations

from pbx_bridge.config.model import Config


def render(config: Config) -> str:
    return "; voicemail is recorded by the pbx-bridge dialplan, not app_voicemail\n"

"""The Asterisk side of a config: pjsip, extensions, features, queues and voicemail include
files, and the greetings converted to something Asterisk plays."""

from pbx_bridge.pbx.asterisk.dialplan.render import DialplanError, render, sip_passwords

__all__ = ["DialplanError", "render", "sip_passwords"]

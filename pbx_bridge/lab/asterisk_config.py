"""The operator-side Asterisk configuration of one lab run, rendered as text.

Everything here plays the operator: a self-contained `asterisk.conf` whose directories all live
in the run folder, the lean module list, AMI and one UDP transport on free ports, and the
`#include` of each `<file>_pbx_bridge.conf` that `pbx-bridge dialplan` writes.
"""

from __future__ import annotations

from dataclasses import dataclass

# Files that `#include` a generated `<name>_pbx_bridge.conf` (CONTRACT.md, "Files for the PBX").
INCLUDED_FILES = ("extensions", "pjsip", "features", "queues", "voicemail")

# Lean explicit module list (autoload=no): boots in ~0.2 s and uses ~55 MiB instead of ~90.
# Measured in notes/asterisk-lab.md §8; res_pjsip_pubsub and res_speech are hidden dependencies.
LEAN_MODULES = (
    # SIP
    "res_pjproject",
    "res_sorcery_config",
    "res_sorcery_memory",
    "res_sorcery_astdb",
    "res_pjsip",
    "res_pjsip_session",
    "res_pjsip_pubsub",
    "chan_pjsip",
    "res_pjsip_authenticator_digest",
    "res_pjsip_endpoint_identifier_user",
    "res_pjsip_endpoint_identifier_ip",
    "res_pjsip_registrar",
    "res_pjsip_sdp_rtp",
    "res_pjsip_caller_id",
    "res_pjsip_dtmf_info",
    "res_pjsip_rfc3326",
    "res_pjsip_nat",
    "res_rtp_asterisk",
    # dialplan, applications, functions
    "pbx_config",
    "res_speech",
    "res_agi",
    "app_dial",
    "app_queue",
    "app_voicemail",
    "app_mixmonitor",
    "app_playback",
    "app_senddtmf",
    "app_verbose",
    "app_exec",
    "app_stack",
    "app_milliwatt",
    "app_userevent",
    "func_callerid",
    "func_channel",
    "func_logic",
    "func_strings",
    "func_global",
    # bridging and media
    "bridge_simple",
    "bridge_native_rtp",
    "bridge_builtin_features",
    "bridge_holding",
    "res_musiconhold",
    "res_timing_timerfd",
    "format_wav",
    "format_gsm",
    "format_pcm",
    "codec_alaw",
    "codec_ulaw",
    "codec_gsm",
    "codec_a_mu",
)

# Asterisk's RTP ports; sipp media ports are drawn from another range so they never collide.
RTP_START, RTP_END = 30000, 31999


@dataclass(frozen=True)
class RunLayout:
    """Paths as Asterisk sees them (inside the chroot)."""

    run: str  # e.g. /opt/pbx-bridge/runs/ab12cd34
    modules: str  # the package's module directory

    @property
    def etc(self) -> str:
        return f"{self.run}/etc"

    @property
    def include(self) -> str:
        return f"{self.run}/include"

    @property
    def recordings(self) -> str:
        return f"{self.run}/recordings"

    @property
    def writable(self) -> tuple[str, ...]:
        """Folders the asterisk user must own."""
        return tuple(f"{self.run}/{name}" for name in ("run", "db", "spool", "log", "recordings"))


def asterisk_conf(layout: RunLayout) -> str:
    run = layout.run
    return f"""[directories]
astetcdir => {layout.etc}
astmoddir => {layout.modules}
astvarlibdir => /var/lib/asterisk
astdbdir => {run}/db
astkeydir => /var/lib/asterisk
astdatadir => /usr/share/asterisk
astagidir => /usr/share/asterisk/agi-bin
astspooldir => {run}/spool
astrundir => {run}/run
astlogdir => {run}/log
astsbindir => /usr/sbin
[options]
nofork = yes
"""


def modules_conf(extra: tuple[str, ...] = ()) -> str:
    lines = ["[modules]", "autoload = no"]
    lines += [f"load => {name}.so" for name in (*LEAN_MODULES, *extra)]
    return "\n".join(lines) + "\n"


def logger_conf() -> str:
    # The console channel goes to stdout (captured to console.log); `messages` keeps a copy.
    return """[general]
[logfiles]
console => notice,warning,error,verbose
messages.log => notice,warning,error,verbose
"""


def manager_conf(port: int, user: str, secret: str) -> str:
    return f"""[general]
enabled = yes
bindaddr = 127.0.0.1
port = {port}
timestampevents = yes
displayconnects = no

[{user}]
secret = {secret}
read = all
write = all
"""


def pjsip_conf(sip_port: int, include: str) -> str:
    return f"""[global]
type = global
endpoint_identifier_order = ip,username,auth_username,anonymous
user_agent = pbx-bridge-lab

[transport-udp]
type = transport
protocol = udp
bind = 127.0.0.1:{sip_port}

#include {include}/pjsip_pbx_bridge.conf
"""


# Core parts read these at boot and on every reload; absent, they log an ERROR each time,
# which buries real problems in the console log. Empty sections keep the defaults.
QUIET_FILES = {
    "cdr.conf": "[general]\nenable = no\n",
    "cel.conf": "[general]\nenable = no\n",
    "acl.conf": "",
    "udptl.conf": "[general]\n",
    "pjproject.conf": "",
}


def rtp_conf() -> str:
    return f"[general]\nrtpstart = {RTP_START}\nrtpend = {RTP_END}\n"


def operator_file(name: str, include: str) -> str:
    """The operator's `<name>.conf` that pulls in the generated `<name>_pbx_bridge.conf`."""
    head = {
        "extensions": "[general]\nstatic = yes\nwriteprotect = yes\n\n[globals]\n",
        "features": "[general]\n",
        "queues": "[general]\n",
        "voicemail": "[general]\nformat = wav\nattach = no\n",
    }[name]
    return f"{head}\n#include {include}/{name}_pbx_bridge.conf\n"

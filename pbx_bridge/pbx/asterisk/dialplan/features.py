"""`features_pbx_bridge.conf`: the feature codes of a config. Pure.

Measured on Asterisk 22 (notes/asterisk-lab.md §6, and the probes of issue 5):
- the operator's transfer codes are Asterisk's own `blindxfer` / `atxfer`: Asterisk collects
  the target's digits until `#`, announces "transfer" (pbx-transfer), checks them against the
  transferer's TRANSFER_CONTEXT (a bad number is refused and asked again; the caller is never
  lost) and runs the consultation of an attended transfer;
- they are *off* for everyone here (empty codes) and switched on per channel, with
  `FEATUREMAP(blindxfer|atxfer)`, only on the legs of contact methods that may transfer (see
  feature_codes.py); Dial's `tT` options then have nothing to offer the other legs;
- `automixmon` would stop a recording the dialplan started and records the peer, so record on
  demand is a dynamic feature of its own (`applicationmap`, enabled per channel by
  DYNAMIC_FEATURES), which runs MixMonitor on the presser's channel;
- during an attended transfer Asterisk listens for `atxferabort` / `atxfercomplete` /
  `atxferthreeway` / `atxferswap` (defaults *1 *2 *3 *4). Those would collide with short
  operator codes (`*1` is a prefix of `*11`), so they are chosen here to collide with none.
"""

from __future__ import annotations

from pbx_bridge.config.model import Config

RECORD_FEATURE = "pbx-bridge-record"
ONDEMAND_CONTEXT = "pbx-bridge-ondemand"
FEATURE_DIGIT_TIMEOUT_MS = 1000  # between the digits of a feature code
TRANSFER_DIGIT_TIMEOUT_S = 5  # between the digits of a transfer target (`#` ends at once)
ATXFER_NO_ANSWER_S = 15
IN_TRANSFER = ("atxferabort", "atxfercomplete", "atxferthreeway", "atxferswap")
# Families of in-transfer codes, tried in order; the first that collides with no operator code.
FAMILIES = ("*{}", "**{}", "*#{}", "#*{}", "##{}", "*0{}", "*9{}")


def collides(a: str, b: str) -> bool:
    """Two DTMF codes Asterisk can't tell apart: equal, or one a prefix of the other."""
    return a.startswith(b) or b.startswith(a)


def in_transfer_codes(operator_codes: list[str]) -> dict[str, str]:
    """`atxfer*` codes that collide with none of `operator_codes` nor with each other."""
    for family in FAMILIES:
        codes = [family.format(n) for n in range(1, 5)]
        if not any(collides(code, op) for code in codes for op in operator_codes if op):
            return dict(zip(IN_TRANSFER, codes, strict=True))
    raise ValueError(f"no free in-transfer codes beside {operator_codes}")  # pragma: no cover


def render(config: Config) -> str:
    codes = config.feature_codes
    operator = list(codes.as_dict().values())
    in_transfer = in_transfer_codes(operator)
    during = "\n".join(f"{name} = {code}" for name, code in in_transfer.items())
    return f"""; [general](+) extends the [general] section features.conf already has (this may be
; its last line); [featuremap] and [applicationmap] are the bridge's: keep none of your own.
[general](+)
featuredigittimeout = {FEATURE_DIGIT_TIMEOUT_MS}
transferdigittimeout = {TRANSFER_DIGIT_TIMEOUT_S}
transferdialattempts = 3
atxfernoanswertimeout = {ATXFER_NO_ANSWER_S}
atxferdropcall = no
; during an attended transfer (chosen not to collide with the feature codes below)
{during}

; Off for everyone: switched on per channel (FEATUREMAP) for contact methods with
; allow_call_transfer: attended transfer {codes.attended_transfer}, unattended transfer \
{codes.unattended_transfer}.
[featuremap]
blindxfer =
atxfer =
automixmon =

; Record on demand ({codes.record_on_demand}): for contact methods whose recording has on_demand,
; enabled per channel by DYNAMIC_FEATURES. MixMonitor on the presser's channel (a second press
; stops it); the file is then handed to the bridge for the presser's delivery methods.
[applicationmap]
{RECORD_FEATURE} => {codes.record_on_demand},self,Gosub({ONDEMAND_CONTEXT},s,1)
"""

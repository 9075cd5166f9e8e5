"""`features_pbx_bridge.conf`: the hook for feature codes. Pure.

Transfers and record on demand arrive with the next issue; the codes are listed so an operator
sees what is coming, and the `pbx-bridge-features` context in the extensions file is ready.
"""

from __future__ import annotations

from pbx_bridge.config.model import Config


def render(config: Config) -> str:
    codes = config.feature_codes.as_dict()
    listed = "\n".join(f";   {name}: {code}" for name, code in codes.items())
    return ("; Feature codes of this config (not active yet; they come with the next issue):\n"
            f"{listed}\n")

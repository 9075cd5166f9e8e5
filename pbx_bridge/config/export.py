"""Contact methods as table rows (for `pbx-bridge export ... --csv`)."""

from __future__ import annotations

from pbx_bridge.config.model import Config, Recording

COLUMNS = (
    "kind", "name", "user", "internal_numbers", "did_numbers", "allow_call_transfer",
    *Recording.FLAGS, "on_demand", "delivery_methods",
    "when_unavailable", "external_outbound_calls", "caller_ids", "verified",
)


def _flag(value: bool) -> str:
    return "true" if value else "false"


def contact_method_rows(config: Config) -> list[dict[str, str]]:
    """One row per contact method of every kind, emails included; lists joined by spaces."""
    rows = []
    for cm in config.contact_methods:
        rec = cm.recording
        row = {
            "kind": cm.kind, "name": cm.name, "user": cm.user,
            "internal_numbers": " ".join(cm.internal_numbers),
            "did_numbers": " ".join(cm.did_numbers),
            "allow_call_transfer": _flag(cm.allow_call_transfer),
            **{flag: _flag(getattr(rec, flag)) for flag in Recording.FLAGS},
            "on_demand": _flag(rec.on_demand),
            "delivery_methods": " ".join(rec.delivery_methods),
            "when_unavailable": cm.when_unavailable.action,
            "external_outbound_calls": _flag(cm.external_outbound_calls),
            "caller_ids": " ".join(cm.caller_ids),
            "verified": "",
        }
        rows.append(row)
    owners = {u.email.lower(): u.name for u in config.users if u.email}
    for email in config.emails:
        row = dict.fromkeys(COLUMNS, "")
        row.update(kind="email", name=email.address, user=owners.get(email.address.lower(), ""),
                   verified=_flag(email.verified))
        rows.append(row)
    return rows

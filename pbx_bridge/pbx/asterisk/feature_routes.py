"""The FastAGI side of feature codes: transfers routed with the transferer's rights, feature
grants on the calling phone's leg, and on-demand recordings handed to delivery.

Decisions come from pbx_bridge.routing.transfer and the config; the dialplan side is
dialplan/feature_codes.py (read its docstring for the flow).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from pbx_bridge.calls.recording_policy import on_demand_methods
from pbx_bridge.config.model import Config, ContactMethod
from pbx_bridge.delivery.naming import CallFacts
from pbx_bridge.delivery.queue import UnknownMethod, submit
from pbx_bridge.pbx.asterisk import call_actions as actions
from pbx_bridge.pbx.asterisk.dialplan import feature_codes, names
from pbx_bridge.pbx.asterisk.fastagi import AgiSession, Handler
from pbx_bridge.routing.transfer import may_transfer, transfer
from pbx_bridge.store import Store

if TYPE_CHECKING:
    from pbx_bridge.pbx.asterisk.call_routing import RecordingsDir

log = structlog.get_logger()

SERVICE_NAME = "Call recording"  # the words of every call recording's file facts
EMPTY_WAV_BYTES = 44
DIGITS = re.compile(r"^[0-9]{1,20}$")


def is_transfer_origin(origin: str) -> bool:
    return origin.startswith(feature_codes.XFER_PREFIX)


class FeatureRouter:
    def __init__(self, config: Config, store: Store, recordings: RecordingsDir,
                 clock: Callable[[], datetime]) -> None:
        self.config, self.store, self.recordings, self.clock = config, store, recordings, clock
        self.transferers: dict[str, ContactMethod] = {
            feature_codes.transfer_origin(cm): cm for cm in config.contact_methods
            if may_transfer(cm)}
        self.recorders: dict[str, ContactMethod] = {
            feature_codes.recorder_key(cm): cm for cm in config.contact_methods
            if on_demand_methods(cm)}
        self.phones: dict[str, ContactMethod] = {
            names.endpoint(cm): cm for cm in config.contact_methods
            if cm.kind in ("sip_account", "app_configuration")}

    @property
    def routes(self) -> dict[str, Handler]:
        return {"ondemand": self.ondemand}

    # -- transfers --------------------------------------------------------------------------
    async def transfer_step(self, session: AgiSession, request: actions.StepRequest,
                            call: structlog.BoundLogger) -> actions.Variables | None:
        """The first step of a transferred call: a refusal, the call out through the trunk,
        or None (a number of this system: route it like any call to it)."""
        if request.position or not is_transfer_origin(request.origin):
            return None
        cm = self.transferers.get(request.origin)
        verdict = transfer(self.config, cm, request.number)
        if not verdict.allowed:
            call.info("transfer_refused", reason=verdict.reason)
            return actions.end(actions.CAUSE_REJECTED)
        call.info("transfer_routed", reason=verdict.reason)
        if verdict.out is None:
            return None
        await session.set_variable("CALLERID(num)", verdict.out.caller_id)
        return actions.dial([f"PJSIP/{verdict.out.number}@{verdict.out.trunk}"], None, "out")

    # -- grants -----------------------------------------------------------------------------
    async def with_features(self, session: AgiSession, request: actions.StepRequest,
                            values: actions.Variables) -> actions.Variables:
        """A ringing step offers the feature codes to the legs that may have them; the first
        step of a phone's call gives the phone's own leg its codes."""
        if values.get("PBXB_ACTION") == "dial":
            values = {**values, "PBXB_DIALOPTS": feature_codes.dial_options(request.number)}
        if not request.position:
            cm = self.phones.get(request.origin)
            given = feature_codes.grants(self.config, cm) if cm else {}
            for name, value in given.items():
                await session.set_variable(name, value)
            if given:
                await session.set_variable("PBXB_DST", request.number)
        return values

    # -- record on demand ---------------------------------------------------------------------
    async def ondemand(self, session: AgiSession) -> None:
        """AGI(ondemand, start|stop, presser, epoch, n[, dialled]): `start` names the file
        (PBXB_ODFILE, no extension; left empty when the presser may not record); `stop` hands
        the finished file to the presser's delivery methods."""
        action, by, epoch, n, dialled = (list(session.args) + [""] * 5)[:5]
        uniqueid = session.env.get("agi_uniqueid", "")
        call = log.bind(uniqueid=uniqueid, presser=by)
        cm = self.recorders.get(by)
        if cm is None or action not in ("start", "stop") or not DIGITS.match(epoch) or not (
                DIGITS.match(n)) or not actions.UNIQUEID.match(uniqueid) or not (
                dialled == "" or DIGITS.match(dialled)):
            call.warning("ondemand_bad_request", args=session.args[:5])
            return
        pbx_name = f"{self.recordings.pbx.rstrip('/')}/ondemand-{uniqueid}-{epoch}-{n}"
        if action == "start":
            call.info("recording_on_demand", file=pbx_name, presser=cm.name)
            await session.set_variable("PBXB_ODFILE", pbx_name)
            return
        path = self.recordings.host_path(pbx_name + ".wav")
        size = path.stat().st_size if path.is_file() else 0
        if size <= EMPTY_WAV_BYTES:
            call.info("recording_empty", kind="ondemand", file=str(path), bytes=size)
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
            return
        src = (session.env.get("agi_callerid", ""), session.env.get("agi_calleridname", ""))
        if await session.get_variable("PBXB_LEG") == "callee":  # the caller is the other side
            src = (await session.get_variable("CONNECTEDLINE(num)") or "",
                   await session.get_variable("CONNECTEDLINE(name)") or "")
        # Caller text stays data: naming cleans it wherever it becomes a name or a header.
        facts = CallFacts(SERVICE_NAME, *src, dialled, datetime.fromtimestamp(int(epoch), UTC))
        methods = on_demand_methods(cm)
        try:
            jobs = submit(self.store, self.config, Path(path), methods, facts)
        except UnknownMethod as exc:
            call.error("recording_not_queued", file=str(path), error=str(exc))
            return
        call.info("recording_queued", kind="ondemand", file=str(path), presser=cm.name,
                  jobs=[job.id for job in jobs])

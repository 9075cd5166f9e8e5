"""The FastAGI side of call routing: each round of the generated dialplan asks `step` what to
do next; `finished` hands messages and recordings to the delivery queue.

Decisions come from pbx_bridge.routing (progress, outbound); this module only reads the AGI
request, does the I/O (the clock, the store, notification files) and sets variables.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog

from pbx_bridge.config.model import Config, ContactMethod
from pbx_bridge.delivery.naming import CallFacts
from pbx_bridge.delivery.queue import UnknownMethod, submit
from pbx_bridge.pbx.asterisk import call_actions as actions
from pbx_bridge.pbx.asterisk.call_recording import PolicyRecordings, call_facts
from pbx_bridge.pbx.asterisk.dialplan import names
from pbx_bridge.pbx.asterisk.fastagi import AgiServer, AgiSession, Handler
from pbx_bridge.pbx.asterisk.feature_routes import FeatureRouter, is_transfer_origin
from pbx_bridge.routing.outbound import (
    display_name,
    internal_caller_id,
    is_did,
    is_ours,
    outbound,
)
from pbx_bridge.routing.plan import Step
from pbx_bridge.routing.progress import Decision, decide, position_of, step_at
from pbx_bridge.routing.resolve import UnknownNumber
from pbx_bridge.store import Store

log = structlog.get_logger()

Clock = Callable[[], datetime]
EMPTY_WAV_BYTES = 44  # a header and no audio


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RecordingsDir:
    """The same folder as Asterisk writes to it and as the bridge reads it (they differ when
    Asterisk runs in a chroot or a container)."""

    pbx: str
    host: Path

    @staticmethod
    def of(config: Config) -> RecordingsDir:
        pbx = config.system.pbx.recordings_dir if config.system.pbx else "/var/spool/asterisk"
        return RecordingsDir(pbx, Path(pbx))

    def host_path(self, pbx_path: str) -> Path:
        return self.host / Path(pbx_path).relative_to(self.pbx)


class CallRouter:
    def __init__(self, config: Config, store: Store, *, clock: Clock = _utc_now,
                 recordings: RecordingsDir | None = None) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.recordings = recordings or RecordingsDir.of(config)
        self.endpoints: dict[str, ContactMethod] = {
            names.endpoint(cm): cm for cm in config.contact_methods
            if cm.kind in ("sip_account", "app_configuration")}
        self.features = FeatureRouter(config, store, self.recordings, lambda: self.clock())
        self.policy = PolicyRecordings(store, self.recordings.pbx)

    @property
    def routes(self) -> dict[str, Handler]:
        return {"step": self.step, "finished": self.finished, **self.features.routes}

    # -- step ---------------------------------------------------------------------------
    async def step(self, session: AgiSession) -> None:
        request = actions.StepRequest.parse(session.args)
        uniqueid = session.env.get("agi_uniqueid", "")
        call = log.bind(uniqueid=uniqueid, number=request.number, origin=request.origin)
        values = await self.features.transfer_step(session, request, call)
        if values is None:
            values = await self._decide(session, request, uniqueid, call)
        values = await self.features.with_features(session, request, values)
        for name, value in values.items():
            await session.set_variable(name, value)

    async def _decide(self, session: AgiSession, request: actions.StepRequest, uniqueid: str,
                      call: structlog.BoundLogger) -> actions.Variables:
        if not request.number or not actions.UNIQUEID.match(uniqueid):
            call.warning("call_step_bad_request", args=session.args[:5])
            return actions.end(actions.CAUSE_UNALLOCATED)
        if request.position == "out":
            return actions.end()
        if request.origin == "trunk" and not is_did(self.config, request.number):
            call.info("call_refused", reason=f"{request.number} is not a DID of this system")
            return actions.end(actions.CAUSE_UNALLOCATED)  # internal numbers stay internal
        if (not request.position and request.origin != "trunk"
                and not is_transfer_origin(request.origin)):
            early = await self._from_phone(session, request, call)
            if early is not None:
                return early
        now = self.clock()
        status = actions.outcome(request.status)
        caller = session.env.get("agi_callerid", "")
        for _ in range(3):  # a ringing step with nobody reachable counts as CHANUNAVAIL
            try:
                decision = decide(self.config, request.number, request.position, status, now,
                                  caller)
            except UnknownNumber as exc:
                call.info("call_refused", reason=str(exc))
                return actions.end(actions.CAUSE_UNALLOCATED)
            self._passed(decision, session, request, uniqueid, call)
            values = actions.variables(self.config, decision, self.recordings.pbx, uniqueid)
            call.info("call_step", step=decision.step.type, module=decision.step.module,
                      reason=decision.step.reason, position=decision.position)
            if values is not None:
                if values.get("PBXB_ACTION") in ("dial", "queue"):
                    values.update(self._policy_dial(session, request, uniqueid, decision, call))
                return values
            request = actions.StepRequest(request.origin, request.number, decision.position,
                                          "CHANUNAVAIL", request.t0)
            status = "CHANUNAVAIL"
        return actions.end()

    async def _from_phone(self, session: AgiSession, request: actions.StepRequest,
                          call: structlog.BoundLogger) -> actions.Variables | None:
        """A call a phone makes: internal (None: route it like any other) or external."""
        cm = self.endpoints.get(request.origin)
        if cm is None:
            call.warning("call_refused", reason=f"unknown endpoint {request.origin}")
            return actions.end(actions.CAUSE_REJECTED)
        if is_ours(self.config, request.number):
            await session.set_variable("CALLERID(num)", internal_caller_id(cm))
            await session.set_variable("CALLERID(name)", display_name(self.config, cm))
            return None
        verdict = outbound(self.config, cm, request.number,
                           session.env.get("agi_callerid", ""), request.origin)
        if not verdict.allowed:
            call.info("call_refused", reason=verdict.reason)
            return actions.end(actions.CAUSE_REJECTED)
        call.info("call_outbound", reason=verdict.reason)
        await session.set_variable("CALLERID(num)", verdict.caller_id)
        values = actions.dial([f"PJSIP/{verdict.number}@{verdict.trunk}"], None, "out")
        facts = call_facts(verdict.caller_id, display_name(self.config, cm), request.number,
                           self._t0(request))
        values.update(self.policy.at_dial(cm, [], session.env.get("agi_uniqueid", ""),
                                          _linkedid(session), facts, "", call))
        return values

    def _policy_dial(self, session: AgiSession, request: actions.StepRequest, uniqueid: str,
                     decision: Decision, call: structlog.BoundLogger) -> actions.Variables:
        """PBXB_REC of a dial step: the recording policy of the caller and the rung side."""
        caller = None if request.origin == "trunk" else self.endpoints.get(request.origin)
        callees = [cm for name in decision.step.destinations
                   if (cm := self.config.contact_method(name)) is not None]
        if caller is not None and not request.position:  # the caller ID set by _from_phone
            src = (internal_caller_id(caller), display_name(self.config, caller))
        else:
            src = (session.env.get("agi_callerid", ""), session.env.get("agi_calleridname", ""))
        facts = call_facts(*src, request.number, self._t0(request))
        dst_name = callees[0].name if len(callees) == 1 else decision.step.module
        return self.policy.at_dial(caller, callees, uniqueid, _linkedid(session), facts,
                                   dst_name, call)

    def _t0(self, request: actions.StepRequest) -> datetime:
        return datetime.fromtimestamp(request.t0, UTC) if request.t0 else self.clock()

    def _passed(self, decision: Decision, session: AgiSession, request: actions.StepRequest,
                uniqueid: str, call: structlog.BoundLogger) -> None:
        for step in decision.passed:
            call.info("call_step", step=step.type, module=step.module, reason=step.reason)
            flow = self.config.call_flow(decision.target)
            if step.type == "notification" and flow and step.module in flow.modules:
                self._notify(step, position_of(flow, step.module), session, request, uniqueid,
                             call)

    def _notify(self, step: Step, position: str, session: AgiSession,
                request: actions.StepRequest, uniqueid: str,
                call: structlog.BoundLogger) -> None:
        facts = self._facts("Notification", session, request.number, request.t0)
        pbx_name = actions.recording_file(self.recordings.pbx, "notification", uniqueid,
                                          position)
        path = self.recordings.host_path(pbx_name + ".txt")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"Call from {facts.src_number} ({facts.src_name}) to "
                        f"{facts.dst_number} at {facts.call_time.isoformat()}: "
                        f"{step.module}\n", encoding="utf-8")
        self._submit(path, step.delivery_methods, facts, call)

    # -- finished -------------------------------------------------------------------------
    async def finished(self, session: AgiSession) -> None:
        """AGI(finished, origin, number, t0, message position, recording position)."""
        origin, number, t0, msgpos, recpos = (list(session.args) + [""] * 5)[:5]
        uniqueid = session.env.get("agi_uniqueid", "")
        call = log.bind(uniqueid=uniqueid, number=number, origin=origin)
        if not number.isdigit() or not actions.UNIQUEID.match(uniqueid):
            call.warning("call_finished_bad_request", args=session.args[:5])
            return
        epoch = int(t0) if t0.isdigit() else 0
        found = ((msgpos, "voicemail", "Voicemail", ""), (recpos, "call", "Call recording",
                                                            recpos))
        for position, kind, service, suffix in found:
            if not actions.POSITION.match(position) or not position:
                continue
            pbx_name = actions.recording_file(self.recordings.pbx, kind, uniqueid, suffix)
            path = self.recordings.host_path(pbx_name + ".wav")
            step = self._step_at(number, position)
            methods = step.delivery_methods if step else ()
            size = path.stat().st_size if path.is_file() else 0
            if size <= EMPTY_WAV_BYTES:
                call.info("recording_empty", kind=kind, file=str(path), bytes=size)
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)
                continue
            facts = self._facts(service, session, number, epoch)
            self._submit(path, methods, facts, call)

    def _step_at(self, number: str, position: str) -> Step | None:
        try:
            return step_at(self.config, number, position, self.clock())
        except UnknownNumber:
            return None

    # -- helpers --------------------------------------------------------------------------
    def _facts(self, service: str, session: AgiSession, number: str, t0: int) -> CallFacts:
        when = datetime.fromtimestamp(t0, UTC) if t0 else self.clock()
        # Caller text stays data: naming cleans it wherever it becomes a name or a header.
        return CallFacts(service, session.env.get("agi_callerid", ""),
                         session.env.get("agi_calleridname", ""), number, when)

    def _submit(self, path: Path, methods: tuple[str, ...], facts: CallFacts,
                call: structlog.BoundLogger) -> None:
        if not methods:
            call.warning("recording_without_delivery_method", file=str(path),
                         service=facts.service_name)
            return
        try:
            jobs = submit(self.store, self.config, path, methods, facts)
        except UnknownMethod as exc:
            call.error("recording_not_queued", file=str(path), error=str(exc))
            return
        call.info("recording_queued", file=str(path), jobs=[job.id for job in jobs])


def _linkedid(session: AgiSession) -> str:
    """The call's id (Asterisk's Linkedid), the 6th argument of `step`; '' when absent."""
    return session.args[5] if len(session.args) > 5 else ""


class RoutingComponent:
    """The FastAGI server of `run` (a service Component): routes calls as they come."""

    name = "routing"

    def __init__(self, config: Config, store: Store) -> None:
        agi = config.system.pbx.agi if config.system.pbx else None
        self.server = AgiServer(CallRouter(config, store).routes,
                                agi.host if agi else "127.0.0.1", agi.port if agi else 4573)

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.server.close()

"""The operator's config as typed, immutable objects. Everything else reads these, never YAML.

Every object keeps `where` (its own line) and `lines` (the line of each of its keys), so rules
and later stages can point an operator at the exact place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from functools import cached_property
from pathlib import Path
from typing import Literal

from pbx_bridge.config.delivery_model import DeliveryMethod
from pbx_bridge.config.secrets import Secret
from pbx_bridge.config.source import Where

Lines = Mapping[str, Where]


@dataclass(frozen=True)
class Located:
    where: Where
    lines: Lines = field(default_factory=dict, compare=False, repr=False)

    def at(self, key: str) -> Where:
        return self.lines.get(key, self.where)


# -- system -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ami(Located):
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = ""
    secret: Secret | None = None


@dataclass(frozen=True)
class Agi(Located):
    host: str = "127.0.0.1"
    port: int = 4573


@dataclass(frozen=True)
class Esl(Located):
    host: str = "127.0.0.1"
    port: int = 8021
    password: Secret | None = None
    listen_host: str = "127.0.0.1"
    listen_port: int = 8084


@dataclass(frozen=True)
class Pbx(Located):
    kind: Literal["asterisk", "freeswitch"] = "asterisk"
    ami: Ami | None = None
    agi: Agi | None = None
    esl: Esl | None = None
    recordings_dir: str = "/var/spool/asterisk/monitor"


@dataclass(frozen=True)
class Smtp(Located):
    host: str = "127.0.0.1"
    port: int = 25
    starttls: bool = True
    sender: str = ""
    username: str = ""
    password: Secret | None = None
    max_message_bytes: int = 10_000_000


@dataclass(frozen=True)
class OAuthApp(Located):
    """An app registration for one OAuth provider (dropbox, google, microsoft)."""

    provider: str = ""
    client_id: Secret | None = None
    client_secret: Secret | None = None
    tenant: str = ""


@dataclass(frozen=True)
class System(Located):
    name: str = ""
    timezone: str = "UTC"
    pbx: Pbx | None = None
    store: str = "sqlite:///var/lib/pbx-bridge/pbx-bridge.db"
    smtp: Smtp | None = None
    oauth: tuple[OAuthApp, ...] = ()
    ring_time: int = 20


# -- numbers, trunks, codes, audio, schedules --------------------------------------------
@dataclass(frozen=True)
class Trunk(Located):
    name: str = ""
    endpoint: str = ""


@dataclass(frozen=True)
class FeatureCodes(Located):
    attended_transfer: str = "*11"
    unattended_transfer: str = "*22"
    record_on_demand: str = "*33"

    def as_dict(self) -> dict[str, str]:
        return {
            "attended_transfer": self.attended_transfer,
            "unattended_transfer": self.unattended_transfer,
            "record_on_demand": self.record_on_demand,
        }


@dataclass(frozen=True)
class AudioFile(Located):
    name: str = ""
    file: str = ""
    path: Path = Path()  # resolved against the config file's folder


@dataclass(frozen=True)
class ScheduleRule(Located):
    """Open on these weekdays (0 = Monday) from `start` until before `end`.

    `end` at or before `start` means the interval runs past midnight into the next day.
    """

    days: frozenset[int] = frozenset()
    start: time = time(0)
    end: time = time.max


@dataclass(frozen=True)
class TimeSchedule(Located):
    name: str = ""
    rules: tuple[ScheduleRule, ...] = ()
    holidays: tuple[date, ...] = ()


# -- contact methods ------------------------------------------------------------------------
@dataclass(frozen=True)
class Recording(Located):
    delivery_methods: tuple[str, ...] = ()
    inbound_internal: bool = False
    inbound_external: bool = False
    outbound_internal: bool = False
    outbound_external: bool = False
    on_demand: bool = False

    FLAGS = ("inbound_internal", "inbound_external", "outbound_internal", "outbound_external")


@dataclass(frozen=True)
class WhenUnavailable(Located):
    action: Literal["nothing", "voicemail"] = "nothing"
    greeting: str = ""
    delivery_methods: tuple[str, ...] = ()


ContactKind = Literal["sip_account", "app_configuration", "pstn_forwarding", "sip_forwarding"]


@dataclass(frozen=True)
class ContactMethod(Located):
    """Something a call can ring: a SIP account, a user's app, a PSTN or SIP forwarding."""

    kind: ContactKind = "sip_account"
    name: str = ""
    user: str = ""  # the owning user (app configurations)
    internal_numbers: tuple[str, ...] = ()
    did_numbers: tuple[str, ...] = ()
    when_unavailable: WhenUnavailable = WhenUnavailable(Where("", 0))
    external_outbound_calls: bool = False
    caller_ids: tuple[str, ...] = ()
    internal_caller_id: str = ""
    allow_call_transfer: bool = False
    recording: Recording = Recording(Where("", 0))
    ring_time: int | None = None
    # kind-specific
    username: str = ""
    password: Secret | None = None
    number: str = ""  # pstn_forwarding: the E.164 number called
    uri: str = ""  # sip_forwarding: the SIP URI called
    # Where each internal number, DID and caller ID is written: (key, number) -> place.
    item_lines: Mapping[tuple[str, str], Where] = field(default_factory=dict, compare=False,
                                                         repr=False)

    def number_at(self, keys: tuple[str, ...], number: str) -> tuple[str, Where]:
        """The key holding `number` (the first of `keys` that does) and its line."""
        for key in keys:
            if (key, number) in self.item_lines:
                return key, self.item_lines[key, number]
        return keys[0], self.at(keys[0])


@dataclass(frozen=True)
class EmailAddress(Located):
    """An email contact method: where delivery methods may send, once verified."""

    address: str = ""
    verified: bool = False


@dataclass(frozen=True)
class User(Located):
    name: str = ""
    first_name: str = ""
    last_name: str = ""
    department: str = ""
    job_title: str = ""
    email: str = ""
    time_schedule: str = ""
    app_configuration: ContactMethod | None = None

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part) or self.name


# -- call flows -------------------------------------------------------------------------------
ModuleType = Literal[
    "time_router", "voice_menu", "ring_group", "queue", "voicemail",
    "call_recorder", "notification", "fax",
]
MODULE_TYPES: tuple[str, ...] = (
    "time_router", "voice_menu", "ring_group", "queue", "voicemail",
    "call_recorder", "notification", "fax",
)
# Modules that take no time on a call: a loop made only of these would spin forever.
INSTANT_MODULE_TYPES = frozenset({"time_router", "call_recorder", "notification"})


@dataclass(frozen=True)
class Module(Located):
    """One module of a call flow. Which fields matter depends on `type`."""

    name: str = ""
    type: ModuleType = "voicemail"
    # time_router
    schedule: str = ""
    open: str = ""
    closed: str = ""
    holiday: str = ""
    # voice_menu
    greeting: str = ""
    options: Mapping[str, str] = field(default_factory=dict)
    timeout: int = 8
    on_timeout: str = ""
    on_invalid: str = ""
    # ring_group / queue
    destinations: tuple[str, ...] = ()
    ring_time: int = 25
    max_wait: int = 300
    # call_recorder / voicemail / notification / fax
    delivery_methods: tuple[str, ...] = ()
    message: str = ""
    next: str = ""

    def exits(self) -> list[tuple[str, str]]:
        """(key, module name) for every branch out of this module, in the order a call tries."""
        if self.type == "time_router":
            keys = [("open", self.open), ("closed", self.closed), ("holiday", self.holiday)]
        elif self.type == "voice_menu":
            keys = [(f"options.{digit}", target) for digit, target in self.options.items()]
            keys += [("on_timeout", self.on_timeout), ("on_invalid", self.on_invalid)]
        else:
            keys = [("next", self.next)]
        return [(key, target) for key, target in keys if target]


@dataclass(frozen=True)
class CallFlow(Located):
    name: str = ""
    number: str = ""
    numbers: tuple[str, ...] = ()  # every DID that starts this flow (number first)
    start: str = ""
    modules: Mapping[str, Module] = field(default_factory=dict)


# -- SMS ---------------------------------------------------------------------------------------
SmsReceiveType = Literal["device", "email", "url", "forward", "none"]


@dataclass(frozen=True)
class SmsRoute(Located):
    number: str = ""
    type: SmsReceiveType = "none"
    value: str = ""
    username: str = ""
    password: Secret | None = None


# -- the whole config ------------------------------------------------------------------------
@dataclass(frozen=True)
class Config(Located):
    path: Path = Path()
    system: System = System(Where("", 0))
    numbers: tuple[str, ...] = ()
    number_lines: Lines = field(default_factory=dict, compare=False, repr=False)
    trunks: tuple[Trunk, ...] = ()
    feature_codes: FeatureCodes = FeatureCodes(Where("", 0))
    audio_files: tuple[AudioFile, ...] = ()
    time_schedules: tuple[TimeSchedule, ...] = ()
    users: tuple[User, ...] = ()
    sip_accounts: tuple[ContactMethod, ...] = ()
    pstn_forwardings: tuple[ContactMethod, ...] = ()
    sip_forwardings: tuple[ContactMethod, ...] = ()
    emails: tuple[EmailAddress, ...] = ()
    call_flows: tuple[CallFlow, ...] = ()
    delivery_methods: tuple[DeliveryMethod, ...] = ()
    sms: tuple[SmsRoute, ...] = ()

    @cached_property
    def contact_methods(self) -> tuple[ContactMethod, ...]:
        """Every ringable contact method, app configurations included, in file order."""
        apps = tuple(u.app_configuration for u in self.users if u.app_configuration)
        return self.sip_accounts + apps + self.pstn_forwardings + self.sip_forwardings

    # Lookups by name, indexed once: a config may hold thousands of contact methods.
    @cached_property
    def _by_name(self) -> dict[str, dict[str, object]]:
        def index(items: tuple, key: str = "name") -> dict[str, object]:
            out: dict[str, object] = {}
            for item in items:
                out.setdefault(getattr(item, key), item)
            return out

        return {
            "contact_method": index(self.contact_methods),
            "delivery_method": index(self.delivery_methods),
            "schedule": index(self.time_schedules),
            "audio_file": index(self.audio_files),
            "user": index(self.users),
            "call_flow": index(self.call_flows),
            "email": {e.address.lower(): e for e in reversed(self.emails)},
        }

    def contact_method(self, name: str) -> ContactMethod | None:
        return self._by_name["contact_method"].get(name)  # type: ignore[return-value]

    def delivery_method(self, name: str) -> DeliveryMethod | None:
        return self._by_name["delivery_method"].get(name)  # type: ignore[return-value]

    def schedule(self, name: str) -> TimeSchedule | None:
        return self._by_name["schedule"].get(name)  # type: ignore[return-value]

    def audio_file(self, name: str) -> AudioFile | None:
        return self._by_name["audio_file"].get(name)  # type: ignore[return-value]

    def user(self, name: str) -> User | None:
        return self._by_name["user"].get(name)  # type: ignore[return-value]

    def email(self, address: str) -> EmailAddress | None:
        return self._by_name["email"].get(address.lower())  # type: ignore[return-value]

    def call_flow(self, name: str) -> CallFlow | None:
        return self._by_name["call_flow"].get(name)  # type: ignore[return-value]

    # Who answers a number: indexed once, first definition wins (duplicates are rule errors).
    @cached_property
    def _numbers(self) -> dict[str, dict[str, object]]:
        flows: dict[str, object] = {}
        dids: dict[str, object] = {}
        internal: dict[str, object] = {}
        for flow in self.call_flows:
            for number in flow.numbers:
                flows.setdefault(number, flow)
        for cm in self.contact_methods:
            for number in cm.did_numbers:
                dids.setdefault(number, cm)
            for number in cm.internal_numbers:
                internal.setdefault(number, cm)
        return {"flow": flows, "did": dids, "internal": internal}

    def call_flow_for(self, number: str) -> CallFlow | None:
        return self._numbers["flow"].get(number)  # type: ignore[return-value]

    def contact_method_for_did(self, number: str) -> ContactMethod | None:
        return self._numbers["did"].get(number)  # type: ignore[return-value]

    def contact_method_for_internal(self, number: str) -> ContactMethod | None:
        return self._numbers["internal"].get(number)  # type: ignore[return-value]

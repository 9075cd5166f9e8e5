"""Property tests: for generated valid configs, every plan terminates and names only what exists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pbx_bridge.config.load import load_config_text
from pbx_bridge.config.model import INSTANT_MODULE_TYPES, Config
from pbx_bridge.routing.resolve import resolve

MODULE_TYPES = ["time_router", "voice_menu", "ring_group", "queue", "voicemail",
                "call_recorder", "notification", "fax"]
TIMEZONES = ["UTC", "America/New_York", "Europe/Paris", "Australia/Lord_Howe", "Asia/Kolkata"]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@st.composite
def schedules(draw: st.DrawFn, index: int) -> dict[str, Any]:
    rules = []
    for _ in range(draw(st.integers(1, 3))):
        start = draw(st.integers(0, 23 * 60 + 59))
        end = draw(st.integers(0, 24 * 60).filter(lambda m, s=start: m != s))
        rules.append({"days": draw(st.lists(st.sampled_from(DAYS), min_size=1, unique=True)),
                      "from": f"{start // 60:02d}:{start % 60:02d}",
                      "to": f"{end // 60:02d}:{end % 60:02d}"})
    holidays = draw(st.lists(st.dates(datetime(2026, 1, 1).date(), datetime(2027, 12, 31).date()),
                             max_size=3, unique=True))
    return {"name": f"sched-{index}", "rules": rules, "holidays": [d.isoformat() for d in holidays]}


@st.composite
def modules(draw: st.DrawFn, contacts: list[str], n_schedules: int) -> dict[str, Any]:
    count = draw(st.integers(1, 7))
    names = [f"m{i}" for i in range(count)]
    out: dict[str, Any] = {}
    for i, name in enumerate(names):
        kinds = [t for t in MODULE_TYPES
                 if (t != "queue" or len(contacts) >= 4) and (t != "time_router" or n_schedules)]
        type_ = draw(st.sampled_from(kinds))
        # Instant modules only point forward, so no loop is made of them alone; others may
        # point anywhere (a menu may repeat itself, a ring group fail over backwards).
        later = names[i + 1:]
        targets = later if type_ in INSTANT_MODULE_TYPES else names
        target = st.sampled_from(targets) if targets else st.none()
        module: dict[str, Any] = {"type": type_}
        if type_ == "time_router":
            if not targets:
                module["type"] = type_ = "voicemail"
            else:
                module["schedule"] = f"sched-{draw(st.integers(0, n_schedules - 1))}"
                module["open"], module["closed"] = draw(target), draw(target)
                if draw(st.booleans()):
                    module["holiday"] = draw(target)
        if type_ == "voice_menu":
            module["greeting"] = "hello"
            keys = draw(st.lists(st.sampled_from(list("0123456789*#")), min_size=1,
                                 max_size=4, unique=True))
            module["options"] = {k: draw(target) for k in keys}
            if draw(st.booleans()):
                module["on_timeout"] = draw(target)
            if draw(st.booleans()):
                module["on_invalid"] = draw(target)
        elif type_ in ("ring_group", "queue"):
            size = (1, 3) if type_ == "ring_group" else (4, len(contacts))
            key = "destinations" if type_ == "ring_group" else "members"
            module[key] = draw(st.lists(st.sampled_from(contacts), min_size=size[0],
                                        max_size=size[1], unique=True))
        if type_ in ("ring_group", "queue", "call_recorder", "notification") and targets \
                and draw(st.booleans()):
            module["next"] = draw(target)
        if type_ in ("voicemail", "call_recorder", "notification", "fax"):
            module["delivery_methods"] = ["files"]
        out[name] = module
    return out


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    n_contacts = draw(st.integers(1, 6))
    n_schedules = draw(st.integers(0, 2))
    contacts = [f"phone-{i}" for i in range(n_contacts)]
    dids = [f"1202555{i:04d}" for i in range(20)]
    direct = draw(st.lists(st.sampled_from(dids[:10]), max_size=n_contacts, unique=True))
    sip_accounts = []
    for i, name in enumerate(contacts):
        account: dict[str, Any] = {"name": name, "username": f"u{i}", "password": "env:X",
                                   "internal_number": str(100 + i),
                                   "when_unavailable": draw(st.sampled_from([
                                       {"action": "nothing"},
                                       {"action": "voicemail", "greeting": "hello"}]))}
        if i < len(direct):
            account["did_number"] = direct[i]
        sip_accounts.append(account)
    flows = [{"name": f"flow-{i}", "number": dids[10 + i], "start": "m0",
              "modules": draw(modules(contacts, n_schedules))}
             for i in range(draw(st.integers(0, 3)))]
    return {
        "system": {"timezone": draw(st.sampled_from(TIMEZONES))},
        "numbers": dids,
        "audio_files": [{"name": "hello", "file": "hello.wav"}],
        "time_schedules": [draw(schedules(i)) for i in range(n_schedules)],
        "contact_methods": {"sip_accounts": sip_accounts},
        "call_flows": flows,
        "delivery_methods": [{"name": "files", "type": "local", "directory": "/tmp/x"}],
    }


def exists(config: Config, step_module: str, flow_modules: set[str]) -> bool:
    return step_module in flow_modules or config.contact_method(step_module) is not None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs(), st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31),
                               timezones=st.just(UTC)),
       st.text(alphabet="0123456789*#", max_size=6))
def test_every_plan_terminates_and_names_only_what_exists(data: dict[str, Any],
                                                          instant: datetime,
                                                          presses: str) -> None:
    loaded = load_config_text(yaml.safe_dump(data), "generated.yaml")
    assert loaded.ok, [str(p) for p in loaded.errors]
    config = loaded.config
    numbers = [n for flow in config.call_flows for n in flow.numbers]
    numbers += [n for cm in config.contact_methods for n in cm.did_numbers + cm.internal_numbers]
    for number in numbers:
        plan = resolve(config, number, "", instant, presses)
        flow = config.call_flow_for(number)
        flow_modules = set(flow.modules) if flow else set()
        # Terminates: each module at most once per key pressed, plus a closing step.
        assert 1 <= len(plan.steps) <= len(flow_modules) * (len(presses) + 1) + 2
        for step in plan.steps:
            assert exists(config, step.module, flow_modules), step
            assert all(config.contact_method(d) for d in step.destinations), step
            assert not step.greeting or config.audio_file(step.greeting), step
            assert all(config.delivery_method(d) for d in step.delivery_methods), step
            assert not step.next or step.next in flow_modules, step
        if plan.loops_to:
            assert plan.loops_to in flow_modules
        last = plan.steps[-1]
        assert plan.loops_to or last.type in ("voicemail", "fax", "hangup"), plan


def test_property_generator_is_not_vacuous() -> None:
    """Guard: the generator does produce flows with menus and time routers."""
    seen: set[str] = set()

    @settings(max_examples=60, deadline=None)
    @given(configs())
    def collect(data: dict[str, Any]) -> None:
        for flow in data["call_flows"]:
            seen.update(m["type"] for m in flow["modules"].values())

    collect()
    assert {"voice_menu", "ring_group", "time_router"} <= seen


def test_instant_after_a_long_time_still_resolves() -> None:
    """A far-future instant (beyond tzdata's rules) still gives a plan."""
    data = {"system": {"timezone": "Europe/Paris"}, "numbers": ["1"],
            "contact_methods": {"sip_accounts": [{"name": "a", "username": "a",
                                                  "password": "env:X", "did_number": "1"}]}}
    config = load_config_text(yaml.safe_dump(data), "g.yaml").config
    plan = resolve(config, "1", "", datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=365 * 80))
    assert plan.steps[0].type == "contact_method"

"""Reading `call_flows` and their modules."""

from __future__ import annotations

from typing import Any

from pbx_bridge.config.model import MODULE_TYPES, CallFlow, Module
from pbx_bridge.config.parse_contacts import names
from pbx_bridge.config.parse_system import lines
from pbx_bridge.config.reader import Section

MAX_RING_GROUP_TIME = 60
MAX_QUEUE_WAIT = 900


def _menu_options(m: Section) -> dict[str, str]:
    options: dict[str, str] = {}
    opts = m.section("options", required=True)
    for digit, target in opts.data.items():
        opts.used.add(digit)
        if digit not in "0123456789*#" or len(digit) != 1:
            opts.error(digit, "a menu option is one key: 0-9, * or #")
        elif not isinstance(target, str) or not target:
            opts.error(digit, "expected the name of a module")
        else:
            options[digit] = target
    return options


def read_module(m: Section, name: str) -> Module:
    type_ = m.choice("type", MODULE_TYPES, required=True)
    fields: dict[str, Any] = {}
    if type_ == "time_router":
        fields["schedule"] = m.text("schedule", required=True, what="a time schedule name")
        fields["open"] = m.text("open", required=True, what="the module when open")
        fields["closed"] = m.text("closed", required=True, what="the module when closed")
        fields["holiday"] = m.text("holiday", what="the module on holidays")
    elif type_ == "voice_menu":
        fields["greeting"] = m.text("greeting", required=True, what="an audio file name")
        fields["options"] = _menu_options(m)
        fields["timeout"] = m.integer("timeout", 8, low=1, high=60, unit="seconds")
        fields["on_timeout"] = m.text("on_timeout", what="a module name")
        fields["on_invalid"] = m.text("on_invalid", what="a module name")
    elif type_ == "ring_group":
        fields["destinations"] = names(m, "destinations")
        fields["ring_time"] = m.integer("ring_time", 25, low=1, unit="seconds")
        count = len(fields["destinations"])
        if count == 0:
            m.error("destinations", "a ring group needs 1 to 3 destinations")
        elif count > 3:
            m.error("destinations", f"a ring group has 1 to 3 destinations, this one has "
                                    f"{count}: use a queue for 4 or more")
        if fields["ring_time"] > MAX_RING_GROUP_TIME:
            m.error("ring_time", f"a ring group rings at most {MAX_RING_GROUP_TIME} s, "
                                 f"not {fields['ring_time']}")
    elif type_ == "queue":
        fields["destinations"] = names(m, "members")
        fields["max_wait"] = m.integer("max_wait", 300, low=1, unit="seconds")
        fields["greeting"] = m.text("greeting", what="an audio file name")
        count = len(fields["destinations"])
        if count < 4:
            m.error("members", f"a queue has at least 4 members, this one has {count}: "
                               "use a ring group for 1 to 3")
        if fields["max_wait"] > MAX_QUEUE_WAIT:
            m.error("max_wait", f"a caller waits in a queue at most {MAX_QUEUE_WAIT} s "
                                f"(15 min), not {fields['max_wait']}")
    elif type_ == "voicemail":
        fields["greeting"] = m.text("greeting", what="an audio file name")
    elif type_ == "notification":
        fields["message"] = m.text("message", what="a message with dynamic fields")
    if type_ in ("voicemail", "call_recorder", "notification", "fax"):
        fields["delivery_methods"] = names(m, "delivery_methods")
    if type_ in ("ring_group", "queue", "call_recorder", "notification"):
        fields["next"] = m.text("next", what="a module name")
    module = Module(m.where, lines(m), name, type_ or "voicemail", **fields)  # type: ignore[arg-type]
    m.done()
    return module


def read_call_flows(root: Section) -> tuple[CallFlow, ...]:
    flows = []
    for f in root.sections("call_flows"):
        flow_name = f.text("name", required=True, what="the call flow's name")
        number = f.number("number", required=True)
        extra = tuple(n for n, _ in f.numbers("numbers"))
        start = f.text("start", required=True, what="the first module's name")
        modules: dict[str, Module] = {}
        mods = f.section("modules", required=True)
        for module_name in mods.data:
            mods.used.add(module_name)
            section = Section(mods.data[module_name], f"{mods.path}.{module_name}",
                              mods.at(module_name), f.problems)
            modules[module_name] = read_module(section, module_name)
        flows.append(CallFlow(f.where, lines(f), flow_name, number,
                              tuple(dict.fromkeys((number, *extra)) if number else extra),
                              start, modules))
        f.done()
    return tuple(flows)

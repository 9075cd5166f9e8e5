"""Reading `system`, `numbers`, `trunks`, `feature_codes`, `audio_files`, `time_schedules`."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pbx_bridge.config.model import (
    Agi,
    Ami,
    AudioFile,
    Esl,
    FeatureCodes,
    OAuthApp,
    Pbx,
    ScheduleRule,
    Smtp,
    System,
    TimeSchedule,
    Trunk,
)
from pbx_bridge.config.reader import Section
from pbx_bridge.config.source import Where

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
OAUTH_PROVIDERS = ("dropbox", "google", "microsoft")


def lines(section: Section) -> dict[str, Where]:
    return dict(section.data.key_where)


def _host_port(section: Section, key: str, default_port: int) -> tuple[str, int]:
    value = section.text(key, f"127.0.0.1:{default_port}", what="HOST:PORT")
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        section.error(key, f"{value!r} is not HOST:PORT (like 127.0.0.1:{default_port})")
        return "127.0.0.1", default_port
    return host.strip("[]") or "0.0.0.0", int(port)


def read_pbx(s: Section) -> Pbx:
    kind = s.choice("kind", ("asterisk", "freeswitch"), "asterisk")
    ami = agi = esl = None
    if s.has("ami"):
        a = s.section("ami")
        ami = Ami(a.where, lines(a), a.text("host", "127.0.0.1"),
                  a.integer("port", 5038, low=1, high=65535),
                  a.text("username", required=True, what="the AMI user"),
                  a.secret("secret", required=True))
        a.done()
    if s.has("agi"):
        g = s.section("agi")
        host, port = _host_port(g, "listen", 4573)
        agi = Agi(g.where, lines(g), host, port)
        g.done()
    if s.has("esl"):
        e = s.section("esl")
        lhost, lport = _host_port(e, "listen", 8084)
        esl = Esl(e.where, lines(e), e.text("host", "127.0.0.1"),
                  e.integer("port", 8021, low=1, high=65535), e.secret("password"),
                  lhost, lport)
        e.done()
    pbx = Pbx(s.where, lines(s), kind, ami, agi, esl,  # type: ignore[arg-type]
              s.text("recordings_dir", "/var/spool/asterisk/monitor", what="a folder"))
    s.done()
    return pbx


def read_smtp(s: Section) -> Smtp:
    smtp = Smtp(s.where, lines(s), s.text("host", "127.0.0.1"),
                s.integer("port", 25, low=1, high=65535), s.boolean("starttls", True),
                s.text("sender", required=True, what="the From address"),
                s.text("username"), s.secret("password"),
                s.integer("max_message_bytes", 10_000_000, low=1000, unit="bytes"))
    s.done()
    return smtp


def read_oauth(s: Section) -> tuple[OAuthApp, ...]:
    apps = []
    for provider in s.data:
        if provider not in OAUTH_PROVIDERS:
            continue
        a = s.section(provider)
        client_key = "app_key" if provider == "dropbox" else "client_id"
        secret_key = "app_secret" if provider == "dropbox" else "client_secret"
        apps.append(OAuthApp(a.where, lines(a), provider,
                             a.secret(client_key, required=True), a.secret(secret_key),
                             a.text("tenant", "common" if provider == "microsoft" else "")))
        a.done()
    s.done(OAUTH_PROVIDERS)
    return tuple(apps)


def read_system(s: Section) -> System:
    timezone = s.text("timezone", "UTC", what="an IANA time zone like Europe/Paris")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        s.error("timezone", f"{timezone!r} is not a known time zone; use an IANA name "
                            "like America/New_York")
        timezone = "UTC"
    pbx = read_pbx(s.section("pbx")) if s.has("pbx") else None
    smtp = read_smtp(s.section("smtp")) if s.has("smtp") else None
    oauth = read_oauth(s.section("oauth")) if s.has("oauth") else ()
    system = System(s.where, lines(s), s.text("name"), timezone, pbx,
                    s.text("store", System.store, what="a store URL like sqlite:///path.db"),
                    smtp, oauth, s.integer("ring_time", 20, low=5, high=600, unit="seconds"))
    if not system.store.startswith(("sqlite://", "postgresql://")):
        s.error("store", f"{system.store!r}: use sqlite:///PATH or postgresql://...")
    s.done()
    return system


def read_numbers(root: Section) -> tuple[tuple[str, ...], dict[str, Where]]:
    seen: dict[str, Where] = {}
    for number, where in root.numbers("numbers"):
        if number in seen:
            root.problems.error(where, f"numbers: {number} is listed twice "
                                f"(first at line {seen[number].line}); remove one")
        else:
            seen[number] = where
    return tuple(seen), seen


def read_trunks(root: Section) -> tuple[Trunk, ...]:
    trunks = []
    for t in root.sections("trunks"):
        trunks.append(Trunk(t.where, lines(t), t.text("name", required=True),
                            t.text("endpoint", required=True, what="the PBX endpoint name")))
        t.done()
    return tuple(trunks)


def read_feature_codes(s: Section) -> FeatureCodes:
    codes = FeatureCodes(s.where, lines(s),
                         s.text("attended_transfer", "*11", numeric=True),
                         s.text("unattended_transfer", "*22", numeric=True),
                         s.text("record_on_demand", "*33", numeric=True))
    for key, code in codes.as_dict().items():
        if code and not (len(code) >= 2 and code[0] in "*#" and code[1:].isdigit()):
            s.error(key, f"{code!r} is not a feature code: '*' or '#' then digits, like \"*11\"")
    s.done()
    return codes


def read_audio_files(root: Section, base: Path) -> tuple[AudioFile, ...]:
    files = []
    for a in root.sections("audio_files"):
        name = a.text("name", required=True)
        file = a.text("file", required=True, what="a path relative to the config file")
        files.append(AudioFile(a.where, lines(a), name, file, (base / file) if file else Path()))
        a.done()
    return tuple(files)


def _days(rule: Section) -> frozenset[int]:
    days = set()
    written = rule.texts("days", required=True, what="weekdays like mon, tue")
    if not written and isinstance(rule.data.get("days"), list):
        rule.error("days", "an empty list never matches; list at least one weekday, like [mon]")
    for text, where in written:
        day = text.strip().lower()[:3]
        if day in WEEKDAYS:
            days.add(WEEKDAYS.index(day))
        else:
            rule.problems.error(where, f"{rule.name('days')}: {text!r} is not a weekday; "
                                "use mon, tue, wed, thu, fri, sat, sun")
    return frozenset(days)


def read_time_schedules(root: Section) -> tuple[TimeSchedule, ...]:
    schedules = []
    for s in root.sections("time_schedules"):
        rules = []
        for r in s.sections("rules", label="days"):
            start = r.clock("from") or time(0)
            end = r.clock("to") or time.max
            if start == end:
                r.error("to", "equals `from`: an empty interval; use 00:00 to 24:00 for all day")
            rules.append(ScheduleRule(r.where, lines(r), _days(r), start, end))
            r.done()
        holidays = tuple(day for day, _ in s.dates("holidays"))
        schedules.append(TimeSchedule(s.where, lines(s), s.text("name", required=True),
                                      tuple(rules), holidays))
        s.done()
    return tuple(schedules)

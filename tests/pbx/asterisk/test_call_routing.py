"""The AGI call router over a real FastAGI socket, with a scripted "Asterisk" client: the
variables each round sets, refusals, delivery jobs, and hostile caller text kept out of every
command, path and name."""

from __future__ import annotations

import asyncio
import wave
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pbx_bridge.config.load import load_config
from pbx_bridge.config.model import Config
from pbx_bridge.pbx.asterisk.call_routing import CallRouter, RecordingsDir
from pbx_bridge.pbx.asterisk.fastagi import AgiServer
from pbx_bridge.store import Store, open_store
from tests.routing.conftest import ACME

NEW_YORK = ZoneInfo("America/New_York")
OPEN = datetime(2026, 11, 24, 10, 15, tzinfo=NEW_YORK)
PBX_DIR = "/var/spool/asterisk/monitor"
UNIQUEID = "1795393172.7"
HOSTILE_NAME = '../../etc/passwd"; rm -rf / $(reboot)\r\nSET VARIABLE X 1'
HOSTILE_NUMBER = "../../../tmp/x,1)"


@pytest.fixture(scope="module")
def acme() -> Config:
    loaded = load_config(ACME)
    assert loaded.ok
    return loaded.config


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield opened
    opened.close()


def env(script: str, args: list[str], callerid: str = "15559876543",
        name: str = "Caller") -> bytes:
    lines = ["agi_network: yes", f"agi_network_script: {script}", f"agi_uniqueid: {UNIQUEID}",
             f"agi_callerid: {callerid}", f"agi_calleridname: {name}"]
    lines += [f"agi_arg_{i}: {value}" for i, value in enumerate(args, 1)]
    return ("\n".join(line.replace("\r", "").replace("\n", " ") for line in lines)
            + "\n\n").encode()


async def agi_round(router: CallRouter, script: str, args: list[str], **caller: str
                    ) -> dict[str, str]:
    """One AGI session as Asterisk runs it; returns the variables the router set."""
    async with AgiServer(router.routes) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(env(script, args, **caller))
        variables: dict[str, str] = {}
        while line := (await asyncio.wait_for(reader.readline(), 5)).decode():
            assert line.startswith("SET VARIABLE "), line
            name, _, value = line[len("SET VARIABLE "):].rstrip("\n").partition(" ")
            variables[name] = value.strip('"').replace('\\"', '"')
            writer.write(b"200 result=1\n")
        writer.close()
        await server.wait_sessions_done(1, 5)
    return variables


def router_for(acme: Config, store: Store, tmp_path: Path) -> CallRouter:
    return CallRouter(acme, store, clock=lambda: OPEN,
                      recordings=RecordingsDir(PBX_DIR, tmp_path / "rec"))


def step(router: CallRouter, *args: str, **caller: str) -> dict[str, str]:
    return asyncio.run(agi_round(router, "step", list(args), **caller))


def test_direct_did_rounds(acme: Config, store: Store, tmp_path: Path) -> None:
    router = router_for(acme, store, tmp_path)
    first = step(router, "trunk", "12025550100", "", "", "1795393172")
    assert first == {"PBXB_ACTION": "dial", "PBXB_DIAL": "PJSIP/frontdesk",
                     "PBXB_TIMEOUT": "20", "PBXB_POS": "ring",
                     "PBXB_DIALOPTS": "tTb(pbx-bridge-callee^s^1(12025550100))",
                     # front-desk records inbound external calls (test_recording_router.py)
                     "PBXB_REC": f"{PBX_DIR}/rec-{UNIQUEID}"}
    second = step(router, "trunk", "12025550100", "ring", "NOANSWER", "1795393172")
    assert second == {"PBXB_ACTION": "voicemail", "PBXB_SOUND": "pbx-bridge-main-greeting",
                      "PBXB_FILE": f"{PBX_DIR}/voicemail-{UNIQUEID}", "PBXB_POS": "after"}


def test_call_flow_rounds_menu_queue(acme: Config, store: Store, tmp_path: Path) -> None:
    router = router_for(acme, store, tmp_path)
    menu = step(router, "trunk", "12025550102", "", "", "0")
    assert (menu["PBXB_ACTION"], menu["PBXB_SOUND"], menu["PBXB_TIMEOUT"]) == (
        "menu", "pbx-bridge-main-greeting", "8")
    queue = step(router, "trunk", "12025550102", menu["PBXB_POS"], "KEY2", "0")
    assert queue == {"PBXB_ACTION": "queue", "PBXB_QUEUE": "pbx-bridge-main-line-support",
                     "PBXB_TIMEOUT": "600", "PBXB_POS": "m3",
                     # front-desk, a member, records it if it answers (test_recording_router)
                     "PBXB_REC": f"{PBX_DIR}/rec-{UNIQUEID}"}


def test_unknown_number_and_garbage_arguments_end_the_call(acme: Config, store: Store,
                                                         tmp_path: Path) -> None:
    router = router_for(acme, store, tmp_path)
    assert step(router, "trunk", "999", "", "", "0")["PBXB_CAUSE"] == "1"
    assert step(router, "trunk", "103", "", "", "0")["PBXB_CAUSE"] == "1"  # internal only
    bad = step(router, "trunk", "1202555010x", "m1;Dial", "ANSWER)", "x")
    assert bad["PBXB_ACTION"] == "end"


def test_phone_calls_get_their_caller_id_or_a_refusal(acme: Config, store: Store,
                                                      tmp_path: Path) -> None:
    router = router_for(acme, store, tmp_path)
    internal = step(router, "desk2", "103", "", "", "0", callerid="desk2")
    assert internal["CALLERID(num)"] == "102" and internal["PBXB_DIAL"] == "PJSIP/desk3"
    out = step(router, "app-alice", "12025559999", "", "", "0", callerid="12025550101")
    assert (out["CALLERID(num)"], out["PBXB_DIAL"], out["PBXB_POS"]) == (
        "12025550101", "PJSIP/12025559999@carrier-trunk", "out")
    assert step(router, "app-alice", "12025559999", "out", "NOANSWER", "0")["PBXB_ACTION"] == (
        "end")
    refused = step(router, "desk2", "12025559999", "", "", "0", callerid="12025550100")
    assert (refused["PBXB_ACTION"], refused["PBXB_CAUSE"]) == ("end", "21")
    stranger = step(router, "someone-else", "103", "", "", "0")
    assert stranger["PBXB_CAUSE"] == "21"


def test_hostile_caller_text_never_reaches_commands_or_paths(
        acme: Config, store: Store, tmp_path: Path) -> None:
    router = router_for(acme, store, tmp_path)
    variables = step(router, "trunk", "12025550100", "ring", "BUSY", "1795393172",
                     callerid=HOSTILE_NUMBER, name=HOSTILE_NAME)
    assert variables["PBXB_FILE"] == f"{PBX_DIR}/voicemail-{UNIQUEID}"
    assert not any(word in value for value in variables.values()
                   for word in ("passwd", "rm -rf", "tmp/x", "reboot"))
    # The message left there, then the hangup handler's round.
    message = tmp_path / "rec" / f"voicemail-{UNIQUEID}.wav"
    message.parent.mkdir()
    with wave.open(str(message), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x01\x02" * 8000)
    asyncio.run(agi_round(router, "finished", ["trunk", "12025550100", "1795393172", "after",
                                               ""], callerid=HOSTILE_NUMBER,
                          name=HOSTILE_NAME))
    jobs = store.jobs()
    assert sorted(job.method for job in jobs) == ["archive-s3", "recordings-sftp"]
    for job in jobs:
        assert job.file == str(message.resolve())
        assert job.facts["src_name"].startswith("../../etc/passwd")  # kept as data only
        assert "passwd" not in job.remote_name.split("/")[0:-1]
        assert ".." not in job.remote_name and "\n" not in job.remote_name
        assert job.remote_name.startswith(("2025/", "2026/", "/recordings/2026/11/"))


def test_notification_passed_on_the_way_is_a_delivery_job(acme: Config, store: Store,
                                                         tmp_path: Path) -> None:
    router = router_for(acme, store, tmp_path)
    recorder = step(router, "trunk", "12025550103", "", "", "1795393172")
    assert recorder["PBXB_ACTION"] == "record"
    assert recorder["PBXB_FILE"] == f"{PBX_DIR}/call-{UNIQUEID}-m0"
    ring = step(router, "trunk", "12025550103", "m0", "DONE", "1795393172")
    assert ring["PBXB_DIAL"] == "PJSIP/frontdesk" and ring["PBXB_TIMEOUT"] == "20"
    end = step(router, "trunk", "12025550103", "m1", "NOANSWER", "1795393172")
    assert end["PBXB_ACTION"] == "end"
    [job] = store.jobs()
    assert (job.method, job.facts["service_name"]) == ("ops-email", "Notification")
    assert Path(job.file).name == f"notification-{UNIQUEID}-m2.txt"
    assert "15559876543" in Path(job.file).read_text()


def test_empty_message_is_not_queued(acme: Config, store: Store, tmp_path: Path) -> None:
    router = router_for(acme, store, tmp_path)
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / f"voicemail-{UNIQUEID}.wav").write_bytes(b"RIFF" + b"\0" * 40)
    asyncio.run(agi_round(router, "finished", ["trunk", "12025550100", "0", "after", ""]))
    assert store.jobs() == []
    assert not (tmp_path / "rec" / f"voicemail-{UNIQUEID}.wav").exists()

"""A real Asterisk 22, real SIP phones and a real carrier (sipp), and our FastAGI server.

Synchronisation is by AMI events, process exit and the MixMonitor post-command; never sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from pbx_bridge.lab.ami import AmiClient, AmiLoginError, event_is
from pbx_bridge.lab.recordings import RecordingListener, wav_stats
from pbx_bridge.lab.runner import AsteriskLab
from pbx_bridge.lab.sipp import CarrierResult, SippPhone
from pbx_bridge.pbx.asterisk.fastagi import AgiServer, AgiSession, Handler

pytestmark = pytest.mark.asterisk

DID = "15551230001"


async def test_ami_login_sees_fully_booted(asterisk_lab: AsteriskLab) -> None:
    lab = asterisk_lab
    async with await AmiClient.connect(
        "127.0.0.1", lab.ami_port, lab.ami_user, lab.ami_secret
    ) as client:
        booted = await client.wait_for(event_is("FullyBooted"), timeout=5)
        assert booted["Status"] == "Fully Booted"
        assert client.banner and client.banner.startswith("Asterisk Call Manager/")
        assert "Asterisk 22" in await client.command("core show version")
    with pytest.raises(AmiLoginError):  # Asterisk answers a failed login after 1 s
        await AmiClient.connect("127.0.0.1", lab.ami_port, lab.ami_user, "wrong-secret")


def test_cli_and_config_layout(asterisk_lab: AsteriskLab) -> None:
    modules = asterisk_lab.cli("module show like res_agi")
    assert "res_agi.so" in modules
    transports = asterisk_lab.cli("pjsip show transports")
    assert f"127.0.0.1:{asterisk_lab.sip_port}" in transports
    etc = asterisk_lab.host_path(asterisk_lab.layout.etc)
    assert "#include" in (etc / "extensions.conf").read_text()
    assert (asterisk_lab.include_dir / "queues_pbx_bridge.conf").is_file()


async def test_phone_registers_with_generated_credentials(
    sip_phone: Callable[..., Awaitable[SippPhone]], ami: AmiClient
) -> None:
    phone = await sip_phone()
    contacts = await ami.command("pjsip show contacts")
    assert f"{phone.account.username}/sip:{phone.account.username}@127.0.0.1:{phone.sip_port}" in (
        contacts
    )


async def test_did_call_routed_by_fastagi_answered_and_recorded(
    asterisk_lab: AsteriskLab,
    ami: AmiClient,
    sip_phone: Callable[..., Awaitable[SippPhone]],
    agi_server: Callable[[dict[str, Handler]], Awaitable[AgiServer]],
    recording_listener: RecordingListener,
    place_carrier_call: Callable[..., Awaitable[CarrierResult]],
) -> None:
    phone = await sip_phone()
    seen: list[tuple[str, list[str]]] = []

    async def route(session: AgiSession) -> None:
        seen.append((session.env.get("agi_callerid", ""), session.args))
        await session.set_variable("ROUTE_ENDPOINT", phone.account.username)

    agi = await agi_server({"route": route})
    recordings = asterisk_lab.layout.recordings
    asterisk_lab.write_include(
        "extensions",
        f"""
[pbx-bridge-inbound]
exten => _X.,1,NoOp(DID ${{EXTEN}} from ${{CALLERID(num)}})
 same => n,AGI(agi://127.0.0.1:{agi.port}/route,${{EXTEN}})
 same => n,MixMonitor({recordings}/${{UNIQUEID}}.wav,,{recording_listener.post_command()})
 same => n,Dial(PJSIP/${{ROUTE_ENDPOINT}},20)
 same => n,Hangup()
""",
    )
    await asyncio.to_thread(asterisk_lab.reload, ["pbx_config.so"])  # `dialplan reload`

    mark = ami.mark()
    result = await place_carrier_call(DID, talk=2.5)
    assert result.answered, result.stderr

    assert seen == [("15559876543", [DID])]
    dial_end = await ami.wait_for(event_is("DialEnd", DialStatus="ANSWER"), 5, since=mark)
    assert dial_end["DestChannel"].startswith(f"PJSIP/{phone.account.username}-")
    assert dial_end["Channel"].startswith("PJSIP/carrier-")
    started = await ami.wait_for(event_is("MixMonitorStart"), 5, since=mark)

    path = await recording_listener.wait(timeout=10)
    assert path == f"{recordings}/{started['Uniqueid']}.wav"
    stats = wav_stats(asterisk_lab.host_path(path))
    assert stats.rate == 8000
    assert stats.seconds > 1.0
    assert stats.rms > 100  # real speech from the pcaps, not silence


def test_operator_include_dir_copied_and_reloaded(lab_root: Path, tmp_path: Path) -> None:
    """A second Asterisk reading `*_pbx_bridge.conf` from a directory outside the root."""
    generated = tmp_path / "dialplan"
    generated.mkdir()
    context = "[pbx-bridge-inbound]\nexten => 123,1,NoOp(first-version)\n"
    (generated / "extensions_pbx_bridge.conf").write_text(context)
    lab = AsteriskLab(lab_root, include_dir=generated)
    with lab:
        assert lab.ready_seconds is not None and lab.ready_seconds < 5
        assert "first-version" in lab.cli("dialplan show pbx-bridge-inbound")
        (generated / "extensions_pbx_bridge.conf").write_text(context.replace("first", "second"))
        lab.reload()
        assert "second-version" in lab.cli("dialplan show pbx-bridge-inbound")
        for module in ("app_queue", "app_voicemail"):  # their .conf exist, so they load
            assert "Running" in lab.cli(f"module show like {module}")
    assert not lab.alive()
    for name in ("pjsip", "features", "queues", "voicemail"):  # absent ones: empty stand-ins
        assert (lab.include_dir / f"{name}_pbx_bridge.conf").is_file()
    lab.remove_run_dir()
    assert not lab.run_dir.exists()

"""A finished recording becomes delivery requests with the call's facts (acme.yaml)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pbx_bridge.calls.events import Party, RecordingFinished
from pbx_bridge.calls.finished import (
    Directory,
    delivery_request,
    flow_recorders,
    unclaimed_recordings,
)
from pbx_bridge.calls.recording_policy import Recorder
from pbx_bridge.config.model import Config
from pbx_bridge.delivery.queue import submit
from pbx_bridge.store import open_store
from tests.routing.conftest import acme  # noqa: F401  (fixture)

CARRIER = Party("15559876543", "Müller", "carrier-trunk")
FRONT = Party("100", "Front Desk", "frontdesk")
T0 = 1795393172.3


def done(caller: Party = CARRIER, callee: Party = FRONT, dialled: str = "12025550100",
         on_demand: bool = False) -> RecordingFinished:
    return RecordingFinished("1.0", "1.0", T0 + 9, "/rec/1.0.wav", "hangup", caller, callee,
                             dialled, T0, on_demand)


def test_external_call_to_a_direct_did(acme: Config) -> None:  # noqa: F811
    req = delivery_request(acme, done())
    assert req.methods == ("recordings-sftp", "archive-s3")
    assert req.reasons == ("front-desk records inbound external calls",)
    f = req.facts
    assert (f.service_name, f.src_number, f.src_name, f.dst_number) == (
        "Call recording", "15559876543", "Müller", "12025550100")
    assert f.call_time == datetime.fromtimestamp(T0, UTC) and req.dst_name == "Front Desk"


def test_call_recorder_flow(acme: Config) -> None:  # noqa: F811
    assert flow_recorders(acme, "12025550103") == (Recorder("record", ("archive-s3",)),)
    req = delivery_request(acme, done(dialled="12025550103"))
    assert req.methods == ("archive-s3", "recordings-sftp")


def test_known_recorders_replace_the_flow_guess(acme: Config) -> None:  # noqa: F811
    req = delivery_request(acme, done(dialled="12025550103"), recorders=())
    assert req.methods == ("recordings-sftp", "archive-s3")


def test_internal_call_nobody_asks_file_is_kept(acme: Config) -> None:  # noqa: F811
    req = delivery_request(acme, done(Party("102", "", "desk2"), Party("103", "", "desk3"),
                                      dialled="103"))
    assert req.methods == ()
    assert req.reasons[-1] == "no delivery method: the file is kept for an operator"
    assert req.facts.dst_number == "103"


def test_on_demand_goes_to_the_side_allowed(acme: Config) -> None:  # noqa: F811
    req = delivery_request(acme, done(Party("102", "", "desk2"), FRONT, "100", on_demand=True))
    assert req.methods == ("recordings-sftp", "archive-s3")
    assert req.reasons == ("on demand, for front-desk",)
    nobody = delivery_request(acme, done(Party("102", "", "desk2"), Party("103", "", "desk3"),
                                         "103", on_demand=True))
    assert nobody.methods == ()


def test_directory(acme: Config) -> None:  # noqa: F811
    d = Directory(acme)
    assert d.lookup(FRONT).name == "front-desk"  # type: ignore[union-attr]
    assert d.lookup(Party("", "", "desk-3")).name == "desk-3"  # type: ignore[union-attr]
    assert d.lookup(Party("200", "", "")).name == "bob-mobile"  # type: ignore[union-attr]
    assert d.lookup(Party("12025557777", "", "carrier-trunk")).name == "bob-mobile"  # type: ignore[union-attr]
    assert d.lookup(CARRIER) is None
    assert d.lookup(Party()) is None


def test_submitted_twice_is_one_job_per_method_and_hostile_name_stays_data(
        acme: Config, tmp_path: Path) -> None:  # noqa: F811
    store = open_store(f"sqlite:///{tmp_path / 'bridge.db'}")
    wav = tmp_path / "1.0.wav"
    wav.write_bytes(b"RIFF")
    hostile = Party("15559876543", "../../etc/passwd\r\nBcc: x@evil", "carrier-trunk")
    req = delivery_request(acme, done(caller=hostile))
    first = submit(store, acme, wav, req.methods, req.facts, now=1.0)
    again = submit(store, acme, wav, req.methods, req.facts, now=2.0)
    assert [j.id for j in first] == [j.id for j in again]
    assert len(store.jobs(file=str(wav.resolve()))) == 2
    for job in first:
        assert ".." not in job.remote_name and "\n" not in job.remote_name
        assert "/etc/passwd" not in job.remote_name


@pytest.mark.parametrize("min_age", [0.0, 60.0])
def test_unclaimed_recordings(min_age: float) -> None:
    listing = [("/r/a.wav", 0.0), ("/r/b.wav", 0.0), ("/r/c.wav", 0.0), ("/r/new.wav", 99.0),
               ("/r/notes.txt", 0.0)]
    got = unclaimed_recordings(listing, active={"/r/a.wav"}, claimed={"/r/b.wav"}, now=100.0,
                               min_age=min_age)
    assert got == (["/r/c.wav", "/r/new.wav"] if min_age == 0.0 else ["/r/c.wav"])

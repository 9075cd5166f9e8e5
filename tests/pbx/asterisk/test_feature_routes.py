"""The router's side of feature codes over a real FastAGI socket (acme.yaml): transfers routed
with the transferer's rights, the calling phone's codes, on-demand recordings named from
Asterisk's ids only."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from pbx_bridge.config.load import load_config
from pbx_bridge.config.model import Config
from pbx_bridge.pbx.asterisk.ami_calls import router_owned
from pbx_bridge.store import Store, open_store
from tests.pbx.asterisk.test_call_routing import (
    HOSTILE_NUMBER,
    PBX_DIR,
    UNIQUEID,
    agi_round,
    router_for,
    step,
)
from tests.routing.conftest import ACME


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


def test_transfer_to_a_number_of_this_system_is_routed_like_a_call_to_it(
        acme: Config, store: Store, tmp_path: Path) -> None:
    router = router_for(acme, store, tmp_path)
    rung = step(router, "pbx-bridge-xfer-desk-2", "103", "", "", "0")
    assert (rung["PBXB_ACTION"], rung["PBXB_DIAL"]) == ("dial", "PJSIP/desk3")
    assert rung["PBXB_DIALOPTS"] == "tTb(pbx-bridge-callee^s^1(103))"
    assert "CALLERID(num)" not in rung  # the target sees who is being transferred


def test_transfers_refused_without_the_right(acme: Config, store: Store,
                                             tmp_path: Path) -> None:
    router = router_for(acme, store, tmp_path)
    for origin, number in (("pbx-bridge-xfer-desk-3", "100"),  # may not transfer
                           ("pbx-bridge-xfer-desk-2", "33612345678"),  # may not call out
                           ("pbx-bridge-xfer-desk-2", "12345")):  # neither ours nor E.164
        refused = step(router, origin, number, "", "", "0")
        assert (refused["PBXB_ACTION"], refused["PBXB_CAUSE"]) == ("end", "21"), origin


def test_a_phone_leg_gets_its_codes_only_when_allowed(acme: Config, store: Store,
                                                      tmp_path: Path) -> None:
    router = router_for(acme, store, tmp_path)
    desk2 = step(router, "desk2", "103", "", "", "0", callerid="desk2")
    assert (desk2["FEATUREMAP(blindxfer)"], desk2["FEATUREMAP(atxfer)"]) == ("*22", "*11")
    assert desk2["TRANSFER_CONTEXT"] == "pbx-bridge-xfer-desk-2"
    assert "DYNAMIC_FEATURES" not in desk2  # desk-2 does not record on demand
    desk3 = step(router, "desk3", "102", "", "", "0", callerid="desk3")
    assert not [name for name in desk3 if "FEATURE" in name or name == "TRANSFER_CONTEXT"]
    alice = step(router, "app-alice", "102", "", "", "0", callerid="101")
    assert alice["DYNAMIC_FEATURES"] == "pbx-bridge-record" and "FEATUREMAP(atxfer)" not in alice


def test_ondemand_file_named_from_asterisk_ids_only(acme: Config, store: Store,
                                                    tmp_path: Path) -> None:
    router = router_for(acme, store, tmp_path)
    started = asyncio.run(agi_round(router, "ondemand", ["start", "front-desk", "1795393172",
                                                         "1"]))
    assert started == {"PBXB_ODFILE": f"{PBX_DIR}/ondemand-{UNIQUEID}-1795393172-1"}
    for args in (["start", "desk-3", "1795393172", "1"],  # no on_demand
                 ["start", "front-desk", HOSTILE_NUMBER, "1"],
                 ["stop", "front-desk", "1795393172", "1", HOSTILE_NUMBER],
                 ["pause", "front-desk", "1795393172", "1"]):
        assert asyncio.run(agi_round(router, "ondemand", args)) == {}
    assert store.jobs() == []
    assert router_owned(f"{PBX_DIR}/ondemand-{UNIQUEID}-1795393172-1.wav")  # not the feed's

"""Feature codes as rendered for Asterisk (features_pbx_bridge.conf and the feature contexts of
extensions_pbx_bridge.conf): codes that never collide, codes only where the config allows
them, transfer targets checked by the transferer's context, same config -> same bytes."""

from __future__ import annotations

import dataclasses
import re

from hypothesis import given
from hypothesis import strategies as st

from pbx_bridge.config.model import Config, FeatureCodes, Where
from pbx_bridge.pbx.asterisk.dialplan import feature_codes, features
from pbx_bridge.pbx.asterisk.dialplan.features import collides, in_transfer_codes
from pbx_bridge.routing.transfer import transfer
from tests.routing.conftest import acme  # noqa: F401  (fixture)

AGI = "127.0.0.1:4573"


def section(text: str, name: str) -> str:
    """The body of `[name]` (or `[name](+)`) up to the next section."""
    match = re.search(rf"^\[{re.escape(name)}\](?:\(\+\))?\n(.*?)(?=^\[|\Z)", text, re.M | re.S)
    assert match, f"no [{name}] in\n{text}"
    return match.group(1)


def context(text: str, name: str) -> str:
    return section(text, name)


def test_acme_features_file(acme: Config) -> None:  # noqa: F811
    text = features.render(acme)
    general = section(text, "general")
    assert "featuredigittimeout = 1000\n" in general
    codes = dict(re.findall(r"^(atxfer(?:abort|complete|threeway|swap)) = (\S+)$", general,
                            re.M))
    assert codes == {"atxferabort": "**1", "atxfercomplete": "**2", "atxferthreeway": "**3",
                     "atxferswap": "**4"}  # *1..*4 would be prefixes of *11, *22, *33
    featuremap = section(text, "featuremap")
    # off for everyone; FEATUREMAP() switches them on per channel
    assert re.findall(r"^(\w+) =\s*$", featuremap, re.M) == ["blindxfer", "atxfer", "automixmon"]
    assert section(text, "applicationmap").strip().splitlines()[-1] == (
        "pbx-bridge-record => *33,self,Gosub(pbx-bridge-ondemand,s,1)")


codes = st.text("0123456789*#", min_size=2, max_size=4).filter(lambda c: c[0] in "*#")


@given(st.lists(codes, min_size=3, max_size=3, unique=True).filter(
    lambda cs: not any(collides(a, b) for i, a in enumerate(cs) for b in cs[i + 1:])))
def test_in_transfer_codes_never_collide(operator: list[str]) -> None:
    chosen = list(in_transfer_codes(operator).values())
    everything = operator + chosen
    for i, a in enumerate(everything):
        for b in everything[i + 1:]:
            assert not collides(a, b), (a, b, operator)


def test_grants_only_where_the_config_allows_them(acme: Config) -> None:  # noqa: F811
    text = feature_codes.render(acme, AGI)
    grants = context(text, feature_codes.GRANTS)
    blocks = dict(re.findall(r"^exten => ([^,]+),1,NoOp\(feature codes\)\n(.*?)"
                             r"same => n,Return\(\)", grants, re.M | re.S))
    transfer_grant = "Set(FEATUREMAP(blindxfer)=*22)"
    # allow_call_transfer: front-desk, desk-2, bob-mobile (on the trunk, by its number)
    assert {key for key, body in blocks.items() if transfer_grant in body} == {
        "frontdesk", "desk2", "pbx-bridge-pstn-12025557777"}
    assert "Set(TRANSFER_CONTEXT=pbx-bridge-xfer-front-desk)" in blocks["frontdesk"]
    # on_demand with a delivery method: front-desk and Alice's app (which may not transfer)
    assert {key for key, body in blocks.items() if "DYNAMIC_FEATURES" in body} == {
        "frontdesk", "app-alice"}
    assert "FEATUREMAP" not in blocks["app-alice"]
    assert "desk3" not in blocks and "branch-office" not in grants  # neither: nothing
    lines = [line for line in grants.splitlines() if line and not line.startswith(";")]
    assert lines[-1] == "exten => _[0-9A-Za-z].,1,Return()"  # everyone else


def test_transfer_targets_are_checked_by_the_transferers_context(
        acme: Config) -> None:  # noqa: F811
    text = feature_codes.render(acme, AGI)
    desk2 = context(text, "pbx-bridge-xfer-desk-2")
    targets = re.findall(r"^exten => ([^,]+),1,", desk2, re.M)
    # this system's numbers only: desk-2 may not call out, so no E.164 pattern
    assert "100" in targets and "12025550100" in targets and "300" in targets
    assert all(t.isdigit() for t in targets)
    assert "pbx-bridge-xfer-desk-3" not in text  # may not transfer: no context at all
    # with external calls, E.164 lengths 8..15 (digits only; '#' ends them)
    desk = acme.contact_method("desk-2")
    assert desk is not None
    outward = dataclasses.replace(desk, external_outbound_calls=True, caller_ids=("12025550102",))
    config = dataclasses.replace(acme, sip_accounts=tuple(
        outward if cm.name == "desk-2" else cm for cm in acme.sip_accounts))
    patterns = re.findall(r"^exten => (_X+),1,",
                          context(feature_codes.render(config, AGI), "pbx-bridge-xfer-desk-2"),
                          re.M)
    assert [len(p) - 1 for p in patterns] == list(range(8, 16))
    # the router checks again when the transferred call is routed
    assert transfer(config, outward, "33612345678").out is not None
    assert not transfer(acme, desk, "33612345678").allowed
    assert not transfer(acme, acme.contact_method("desk-3"), "100").allowed
    assert transfer(acme, desk, "100").internal


def test_dial_options_carry_only_digits() -> None:
    assert feature_codes.dial_options("12025550100") == (
        "tTb(pbx-bridge-callee^s^1(12025550100))")
    assert feature_codes.dial_options("1,2)") == "tTb(pbx-bridge-callee^s^1())"


def test_same_config_same_bytes(acme: Config) -> None:  # noqa: F811
    assert features.render(acme) == features.render(acme)
    assert feature_codes.render(acme, AGI) == feature_codes.render(acme, AGI)
    other = dataclasses.replace(acme, feature_codes=FeatureCodes(
        Where("", 0), attended_transfer="*1", unattended_transfer="*2", record_on_demand="*3"))
    assert "atxferabort = **1" in features.render(other)  # *1..*4 taken: the next family
    assert "FEATUREMAP(blindxfer)=*2" in feature_codes.render(other, AGI)


def test_no_caller_text_in_the_feature_contexts(acme: Config) -> None:  # noqa: F811
    text = feature_codes.render(acme, AGI)
    assert "CALLERID" not in text and "CONNECTEDLINE" not in text
    for line in text.splitlines():
        if "MixMonitor(" in line and "StopMixMonitor(" not in line:
            assert line.strip() == "same => n,MixMonitor(${PBXB_ODFILE}.wav,i(PBXB_ODID))"

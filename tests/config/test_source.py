"""The YAML reader itself: values, lines, anchors and merge keys, refusals."""

from __future__ import annotations

import pytest

from pbx_bridge.config.source import SourceError, Where, parse_yaml


def test_plain_scalars_resolve_the_yaml_1_2_way_and_quoted_ones_stay_text() -> None:
    data, _ = parse_yaml('a: 09:00\nb: 0101\nc: 20\nd: "20"\ne: true\nf: "true"\ng: no\n'
                         "h: 1.5\ni: ~\nj:\nk: 2026-12-24\n", "f.yaml")
    assert data == {"a": "09:00", "b": "0101", "c": 20, "d": "20", "e": True, "f": "true",
                    "g": "no", "h": 1.5, "i": None, "j": None, "k": "2026-12-24"}


def test_every_key_and_item_keeps_its_line() -> None:
    data, _ = parse_yaml("top:\n  list:\n    - one\n    - two: 2\n", "f.yaml")
    assert data.at("top") == Where("f.yaml", 1)
    assert data["top"].at("list") == Where("f.yaml", 2)
    assert data["top"]["list"].at(1) == Where("f.yaml", 4)
    assert data["top"]["list"][1].at("two") == Where("f.yaml", 4)


def test_anchors_aliases_and_merge_keys_work_and_explicit_keys_win() -> None:
    text = ("defaults: &d\n  ring_time: 20\n  next: voicemail\n"
            "sales:\n  <<: *d\n  ring_time: 30\n"
            "same: *d\n")
    data, duplicates = parse_yaml(text, "f.yaml")
    assert data["sales"] == {"ring_time": 30, "next": "voicemail"}
    assert data["sales"].at("ring_time") == Where("f.yaml", 6)
    assert data["same"] is data["defaults"]
    assert duplicates == []


def test_a_duplicate_key_is_remembered_with_both_lines() -> None:
    _, duplicates = parse_yaml("a: 1\nb: 2\na: 3\n", "f.yaml")
    assert [(d.key, d.where.line, d.first.line) for d in duplicates] == [("a", 3, 1)]


@pytest.mark.parametrize(("text", "message"), [
    ("a: !!python/object:os.system x\n", "f.yaml:1: not valid YAML: unsupported tag"),
    ("a: 1\n---\nb: 2\n", "f.yaml:2: not valid YAML: but found another document"),
    ("a: *nowhere\n", "f.yaml:1: not valid YAML: found undefined alias"),
    ("a: [1, 2\n", "f.yaml:2: not valid YAML:"),
    ("? [1, 2]\n: x\n", "f.yaml:1: not valid YAML: a key must be a plain name"),
])
def test_what_is_not_plain_config_yaml_is_one_line_with_its_place(text: str,
                                                                  message: str) -> None:
    with pytest.raises(SourceError) as caught:
        parse_yaml(text, "f.yaml")
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_an_empty_document_is_none() -> None:
    assert parse_yaml("", "f.yaml")[0] is None
    assert parse_yaml("# only a comment\n", "f.yaml")[0] is None

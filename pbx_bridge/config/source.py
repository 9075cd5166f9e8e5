"""YAML text to plain data that remembers where every key and item came from.

The operator's file is read with a YAML 1.2-like scalar resolution: only `true`/`false` are
booleans and only plain decimal numbers are integers, so `09:00` stays a time string (YAML 1.1
would read it as 540), `0101` keeps its leading zero and `no`/`on` stay words. Duplicate keys,
which YAML silently overwrites, are reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml


@dataclass(frozen=True, order=True)
class Where:
    """A place in a config file: the file as the operator named it, and a 1-based line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class LocatedMap(dict[str, Any]):
    """A YAML mapping with the line of the mapping and of each key."""

    where: Where
    key_where: dict[str, Where]

    def at(self, key: str) -> Where:
        return self.key_where.get(key, self.where)


class LocatedList(list[Any]):
    """A YAML sequence with the line of the sequence and of each item."""

    where: Where
    item_where: list[Where]

    def at(self, index: int) -> Where:
        return self.item_where[index] if index < len(self.item_where) else self.where


class SourceError(Exception):
    """The file could not be read or is not YAML: one line, with the place when known."""


@dataclass(frozen=True)
class DuplicateKey:
    key: str
    where: Where
    first: Where


_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")
# Digits alone are never a float: without a '.' or an exponent, `0101` stays the text "0101".
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+\.[0-9]*|[0-9]+(?=[eE]))([eE][-+]?[0-9]+)?$")
_BOOL = re.compile(r"^(true|True|TRUE|false|False|FALSE)$")
_NULL = re.compile(r"^(~|null|Null|NULL|)$")


def _plain(value: str) -> Any:
    """A plain (unquoted) scalar, resolved the YAML 1.2 way described above."""
    first = value[:1]
    if first in _NUMBER_START:
        if _INT.match(value):
            return int(value)
        if _FLOAT.match(value):
            return float(value)
    elif first in "tTfF" and _BOOL.match(value):
        return value[0] in "tT"
    if _NULL.match(value):
        return None
    return value


_NUMBER_START = frozenset("-+0123456789.")
_STR_TAGS = frozenset({"!", "tag:yaml.org,2002:str"})

# libyaml's parser when PyYAML has it (about 5x faster on a config of thousands of accounts).
_Parser: type = getattr(getattr(yaml, "cyaml", None), "CParser", None) or type(
    "_PyParser",
    (yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser),
    {"__init__": lambda self, stream: [
        base.__init__(self, *args) for base, args in (
            (yaml.reader.Reader, (stream,)), (yaml.scanner.Scanner, ()),
            (yaml.parser.Parser, ()))]},
)


class _Builder:
    """Plain data straight from the parser's events.

    PyYAML's node graph and generic constructor cost four times the parse itself on a large
    config; one pass over the events, with the lines kept, does the same work."""

    def __init__(self, text: str, file: str) -> None:
        self.parser = _Parser(text)
        self.file = file
        self.duplicates: list[DuplicateKey] = []
        self.anchors: dict[str, Any] = {}

    def build(self) -> Any:
        get = self.parser.get_event
        get()  # stream start
        if isinstance(self.parser.peek_event(), yaml.StreamEndEvent):
            return None
        get()  # document start
        data = self._value(get())
        get()  # document end
        event = get()
        if not isinstance(event, yaml.StreamEndEvent):
            raise yaml.MarkedYAMLError(
                "expected a single document in the stream", None,
                "but found another document", event.start_mark)
        return data

    def _value(self, event: yaml.Event) -> Any:
        kind = type(event)
        if kind is yaml.ScalarEvent:
            value: Any = self._scalar(event)
        elif kind is yaml.MappingStartEvent:
            value = self._mapping(event)
        elif kind is yaml.SequenceStartEvent:
            value = self._sequence(event)
        elif kind is yaml.AliasEvent:
            if event.anchor not in self.anchors:
                raise yaml.MarkedYAMLError(None, None, f"found undefined alias {event.anchor!r}",
                                           event.start_mark)
            return self.anchors[event.anchor]
        else:
            raise yaml.MarkedYAMLError(None, None, f"unexpected {kind.__name__}",
                                       event.start_mark)
        if event.anchor is not None:
            self.anchors[event.anchor] = value
        return value

    def _scalar(self, event: yaml.ScalarEvent) -> Any:
        if event.tag is not None and event.tag not in _STR_TAGS:
            raise yaml.MarkedYAMLError(None, None, f"unsupported tag {event.tag!r}: write the "
                                       "value without a tag", event.start_mark)
        if event.implicit[0] and event.tag is None:
            return _plain(event.value)
        return event.value

    def _where(self, event: yaml.Event) -> Where:
        return Where(self.file, event.start_mark.line + 1)

    def _mapping(self, start: yaml.MappingStartEvent) -> LocatedMap:
        result = LocatedMap()
        result.where = self._where(start)
        result.key_where = key_where = {}
        merges: list[Any] = []
        get = self.parser.get_event
        while True:
            event = get()
            if type(event) is yaml.MappingEndEvent:
                break
            if type(event) is yaml.ScalarEvent and event.value == "<<" and event.implicit[0]:
                merges.append(self._value(get()))  # YAML merge key: explicit keys win
                continue
            key = self._value(event)
            if isinstance(key, dict | list):
                raise yaml.MarkedYAMLError(None, None, "a key must be a plain name",
                                           event.start_mark)
            # Keys are names in this product: `1:` in a voice menu means the key "1".
            key = "" if key is None else str(key).lower() if isinstance(key, bool) else str(key)
            where = self._where(event)
            if key in key_where:
                self.duplicates.append(DuplicateKey(key, where, key_where[key]))
            key_where[key] = where
            result[key] = self._value(get())
        for merged in merges:
            for source in merged if isinstance(merged, list) else [merged]:
                if not isinstance(source, LocatedMap):
                    raise yaml.MarkedYAMLError(None, None, "`<<` merges mappings only",
                                               start.start_mark)
                for key, value in source.items():
                    if key not in result:
                        result[key] = value
                        key_where[key] = source.at(key)
        return result

    def _sequence(self, start: yaml.SequenceStartEvent) -> LocatedList:
        result = LocatedList()
        result.where = self._where(start)
        result.item_where = item_where = []
        get = self.parser.get_event
        while True:
            event = get()
            if type(event) is yaml.SequenceEndEvent:
                break
            item_where.append(self._where(event))
            result.append(self._value(event))
        return result


def parse_yaml(text: str, file: str) -> tuple[Any, list[DuplicateKey]]:
    """Parse one YAML document; raise SourceError with `FILE:LINE: ...` when it isn't YAML."""
    builder = None
    try:
        builder = _Builder(text, file)  # the pure-Python reader checks the characters here
        data = builder.build()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problem = exc.problem or exc.context or "invalid YAML"
        raise SourceError(f"{file}:{line}: not valid YAML: {problem}") from None
    except yaml.reader.ReaderError as exc:  # a control character: no mark, a position
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        raise SourceError(f"{file}:{line}: not valid YAML: {exc.reason}; remove the control "
                          "character") from None
    except yaml.YAMLError as exc:
        raise SourceError(f"{file}: not valid YAML: {' '.join(str(exc).split())}") from None
    finally:
        if builder is not None and hasattr(builder.parser, "dispose"):
            builder.parser.dispose()
    return data, builder.duplicates


def read_yaml(path: str) -> tuple[Any, list[DuplicateKey]]:
    """Read and parse a config file; SourceError for a missing, unreadable or non-YAML file."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SourceError(f"{path}: is a directory, not a config file") from None
    except PermissionError:
        raise SourceError(f"{path}: permission denied") from None
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_yaml(text, path)

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


class _Resolver(yaml.resolver.BaseResolver):
    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        # BaseResolver's general version (path resolvers) costs a third of a large check.
        if kind is yaml.ScalarNode:
            if implicit[0]:
                for tag, regexp in self.yaml_implicit_resolvers.get(value[:1], ()):
                    if regexp.match(value):
                        return tag
            return self.DEFAULT_SCALAR_TAG
        if kind is yaml.SequenceNode:
            return self.DEFAULT_SEQUENCE_TAG
        return self.DEFAULT_MAPPING_TAG


_Resolver.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL, list("tTfF"))
_Resolver.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
_Resolver.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))
_Resolver.add_implicit_resolver("tag:yaml.org,2002:null", _NULL, ["~", "n", "N", ""])


# libyaml's parser when PyYAML has it (about 5x faster on a config of thousands of accounts).
_Parser: type = getattr(getattr(yaml, "cyaml", None), "CParser", None) or type(
    "_PyParser",
    (yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer),
    {"__init__": lambda self, stream: [
        base.__init__(self, *args) for base, args in (
            (yaml.reader.Reader, (stream,)), (yaml.scanner.Scanner, ()),
            (yaml.parser.Parser, ()), (yaml.composer.Composer, ()))]},
)


class _Loader(_Parser, yaml.constructor.SafeConstructor, _Resolver):  # type: ignore[misc]
    def __init__(self, stream: str, file: str) -> None:
        _Parser.__init__(self, stream)
        yaml.constructor.SafeConstructor.__init__(self)
        _Resolver.__init__(self)
        self.file = file
        self.duplicates: list[DuplicateKey] = []

    def _where(self, node: yaml.Node) -> Where:
        return Where(self.file, node.start_mark.line + 1)

    def construct_located_map(self, node: yaml.MappingNode) -> LocatedMap:
        result = LocatedMap()
        result.where = self._where(node)
        result.key_where = {}
        yield result
        self.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            # Keys are names in this product: `1:` in a voice menu means the key "1".
            key = "" if key is None else str(key).lower() if isinstance(key, bool) else str(key)
            where = self._where(key_node)
            if key in result.key_where:
                self.duplicates.append(DuplicateKey(key, where, result.key_where[key]))
            result.key_where[key] = where
            result[key] = self.construct_object(value_node, deep=True)

    def construct_located_list(self, node: yaml.SequenceNode) -> LocatedList:
        result = LocatedList()
        result.where = self._where(node)
        result.item_where = [self._where(item) for item in node.value]
        yield result
        result.extend(self.construct_object(item, deep=True) for item in node.value)


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_located_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_located_list)


def parse_yaml(text: str, file: str) -> tuple[Any, list[DuplicateKey]]:
    """Parse one YAML document; raise SourceError with `FILE:LINE: ...` when it isn't YAML."""
    loader = None
    try:
        loader = _Loader(text, file)  # the pure-Python reader checks the characters here
        data = loader.get_single_data()
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
        if loader is not None:
            loader.dispose()
    return data, loader.duplicates


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

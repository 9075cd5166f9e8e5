"""`check`, `relations` and `export`: commands that read a config and print what they find."""

from __future__ import annotations

import argparse
import csv
import json
import sys

from pbx_bridge.config.load import Loaded, load_config
from pbx_bridge.config.source import SourceError

EXIT_OK, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2


def load_or_report(path: str) -> Loaded | int:
    """The loaded config, or an exit code after printing why it can't be used."""
    try:
        loaded = load_config(path)
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    if not loaded.ok:
        for problem in loaded.errors:
            print(problem, file=sys.stderr)
        print(f"{path}: invalid ({len(loaded.errors)} errors); run `pbx-bridge check {path}`",
              file=sys.stderr)
        return EXIT_INVALID
    return loaded


def cmd_check(args: argparse.Namespace) -> int:
    try:
        loaded = load_config(args.config)
    except SourceError as exc:
        print(exc)
        return EXIT_UNREADABLE
    for problem in loaded.problems:
        print(problem)
    errors, warnings = len(loaded.errors), len(loaded.warnings)
    verdict = "valid" if loaded.ok else "invalid"
    print(f"{args.config}: {verdict} ({errors} error{'s' * (errors != 1)}, "
          f"{warnings} warning{'s' * (warnings != 1)})")
    return EXIT_OK if loaded.ok else EXIT_INVALID


def add_parser(sub: argparse._SubParsersAction) -> None:
    check = sub.add_parser("check", help="validate a config; print every problem at once")
    check.add_argument("config")
    check.set_defaults(func=cmd_check)
    add_more_parsers(sub)


def cmd_relations(args: argparse.Namespace) -> int:
    from pbx_bridge.config.relations import KINDS, UnknownObject, canonical_kind, relations

    loaded = load_or_report(args.config)
    if isinstance(loaded, int):
        return loaded
    try:
        uses = relations(loaded.config, args.kind, args.name)
    except UnknownObject as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    label = f"{KINDS[canonical_kind(args.kind)]} {args.name}"
    if args.json:
        print(json.dumps({"kind": canonical_kind(args.kind), "name": args.name,
                          "used_by": [{"file": u.where.file, "line": u.where.line,
                                       "by": u.user, "key": u.key} for u in uses]}, indent=2))
    elif not uses:
        print(f"nothing uses {label}: it can be deleted")
    else:
        print(f"{label} is used by {len(uses)} object{'s' * (len(uses) != 1)} "
              "(deleting it is refused while these remain):")
        for use in uses:
            print(f"  {use.where}: {use.user} ({use.key})")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from pbx_bridge.config.export import COLUMNS, contact_method_rows

    loaded = load_or_report(args.config)
    if isinstance(loaded, int):
        return loaded
    writer = csv.DictWriter(sys.stdout, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(contact_method_rows(loaded.config))
    return 0


def add_more_parsers(sub: argparse._SubParsersAction) -> None:
    rel = sub.add_parser("relations", help="what uses an object (deleting is refused while "
                                           "anything does)")
    rel.add_argument("config")
    rel.add_argument("kind", help="delivery-method, contact-method, schedule, audio-file, "
                                  "module (FLOW/MODULE), user, email")
    rel.add_argument("name")
    rel.add_argument("--json", action="store_true")
    rel.set_defaults(func=cmd_relations)
    export = sub.add_parser("export", help="export objects as CSV")
    export.add_argument("config")
    export.add_argument("what", choices=["contact-methods"])
    export.add_argument("--csv", action="store_true", required=True,
                        help="CSV on stdout (the only format so far)")
    export.set_defaults(func=cmd_export)

"""`check`, `relations` and `export`: commands that read a config and print what they find."""

from __future__ import annotations

import argparse
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

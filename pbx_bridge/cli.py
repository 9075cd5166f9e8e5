"""The `pbx-bridge` command: wires subcommands together, holds no rules of its own.

Each subcommand lives in a module exposing `add_parser(subparsers)`; the parser it adds sets
`func`, a callable taking the parsed arguments and returning the exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pbx_bridge import __version__


def build_parser() -> argparse.ArgumentParser:
    from pbx_bridge import (
        commands_config,
        commands_delivery,
        commands_dialplan,
        commands_route,
        commands_run,
    )
    from pbx_bridge.lab import cli as lab_cli

    parser = argparse.ArgumentParser(
        prog="pbx-bridge",
        description="Hosted-business-phone features for a self-hosted PBX, from one YAML file.",
    )
    parser.add_argument("--version", action="version", version=f"pbx-bridge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (commands_config, commands_route, commands_dialplan, commands_run,
                   commands_delivery, lab_cli):
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

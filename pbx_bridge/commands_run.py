"""`pbx-bridge run CONFIG`: the bridge, after refusing what it could not work with."""

from __future__ import annotations

import argparse
import asyncio
import sys

from pbx_bridge.commands_config import load_or_report
from pbx_bridge.config.external import external_errors
from pbx_bridge.logs import configure_logging
from pbx_bridge.service import Bridge, DeliveryComponent
from pbx_bridge.store import StoreUnavailable, open_store

EXIT_REFUSED = 1


def cmd_run(args: argparse.Namespace) -> int:
    loaded = load_or_report(args.config)
    if isinstance(loaded, int):
        return loaded
    config = loaded.config
    # `check` warns about these; a running bridge would fail calls or deliveries on them.
    refused = external_errors(config)
    if refused:
        for problem in refused:
            print(problem, file=sys.stderr)
        print(f"{args.config}: refusing to start ({len(refused)} unresolved secrets or audio "
              "files, each named above)", file=sys.stderr)
        return EXIT_REFUSED
    configure_logging(args.log_level)
    try:
        store = open_store(config.system.store)
    except StoreUnavailable as exc:
        print(f"error: system.store: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    try:
        asyncio.run(Bridge(config, [DeliveryComponent(config, store)]).run())
    finally:
        store.close()
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("run", help="run the bridge until SIGTERM (which drains, exit 0)")
    parser.add_argument("config")
    parser.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warning", "error"])
    parser.set_defaults(func=cmd_run)

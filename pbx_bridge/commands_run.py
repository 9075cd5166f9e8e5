"""`pbx-bridge run CONFIG`: the bridge, after refusing what it could not work with."""

from __future__ import annotations

import argparse
import asyncio
import sys

import structlog

from pbx_bridge.commands_config import load_or_report
from pbx_bridge.config.external import external_errors
from pbx_bridge.config.model import Config
from pbx_bridge.logs import configure_logging
from pbx_bridge.pbx.asterisk.fastagi import loop_factory
from pbx_bridge.service import Bridge, Component, ComponentFailed, DeliveryComponent
from pbx_bridge.store import Store, StoreUnavailable, open_store

log = structlog.get_logger()

EXIT_REFUSED = 1


def components(config: Config, store: Store) -> list[Component]:
    """Delivery first, then call events, routing last: a stop then ends routing (no new calls)
    before the events and the delivery worker drain."""
    parts: list[Component] = [DeliveryComponent(config, store)]
    pbx = config.system.pbx
    if pbx is not None and pbx.kind == "asterisk":
        from pbx_bridge.pbx.asterisk.ami_calls import EventsComponent
        from pbx_bridge.pbx.asterisk.call_routing import RoutingComponent

        if pbx.ami is not None:
            parts.append(EventsComponent(config, store))
        else:
            log.warning("no_ami_configured", hint="add system.pbx.ami to follow calls and "
                        "hand recordings on")
        parts.append(RoutingComponent(config, store))
    elif pbx is not None:
        log.warning("pbx_not_supported_yet", kind=pbx.kind, running=["delivery"])
    else:
        log.warning("no_pbx_configured", hint="add system.pbx to route calls",
                    running=["delivery"])
    return parts


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
        # uvloop when installed: about twice the FastAGI sessions per core (bench/README.md).
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(Bridge(config, components(config, store)).run())
    except ComponentFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    finally:
        store.close()
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("run", help="run the bridge until SIGTERM (which drains, exit 0)")
    parser.add_argument("config")
    parser.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warning", "error"])
    parser.set_defaults(func=cmd_run)

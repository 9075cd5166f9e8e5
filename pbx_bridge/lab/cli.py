"""`pbx-bridge lab ...`: provision and run a real Asterisk for tests and the demo."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("lab", help="a real Asterisk for tests and the demo")
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
    lab_sub = parser.add_subparsers(dest="lab_command", metavar="LAB_COMMAND")

    prov = lab_sub.add_parser(
        "provision", help="create or reuse the cached Debian root holding Asterisk"
    )
    prov.add_argument(
        "--root",
        type=Path,
        default=None,
        help="root directory (default: $PBX_BRIDGE_LAB_ROOT or ~/.cache/pbx-bridge/asterisk-root)",
    )
    prov.set_defaults(func=_provision)

    demo = lab_sub.add_parser(
        "demo", help="provision, start Asterisk, register phones and place sample DID calls"
    )
    demo.add_argument("--root", type=Path, default=None, help="root directory (as for provision)")
    demo.add_argument(
        "--config",
        type=Path,
        default=None,
        help="operator YAML whose delivery method takes the recordings (routing still uses "
        "the demo's own DID table)",
    )
    demo.add_argument(
        "--deliver-to", default="recordings-local", metavar="METHOD",
        help="the config's delivery method for the recordings (default recordings-local)",
    )
    demo.add_argument(
        "--talk", type=float, default=3.0, help="seconds each sample caller talks (default 3)"
    )
    demo.set_defaults(func=_demo)


def _say(text: str) -> None:
    print(text, flush=True)


def _provision(args: argparse.Namespace) -> int:
    from pbx_bridge.lab.provision import ProvisionError, provision

    try:
        result = provision(args.root, say=_say)
    except ProvisionError as exc:
        print(f"pbx-bridge lab provision: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("pbx-bridge lab provision: interrupted; run it again to finish", file=sys.stderr)
        return 130
    how = "reused" if result.reused else "provisioned"
    steps = ", ".join(f"{name} {secs:.1f} s" for name, secs in result.steps)
    print(f"{how} {result.root} ({result.asterisk_version}) in {result.seconds:.2f} s")
    if steps:
        print(f"  steps: {steps}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from pbx_bridge.lab.demo import run_demo

    if args.config is not None:
        # Routing from the config arrives with the Asterisk dialplan (issue 4).
        print(f"note: calls are routed by the demo's own DID table; {args.config} delivers "
              "the recordings")
    try:
        return run_demo(args.root, talk_seconds=args.talk, config=args.config,
                        deliver_to=args.deliver_to)
    except KeyboardInterrupt:
        print("pbx-bridge lab demo: interrupted; Asterisk and the phones were stopped")
        return 130

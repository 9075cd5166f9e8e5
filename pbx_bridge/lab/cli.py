"""`pbx-bridge lab ...`: provision and run a real Asterisk for tests and the demo."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# The repository's example office (an editable install); else ./config/example.yaml.
_REPO_EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example.yaml"
DEFAULT_CONFIG = _REPO_EXAMPLE if _REPO_EXAMPLE.is_file() else Path("config/example.yaml")


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
        "demo", help="the config's office on a real Asterisk: generated dialplan, call router "
        "and delivery worker, sipp phones and sample carrier calls, the delivery log"
    )
    demo.add_argument("--root", type=Path, default=None, help="root directory (as for provision)")
    demo.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        help=f"the operator YAML the demo runs (default {DEFAULT_CONFIG})",
    )
    demo.add_argument(
        "--keep", action="store_true",
        help="keep the run folder (Asterisk's files, logs, sipp logs) also when all went well",
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

    try:
        return run_demo(args.root, args.config, keep=args.keep)
    except KeyboardInterrupt:
        print("pbx-bridge lab demo: interrupted; Asterisk, the phones, the router and the "
              "delivery worker were stopped")
        return 130

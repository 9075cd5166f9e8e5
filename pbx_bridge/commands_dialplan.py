"""`pbx-bridge dialplan CONFIG --pbx asterisk --out DIR`: the PBX-side files of a config."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pbx_bridge.commands_config import load_or_report
from pbx_bridge.pbx.asterisk.dialplan import DialplanError, render, sip_passwords
from pbx_bridge.pbx.asterisk.dialplan.sounds import prepare

EXIT_OK, EXIT_REFUSED = 0, 1


def _by_line(problem: str) -> tuple[str, int]:
    file, _, rest = problem.partition(":")
    line = rest.split(":", 1)[0]
    return (file, int(line)) if line.isdigit() else (file, 0)


def _refuse(config_path: str, problems: list[str]) -> int:
    for problem in sorted(problems, key=_by_line):
        print(problem, file=sys.stderr)
    print(f"{config_path}: no files written ({len(problems)} problems, each named above)",
          file=sys.stderr)
    return EXIT_REFUSED


def cmd_dialplan(args: argparse.Namespace) -> int:
    if args.pbx != "asterisk":
        print(f"error: --pbx {args.pbx}: not supported yet (only asterisk)", file=sys.stderr)
        return EXIT_REFUSED
    loaded = load_or_report(args.config)
    if isinstance(loaded, int):
        return loaded
    config = loaded.config
    out = Path(args.out).absolute()
    sounds_dir = args.sounds_dir or str(out / "sounds")
    passwords, problems = sip_passwords(config)
    problems += prepare(config, out / "sounds")
    if problems:
        return _refuse(args.config, problems)
    try:
        files = render(config, passwords, sounds_dir, args.agi or None)
    except DialplanError as exc:
        return _refuse(args.config, exc.problems)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        partial = out / f".{name}.partial"
        partial.write_text(text)
        partial.chmod(0o640)  # pjsip holds passwords
        partial.replace(out / name)
        print(out / name)
    return EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("dialplan", help="write the PBX-side files (Asterisk includes)")
    parser.add_argument("config")
    parser.add_argument("--pbx", required=True, choices=["asterisk", "freeswitch"])
    parser.add_argument("--out", required=True, help="folder for the generated files")
    parser.add_argument("--sounds-dir", default="",
                        help="where Asterisk finds the converted greetings (written to "
                             "OUT/sounds; default: that folder's absolute path)")
    parser.add_argument("--agi", default="", metavar="HOST:PORT",
                        help="where Asterisk reaches the bridge's FastAGI server (default: "
                             "system.pbx.agi.listen)")
    parser.set_defaults(func=cmd_dialplan)

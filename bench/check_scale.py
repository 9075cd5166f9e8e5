"""How `check` and `route` scale: 5,000 SIP accounts and 500 call flows.

Prints the time to check the generated config (target: under 2 s) against baselines measured
in the same run (PyYAML's own safe_load of the same text, and libyaml's CSafeLoader: what merely
reading the YAML costs, without lines or rules), and route-resolution latency percentiles
(target: one resolution under 1 ms) against the same resolutions on a tiny config.

    .venv/bin/python bench/check_scale.py [--accounts 5000] [--flows 500] [--routes 2000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from pbx_bridge.config.load import load_config
from pbx_bridge.routing.resolve import resolve


def generate(accounts: int, flows: int) -> dict:
    dids = [f"1202{n:07d}" for n in range(accounts // 2 + flows)]
    sip = [{"name": f"phone-{i}", "username": f"user{i}", "password": f"env:PW_{i}",
            "internal_number": str(1000 + i) if i < 9000 else None,
            "did_number": dids[i] if i < accounts // 2 else None,
            "allow_call_transfer": i % 2 == 0,
            "when_unavailable": {"action": "voicemail", "greeting": "greeting"}
            if i % 3 == 0 else {"action": "nothing"},
            "recording": {"delivery_methods": ["archive"], "inbound_external": True}}
           for i in range(accounts)]
    for account in sip:
        for key in [k for k, v in account.items() if v is None]:
            del account[key]
    call_flows = []
    for f in range(flows):
        members = [f"phone-{(f * 7 + k) % accounts}" for k in range(5)]
        call_flows.append({
            "name": f"flow-{f}", "number": dids[accounts // 2 + f], "start": "hours",
            "modules": {
                "hours": {"type": "time_router", "schedule": "office", "open": "record",
                          "closed": "voicemail"},
                "record": {"type": "call_recorder", "delivery_methods": ["archive"],
                           "next": "menu"},
                "menu": {"type": "voice_menu", "greeting": "greeting",
                         "options": {"1": "sales", "2": "support"}, "on_timeout": "sales"},
                "sales": {"type": "ring_group", "destinations": members[:3], "ring_time": 20,
                          "next": "support"},
                "support": {"type": "queue", "members": members, "max_wait": 300,
                            "next": "voicemail"},
                "voicemail": {"type": "voicemail", "greeting": "greeting",
                              "delivery_methods": ["archive"]},
            }})
    return {
        "system": {"name": "Scale test", "timezone": "America/New_York"},
        "numbers": dids,
        "audio_files": [{"name": "greeting", "file": "greeting.wav"}],
        "time_schedules": [{"name": "office", "rules": [
            {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:30"}],
            "holidays": ["2026-12-25"]}],
        "contact_methods": {"sip_accounts": sip},
        "call_flows": call_flows,
        "delivery_methods": [{"name": "archive", "type": "local", "directory": "/tmp/archive"}],
    }


def best_of(runs: int, fn) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e6  # noqa: E731
    return f"p50 {pick(0.50):.1f} us, p95 {pick(0.95):.1f} us, p99 {pick(0.99):.1f} us, " \
           f"max {ordered[-1] * 1e6:.1f} us"


def route_latencies(config, numbers: list[str], count: int) -> list[float]:
    rng = random.Random(7)
    base = datetime(2026, 11, 23, tzinfo=UTC)
    samples = []
    for _ in range(count):
        number = rng.choice(numbers)
        instant = base + timedelta(minutes=rng.randrange(7 * 24 * 60))
        presses = rng.choice(["", "1", "2", "9"])
        start = time.perf_counter()
        resolve(config, number, "", instant, presses)
        samples.append(time.perf_counter() - start)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--flows", type=int, default=500)
    parser.add_argument("--routes", type=int, default=2000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scale.yaml"
        text = yaml.safe_dump(generate(args.accounts, args.flows), sort_keys=False)
        path.write_text(text)
        (Path(folder) / "greeting.wav").write_bytes(b"RIFF")
        print(f"config: {args.accounts} SIP accounts, {args.flows} call flows, "
              f"{len(text) / 1e6:.1f} MB of YAML")

        baseline = best_of(3, lambda: yaml.safe_load(text))
        c_loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        c_baseline = best_of(3, lambda: yaml.load(text, Loader=c_loader))
        check = best_of(3, lambda: load_config(path))
        loaded = load_config(path)
        errors = loaded.errors
        print(f"check:    {check:.3f} s (best of 3; target < 2 s), {len(errors)} errors, "
              f"{len(loaded.warnings)} warnings")
        print(f"baseline: {baseline:.3f} s yaml.safe_load of the same text; "
              f"ratio check/baseline {check / baseline:.2f}")
        print(f"baseline: {c_baseline:.3f} s yaml.load with libyaml's {c_loader.__name__} "
              f"(no lines, no rules); ratio check/baseline {check / c_baseline:.2f}")
        if errors:
            print("unexpected errors:", *errors[:5], sep="\n  ")
            return 1

        config = loaded.config
        numbers = [n for f in config.call_flows for n in f.numbers]
        numbers += [n for c in config.sip_accounts for n in c.did_numbers + c.internal_numbers]
        route_latencies(config, numbers, 200)  # warm the caches (indexes, zoneinfo)
        big = route_latencies(config, numbers, args.routes)

        small_data = generate(10, 2)
        small_path = Path(folder) / "small.yaml"
        small_path.write_text(yaml.safe_dump(small_data, sort_keys=False))
        small = load_config(small_path).config
        small_numbers = [n for f in small.call_flows for n in f.numbers]
        small_numbers += [n for c in small.sip_accounts for n in c.did_numbers]
        route_latencies(small, small_numbers, 200)
        tiny = route_latencies(small, small_numbers, args.routes)
        print(f"route:    {percentiles(big)} ({args.routes} resolutions; target < 1 ms)")
        print(f"baseline: {percentiles(tiny)} (same resolutions on a 10-account config); "
              f"ratio p50 {statistics.median(big) / statistics.median(tiny):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

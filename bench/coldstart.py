"""Cold start: a fresh interpreter importing and invoking the intake handler once, vs a fresh
interpreter doing `import boto3` and creating one client (what any Python Lambda pays)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from bench.common import intake_event, median

RUNS = 7

BASELINE = """
import time
t = time.perf_counter()
import boto3
boto3.client("dynamodb")
print(time.perf_counter() - t)
"""

HANDLER = """
import json, sys, time
t = time.perf_counter()
from tocsin.handlers.intake import handler
from tocsin_local.patches import FakeLambdaContext
resp = handler(json.loads(sys.argv[1]), FakeLambdaContext("intake"))
elapsed = time.perf_counter() - t
assert resp["statusCode"] == 202, resp
print(elapsed)
"""


def _measure(code: str, args: list[str]) -> float:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=os.environ.copy()
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return float(out.stdout.strip().splitlines()[-1])


def run(local: Any) -> dict[str, bool]:
    event = intake_event("generic", {"title": "Cold start", "dedup_key": "cold-start"}, local.token)
    arg = json.dumps(event)
    _measure(HANDLER, [arg])  # the first delivery opens the incident; the rest are duplicates
    base, ours = [], []
    for _ in range(RUNS):  # interleaved, so machine noise hits both alike
        base.append(_measure(BASELINE, []))
        ours.append(_measure(HANDLER, [arg]))
    ratio = median(ours) / median(base)
    print(f"\nCold start ({RUNS} fresh interpreters each, interleaved; imports + first invocation)")
    print(f"  import boto3 + one client median {median(base) * 1000:.0f} ms   (the unit)")
    print(
        f"  intake handler, first call median {median(ours) * 1000:.0f} ms   ratio {ratio:.2f}x  (target <= 1.5x)"
    )
    return {"cold start <= 1.5x": ratio <= 1.5}

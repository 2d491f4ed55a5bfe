"""Run the benchmarks (all, or those named: `python -m bench statuspage`) against one embedded
local mode and print the figures."""

from __future__ import annotations

import os
import sys

from bench import (
    chatops_ack,
    coldstart,
    escalation,
    intake,
    postmortem,
    response,
    runbooks,
    statuspage,
    storm,
)


def main() -> int:
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    from tocsin_local.runtime import LocalTocsin

    local = LocalTocsin(port=0, sweep_interval=3600).start()
    try:
        print(
            "Tocsin benchmarks — embedded local mode (moto server on loopback), one run\n",
            flush=True,
        )
        benches = {
            "intake": intake.run,
            "response": response.run,
            "escalation": escalation.run,
            "storm": storm.run,
            "statuspage": statuspage.run,
            "coldstart": coldstart.run,
            "runbooks": runbooks.run,
            "chatops": chatops_ack.run,
            "postmortem": postmortem.run,
        }
        chosen = sys.argv[1:] or list(benches)
        unknown = sorted(set(chosen) - set(benches))
        if unknown:
            print(f"unknown benchmark {', '.join(unknown)} (known: {', '.join(benches)})")
            return 2
        results = [benches[name](local) for name in chosen]
    finally:
        local.stop()
    failed = [name for result in results for name, ok in result.items() if not ok]
    print("\nTargets:", "all met" if not failed else "NOT met: " + ", ".join(failed))
    return 0


if __name__ == "__main__":
    sys.exit(main())

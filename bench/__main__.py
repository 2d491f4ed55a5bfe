"""Run every benchmark against one embedded local mode and print the figures."""

from __future__ import annotations

import os
import sys

from bench import coldstart, escalation, intake, response, storm


def main() -> int:
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    from tocsin_local.runtime import LocalTocsin

    local = LocalTocsin(port=0, sweep_interval=3600).start()
    try:
        print(
            "Tocsin benchmarks — embedded local mode (moto server on loopback), one run\n",
            flush=True,
        )
        results = [
            intake.run(local),
            response.run(local),
            escalation.run(local),
            storm.run(local),
            coldstart.run(local),
        ]
    finally:
        local.stop()
    failed = [name for result in results for name, ok in result.items() if not ok]
    print("\nTargets:", "all met" if not failed else "NOT met: " + ", ".join(failed))
    return 0


if __name__ == "__main__":
    sys.exit(main())

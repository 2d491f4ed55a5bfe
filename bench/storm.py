"""Alert storm: 10,000 deliveries over 100 fingerprints from 16 threads."""

from __future__ import annotations

import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tocsin.dal.aws import client
from tocsin_local.patches import FakeLambdaContext

from bench.common import background_event_sources, intake_event

ALERTS = 10_000
FINGERPRINTS = 100
THREADS = 16


def run(local: Any) -> dict[str, bool]:
    from tocsin.handlers.intake import handler

    ctx = FakeLambdaContext("intake")
    rng = random.Random(7)
    order = [rng.randrange(FINGERPRINTS) for _ in range(ALERTS)]
    errors: Counter[str] = Counter()
    created: list[str] = []

    def deliver(n: int) -> None:
        payload = {"title": f"Storm alert {n}", "dedup_key": f"storm-{n}", "severity": "critical"}
        try:
            resp = handler(intake_event("generic", payload, local.token), ctx)
        except Exception as exc:  # counted, not hidden
            errors[type(exc).__name__] += 1
            return
        if resp["statusCode"] != 202:
            errors[str(resp["statusCode"])] += 1
            return
        import json

        created.extend(json.loads(resp["body"])["created"])

    start = time.perf_counter()
    # new incidents' workflows start from the table's stream, in the background as on AWS
    with background_event_sources():
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            list(pool.map(deliver, order))
        elapsed = time.perf_counter() - start
        local.wait_for_executions(timeout=120)
    incidents = _count_storm_incidents()
    sfn = client("stepfunctions")
    executions = 0
    paginator = sfn.get_paginator("list_executions")
    storm_ids = set(created)
    for page in paginator.paginate(stateMachineArn=local.resources.state_machine_arn):
        executions += sum(1 for e in page["executions"] if e["name"] in storm_ids)
    print(
        f"\nAlert storm: {ALERTS:,} deliveries over {FINGERPRINTS} fingerprints from {THREADS} threads"
    )
    print(f"  incidents created         {incidents}   (expected exactly {FINGERPRINTS})")
    print(f"  executions started        {executions}   (expected exactly {FINGERPRINTS})")
    print(f"  errors                    {sum(errors.values())}   {dict(errors) or ''}")
    print(
        f"  throughput                {ALERTS / elapsed:,.0f} alerts/s  ({elapsed:.1f} s)",
        flush=True,
    )
    return {
        "storm incidents == 100": incidents == FINGERPRINTS and len(created) == FINGERPRINTS,
        "storm executions == 100": executions == FINGERPRINTS,
        "storm errors == 0": not errors,
    }


def _count_storm_incidents() -> int:
    from tocsin.handlers.container import container

    repo = container().incident_repo
    count, cursor = 0, None
    while True:
        page, cursor = repo.search(limit=100, cursor=cursor)
        count += sum(1 for incident in page if incident.title.startswith("Storm alert"))
        if not cursor:
            return count

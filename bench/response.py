"""The response workflow: how long from incident creation until every action is recorded, and
how many Step Functions state transitions one incident costs (SEV1, every port on)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from tocsin.dal.aws import client

from bench.common import median, pct

INCIDENTS = 20
TARGET_TRANSITIONS = 40
PRICE_PER_TRANSITION = 0.025 / 1000  # Step Functions Standard, us-east-1


def _transitions(execution_arn: str) -> int:
    """Billed state transitions: every state entered (Map iterations' states included)."""
    sfn = client("stepfunctions")
    count, token = 0, None
    while True:
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        if token:
            kwargs["nextToken"] = token
        page = sfn.get_execution_history(**kwargs)
        count += sum(1 for e in page["events"] if e["type"].endswith("StateEntered"))
        token = page.get("nextToken")
        if not token:
            return count


def run(local: Any) -> dict[str, bool]:
    from tocsin.handlers.container import container
    from tocsin_local.client import ApiClient

    api = ApiClient(local.base_url, local.token)
    c = container()
    ports = {port: c.adapters.provider_name(port) for port in ("chat", "conferencing", "ticketing")}
    latencies: list[float] = []
    transitions: list[int] = []
    actions: list[int] = []
    failed = 0
    opened: list[str] = []
    for n in range(INCIDENTS):
        body = {"title": f"Bench checkout outage {n}", "severity": "SEV1", "service": "checkout"}
        incident = api.request("POST", "/v1/incidents", json=body)
        opened.append(incident["id"])
        deadline = time.monotonic() + 60
        sfn = client("stepfunctions")
        while time.monotonic() < deadline:
            status = sfn.describe_execution(executionArn=incident["execution_arn"])["status"]
            if status != "RUNNING":
                break
            time.sleep(0.02)
        # the response's own steps (paging's are measured by bench/escalation.py)
        steps = {k: v for k, v in c.steps.all(incident["id"]).items() if not k.startswith("esc:")}
        failed += sum(1 for s in steps.values() if s.get("state") != "done")
        created = datetime.fromisoformat(incident["created_at"])
        last = max(datetime.fromisoformat(s["at"]) for s in steps.values())
        latencies.append((last - created).total_seconds())
        transitions.append(_transitions(incident["execution_arn"]))
        actions.append(len(steps))
    # SEV1 pages: end the escalations these incidents started, as acknowledging them would,
    # so their later levels do not page on while the next benchmarks run in this process
    from tocsin.domain.timeline import Actor

    for incident_id in opened:
        c.escalations.stop(incident_id, "cancelled", Actor.system("bench"))
    per_incident = max(transitions)
    print(f"\nResponse workflow: {INCIDENTS} SEV1 incidents declared one after another")
    print(f"  adapters                  {', '.join(f'{k}={v}' for k, v in ports.items())}")
    print(f"  actions per incident      {min(actions)}..{max(actions)}   (failed steps: {failed})")
    print(
        f"  creation -> all recorded  p50 {median(latencies):.2f} s   p95 {pct(latencies, 0.95):.2f} s"
    )
    print(
        f"  state transitions         {per_incident} per incident   (target <= {TARGET_TRANSITIONS}; "
        f"${per_incident * PRICE_PER_TRANSITION * 1000:.2f} per 1,000 incidents)",
        flush=True,
    )
    return {
        f"SEV1 transitions <= {TARGET_TRANSITIONS}": per_incident <= TARGET_TRANSITIONS,
        "response steps all succeeded": failed == 0,
    }

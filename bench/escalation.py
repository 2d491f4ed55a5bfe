"""Escalation: how close each level's wait is to its configured timeout, and how many pages a
level sends when Step Functions retries its task (must be exactly one per person and level).

Runs the real escalation state machine in local mode (moto executes `.waitForTaskToken` with
its timeouts in real time) with a 3-level policy of short, different timeouts, nobody
acknowledging. Timing error = (start of level n+1) - (start of level n) - timeout of level n.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench.common import median, pct

INCIDENTS = int(__import__("os").environ.get("BENCH_ESC_INCIDENTS", "6"))
#: level timeouts in seconds (different, so a mix-up would show)
TIMEOUTS = (2, 3, 4)
PEOPLE = ("alice", "bob", "erin")
TARGET_P95_ERROR = 1.5
REPO = (
    Path(__file__).resolve().parents[1]
)  # seconds; waits are whole seconds (rounded up) plus task latency


def _config(repo: Path, into: Path) -> Path:
    config = into / "config"
    shutil.copytree(repo / "config", config)
    data = yaml.safe_load((config / "oncall.yaml").read_text())
    data["escalation_policies"][0] = {
        "name": "payments",
        "levels": [
            {"targets": [{"person": person}], "timeout": f"{timeout}s"}
            for person, timeout in zip(PEOPLE, TIMEOUTS, strict=True)
        ],
    }
    data["paging"] = {"default_rules": [{"method": "chat"}]}
    (config / "oncall.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    # SEV1 only pages here: in local mode every execution shares one process (and one GIL),
    # so the response's channel, bridge and ticket steps would slow the escalation's tasks in
    # a way Lambda's separate sandboxes do not (bench/response.py measures those)
    flows = yaml.safe_load((config / "workflows.yaml").read_text())
    flows["workflows"] = [
        {**flow, "actions": ["page"]}
        for flow in flows["workflows"]
        if flow["name"] == "sev1-all-hands"
    ]
    (config / "workflows.yaml").write_text(yaml.safe_dump(flows, sort_keys=False))
    return config


def _declare(api: Any, n: int, label: str) -> str:
    body = {"title": f"Bench escalation {label} {n}", "severity": "SEV1", "service": "checkout"}
    return str(api.request("POST", "/v1/incidents", json=body)["id"])


def _wait_ended(c: Any, incidents: list[str], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = [r for i in incidents for r in c.escalations.store.all(i)]
        if len(records) == len(incidents) and all(r["status"] != "active" for r in records):
            return True
        time.sleep(0.2)
    return False


def _level_starts(c: Any, incident_id: str) -> dict[int, float]:
    from tocsin.domain.clock import parse_iso

    starts = {}
    for name, step in c.steps.all(incident_id).items():
        if name.startswith("esc:level:1:r1:l"):
            starts[int(name.rsplit("l", 1)[1])] = parse_iso(step["at"]).timestamp()
    return starts


def _pages_per_level(c: Any, incident_id: str) -> list[int]:
    """Pages actually delivered (the local chat adapter's DMs) per level's person."""
    from tocsin.handlers.container import container

    chat = container().adapters.get("chat")
    ref = c.incident_repo.get(incident_id).ref
    return [
        sum(1 for m in chat.direct_messages(person) if f"({ref})" in m["message"]["text"])
        for person in PEOPLE
    ]


def run(local: Any) -> dict[str, bool]:
    import os

    from tocsin.handlers import workflow
    from tocsin.handlers.container import container
    from tocsin_local.client import ApiClient
    from tocsin_local.runtime import reset_runtime_caches

    api = ApiClient(local.base_url, local.token)
    before = os.environ.get("TOCSIN_CONFIG_DIR")
    tmp = Path(tempfile.mkdtemp(prefix="tocsin-bench-"))
    os.environ["TOCSIN_CONFIG_DIR"] = str(_config(REPO, tmp))
    reset_runtime_caches()
    original = workflow.ACTIONS["page_wave"]
    try:
        c = container()
        # 1. timing: nobody acknowledges, every level waits its timeout
        timed = [_declare(api, n, "timing") for n in range(INCIDENTS)]
        ended = _wait_ended(c, timed, sum(TIMEOUTS) + 30)
        errors: list[float] = []
        for incident_id in timed:
            starts = _level_starts(c, incident_id)
            for level, timeout in enumerate(TIMEOUTS[:-1], start=1):
                if level in starts and level + 1 in starts:
                    errors.append(starts[level + 1] - starts[level] - timeout)
        # 2. forced retries: each level's task fails twice after paging, then succeeds
        attempts: dict[tuple[str, str], int] = {}

        def flaky(event: dict[str, Any]) -> dict[str, Any]:
            result = original(event)
            key = (event["incident_id"], str(sorted(event.get("cursor", {}).items())))
            attempts[key] = attempts.get(key, 0) + 1
            if attempts[key] <= 2:
                raise workflow.RetryableError("forced: the answer was lost")
            return result

        workflow.ACTIONS["page_wave"] = flaky
        retried = [_declare(api, n, "retries") for n in range(INCIDENTS)]
        ended = _wait_ended(c, retried, sum(TIMEOUTS) + 90) and ended
        pages = [_pages_per_level(c, i) for i in retried]
        per_level = sorted({n for counts in pages for n in counts})
        # the levels' tasks (not the final one that finds the policy exhausted)
        task_runs = sorted(
            {n for (_, cursor), n in attempts.items() if f"('l', {len(TIMEOUTS)})" not in cursor}
        )
    finally:
        workflow.ACTIONS["page_wave"] = original
        if before is None:
            os.environ.pop("TOCSIN_CONFIG_DIR", None)
        else:
            os.environ["TOCSIN_CONFIG_DIR"] = before
        reset_runtime_caches()
        shutil.rmtree(tmp, ignore_errors=True)
    p95 = pct(errors, 0.95) if errors else float("inf")
    print(f"\nEscalation: {INCIDENTS} + {INCIDENTS} SEV1 incidents, levels of {TIMEOUTS} s, no ack")
    print(
        f"  timing error (actual - configured)  p50 {median(errors):+.2f} s   "
        f"p95 {p95:+.2f} s   over {len(errors)} level changes   (target p95 <= "
        f"{TARGET_P95_ERROR} s)"
    )
    print(
        f"  pages per person per level under forced task retries  {per_level}   "
        f"(each level's task ran {task_runs} times; must be exactly [1])",
        flush=True,
    )
    return {
        f"escalation timing error p95 <= {TARGET_P95_ERROR} s": ended and p95 <= TARGET_P95_ERROR,
        "exactly one page per level under retries": per_level == [1],
    }

"""Intake cost vs the cheapest possible write: one conditional DynamoDB put on the same backend.

Besides wall time, the AWS requests each path makes are counted (deterministic, unlike time):
those the intake handler makes on the measuring thread.

A new incident's response workflow starts from the table's stream (handlers/incident_stream.py),
which local mode delivers on a background thread during this bench, as Lambda's poller does
on AWS: the alert's answer does not wait for it. moto's executing Step Functions backend parses
the whole ASL with ANTLR on every StartExecution and then runs the workflow on threads of this
same process (hundreds of ms of CPU per incident, where AWS runs the workflow elsewhere). For
the new-alert figure the bench therefore points StartExecution at moto's recording backend
(same state machine, same ARN; executions are recorded, not run), and checks that every new
incident got its execution.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tocsin.dal.aws import client
from tocsin_local import patches
from tocsin_local.patches import FakeLambdaContext

from bench.common import background_event_sources, intake_event, median, ms

ROUNDS = 300


class RequestMeter:
    """Counts the AWS requests per operation made on the thread that created it (the clients
    are shared: the stream's starter calls from its own thread)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._thread = threading.get_ident()
        for service in ("dynamodb", "s3", "stepfunctions"):
            client(service).meta.events.register("before-call", self._before)

    def _before(self, model: Any, **_: Any) -> None:
        if threading.get_ident() == self._thread:
            self.calls[f"{model.service_model.service_name}:{model.name}"] += 1

    def reset(self) -> None:
        self.calls.clear()


def _measure(
    fn: Callable[[], None],
    baseline: Callable[[], None],
    rounds: int,
    meter: RequestMeter,
    settle: Callable[[], object] = lambda: None,
) -> tuple[float, float, Counter[str]]:
    """Interleaved with the baseline, so machine noise hits both alike. Returns the medians of
    the baseline and of `fn`, and `fn`'s requests per call. `settle` runs untimed after each
    `fn` (waiting for what `fn` handed to other functions, which on AWS run elsewhere)."""
    base, whole = [], []
    calls: Counter[str] = Counter()
    for _ in range(rounds):
        start = time.perf_counter()
        baseline()
        base.append(time.perf_counter() - start)
        meter.reset()
        start = time.perf_counter()
        fn()
        whole.append(time.perf_counter() - start)
        calls.update(meter.calls)
        settle()
    per_call = Counter({k: v / rounds for k, v in calls.items()})
    return median(base), median(whole), per_call


def _requests(per_call: Counter[str]) -> str:
    return ", ".join(f"{op} {n:g}" for op, n in sorted(per_call.items())) or "none"


def run(local: Any) -> dict[str, bool]:
    from tocsin.handlers.intake import handler

    ctx = FakeLambdaContext("intake")
    table = local.resources.table
    ddb = client("dynamodb")
    counter = itertools.count()
    meter = RequestMeter()

    def bare_put() -> None:
        ddb.put_item(
            TableName=table,
            Item={"pk": {"S": f"BENCH#{next(counter)}"}, "sk": {"S": "X"}},
            ConditionExpression="attribute_not_exists(pk)",
        )

    created: list[str] = []

    def post(payload: dict[str, Any]) -> None:
        resp = handler(intake_event("generic", payload, local.token), ctx)
        assert resp["statusCode"] == 202, resp
        created.extend(json.loads(resp["body"])["created"])

    duplicate = {
        "title": "Bench duplicate",
        "dedup_key": "bench-dup",
        "labels": {"service": "bench"},
    }
    post(duplicate)  # the first delivery creates the incident
    fresh = itertools.count()

    def new_alert() -> None:
        post({"title": "Bench new", "dedup_key": f"bench-new-{next(fresh)}"})

    for fn in (bare_put, lambda: post(duplicate), new_alert):  # warm up
        for _ in range(10):
            fn()
    local.wait_for_executions()
    base, dup, dup_calls = _measure(lambda: post(duplicate), bare_put, ROUNDS, meter)
    created.clear()
    with recording_step_functions(local), background_event_sources():
        # the stream's starter runs between rounds, not beside the timed requests: on AWS it
        # is another function, not a thread sharing this process's GIL
        new_base, new, new_calls = _measure(
            new_alert, bare_put, ROUNDS // 2, meter, settle=patches.drain_queues
        )
        drained = patches.drain_queues(timeout=60)
        started = _executions_named(local, set(created))
    dup_ratio, new_ratio = dup / base, new / new_base
    print(
        "Intake latency (intake handler invoked in-process; AWS = moto server over HTTP on loopback)"
    )
    print(
        f"  bare conditional put     median {ms(base):>10}              requests: dynamodb:PutItem 1"
    )
    print(
        f"  duplicate alert          median {ms(dup):>10}  ratio {dup_ratio:5.2f}x  (target <= 2x)"
    )
    print(f"                           requests: {_requests(dup_calls)}")
    print(
        f"  bare put, this phase     median {ms(new_base):>10}              (the unit for the next two)"
    )
    print(
        f"  new alert, new incident  median {ms(new):>10}  ratio {new_ratio:5.2f}x  (target <= 4x)"
    )
    print(f"                           requests: {_requests(new_calls)}")
    print(
        f"    workflows started from the stream: {started} of {len(created)} new incidents"
        f"{'' if drained else '  (stream not drained in 60 s)'}"
    )
    print(
        f"  rounds: {ROUNDS} duplicates and {ROUNDS // 2} new alerts, each interleaved with a bare put",
        flush=True,
    )
    return {
        "intake duplicate <= 2x": dup_ratio <= 2.0,
        "intake new alert <= 4x": new_ratio <= 4.0,
        "every new incident's workflow started": drained and started == len(created),
    }


def _executions_named(local: Any, names: set[str]) -> int:
    pages = client("stepfunctions").get_paginator("list_executions")
    return sum(
        1
        for page in pages.paginate(stateMachineArn=local.resources.state_machine_arn)
        for execution in page["executions"]
        if execution["name"] in names
    )


@contextmanager
def recording_step_functions(local: Any) -> Iterator[None]:
    from moto.core.config import default_user_config

    sfn = client("stepfunctions")
    machine = sfn.describe_state_machine(stateMachineArn=local.resources.state_machine_arn)
    default_user_config["stepfunctions"] = {"execute_state_machine": False}
    try:
        arn = sfn.create_state_machine(
            name=machine["name"], definition=machine["definition"], roleArn=machine["roleArn"]
        )["stateMachineArn"]
        assert arn == local.resources.state_machine_arn
        yield
    finally:
        default_user_config["stepfunctions"] = {"execute_state_machine": True}

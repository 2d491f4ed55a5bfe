"""Intake cost vs the cheapest possible write: one conditional DynamoDB put on the same backend.

Besides wall time, the AWS requests each path makes are counted (deterministic, unlike time).
moto's executing Step Functions backend parses the whole ASL with ANTLR on every
StartExecution and then runs the workflow on threads of this same process (hundreds of ms
of CPU per incident, where AWS answers StartExecution in tens of ms and runs the workflow
elsewhere). For the new-alert figure the bench therefore points StartExecution at moto's
recording backend (same state machine, same ARN; executions are recorded, not run), so the
figure measures Tocsin's intake and the same DynamoDB backend as the unit.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tocsin.dal.aws import client
from tocsin_local.patches import FakeLambdaContext

from bench.common import intake_event, median, ms

ROUNDS = 300


class RequestMeter:
    """Counts AWS requests per operation, and the time spent in StartExecution."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.start_execution_seconds = 0.0
        self._started: dict[int, float] = {}
        for service in ("dynamodb", "s3", "stepfunctions"):
            events = client(service).meta.events
            events.register("before-call", self._before)
            events.register("after-call", self._after)

    def _before(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}:{model.name}"] += 1
        if model.name == "StartExecution":
            self._started[id(model)] = time.perf_counter()

    def _after(self, model: Any, **_: Any) -> None:
        if model.name == "StartExecution":
            self.start_execution_seconds += time.perf_counter() - self._started.pop(
                id(model), time.perf_counter()
            )

    def reset(self) -> None:
        self.calls.clear()
        self.start_execution_seconds = 0.0


def _measure(
    fn: Callable[[], None], baseline: Callable[[], None], rounds: int, meter: RequestMeter
) -> tuple[float, float, float, Counter[str]]:
    """Interleaved with the baseline, so machine noise hits both alike. Returns the medians of
    the baseline, of `fn`, of `fn` without StartExecution, and `fn`'s requests per call."""
    base, whole, without = [], [], []
    calls: Counter[str] = Counter()
    for _ in range(rounds):
        start = time.perf_counter()
        baseline()
        base.append(time.perf_counter() - start)
        meter.reset()
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        whole.append(elapsed)
        without.append(elapsed - meter.start_execution_seconds)
        calls.update(meter.calls)
    per_call = Counter({k: v / rounds for k, v in calls.items()})
    return median(base), median(whole), median(without), per_call


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

    def post(payload: dict[str, Any]) -> None:
        resp = handler(intake_event("generic", payload, local.token), ctx)
        assert resp["statusCode"] == 202, resp

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
    base, dup, _, dup_calls = _measure(lambda: post(duplicate), bare_put, ROUNDS, meter)
    with recording_step_functions(local):
        new_base, new, new_own, new_calls = _measure(new_alert, bare_put, ROUNDS // 2, meter)
    dup_ratio, new_ratio, new_own_ratio = dup / base, new / new_base, new_own / new_base
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
    print(f"    without StartExecution median {ms(new_own):>10}  ratio {new_own_ratio:5.2f}x")
    print(f"                           requests: {_requests(new_calls)}")
    print(
        f"  rounds: {ROUNDS} duplicates and {ROUNDS // 2} new alerts, each interleaved with a bare put",
        flush=True,
    )
    return {"intake duplicate <= 2x": dup_ratio <= 2.0, "intake new alert <= 4x": new_ratio <= 4.0}


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

"""Intake cost vs the cheapest possible write: one conditional DynamoDB put on the same backend."""

from __future__ import annotations

import itertools
import json
from typing import Any

from tocsin.dal.aws import client
from tocsin_local.patches import FakeLambdaContext

from bench.common import intake_event, median, ms, timed

ROUNDS = 300


def run(local: Any) -> dict[str, bool]:
    from tocsin.handlers.intake import handler

    ctx = FakeLambdaContext("intake")
    table = local.resources.table
    ddb = client("dynamodb")
    counter = itertools.count()

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
    post(duplicate)  # first delivery creates the incident
    fresh = itertools.count()

    def new_alert() -> None:
        post({"title": "Bench new", "dedup_key": f"bench-new-{next(fresh)}"})

    for fn in (bare_put, lambda: post(duplicate), new_alert):  # warm up
        timed(fn, 20)
    base = median(timed(bare_put, ROUNDS))
    dup = median(timed(lambda: post(duplicate), ROUNDS))
    new = median(timed(new_alert, ROUNDS // 3))
    dup_ratio, new_ratio = dup / base, new / base
    print("Intake latency (intake handler invoked in-process; DynamoDB = moto server over HTTP)")
    print(f"  bare conditional put      median {ms(base)}   (the unit)")
    print(f"  duplicate alert           median {ms(dup)}   ratio {dup_ratio:.2f}x  (target <= 2x)")
    print(f"  new alert (new incident)  median {ms(new)}   ratio {new_ratio:.2f}x  (target <= 4x)")
    print(f"  rounds: {ROUNDS} puts, {ROUNDS} duplicates, {ROUNDS // 3} new alerts", flush=True)
    json.dumps({})
    return {"intake duplicate <= 2x": dup_ratio <= 2.0, "intake new alert <= 4x": new_ratio <= 4.0}

"""The moto behaviours local mode needs (moto pinned to 5.2.5; these touch its internals).

1. Lambda functions run our handlers in-process instead of in Docker: Step Functions Lambda
   tasks and SQS event source mappings then execute Tocsin's real code.
2. DynamoDB requests are serialized. Real DynamoDB applies each conditional write atomically;
   moto's server handles requests on many threads without a lock, so two conditional puts on
   one key could both pass. One lock restores the guarantee our exactly-once logic relies on.
3. TransactWriteItems checks every condition first, as DynamoDB does, and then applies the
   writes. moto applies them one by one and deep-copies each table it touches to roll back a
   failure, which costs time in proportion to the table (tens of ms with a few hundred items)
   and lets a later condition see an earlier write of the same transaction.
4. Step Functions Retry waits can be scaled down (tests), see `set_retry_scale`.
"""

from __future__ import annotations

import importlib
import json
import threading
import traceback
import uuid
from typing import Any

_applied = False
_DDB_LOCK = threading.RLock()


class FakeLambdaContext:
    def __init__(self, function_name: str, memory: int = 512, timeout: int = 30) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        )
        self.memory_limit_in_mb = memory
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._timeout_ms = timeout * 1000

    def get_remaining_time_in_millis(self) -> int:
        return self._timeout_ms


def resolve_handler(handler: str) -> Any:
    module_name, _, attr = handler.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


def invoke_in_process(handler: str, function_name: str, event: Any) -> tuple[str, bool]:
    """(payload, errored) — errors shaped like Lambda's: errorType / errorMessage / stackTrace."""
    try:
        result = resolve_handler(handler)(event, FakeLambdaContext(function_name))
        return json.dumps(result, default=str), False
    except Exception as exc:  # a Lambda reports every error of the handler this way
        payload = {
            "errorType": type(exc).__name__,
            "errorMessage": str(exc),
            "stackTrace": traceback.format_exception(exc)[-5:],
        }
        return json.dumps(payload), True


def apply() -> None:
    global _applied
    if _applied:
        return
    from moto.awslambda.models import LambdaFunction
    from moto.dynamodb.responses import DynamoHandler

    def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        if isinstance(event, str):
            event = json.loads(event or "{}")
        payload, errored = invoke_in_process(self.handler, self.function_name, event or {})
        return payload, errored, ""

    LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]

    original_call_action = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with _DDB_LOCK:
            return original_call_action(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    _patch_transactions()
    _patch_retry_waits()
    _applied = True


#: Step Functions Retry waits are real sleeps under moto; tests shrink them with this factor
#: (TOCSIN_LOCAL_RETRY_SCALE, default 1: local mode waits as AWS would)
_retry_scale = 1.0


def set_retry_scale(factor: float) -> None:
    global _retry_scale
    _retry_scale = factor


def _patch_retry_waits() -> None:
    import os
    import time
    import types

    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    set_retry_scale(float(os.environ.get("TOCSIN_LOCAL_RETRY_SCALE", "1")))
    retrier_decl.time = types.SimpleNamespace(  # type: ignore[attr-defined]
        sleep=lambda seconds: time.sleep(seconds * _retry_scale)
    )


class _NoCopy:
    """Stands in for `copy` inside moto's transact_write_items once conditions have passed."""

    @staticmethod
    def deepcopy(value: Any) -> Any:
        return value


def _patch_transactions() -> None:
    import copy

    import moto.dynamodb.models as ddb_models
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import TransactionCanceledException
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.transact_write_items

    def check(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any]]:
        results: list[tuple[Any, Any, Any]] = []
        for item in transact_items:
            op_type, op = next(iter(item.items()))
            table = backend.get_table(op["TableName"])
            if op_type == "Put":
                key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = op["Item"][table.range_key_attr]
            else:
                key = op["Key"]
            current = backend.get_item(op["TableName"], key)
            condition = op.get("ConditionExpression")
            if condition is not None:
                expr = get_filter_expression(
                    condition,
                    op.get("ExpressionAttributeNames"),
                    op.get("ExpressionAttributeValues"),
                )
                if not expr.expr(current):
                    old = None
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        old = current.to_json()["Attributes"]
                    results.append(
                        ("ConditionalCheckFailed", "The conditional request failed", old)
                    )
                    continue
            results.append((None, None, None))
        return results

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) > 100 or any(len(item) != 1 for item in transact_items):
            return original(self, transact_items)  # moto's own validation errors
        results = check(self, transact_items)
        if any(code is not None for code, _, _ in results):
            raise TransactionCanceledException(results)
        ddb_models.copy = _NoCopy  # type: ignore[assignment]
        try:
            return original(self, transact_items)
        finally:
            ddb_models.copy = copy

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]

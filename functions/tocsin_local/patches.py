"""The two moto behaviours local mode needs (moto pinned to 5.2.5; these touch its internals).

1. Lambda functions run our handlers in-process instead of in Docker: Step Functions Lambda
   tasks and SQS event source mappings then execute Tocsin's real code.
2. DynamoDB requests are serialized. Real DynamoDB applies each conditional write atomically;
   moto's server handles requests on many threads without a lock, so two conditional puts on
   one key could both pass. One lock restores the guarantee our exactly-once logic relies on.
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
    _applied = True

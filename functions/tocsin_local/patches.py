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
5. SQS event source mappings can deliver on a background thread (`set_async_queues`), as
   Lambda's poller does on AWS: `SendMessage` returns at once and the consumer runs after.
   moto itself runs the consumer inside `SendMessage` (the default here, which the tests rely
   on: they read the work's result right after the request). `drain_queues` waits until every
   such queue is empty.
6. DynamoDB stream event source mappings (the incidents' outbox, handlers/incident_stream.py)
   get Lambda's event filtering and partial batch responses, delivered after the request
   that wrote the record, in order, outside the DynamoDB lock: inline (default, like the
   queues) or, with `set_async_queues(True)`, on a background thread as Lambda's stream
   poller does (`drain_queues` waits for those too). moto itself keeps every record of every
   write forever and invokes the function inside the write with all of them, unfiltered.
"""

from __future__ import annotations

import importlib
import json
import os
import threading
import time
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


#: handler modules are imported one at a time: the gateway, the queue consumers and the
#: workflows' tasks run on different threads, and two threads importing modules that import
#: each other (Powertools' event_handler and data_classes do) can see a partially
#: initialized module (ImportError); a Lambda sandbox imports its handler once, alone
_IMPORT_LOCK = threading.RLock()


def resolve_handler(handler: str) -> Any:
    module_name, _, attr = handler.rpartition(".")
    with _IMPORT_LOCK:
        return getattr(importlib.import_module(module_name), attr)


def import_handlers(handlers: list[str]) -> None:
    """Import every handler's module now, on this thread, before any other thread needs one
    (what each Lambda's cold start would do), so that no two threads import them at once."""
    for handler in handlers:
        resolve_handler(handler)


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
        try:
            with _DDB_LOCK:
                return original_call_action(self)
        finally:
            _deliver_stream_records()  # what this request wrote, outside the lock

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    _patch_transactions()
    _patch_retry_waits()
    _patch_queue_delivery()
    _patch_stream_delivery()
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


# --- 5. SQS event source mappings on a background thread --------------------------------------
#: the environment variable that turns the background delivery on (`tocsin local up` does,
#: unless it says 0); tests and `tocsin demo` keep moto's synchronous delivery
ENV_ASYNC_QUEUES = "TOCSIN_LOCAL_ASYNC_QUEUES"
_async_queues = False
#: seconds a message whose consumer failed stays invisible before it is received again (on AWS,
#: the queue's visibility timeout; locally shorter, so a retry and the dead-letter queue are
#: seen within seconds)
_queue_retry_delay = 1
#: one consumer thread per queue (by id of moto's Queue) while it has messages
_consumers: dict[int, threading.Thread] = {}
_consumers_changed = threading.Condition()
_generation = 0


def async_queues_from_env(default: bool) -> bool:
    value = os.environ.get(ENV_ASYNC_QUEUES, "").strip().lower()
    if not value:
        return default
    return value not in {"0", "false", "no", "off"}


def set_async_queues(on: bool, retry_delay: int | None = None) -> None:
    """Deliver SQS event source mappings on a background thread (`on`) or inside
    SendMessage (moto's own way). `retry_delay`: seconds before a failed message is
    received again."""
    global _async_queues, _queue_retry_delay
    _async_queues = on
    if retry_delay is not None:
        _queue_retry_delay = retry_delay


def async_queues() -> bool:
    return _async_queues


def drain_queues(timeout: float = 30.0) -> bool:
    """Until no queue delivered in the background holds a message (queued, in flight or
    waiting for its retry; a message moved to a dead-letter queue is done); False on timeout.
    Work that queues more work is waited for too."""
    deadline = time.monotonic() + timeout
    with _consumers_changed:
        while _consumers:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            _consumers_changed.wait(remaining)
    return True


def stop_queue_consumers() -> None:
    """Consumers end after their current delivery (local mode stopping; messages stay)."""
    global _generation
    with _consumers_changed:
        _generation += 1
        _consumers.clear()
        _consumers_changed.notify_all()


def _patch_queue_delivery() -> None:
    from moto.sqs.models import Queue

    original = Queue.add_message

    def add_message(self: Any, message: Any) -> None:
        mappings = [esm for esm in self.lambda_event_source_mappings.values() if esm.enabled]
        if not _async_queues or self.fifo_queue or not mappings:
            return original(self, message)  # type: ignore[no-any-return]
        with self._messages_lock:
            self._messages.append(message)
            self._messages_lock.notify_all()
        _wake(self)
        return None

    Queue.add_message = add_message  # type: ignore[method-assign]


def _wake(queue: Any) -> None:
    with _consumers_changed:
        if id(queue) in _consumers:
            return  # it leaves only once the queue is empty, under this lock: it sees this one
        thread = threading.Thread(
            target=_consume, args=(queue, _generation), name=f"sqs-{queue.name}", daemon=True
        )
        _consumers[id(queue)] = thread
        thread.start()


def _leave(queue: Any, generation: int) -> bool:
    """Whether this consumer should end (and, if so, it is gone from the registry)."""
    with _consumers_changed:
        if generation != _generation:
            return True
        if queue._messages and any(e.enabled for e in queue.lambda_event_source_mappings.values()):
            return False
        _consumers.pop(id(queue), None)
        _consumers_changed.notify_all()
        return True


def _consume(queue: Any, generation: int) -> None:
    """Lambda's SQS poller for one queue: receive a batch (which counts a receive, and moves a
    message received maxReceiveCount times to the dead-letter queue, as SQS does), invoke the
    function, delete what succeeded, and let the rest be received again after the retry
    delay. Runs until the queue is empty."""
    from moto.sqs.models import sqs_backends

    backend = sqs_backends[queue.account_id][queue.region]
    while not _leave(queue, generation):
        delivered = False
        for arn, esm in list(queue.lambda_event_source_mappings.items()):
            if not esm.enabled:
                continue
            try:
                messages = backend.receive_message(
                    queue.name, esm.batch_size or 10, 0, queue.visibility_timeout
                )
            except Exception as exc:  # the queue was deleted: nothing left to deliver
                print(f"[local] {queue.name}: receive failed: {exc}")
                with _consumers_changed:
                    _consumers.pop(id(queue), None)
                    _consumers_changed.notify_all()
                return
            if messages:
                delivered = True
                _deliver(backend, queue, arn, esm, messages)
        if not delivered:  # what is left is in flight, delayed or waiting for its retry
            time.sleep(0.02)


def _deliver(backend: Any, queue: Any, arn: str, esm: Any, messages: list[Any]) -> None:
    from moto.awslambda.utils import get_backend

    event = {"Records": [_record(queue, m) for m in messages]}
    failed: set[str]
    try:
        headers: dict[str, Any] = {}
        payload = get_backend(queue.account_id, queue.region).invoke(
            function_name=arn,
            qualifier=None,
            body=json.dumps(event),
            headers={},
            response_headers=headers,
        )
        failed = _failed(payload, headers, esm, messages)
    except Exception:  # the invocation itself failed: like a function error, all retried
        traceback.print_exc()
        failed = {m.id for m in messages}
    for m in messages:
        try:
            if m.id in failed:
                backend.change_message_visibility(queue.name, m.receipt_handle, _queue_retry_delay)
            else:
                backend.delete_message(queue.name, m.receipt_handle)
        except Exception as exc:  # e.g. purged meanwhile; the message is not lost by us
            print(f"[local] {queue.name}: could not settle message {m.id}: {exc}")


def _failed(payload: Any, headers: dict[str, Any], esm: Any, messages: list[Any]) -> set[str]:
    """The ids to retry: all after a function error; with ReportBatchItemFailures, those the
    function named in `batchItemFailures` (an unreadable answer fails the batch, as on AWS)."""
    everything = {m.id for m in messages}
    if "x-amz-function-error" in headers:
        return everything
    if "ReportBatchItemFailures" not in (esm.function_response_types or []):
        return set()
    try:
        answer = json.loads(payload or "null")
    except ValueError:
        return everything
    if not isinstance(answer, dict) or not answer.get("batchItemFailures"):
        return set()
    try:
        named = {str(f["itemIdentifier"]) for f in answer["batchItemFailures"]}
    except (KeyError, TypeError):
        return everything
    return named & everything if named <= everything else everything


def _record(queue: Any, message: Any) -> dict[str, Any]:
    """An SQS record as Lambda's poller hands it over, with the message's real counts."""
    return {
        "messageId": message.id,
        "receiptHandle": message.receipt_handle,
        "body": message.body,
        "attributes": {
            "ApproximateReceiveCount": str(message.approximate_receive_count),
            "SentTimestamp": str(message.sent_timestamp),
            "SenderId": str(message.sender_id),
            "ApproximateFirstReceiveTimestamp": str(message.approximate_first_receive_timestamp),
        },
        "messageAttributes": {},
        "md5OfBody": message.body_md5,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue.queue_arn,
        "awsRegion": queue.region,
    }


# --- 6. DynamoDB stream event source mappings ---------------------------------------------------
#: a record whose function keeps failing is dropped after this many retries when its mapping
#: sets no MaximumRetryAttempts (AWS: until the record expires, 24 hours; the sweeper starts
#: a workflow its record never started)
_STREAM_MAX_RETRIES = 3
#: in the background, seconds between polls of a stream (Lambda's poller reads each shard
#: about four times a second; delivering at once would also run the function on the GIL
#: beside the request that wrote the record, which on AWS runs elsewhere)
_STREAM_POLL_SECONDS = 0.1
_pending = threading.local()


class _StreamMapping:
    """One event source mapping's records that passed its filters, in stream order (kept
    while the mapping is disabled: enabled again, it resumes where it stopped, as on AWS).
    `lock` guards the list (held briefly: writers append under the DynamoDB lock);
    `delivering` is held across a delivery, so batches go out one at a time and in order,
    whichever thread delivers them."""

    def __init__(self, esm: Any) -> None:
        self.esm = esm
        self.filters = _filters(esm)
        self.records: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.delivering = threading.Lock()
        self.failures = 0


_mappings: dict[str, _StreamMapping] = {}
_mappings_lock = threading.Lock()
#: the thread delivering right now (a delivery that writes a record of its own stream hands
#: it to the delivery under way instead of waiting for itself)
_delivering = threading.local()


def filter_matches(pattern: Any, value: Any) -> bool:
    """Lambda event filtering (the subset Tocsin uses): a dict matches field by field, a list
    is the values allowed (exact strings, numbers, or `{"prefix": "..."}`). Patterns are
    checked when their mapping is created (`check_filter_pattern`)."""
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return False
        return all(filter_matches(sub, value.get(key)) for key, sub in pattern.items())
    return any(_allowed(choice, value) for choice in pattern)


def check_filter_pattern(pattern: Any) -> None:
    """ValueError for what `filter_matches` does not implement (rather than matching wrongly)."""
    if isinstance(pattern, dict):
        for sub in pattern.values():
            check_filter_pattern(sub)
        return
    if not isinstance(pattern, list):
        raise ValueError(f"unsupported filter pattern {pattern!r} (an object or a list)")
    for choice in pattern:
        if isinstance(choice, dict) and set(choice) != {"prefix"}:
            raise ValueError(f"unsupported filter operator {choice!r} (only prefix)")


def _allowed(choice: Any, value: Any) -> bool:
    if isinstance(choice, dict):
        return isinstance(value, str) and value.startswith(choice["prefix"])
    return bool(choice == value)


def _filters(esm: Any) -> list[Any]:
    criteria = esm.filter_criteria or {}
    return [json.loads(f["Pattern"]) for f in criteria.get("Filters") or []]


def _may_take(mapping: _StreamMapping, event_name: str) -> bool:
    """Whether a record of this event name can pass the mapping's filters (each filter that
    names `eventName` must list it), before the record is built."""
    if not mapping.filters:
        return True
    return any(
        "eventName" not in f or filter_matches(f["eventName"], event_name) for f in mapping.filters
    )


def _mapping(esm: Any) -> _StreamMapping:
    with _mappings_lock:
        mapping = _mappings.get(esm.uuid)
        if mapping is None or mapping.esm is not esm:
            mapping = _mappings[esm.uuid] = _StreamMapping(esm)
        return mapping


def _patch_stream_delivery() -> None:
    from moto.awslambda.models import LambdaBackend
    from moto.core.utils import unix_time
    from moto.dynamodb.models.table import StreamRecord, StreamShard
    from moto.stepfunctions.models import StepFunctionBackend
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    def add(self: Any, old: Any, new: Any) -> None:
        mappings = list(self.table.lambda_event_source_mappings.values())
        if not mappings:
            return  # nothing reads this stream locally: keep nothing
        event_name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
        takers = [m for m in map(_mapping, mappings) if _may_take(m, event_name)]
        if not takers:
            return  # e.g. a dedup counter's update: no record to build (most writes)
        view = self.table.stream_specification["StreamViewType"]
        # the records are not kept in the shard: number them here (moto's shard would
        # number the next record after the ones it holds)
        self.tocsin_sequence = getattr(self, "tocsin_sequence", self.starting_sequence_number) + 1
        record = StreamRecord(
            self.table, view, event_name, old, new, self.tocsin_sequence
        ).to_json()
        change = dict(record["dynamodb"])
        change["ApproximateCreationDateTime"] = unix_time(change["ApproximateCreationDateTime"])
        for mapping in takers:
            event = {**record, "dynamodb": change, "eventSourceARN": mapping.esm.event_source_arn}
            if mapping.filters and not any(filter_matches(f, event) for f in mapping.filters):
                continue
            with mapping.lock:
                mapping.records.append(event)
            touched = getattr(_pending, "mappings", None)
            if touched is None:
                touched = _pending.mappings = []
            if mapping not in touched:
                touched.append(mapping)

    StreamShard.add = add  # type: ignore[method-assign]

    original_create = LambdaBackend.create_event_source_mapping

    def check_filters(spec: dict[str, Any]) -> None:
        for item in (spec.get("FilterCriteria") or {}).get("Filters") or []:
            check_filter_pattern(json.loads(item["Pattern"]))

    def create_event_source_mapping(self: Any, spec: dict[str, Any]) -> Any:
        check_filters(spec)
        return original_create(self, spec)

    LambdaBackend.create_event_source_mapping = create_event_source_mapping  # type: ignore[method-assign]

    original_update = LambdaBackend.update_event_source_mapping

    def update_event_source_mapping(self: Any, uuid: str, spec: dict[str, Any]) -> Any:
        check_filters(spec)
        esm = original_update(self, uuid, spec)
        mapping = _mappings.get(uuid)
        if mapping is not None and "FilterCriteria" in spec:
            mapping.filters = _filters(mapping.esm)  # new filters apply to new records
        if esm is not None and esm.enabled and mapping is not None and mapping.records:
            _deliver_or_wake(mapping)  # enabled again: it resumes where it stopped
        return esm

    LambdaBackend.update_event_source_mapping = update_event_source_mapping  # type: ignore[method-assign]

    # Step Functions refuses a second execution of one name; moto checks and adds without a
    # lock, so two threads starting the same name (the stream's starter and a repair) could
    # both succeed locally
    start_lock = threading.RLock()
    for backend in (StepFunctionBackend, StepFunctionsParserBackend):
        original_start = backend.__dict__["start_execution"]

        def start_execution(
            self: Any, *args: Any, _original: Any = original_start, **kw: Any
        ) -> Any:
            with start_lock:
                return _original(self, *args, **kw)

        backend.start_execution = start_execution  # type: ignore[method-assign]


def _deliver_stream_records() -> None:
    touched = getattr(_pending, "mappings", None)
    if not touched:
        return
    _pending.mappings = []
    for mapping in touched:
        _deliver_or_wake(mapping)


def _deliver_or_wake(mapping: _StreamMapping) -> None:
    """Inline (the default), or by the background poller; a batch that failed inline is
    retried by the background poller, so it is not left waiting for the next write."""
    if _async_queues or not _deliver_stream(mapping):
        _wake_stream(mapping)


def _deliver_stream(mapping: _StreamMapping) -> bool:
    """Deliver what `mapping` holds, a batch at a time; False when a batch failed (what is
    left of it stays at the head, for the next delivery). A disabled mapping keeps its
    records (True: nothing to retry)."""
    if getattr(_delivering, "active", False):
        return True  # this thread's delivery under way takes the new records too
    _delivering.active = True
    try:
        with mapping.delivering:
            return _deliver_batches(mapping)
    finally:
        _delivering.active = False


def _deliver_batches(mapping: _StreamMapping) -> bool:
    from moto.awslambda.utils import get_backend

    esm = mapping.esm
    while esm.enabled:
        with mapping.lock:
            batch = mapping.records[: esm.batch_size or 100]
        if not batch:
            return True
        try:
            headers: dict[str, Any] = {}
            payload = get_backend(esm.account_id, esm.region).invoke(
                function_name=esm.function_arn,
                qualifier=None,
                body=json.dumps({"Records": batch}),
                headers={},
                response_headers=headers,
            )
            done = _stream_done(payload, headers, esm, batch)
        except Exception:  # the invocation itself failed: the whole batch is retried
            traceback.print_exc()
            done = 0
        with mapping.lock:
            del mapping.records[:done]
        if done:
            mapping.failures = 0  # progress: the next failure is a new record's first
        if done == len(batch):
            continue
        mapping.failures += 1
        limit = esm.max_retry_attempts
        if mapping.failures > (_STREAM_MAX_RETRIES if limit in (None, -1) else limit):
            with mapping.lock:
                dropped = mapping.records.pop(0)
            mapping.failures = 0
            print(
                f"[local] stream record {dropped['dynamodb']['SequenceNumber']} dropped "
                f"after its retries ({esm.function_arn}); the sweeper finishes what it began"
            )
            continue
        return False
    return True


def _stream_done(payload: Any, headers: dict[str, Any], esm: Any, batch: list[Any]) -> int:
    """How many records of the batch are done: all but those from the first failure on (a
    function error fails all; with ReportBatchItemFailures, from the lowest sequence number
    the function names; an unreadable answer fails all, as on AWS)."""
    if "x-amz-function-error" in headers:
        return 0
    if "ReportBatchItemFailures" not in (esm.function_response_types or []):
        return len(batch)
    try:
        answer = json.loads(payload or "null")
        failures = (answer or {}).get("batchItemFailures") or []
        named = {str(f["itemIdentifier"]) for f in failures}
    except (ValueError, KeyError, TypeError, AttributeError):
        return 0
    for index, record in enumerate(batch):
        if record["dynamodb"]["SequenceNumber"] in named:
            return index
    return 0 if named else len(batch)


def _wake_stream(mapping: _StreamMapping) -> None:
    with _consumers_changed:
        if id(mapping) in _consumers:
            return
        thread = threading.Thread(
            target=_consume_stream, args=(mapping, _generation), name="ddb-stream", daemon=True
        )
        _consumers[id(mapping)] = thread
        thread.start()


def _consume_stream(mapping: _StreamMapping, generation: int) -> None:
    """Lambda's stream poller for one mapping: poll, deliver until nothing is left (or the
    mapping is disabled); after a failed batch, wait the retry delay and deliver again from
    the failed record."""
    try:
        while True:
            time.sleep(_STREAM_POLL_SECONDS)
            with _consumers_changed:
                if generation != _generation:
                    return  # local mode stopped (the registry was cleared)
                with mapping.lock:
                    # leaving under the same lock as the check: a writer that comes after
                    # it finds no consumer registered, and wakes a new one
                    if not mapping.records or not mapping.esm.enabled:
                        _leave_stream(mapping)
                        return
            if not _deliver_stream(mapping):
                time.sleep(_queue_retry_delay)
    except BaseException:
        with _consumers_changed:
            _leave_stream(mapping)
        raise


def _leave_stream(mapping: _StreamMapping) -> None:
    """Unregister this thread as the mapping's poller (under `_consumers_changed`)."""
    if _consumers.get(id(mapping)) is threading.current_thread():
        del _consumers[id(mapping)]
    _consumers_changed.notify_all()

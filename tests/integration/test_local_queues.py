"""Local mode's background delivery of SQS event source mappings (TOCSIN_LOCAL_ASYNC_QUEUES):
SendMessage returns before the consumer runs, `drain_queues` waits for it, and a failing
consumer is retried with the real receive count and then dead-lettered, as on AWS. Nothing
here is timed: the consumer waits on events the test sets."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

#: what the consumers below saw: (body, ApproximateReceiveCount) per record
SEEN: list[tuple[str, str]] = []
RELEASE = threading.Event()
STARTED = threading.Event()


def blocking_consumer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Waits until the test releases it (it would time out, and the test fail, if it ran
    inside SendMessage)."""
    STARTED.set()
    RELEASE.wait(10)
    SEEN.extend((r["body"], r["attributes"]["ApproximateReceiveCount"]) for r in event["Records"])
    return {"batchItemFailures": []}


def failing_consumer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    SEEN.extend((r["body"], r["attributes"]["ApproximateReceiveCount"]) for r in event["Records"])
    raise RuntimeError("this consumer always fails")


def partial_consumer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Fails the records whose body says so (a partial batch response)."""
    SEEN.extend((r["body"], r["attributes"]["ApproximateReceiveCount"]) for r in event["Records"])
    return {
        "batchItemFailures": [
            {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "fail"
        ]
    }


@pytest.fixture
def background(aws: Any) -> Iterator[None]:
    from tocsin_local import patches

    SEEN.clear()
    RELEASE.clear()
    STARTED.clear()
    patches.set_async_queues(True, retry_delay=0)
    try:
        yield
    finally:
        RELEASE.set()
        patches.drain_queues(10)
        patches.stop_queue_consumers()
        patches.set_async_queues(False, retry_delay=1)


def _queue_with(handler: str, batch_size: int = 1, dlq: bool = True) -> tuple[str, str]:
    """A queue (dead letters after 3 receives) mapped to a function running `handler`;
    returns (queue url, dead-letter queue url)."""
    from tocsin_local.provision import _placeholder_zip

    sqs = boto3.client("sqs", region_name="us-east-1")
    lam = boto3.client("lambda", region_name="us-east-1")
    iam = boto3.client("iam", region_name="us-east-1")
    name = handler.rsplit(".", 1)[-1].replace("_", "-")
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    attributes = {
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})
    }
    url = sqs.create_queue(QueueName=name, Attributes=attributes if dlq else {})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    role = iam.create_role(
        RoleName=f"{name}-role",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    function = lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler=handler,
        Code={"ZipFile": _placeholder_zip()},
    )["FunctionArn"]
    lam.create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName=function,
        BatchSize=batch_size,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    return url, dlq_url


def _count(url: str) -> int:
    sqs = boto3.client("sqs", region_name="us-east-1")
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


def test_send_message_returns_before_the_consumer_runs_and_drain_waits_for_it(
    background: None,
) -> None:
    from tocsin_local import patches

    url, dlq = _queue_with(f"{__name__}.blocking_consumer")
    boto3.client("sqs", region_name="us-east-1").send_message(QueueUrl=url, MessageBody="one")
    # SendMessage is back, and the consumer has not finished (it waits for RELEASE)
    assert SEEN == []
    assert STARTED.wait(10), "the consumer never started"
    assert not patches.drain_queues(timeout=0.05)  # it is still in flight
    assert _count(url) == 1
    RELEASE.set()
    assert patches.drain_queues(timeout=10)
    assert SEEN == [("one", "1")]
    assert _count(url) == 0 and _count(dlq) == 0


def test_a_failing_consumer_is_retried_then_dead_lettered(background: None) -> None:
    from tocsin_local import patches

    url, dlq = _queue_with(f"{__name__}.failing_consumer")
    boto3.client("sqs", region_name="us-east-1").send_message(QueueUrl=url, MessageBody="job")
    assert patches.drain_queues(timeout=10)
    # three receives (the consumer sees each one's count), then the dead-letter queue
    assert SEEN == [("job", "1"), ("job", "2"), ("job", "3")]
    assert _count(url) == 0
    message = boto3.client("sqs", region_name="us-east-1").receive_message(QueueUrl=dlq)
    assert [m["Body"] for m in message["Messages"]] == ["job"]


def test_only_the_records_a_partial_batch_response_names_are_retried(background: None) -> None:
    from tocsin_local import patches

    url, dlq = _queue_with(f"{__name__}.partial_consumer", batch_size=10)
    sqs = boto3.client("sqs", region_name="us-east-1")
    sqs.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": "a", "MessageBody": "ok"}, {"Id": "b", "MessageBody": "fail"}],
    )
    assert patches.drain_queues(timeout=10)
    assert [seen for seen in SEEN if seen[0] == "ok"] == [("ok", "1")]
    assert [seen for seen in SEEN if seen[0] == "fail"] == [
        ("fail", "1"),
        ("fail", "2"),
        ("fail", "3"),
    ]
    assert _count(url) == 0 and _count(dlq) == 1


def test_without_the_option_the_consumer_runs_inside_send_message(aws: Any) -> None:
    """moto's own delivery, which the chat-ops tests rely on (they read the answer at once)."""
    SEEN.clear()
    RELEASE.set()
    url, _ = _queue_with(f"{__name__}.blocking_consumer")
    boto3.client("sqs", region_name="us-east-1").send_message(QueueUrl=url, MessageBody="sync")
    assert SEEN == [("sync", "1")]
    assert _count(url) == 0

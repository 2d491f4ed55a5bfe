"""The incidents' outbox: a new incident's response workflow starts from the table's stream
(handlers/incident_stream.py), not from the request that opened it.

Through moto with local mode's stream delivery (tocsin_local/patches.py, section 6): Lambda's
event filtering, partial batch responses and retries, inline or on a background thread."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.helpers import Http, generic_alert, set_incident_stream, wait_for_workflows


def executions(aws: Any) -> list[dict[str, Any]]:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    return list(sfn.list_executions(stateMachineArn=aws.state_machine_arn)["executions"])


def stream_mapping() -> dict[str, Any]:
    lam = boto3.client("lambda", region_name="us-east-1")
    [mapping] = [
        m
        for m in lam.list_event_source_mappings()["EventSourceMappings"]
        if ":dynamodb:" in m["EventSourceArn"]
    ]
    return mapping


def stream_record(incident: Any, sequence: str) -> dict[str, Any]:
    from tocsin.dal.dynamo import ser
    from tocsin.dal.incidents import incident_item

    item = ser(incident_item(incident))
    return {
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "Keys": {"pk": item["pk"], "sk": item["sk"]},
            "NewImage": item,
            "SequenceNumber": sequence,
            "StreamViewType": "NEW_IMAGE",
        },
    }


def stored_incident(title: str) -> Any:
    """An incident in the table, its stream record held up (the tests hand records to the
    starter themselves; `records_held` turns the mapping off)."""
    from tocsin.handlers.container import container

    c = container()
    incident = c.incidents.new_incident(title, "SEV2", "checkout", "generic")
    c.incident_repo.create(incident, [])
    return incident


@pytest.fixture
def records_held(aws: Any) -> Iterator[None]:
    set_incident_stream(False)
    yield
    wait_for_workflows()  # what the test started ends inside its own moto


def fail_starts(monkeypatch: Any, times: int | None) -> list[str]:
    """StartExecution fails (throttled) the first `times` times, or always (None); returns the
    incidents each attempt was for."""
    from tocsin.adapters.workflow import StepFunctionsWorkflow

    tried: list[str] = []
    original = StepFunctionsWorkflow.start

    def start(self: Any, incident: Any) -> str:
        tried.append(incident.id)
        if times is None or len(tried) <= times:
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
                "StartExecution",
            )
        return original(self, incident)

    monkeypatch.setattr(StepFunctionsWorkflow, "start", start)
    return tried


def invoke_starter(records: list[dict[str, Any]]) -> dict[str, Any]:
    from tocsin.handlers.incident_stream import handler
    from tocsin_local.patches import FakeLambdaContext

    result: dict[str, Any] = handler({"Records": records}, FakeLambdaContext("incident_stream"))
    return result


def test_the_stream_mapping_lets_through_only_new_incident_records(aws: Any) -> None:
    from tocsin.routes import NEW_INCIDENT_FILTER

    mapping = stream_mapping()
    assert mapping["FunctionArn"].endswith(":function:tocsin-incident_stream")
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    [pattern] = [json.loads(f["Pattern"]) for f in mapping["FilterCriteria"]["Filters"]]
    assert pattern == NEW_INCIDENT_FILTER


def test_an_alert_opens_an_incident_whose_workflow_the_stream_starts(http: Http, aws: Any) -> None:
    # Given the stream's mapping is off (as if its poller were behind)
    set_incident_stream(False)
    # When an alert opens an incident
    resp = http.alert("generic", generic_alert("Queue backlog", dedup_key="outbox-1"))
    assert resp.status_code == 202, resp.body
    [incident_id] = resp.body["created"]
    # Then the request itself started nothing: the committed record is the only trigger
    assert executions(aws) == []
    # And once the mapping runs again it resumes from that record, as on AWS
    set_incident_stream(True)
    wait_for_workflows()
    assert [e["name"] for e in executions(aws)] == [incident_id]
    assert http.call("GET", f"/v1/incidents/{incident_id}").body["ref"] == "INC-1"


def test_a_record_that_outlives_its_retries_is_started_by_the_sweeper(
    http: Http, aws: Any, monkeypatch: Any
) -> None:
    from tocsin.adapters.workflow import StepFunctionsWorkflow
    from tocsin.handlers.container import container
    from tocsin.services.incidents import FINALIZE_GRACE_SECONDS
    from tocsin_local import patches

    original = StepFunctionsWorkflow.start
    attempts = fail_starts(monkeypatch, None)
    monkeypatch.setattr(patches, "_queue_retry_delay", 0)
    resp = http.alert("generic", generic_alert("Queue backlog", dedup_key="outbox-lost"))
    [incident_id] = resp.body["created"]
    assert patches.drain_queues(timeout=20)  # retried in the background, then dropped
    assert attempts == [incident_id] * (1 + patches._STREAM_MAX_RETRIES)
    assert executions(aws) == []
    monkeypatch.setattr(StepFunctionsWorkflow, "start", original)  # Step Functions is back
    # the sweeper numbers and starts it after its grace period
    c = container()
    stalled = c.incident_repo.get(incident_id)
    assert c.incidents.finalize_if_stalled(stalled).execution_arn is None  # not yet
    later = stalled.created_at + timedelta(seconds=FINALIZE_GRACE_SECONDS + 1)
    c.incidents.clock = lambda: later
    finished = c.incidents.finalize_if_stalled(stalled)
    assert finished.number is not None and finished.execution_arn
    assert [e["name"] for e in executions(aws)] == [incident_id]
    wait_for_workflows()


@pytest.mark.parametrize("background", [False, True], ids=["inline", "background"])
def test_a_failed_start_is_retried_until_it_starts(
    http: Http, aws: Any, monkeypatch: Any, background: bool
) -> None:
    """Inline, a failed start is not left waiting for the next new incident; in the
    background (as Lambda's poller on AWS) the alert's answer does not wait for the start.
    Either way the retries start from the failed record, and the waits wait for them."""
    from tocsin_local import patches

    tried = fail_starts(monkeypatch, 2)
    monkeypatch.setattr(patches, "_queue_retry_delay", 0)
    patches.set_async_queues(background)
    try:
        resp = http.alert("generic", generic_alert("Flaky", dedup_key=f"outbox-{background}"))
        [incident_id] = resp.body["created"]
        assert patches.drain_queues(timeout=20)
    finally:
        patches.set_async_queues(False)
    assert tried == [incident_id] * 3
    wait_for_workflows()
    assert [e["name"] for e in executions(aws)] == [incident_id]


def test_a_redelivered_record_starts_nothing_twice(aws: Any, records_held: None) -> None:
    incident = stored_incident("Redelivered")
    record = stream_record(incident, "101")
    assert invoke_starter([record]) == {"batchItemFailures": []}
    assert invoke_starter([record]) == {"batchItemFailures": []}  # Lambda retried the batch
    assert [e["name"] for e in executions(aws)] == [incident.id]


def test_a_failed_start_is_reported_from_that_record_on(
    aws: Any, records_held: None, monkeypatch: Any
) -> None:
    from tocsin.adapters.workflow import StepFunctionsWorkflow

    first, second, third = (stored_incident(f"Batch {n}") for n in range(3))
    original = StepFunctionsWorkflow.start

    def start(self: Any, incident: Any) -> str:
        if incident.id == second.id:
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
                "StartExecution",
            )
        return original(self, incident)

    monkeypatch.setattr(StepFunctionsWorkflow, "start", start)
    records = [stream_record(i, str(200 + n)) for n, i in enumerate((first, second, third))]
    # the first is done; Lambda retries from the second, so the third waits for it
    assert invoke_starter(records) == {"batchItemFailures": [{"itemIdentifier": "201"}]}
    assert [e["name"] for e in executions(aws)] == [first.id]
    monkeypatch.setattr(StepFunctionsWorkflow, "start", original)
    assert invoke_starter(records[1:]) == {"batchItemFailures": []}
    assert {e["name"] for e in executions(aws)} == {first.id, second.id, third.id}


def test_an_unreadable_record_is_skipped_and_the_others_start(aws: Any, records_held: None) -> None:
    good = stored_incident("Readable")
    broken = stream_record(stored_incident("Broken"), "301")
    del broken["dynamodb"]["NewImage"]["title"]  # not an incident any more
    result = invoke_starter([broken, stream_record(good, "302")])
    # retrying could not make it readable: nothing to retry, the good one started
    assert result == {"batchItemFailures": []}
    assert [e["name"] for e in executions(aws)] == [good.id]


@pytest.mark.parametrize(
    ("pattern", "event", "expected"),
    [
        ({"eventName": ["INSERT"]}, {"eventName": "INSERT"}, True),
        ({"eventName": ["INSERT"]}, {"eventName": "MODIFY"}, False),
        ({"k": {"S": [{"prefix": "INC#"}]}}, {"k": {"S": "INC#1"}}, True),
        ({"k": {"S": [{"prefix": "INC#"}]}}, {"k": {"S": "ALERT#1"}}, False),
        ({"k": {"S": [{"prefix": "INC#"}]}}, {"k": {"N": "1"}}, False),
        ({"k": {"S": ["META"]}}, {}, False),
    ],
)
def test_local_event_filtering(pattern: Any, event: Any, expected: bool) -> None:
    from tocsin_local.patches import filter_matches

    assert filter_matches(pattern, event) is expected


def test_local_event_filtering_refuses_operators_it_does_not_know(aws: Any) -> None:
    """At the mapping's creation, not in some later write."""
    from tocsin_local.patches import check_filter_pattern

    with pytest.raises(ValueError, match="only prefix"):
        check_filter_pattern({"k": [{"anything-but": "x"}]})
    lam = boto3.client("lambda", region_name="us-east-1")
    with pytest.raises(Exception, match="only prefix"):
        lam.create_event_source_mapping(
            EventSourceArn=stream_mapping()["EventSourceArn"],
            FunctionName="tocsin-incident_stream",
            StartingPosition="LATEST",
            FilterCriteria={"Filters": [{"Pattern": json.dumps({"k": [{"exists": True}]})}]},
        )

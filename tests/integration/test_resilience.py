"""What happens when steps fail or race: nothing is lost, the sweeper repairs what a failed
follow-up step left behind."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tocsin.dal.alerts import AlertRepository, Contention, _cancelled
from tocsin.domain.alerts import Alert, AlertStatus
from tocsin.domain.clock import utcnow
from tocsin.services.outcome import IntakeOutcome

from tests.helpers import Http, generic_alert, wait_for_workflows


def c() -> Any:
    from tocsin.handlers.container import container

    return container()


def sweep() -> Any:
    from tocsin.services.sweeper import sweep as run

    return run(c().incident_repo, c().incidents, c().config)


def status(http: Http, incident_id: str) -> str:
    return str(http.call("GET", f"/v1/incidents/{incident_id}").body["status"])


def cancelled(*codes: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
            "CancellationReasons": [{"Code": code} for code in codes],
        },
        "TransactWriteItems",
    )


def test_transaction_conflicts_and_throttling_are_retryable_not_duplicates() -> None:
    with pytest.raises(Contention):
        _cancelled(cancelled("None", "TransactionConflict", "None"))
    with pytest.raises(Contention):
        _cancelled(cancelled("ThrottlingError"))
    assert _cancelled(cancelled("ConditionalCheckFailed", "None")) == [
        "ConditionalCheckFailed",
        "None",
    ]


def test_a_resolve_hit_by_a_conflict_is_retried_not_dropped(http: Http, monkeypatch: Any) -> None:
    alert = generic_alert("Latency", dedup_key="lat")
    incident_id = http.alert("generic", alert).body["created"][0]
    original = AlertRepository.resolve_alert
    calls = {"n": 0}

    def flaky(self: AlertRepository, *args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise Contention("TransactionConflict")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(AlertRepository, "resolve_alert", flaky)
    resp = http.alert("generic", {**alert, "status": "resolved"})
    assert resp.status_code == 202 and resp.body["duplicates"] == 0
    assert calls["n"] == 2
    assert status(http, incident_id) == "mitigated"


def test_a_resolve_that_read_the_alert_before_its_first_firing_still_resolves_it(
    http: Http,
) -> None:
    # Given the resolve's fast path saw no record, then the firing opened an incident
    alert = generic_alert("Queue lag", dedup_key="race")
    incident_id = http.alert("generic", alert).body["created"][0]
    resolved = Alert(
        source="generic", fingerprint="race", status=AlertStatus.RESOLVED, title="Queue lag"
    )
    outcome = IntakeOutcome()
    # When the resolve settles with its stale view (never seen)
    c().settler.settle(resolved, None, None, utcnow(), outcome)
    # Then it resolves the incident's alert instead of overwriting its link
    assert outcome.joined == [incident_id] and outcome.unmatched_resolves == 0
    assert status(http, incident_id) == "mitigated"


def test_lost_mitigation_is_repaired_by_the_sweeper(http: Http, monkeypatch: Any) -> None:
    alert = generic_alert("Disk", dedup_key="disk")
    incident_id = http.alert("generic", alert).body["created"][0]
    service = c().incidents

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("DynamoDB unavailable")

    monkeypatch.setattr(service, "change_with_retry", broken)
    assert http.alert("generic", {**alert, "status": "resolved"}).status_code == 500
    monkeypatch.undo()
    # the sender's retry is a duplicate now; the incident is still triggered with no firing alert
    assert http.alert("generic", {**alert, "status": "resolved"}).body["duplicates"] == 1
    assert status(http, incident_id) == "triggered"
    report = sweep()
    assert report.mitigated == [incident_id]
    assert status(http, incident_id) == "mitigated"


def test_a_failed_release_is_completed_and_the_next_firing_opens_a_new_incident(
    http: Http, monkeypatch: Any
) -> None:
    alert = generic_alert("Cache", dedup_key="cache")
    first = http.alert("generic", alert).body["created"][0]
    repo = c().alert_repo

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("DynamoDB unavailable")

    monkeypatch.setattr(repo, "unlink_alerts", broken)
    assert http.call("PATCH", f"/v1/incidents/{first}", {"status": "resolved"}).status_code == 500
    monkeypatch.undo()
    assert status(http, first) == "resolved"  # the status change itself committed
    assert sweep().released == [first]
    second = http.alert("generic", alert).body
    assert second["created"] and second["created"] != [first]
    assert sweep().released == []


def test_resolving_again_repeats_the_release(http: Http, monkeypatch: Any) -> None:
    alert = generic_alert("Cache", dedup_key="cache2")
    first = http.alert("generic", alert).body["created"][0]
    monkeypatch.setattr(
        c().alert_repo, "unlink_alerts", lambda *a: (_ for _ in ()).throw(RuntimeError("down"))
    )
    assert http.call("PATCH", f"/v1/incidents/{first}", {"status": "resolved"}).status_code == 500
    monkeypatch.undo()
    assert http.call("PATCH", f"/v1/incidents/{first}", {"status": "resolved"}).status_code == 200
    assert http.alert("generic", alert).body["created"]


def test_a_mitigated_incident_with_no_firing_alert_is_not_reopened(http: Http) -> None:
    alert = generic_alert("Flappy", dedup_key="flap")
    incident_id = http.alert("generic", alert).body["created"][0]
    http.alert("generic", {**alert, "status": "resolved"})
    from tocsin.domain.timeline import Actor

    # a delayed "fired again" follow-up arrives after the alert resolved again
    c().settler._after_join(incident_id, "SEV3", Actor.integration("generic"))
    assert status(http, incident_id) == "mitigated"


def test_counters_do_not_invalidate_a_version_a_person_read(http: Http) -> None:
    incident = http.alert("generic", generic_alert("A", dedup_key="a", group_key="g")).body[
        "created"
    ][0]
    wait_for_workflows()
    read = http.call("GET", f"/v1/incidents/{incident}").body
    http.alert("generic", generic_alert("B", dedup_key="b", group_key="g"))  # joins: counters move
    resp = http.call(
        "PATCH", f"/v1/incidents/{incident}", {"status": "acknowledged", "version": read["version"]}
    )
    assert resp.status_code == 200, resp.body
    assert http.call("GET", f"/v1/incidents/{incident}").body["alert_count"] == 2


def test_one_failing_incident_does_not_stop_the_sweep(http: Http, monkeypatch: Any) -> None:
    ids = []
    for key in ("s1", "s2"):
        alert = generic_alert(f"Sweep {key}", dedup_key=key)
        ids.append(http.alert("generic", alert).body["created"][0])
    service = c().incidents
    original = service.change_with_retry

    def failing_for_first(incident_id: str, *args: Any, **kwargs: Any) -> Any:
        if incident_id == ids[0]:
            raise RuntimeError("boom")
        return original(incident_id, *args, **kwargs)

    # both lost their mitigation; the repair of the first fails, the second goes on
    for incident_id in ids:
        incident = c().incident_repo.get(incident_id)
        c().incident_repo.ddb.update_item(
            TableName=c().incident_repo.table,
            Key={"pk": {"S": f"INC#{incident_id}"}, "sk": {"S": "META"}},
            UpdateExpression="SET firing_count = :z",
            ExpressionAttributeValues={":z": {"N": "0"}},
        )
        assert incident.status.value == "triggered"
    monkeypatch.setattr(service, "change_with_retry", failing_for_first)
    report = sweep()
    assert report.mitigated == [ids[1]]
    assert "boom" in report.failed[ids[0]]


@pytest.mark.parametrize("raw", [b"[1]", b'{"INCIDENTS": {"pk": 1}}', b'"x"', b"not json"])
def test_malformed_cursors_are_400(http: Http, raw: bytes) -> None:
    cursor = base64.urlsafe_b64encode(raw).decode()
    for path in ("/v1/incidents", "/v1/quarantine"):
        resp = http.call("GET", f"{path}?cursor={cursor}")
        assert resp.status_code == 400, (path, raw, resp.body)
    incident = http.call("POST", "/v1/incidents", {"title": "x"}).body["id"]
    assert http.call("GET", f"/v1/incidents/{incident}/timeline?cursor={cursor}").status_code == 400


def test_the_api_token_is_not_accepted_in_the_query_string(http: Http) -> None:
    from tests.helpers import TOKEN

    assert http.call("GET", f"/v1/incidents?token={TOKEN}", token=False).status_code == 401


@pytest.mark.parametrize("lost_as", ["GroupTaken", "Contention"])
def test_an_incident_whose_creation_answer_was_lost_still_gets_its_response(
    http: Http, aws: Any, monkeypatch: Any, lost_as: str
) -> None:
    """The transaction went through but its answer was lost (a client timeout, then
    botocore's retry fails on the condition the first attempt satisfied): the delivery must
    recognise its own incident and start its workflow, not count itself a duplicate."""
    import boto3
    from tocsin.dal.alerts import GroupTaken

    original = AlertRepository.open_incident

    def applied_then_lost(self: AlertRepository, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        raise GroupTaken() if lost_as == "GroupTaken" else Contention()

    monkeypatch.setattr(AlertRepository, "open_incident", applied_then_lost)
    body = http.alert("generic", generic_alert("Lost answer", dedup_key="lost")).body
    monkeypatch.setattr(AlertRepository, "open_incident", original)
    assert len(body["created"]) == 1 and body["duplicates"] == 0, body
    wait_for_workflows(60)
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    names = [
        e["name"] for e in sfn.list_executions(stateMachineArn=aws.state_machine_arn)["executions"]
    ]
    assert names == body["created"]
    assert http.call("GET", f"/v1/incidents/{body['created'][0]}").body["number"] == 1

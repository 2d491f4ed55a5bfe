"""Alert intake through the HTTP handlers on moto: dedup, grouping, resolve, auth, quarantine."""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3

from tests.helpers import Http, generic_alert, load_fixture, wait_for_workflows


def incidents(http: Http, **params: Any) -> list[dict[str, Any]]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    resp = http.call("GET", f"/v1/incidents?{query}")
    assert resp.status_code == 200, resp.body
    return list(resp.body["items"])


def executions(aws: Any) -> list[dict[str, Any]]:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    return list(sfn.list_executions(stateMachineArn=aws.state_machine_arn)["executions"])


def test_a_new_alert_opens_a_numbered_incident_and_starts_its_workflow(
    http: Http, aws: Any
) -> None:
    # Given an Alertmanager group with two firing alerts
    payload = load_fixture("alertmanager/zulip_alert_firing_2_alerts.json")
    # When it is delivered
    resp = http.alert("alertmanager", payload)
    # Then one incident is created with both alerts, numbered INC-1, severity from `critical`
    assert resp.status_code == 202, resp.body
    assert len(resp.body["created"]) == 1 and resp.body["incidents"] == resp.body["created"]
    wait_for_workflows()  # the workflow's first step numbers the incident
    (incident,) = incidents(http)
    assert incident["ref"] == "INC-1"
    assert incident["severity"] == "SEV1"
    assert incident["alert_count"] == 2 and incident["firing_count"] == 2
    assert incident["status"] == "triggered"
    # and its response workflow runs under the incident id as execution name
    (execution,) = executions(aws)
    assert execution["name"] == incident["id"]
    assert incident["execution_arn"] == execution["executionArn"]


def test_redelivery_changes_nothing_but_a_counter(http: Http, aws: Any) -> None:
    payload = load_fixture("alertmanager/zulip_alert_firing_2_alerts.json")
    first = http.alert("alertmanager", payload).body
    wait_for_workflows()
    before = incidents(http)[0]
    timeline_before = http.call("GET", f"/v1/incidents/{before['id']}/timeline").body["items"]
    # When the same payload arrives three more times
    for _ in range(3):
        again = http.alert("alertmanager", payload)
        assert again.status_code == 202
        assert again.body["duplicates"] == 2 and again.body["created"] == []
        assert again.body["incidents"] == first["incidents"]
    # Then the incident and its timeline are unchanged, and the dedup counters moved
    after = incidents(http)[0]
    assert after == before
    assert (
        http.call("GET", f"/v1/incidents/{before['id']}/timeline").body["items"] == timeline_before
    )
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    item = ddb.get_item(
        TableName=aws.table,
        Key={"pk": {"S": "ALERT#alertmanager#a1bc48475b20e73d"}, "sk": {"S": "DEDUP"}},
    )["Item"]
    assert item["deliveries"]["N"] == "4"
    assert len(executions(aws)) == 1


def test_alerts_of_one_group_join_one_open_incident(http: Http) -> None:
    payload = load_fixture("alertmanager/zulip_alert_firing_2_alerts.json")
    http.alert("alertmanager", payload)
    # Given a third alert in the same Alertmanager group arrives later
    later = copy.deepcopy(payload)
    later["alerts"] = [dict(payload["alerts"][0], fingerprint="ffff000011112222")]
    resp = http.alert("alertmanager", later)
    assert resp.body["created"] == [] and len(resp.body["incidents"]) == 1
    (incident,) = incidents(http)
    assert incident["alert_count"] == 3 and incident["firing_count"] == 3
    alerts = http.call("GET", f"/v1/incidents/{incident['id']}/alerts").body["items"]
    assert sorted(a["fingerprint"] for a in alerts) == [
        "a1bc48475b20e73d",
        "c2ea85182f28cbd9",
        "ffff000011112222",
    ]
    assert {a["status"] for a in alerts} == {"firing"}
    assert all(a["raw_ref"].startswith("raw:") for a in alerts)


def test_fifty_concurrent_deliveries_create_one_incident(http: Http, aws: Any) -> None:
    payload = generic_alert("Checkout down", dedup_key="checkout-down", severity="critical")
    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(lambda _: Http().alert("generic", payload), range(50)))
    assert all(r.status_code == 202 for r in results), [
        r.body for r in results if r.status_code != 202
    ]
    created = [i for r in results for i in r.body["created"]]
    assert len(created) == 1
    assert {i for r in results for i in r.body["incidents"]} == set(created)
    (incident,) = incidents(http)
    assert incident["alert_count"] == 1 and incident["firing_count"] == 1
    assert len(executions(aws)) == 1


def test_concurrent_different_alerts_of_one_group_share_the_incident(http: Http) -> None:
    def send(n: int) -> Any:
        return Http().alert(
            "generic", generic_alert(f"Pod {n} crashlooping", dedup_key=f"pod-{n}", group_key="g1")
        )

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(send, range(20)))
    assert {i for r in results for i in r.body["incidents"]} == {results[0].body["incidents"][0]}
    (incident,) = incidents(http)
    assert incident["alert_count"] == 20 and incident["firing_count"] == 20


def test_all_alerts_resolved_mitigates_then_a_new_firing_opens_a_new_incident(
    http: Http, aws: Any
) -> None:
    from tocsin.handlers.container import container
    from tocsin.services.sweeper import sweep

    firing = generic_alert("API 5xx", dedup_key="api-5xx", severity="critical")
    first = http.alert("generic", firing).body["created"][0]
    # When the alert resolves
    resp = http.alert("generic", {**firing, "status": "resolved"})
    assert resp.body["incidents"] == [first]
    # Then the incident is mitigated (a duplicate resolve changes nothing)
    assert http.alert("generic", {**firing, "status": "resolved"}).body["duplicates"] == 1
    incident = http.call("GET", f"/v1/incidents/{first}").body
    assert incident["status"] == "mitigated" and incident["firing_count"] == 0
    # and the sweeper resolves it after the severity's quiet period (SEV1: 30m)
    c = container()
    assert sweep(c.incident_repo, c.incidents, c.config).resolved == []
    c.incidents.clock = lambda: _later(minutes=31)
    assert sweep(c.incident_repo, c.incidents, c.config).resolved == [first]
    assert http.call("GET", f"/v1/incidents/{first}").body["status"] == "resolved"
    # When the same alert fires again, it is a new incident
    second = http.alert("generic", firing).body
    assert second["created"] and second["created"] != [first]
    # one response per incident, and the `resolved` workflow's run for the first
    names = {e["name"] for e in executions(aws)}
    # one response per incident; the first's status changes (mitigated, resolved) ran the
    # workflows that answer them, as runs named after the version each change made
    assert {first, second["created"][0]} <= names
    assert {n for n in names if n.startswith(f"{first}-v")} == {
        f"{first}-v{v}" for v in range(2, incident["version"] + 2)
    }


def test_an_alert_firing_again_reopens_a_mitigated_incident(http: Http) -> None:
    firing = generic_alert("Queue backlog", dedup_key="queue-backlog")
    incident_id = http.alert("generic", firing).body["created"][0]
    http.alert("generic", {**firing, "status": "resolved"})
    assert http.call("GET", f"/v1/incidents/{incident_id}").body["status"] == "mitigated"
    resp = http.alert("generic", firing)
    assert resp.body["incidents"] == [incident_id] and resp.body["created"] == []
    incident = http.call("GET", f"/v1/incidents/{incident_id}").body
    assert incident["status"] == "triggered" and incident["firing_count"] == 1
    kinds = [
        e["kind"] for e in http.call("GET", f"/v1/incidents/{incident_id}/timeline").body["items"]
    ]
    assert kinds.count("alert_refired") == 1


def test_a_more_severe_alert_upgrades_the_incident(http: Http) -> None:
    http.alert("generic", generic_alert("Errors", dedup_key="e1", group_key="svc", severity="low"))
    http.alert(
        "generic",
        generic_alert("Errors everywhere", dedup_key="e2", group_key="svc", severity="critical"),
    )
    (incident,) = incidents(http)
    assert incident["severity"] == "SEV1"
    events = http.call("GET", f"/v1/incidents/{incident['id']}/timeline").body["items"]
    upgrade = [e for e in events if e["kind"] == "severity_changed"]
    assert upgrade and upgrade[0]["data"] == {
        "old": "SEV3",
        "new": "SEV1",
        "reason": "a more severe alert joined",
    }


def test_resolve_of_an_unknown_alert_is_recorded_without_incident(http: Http) -> None:
    resp = http.alert("generic", generic_alert("Never fired", dedup_key="ghost", status="resolved"))
    assert resp.status_code == 202
    assert resp.body["incidents"] == [] and resp.body["unmatched_resolves"] == 1
    assert incidents(http) == []


def test_maintenance_window_suppresses_incident_creation_but_records_the_alert(
    http: Http, aws: Any
) -> None:
    window = {
        "id": "db-upgrade",
        "starts_at": "2020-01-01T00:00:00Z",
        "ends_at": "2099-01-01T00:00:00Z",
        "services": ["orders"],
        "reason": "major version upgrade",
    }
    assert http.call("POST", "/v1/maintenance-windows", window).status_code == 201
    alert = generic_alert("DB down", dedup_key="db-down", labels={"service": "orders"})
    resp = http.alert("generic", alert)
    assert resp.body["incidents"] == []
    assert resp.body["suppressed"] == [
        {"fingerprint": "db-down", "maintenance_window": "db-upgrade"}
    ]
    assert incidents(http) == []
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    item = ddb.get_item(
        TableName=aws.table, Key={"pk": {"S": "ALERT#generic#db-down"}, "sk": {"S": "DEDUP"}}
    )
    assert item["Item"]["suppressed_by"]["S"] == "db-upgrade"
    # other services are not affected
    other = http.alert(
        "generic", generic_alert("Cart down", dedup_key="cart", labels={"service": "cart"})
    )
    assert len(other.body["created"]) == 1
    # once the window is removed, the alert opens an incident
    assert http.call("DELETE", "/v1/maintenance-windows/db-upgrade").status_code == 204
    from tocsin.handlers.container import container

    container().maintenance._cache = None
    assert len(http.alert("generic", alert).body["created"]) == 1


def test_missing_or_wrong_token_is_401_and_changes_nothing(http: Http) -> None:
    payload = generic_alert("x", dedup_key="x")
    assert http.alert("generic", payload, token=False).status_code == 401
    assert http.alert("generic", payload, token="wrong").status_code == 401
    assert http.call("GET", "/v1/incidents", token="wrong").status_code == 401
    assert incidents(http) == []


def test_token_in_query_string_is_accepted(http: Http) -> None:
    from tests.helpers import TOKEN

    resp = http.call(
        "POST", f"/v1/alerts/generic?token={TOKEN}", generic_alert("q", dedup_key="q"), token=False
    )
    assert resp.status_code == 202


def test_unknown_source_is_404(http: Http) -> None:
    resp = http.alert("nagios", {"x": 1})
    assert resp.status_code == 404
    assert "known: alertmanager" in resp.body["error"]


def test_bad_payloads_are_quarantined_with_a_clear_error_and_can_be_replayed(
    http: Http, monkeypatch: Any
) -> None:
    # Given a body that is not JSON
    resp = http.alert("generic", b"\x00not json")
    assert resp.status_code == 400
    assert "not valid JSON" in resp.body["error"]
    qid = resp.body["quarantine_id"]
    shown = http.call("GET", f"/v1/quarantine/{qid}").body
    assert shown["source"] == "generic" and shown["status_code"] == 400
    assert "authorization" not in {k.lower() for k in shown["headers"]}
    # And a JSON body that does not match the format: 422 naming the field
    resp = http.alert("generic", {"titel": "typo"})
    assert resp.status_code == 422
    assert "title" in resp.body["error"]
    bad_id = resp.body["quarantine_id"]
    listed = [item["id"] for item in http.call("GET", "/v1/quarantine").body["items"]]
    assert listed == [bad_id, qid]
    # Replaying without a fix fails again and keeps the same quarantine entry
    again = http.call("POST", f"/v1/quarantine/{bad_id}/replay")
    assert again.status_code == 422 and again.body["quarantine_id"] == bad_id
    # After a "fix" (the parser accepting the field), the replay creates the incident
    import tocsin.sources.generic as generic

    original = generic.parse

    def lenient(body: Any, headers: Any) -> Any:
        if isinstance(body, dict) and "titel" in body:
            body = {"title": body.pop("titel")}
        return original(body, headers)

    monkeypatch.setattr(generic, "parse", lenient)
    replayed = http.call("POST", f"/v1/quarantine/{bad_id}/replay")
    assert replayed.status_code == 202 and len(replayed.body["created"]) == 1
    record = http.call("GET", f"/v1/quarantine/{bad_id}").body
    assert [r["ok"] for r in record["replays"]] == [False, True]


def test_unknown_quarantine_id_is_404(http: Http) -> None:
    assert http.call("GET", "/v1/quarantine/q-nope").status_code == 404
    assert http.call("GET", "/v1/quarantine/..%2Fsecret").status_code == 404


def _later(minutes: int) -> Any:
    from datetime import timedelta

    from tocsin.domain.clock import utcnow

    return utcnow() + timedelta(minutes=minutes)


def test_sns_subscription_confirmation_is_answered_and_opens_nothing(http: Http) -> None:
    from tocsin.handlers.container import container

    confirmed: list[str] = []
    container().intake.confirm_subscription = confirmed.append
    body = load_fixture("aws/sns_http_subscription_confirmation_docs.json")
    resp = http.alert(
        "cloudwatch", body, headers={"x-amz-sns-message-type": "SubscriptionConfirmation"}
    )
    assert resp.status_code == 202 and resp.body["subscription_confirmed"] is True
    assert confirmed == [body["SubscribeURL"]]
    assert incidents(http) == []


def test_cloudwatch_alarm_via_sns_opens_then_ok_mitigates(http: Http) -> None:
    import json

    ok = load_fixture("aws/sns_http_notification_cloudwatch_metric_alarm_OK.json")
    alarm = dict(ok)
    message = json.loads(ok["Message"])
    alarm["Message"] = json.dumps({**message, "NewStateValue": "ALARM", "OldStateValue": "OK"})
    headers = {"x-amz-sns-message-type": "Notification"}
    opened = http.alert("cloudwatch", alarm, headers=headers)
    assert opened.status_code == 202 and len(opened.body["created"]) == 1
    closed = http.alert("cloudwatch", ok, headers=headers)
    assert closed.body["incidents"] == opened.body["created"]
    incident = http.call("GET", f"/v1/incidents/{opened.body['created'][0]}").body
    assert incident["status"] == "mitigated"
    assert incident["labels"]["alarm_name"] == message["AlarmName"]


def test_a_batch_of_a_repeat_and_a_new_alert_counts_one_and_opens_one(http: Http) -> None:
    # Given a generic alert already in an incident
    known = generic_alert("Checkout down", dedup_key="checkout-down", labels={"service": "a"})
    first = http.alert("generic", known).body
    # When a batch delivers it again together with a never-seen alert (the fast path counts
    # the repeat, then the full parse settles the rest)
    new = generic_alert("Search down", dedup_key="search-down", labels={"service": "b"})
    resp = http.alert("generic", {"alerts": [known, new]})
    # Then the repeat is a duplicate of the first incident and the new alert opens its own
    assert resp.status_code == 202, resp.body
    assert resp.body["alerts"] == 2 and resp.body["duplicates"] == 1
    assert len(resp.body["created"]) == 1
    assert set(resp.body["incidents"]) == {*first["created"], *resp.body["created"]}
    # and delivering the batch once more is two duplicates, nothing new
    again = http.alert("generic", {"alerts": [known, new]}).body
    assert again["duplicates"] == 2 and again["created"] == []
    assert set(again["incidents"]) == set(resp.body["incidents"])

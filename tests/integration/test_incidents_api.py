"""The incidents API: declare, read, filter, paginate, patch with optimistic locking."""

from __future__ import annotations

from typing import Any

from tests.helpers import Http, generic_alert, wait_for_workflows


def declare(http: Http, title: str, **fields: Any) -> dict[str, Any]:
    resp = http.call("POST", "/v1/incidents", {"title": title, **fields})
    assert resp.status_code == 201, resp.body
    wait_for_workflows()  # its first step records itself on the timeline
    return dict(resp.body)


def test_declare_by_hand_records_who_and_starts_the_workflow(http: Http) -> None:
    incident = declare(
        http, "Payments failing in EU", severity="SEV1", service="payments", declared_by="alice"
    )
    # numbered in the answer; the workflow starts from the table's stream (ADR 21) and
    # records its execution
    assert incident["ref"] == "INC-1" and incident["source"] == "manual"
    stored = http.call("GET", f"/v1/incidents/{incident['id']}").body
    assert stored["execution_arn"].endswith(f":{incident['id']}")
    items = http.call("GET", f"/v1/incidents/{incident['id']}/timeline").body["items"]
    # steps: test_response; paging and roles: test_escalation
    event, started = [e for e in items if e["kind"] in {"incident_created", "workflow_started"}]
    assert event["kind"] == "incident_created" and started["kind"] == "workflow_started"
    assert started["data"]["number"] == 1
    assert event["actor"] == {"kind": "user", "id": "alice", "name": None}


def test_declare_is_idempotent_with_an_idempotency_key(http: Http) -> None:
    body = {"title": "Checkout down"}
    first = http.call("POST", "/v1/incidents", body, headers={"Idempotency-Key": "k-1"})
    again = http.call("POST", "/v1/incidents", body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201 and again.status_code == 200
    assert again.body["id"] == first.body["id"]
    assert len(http.call("GET", "/v1/incidents").body["items"]) == 1


def test_declare_rejects_unknown_severity_and_fields(http: Http) -> None:
    assert http.call("POST", "/v1/incidents", {"title": "x", "severity": "SEV9"}).status_code == 422
    resp = http.call("POST", "/v1/incidents", {"title": "x", "sevrity": "SEV1"})
    assert resp.status_code == 422
    assert http.call("POST", "/v1/incidents", {"title": ""}).status_code == 422


def test_patch_changes_fields_with_a_timeline_event_each(http: Http) -> None:
    incident = declare(http, "Slow search", severity="SEV3")
    resp = http.call(
        "PATCH",
        f"/v1/incidents/{incident['id']}",
        {
            "severity": "SEV2",
            "status": "acknowledged",
            "version": incident["version"],
            "changed_by": "bob",
        },
    )
    assert resp.status_code == 200, resp.body
    assert resp.body["severity"] == "SEV2" and resp.body["status"] == "acknowledged"
    assert resp.body["version"] == incident["version"] + 1
    assert "acknowledged" in resp.body["status_times"]
    items = http.call("GET", f"/v1/incidents/{incident['id']}/timeline").body["items"]
    # the response's own events (its steps, the runbooks its summary suggests) are tested
    # in test_response and test_runbooks
    response = {"workflow_step", "runbook_suggested"}
    events = [e for e in items if e["kind"] not in response]
    kinds = [e["kind"] for e in events]
    assert kinds == ["incident_created", "workflow_started", "severity_changed", "status_changed"]
    assert all(e["actor"]["id"] == "bob" for e in events[2:])


def test_stale_version_is_409_and_changes_nothing(http: Http) -> None:
    incident = declare(http, "Queue lag")
    url = f"/v1/incidents/{incident['id']}"
    assert (
        http.call(
            "PATCH", url, {"title": "Queue lag (EU)", "version": incident["version"]}
        ).status_code
        == 200
    )
    stale = http.call("PATCH", url, {"title": "Other", "version": incident["version"]})
    assert stale.status_code == 409
    assert http.call("GET", url).body["title"] == "Queue lag (EU)"


def test_invalid_transition_is_422(http: Http) -> None:
    incident = declare(http, "x")
    url = f"/v1/incidents/{incident['id']}"
    assert http.call("PATCH", url, {"status": "resolved"}).status_code == 200
    resp = http.call("PATCH", url, {"status": "acknowledged"})
    assert resp.status_code == 422 and "cannot move" in resp.body["error"]
    assert (
        http.call("PATCH", url, {"status": "triggered", "reason": "not fixed"}).body["status"]
        == "triggered"
    )


def test_unknown_incident_is_404(http: Http) -> None:
    assert http.call("GET", "/v1/incidents/inc-missing").status_code == 404
    assert http.call("PATCH", "/v1/incidents/inc-missing", {"title": "x"}).status_code == 404
    assert http.call("GET", "/v1/incidents/inc-missing/timeline").status_code == 404


def test_list_filters_by_status_severity_service(http: Http) -> None:
    a = declare(http, "a", severity="SEV1", service="checkout")
    b = declare(http, "b", severity="SEV2", service="checkout")
    c = declare(http, "c", severity="SEV1", service="search")
    http.call("PATCH", f"/v1/incidents/{b['id']}", {"status": "resolved"})

    def ids(query: str) -> list[str]:
        resp = http.call("GET", f"/v1/incidents?{query}")
        assert resp.status_code == 200, resp.body
        return [i["id"] for i in resp.body["items"]]

    assert ids("") == [c["id"], b["id"], a["id"]]  # newest first
    assert ids("status=open") == [c["id"], a["id"]]
    assert ids("status=resolved") == [b["id"]]
    assert ids("severity=SEV1") == [c["id"], a["id"]]
    assert ids("service=checkout") == [b["id"], a["id"]]
    assert ids("service=checkout&severity=SEV2") == [b["id"]]
    assert ids("status=open&service=checkout") == [a["id"]]
    assert http.call("GET", "/v1/incidents?status=sleeping").status_code == 400


def test_pagination_walks_every_incident_once(http: Http) -> None:
    made = [declare(http, f"incident {n}")["id"] for n in range(7)]
    for query in ("", "status=open", "status=triggered,acknowledged"):
        seen: list[str] = []
        cursor = None
        while True:
            suffix = f"&cursor={cursor}" if cursor else ""
            page = http.call("GET", f"/v1/incidents?limit=3&{query}{suffix}").body
            assert len(page["items"]) <= 3
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == list(reversed(made)), query
    assert http.call("GET", "/v1/incidents?cursor=garbage").status_code == 400


def test_resolving_by_hand_releases_the_group(http: Http) -> None:
    alert = generic_alert("Cache misses", dedup_key="cache")
    first = http.alert("generic", alert).body["created"][0]
    http.call("PATCH", f"/v1/incidents/{first}", {"status": "resolved", "reason": "fixed"})
    second = http.alert("generic", alert).body
    assert second["created"] and second["created"][0] != first

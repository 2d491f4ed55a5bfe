"""Status pages through the API, the response workflow and the local gateway: publishing writes
the page's files to S3 (only those that changed), every publish is on the incident's timeline,
one publisher at a time, maintenances move along with the clock, and a private page needs
the CloudFront signed cookies an access link hands out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from tests.helpers import Http, wait_for_workflows
from tests.integration.test_escalation import declare, timeline


def s3_json(resources: Any, page: str, path: str) -> Any:
    s3 = boto3.client("s3", region_name="us-east-1")
    body = s3.get_object(Bucket=resources.status_bucket, Key=f"status/{page}/{path}")["Body"]
    return json.loads(body.read())


def s3_keys(resources: Any, page: str) -> set[str]:
    s3 = boto3.client("s3", region_name="us-east-1")
    found = s3.list_objects_v2(Bucket=resources.status_bucket, Prefix=f"status/{page}/")
    return {o["Key"].split("/", 2)[2] for o in found.get("Contents", [])}


def components(summary: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["status"] for c in summary["components"] if not c.get("group")}


def open_incident(http: Http, page: str = "public", **fields: Any) -> dict[str, Any]:
    body = {
        "name": "Checkout errors",
        "status": "investigating",
        "body": "We are looking into failed checkouts.",
        "impact": "major",
        "components": {"Checkout": "partial_outage"},
        "author": "carol",
        **fields,
    }
    resp = http.call("POST", f"/v1/status-pages/{page}/incidents", body)
    assert resp.status_code == 201, resp.body
    return dict(resp.body)


def test_an_incident_is_published_updated_and_resolved(http: Http, aws: Any) -> None:
    record = open_incident(http)
    assert record["status"] == "investigating" and len(record["id"]) == 12
    keys = s3_keys(aws, "public")
    for path in (
        "index.html",
        "api/v2/summary.json",
        "api/v2/status.json",
        "api/v2/components.json",
        "api/v2/incidents.json",
        "api/v2/incidents/unresolved.json",
        "api/v2/scheduled-maintenances.json",
        "api/v2/scheduled-maintenances/upcoming.json",
        "api/v2/scheduled-maintenances/active.json",
        "history.atom",
        "history.rss",
        f"incidents/{record['id']}.html",
    ):
        assert path in keys, path
    summary = s3_json(aws, "public", "api/v2/summary.json")
    assert components(summary)["Checkout"] == "partial_outage"
    assert components(summary)["Search"] == "operational"
    assert summary["status"] == {"indicator": "minor", "description": "Minor Service Outage"}
    assert [i["id"] for i in summary["incidents"]] == [record["id"]]

    resp = http.call(
        "POST",
        f"/v1/status-pages/public/incidents/{record['id']}/updates",
        {
            "status": "identified",
            "body": "A bad deploy; rolling back.",
            "components": {"Payments API": "major_outage"},
            "version": record["version"],
        },
    )
    assert resp.status_code == 201, resp.body
    updated = resp.body
    assert updated["status"] == "identified"
    assert updated["updates"][0]["components"] == {
        "Checkout": "partial_outage",
        "Payments API": "major_outage",
    }
    assert updated["updates"][0]["affected_components"] == [
        {
            "code": updated["updates"][0]["affected_components"][0]["code"],
            "name": "Payments API",
            "old_status": "operational",
            "new_status": "major_outage",
        }
    ]
    status = s3_json(aws, "public", "api/v2/status.json")
    assert status["status"] == {"indicator": "major", "description": "Partial System Outage"}
    # a stale version is refused and changes nothing
    stale = http.call(
        "POST",
        f"/v1/status-pages/public/incidents/{record['id']}/updates",
        {"status": "resolved", "body": "x", "version": record["version"]},
    )
    assert stale.status_code == 409

    resolved = http.call(
        "POST",
        f"/v1/status-pages/public/incidents/{record['id']}/updates",
        {"status": "resolved", "body": "Rolled back; all good."},
    ).body
    assert resolved["resolved_at"] and resolved["status"] == "resolved"
    assert set(resolved["updates"][0]["components"].values()) == {"operational"}
    summary = s3_json(aws, "public", "api/v2/summary.json")
    assert set(components(summary).values()) == {"operational"}
    assert summary["incidents"] == []
    assert s3_json(aws, "public", "api/v2/incidents.json")["incidents"][0]["status"] == "resolved"
    listed = http.call("GET", "/v1/status-pages/public/incidents?state=all").body["items"]
    assert [r["id"] for r in listed] == [record["id"]]
    page = http.call("GET", "/v1/status-pages/public").body
    assert page["status"]["indicator"] == "none"
    assert page["published_generation"] == page["generation"] == 3


def test_bad_input_gets_a_clear_error_and_changes_nothing(http: Http, aws: Any) -> None:
    before = s3_keys(aws, "public")
    bad = http.call(
        "POST",
        "/v1/status-pages/public/incidents",
        {"name": "x", "body": "y", "components": {"Admin console": "major_outage"}},
    )
    assert bad.status_code == 400
    assert "Admin console" in bad.body["error"] and "Checkout" in bad.body["error"]
    wrong = http.call(
        "POST",
        "/v1/status-pages/public/incidents",
        {"name": "x", "body": "y", "components": {"Checkout": "on_fire"}},
    )
    assert wrong.status_code == 422
    assert (
        http.call("POST", "/v1/status-pages/nope/incidents", {"name": "x", "body": "y"}).status_code
        == 404
    )
    record = open_incident(http)
    resp = http.call(
        "POST",
        f"/v1/status-pages/public/incidents/{record['id']}/updates",
        {"status": "completed", "body": "not an incident status"},
    )
    assert resp.status_code == 400 and "investigating" in resp.body["error"]
    assert http.call("GET", "/v1/status-pages/public/incidents/zzzzzzzzzzzz").status_code == 404
    assert http.call("GET", "/v1/status-pages", token="wrong").status_code == 401
    assert before <= s3_keys(aws, "public")
    assert len(http.call("GET", "/v1/status-pages/public/incidents").body["items"]) == 1


def test_only_changed_files_are_rewritten(http: Http, aws: Any) -> None:
    first = http.call("POST", "/v1/status-pages/public/publish").body
    assert first["published"] and first["written"] > 10
    again = http.call("POST", "/v1/status-pages/public/publish").body
    assert again["written"] == 0 and again["deleted"] == 0
    assert again["unchanged"] == first["written"] + first["unchanged"]
    record = open_incident(http)
    state = http.call("GET", "/v1/status-pages/public").body
    assert state["files"] == again["unchanged"] + 1  # the incident's own page
    http.call(
        "POST",
        f"/v1/status-pages/public/incidents/{record['id']}/updates",
        {"status": "monitoring", "body": "Fixed, watching."},
    )
    after = http.call("POST", "/v1/status-pages/public/publish").body
    assert after["written"] == 0  # the update itself published everything it changed


def test_a_tocsin_incident_is_previewed_then_published_and_on_its_timeline(
    http: Http, aws: Any
) -> None:
    incident_id = declare(http, severity="SEV3", service="checkout")
    wait_for_workflows()
    preview = http.call(
        "POST", f"/v1/incidents/{incident_id}/status-page", {"preview": True, "author": "carol"}
    )
    assert preview.status_code == 200, preview.body
    drafts = {d["page"]: d for d in preview.body["drafts"]}
    assert set(drafts) == {"public", "internal"}
    draft = drafts["public"]
    assert draft["action"] == "open" and draft["status"] == "investigating"
    assert draft["components"] == {
        "Checkout": "degraded_performance",
        "Payments API": "degraded_performance",
    }
    assert draft["impact"] == "minor"
    assert "Checkout and Payments API" in draft["body"]  # the template, filled in
    assert http.call("GET", "/v1/status-pages/public/incidents").body["items"] == []

    published = http.call(
        "POST",
        f"/v1/incidents/{incident_id}/status-page",
        {
            "pages": ["public"],
            "status": "identified",
            "body": "Card payments fail.",
            "author": "carol",
        },
    )
    assert published.status_code == 201, published.body
    record = published.body["published"][0]
    assert record["incident_id"] == incident_id and record["incident_ref"].startswith("INC-")
    assert record["status"] == "identified"
    # the same again says nothing new
    same = http.call(
        "POST",
        f"/v1/incidents/{incident_id}/status-page",
        {"pages": ["public"], "status": "identified", "body": "Card payments fail."},
    )
    assert same.status_code == 200 and same.body["published"] == []
    # opening it by hand a second time is refused, naming the first
    twice = http.call(
        "POST",
        "/v1/status-pages/public/incidents",
        {"name": "x", "body": "y", "incident_id": incident_id},
    )
    assert twice.status_code == 409 and twice.body["record_id"] == record["id"]
    events = [e for e in timeline(http, incident_id) if e["kind"] == "status_page_updated"]
    assert len(events) == 1
    assert events[0]["actor"]["id"] == "carol"
    assert events[0]["data"]["page"] == "public" and events[0]["data"]["status"] == "identified"
    assert events[0]["data"]["url"].endswith(f"/status/public/incidents/{record['id']}.html")


def test_the_response_workflow_publishes_and_resolves(http: Http, aws: Any) -> None:
    incident_id = declare(http, severity="SEV1", service="checkout")
    wait_for_workflows()
    on = {
        p: http.call("GET", f"/v1/status-pages/{p}/incidents").body["items"]
        for p in ("public", "internal")
    }
    assert [r["incident_id"] for r in on["public"]] == [incident_id]
    assert [r["incident_id"] for r in on["internal"]] == [incident_id]
    public = on["public"][0]
    assert public["impact"] == "critical"
    assert public["updates"][0]["components"] == {
        "Checkout": "major_outage",
        "Payments API": "major_outage",
    }
    summary = s3_json(aws, "public", "api/v2/summary.json")
    assert summary["status"]["indicator"] == "major"  # Search is still operational
    assert public["name"] == "Problems with Checkout and Payments API"  # not the internal title
    # a person moves it to identified, with their own impact and components; an
    # acknowledgement must not undo any of it
    http.call(
        "POST",
        f"/v1/status-pages/public/incidents/{public['id']}/updates",
        {
            "status": "identified",
            "body": "A bad deploy; payments are fine.",
            "impact": "minor",
            "components": {"Payments API": "operational", "Checkout": "degraded_performance"},
            "author": "bob",
        },
    )
    http.call("PATCH", f"/v1/incidents/{incident_id}", {"status": "acknowledged"})
    wait_for_workflows()
    after = http.call("GET", f"/v1/status-pages/public/incidents/{public['id']}").body
    assert after["status"] == "identified" and after["impact"] == "minor"
    assert after["updates"][0]["body"] == "A bad deploy; payments are fine."
    assert len(after["updates"]) == 2
    # mitigation is a later phase: the workflow moves it on, keeping bob's impact and components
    http.call("PATCH", f"/v1/incidents/{incident_id}", {"status": "mitigated"})
    wait_for_workflows()
    after = http.call("GET", f"/v1/status-pages/public/incidents/{public['id']}").body
    assert after["status"] == "monitoring" and after["impact"] == "minor"
    assert after["updates"][0]["components"] == {
        "Checkout": "degraded_performance",
        "Payments API": "operational",
    }
    http.call("PATCH", f"/v1/incidents/{incident_id}", {"status": "resolved"})
    wait_for_workflows()
    for page in ("public", "internal"):
        record = http.call("GET", f"/v1/status-pages/{page}/incidents").body["items"][0]
        assert record["status"] == "resolved", page
        assert set(record["updates"][0]["components"].values()) == {"operational"}
    summary = s3_json(aws, "public", "api/v2/summary.json")
    assert summary["incidents"] == [] and summary["status"]["indicator"] == "none"


def test_a_sev3_does_not_go_on_the_status_page_by_itself(http: Http, aws: Any) -> None:
    incident_id = declare(http, severity="SEV3", service="checkout")
    wait_for_workflows()
    http.call("PATCH", f"/v1/incidents/{incident_id}", {"status": "resolved"})
    wait_for_workflows()
    assert http.call("GET", "/v1/status-pages/public/incidents").body["items"] == []
    steps = [
        e["data"]
        for e in timeline(http, incident_id)
        if e["kind"] == "workflow_step" and e["data"].get("action") == "update_status_page"
    ]
    assert steps and all(s["outcome"] == "skipped" for s in steps)


def test_one_publisher_at_a_time_and_the_sweeper_catches_up(http: Http, aws: Any) -> None:
    from tocsin.handlers.container import container

    service = container().status_pages
    store = service.store
    assert store.take_lease("public", "someone-else", datetime.now(UTC).timestamp(), 120)
    record = open_incident(http)  # stored, but the other publisher holds the page
    state = store.state("public")
    assert state.generation > state.published
    assert record["id"] not in {k.split("/")[-1][:-5] for k in s3_keys(aws, "public")}
    busy = service.refresh()
    assert [r["published"] for r in busy if r["page"] == "public"] in ([], [False])
    # the other publisher died: its lease runs out, the next sweep publishes
    store.take_lease("public", "someone-else", datetime.now(UTC).timestamp() - 1000, 1)
    done = service.refresh()
    assert any(r["page"] == "public" and r["published"] for r in done)
    assert f"incidents/{record['id']}.html" in s3_keys(aws, "public")
    state = store.state("public")
    assert state.generation == state.published and state.lease_owner is None


def test_a_change_during_publishing_is_published_before_the_lease_goes(
    http: Http, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tocsin.handlers.container import container
    from tocsin.services import statuspage_render

    service = container().status_pages
    record = open_incident(http)
    real = statuspage_render.render_page
    calls: list[int] = []

    def render_and_race(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:  # someone updates the page while we render
            service.update(
                "public",
                record["id"],
                status="monitoring",
                body="Watching.",
                author="x",
                publish=False,
            )
        return real(*args, **kwargs)

    monkeypatch.setattr(statuspage_render, "render_page", render_and_race)
    result = service.publish("public")
    assert result.published and result.rounds == 2
    unresolved = s3_json(aws, "public", "api/v2/incidents/unresolved.json")
    assert unresolved["incidents"][0]["status"] == "monitoring"


def test_a_maintenance_starts_and_completes_with_the_clock(http: Http, aws: Any) -> None:
    from tocsin.handlers.container import container

    now = datetime.now(UTC).replace(microsecond=0)
    start, end = now + timedelta(hours=1), now + timedelta(hours=3)
    resp = http.call(
        "POST",
        "/v1/status-pages/public/maintenances",
        {
            "name": "Database upgrade",
            "body": "Checkout may be slow.",
            "scheduled_for": start.isoformat(),
            "scheduled_until": end.isoformat(),
            "components": ["Checkout"],
            "impact": "minor",
        },
    )
    assert resp.status_code == 201, resp.body
    upcoming = s3_json(aws, "public", "api/v2/scheduled-maintenances/upcoming.json")
    assert [m["name"] for m in upcoming["scheduled_maintenances"]] == ["Database upgrade"]
    assert components(s3_json(aws, "public", "api/v2/summary.json"))["Checkout"] == "operational"
    service = container().status_pages
    service.clock = lambda: start + timedelta(minutes=1)
    service.refresh()
    active = s3_json(aws, "public", "api/v2/scheduled-maintenances/active.json")
    assert [m["status"] for m in active["scheduled_maintenances"]] == ["in_progress"]
    summary = s3_json(aws, "public", "api/v2/summary.json")
    assert components(summary)["Checkout"] == "under_maintenance"
    service.clock = lambda: end + timedelta(minutes=1)
    service.refresh()
    record = http.call("GET", "/v1/status-pages/public/incidents?kind=maintenance").body["items"][0]
    assert [u["status"] for u in record["updates"]] == ["completed", "in_progress", "scheduled"]
    assert components(s3_json(aws, "public", "api/v2/summary.json"))["Checkout"] == "operational"
    bad = http.call(
        "POST",
        "/v1/status-pages/public/maintenances",
        {
            "name": "x",
            "body": "y",
            "scheduled_for": end.isoformat(),
            "scheduled_until": start.isoformat(),
        },
    )
    assert bad.status_code == 400 and "after" in bad.body["error"]


def test_a_private_page_needs_the_cookies_of_an_access_link(http: Http, aws: Any) -> None:
    http.client.application.cookie_public_key = aws.status_cookie_public_key
    http.call("POST", "/v1/status-pages/internal/publish")
    http.call("POST", "/v1/status-pages/public/publish")
    # the public page is open to anyone; the private one is not
    assert http.call("GET", "/status/public/", token=False).status_code == 200
    denied = http.call("GET", "/status/internal/", token=False)
    assert denied.status_code == 403
    assert http.call("GET", "/status/internal/api/v2/summary.json", token=False).status_code == 403

    made = http.call(
        "POST", "/v1/status-pages/internal/viewers", {"name": "support team", "days": 7}
    )
    assert made.status_code == 201, made.body
    link = made.body["url"]
    path = link.split("://", 1)[1].partition("/")[2]
    # a browser on the pages' own address: CloudFront routes the access link to the API, the
    # cookies it sets are sent back with the page (the test client keeps them like a browser)
    at_home = {"base_url": "https://tocsin.example.test"}
    opened = http.call("GET", "/" + path, token=False, **at_home)
    assert opened.status_code == 302
    assert opened.headers["Location"].endswith("/status/internal/")
    cookies = opened.headers.getlist("Set-Cookie")
    names = {c.split("=", 1)[0] for c in cookies}
    assert names == {"CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id"}
    assert all("HttpOnly" in c and "Secure" in c and "Path=/status/internal" in c for c in cookies)
    page = http.call("GET", "/status/internal/", token=False, **at_home)
    assert page.status_code == 200 and b"Admin console" in page.data
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    # the cookies open only this page's files
    public_page = http.call("GET", "/status/public/", token=False)
    assert b"Admin console" not in public_page.data

    # a forged or tampered link, a link for another page, a revoked one
    assert http.call("GET", "/" + path + "x", token=False).status_code == 401
    token = path.rsplit("/", 1)[1]
    assert (
        http.call("GET", f"/v1/status-pages/public/access/{token}", token=False).status_code == 401
    )
    viewer_id = made.body["id"]
    assert [
        v["id"] for v in http.call("GET", "/v1/status-pages/internal/viewers").body["items"]
    ] == [viewer_id]
    assert http.call("DELETE", f"/v1/status-pages/internal/viewers/{viewer_id}").status_code == 204
    assert http.call("GET", "/" + path, token=False).status_code == 401
    # access links are for private pages only
    assert http.call("POST", "/v1/status-pages/public/viewers", {"name": "x"}).status_code == 400


def test_an_access_link_expires(http: Http, aws: Any) -> None:
    from tocsin.handlers.container import container

    signer = container().signer
    token = signer.sign(
        "statuspage", {"p": "internal", "v": "abc"}, datetime.now(UTC) - timedelta(seconds=1)
    )
    assert (
        http.call("GET", f"/v1/status-pages/internal/access/{token}", token=False).status_code
        == 410
    )


def test_status_page_files_are_served_with_their_headers(http: Http, aws: Any) -> None:
    http.call("POST", "/v1/status-pages/public/publish")
    index = http.call("GET", "/status/public", token=False, follow_redirects=True)
    assert index.status_code == 200 and index.headers["Content-Type"].startswith("text/html")
    assert "max-age" in index.headers["Cache-Control"]
    api = http.call("GET", "/status/public/api/v2/status.json", token=False)
    assert api.status_code == 200 and api.body["status"]["indicator"] == "none"
    assert http.call("GET", "/status/public/nope.html", token=False).status_code == 404
    assert http.call("GET", "/status/nope/", token=False).status_code == 404


def test_a_downgrade_is_followed_on_every_page_the_incident_is_on(http: Http, aws: Any) -> None:
    incident_id = declare(http, severity="SEV1", service="checkout")
    wait_for_workflows()
    resp = http.call("PATCH", f"/v1/incidents/{incident_id}", {"severity": "SEV2"})
    assert resp.status_code == 200, resp.body
    wait_for_workflows()
    for page in ("public", "internal"):
        [record] = http.call("GET", f"/v1/status-pages/{page}/incidents").body["items"]
        assert record["impact"] == "major", page
        assert set(record["updates"][0]["components"].values()) == {"partial_outage"}, page
        assert record["status"] == "investigating"
    summary = s3_json(aws, "public", "api/v2/summary.json")
    assert summary["status"] == {"indicator": "minor", "description": "Minor Service Outage"}


def test_the_workflow_never_reopens_what_a_person_closed(http: Http, aws: Any) -> None:
    incident_id = declare(http, severity="SEV1", service="checkout")
    wait_for_workflows()
    [record] = http.call("GET", "/v1/status-pages/public/incidents").body["items"]
    closed = http.call(
        "POST",
        f"/v1/status-pages/public/incidents/{record['id']}/updates",
        {"status": "resolved", "body": "Customers are no longer affected.", "author": "bob"},
    )
    assert closed.status_code == 201
    http.call("PATCH", f"/v1/incidents/{incident_id}", {"status": "mitigated"})
    wait_for_workflows()
    after = http.call("GET", f"/v1/status-pages/public/incidents/{record['id']}").body
    assert after["status"] == "resolved" and len(after["updates"]) == 2
    summary = s3_json(aws, "public", "api/v2/summary.json")
    assert summary["incidents"] == []


def test_publishing_again_posts_nothing_new(http: Http, aws: Any) -> None:
    from tocsin.handlers.container import container

    incident_id = declare(http, severity="SEV3", service="checkout")
    wait_for_workflows()
    service = container().status_pages
    incident = container().incident_repo.get(incident_id)
    [record] = service.publish_for(incident, "carol", ["public"])
    # someone adds a component the service does not name; re-publishing still says nothing new
    service.update(
        "public", record.id, status="investigating", body="Search is slow too.", author="carol",
        components={"Search": "degraded_performance"},
    )  # fmt: skip
    for _ in range(3):
        assert service.publish_for(incident, "carol", ["public"]) == []
        assert service.publish_for(incident, "workflow", ["public"]) == []
    assert len(service.record("public", record.id).updates) == 2


def test_a_time_without_a_zone_is_refused_and_breaks_nothing(http: Http, aws: Any) -> None:
    bad = http.call(
        "POST",
        "/v1/status-pages/public/incidents",
        {"name": "x", "body": "y", "display_at": "2026-01-01T10:00:00"},
    )
    assert bad.status_code == 422
    assert http.call("GET", "/v1/status-pages/public/incidents").body["items"] == []
    ok = open_incident(http, display_at="2026-11-27T10:00:00+01:00")
    assert ok["updates"][0]["display_at"].startswith("2026-11-27T09:00:00")
    assert http.call("POST", "/v1/status-pages/public/publish").body["published"]


def test_one_broken_page_does_not_stop_the_others(
    http: Http, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tocsin.handlers.container import container

    service = container().status_pages
    real = service.publish

    def publish(page_id: str) -> Any:
        if page_id == "public":
            raise RuntimeError("S3 is having a day")
        return real(page_id)

    monkeypatch.setattr(service, "publish", publish)
    record = open_incident(http)  # stored even though publishing it failed
    assert http.call("GET", f"/v1/status-pages/public/incidents/{record['id']}").status_code == 200
    done = {r["page"]: r for r in service.refresh()}
    assert "S3 is having a day" in done["public"]["error"]
    assert done["internal"]["published"]
    monkeypatch.setattr(service, "publish", real)
    assert any(r["page"] == "public" and r["published"] for r in service.refresh())


def test_the_sweeper_reads_a_page_history_only_when_something_is_due(
    http: Http, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tocsin.handlers.container import container

    service = container().status_pages
    record = open_incident(http)
    http.call(  # resolved: no downtime accruing, so the next change in time is midnight
        "POST",
        f"/v1/status-pages/public/incidents/{record['id']}/updates",
        {"status": "resolved", "body": "Fixed."},
    )
    service.refresh()  # both pages published; their next change in time is ahead
    listed: list[str] = []
    real = service.store.list

    def counting(page: str) -> Any:
        listed.append(page)
        return real(page)

    monkeypatch.setattr(service.store, "list", counting)
    assert service.refresh() == []
    assert listed == []  # one state read per page, not its records

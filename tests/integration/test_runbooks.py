"""Runbooks in an incident: suggested in the channel summary (once), opened through tracked
links, voted on, listed as used; over the API with the incidents' DynamoDB table (moto)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from tests.helpers import Http, wait_for_workflows


def declare(
    http: Http, title: str, service: str | None = "checkout", **extra: Any
) -> dict[str, Any]:
    resp = http.call(
        "POST", "/v1/incidents", {"title": title, "severity": "SEV1", "service": service, **extra}
    )
    assert resp.status_code == 201, resp.body
    wait_for_workflows(60)
    return dict(http.call("GET", f"/v1/incidents/{resp.body['id']}").body)


def timeline_kinds(http: Http, incident_id: str) -> list[str]:
    items = http.call("GET", f"/v1/incidents/{incident_id}/timeline?limit=500").body["items"]
    return [e["kind"] for e in items]


def path_of(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def suggestions(http: Http, incident_id: str) -> list[dict[str, Any]]:
    resp = http.call("GET", f"/v1/incidents/{incident_id}/runbooks")
    assert resp.status_code == 200, resp.body
    return list(resp.body["suggested"])


def test_the_channel_summary_suggests_runbooks_with_reasons_once(http: Http) -> None:
    # Given a checkout incident about latency
    incident = declare(http, "Checkout p99 latency above 2 s")
    # Then its pinned summary links the best runbooks through tracked links, with reasons
    from tocsin.handlers.container import container

    chat = container().adapters.get("chat")
    (summary,) = chat.messages(chat.find_channel("inc-1-checkout-p99-latency-above-2-s"))
    message = summary["message"]
    links = {link["label"]: link["url"] for link in message["links"]}
    assert "Runbook: Checkout latency (p99) high" in links
    assert "/v1/runbooks/checkout-latency/open?t=" in links["Runbook: Checkout latency (p99) high"]
    context = [line for line in message["context"] if line.startswith("Suggested runbook:")]
    assert context[0].startswith("Suggested runbook: Checkout latency (p99) high (service checkout")
    assert "text: " in context[0] and "latency" in context[0]
    # and the suggestions are on the timeline, once each, even when the summary is built again
    first = timeline_kinds(http, incident["id"]).count("runbook_suggested")
    assert first == len(context) >= 1
    container().response.summary_message(container().incident_repo.get(incident["id"]))
    assert timeline_kinds(http, incident["id"]).count("runbook_suggested") == first


def test_a_tracked_link_records_the_open_and_shows_the_runbook(http: Http) -> None:
    incident = declare(http, "Checkout p99 latency above 2 s")
    top = suggestions(http, incident["id"])[0]
    assert top["runbook_id"] == "checkout-latency" and top["reasons"]
    # a repository runbook without a URL is rendered: Markdown as HTML, nothing executable
    page = http.call("GET", path_of(top["link"]), token=False)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    html = page.data.decode()
    assert "<h1>Checkout latency (p99) high</h1>" in html and "<script" not in html
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    # opened twice: counted twice, on the timeline once, and listed as used
    http.call("GET", path_of(top["link"]), token=False)
    assert timeline_kinds(http, incident["id"]).count("runbook_opened") == 1
    used = http.call("GET", f"/v1/incidents/{incident['id']}/runbooks").body["used"]
    assert [(u["runbook_id"], u["opened"]) for u in used] == [("checkout-latency", 2)]


def test_a_link_preview_is_sent_on_but_not_counted(http: Http) -> None:
    incident = declare(http, "Checkout p99 latency above 2 s")
    top = suggestions(http, incident["id"])[0]
    agent = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"
    page = http.call("GET", path_of(top["link"]), token=False, headers={"User-Agent": agent})
    assert page.status_code == 200
    assert "runbook_opened" not in timeline_kinds(http, incident["id"])


def test_a_wiki_runbook_link_redirects_to_the_wiki(http: Http) -> None:
    incident = declare(http, "Card payments failing", labels={"alertname": "PaymentProviderErrors"})
    found = {s["runbook_id"]: s for s in suggestions(http, incident["id"])}
    resp = http.call("GET", path_of(found["psp-outage"]["link"]), token=False)
    assert resp.status_code == 302
    assert resp.headers["Location"] == "https://wiki.example.com/payments/psp-outage"


def test_forged_foreign_and_expired_links_are_refused_and_record_nothing(http: Http) -> None:
    from tocsin.handlers.container import container

    incident = declare(http, "Checkout p99 latency above 2 s")
    link = path_of(suggestions(http, incident["id"])[0]["link"])
    forged = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    assert http.call("GET", forged, token=False).status_code == 403
    # a genuine token used for another runbook
    other = link.replace("/checkout-latency/", "/disk-full/")
    assert http.call("GET", other, token=False).status_code == 403
    assert http.call("GET", "/v1/runbooks/checkout-latency/open", token=False).status_code == 403
    # an expired one
    runbooks = container().runbooks
    past = runbooks.clock() - timedelta(days=runbooks.config.runbooks.link_ttl_days + 1)
    runbooks.clock = lambda: past
    old = path_of(runbooks.tracked_link("checkout-latency", incident["id"]))
    runbooks.clock = container().incidents.clock
    assert http.call("GET", old, token=False).status_code == 410
    assert "runbook_opened" not in timeline_kinds(http, incident["id"])
    assert http.call("GET", f"/v1/incidents/{incident['id']}/runbooks").body["used"] == []


def test_feedback_counts_each_persons_latest_vote(http: Http) -> None:
    incident = declare(http, "Checkout p99 latency above 2 s")
    url = "/v1/runbooks/checkout-latency/feedback"
    vote = {"incident_id": incident["ref"], "helpful": False, "by": "alice"}
    assert http.call("POST", url, vote).body["changed"] is True
    assert http.call("POST", url, vote).body["changed"] is False  # a double click
    assert http.call("POST", url, {**vote, "by": "bob"}).body["changed"] is True
    assert http.call("POST", url, {**vote, "helpful": True}).body["changed"] is True  # alice
    report = http.call("GET", "/v1/runbooks/report").body
    entry = next(e for e in report["items"] if e["id"] == "checkout-latency")
    assert (entry["stats"]["helpful"], entry["stats"]["unhelpful"]) == (1, 1)
    assert timeline_kinds(http, incident["id"]).count("runbook_feedback") == 3
    # helpful counts as used even without a tracked open
    used = http.call("GET", f"/v1/incidents/{incident['id']}/runbooks").body["used"]
    assert [u["runbook_id"] for u in used] == ["checkout-latency"]


def test_feedback_errors_are_clear_and_change_nothing(http: Http) -> None:
    incident = declare(http, "Checkout p99 latency above 2 s")
    vote = {"incident_id": incident["id"], "helpful": True, "by": "alice"}
    assert http.call("POST", "/v1/runbooks/nope/feedback", vote).status_code == 404
    missing = {**vote, "incident_id": "INC-999"}
    assert http.call("POST", "/v1/runbooks/disk-full/feedback", missing).status_code == 404
    assert (
        http.call("POST", "/v1/runbooks/disk-full/feedback", {"helpful": True}).status_code == 422
    )
    assert (
        http.call("POST", "/v1/runbooks/disk-full/feedback", vote, token="wrong").status_code == 401
    )
    assert "runbook_feedback" not in timeline_kinds(http, incident["id"])


def test_list_search_and_report_over_the_api(http: Http) -> None:
    listed = http.call("GET", "/v1/runbooks").body["items"]
    assert {"checkout-latency", "psp-outage", "disk-full"} <= {r["id"] for r in listed}
    found = http.call("GET", "/v1/runbooks/search?q=kafka%20consumer%20lag").body["items"]
    assert found[0]["runbook_id"] == "search-indexing-kafka-lag"
    assert found[0]["reasons"][0].startswith("text: ")
    report = http.call("GET", "/v1/runbooks/report").body
    assert report["counts"]["runbooks"] == len(listed)
    dns = next(e for e in report["items"] if e["id"] == "dns-resolution")
    assert "review_overdue" in dns["flags"] and "unused" in dns["flags"]
    assert http.call("GET", "/v1/runbooks/report", token=False).status_code == 401


def test_search_message_answers_incident_runbook_with_tracked_links(http: Http) -> None:
    from tocsin.handlers.container import container

    incident = declare(http, "Checkout p99 latency above 2 s")
    runbooks = container().runbooks
    found = container().incident_repo.get(incident["id"])
    message = runbooks.search_message("database failover", found)
    assert message.title == "Runbooks for “database failover”"
    assert message.context[0].startswith("1. Payments database failover (RDS PostgreSQL): ")
    assert "service checkout" in message.context[0]
    assert "/v1/runbooks/payments-db-failover/open?t=" in message.links[0].url
    # without words: the incident's own suggestions; nothing found says so
    assert runbooks.search_message("", found).context[0].startswith("1. Checkout latency")
    assert runbooks.search_message("zzz qqq", found).text == "No runbook matches “zzz qqq”."


def test_the_postmortem_lists_runbooks_used_or_proposes_an_update(http: Http) -> None:
    from tocsin.handlers.container import container

    incident = declare(http, "Checkout p99 latency above 2 s")
    runbooks = container().runbooks
    found = container().incident_repo.get(incident["id"])
    none_used = runbooks.postmortem_section(found)
    assert "None." in none_used and "Update **Checkout latency (p99) high**" in none_used
    runbooks.feedback("checkout-latency", incident["id"], True, "alice")
    used = runbooks.postmortem_section(found)
    assert "- Checkout latency (p99) high (`checkout-latency`): opened 0 times, helpful 1" in used
    # and the generated postmortem carries that section
    doc = http.call("GET", f"/v1/incidents/{incident['id']}/postmortem?format=md")
    assert doc.status_code == 200, doc.body
    assert "Checkout latency (p99) high (`checkout-latency`): opened 0 times, helpful 1" in (
        doc.data.decode()
    )
    lonely = declare(http, "Office coffee machine empty", service=None)
    proposal = runbooks.postmortem_section(container().incident_repo.get(lonely["id"]))
    assert "Write a runbook for this kind of incident" in proposal

"""`tocsin demo`: start the local mode, send a realistic burst, print what happened."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from tocsin_local import demo_payloads as p
from tocsin_local.client import ApiClient


def _say(text: str = "") -> None:
    print(text, flush=True)


class Demo:
    def __init__(self, client: ApiClient, put_event: Callable[[dict[str, Any]], None]) -> None:
        self.client = client
        self.put_event = put_event
        self.step = 0
        self.total = 0
        self.refs: dict[str, str] = {}

    def ref(self, incident_id: str) -> str:
        """INC-n once the response workflow's first step has numbered it (milliseconds)."""
        deadline = time.monotonic() + 5
        while incident_id not in self.refs:
            incident = self.client.request("GET", f"/v1/incidents/{incident_id}")
            if incident["number"] is not None:
                self.refs[incident_id] = incident["ref"]
            elif time.monotonic() > deadline:
                return str(incident_id)
            else:
                time.sleep(0.05)
        return self.refs[incident_id]

    def describe(self, status: int, body: Any) -> str:
        if status >= 400:
            return f"HTTP {status}: {body.get('error')} (quarantine id {body.get('quarantine_id')})"
        parts = []
        created = set(body.get("created", []))
        for incident_id in body.get("incidents", []):
            verb = "opened" if incident_id in created else "joined"
            parts.append(f"{verb} {self.ref(incident_id)}")
        if body.get("duplicates"):
            parts.append(f"{body['duplicates']} duplicate(s) counted")
        for item in body.get("suppressed", []):
            parts.append(f"suppressed by maintenance window {item['maintenance_window']}")
        return f"HTTP {status}: " + (", ".join(parts) or "recorded")

    def send(
        self, label: str, source: str, payload: Any, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        self.step += 1
        print(f"[{self.step:>2}/{self.total}] {label:<58} ", end="", flush=True)
        status, body = self.client.send_alert(source, payload, headers)
        _say(self.describe(status, body))
        return body or {}


def run_demo(port: int = 0) -> int:
    from tocsin_local.runtime import LocalTocsin

    _say("Starting Tocsin local mode (moto backend, real state machine, in-process handlers)...")
    started = time.monotonic()
    os.environ.setdefault("LOG_LEVEL", "ERROR")  # the demo prints its own story
    local = LocalTocsin(port=port, sweep_interval=3600).start()
    assert local.token is not None
    _say(f"Ready at {local.base_url} in {time.monotonic() - started:.1f}s\n")
    try:
        return _scenario(local)
    finally:
        local.stop()


def _scenario(local: Any) -> int:
    import boto3

    client = ApiClient(local.base_url, local.token)
    events = boto3.client("events", region_name="us-east-1")

    def put_event(detail: dict[str, Any]) -> None:
        events.put_events(
            Entries=[
                {
                    "Source": "aws.health",
                    "DetailType": "AWS Health Event",
                    "Detail": json.dumps(detail),
                }
            ]
        )

    demo = Demo(client, put_event)
    demo.total = 12
    _say("Sending a burst of alerts from several monitoring systems:")
    demo.send(
        "Alertmanager: checkout latency, 2 pods (SEV1)", "alertmanager", p.alertmanager_checkout()
    )
    demo.send(
        "Alertmanager: the same group re-delivered", "alertmanager", p.alertmanager_checkout()
    )
    demo.send("Alertmanager: ... and again", "alertmanager", p.alertmanager_checkout())
    demo.send("Datadog: orders DB connections (P2)", "datadog", p.datadog_db())
    demo.send("Generic JSON: disk full on the orders DB host", "generic", p.generic_disk())
    body, headers = p.cloudwatch_sns_alarm()
    demo.send("CloudWatch via SNS: prod-api-5xx-critical", "cloudwatch", body, headers)

    demo.step += 1
    print(
        f"[{demo.step:>2}/{demo.total}] {'AWS Health via EventBridge -> SQS -> Lambda':<58} ",
        end="",
        flush=True,
    )
    put_event(p.aws_health_event())
    _say("event delivered")

    now = datetime.now(UTC)
    client.request(
        "POST",
        "/v1/maintenance-windows",
        json={
            "id": "search-reindex",
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat(),
            "services": ["search"],
            "reason": "planned reindex",
        },
    )
    demo.send("Grafana: search errors during its maintenance window", "grafana", p.grafana_search())

    demo.step += 1
    print(
        f"[{demo.step:>2}/{demo.total}] {'Sentry: one new alert delivered 20 times at once':<58} ",
        end="",
        flush=True,
    )
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(
            pool.map(lambda _: client.send_alert("sentry", p.sentry_event_alert()), range(20))
        )
    created = {i for _, b in results for i in b.get("created", [])}
    joined = {i for _, b in results for i in b.get("incidents", [])}
    _say(
        f"{len(created)} incident opened ({', '.join(demo.ref(i) for i in joined)}), "
        f"{sum(b.get('duplicates', 0) for _, b in results)} duplicates"
    )

    demo.send(
        "Alertmanager: checkout latency resolved",
        "alertmanager",
        p.alertmanager_checkout("resolved"),
    )
    demo.send("Generic JSON: disk alert resolved", "generic", p.generic_disk("resolved"))
    demo.send(
        "A monitoring tool sends something that is not JSON",
        "datadog",
        b"<html>502 Bad Gateway</html>",
    )

    _say("\nWaiting for the response workflows (Step Functions) to finish...")
    local.wait_for_executions(timeout=60)

    _say("\nA responder declares a minor incident, then finds it is worse:")
    declared = client.request(
        "POST",
        "/v1/incidents",
        json={
            "title": "Refunds stuck in pending",
            "severity": "SEV3",
            "service": "checkout",
            "declared_by": "alice",
        },
    )
    local.wait_for_executions(timeout=60)
    before = client.request("GET", f"/v1/incidents/{declared['id']}/response")["links"]
    _say(f"  {declared['ref']} declared SEV3: {_links_line(before)}")
    client.request(
        "PATCH",
        f"/v1/incidents/{declared['id']}",
        json={"severity": "SEV1", "changed_by": "alice", "reason": "all refunds affected"},
    )
    local.wait_for_executions(timeout=60)
    after = client.request("GET", f"/v1/incidents/{declared['id']}/response")["links"]
    _say(f"  {declared['ref']} raised to SEV1: {_links_line(after)}")
    same = [k for k in ("channel", "ticket") if k in before and before[k] == after.get(k)]
    if same:
        _say(f"  (the same {' and '.join(same)} as before: nothing was created twice)")
    _show_paging(client, declared["id"])
    update = client.request(
        "POST",
        f"/v1/incidents/{declared['id']}/updates",
        json={"text": "Refund worker restarted; the backlog is draining.", "posted_by": "carol"},
    )
    local.wait_for_executions(timeout=60)
    steps = client.request("GET", f"/v1/incidents/{declared['id']}/response")["steps"]
    delivered = [
        f"{s['action']} {s['outcome']}"
        for s in steps
        if s["step"].startswith(f"update:{update['event']['id']}")
    ]
    _say(f"  carol posts a stakeholder update: recorded, then {', '.join(delivered)}")
    _publish_status(client, declared["id"])
    _show_action_items(client, local, declared["id"])
    time.sleep(0.5)
    _report(client, demo)
    _show_status_pages(client)
    return 0


def _show_action_items(client: ApiClient, local: Any, incident_id: str) -> None:
    """Follow-ups written into the postmortem become action items with tickets; owners of
    overdue ones are reminded."""
    today = datetime.now(UTC).date()
    client.request(
        "PUT",
        f"/v1/incidents/{incident_id}/postmortem/sections",
        json={
            "sections": {"lessons": "The refund worker had no alert on its backlog."},
            "action_items": [
                {
                    "text": "Alert when the refund backlog grows for 10 minutes",
                    "owner": "alice",
                    "due": (today + timedelta(days=7)).isoformat(),
                    "priority": "high",
                },
                {
                    "text": "Make the refund worker restart itself when it stalls",
                    "owner": "bob",
                    "due": (today - timedelta(days=1)).isoformat(),  # late already
                },
            ],
            "by": "carol",
        },
    )
    report = local.sweep_now().get("action_item_tickets", {})
    _say(
        f"  follow-ups from the postmortem: {report.get('created', 0)} action items, "
        "a ticket each (made by the sweeper):"
    )
    for item in client.request("GET", "/v1/action-items", params={"status": "open"})["items"]:
        ticket = (item.get("ticket") or {}).get("key", "ticket pending")
        late = " OVERDUE" if item.get("due") and item["due"] < today.isoformat() else ""
        _say(
            f"    {item['id']} {item['priority']:<6} due {item.get('due')}{late} "
            f"{item.get('owner')}: {item['text']} [{ticket}]"
        )
    reminders = local.remind_now()["reminders"]
    if reminders.get("skipped"):
        _say(f"  overdue reminders: not now ({reminders['skipped']}; the scheduler runs hourly)")
    else:
        _say(f"  overdue reminders sent to: {', '.join(reminders['sent']) or 'nobody'}")


def _publish_status(client: ApiClient, incident_id: str) -> None:
    """The SEV1 upgrade put the incident on the status pages (investigating); the
    Communications Lead previews the template's wording for `identified`, then publishes."""
    path = f"/v1/incidents/{incident_id}/status-page"
    body = {"pages": ["public"], "status": "identified", "author": "bob"}
    preview = client.request("POST", path, json={**body, "preview": True})["drafts"][0]
    _say(f"  bob (Communications Lead) previews the public status page update: {preview['status']}")
    _say(f'    "{preview["body"]}"')
    published = client.request("POST", path, json=body)["published"]
    for record in published:
        _say(f"    published: {record['page']} page incident {record['id']} is {record['status']}")


def _show_status_pages(client: ApiClient) -> None:
    """What the status pages say, and a copy of each to open in a browser."""
    from pathlib import Path

    from tocsin.dal.aws import client as aws_client
    from tocsin.settings import get_settings

    bucket = get_settings().status_bucket
    s3 = aws_client("s3")
    out = Path(".tocsin") / "demo-status"
    _say("\nStatus pages (served by the local gateway at /status/<page>/ while it runs):")
    for page in client.request("GET", "/v1/status-pages")["items"]:
        down = [
            f"{c['name']} {c['status']}" for c in page["components"] if c["status"] != "operational"
        ]
        _say(
            f"  {page['id']:<9} ({page['visibility']}) {page['status']['description']}"
            + (f": {', '.join(down)}" if down else "")
        )
        for record in page["unresolved"]:
            _say(
                f"    {record['name']} — {record['status']} ({record['updates'][0]['body'][:70]}...)"
            )
        target = out / page["id"]
        listing = s3.list_objects_v2(Bucket=bucket, Prefix=f"status/{page['id']}/")
        for obj in listing.get("Contents", []):
            path = target / obj["Key"].split("/", 2)[2]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
        _say(f"    a copy: {target / 'index.html'}")


def _show_paging(client: ApiClient, incident_id: str) -> None:
    """SEV1 pages the team's escalation policy and fills the roles; the first person paged
    acknowledges with the link in the page."""
    import requests
    from tocsin.handlers.container import container

    deadline = time.monotonic() + 20
    pages: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not pages:
        found = client.request("GET", f"/v1/incidents/{incident_id}/escalations")["items"]
        pages = [p for e in found for p in e["pages"] if p["state"] == "done"]
        time.sleep(0.1)
    if not pages:
        _say("  (no page was sent: see `tocsin incidents show`)")
        return
    roles = client.request("GET", f"/v1/incidents/{incident_id}/roles")["items"]
    _say(
        "  roles from the on-call schedules: "
        + ", ".join(f"{r['name']} {r['holder']}" for r in roles if r["holder"])
    )
    first = pages[0]
    person = first["step"].split(":")[5]
    _say(
        f"  paged {person} by {first['method']} ({first['provider']}, level 1 of the "
        f"{found[0]['policy_name']} policy; level 2 follows if nobody acknowledges)"
    )
    ref = client.request("GET", f"/v1/incidents/{incident_id}")["ref"]
    messages = [
        m
        for m in container().adapters.get("chat").direct_messages(person)
        if f"({ref})" in m["message"]["text"]  # this incident's page, not another's
    ]
    link = next(
        (x["url"] for m in messages for x in m["message"]["links"] if x["label"] == "Acknowledge"),
        None,
    )
    if link is None:
        return
    resp = requests.post(link, headers={"Accept": "application/json"}, timeout=10)
    _say(
        f"  {person} opens the page's Acknowledge link and confirms: HTTP {resp.status_code}, "
        f"paging stopped (escalations ended: {', '.join(resp.json()['escalations_ended'])})"
    )


def _paging_line(kind: str, data: dict[str, Any]) -> str:
    if kind == "page_sent":
        return f"level {data['level']}: {data['target']} by {data['method']} ({data['provider']})"
    if kind == "page_failed":
        return f"level {data.get('level')}: {data.get('target', '')} {data.get('error', '')}"
    if kind == "escalation_started":
        return f"policy {data['policy']} ({data['levels']} levels)"
    if kind == "escalation_ended":
        return f"{data['outcome']}" + (f" via {data['via']}" if data.get("via") else "")
    if kind == "role_changed":
        return f"{data['name']}: {data.get('assumed') or 'nobody'}"
    if kind == "status_page_updated":
        return f"{data['page']} page: {data['status']}, impact {data['impact']}"
    return ""


def _links_line(links: dict[str, str]) -> str:
    shown = [f"{name} {links[name]}" for name in ("channel", "bridge", "ticket") if name in links]
    return ", ".join(shown) or "no channel, bridge or ticket yet"


def _step_line(data: dict[str, Any]) -> str:
    if data.get("step") == "plan":
        stages = " -> ".join("+".join(stage) for stage in data.get("stages", []))
        return f"plan ({', '.join(data.get('workflows', [])) or 'no workflow'}): {stages}"
    outcome = data.get("outcome", "")
    detail = data.get("detail") or {}
    extra = detail.get("name") or detail.get("reason") or data.get("cause") or ""
    if "ref" in detail and not extra:
        ref = detail["ref"]
        extra = ref.get("key") or ref.get("join_url") or ""
    return (
        f"{data.get('action', data.get('step'))}: {outcome} ({data.get('provider', '-')}) {extra}"
    )


def _show_summary(incident: dict[str, Any]) -> None:
    """What the local chat adapter recorded in the incident's channel (Slack or Teams would
    have shown it as Block Kit or an Adaptive Card)."""
    from tocsin.handlers.container import container

    chat = container().adapters.get("chat")
    name = incident["links"].get("channel", "").rpartition("/")[2]
    channel = chat.find_channel(name) if name else None
    if channel is None or not hasattr(chat, "messages"):
        return
    info = chat.channel(channel.name) or {}
    _say(f"\nChannel #{channel.name} (local chat adapter), topic: {info.get('topic', '')}")
    _say(f"  members: {', '.join(info.get('members', []))}")
    for message in chat.messages(channel):
        m = message["message"]
        pin = " [pinned]" if message.get("pinned") else ""
        _say(f"  > {m.get('title') or m['text']}{pin}")
        for label, value in m.get("fields", []):
            _say(f"      {label}: {value}")
        for link in m.get("links", []):
            _say(f"      -> {link['label']}: {link['url']}")
        for line in m.get("context", []):
            _say(f"      {line}")


def _report(client: ApiClient, demo: Demo) -> None:
    page = client.request("GET", "/v1/incidents", params={"limit": 50})
    items = sorted(page["items"], key=lambda i: i["number"] or 0)
    _say(f"\n{len(items)} incidents")
    _say(f"{'ref':<7} {'sev':<5} {'status':<12} {'alerts':>6} {'firing':>6}  {'service':<10} title")
    for inc in items:
        _say(
            f"{inc['ref']:<7} {inc['severity']:<5} {inc['status']:<12} {inc['alert_count']:>6} "
            f"{inc['firing_count']:>6}  {(inc.get('service') or '-'):<10} {inc['title']}"
        )
    _say(
        "\nThe response each got (local adapters: they record what Slack, Zoom, Jira... "
        "would have received):"
    )
    for inc in items:
        response = client.request("GET", f"/v1/incidents/{inc['id']}/response")
        outcomes = [s["outcome"] for s in response["steps"]]
        counts = ", ".join(
            f"{outcomes.count(o)} {o}" for o in ("done", "skipped", "failed") if o in outcomes
        )
        _say(f"  {inc['ref']:<7} {_links_line(response['links'])}")
        _say(
            f"  {'':<7} steps: {counts or 'none'}; SLA due: "
            + ", ".join(f"{k} {v[11:16]}" for k, v in response["sla"]["due"].items())
        )
    _say("\nDedup: every re-delivery above changed nothing but a counter (see 'duplicates').")
    first = items[0] if items else None
    if first:
        timeline = client.request("GET", f"/v1/incidents/{first['id']}/timeline")["items"]
        _say(f"\nTimeline of {first['ref']} ({first['title']}):")
        for event in timeline:
            at = event["at"][11:23]
            data = event["data"]
            detail = (
                data.get("fingerprint")
                or data.get("alert", {}).get("fingerprint")
                or data.get("new")
                or (_step_line(data) if event["kind"] == "workflow_step" else "")
                or _paging_line(event["kind"], data)
            )
            reason = data.get("reason")
            extra = f" ({reason})" if reason and reason != detail else ""
            _say(
                f"  {at}  {event['kind']:<17} by {event['actor']['kind']}:{event['actor']['id']:<13} {detail}{extra}"
            )
    if first:
        _show_summary(client.request("GET", f"/v1/incidents/{first['id']}"))
    quarantined = client.request("GET", "/v1/quarantine")["items"]
    _say(f"\nQuarantine: {len(quarantined)} payload(s) kept for replay (`tocsin quarantine list`)")
    for item in quarantined:
        _say(f"  {item['id']}  {item['error']}")
    _say("\nEverything above ran through the same handlers and state machine as on AWS.")
    _say("Next: `make local` to keep it running, then `tocsin incidents list`.")


if __name__ == "__main__":
    sys.exit(run_demo())

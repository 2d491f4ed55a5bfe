"""The postmortem of a scripted incident, through local mode: an alert opens a SEV2 on
checkout (the response workflow pages, opens the channel, makes the ticket), the channel's
transcript is captured (messages, an edit, a deletion, a thread reply, an image copied to the
artifact bucket, a pinned key event, hostile text), `/incident decision` and `/incident action`
are run, roles are handed over, the status page is updated, and the incident moves to
resolved: the resolve workflow generates the postmortem, stores it, links it and tells the
channel and the ticket. Every section is checked in Markdown, JSON and HTML."""

from __future__ import annotations

import json
import struct
import time
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from tests.helpers import REPO, Http, generic_alert, wait_for_workflows

ARTIFACTS = REPO / "test-artifacts" / "postmortem"
CHANNEL = "C0PMCHAN01"
CAROL = "U01CAROL01"
ALICE = "U01ALICE01"
HOSTILE = (
    "<script>document.title='pwned'</script> <img src=x onerror=alert(1)> "
    "[click me](javascript:alert(2)) # not a heading | not | a table"
)


def png(width: int = 40, height: int = 20) -> bytes:
    """A real PNG (red), small enough to embed."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


PNG = png()


def c() -> Any:
    from tocsin.handlers.container import container

    return container()


def chat(kind: str, message_id: str, at: datetime, **fields: Any) -> Any:
    from tocsin.domain.chatevents import ChatEvent, ChatEventKind

    event = ChatEvent(
        provider="slack",
        channel_id=CHANNEL,
        kind=ChatEventKind(kind),
        message_id=message_id,
        user_id=fields.pop("user", CAROL),
        at=at,
        **fields,
    )
    return c().capture.capture(event)


def command(text: str, user: str = CAROL, delivery: str = "") -> Any:
    from tocsin.services.chatops import Request

    return c().chatops.command(
        Request(
            provider="slack",
            user_id=user,
            channel_id=CHANNEL,
            text=text,
            delivery=delivery or f"d-{time.monotonic_ns()}",
        )
    )


def patch_status(http: Http, incident_id: str, status: str) -> None:
    resp = http.call(
        "PATCH", f"/v1/incidents/{incident_id}", {"status": status, "changed_by": "carol"}
    )
    assert resp.status_code == 200, resp.body
    wait_for_workflows(60)


def get(http: Http, incident_id: str, fmt: str) -> Any:
    resp = http.call("GET", f"/v1/incidents/{incident_id}/postmortem?format={fmt}")
    assert resp.status_code == 200, resp.data[:500]
    return resp


def scripted_incident(http: Http, aws: Any) -> str:
    from tocsin.dal.chatops import ChannelDirectory
    from tocsin.domain.chatevents import ChatFile

    started = (datetime.now(UTC) - timedelta(minutes=4)).replace(microsecond=0)
    resp = http.alert(
        "generic",
        generic_alert(
            "Checkout p99 above 2 s",
            severity="SEV2",
            labels={"service": "checkout", "job": "checkout-api"},
            started_at=started.isoformat(),
        ),
    )
    assert resp.status_code in (200, 201, 202), resp.body
    wait_for_workflows(60)
    incidents = http.call("GET", "/v1/incidents").body["items"]
    incident_id = str(incidents[0]["id"])
    ChannelDirectory(aws.table).put("slack", CHANNEL, incident_id)
    cap = c().capture
    cap.fetch = lambda provider, file, limit: PNG  # Slack's file host, as the fake serves it

    t0 = datetime.now(UTC).replace(microsecond=0)

    def at(seconds: int) -> datetime:
        return t0 + timedelta(seconds=seconds)

    chat("message", "1000.0001", at(1), text="Looking at checkout now.")
    chat("message", "1000.0002", at(2), text=HOSTILE, user=ALICE)
    chat(
        "message",
        "1000.0003",
        at(3),
        text="p99 graph, see https://grafana.example.com/d/abc?orgId=1 for the board",
        files=(ChatFile("F01GRAPH", "p99 latency.png", "image/png", len(PNG), "https://x"),),
    )
    chat(
        "message",
        "1000.0004",
        at(4),
        text="Rolled back:\n```\nkubectl rollout undo deploy/checkout\n```",
    )
    chat(
        "message",
        "1000.0005",
        at(5),
        text="Thread reply: error rate is falling",
        user=ALICE,
        thread_id="1000.0004",
    )
    chat("message", "1000.0006", at(6), text="Tocsin summary", bot=True, user="")
    chat("message", "1000.0007", at(7), text="wrong channel, sorry", user=ALICE)
    chat(
        "edit",
        "1000.0001",
        at(8),
        text="Looking at checkout-api now.",
        previous_text="Looking at checkout now.",
        message_at=at(1),
    )
    chat(
        "delete",
        "1000.0007",
        at(9),
        previous_text="wrong channel, sorry",
        message_at=at(7),
        user=ALICE,
    )
    chat(
        "reaction_added", "1000.0004", at(10), reaction="pushpin", message_at=at(4), event_id="Ev1"
    )
    command("decision Roll back the 14:00 deploy instead of scaling up")
    command("action Add a p99 latency alert on checkout-api @alice due: 2w")
    resp = http.call(
        "PATCH",
        f"/v1/incidents/{incident_id}/roles",
        {"role": "commander", "person": "carol", "changed_by": "carol"},
    )
    assert resp.status_code == 200, resp.body
    resp = http.call(
        "PATCH",
        f"/v1/incidents/{incident_id}/roles",
        {"role": "communications", "person": "alice", "changed_by": "carol"},
    )
    assert resp.status_code == 200, resp.body
    resp = http.call(
        "POST",
        f"/v1/incidents/{incident_id}/status-page",
        {
            "body": "Checkout is slow for some customers; we are rolling back.",
            "status": "identified",
        },
    )
    assert resp.status_code in (200, 201), resp.body
    patch_status(http, incident_id, "acknowledged")
    patch_status(http, incident_id, "mitigated")
    patch_status(http, incident_id, "resolved")
    return incident_id


def test_resolve_generates_a_postmortem_with_every_section(http: Http, aws: Any) -> None:
    # Given a scripted incident, When it resolves
    incident_id = scripted_incident(http, aws)

    # Then the resolve workflow generated it, linked it, and told the channel and the ticket
    incident = http.call("GET", f"/v1/incidents/{incident_id}").body
    link = incident["links"]["postmortem"]
    assert f"/v1/postmortems/{incident_id}?t=" in link
    # the link works without the API token (people click it from Slack and Jira) ...
    path = link.removeprefix("https://tocsin.example.test")
    shared = http.call("GET", path, token=False)
    assert shared.status_code == 200 and "<h1" in shared.data.decode()
    assert "default-src 'none'" in shared.headers["Content-Security-Policy"]
    # ... only for this incident, and not when forged or expired
    forged = http.call("GET", path[:-3] + "AAA", token=False)
    assert forged.status_code == 403
    other = http.call(
        "GET", path.replace(incident_id, "inc-00000000000000000000000000"), token=False
    )
    assert other.status_code == 403
    from tocsin.domain.clock import utcnow

    later = utcnow() + timedelta(days=91)
    c().postmortems.clock = lambda: later
    assert http.call("GET", path, token=False).status_code == 410
    c().postmortems.clock = utcnow
    steps = {
        s["action"]: s
        for s in http.call("GET", f"/v1/incidents/{incident_id}/response").body["steps"]
    }
    assert steps["generate_postmortem"]["outcome"] == "done", steps["generate_postmortem"]
    assert set(steps["generate_postmortem"]["detail"]["told"]) == {"channel", "ticket"}
    kinds = [
        e["kind"]
        for e in http.call("GET", f"/v1/incidents/{incident_id}/timeline?limit=500").body["items"]
    ]
    assert "postmortem_generated" in kinds
    s3 = boto3.client("s3", region_name="us-east-1")
    keys = {
        o["Key"]
        for o in s3.list_objects_v2(Bucket=aws.bucket, Prefix=f"postmortems/{incident_id}/")[
            "Contents"
        ]
    }
    for name in ("postmortem.md", "postmortem.html", "postmortem.json", "phases.svg"):
        assert f"postmortems/{incident_id}/{name}" in keys
    assert any(k.startswith(f"postmortems/{incident_id}/images/") for k in keys)

    doc = json.loads(get(http, incident_id, "json").data)
    md = get(http, incident_id, "md").data.decode()
    html_resp = get(http, incident_id, "html")
    html = html_resp.data.decode()
    assert html_resp.headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in html_resp.headers["Content-Security-Policy"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)  # kept for a reader (and the browser test)
    for name, body in (("md", md), ("html", html), ("json", json.dumps(doc, indent=1))):
        (ARTIFACTS / f"scripted.{name}").write_text(body)

    # summary, severity, impact
    assert doc["incident"]["severity"] == "SEV2" and doc["incident"]["service"] == "checkout"
    assert doc["incident"]["team"] == "payments"
    assert "Checkout" in doc["affected_components"]
    assert doc["status_page"]["records"] and doc["status_page"]["window"]["from"]
    assert "Checkout is slow for some customers" in json.dumps(doc["status_page"])
    # durations: detect from the alert's start, the others from status_times
    d = doc["durations"]
    assert 200 <= d["detect"]["seconds"] <= 400, d["detect"]
    for name in ("acknowledge", "mitigate", "resolve"):
        assert d[name]["seconds"] is not None and d[name]["to"]
    assert d["acknowledge"]["seconds"] <= d["mitigate"]["seconds"] <= d["resolve"]["seconds"]
    # participants with their roles and when they held them
    people = {p["id"]: p for p in doc["participants"]}
    assert {"carol", "alice"} <= set(people)
    assert any(r["role"] == "Communications Lead" and r["from"] for r in people["alice"]["roles"])
    assert any(r["role"] == "Incident Commander" for r in people["carol"]["roles"])
    # transcript: edit with the original, deletion kept and marked, reply, bot, key event, image
    by_text = {m["text"]: m for m in doc["transcript"]}
    edited = by_text["Looking at checkout-api now."]
    assert edited["original_text"] == "Looking at checkout now." and edited["edits"]
    deleted = by_text["wrong channel, sorry"]
    assert deleted["deleted"] and deleted["deleted_at"]
    reply = by_text["Thread reply: error rate is falling"]
    assert reply["thread_of"]
    assert by_text["Tocsin summary"]["bot"]
    rollback = next(m for m in doc["transcript"] if "kubectl" in m["text"])
    assert rollback["key_event"]
    # decisions, key events, commands
    km = doc["key_moments"]
    assert km["decisions"][0]["text"] == "Roll back the 14:00 deploy instead of scaling up"
    assert any("kubectl" in k["text"] for k in km["key_events"])
    assert any(x["code"] == "kubectl rollout undo deploy/checkout" for x in km["commands"])
    # graphs (embedded from our copy) and links kept
    (image,) = doc["images"]
    assert image["embedded"].startswith("data:image/png;base64,")
    assert image["md_path"].startswith("images/")
    assert any(x["url"] == "https://grafana.example.com/d/abc?orgId=1" for x in doc["links_shared"])
    # alerts, pages, status updates, action items
    assert doc["alerts"][0]["title"] == "Checkout p99 above 2 s"
    assert any(p["kind"] == "page_sent" for p in doc["paging"]), doc["paging"]
    assert doc["status_page_updates"] or doc["status_page"]["records"]
    assert doc["action_items"][0]["text"].startswith("Add a p99 latency alert")
    assert [s["id"] for s in doc["sections"]] == [
        "contributing_factors",
        "went_well",
        "could_be_better",
        "lessons",
    ]

    # the Markdown has every section, and hostile text is inert
    for heading in (
        "## Summary",
        "## Impact",
        "## Durations",
        "## Participants",
        "## Key decisions and commands",
        "## Graphs and links shared",
        "## Alerts",
        "## Pages and escalations",
        "## Status page and stakeholder updates",
        "## Action items",
        "## Analysis",
        "### Contributing factors",
        "### What went well",
        "## Timeline",
        "## Channel transcript",
        "![Phase chart",
    ):
        assert heading in md, heading
    assert "<script>" not in md and "<img src" not in md and "](javascript" not in md
    assert "&lt;script&gt;" in md
    assert "~~deleted" in md and "originally: Looking at checkout now\\." in md
    assert "```\nkubectl rollout undo deploy/checkout\n```" in md
    assert "<https://grafana.example.com/d/abc?orgId=1>" in md
    assert f"]({image['md_path']})" in md

    # the HTML: autoescaped, self-contained, the chart inline
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "<img src=x" not in html
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in html and '<title id="pc-title">' in html
    assert 'src="data:image/png;base64,' in html
    assert 'href="https://grafana.example.com/d/abc?orgId=1"' in html
    assert "javascript:" not in html.replace("[click me](javascript:alert(2))", "")


def test_regeneration_keeps_the_teams_sections(http: Http, aws: Any) -> None:
    from tests.integration.test_escalation import declare

    incident_id = declare(http, "SEV3")
    wait_for_workflows(60)
    # Given the team wrote two sections
    resp = http.call(
        "PUT",
        f"/v1/incidents/{incident_id}/postmortem/sections",
        {
            "sections": {"went_well": "The rollback took **two** minutes.", "lessons": "<b>x</b>"},
            "by": "carol",
        },
    )
    assert resp.status_code == 200, resp.body
    # When the record changes and the postmortem is regenerated (and read again)
    command_free_note = {"status": "acknowledged", "changed_by": "carol"}
    assert http.call("PATCH", f"/v1/incidents/{incident_id}", command_free_note).status_code == 200
    assert http.call("POST", f"/v1/incidents/{incident_id}/postmortem").status_code == 200
    md = get(http, incident_id, "md").data.decode()
    html = get(http, incident_id, "html").data.decode()
    # Then their text is still there, theirs as written (Markdown), and raw HTML stays text
    assert "<!-- tocsin:section went_well -->\nThe rollback took **two** minutes." in md
    assert "<strong>two</strong>" in html and "&lt;b&gt;x&lt;/b&gt;" in html
    # the acknowledgement made it stale: the GET regenerated it
    assert json.loads(get(http, incident_id, "json").data)["incident"]["status"] == "acknowledged"

    # an edited postmortem.md saves its sections back; the untouched prompts are not text
    edited = md.replace(
        "<!-- tocsin:section contributing_factors -->\n",
        "<!-- tocsin:section contributing_factors -->\nA config change raced the deploy.\n",
    )
    resp = http.call(
        "PUT", f"/v1/incidents/{incident_id}/postmortem/sections", {"markdown": edited}
    )
    assert resp.status_code == 200, resp.body
    sections = http.call("GET", f"/v1/incidents/{incident_id}/postmortem/sections").body
    text = {s["id"]: s["text"] for s in sections["sections"]}
    assert text["contributing_factors"] == "A config change raced the deploy."
    assert text["went_well"] == "The rollback took **two** minutes."
    assert text["could_be_better"] == ""
    assert sections["version"] == 2

    # bad input: a clear error, nothing lost
    bad = http.call(
        "PUT", f"/v1/incidents/{incident_id}/postmortem/sections", {"sections": {"blame": "x"}}
    )
    assert bad.status_code == 400 and "unknown section" in bad.body["error"]
    stale = http.call(
        "PUT",
        f"/v1/incidents/{incident_id}/postmortem/sections",
        {"sections": {"lessons": "y"}, "version": 1},
    )
    assert stale.status_code == 409
    assert http.call("GET", f"/v1/incidents/{incident_id}/postmortem?format=pdf").status_code in (
        400,
        422,
    )
    assert http.call("GET", "/v1/incidents/inc-nope/postmortem").status_code == 404
    after = http.call("GET", f"/v1/incidents/{incident_id}/postmortem/sections").body
    assert {s["id"]: s["text"] for s in after["sections"]} == text


def test_the_sweeper_regenerates_a_postmortem_whose_record_changed(http: Http, aws: Any) -> None:
    """After the resolution the record still changes (an action item done, a late message):
    the next sweep regenerates the stored files, without anyone reading them first."""
    from tocsin.handlers.sweeper import handler
    from tocsin_local.patches import FakeLambdaContext

    from tests.integration.test_escalation import declare

    incident_id = declare(http, "SEV3")
    wait_for_workflows(60)
    resolved = {"status": "resolved", "changed_by": "carol"}
    assert http.call("PATCH", f"/v1/incidents/{incident_id}", resolved).status_code == 200
    wait_for_workflows(60)
    made = c().postmortems.store.generated_fingerprint(incident_id)
    assert made is not None  # the resolved workflow generated it
    assert handler({}, FakeLambdaContext("sweeper"))["postmortems_regenerated"] == []
    # a follow-up is added after the resolution
    item = http.call(
        "POST", f"/v1/incidents/{incident_id}/action-items", {"text": "Add a backlog alert"}
    ).body
    report = handler({}, FakeLambdaContext("sweeper"))
    assert report["postmortems_regenerated"] == [incident_id]
    stored = json.loads(c().postmortems.store.get(incident_id, "postmortem.json"))
    assert [a["id"] for a in stored["action_items"]] == [item["id"]]
    assert stored["fingerprint"] == c().postmortems.store.generated_fingerprint(incident_id)
    # nothing changed since: nothing regenerated
    assert handler({}, FakeLambdaContext("sweeper"))["postmortems_regenerated"] == []


def test_chat_command_answers_with_the_link(http: Http, aws: Any) -> None:
    from tocsin.dal.chatops import ChannelDirectory

    from tests.integration.test_escalation import declare

    incident_id = declare(http, "SEV3")
    wait_for_workflows(60)
    ChannelDirectory(aws.table).put("slack", CHANNEL, incident_id)
    answer = command("postmortem")
    assert answer.public
    assert f"/v1/postmortems/{incident_id}?t=" in answer.text
    assert "timeline events" in answer.lines[0]


def test_cli_generates_and_shows_it(http: Http, aws: Any, tmp_path: Any, cli: Any) -> None:
    """`tocsin postmortem generate|show|sections`, its requests sent to the gateway in this
    process (the `cli` fixture)."""
    from tests.integration.test_escalation import declare

    incident_id = declare(http, "SEV3")
    wait_for_workflows(60)
    made = cli("postmortem", "generate", incident_id)
    assert f"/v1/postmortems/{incident_id}?t=" in made and "postmortem.md" in made
    out = tmp_path / "pm.md"
    cli("postmortem", "show", "INC-1", "--out", str(out))
    assert out.read_text().startswith("# Postmortem: INC\\-1")
    out.write_text(
        out.read_text().replace(
            "<!-- tocsin:section lessons -->\n",
            "<!-- tocsin:section lessons -->\nRetries need a budget.\n",
        )
    )
    cli("postmortem", "sections", "INC-1", str(out), "--by", "carol")
    doc = json.loads(cli("postmortem", "show", incident_id, "--format", "json"))
    assert {s["id"]: s["text"] for s in doc["sections"]}["lessons"] == "Retries need a budget."

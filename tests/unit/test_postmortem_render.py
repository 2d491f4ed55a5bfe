"""The postmortem document and its renderings, from a record built in memory: hostile chat
text stays text in Markdown and HTML, output is deterministic, the phase chart is accessible,
the team's sections are parsed back from an edited Markdown file."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from tocsin.domain.incidents import Incident, IncidentStatus
from tocsin.domain.postmortem import PostmortemRecord, build
from tocsin.domain.timeline import Actor, ActorKind, TimelineEvent, TimelineKind
from tocsin.services.postmortem import parse_sections
from tocsin.services.postmortem_render import (
    md_escape,
    phase_chart,
    render_html,
    render_json,
    render_markdown,
)

T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
K = TimelineKind
PWN_SCRIPT = "<script>document.documentElement.setAttribute('data-pwned','1')</script>"
PWN_IMG = "<img src=x onerror=\"document.documentElement.setAttribute('data-pwned','2')\">"
HOSTILE = f"{PWN_SCRIPT} {PWN_IMG} [click](javascript:alert(1)) ![x](https://evil.example/x.png)"
#: 1x1 transparent GIF
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ev(minutes: float, kind: TimelineKind, who: str = "carol", **data: Any) -> TimelineEvent:
    actor = Actor(kind=ActorKind.USER, id=who) if who != "workflow" else Actor.system("workflow")
    return TimelineEvent(
        id=f"e{minutes:08.3f}{kind.value}",
        incident_id="inc-1",
        at=at(minutes),
        kind=kind,
        actor=actor,
        data=data,
    )


def msg(minutes: float, mid: str, text: str, who: str = "carol", **extra: Any) -> TimelineEvent:
    return TimelineEvent(
        id=f"m-{mid}",
        incident_id="inc-1",
        at=at(minutes),
        kind=K.CHAT_MESSAGE,
        actor=Actor(kind=ActorKind.USER, id=who),
        data={"message_id": mid, "person": who, "user": f"U-{who}", "text": text, **extra},
    )


def scenario(n_filler: int = 0) -> PostmortemRecord:
    incident = Incident(
        id="inc-1",
        number=42,
        title=f"Checkout {PWN_SCRIPT}",
        severity="SEV1",
        status=IncidentStatus.RESOLVED,
        service="checkout",
        created_at=at(0),
        updated_at=at(60),
        status_times={
            IncidentStatus.ACKNOWLEDGED: at(4),
            IncidentStatus.MITIGATED: at(25),
            IncidentStatus.RESOLVED: at(50),
        },
        alert_count=2,
    )
    events = [
        ev(0, K.INCIDENT_CREATED, "workflow", title="Checkout", severity="SEV1"),
        ev(1, K.PAGE_SENT, "workflow", target="alice", method="sms", level="1/2"),
        ev(3, K.PAGE_SENT, "workflow", target="bob", method="sms", level="2/2"),
        msg(5, "1", "Looking at it"),
        msg(6, "2", HOSTILE, who="alice"),
        msg(
            7,
            "3",
            "graph",
            files=[
                {
                    "id": "F1",
                    "name": "p99.gif",
                    "mimetype": "image/gif",
                    "image": True,
                    "copy": "copied",
                    "key": "chat-files/inc-1/slack/F1/p99.gif",
                }
            ],
        ),
        msg(8, "4", "reply", who="alice", thread_id="1"),
        ev(
            9,
            K.CHAT_MESSAGE_EDITED,
            message_event="m-1",
            text="Looking at checkout",
            previous_text="Looking at it",
        ),
        ev(10, K.CHAT_MESSAGE_DELETED, who="alice", message_event="m-2", text=HOSTILE),
        ev(11, K.KEY_EVENT, message_event="m-3", reaction="pushpin"),
        ev(12, K.DECISION, text=f"Roll back {PWN_IMG}"),
        ev(4, K.STATUS_CHANGED, old="triggered", new="acknowledged"),
        *[ev(13 + i / 1000, K.NOTE, text=f"filler {i}") for i in range(n_filler)],
    ]
    events.sort(key=lambda e: (e.at, e.id))
    return PostmortemRecord(
        incident=incident,
        events=events,
        generated_at=at(61),
        alerts=[
            {
                "title": "p99 high",
                "source": "generic",
                "status": "resolved",
                "started_at": at(-3).isoformat(),
            }
        ],
        roles=[
            {
                "role": "commander",
                "name": "Incident Commander",
                "history": [
                    {"at": at(1).isoformat(), "assumed": "alice", "renounced": None},
                    {"at": at(20).isoformat(), "assumed": "carol", "renounced": "alice"},
                ],
            }
        ],
        action_items=[
            {"id": "ai-1", "text": f"Alert on p99 {PWN_SCRIPT}", "owner": "alice", "status": "open"}
        ],
        sections={"went_well": "Fast **rollback**. <script>x()</script>"},
        people={"alice": "Alice Martin", "carol": "Carol Diaz"},
        team="payments",
        images={
            "chat-files/inc-1/slack/F1/p99.gif": "data:image/gif;base64,"
            + base64.b64encode(GIF).decode()
        },
    )


def document(n_filler: int = 0) -> dict[str, Any]:
    doc = build(scenario(n_filler))
    for image in doc["images"]:  # what the service does with the copies it reads
        image["md_path"] = "images/001-p99.gif"
    return doc


def test_durations_participants_transcript() -> None:
    doc = document()
    d = doc["durations"]
    assert [d[k]["seconds"] for k in ("detect", "acknowledge", "mitigate", "resolve")] == [
        180,
        240,
        1500,
        3000,
    ]
    alice = next(p for p in doc["participants"] if p["id"] == "alice")
    assert alice["roles"] == [
        {
            "role": "Incident Commander",
            "from": at(1).isoformat(),
            "until": at(20).isoformat(),
            "reason": None,
        }
    ]
    carol = next(p for p in doc["participants"] if p["id"] == "carol")
    assert carol["roles"][0]["until"] == "2026-03-10T14:50:00.000Z"  # held to the resolution
    t = {m["id"]: m for m in doc["transcript"]}
    assert (
        t["m-1"]["text"] == "Looking at checkout" and t["m-1"]["original_text"] == "Looking at it"
    )
    assert t["m-2"]["deleted"] and t["m-2"]["text"] == HOSTILE  # kept, marked
    assert t["m-3"]["key_event"] and t["m-4"]["thread_of"] == t["m-1"]["at"]
    assert doc["images"][0]["embedded"].startswith("data:image/gif;base64,")


def test_markdown_keeps_hostile_text_inert() -> None:
    md = render_markdown(document())
    assert "<script" not in md and "<img" not in md
    assert "](javascript" not in md and "![x](" not in md
    assert "&lt;script&gt;" in md
    # the team's own Markdown is theirs (GitHub sanitizes raw HTML in it)
    assert "Fast **rollback**." in md
    assert md_escape("a|b\n# c") == "a\\|b<br>\\# c"


def test_html_is_escaped_self_contained_and_deterministic() -> None:
    doc = document()
    html = render_html(doc)
    assert html == render_html(document())
    assert "<script" not in html and 'onerror="document' not in html
    assert "&lt;script&gt;" in html
    assert "<strong>rollback</strong>" in html and "&lt;script&gt;x()&lt;/script&gt;" in html
    assert 'src="data:image/gif;base64,' in html
    assert 'http-equiv="Content-Security-Policy"' in html and "script-src" not in html
    assert "https://evil.example" not in html.split("</head>")[0]


def test_phase_chart_is_accessible_svg() -> None:
    svg = str(phase_chart(document()))
    assert svg.startswith("<svg") and 'role="img"' in svg
    assert '<title id="pc-title">Phases of INC-42</title>' in svg
    for label in ("Detect", "Acknowledge", "Mitigate", "Resolve"):
        assert f">{label}</text>" in svg  # text labels, not colour only
    assert "2 pages" in svg and "<script" not in svg


def test_json_round_trips() -> None:
    doc = document()
    assert json.loads(render_json(doc)) == json.loads(json.dumps(doc))


def test_sections_parse_back_from_edited_markdown() -> None:
    md = render_markdown(document())
    edited = md.replace(
        "<!-- tocsin:section lessons -->\n",
        "<!-- tocsin:section lessons -->\nTimeouts need budgets.\n",
    )
    found = parse_sections(edited)
    assert found["went_well"].startswith("Fast **rollback**.")
    assert found["lessons"].startswith("Timeouts need budgets.")
    assert "contributing_factors" not in found  # still the prompt

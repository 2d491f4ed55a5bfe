"""The postmortem as data: built from the incident record alone (pure; no AWS, no chat tool).

`build(record)` turns what the stores hold (the incident, its timeline, alerts, role history,
status-page records, action items, the team's written sections) into one JSON-able document.
The renderers (services/postmortem_render.py) turn that document into Markdown, HTML and
JSON; the same document gives the same bytes.

The transcript is the incident channel as captured (services/capture.py): every message in
order, replies labelled with the message they answer, edits with the text before, deletions
kept and marked, key events (pinned) flagged, bot messages labelled.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tocsin.domain.clock import iso
from tocsin.domain.incidents import Incident, IncidentStatus
from tocsin.domain.timeline import ActorKind, TimelineEvent, TimelineKind, describe

K = TimelineKind

#: the sections the team writes (id -> (heading, prompt)). The prompts ask about the system
#: and the conditions people worked in, never who is to blame.
TEAM_SECTIONS: dict[str, tuple[str, str]] = {
    "contributing_factors": (
        "Contributing factors",
        "What conditions made this incident possible, and what made it bigger or longer? "
        "Think of systems, signals, tools, load and assumptions; several factors usually "
        "combine, and people acted sensibly on what they knew at the time.",
    ),
    "went_well": (
        "What went well",
        "What helped detect, understand or mitigate the incident? What should we keep doing?",
    ),
    "could_be_better": (
        "What could have gone better",
        "Where did the tools, information or process make the response harder than it "
        "needed to be? What surprised us?",
    ),
    "lessons": (
        "Lessons and follow-ups",
        "What did we learn about our systems? Which follow-ups (action items) address the "
        "contributing factors rather than the symptom?",
    ),
}
#: what the postmortem shows of an action item
ACTION_ITEM_FIELDS = ("id", "text", "owner", "due", "priority", "status", "ticket", "done_at")
#: timeline kinds that are bookkeeping, not part of what happened
BOOKKEEPING = frozenset({K.WORKFLOW_STEP, K.WORKFLOW_STARTED, K.POSTMORTEM_GENERATED})
_CHAT = frozenset(
    {
        K.CHAT_MESSAGE,
        K.CHAT_MESSAGE_EDITED,
        K.CHAT_MESSAGE_DELETED,
        K.CHAT_REACTION,
        K.KEY_EVENT,
        K.KEY_EVENT_UNMARKED,
    }
)
#: what happens to a message after it was posted
_MARKS = frozenset(
    {K.CHAT_MESSAGE_EDITED, K.CHAT_MESSAGE_DELETED, K.KEY_EVENT, K.KEY_EVENT_UNMARKED}
)
PAGING = frozenset(
    {K.ESCALATION_STARTED, K.ESCALATION_ENDED, K.PAGE_SENT, K.PAGE_FAILED, K.ESCALATED}
)
_CODE_BLOCK = re.compile(r"```(?:[a-zA-Z0-9_+-]*\n)?(.*?)```", re.DOTALL)
#: http(s) links only (Slack writes `<https://x|label>`): other schemes are never kept as links
_URL = re.compile(r"https?://[^\s<>|\"'`]+", re.IGNORECASE)


@dataclass
class PostmortemRecord:
    """Everything the postmortem is built from, as read from the stores."""

    incident: Incident
    events: Sequence[TimelineEvent]
    generated_at: datetime
    alerts: Sequence[Mapping[str, Any]] = ()
    roles: Sequence[Mapping[str, Any]] = ()
    status_records: Sequence[Mapping[str, Any]] = ()
    action_items: Sequence[Mapping[str, Any]] = ()
    sections: Mapping[str, str] = field(default_factory=dict)
    people: Mapping[str, str] = field(default_factory=dict)  # person id -> name
    team: str | None = None
    runbooks_markdown: str = ""
    #: image copies' keys -> embeddable (data: URI), set by the service after reading them
    images: Mapping[str, str] = field(default_factory=dict)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    return f"{hours // 24}d {hours % 24}h {minutes:02d}m"


def _first_alert_at(record: PostmortemRecord) -> datetime | None:
    starts = []
    for alert in record.alerts:
        value = alert.get("started_at")
        if value:
            starts.append(datetime.fromisoformat(str(value)))
    for event in record.events:
        if event.kind is K.ALERT_ADDED:
            starts.append(event.at)
    return min(starts) if starts else None


def durations(record: PostmortemRecord) -> dict[str, Any]:
    """detect: first alert → incident opened; acknowledge, mitigate, resolve: opened → the
    (last) time the incident entered that status."""
    incident = record.incident
    opened = incident.created_at
    first_alert = _first_alert_at(record)
    if first_alert is not None and first_alert > opened:
        first_alert = None  # an alert that joined later did not detect it
    times = incident.status_times
    out: dict[str, Any] = {}
    for name, start, end in (
        ("detect", first_alert, opened),
        ("acknowledge", opened, times.get(IncidentStatus.ACKNOWLEDGED)),
        ("mitigate", opened, times.get(IncidentStatus.MITIGATED)),
        ("resolve", opened, times.get(IncidentStatus.RESOLVED)),
    ):
        seconds = _seconds(start, end)
        out[name] = {
            "from": iso(start) if start else None,
            "to": iso(end) if end else None,
            "seconds": seconds,
            "human": human_duration(seconds),
        }
    return out


def _who(event: TimelineEvent, people: Mapping[str, str]) -> str:
    d = event.data
    person = d.get("person") or (event.actor.id if event.actor.kind is ActorKind.USER else None)
    if person and person in people:
        return people[person]
    return str(person or d.get("user") or event.actor.name or event.actor.id)


def transcript(record: PostmortemRecord) -> list[dict[str, Any]]:
    """The channel's messages in order, each with its edits, deletion and key-event marks."""
    messages: dict[str, dict[str, Any]] = {}
    by_chat_id: dict[str, dict[str, Any]] = {}
    order: list[dict[str, Any]] = []
    pending: list[TimelineEvent] = []  # edits/marks seen before their message (clock skew)
    for event in record.events:
        if event.kind is K.CHAT_MESSAGE:
            d = event.data
            entry: dict[str, Any] = {
                "id": event.id,
                "at": iso(event.at),
                "who": _who(event, record.people) if d.get("user") or not d.get("bot") else "bot",
                "bot": bool(d.get("bot")),
                "text": str(d.get("text") or ""),
                "original_text": None,
                "edits": [],
                "deleted": False,
                "deleted_at": None,
                "key_event": False,
                "thread_of": None,
                "files": [dict(f) for f in d.get("files") or []],
                "message_id": d.get("message_id"),
            }
            thread = d.get("thread_id")
            if thread and thread != d.get("message_id"):
                parent = by_chat_id.get(str(thread))
                entry["thread_of"] = parent["at"] if parent else str(thread)
            messages[event.id] = entry
            if d.get("message_id"):
                by_chat_id[str(d["message_id"])] = entry
            order.append(entry)
        elif event.kind in _MARKS:
            pending.append(event)
    for event in pending:
        marked = messages.get(str(event.data.get("message_event")))
        if marked is None:
            continue
        entry = marked
        d = event.data
        if event.kind is K.CHAT_MESSAGE_EDITED:
            if entry["original_text"] is None:
                entry["original_text"] = d.get("previous_text") or entry["text"]
            entry["edits"].append({"at": iso(event.at), "text": str(d.get("text") or "")})
            entry["text"] = str(d.get("text") or "")
        elif event.kind is K.CHAT_MESSAGE_DELETED:
            entry["deleted"] = True
            entry["deleted_at"] = iso(event.at)
        elif event.kind is K.KEY_EVENT:
            entry["key_event"] = True
        else:
            entry["key_event"] = False
    return order


def code_blocks(text: str) -> list[str]:
    return [block.strip("\n") for block in _CODE_BLOCK.findall(text) if block.strip()]


def links_in(text: str) -> list[str]:
    return [url.rstrip(".,);") for url in _URL.findall(text)]


def key_moments(record: PostmortemRecord, messages: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Decisions (`/incident decision`), messages marked as key events, notes, and commands:
    code blocks shared in the channel and the chat commands that changed the incident."""
    decisions = [
        {"at": iso(e.at), "who": _who(e, record.people), "text": str(e.data.get("text", ""))}
        for e in record.events
        if e.kind is K.DECISION
    ]
    notes = [
        {"at": iso(e.at), "who": _who(e, record.people), "text": str(e.data.get("text", ""))}
        for e in record.events
        if e.kind is K.NOTE
    ]
    marked = [
        {"at": m["at"], "who": m["who"], "text": m["text"], "deleted": m["deleted"]}
        for m in messages
        if m["key_event"]
    ]
    commands: list[dict[str, Any]] = []
    for m in messages:
        if m["deleted"]:
            continue
        for block in code_blocks(m["text"]):
            commands.append({"at": m["at"], "who": m["who"], "code": block, "via": "message"})
    for e in record.events:
        via = e.data.get("via")
        if e.actor.kind is ActorKind.USER and e.kind in (
            K.STATUS_CHANGED,
            K.SEVERITY_CHANGED,
            K.ROLE_CHANGED,
            K.ESCALATED,
        ):
            commands.append(
                {"at": iso(e.at), "who": _who(e, record.people), "code": describe(e), "via": via}
            )
    commands.sort(key=lambda c: c["at"])
    return {"decisions": decisions, "key_events": marked, "notes": notes, "commands": commands}


def participants(record: PostmortemRecord, messages: Sequence[dict[str, Any]]) -> list[Any]:
    """Who spoke or acted (bots and Tocsin itself left out), with the roles they held and
    when: a role is held from a handoff to them until the next handoff (or still)."""
    seen: dict[str, dict[str, Any]] = {}

    def add(key: str, name: str, what: str) -> dict[str, Any]:
        entry = seen.setdefault(key, {"id": key, "name": name, "did": [], "roles": []})
        if what and what not in entry["did"]:
            entry["did"].append(what)
        return entry

    for e in record.events:
        if e.actor.kind is not ActorKind.USER:
            continue
        key = str(e.data.get("person") or e.actor.id)
        what = "spoke" if e.kind in _CHAT else e.kind.value.replace("_", " ")
        add(key, record.people.get(key, _who(e, record.people)), what)
    end = record.incident.status_times.get(IncidentStatus.RESOLVED)
    for role in record.roles:
        history = sorted(role.get("history") or [], key=lambda h: str(h.get("at")))
        for n, handoff in enumerate(history):
            holder = handoff.get("assumed")
            if not holder:
                continue
            nxt = history[n + 1]["at"] if n + 1 < len(history) else None
            entry = add(str(holder), record.people.get(str(holder), str(holder)), "")
            entry["roles"].append(
                {
                    "role": role.get("name") or role.get("role"),
                    "from": handoff.get("at"),
                    "until": nxt or (iso(end) if end else None),
                    "reason": handoff.get("reason"),
                }
            )
    return sorted(seen.values(), key=lambda p: (not p["roles"], str(p["name"]).lower()))


def status_page(record: PostmortemRecord) -> dict[str, Any]:
    """What customers saw: each status-page record's impact window, components, updates."""
    records = []
    components: list[str] = []
    for r in record.status_records:
        updates = sorted(r.get("updates") or [], key=lambda u: str(u.get("display_at")))
        records.append(
            {
                "page": r.get("page"),
                "id": r.get("id"),
                "name": r.get("name"),
                "impact": r.get("impact"),
                "affects": list(r.get("affects") or []),
                "from": r.get("started_at") or r.get("created_at"),
                "until": r.get("resolved_at"),
                "updates": [
                    {
                        "at": u.get("display_at"),
                        "status": u.get("status"),
                        "body": u.get("body", ""),
                        "author": u.get("author"),
                    }
                    for u in updates
                ],
            }
        )
        components += [c for c in r.get("affects") or [] if c not in components]
    starts = [str(r["from"]) for r in records if r["from"]]
    ends = [str(r["until"]) for r in records if r["until"]]
    window: dict[str, Any] = {
        "from": min(starts) if starts else None,
        "until": max(ends) if ends and len(ends) == len(records) else None,
        "human": None,  # still open (an unresolved incident's postmortem on demand)
    }
    if window["from"] and window["until"]:
        seconds = _seconds(
            datetime.fromisoformat(window["from"]), datetime.fromisoformat(window["until"])
        )
        window["human"] = human_duration(seconds)
    return {"records": records, "components": components, "window": window}


def _events(events: Iterable[TimelineEvent], kinds: frozenset[TimelineKind], people: Any) -> Any:
    return [
        {"at": iso(e.at), "kind": e.kind.value, "what": describe(e), "who": _who(e, people)}
        for e in events
        if e.kind in kinds
    ]


def build(record: PostmortemRecord) -> dict[str, Any]:
    incident = record.incident
    events = [e for e in record.events if e.kind not in BOOKKEEPING]
    record.events = events
    messages = transcript(record)
    images = [
        {**f, "at": m["at"], "who": m["who"], "embedded": record.images.get(str(f.get("key")))}
        for m in messages
        for f in m["files"]
        if f.get("image")
    ]
    shared_links = [
        {"at": m["at"], "who": m["who"], "url": url}
        for m in messages
        if not m["deleted"]
        for url in links_in(m["text"])
    ]
    page = status_page(record)
    people = participants(record, messages)
    affected = list(
        dict.fromkeys([*([incident.service] if incident.service else []), *page["components"]])
    )
    return {
        "incident": {
            "id": incident.id,
            "ref": incident.ref,
            "title": incident.title,
            "severity": incident.severity,
            "status": incident.status.value,
            "service": incident.service,
            "team": record.team,
            "description": incident.description,
            "opened_at": iso(incident.created_at),
            "status_times": {k.value: iso(v) for k, v in sorted(incident.status_times.items())},
            "links": dict(sorted(incident.links.items())),
        },
        "summary": {
            "alert_count": incident.alert_count,
            "messages": len(messages),
            "events": len(events),
            "participants": len(people),
            "sla_missed": list(incident.sla_missed),
        },
        "durations": durations(record),
        "affected_components": affected,
        "status_page": page,
        "participants": people,
        "transcript": messages,
        "key_moments": key_moments(record, messages),
        "images": images,
        "links_shared": shared_links,
        "alerts": [
            {
                "title": a.get("title"),
                "source": a.get("source"),
                "status": a.get("status"),
                "started_at": a.get("started_at"),
                "ended_at": a.get("ended_at"),
                "links": a.get("links") or {},
            }
            for a in sorted(record.alerts, key=lambda a: str(a.get("started_at") or ""))
        ],
        "paging": _events(events, PAGING, record.people),
        "status_changes": _events(
            events, frozenset({K.STATUS_CHANGED, K.SEVERITY_CHANGED}), record.people
        ),
        "stakeholder_updates": _events(events, frozenset({K.STAKEHOLDER_UPDATE}), record.people),
        "status_page_updates": _events(events, frozenset({K.STATUS_PAGE_UPDATED}), record.people),
        "action_items": [
            {k: item.get(k) for k in ACTION_ITEM_FIELDS} for item in record.action_items
        ],
        "runbooks_markdown": record.runbooks_markdown,
        "timeline": [
            {"at": iso(e.at), "kind": e.kind.value, "what": describe(e)}
            for e in events
            if e.kind not in _CHAT
        ],
        "sections": [
            {"id": key, "heading": heading, "prompt": prompt, "text": record.sections.get(key, "")}
            for key, (heading, prompt) in TEAM_SECTIONS.items()
        ],
        "generated_at": iso(record.generated_at),
    }

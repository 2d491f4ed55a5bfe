"""Chat-ops: the `/incident` commands and their buttons, independent of the chat vendor.

A command arrives already verified and acknowledged (handlers/chatops.py); this module finds
the incident it is about, checks who may do it, does it, and returns what to answer as plain
data (`Reply`, `MessageAnswer`, `DeclareForm`, `Preview`, `Published`, `Cancelled`) that the
vendor's renderer turns into a message (integrations/slack_chatops.py for Slack).

Which incident: a command typed in an incident channel is about that channel's incident (the
`CHANNEL#…` pointer the response workflow writes when it creates the channel; for channels
made before pointers existed, the `inc-42-…` name leads to INC-42, accepted only if that
incident's channel step made this very channel). Anywhere, a first argument `INC-42` (or an
incident id) names the incident; elsewhere the command asks which incident.

Who may: `chatops.permissions` (domain/chatops.py). Everything a command changes goes through
the same services as the API (IncidentService, EscalationService, RoleService, the response
steps), so the timeline says who did it, from chat. A request redelivered by the queue does
the same thing once: ids derive from the delivery, and changes that already happened answer
"already".

Commands: `COMMANDS` lists exactly those that work; `help` prints them.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from tocsin.dal.chatops import ChannelDirectory, DraftStore
from tocsin.domain.action_items import Priority, parse_due
from tocsin.domain.chatops import (
    ACKNOWLEDGE,
    ANYONE,
    CANCEL,
    ESCALATE,
    PUBLISH,
    RESOLVE,
    RESPONDERS,
    RUNBOOK_HELPFUL,
    RUNBOOK_UNHELPFUL,
    SET_SEVERITY,
    TEAM,
)
from tocsin.domain.clock import utcnow
from tocsin.domain.config import TocsinConfig
from tocsin.domain.errors import InvalidRequestError, InvalidTransitionError
from tocsin.domain.incidents import OPEN_STATUSES, Incident
from tocsin.domain.incidents import IncidentStatus as Status
from tocsin.domain.statuspage import IncidentStatus
from tocsin.domain.timeline import Actor, ActorKind, TimelineEvent, TimelineKind, describe
from tocsin.integrations.ports import Action, ChatMessage

if TYPE_CHECKING:
    from tocsin.dal.incidents import IncidentRepository
    from tocsin.dal.steps import StepStore
    from tocsin.services.action_items import ActionItemService
    from tocsin.services.escalation import EscalationService
    from tocsin.services.incidents import IncidentService
    from tocsin.services.postmortem import PostmortemService
    from tocsin.services.response import ResponseSteps
    from tocsin.services.roles import RoleService
    from tocsin.services.runbooks import RunbookService
    from tocsin.services.statuspage import Draft, StatusPageService

#: the slash command's name (the Slack app defines it; docs/chatops.md)
SLASH = "/incident"
#: subcommand -> (arguments, what it does). Only commands that work are listed here.
COMMANDS: dict[str, tuple[str, str]] = {
    "declare": (
        "[SEV2] [service] [title]",
        "declare an incident (without a title: a form asks for title, severity, service, "
        "description)",
    ),
    "sev": ("[INC-42] SEV1 [reason]", "change the severity"),
    "status": ("[INC-42] acknowledged|mitigated|resolved [reason]", "move the incident on"),
    "role": ("[INC-42] <role> @someone|me|nobody", "hand an incident role over"),
    "page": ("[INC-42] @someone|team [team]", "page a person or a team (escalation policy)"),
    "update": ("[INC-42] <text>", "post a stakeholder update"),
    "statuspage": (
        "[INC-42] [investigating|identified|monitoring|resolved] [text]",
        "preview the incident's status page update (the template's wording unless you give "
        "text), then Publish or Cancel",
    ),
    "action": (
        "[INC-42] <text> [@owner] [!urgent|!high|!low] [due 2026-12-01|3d|2w] | list | done <id>",
        "add an action item, list them, or mark one done",
    ),
    "decision": ("[INC-42] <text>", "record a key decision"),
    "note": ("[INC-42] <text>", "add a note to the timeline"),
    "timeline": ("[INC-42] [n]", "the last n timeline events (default 15)"),
    "summary": ("[INC-42]", "the incident at a glance, with its buttons"),
    "runbook": (
        "[INC-42] [words]",
        "the runbooks for this incident (or matching the words), with why each matched; "
        "rate them Helpful or Not helpful",
    ),
    "postmortem": (
        "[INC-42]",
        "generate the postmortem now (Markdown, HTML, JSON) and get its link",
    ),
    "help": ("", "this list"),
}
#: the ids of the buttons and selects chat-ops answers (vendor-neutral: Slack's action_id,
#: Teams' Action.Submit data `action`); `ChatOps.act` dispatches them
#: (defined with the configuration in domain/chatops.py, so pages can carry them too)
ACTIONS = frozenset(
    {
        PUBLISH,
        CANCEL,
        ACKNOWLEDGE,
        ESCALATE,
        SET_SEVERITY,
        RESOLVE,
        RUNBOOK_HELPFUL,
        RUNBOOK_UNHELPFUL,
    }
)
#: runbooks in a `/incident runbook` answer that get Helpful / Not helpful buttons
RATED_RUNBOOKS = 3
STATUS_WORDS = {s.value for s in IncidentStatus if s is not IncidentStatus.POSTMORTEM}
#: what `/incident status` accepts (triggered is where incidents start, not a move)
STATUS_MOVES = {
    "acknowledged": Status.ACKNOWLEDGED,
    "ack": Status.ACKNOWLEDGED,
    "mitigated": Status.MITIGATED,
    "resolved": Status.RESOLVED,
    "resolve": Status.RESOLVED,
}
_REF = re.compile(r"^INC-(\d{1,9})$", re.IGNORECASE)
_INCIDENT_ID = re.compile(r"^inc-[0-9a-z]{26}$")
_CHANNEL_NUMBER = re.compile(r"^[a-z][a-z0-9]*-(\d{1,9})(?:-|$)")
#: a user as chat writes it: Slack `<@U123|name>` / `<@U123>`, or `@alice`
_MENTION = re.compile(r"^<@([A-Z0-9]+)(?:\|[^>]*)?>$|^@?([A-Za-z0-9][A-Za-z0-9_.-]{0,63})$")
_DUE = re.compile(r"^(?:due:)?(\d{4}-\d{2}-\d{2}|today|tomorrow|\d{1,3}[dw])$", re.IGNORECASE)
T = TypeVar("T")
_PRIORITIES = frozenset(p.value for p in Priority)
_ACTION_ID = re.compile(r"^ai-[0-9a-f]{16}$", re.IGNORECASE)
#: incidents listed when a command does not say which one it is about
LIST_OPEN = 10
#: the most a note, decision, action item or update keeps (Slack's section limit)
MAX_TEXT = 3000
#: timeline events `/incident timeline` shows by default, and at most
TIMELINE_DEFAULT = 15
TIMELINE_MAX = 50


# --- what the command answers -------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    """A command or a button click, as the chat vendor delivered it (already verified)."""

    provider: str
    user_id: str
    channel_id: str = ""
    channel_name: str = ""
    text: str = ""
    #: a delivery id (the queue message's): a redelivery of the same request may redo a claim
    delivery: str = ""
    #: when the chat vendor delivered it (acknowledged): a redelivery keeps the same time
    at: datetime | None = None
    user_name: str = ""


@dataclass(frozen=True)
class Reply:
    """A plain answer, seen only by the person who asked."""

    text: str
    lines: list[str] = field(default_factory=list)
    #: replace the message the button was on (interactions)
    replace: bool = False
    #: shown to the whole channel, not only to who asked (changes everyone should see)
    public: bool = False


@dataclass(frozen=True)
class MessageAnswer:
    """A full message (the incident summary with its buttons), seen by who asked."""

    message: ChatMessage


@dataclass(frozen=True)
class DeclareForm:
    """Ask for what a new incident needs: title, severity, service, description (Slack: a
    modal; Teams: a card with inputs)."""

    severities: list[tuple[str, str]]  # (name, description)
    services: list[str]
    default_severity: str


@dataclass(frozen=True)
class Preview:
    draft_id: str
    incident: Incident
    drafts: list[Draft]
    urls: dict[str, str]
    page_names: dict[str, str]


@dataclass(frozen=True)
class Published:
    incident: Incident
    author: str
    #: page id -> (page name, record dict or None when the page already said this, url)
    pages: list[dict[str, Any]]


@dataclass(frozen=True)
class Cancelled:
    by: str


Answer = Reply | MessageAnswer | DeclareForm | Preview | Published | Cancelled


def help_reply(intro: str = "") -> Reply:
    lines = [
        f"`{SLASH} {name}{' ' + args if args else ''}`: {what}"
        for name, (args, what) in COMMANDS.items()
    ]
    return Reply(intro or f"What `{SLASH}` can do:", lines)


class ChatOps:
    def __init__(
        self,
        config: TocsinConfig,
        incidents: IncidentRepository,
        steps: StepStore,
        channels: ChannelDirectory,
        drafts: DraftStore,
        status_pages: Callable[[], StatusPageService],
        roles: Callable[[], RoleService],
        incident_service: Callable[[], IncidentService] | None = None,
        escalations: Callable[[], EscalationService] | None = None,
        response: Callable[[], ResponseSteps] | None = None,
        action_items: Callable[[], ActionItemService] | None = None,
        runbooks: Callable[[], RunbookService] | None = None,
        clock: Callable[[], datetime] = utcnow,
        postmortems: Callable[[], PostmortemService] | None = None,
    ) -> None:
        self._postmortems = postmortems
        self.config = config
        self.incidents = incidents
        self.steps = steps
        self.channels = channels
        self.drafts = drafts
        self.status_pages = status_pages
        self.roles = roles
        self._incident_service = incident_service
        self._escalations = escalations
        self._response = response
        self._action_items = action_items
        self._runbooks = runbooks
        self.clock = clock

    # the services a command uses, built on first use (a cold start that only publishes a
    # status page does not build the escalation machinery)
    @property
    def incident_service(self) -> IncidentService:
        return _built(self._incident_service, "the incident service")

    @property
    def escalations(self) -> EscalationService:
        return _built(self._escalations, "the escalation service")

    @property
    def response(self) -> ResponseSteps:
        return _built(self._response, "the response steps")

    @property
    def action_items(self) -> ActionItemService:
        return _built(self._action_items, "the action item service")

    @property
    def runbooks(self) -> RunbookService:
        return _built(self._runbooks, "the runbook service")

    # --- commands ---------------------------------------------------------------------------
    def command(self, request: Request) -> Answer:
        words = request.text.strip().split(None, 1)
        name = words[0].lower() if words else "help"
        rest = words[1] if len(words) > 1 else ""
        if name == "help" or name not in COMMANDS:
            if name == "help":
                return help_reply()
            return help_reply(f"`{SLASH} {name[:40]}` is not a command I know. What I can do:")
        if name == "declare":
            return self.declare(request, rest)
        if name == "statuspage":
            return self.statuspage(request, rest)
        if name == "runbook":
            return self.runbook(request, rest)
        incident, rest = self._incident(request, rest)
        if incident is None:
            return self._which_incident(
                f"{SLASH} {name}", listed=self.person_of(request) is not None
            )
        if (denied := self._outsider(request, incident)) is not None:
            return denied
        run: dict[str, Callable[[Request, Incident, str], Answer]] = {
            "sev": self.sev,
            "status": self.status,
            "role": self.role,
            "page": self.page,
            "update": self.update,
            "action": self.action,
            "decision": self.decision,
            "note": self.note,
            "timeline": self.timeline,
            "summary": self.summary,
            "postmortem": self.postmortem,
        }
        return run[name](request, incident, rest.strip())

    # declare ------------------------------------------------------------------------------------
    def declare(self, request: Request, args: str) -> Answer:
        """`declare` alone asks with a form; `declare [SEV2] [service] title` declares."""
        words = args.split()
        if not words:
            return self.declare_form()
        severity = self.config.severity_names[-1]
        service: str | None = None
        if words and words[0].upper() in self.config.severity_names:
            severity = words.pop(0).upper()
        services = {s.name for s in self.config.services}
        if words and words[0] in services:
            service = words.pop(0)
        title = " ".join(words).strip()
        if not title:
            return Reply(f"A title, please: `{SLASH} declare {severity} {service or ''} <title>`.")
        return self.declare_incident(request, title, severity, service, "")

    def declare_form(self) -> DeclareForm:
        return DeclareForm(
            severities=[(s.name, s.description) for s in self.config.severities],
            services=sorted(s.name for s in self.config.services),
            default_severity=self.config.severity_names[-1],
        )

    def declare_incident(
        self,
        request: Request,
        title: str,
        severity: str,
        service: str | None,
        description: str,
        key: str | None = None,
    ) -> Answer:
        """Declare (from the form or the command line). `key` (the form's id, else the
        delivery) makes a submission delivered twice declare one incident."""
        title = " ".join(title.split())[:200]
        if not title:
            raise InvalidRequestError("an incident needs a title")
        self.incident_service.check_severity(severity)
        if service is not None and self.config.service(service) is None:
            raise InvalidRequestError(f"unknown service {service!r}")
        person = self.person_of(request)
        denied = self.declare_denied(request, severity, service)
        if denied:
            return Reply(denied)
        incident, created = self.incident_service.declare(
            title,
            severity,
            self.actor(request, person),
            service=service,
            description=description[:MAX_TEXT],
            idempotency_key=f"chat-{request.provider}-{key or request.delivery}"
            if (key or request.delivery)
            else None,
        )
        if not created:
            return Reply(f"{incident.ref} was already declared from this request: {incident.title}")
        return Reply(
            f"{person or _mention(request)} declared {incident.ref} ({incident.severity}): "
            f"{incident.title}. The response workflow is opening its channel and paging.",
            public=True,
        )

    # steering ------------------------------------------------------------------------------------
    def sev(self, request: Request, incident: Incident, args: str) -> Answer:
        words = args.split(None, 1)
        if not words or words[0].upper() not in self.config.severity_names:
            return Reply(
                f"Which severity? `{SLASH} sev {'|'.join(self.config.severity_names)} [reason]` "
                f"({incident.ref} is {incident.severity})."
            )
        return self.set_severity(
            request, incident, words[0].upper(), words[1] if len(words) > 1 else None
        )

    def set_severity(
        self, request: Request, incident: Incident, severity: str, reason: str | None = None
    ) -> Answer:
        person = self.person_of(request)
        listed = self._severity_entries(severity)
        raising = self.config.severity_rank(severity) < self.config.severity_rank(incident.severity)
        if listed and raising:
            denied = self._denied(
                incident,
                person,
                request,
                listed,
                f"severity.{self._severity_rule(severity)}",
                f"raise {incident.ref} to {severity}",
            )
        else:
            denied = self._denied(
                incident,
                person,
                request,
                self.config.chatops.permissions.respond,
                "respond",
                f"change {incident.ref}'s severity",
            )
        if denied:
            return Reply(denied)
        if incident.severity == severity:
            return Reply(f"{incident.ref} is already {severity}.")
        from tocsin.services.incidents import IncidentChange

        self._change(incident, IncidentChange(severity=severity, reason=reason), request, person)
        return Reply(
            f"{person or _mention(request)} changed {incident.ref}'s severity "
            f"{incident.severity} → {severity}" + (f": {reason}" if reason else "."),
            public=True,
        )

    def status(self, request: Request, incident: Incident, args: str) -> Answer:
        words = args.split(None, 1)
        target = STATUS_MOVES.get(words[0].lower()) if words else None
        if target is None:
            return Reply(
                f"Which status? `{SLASH} status acknowledged|mitigated|resolved [reason]` "
                f"({incident.ref} is {incident.status.value})."
            )
        return self.move(request, incident, target, words[1] if len(words) > 1 else None)

    def move(
        self, request: Request, incident: Incident, target: Status, reason: str | None = None
    ) -> Answer:
        person = self.person_of(request)
        perms = self.config.chatops.permissions
        if target is Status.RESOLVED:
            denied = self._denied(
                incident, person, request, perms.resolve, "resolve", f"resolve {incident.ref}"
            )
        else:
            denied = self._denied(
                incident,
                person,
                request,
                perms.respond,
                "respond",
                f"move {incident.ref} to {target.value}",
            )
        if denied:
            return Reply(denied)
        if incident.status is target:
            return Reply(f"{incident.ref} is already {target.value}.")
        who = person or _mention(request)
        if target is Status.ACKNOWLEDGED and incident.status is Status.TRIGGERED:
            result = self.escalations.acknowledge(
                incident.id, self.actor(request, person), via=request.provider, person=person
            )
            ended = result.get("escalations_ended") or []
            paging = " Paging stopped." if ended else ""
            return Reply(f"{who} acknowledged {incident.ref}.{paging}", public=True)
        from tocsin.services.incidents import IncidentChange

        self._change(incident, IncidentChange(status=target, reason=reason), request, person)
        return Reply(
            f"{who} moved {incident.ref} to {target.value}" + (f": {reason}" if reason else "."),
            public=True,
        )

    def _change(
        self, incident: Incident, change: Any, request: Request, person: str | None
    ) -> None:
        """Apply a person's change on the incident as they saw it: a conflicting change made
        meanwhile (version) is retried on the fresh incident, once the change still applies."""
        from tocsin.domain.errors import VersionConflictError

        actor = self.actor(request, person)
        for _ in range(3):
            try:
                self.incident_service.change(incident, change, actor)
                return
            except VersionConflictError:
                incident = self.incidents.get(incident.id)
        raise InvalidTransitionError(f"{incident.ref} keeps changing: try again")

    def role(self, request: Request, incident: Incident, args: str) -> Answer:
        words = args.split()
        roles = {r.id: r for r in self.config.roles}
        if len(words) < 2:
            known = ", ".join(roles)
            return Reply(f"`{SLASH} role <role> @someone|me|nobody` — roles: {known}.")
        role = self._role(words[0])
        if role is None:
            return Reply(f"There is no role {words[0][:40]!r}. Roles: {', '.join(roles)}.")
        person = self.person_of(request)
        denied = self._denied(
            incident,
            person,
            request,
            self.config.chatops.permissions.roles,
            "roles",
            f"hand roles over on {incident.ref}",
        )
        if denied:
            return Reply(denied)
        target = words[1]
        holder: str | None
        if target.lower() == "nobody":
            holder = None
        elif target.lower() == "me":
            if person is None:
                return Reply(
                    "You are not a configured person (people[].slack), so I cannot give you a role."
                )
            holder = person
        else:
            holder = self.person_named(request.provider, target)
            if holder is None:
                return Reply(f"I do not know who {target[:60]} is: not a configured person.")
        self.roles().hand_off(incident.id, role.id, holder, self.actor(request, person))
        return Reply(
            f"{role.name} of {incident.ref}: {holder or 'nobody'} (by {person or _mention(request)}).",
            public=True,
        )

    def page(self, request: Request, incident: Incident, args: str) -> Answer:
        words = args.split()
        if not words:
            return Reply(f"Page whom? `{SLASH} page @someone|team`.")
        person = self.person_of(request)
        denied = self._denied(
            incident,
            person,
            request,
            self.config.chatops.permissions.respond,
            "respond",
            f"page for {incident.ref}",
        )
        if denied:
            return Reply(denied)
        word = words[0]
        target = word.lstrip("@") if self.config.team(word.lstrip("@")) else None
        target = target or self.person_named(request.provider, word)
        policy = self.escalations.policy_of(target) if target else None
        if target is None or policy is None:
            return Reply(f"I cannot page {word[:60]}: not a configured team or person.")
        escalation_id = "c" + _digest(request.delivery or secrets.token_hex(8))[:10]
        record = self.escalations.start(
            incident, self.actor(request, person), escalation_id=escalation_id, policy=policy
        )
        return Reply(
            f"{person or _mention(request)} paged {target} for {incident.ref} "
            f"(escalation {record['escalation_id']}, {len(policy.levels)} level(s)).",
            public=True,
        )

    def update(self, request: Request, incident: Incident, args: str) -> Answer:
        if not args:
            return Reply(f"What is the update? `{SLASH} update <text>`.")
        person = self.person_of(request)
        denied = self._denied(
            incident,
            person,
            request,
            self.config.chatops.permissions.respond,
            "respond",
            f"post updates for {incident.ref}",
        )
        if denied:
            return Reply(denied)
        self.response.stakeholder_update(
            incident.id,
            args[:MAX_TEXT],
            self.actor(request, person),
            idempotency_key=f"chat-{request.provider}-{request.delivery}"
            if request.delivery
            else None,
        )
        return Reply(
            f"Update for {incident.ref} recorded; posting it to the incident and stakeholder channels."
        )

    # adding to the record (anyone in the channel) ------------------------------------------------
    def note(self, request: Request, incident: Incident, args: str) -> Answer:
        return self._record(request, incident, TimelineKind.NOTE, args, "note")

    def postmortem(self, request: Request, incident: Incident, args: str = "") -> Answer:
        """Generate the postmortem now; answer with its link and what it holds."""
        assert self._postmortems is not None, "ChatOps was built without postmortems"
        person = self.person_of(request)
        made = self._postmortems().generate(incident.id, self.actor(request, person), "chat")
        summary = made.document["summary"]
        durations = made.document["durations"]
        return Reply(
            f"Postmortem of {incident.ref} generated: {made.link}",
            [
                f"{summary['events']} timeline events, {summary['messages']} channel messages, "
                f"{summary['participants']} participants, "
                f"{len(made.document['action_items'])} action items",
                f"acknowledged after {durations['acknowledge']['human']}, mitigated after "
                f"{durations['mitigate']['human']}, resolved after {durations['resolve']['human']}",
                "Write contributing factors, what went well and what could be better: "
                f"PUT /v1/incidents/{incident.id}/postmortem/sections (kept on regeneration)",
            ],
            public=True,
        )

    def decision(self, request: Request, incident: Incident, args: str) -> Answer:
        return self._record(request, incident, TimelineKind.DECISION, args, "decision")

    def _record(
        self, request: Request, incident: Incident, kind: TimelineKind, text: str, word: str
    ) -> Answer:
        if not text:
            return Reply(f"What should the {word} say? `{SLASH} {word} <text>`.")
        person = self.person_of(request)
        at = request.at or self.clock()
        self.incidents.append_timeline(
            TimelineEvent(
                id=f"chat-{word}-{_digest(request.delivery or secrets.token_hex(8))[:16]}",
                incident_id=incident.id,
                at=at,
                kind=kind,
                actor=self.actor(request, person),
                data={
                    "text": text[:MAX_TEXT],
                    "via": request.provider,
                    "channel_id": request.channel_id,
                },
            )
        )
        return Reply(f"{word.capitalize()} added to {incident.ref}'s timeline.")

    def action(self, request: Request, incident: Incident, args: str) -> Answer:
        words = args.split()
        if (
            len(words) == 2
            and words[0].lower() in ("done", "reopen", "cancel")
            and _ACTION_ID.match(words[1])
        ):
            status = {"done": "done", "reopen": "open", "cancel": "cancelled"}[words[0].lower()]
            person = self.person_of(request)
            item = self.action_items.update(
                incident.id, words[1].lower(), self.actor(request, person), status=status
            )
            return Reply(f"Action item {item.id} is {item.status.value}: {item.text[:200]}")
        if args.strip().lower() == "list":
            items = self.action_items.for_incident(incident.id)
            lines = [
                f"{'☑' if i.status.value == 'done' else '☐'} {i.id} {i.text[:150]}"
                + (f" → {i.owner}" if i.owner else "")
                + (f" (due {i.due})" if i.due else "")
                + (f" [{i.ticket['key']}]" if i.ticket else "")
                for i in items
            ]
            return Reply(f"{incident.ref}: {len(items)} action items", lines or ["none yet"])
        text, owner, due, priority = self._parse_action(request, args)
        if not text:
            return Reply(
                f"What needs doing? `{SLASH} action <text> [@owner] [!high] [due 2026-12-01|3d]`"
                f", `{SLASH} action list`, `{SLASH} action done <id>`."
            )
        person = self.person_of(request)
        item, _created = self.action_items.create(
            incident.id,
            text[:MAX_TEXT],
            self.actor(request, person),
            owner=owner,
            due=due,
            priority=priority,
            source=request.provider,
            key=request.delivery or None,
            at=request.at or self.clock(),
        )
        extra = "".join(
            [
                f", owner {item.owner}" if item.owner else "",
                f", due {item.due}" if item.due else "",
                f", {item.priority.value}",
            ]
        )
        return Reply(f"Action item {item.id} added to {incident.ref}{extra}: {item.text[:200]}")

    def _parse_action(
        self, request: Request, args: str
    ) -> tuple[str, str | None, date | None, str | None]:
        """`<text> [@owner] [!priority] [due]`: the owner is a mention anywhere, the priority
        `!urgent`, `!high`, `!medium` or `!low` anywhere, the due date a trailing
        `2026-12-01`, `today`, `tomorrow`, `3d` or `2w` (optionally after `due:`), counted in
        the reminders' time zone."""
        words = args.split()
        owner: str | None = None
        due: date | None = None
        priority: str | None = None
        if words and (m := _DUE.match(words[-1])):
            today = self.config.action_items.reminders.local_day(request.at or self.clock())
            due = parse_due(m.group(1).lower(), today)
            words.pop()
            if words and words[-1].lower() == "due":
                words.pop()
        kept = []
        for word in words:
            if owner is None and (word.startswith("<@") or word.startswith("@")):
                found = self.person_named(request.provider, word)
                if found is not None:
                    owner = found
                    continue
            if priority is None and word.lower().lstrip("!") in _PRIORITIES and word[0] == "!":
                priority = word.lower().lstrip("!")
                continue
            kept.append(word)
        return " ".join(kept).strip(), owner, due, priority

    def timeline(self, request: Request, incident: Incident, args: str) -> Answer:
        n = TIMELINE_DEFAULT
        if args:
            if not args.split()[0].isdigit():
                return Reply(f"`{SLASH} timeline [n]`: n is a number of events.")
            n = max(1, min(int(args.split()[0]), TIMELINE_MAX))
        events = self.incidents.latest_timeline(incident.id, n)
        lines = [f"{e.at.strftime('%H:%M:%S')} {describe(e)}" for e in events]
        return Reply(f"{incident.ref}: the last {len(lines)} events (UTC)", lines)

    def runbook(self, request: Request, args: str) -> Answer:
        """Search runbooks: in an incident's channel (or naming it) the incident's service and
        alerts rank too and the links are tracked; the top ones get Helpful / Not helpful."""
        incident, query = self._incident(request, args)
        if incident is not None and (denied := self._outsider(request, incident)) is not None:
            return denied
        message = self.runbooks.search_message(query, incident)
        if incident is None:
            return MessageAnswer(message)
        rated = []
        for suggestion in self.runbooks.search(query, incident)[:RATED_RUNBOOKS]:
            if suggestion.runbook_id is None:
                continue  # a page only the alert knows: nothing to rate
            value = f"{incident.id} {suggestion.runbook_id}"
            rated += [
                Action(f"Helpful: {suggestion.title}"[:75], RUNBOOK_HELPFUL, value),
                Action(f"Not helpful: {suggestion.title}"[:75], RUNBOOK_UNHELPFUL, value),
            ]
        return MessageAnswer(replace(message, actions=tuple(rated)))

    def rate_runbook(self, request: Request, value: str, helpful: bool) -> Answer:
        words = value.split()
        if len(words) != 2:
            return Reply("I do not know that runbook.")
        incident_id, runbook_id = words
        person = self.person_of(request)
        by = person or f"{request.provider}:{request.user_id}"
        changed = self.runbooks.feedback(runbook_id, incident_id, helpful, by)
        title = self.runbooks.get(runbook_id).title
        verdict = "helpful" if helpful else "not helpful"
        if not changed:
            return Reply(f"You marked {title} {verdict} already.")
        return Reply(f"Thanks: {title} marked {verdict} for this incident.")

    def summary(self, request: Request, incident: Incident, args: str = "") -> Answer:
        message = self.response.summary_message(incident)
        holders = [
            f"{r['name']}: {r['holder'] or 'nobody'}" for r in self.roles().roles(incident.id)
        ]
        return MessageAnswer(
            replace(
                message,
                context=(*message.context, *holders),
                actions=incident_actions(self.config, incident),
            )
        )

    def statuspage(self, request: Request, args: str) -> Answer:
        incident, args = self._incident(request, args)
        if incident is None:  # open incidents are listed only to configured people
            return self._which_incident(
                f"{SLASH} statuspage", listed=self.person_of(request) is not None
            )
        words = args.split(None, 1)
        status: IncidentStatus | None = None
        if words and words[0].lower() in STATUS_WORDS:
            status = IncidentStatus(words[0].lower())
            args = words[1] if len(words) > 1 else ""
        text = args.strip() or None
        person = self.person_of(request)
        denied = self.denied(incident, person, request)
        if denied:
            return Reply(denied)
        service = self.status_pages()
        pages = service.pages_for(incident)
        if not pages:
            return Reply(
                f"No status page shows a component of {incident.ref}'s service "
                f"({incident.service or 'none'}): nothing to publish from chat. Name the pages "
                "with `tocsin statuspage publish` or the API."
            )
        drafts = [service.draft(incident, page.id, status, text) for page in pages]
        draft_id = secrets.token_urlsafe(12)
        self.drafts.put(
            draft_id,
            {
                "incident_id": incident.id,
                "requested_by": request.user_id,
                "channel_id": request.channel_id,
                # what the preview was made from: Publish refuses when any of it changed
                "incident_state": _state_of(incident),
                "pages": [
                    {
                        "page": d.page,
                        "status": d.status.value,
                        "body": d.body,
                        "record_id": d.record_id,
                        "record_version": _version(service, d.page, d.record_id),
                    }
                    for d in drafts
                ],
            },
        )
        return Preview(
            draft_id=draft_id,
            incident=incident,
            drafts=drafts,
            urls={p.id: service.base_url(p) + "/" for p in pages},
            page_names={p.id: p.name for p in pages},
        )

    # --- buttons ----------------------------------------------------------------------------
    def act(self, request: Request, action_id: str, value: str) -> Answer:
        """A click on one of our buttons (or a choice in a select): `action_id` is one of
        ACTIONS, `value` what the control carried (an incident id; for the severity select
        `<incident id> <severity>`)."""
        if action_id == PUBLISH:
            return self.publish(request, value)
        if action_id == CANCEL:
            return self.cancel(request, value)
        if action_id not in ACTIONS:
            return Reply("I do not know that button.")
        if action_id in (RUNBOOK_HELPFUL, RUNBOOK_UNHELPFUL):
            return self.rate_runbook(request, value, action_id == RUNBOOK_HELPFUL)
        words = value.split()
        incident = self.incidents.find(words[0]) if words else None
        if incident is None:
            return Reply("That incident no longer exists.")
        if action_id == ACKNOWLEDGE:
            return self.move(request, incident, Status.ACKNOWLEDGED)
        if action_id == RESOLVE:
            return self.move(request, incident, Status.RESOLVED)
        if action_id == SET_SEVERITY:
            if len(words) < 2 or words[1] not in self.config.severity_names:
                return Reply("Pick a severity from the list.")
            return self.set_severity(request, incident, words[1])
        return self.escalate(request, incident)

    def escalate(self, request: Request, incident: Incident) -> Answer:
        """Page the next level now; when nobody is being paged, start paging."""
        person = self.person_of(request)
        denied = self._denied(
            incident,
            person,
            request,
            self.config.chatops.permissions.respond,
            "respond",
            f"escalate {incident.ref}",
        )
        if denied:
            return Reply(denied)
        who = person or _mention(request)
        result = self.escalations.escalate_now(
            incident.id, self.actor(request, person), clicked_at=request.at
        )
        if result["moved"]:
            return Reply(f"{who} escalated {incident.ref}: paging the next level now.", public=True)
        if result["last"]:
            return Reply(
                f"{incident.ref}'s paging is at its last level already: nothing to escalate to. "
                f"Page someone else with `{SLASH} page @someone|team`."
            )
        records = self.escalations.store.all(incident.id)
        if any(r.get("status") == "active" for r in records):
            return Reply(
                f"{incident.ref} is being paged right now (a level just started, or a click "
                "moved it already): nothing to skip."
            )
        if records:  # paging ended (acknowledged, exhausted): paging level 1 again is not up
            return Reply(
                f"Nobody is being paged for {incident.ref} any more. Page more people with "
                f"`{SLASH} page @someone|team`."
            )
        # never paged (e.g. declared at a severity that pages later): start its policy; the
        # response workflow's own first escalation has this id, so it is started once
        self.escalations.start(incident, self.actor(request, person), escalation_id="1")
        return Reply(
            f"{who} escalated {incident.ref}: nobody was being paged, paging now.", public=True
        )

    def publish(self, request: Request, draft_id: str) -> Answer:
        draft = self.drafts.get(draft_id)
        if draft is None:
            return Reply("This preview has expired: run the command again.", replace=True)
        incident = self.incidents.get(str(draft["incident_id"]))
        person = self.person_of(request)
        denied = self.denied(incident, person, request)
        if denied:
            return Reply(denied)
        author = person or request.user_id
        if request.user_id != draft.get("requested_by"):
            return Reply("Only the person who asked for this preview can publish it.")
        service = self.status_pages()
        if draft.get("state", "pending") == "pending" and self._stale(service, incident, draft):
            return Reply(
                f"This preview is out of date: {incident.ref} or its status page changed since "
                f"it was made. Run `{SLASH} statuspage` again to see what would be posted now.",
                replace=True,
            )
        if not self.drafts.claim(draft_id, request.delivery, author):
            return self._already(draft, request.delivery)
        done: list[dict[str, Any]] = []
        try:
            for item in draft["pages"]:
                page = service.page(str(item["page"]))
                records = service.publish_for(
                    incident,
                    author,
                    [page.id],
                    IncidentStatus(str(item["status"])),
                    str(item["body"]),
                )
                record = records[0] if records else None
                record_id = (
                    record.id if record else service.store.record_for_incident(incident.id, page.id)
                )
                done.append(
                    {
                        "page": page.id,
                        "name": page.name,
                        "status": str(item["status"]),
                        "body": str(item["body"]),
                        "changed": record is not None,
                        "url": f"{service.base_url(page)}/incidents/{record_id}.html"
                        if record_id
                        else service.base_url(page) + "/",
                    }
                )
        except Exception:
            self.drafts.release(draft_id, request.delivery)
            raise
        self.drafts.finish(draft_id, "published", {"by": author, "pages": done})
        return Published(incident=incident, author=author, pages=done)

    def cancel(self, request: Request, draft_id: str) -> Answer:
        draft = self.drafts.get(draft_id)
        if draft is None:
            return Reply("This preview has expired: nothing was published.", replace=True)
        by = self.person_of(request) or request.user_id
        if not self.drafts.claim(draft_id, request.delivery, by):
            return self._already(draft, request.delivery)
        self.drafts.finish(draft_id, "cancelled", {"by": by})
        return Cancelled(by=by)

    def _stale(self, service: StatusPageService, incident: Incident, draft: dict[str, Any]) -> bool:
        """Whether what the preview showed is no longer what Publish would post: the incident's
        status or severity changed, or a page's record was opened, updated or resolved since
        (an old preview must never reopen what was resolved meanwhile)."""
        if draft.get("incident_state") != _state_of(incident):
            return True
        for item in draft["pages"]:
            record_id = service.store.record_for_incident(incident.id, str(item["page"]))
            if record_id != item.get("record_id"):
                return True
            if _version(service, str(item["page"]), record_id) != item.get("record_version"):
                return True
        return False

    def _already(self, draft: dict[str, Any], delivery: str = "") -> Answer:
        """A second click (or a click while the first is being handled): nothing is done. A
        redelivery of the click that published (its answer got lost) shows the result again."""
        fresh = self.drafts.get(str(draft["id"])) or draft
        state = fresh.get("state")
        result = fresh.get("result") or {}
        by = result.get("by") or fresh.get("by") or "someone"
        if state == "published" and delivery and fresh.get("owner") == delivery:
            incident = self.incidents.get(str(fresh["incident_id"]))
            return Published(incident=incident, author=by, pages=list(result.get("pages") or []))
        if state == "published":
            return Reply(f"Already published by {by}: nothing was posted twice.")
        if state == "cancelled":
            return Reply(f"This preview was cancelled by {by}: nothing was published.")
        return Reply(f"{by} is publishing this preview right now.")

    # --- who and which --------------------------------------------------------------------------
    def person_of(self, request: Request) -> str | None:
        """The Tocsin person (config `people[].slack`) behind the chat user, if any."""
        return next(
            (p.id for p in self.config.people if p.chat_id(request.provider) == request.user_id),
            None,
        )

    def _outsider(self, request: Request, incident: Incident) -> Reply | None:
        """An incident named from outside its own channel (a DM, another channel) is only
        for configured people: its timeline holds the channel's transcript, and anyone in the
        workspace could otherwise read (or add to) any incident by its number."""
        if self.person_of(request) is not None:
            return None
        if request.channel_id and (
            self.channels.incident_of(request.provider, request.channel_id) == incident.id
        ):
            return None
        return Reply(
            f"Outside {incident.ref}'s channel only configured people may use `{SLASH}` on "
            "it. Ask in the incident's channel."
        )

    def declare_denied(self, request: Request, severity: str, service: str | None) -> str | None:
        """Why this user may not declare an incident at `severity` (None: they may)."""
        listed = self._severity_entries(severity)
        entries = listed or self.config.chatops.permissions.declare
        what = f"severity.{self._severity_rule(severity)}" if listed else "declare"
        return self._denied(
            None,
            self.person_of(request),
            request,
            entries,
            what,
            f"declare a {severity}",
            service=service,
        )

    def actor(self, request: Request, person: str | None = None) -> Actor:
        """Who did it, for the timeline: the configured person, else the chat user."""
        person = person if person is not None else self.person_of(request)
        if person is not None:
            found = self.config.person(person)
            return Actor(kind=ActorKind.USER, id=person, name=found.name if found else None)
        return Actor(
            kind=ActorKind.USER,
            id=f"{request.provider}:{request.user_id}",
            name=request.user_name or None,
        )

    def person_named(self, provider: str, word: str) -> str | None:
        """The configured person a chat word names: a Slack mention `<@U123|name>`, a chat
        user id, or a person id (`@alice`, `alice`)."""
        match = _MENTION.match(word.strip())
        if not match:
            return None
        chat_id, name = match.group(1), match.group(2)
        for p in self.config.people:
            if chat_id and p.chat_id(provider) == chat_id:
                return p.id
            if name and (p.id == name or p.chat_id(provider) == name):
                return p.id
        return None

    def _role(self, word: str) -> Any:
        word = word.lower().lstrip("@")
        for role in self.config.roles:
            name = role.name.lower()
            if word in (role.id, name, name.replace(" ", "-"), name.split()[-1]):
                return role
        return None

    def _severity_rules(self) -> dict[str, list[str]]:
        """`chatops.permissions.severity`; unset: the most severe level is for configured
        people (whatever the levels are called)."""
        perms = self.config.chatops.permissions
        if "severity" in perms.model_fields_set:
            return {k: v for k, v in perms.severity.items() if k in self.config.severity_names}
        return {self.config.severity_names[0]: [RESPONDERS]}

    def _severity_rule(self, severity: str) -> str | None:
        """The rule that governs `severity`: a listed severity applies to itself and to
        anything more severe (listing SEV2 guards SEV1 too); the nearest one wins."""
        if severity not in self.config.severity_names:
            return None
        rank = self.config.severity_rank(severity)
        applicable = [s for s in self._severity_rules() if rank <= self.config.severity_rank(s)]
        return min(applicable, key=self.config.severity_rank, default=None)

    def _severity_entries(self, severity: str) -> list[str]:
        rule = self._severity_rule(severity)
        return list(self._severity_rules()[rule]) if rule else []

    def denied(self, incident: Incident, person: str | None, request: Request) -> str | None:
        """Why this user may not publish the incident to status pages (None: they may)."""
        return self._denied(
            incident,
            person,
            request,
            self.config.chatops.permissions.statuspage,
            "statuspage",
            f"publish {incident.ref} to the status page",
        )

    def _denied(
        self,
        incident: Incident | None,
        person: str | None,
        request: Request,
        entries: list[str],
        what: str,
        doing: str,
        service: str | None = None,
    ) -> str | None:
        """Why this user may not do `doing` (None: they may). `entries` (the permission list
        `chatops.permissions.<what>`) are incident roles (their holder on this incident),
        people, teams, `anyone`, `responders` (any configured person) or `team` (the
        incident's service team). When none of the listed roles is held (and
        `team_when_unassigned`), the service team's people may. A chat user who is not a
        configured person may only with `anyone`."""
        rules = self.config.chatops.permissions
        if ANYONE in entries:
            return None
        if person is not None and RESPONDERS in entries:
            return None
        service = incident.service if incident is not None else service
        team = self.config.team_of(service)
        if person is not None and TEAM in entries and team and person in team.people:
            return None
        role_ids = [e for e in entries if self.config.role(e) is not None]
        holders: dict[str, str | None] = {}
        if role_ids and incident is not None:
            holders = {r["role"]: r["holder"] for r in self.roles().roles(incident.id)}
        for entry in entries:
            if entry in holders:
                if person is not None and holders[entry] == person:
                    return None
            elif (named := self.config.team(entry)) is not None:
                if person is not None and person in named.people:
                    return None
            elif person is not None and entry == person:
                return None
        unheld = role_ids and not any(holders.get(r) for r in role_ids)
        if rules.team_when_unassigned and unheld and team and person in team.people:
            return None
        who = []
        for entry in entries:
            role = self.config.role(entry)
            if role is not None:
                who.append(f"the {role.name} ({holders.get(entry) or 'nobody'})")
            elif entry == RESPONDERS:
                who.append("configured people")
            elif entry == TEAM:
                who.append(f"the {team.name if team else 'service'} team")
            else:
                who.append(entry)
        you = person or _mention(request)
        return (
            f"Sorry, {you} may not {doing}: only {_or(who) or 'nobody'} may "
            f"(chatops.permissions.{what}). Ask them, or take over the role."
        )

    def _incident(self, request: Request, args: str) -> tuple[Incident | None, str]:
        words = args.split(None, 1)
        if words:
            named = self._named(words[0])
            if named is not None:
                return named, words[1] if len(words) > 1 else ""
            if _REF.match(words[0]) or _INCIDENT_ID.match(words[0]):
                raise InvalidRequestError(f"There is no incident {words[0]}.")
        return self.incident_of_channel(request), args

    def _named(self, word: str) -> Incident | None:
        match = _REF.match(word)
        if match:
            return self.incidents.by_number(int(match.group(1)))
        if _INCIDENT_ID.match(word):
            return self.incidents.find(word)
        return None

    def incident_of_channel(self, request: Request) -> Incident | None:
        if not request.channel_id:
            return None
        found = self.channels.incident_of(request.provider, request.channel_id)
        if found:
            return self.incidents.find(found)
        # a channel made before the pointer existed: its name says INC-<n>; believe it only
        # if that incident's own channel step made this channel
        match = _CHANNEL_NUMBER.match(request.channel_name or "")
        if not match:
            return None
        incident = self.incidents.by_number(int(match.group(1)))
        if incident is None:
            return None
        step = self.steps.get(incident.id, "create_channel") or {}
        ref = (step.get("detail") or {}).get("ref") or {}
        if ref.get("id") != request.channel_id or ref.get("provider") != request.provider:
            return None
        self.channels.put(request.provider, request.channel_id, incident.id)
        return incident

    def _which_incident(self, usage: str, listed: bool = True) -> Reply:
        ask = f"Which incident? Run this in the incident's channel or name it: `{usage} INC-42 …`."
        if not listed:
            return Reply(ask)
        items, _ = self.incidents.search(OPEN_STATUSES, limit=LIST_OPEN)
        if not items:
            return Reply(
                f"Which incident? Run this in the incident's channel or name it: `{usage} INC-42 …`. "
                "There are no open incidents."
            )
        return Reply(
            f"Which incident? Run this in the incident's channel or name it: `{usage} INC-42 …`. "
            "Open incidents:",
            [f"{i.ref} {i.title} ({i.severity}, {i.status.value})" for i in items],
        )


def _or(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def _state_of(incident: Incident) -> dict[str, str]:
    return {"status": incident.status.value, "severity": incident.severity}


def _version(service: StatusPageService, page: str, record_id: str | None) -> int | None:
    if not record_id:
        return None
    record = service.store.get(page, record_id)
    return record.version if record else None


def _mention(request: Request) -> str:
    return (
        f"<@{request.user_id}>"
        if request.provider == "slack"
        else (request.user_name or request.user_id)
    )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def incident_actions(config: TocsinConfig, incident: Incident) -> tuple[Action, ...]:
    """The buttons on the incident summary and on pages: Acknowledge, Escalate, Set severity,
    Resolve (a resolved incident gets none)."""
    if incident.status is Status.RESOLVED:
        return ()
    actions = []
    if incident.status is Status.TRIGGERED:
        actions.append(Action("Acknowledge", ACKNOWLEDGE, incident.id, style="primary"))
    actions.append(Action("Escalate", ESCALATE, incident.id))
    actions.append(
        Action(
            "Set severity",
            SET_SEVERITY,
            incident.id,
            options=tuple(
                (
                    f"{s.name}" + (f" — {s.description}" if s.description else ""),
                    f"{incident.id} {s.name}",
                )
                for s in config.severities
            ),
        )
    )
    actions.append(
        Action(
            "Resolve",
            RESOLVE,
            incident.id,
            style="danger",
            confirm=f"Resolve {incident.ref}? Paging stops and its alerts are released.",
        )
    )
    return tuple(actions)


def _built(factory: Callable[[], T] | None, what: str) -> T:
    assert factory is not None, f"ChatOps was built without {what}"
    return factory()

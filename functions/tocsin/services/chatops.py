"""Chat-ops: the `/incident` commands and their buttons, independent of the chat vendor.

A command arrives already verified and acknowledged (handlers/chatops.py); this module finds
the incident it is about, checks who may do it, and returns what to answer as plain data
(`Reply`, `Preview`, `Published`, `Cancelled`) that the vendor's renderer turns into a message
(integrations/slack_chatops.py for Slack).

Which incident: a command typed in an incident channel is about that channel's incident (the
`CHANNEL#…` pointer the response workflow writes when it creates the channel; for channels
made before pointers existed, the `inc-42-…` name leads to INC-42, accepted only if that
incident's channel step made this very channel). Anywhere, a first argument `INC-42` (or an
incident id) names the incident.

Commands: `COMMANDS` lists exactly those that work; `help` prints them.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tocsin.dal.chatops import ChannelDirectory, DraftStore
from tocsin.domain.chatops import ANYONE
from tocsin.domain.config import TocsinConfig
from tocsin.domain.errors import InvalidRequestError
from tocsin.domain.incidents import OPEN_STATUSES, Incident
from tocsin.domain.statuspage import IncidentStatus

if TYPE_CHECKING:
    from tocsin.dal.incidents import IncidentRepository
    from tocsin.dal.steps import StepStore
    from tocsin.services.roles import RoleService
    from tocsin.services.statuspage import Draft, StatusPageService

#: the slash command's name (the Slack app defines it; docs/chatops.md)
SLASH = "/incident"
#: subcommand -> (arguments, what it does). Only commands that work are listed here.
COMMANDS: dict[str, tuple[str, str]] = {
    "statuspage": (
        "[INC-42] [investigating|identified|monitoring|resolved] [text]",
        "preview the incident's status page update (the template's wording unless you give "
        "text), then Publish or Cancel",
    ),
    "help": ("", "this list"),
}
#: the ids of the buttons and selects chat-ops answers (vendor-neutral: Slack's action_id,
#: Teams' Action.Submit data `action`); `ChatOps.act` dispatches them
PUBLISH = "tocsin.statuspage.publish"
CANCEL = "tocsin.statuspage.cancel"
ACTIONS = frozenset({PUBLISH, CANCEL})
STATUS_WORDS = {s.value for s in IncidentStatus if s is not IncidentStatus.POSTMORTEM}
_REF = re.compile(r"^INC-(\d{1,9})$", re.IGNORECASE)
_INCIDENT_ID = re.compile(r"^inc-[0-9a-z]{26}$")
_CHANNEL_NUMBER = re.compile(r"^[a-z][a-z0-9]*-(\d{1,9})(?:-|$)")
#: incidents listed when a command does not say which one it is about
LIST_OPEN = 10


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


@dataclass(frozen=True)
class Reply:
    """A plain answer, seen only by the person who asked."""

    text: str
    lines: list[str] = field(default_factory=list)
    #: replace the message the button was on (interactions)
    replace: bool = False


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


Answer = Reply | Preview | Published | Cancelled


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
    ) -> None:
        self.config = config
        self.incidents = incidents
        self.steps = steps
        self.channels = channels
        self.drafts = drafts
        self.status_pages = status_pages
        self.roles = roles

    # --- commands ---------------------------------------------------------------------------
    def command(self, request: Request) -> Answer:
        words = request.text.strip().split(None, 1)
        name = words[0].lower() if words else "help"
        rest = words[1] if len(words) > 1 else ""
        if name == "statuspage":
            return self.statuspage(request, rest)
        if name == "help":
            return help_reply()
        return help_reply(f"`{SLASH} {name[:40]}` is not a command I know. What I can do:")

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
        denied = self.denied(incident, person, request.user_id)
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
        ACTIONS, `value` what the control carried."""
        if action_id == PUBLISH:
            return self.publish(request, value)
        if action_id == CANCEL:
            return self.cancel(request, value)
        return Reply("I do not know that button.")

    def publish(self, request: Request, draft_id: str) -> Answer:
        draft = self.drafts.get(draft_id)
        if draft is None:
            return Reply("This preview has expired: run the command again.", replace=True)
        incident = self.incidents.get(str(draft["incident_id"]))
        person = self.person_of(request)
        denied = self.denied(incident, person, request.user_id)
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

    def denied(self, incident: Incident, person: str | None, user_id: str) -> str | None:
        """Why this user may not publish the incident to status pages (None: they may).
        `chatops.permissions.statuspage` lists incident roles (their holder on this incident),
        people, teams or `anyone`; when none of the listed roles is held (and
        `team_when_unassigned`), the people of the incident's service team may. A chat user
        who is not a configured person may only with `anyone`."""
        rules = self.config.chatops.permissions
        entries = rules.statuspage
        if ANYONE in entries:
            return None
        role_ids = [e for e in entries if self.config.role(e) is not None]
        holders: dict[str, str | None] = {}
        if role_ids:
            holders = {r["role"]: r["holder"] for r in self.roles().roles(incident.id)}
        for entry in entries:
            if entry in holders:
                if person is not None and holders[entry] == person:
                    return None
            elif (team := self.config.team(entry)) is not None:
                if person is not None and person in team.people:
                    return None
            elif person is not None and entry == person:
                return None
        unheld = role_ids and not any(holders.get(r) for r in role_ids)
        team = self.config.team_of(incident.service)
        if rules.team_when_unassigned and unheld and team and person in team.people:
            return None
        who = []
        for entry in entries:
            role = self.config.role(entry)
            if role is not None:
                who.append(f"the {role.name} ({holders.get(entry) or 'nobody'})")
            else:
                who.append(entry)
        you = person or f"<@{user_id}>"
        return (
            f"Sorry, {you} may not publish {incident.ref} to the status page: only "
            f"{_or(who)} may (chatops.permissions.statuspage). Ask them, or take over the role."
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

"""Jira Cloud (REST API v3) as the ticketing port.

Basic auth with an Atlassian account email and API token. Each ticket carries a label derived
from the incident key (`tocsin-<key>`), so `find_ticket` finds it again with a JQL search
(`POST /rest/api/3/search/jql`). Rich text (description, comments) is sent as Atlassian
Document Format. Remote links use a `globalId` derived from the URL: Jira updates the link
with that globalId instead of adding a second one.

Whether a ticket is finished is read from its status's category (`statusCategory.key` is
`done`), never from the status's name, which each workflow chooses ("Done", "Closed",
"Shipped"); completing one takes the first transition the workflow offers into that category.
`parse_webhook` reads Jira's issue webhooks (`jira:issue_updated`, `jira:issue_deleted`).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tocsin.integrations.http import JsonHttp, Response, iso_day
from tocsin.integrations.ports import PermanentIntegrationError, TicketRef

PROVIDER = "jira"
PORT = "ticketing"
SECRET_KEYS: tuple[str, ...] = ("email", "api_token")

#: Jira's limits: summary 255 characters; text fields (description, comment) 32,767
SUMMARY_MAX = 255
TEXT_MAX = 32_000
LABEL_MAX = 255
GLOBAL_ID_MAX = 255
LABEL_PREFIX = "tocsin-"
_URL = re.compile(r"https?://[^\s<>\"]+")
#: fields a project's create screen may lack: Jira then answers 400 with `errors.<field>`, and
#: the issue is created without them (a ticket without priority or due date beats none)
SCREEN_OPTIONAL = ("priority", "duedate")
#: the status category of finished issues (`new` and `indeterminate` are the others)
DONE = "done"
#: Jira's webhook events this module reads, and what `IssueChange.event` calls them
WEBHOOK_EVENTS = {"jira:issue_updated": "updated", "jira:issue_deleted": "deleted"}


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: the site, e.g. https://acme.atlassian.net (scoped API tokens need
    #: https://api.atlassian.com/ex/jira/<cloudId>; then set `site_url` for browse links)
    base_url: str
    project_key: str
    issue_type: str = "Task"
    #: Tocsin severity -> Jira priority name; a severity not listed sets no priority
    priorities: dict[str, str] = Field(
        default_factory=lambda: {"SEV1": "Highest", "SEV2": "High", "SEV3": "Medium"}
    )
    #: extra labels on every ticket (Jira labels cannot contain spaces)
    labels: list[str] = Field(default_factory=lambda: ["incident"])
    #: where people open issues (`<site_url>/browse/OPS-1`); defaults to base_url
    site_url: str | None = None

    @field_validator("labels")
    @classmethod
    def _labels_without_spaces(cls, value: list[str]) -> list[str]:
        for label in value:
            if not label or any(ch.isspace() for ch in label) or len(label) > LABEL_MAX:
                raise ValueError(
                    f"invalid Jira label {label!r}: non-empty, no spaces, at most 255 characters"
                )
        return value

    @field_validator("base_url", "project_key", "issue_type")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()


def key_label(key: str) -> str:
    """The label that marks the ticket for `key`: `tocsin-<key>`, with anything but letters,
    digits, `-` and `_` replaced (and a short hash added then, so two keys never share one)."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "-", key)
    label = LABEL_PREFIX + safe
    if safe != key or len(label) > LABEL_MAX:
        digest = hashlib.sha256(key.encode()).hexdigest()[:12]
        label = f"{label[: LABEL_MAX - len(digest) - 1]}-{digest}"
    return label


def link_global_id(url: str) -> str:
    """A stable remote-link globalId for `url` (at most 255 characters)."""
    return "tocsin-url=" + hashlib.sha256(url.encode()).hexdigest()


def _jql_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _inline(line: str) -> list[dict[str, Any]]:
    """Text nodes for one line; URLs get a link mark."""
    nodes: list[dict[str, Any]] = []
    pos = 0
    for match in _URL.finditer(line):
        url = match.group(0).rstrip(".,;:!?)]}'")  # sentence punctuation is not part of it
        if match.start() > pos:
            nodes.append({"type": "text", "text": line[pos : match.start()]})
        nodes.append(
            {"type": "text", "text": url, "marks": [{"type": "link", "attrs": {"href": url}}]}
        )
        pos = match.start() + len(url)
    if pos < len(line):
        nodes.append({"type": "text", "text": line[pos:]})
    return nodes


def adf(text: str) -> dict[str, Any]:
    """Plain text as an ADF document: blank lines separate paragraphs, single newlines are
    hard breaks. Empty text gives a document without content."""
    if len(text) > TEXT_MAX:
        text = text[: TEXT_MAX - 1] + "…"
    paragraphs: list[dict[str, Any]] = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        content: list[dict[str, Any]] = []
        for line in (ln.rstrip() for ln in block.split("\n")):
            if not line.strip():
                continue
            if content:
                content.append({"type": "hardBreak"})
            content.extend(_inline(line))
        if content:
            paragraphs.append({"type": "paragraph", "content": content})
    return {"type": "doc", "version": 1, "content": paragraphs}


def _summary(text: str) -> str:
    line = " ".join(text.split()) or "Incident"
    return line if len(line) <= SUMMARY_MAX else line[: SUMMARY_MAX - 1] + "…"


def _error_text(body: Any) -> str:
    if isinstance(body, dict):
        parts = [str(m) for m in body.get("errorMessages") or []]
        parts += [f"{k}: {v}" for k, v in (body.get("errors") or {}).items()]
        if parts:
            return "; ".join(parts)[:300]
    return str(body)[:300]


class JiraTicketing:
    provider = PROVIDER

    def __init__(self, options: Options, email: str, api_token: str, timeout: float = 10.0) -> None:
        self.options = options
        self.site_url = (options.site_url or options.base_url).rstrip("/")
        basic = base64.b64encode(f"{email}:{api_token}".encode()).decode()
        self._http = JsonHttp(
            PROVIDER,
            options.base_url,
            auth=lambda: {"Authorization": f"Basic {basic}"},
            timeout=timeout,
        )

    def _ref(self, issue_id: Any, key: str) -> TicketRef:
        return TicketRef(PROVIDER, str(issue_id), key, f"{self.site_url}/browse/{key}")

    # --- port ---------------------------------------------------------------------------------
    def find_ticket(self, key: str) -> TicketRef | None:
        jql = (
            f"project = {_jql_string(self.options.project_key)} "
            f"AND labels = {_jql_string(key_label(key))} ORDER BY created ASC"
        )
        body = {"jql": jql, "fields": ["summary"], "maxResults": 1}
        answer = self._http.post("/rest/api/3/search/jql", body).body
        issues = answer.get("issues") if isinstance(answer, dict) else None
        if not issues:
            return None
        issue = issues[0]
        return self._ref(issue["id"], issue["key"])

    def create_ticket(
        self,
        key: str,
        summary: str,
        description: str,
        priority: str | None,
        due: date | None = None,
    ) -> TicketRef:
        existing = self.find_ticket(key)
        if existing:
            return existing
        labels = [*dict.fromkeys([*self.options.labels, key_label(key)])]
        fields: dict[str, Any] = {
            "project": {"key": self.options.project_key},
            "issuetype": {"name": self.options.issue_type},
            "summary": _summary(summary),
            "labels": labels,
        }
        if description.strip():
            fields["description"] = adf(description)
        priority_name = self.options.priorities.get(priority) if priority else None
        if priority_name:
            fields["priority"] = {"name": priority_name}
        if due is not None:
            fields["duedate"] = iso_day(due)
        resp = self._create_issue(fields)
        if resp.status == 400:
            raise PermanentIntegrationError(
                PROVIDER, f"POST /rest/api/3/issue -> 400: {_error_text(resp.body)}", 400
            )
        created = resp.body if isinstance(resp.body, dict) else {}
        if not created.get("key") or not created.get("id"):
            raise PermanentIntegrationError(
                PROVIDER, "POST /rest/api/3/issue: answer without id/key"
            )
        return self._ref(created["id"], created["key"])

    def _create_issue(self, fields: dict[str, Any]) -> Response:
        """POST the issue; when Jira refuses fields of SCREEN_OPTIONAL because the project's
        create screen lacks them (400 with `errors.<field>`), post it again without those. A
        400 that remains is returned."""
        while True:
            resp = self._http.post("/rest/api/3/issue", {"fields": fields}, ok=(400,))
            if resp.status != 400:
                return resp
            refused = [n for n in SCREEN_OPTIONAL if n in fields and _field_error(resp.body, n)]
            if not refused:
                return resp
            for name in refused:  # each round drops at least one: at most one retry per field
                del fields[name]

    def add_link(self, ticket: TicketRef, title: str, url: str) -> None:
        body = {
            "globalId": link_global_id(url),
            "object": {"url": url, "title": (title or url)[:255]},
        }
        self._http.post(f"/rest/api/3/issue/{ticket.key}/remotelink", body)

    def add_comment(self, ticket: TicketRef, text: str) -> None:
        doc = adf(text)
        if not doc["content"]:
            return  # Jira refuses empty comments; nothing to say
        self._http.post(f"/rest/api/3/issue/{ticket.key}/comment", {"body": doc})

    def ticket_done(self, ticket: TicketRef) -> bool:
        path = f"/rest/api/3/issue/{ticket.key}"
        issue = _object(self._http.get(path, {"fields": "status"}).body)
        category = _category(_object(issue.get("fields")).get("status"))
        if category is None:
            raise PermanentIntegrationError(
                PROVIDER, f"GET {path}: answer without fields.status.statusCategory.key"
            )
        return category == DONE

    def complete_ticket(self, ticket: TicketRef) -> bool:
        if self.ticket_done(ticket):
            return False
        path = f"/rest/api/3/issue/{ticket.key}/transitions"
        offered = _object(self._http.get(path).body).get("transitions")
        to_done = next(
            (
                t
                for t in (offered if isinstance(offered, list) else [])
                if isinstance(t, dict)
                and t.get("id")
                and t.get("isAvailable") is not False
                and _category(t.get("to")) == DONE
            ),
            None,
        )
        if to_done is None:
            raise PermanentIntegrationError(
                PROVIDER,
                f"{ticket.key}: its workflow offers no transition to a done status from the "
                "issue's current status; close it in Jira by hand, or add such a transition",
            )
        self._http.post(path, {"transition": {"id": str(to_done["id"])}})
        return True


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _category(status: Any) -> str | None:
    """A status object's category key (`new`, `indeterminate`, `done`), or None."""
    key = _object(_object(status).get("statusCategory")).get("key")
    return key if isinstance(key, str) and key else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _field_error(body: Any, field: str) -> bool:
    return isinstance(body, dict) and field in (body.get("errors") or {})


# --- webhooks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssueChange:
    """What a Jira issue webhook says happened to an issue."""

    issue_id: str
    key: str
    #: the issue's status is in the done category; None when the payload does not say (ask
    #: `ticket_done` then) and for a deleted issue
    done: bool | None
    #: the status's name in this workflow ("Done", "Closed", ...), when the payload carries it
    status: str | None
    #: who did it: their display name, else their account id; None when the payload has neither
    actor: str | None
    #: "updated" | "deleted" (WEBHOOK_EVENTS)
    event: str
    #: the event moved the issue to another status (its changelog has a `status` item);
    #: comments and field edits are `jira:issue_updated` too, without one
    status_changed: bool = False


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def parse_webhook(body: Any) -> IssueChange | None:
    """The issue change in a Jira webhook's body, or None for anything else: other events,
    bodies that are not Jira issue events, malformed ones (never an exception)."""
    if not isinstance(body, dict):
        return None
    name = body.get("webhookEvent")
    event = WEBHOOK_EVENTS.get(name) if isinstance(name, str) else None
    issue = body.get("issue")
    if event is None or not isinstance(issue, dict):
        return None
    key, issue_id = _text(issue.get("key")), issue.get("id")
    if isinstance(issue_id, int) and not isinstance(issue_id, bool):
        issue_id = str(issue_id)
    if key is None or _text(issue_id) is None:
        return None
    status = _object(_object(issue.get("fields")).get("status"))
    category = _category(status)
    user = _object(body.get("user"))
    return IssueChange(
        issue_id=str(issue_id),
        key=key,
        done=None if event == "deleted" or category is None else category == DONE,
        status=_text(status.get("name")),
        actor=_text(user.get("displayName")) or _text(user.get("accountId")),
        event=event,
        status_changed=any(
            isinstance(item, dict) and item.get("field") == "status"
            for item in _list(_object(body.get("changelog")).get("items"))
        ),
    )


def build(options: Options, secret: Mapping[str, str]) -> JiraTicketing:
    for name in SECRET_KEYS:
        if not secret.get(name):
            raise PermanentIntegrationError(PROVIDER, f"secret lacks {name!r}")
    return JiraTicketing(options, secret["email"], secret["api_token"])

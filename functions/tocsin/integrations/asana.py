"""Asana (REST API 1.0) as the ticketing port.

Bearer auth with a personal access token or a service account token. Requests and answers
use Asana's `{"data": ...}` envelope. A ticket is a task in one project; it is marked with a
line `[tocsin:<key>]` at the end of its notes, and `find_ticket` lists the project's tasks
(`GET /projects/{gid}/tasks`, 100 a page) to find that line again. Asana's `external` field
would be cheaper but needs an OAuth app; the search API needs a premium plan and is eventually
consistent, so neither is used. Asana has no remote links and no built-in priority: links are
comments (stories), idempotent on the URL, and the severity goes in front of the task name.
A due date is the task's `due_on`; a ticket is done when its task is `completed`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from tocsin.integrations.http import JsonHttp, iso_day
from tocsin.integrations.ports import PermanentIntegrationError, TicketRef

PROVIDER = "asana"
PORT = "ticketing"
SECRET_KEYS: tuple[str, ...] = ("access_token",)

PAGE = 100  # Asana's largest page


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = "https://app.asana.com/api/1.0"
    #: the project that holds incident tasks (the number in the project's URL)
    project_gid: str
    #: set only if you want the task's workspace stated explicitly (the project implies it)
    workspace_gid: str | None = None

    @field_validator("project_gid")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def marker(key: str) -> str:
    """The line in a task's notes that ties it to `key`."""
    return f"[tocsin:{key}]"


def _has_marker(notes: Any, key: str) -> bool:
    if not isinstance(notes, str):
        return False
    want = marker(key)
    return any(line.strip() == want for line in notes.splitlines())


def task_name(summary: str, priority: str | None) -> str:
    name = " ".join(summary.split()) or "Incident"
    return f"[{priority}] {name}" if priority else name


def link_text(title: str, url: str) -> str:
    return f"🔗 {title}: {url}" if title and title != url else f"🔗 {url}"


class AsanaTicketing:
    provider = PROVIDER

    def __init__(self, options: Options, access_token: str, timeout: float = 10.0) -> None:
        self.options = options
        self._http = JsonHttp(
            PROVIDER,
            options.base_url,
            auth=lambda: {"Authorization": f"Bearer {access_token}"},
            timeout=timeout,
        )

    def _pages(self, path: str, opt_fields: str) -> Iterator[dict[str, Any]]:
        """Every item of a paginated list (follows next_page.offset)."""
        offset: str | None = None
        while True:
            query = {"opt_fields": opt_fields, "limit": PAGE, "offset": offset}
            body = _object(self._http.get(path, query).body)
            yield from body.get("data") or []
            offset = _object(body.get("next_page")).get("offset")
            if not offset:
                return

    def _ref(self, task: Mapping[str, Any]) -> TicketRef:
        gid = str(task["gid"])
        url = task.get("permalink_url")
        if not url:
            answer = _object(self._http.get(f"/tasks/{gid}", {"opt_fields": "permalink_url"}).body)
            url = _object(answer.get("data")).get("permalink_url")
        if not url:
            raise PermanentIntegrationError(PROVIDER, f"task {gid} has no permalink_url")
        return TicketRef(PROVIDER, gid, gid, str(url))

    # --- port ---------------------------------------------------------------------------------
    def find_ticket(self, key: str) -> TicketRef | None:
        path = f"/projects/{self.options.project_gid}/tasks"
        for task in self._pages(path, "name,notes,permalink_url"):
            if _has_marker(task.get("notes"), key):
                return self._ref(task)
        return None

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
        notes = f"{description.rstrip()}\n\n{marker(key)}" if description.strip() else marker(key)
        data: dict[str, Any] = {
            "name": task_name(summary, priority),
            "notes": notes,
            "projects": [self.options.project_gid],
        }
        if due is not None:
            data["due_on"] = iso_day(due)
        if self.options.workspace_gid:
            data["workspace"] = self.options.workspace_gid
        resp = self._http.request(
            "POST", "/tasks", {"data": data}, query={"opt_fields": "name,permalink_url"}
        )
        task = _object(_object(resp.body).get("data"))
        if not task.get("gid"):
            raise PermanentIntegrationError(PROVIDER, "POST /tasks: answer without a task gid")
        return self._ref(task)

    def add_link(self, ticket: TicketRef, title: str, url: str) -> None:
        for story in self._pages(f"/tasks/{ticket.id}/stories", "text,resource_subtype"):
            if url in str(story.get("text") or "").split():
                return
        self._comment(ticket, link_text(title, url))

    def add_comment(self, ticket: TicketRef, text: str) -> None:
        if text.strip():
            self._comment(ticket, text)

    def _comment(self, ticket: TicketRef, text: str) -> None:
        self._http.post(f"/tasks/{ticket.id}/stories", {"data": {"text": text}})

    def ticket_done(self, ticket: TicketRef) -> bool:
        path = f"/tasks/{ticket.id}"
        task = _object(_object(self._http.get(path, {"opt_fields": "completed"}).body).get("data"))
        completed = task.get("completed")
        if not isinstance(completed, bool):
            raise PermanentIntegrationError(PROVIDER, f"GET {path}: answer without completed")
        return completed

    def complete_ticket(self, ticket: TicketRef) -> bool:
        if self.ticket_done(ticket):
            return False
        self._http.request(
            "PUT",
            f"/tasks/{ticket.id}",
            {"data": {"completed": True}},
            query={"opt_fields": "completed"},
        )
        return True


def build(options: Options, secret: Mapping[str, str]) -> AsanaTicketing:
    for name in SECRET_KEYS:
        if not secret.get(name):
            raise PermanentIntegrationError(PROVIDER, f"secret lacks {name!r}")
    return AsanaTicketing(options, secret["access_token"])

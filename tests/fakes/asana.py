"""A fake Asana REST API (1.0): tasks in a project (create, get, update), a project's task
list, stories (comments).

Requests are checked against the published format (https://developers.asana.com/reference):
Bearer auth, the `{"data": {...}}` envelope on writes, fields that exist on a task / story,
`due_on` as YYYY-MM-DD (and not with `due_at`), `completed` a boolean, `limit` between 1 and
100 with opaque `offset` tokens and `next_page` on lists, `opt_fields` selecting what is
returned (gid always). No authentic Asana payload capture exists in
tests/fixtures/vendor (see SOURCES.md), so answers follow the documented schemas. Errors use
Asana's `{"errors": [{"message": ...}]}` shape.
"""

from __future__ import annotations

import base64
import itertools
from datetime import UTC, datetime
from typing import Any

from tests.fakes.server import (
    FakeServer,
    FormatViolation,
    Reply,
    Request,
    is_day,
    require,
    route,
)

PREFIX = "/api/1.0"

#: writable task fields (TaskRequest in Asana's OpenAPI spec)
TASK_REQUEST_FIELDS = {
    "name", "resource_subtype", "approval_status", "assignee_status", "completed", "due_at",
    "due_on", "external", "html_notes", "liked", "notes", "start_at", "start_on", "assignee",
    "assignee_section", "custom_fields", "followers", "parent", "projects", "tags", "workspace",
    "custom_type", "custom_type_status_option",
}  # fmt: skip
#: writable story fields (StoryRequest)
STORY_REQUEST_FIELDS = {"text", "html_text", "is_pinned", "sticker_name"}


def _error(status: int, message: str) -> Reply:
    return status, {"errors": [{"message": message}]}


def _check_task_fields(data: dict[str, Any]) -> None:
    """The task fields the adapter writes, on create and update."""
    if data.get("due_on") is not None:
        require(is_day(data["due_on"]), "data.due_on must be a date as YYYY-MM-DD")
        require(data.get("due_at") is None, "give due_on or due_at, not both")
    if "completed" in data:
        require(isinstance(data["completed"], bool), "data.completed must be a boolean")
    if "name" in data:
        require(isinstance(data["name"], str), "data.name must be a string")
    require(not ("notes" in data and "html_notes" in data), "give notes or html_notes, not both")
    require(isinstance(data.get("notes", ""), str), "data.notes must be a string")


class FakeAsana(FakeServer):
    def __init__(
        self,
        access_token: str = "2/1200000000000000/1200000000000009:asana-s3cr3t",
        workspace_gid: str = "1200000000000001",
        project_gid: str = "1200000000000002",
    ) -> None:
        super().__init__()
        self.access_token = access_token
        self.workspace_gid = workspace_gid
        self.project_gid = project_gid
        #: Asana may answer fewer items than `limit`; lower this to force several pages
        self.max_page = 100
        #: leave permalink_url out of create answers (the adapter then reads the task)
        self.omit_permalink_on_create = False
        self.tasks: dict[str, dict[str, Any]] = {}
        self.stories: dict[str, list[dict[str, Any]]] = {}
        self._gids = itertools.count(1200000000001000)

    # --- helpers ------------------------------------------------------------------------------
    def _auth(self, request: Request) -> Reply | None:
        if request.headers.get("authorization") == f"Bearer {self.access_token}":
            return None
        with self._lock:
            self.violations.append(
                f"{request.method} {request.path}: missing or wrong Bearer token"
            )
        return _error(401, "Not Authorized")

    def _data(self, request: Request, allowed: set[str]) -> dict[str, Any]:
        require(
            request.headers.get("content-type", "").startswith("application/json"),
            "Content-Type must be application/json",
        )
        try:
            body = request.json
        except ValueError:
            raise FormatViolation("body is not JSON") from None
        require(
            isinstance(body, dict) and set(body) == {"data"},
            'writes need the {"data": {...}} envelope',
        )
        data = body["data"]
        require(isinstance(data, dict), "data must be an object")
        require(set(data) <= allowed, f"unknown fields {sorted(set(data) - allowed)}")
        return data

    def _gid(self) -> str:
        return str(next(self._gids))

    @staticmethod
    def _opt_fields(request: Request) -> list[str] | None:
        raw = request.arg("opt_fields")
        return [f for f in raw.split(",") if f] if raw else None

    @staticmethod
    def _select(
        obj: dict[str, Any], opt_fields: list[str] | None, compact: tuple[str, ...]
    ) -> dict[str, Any]:
        fields = opt_fields if opt_fields is not None else list(compact)
        return {"gid": obj["gid"], **{f: obj.get(f) for f in fields if f != "gid"}}

    def _page(
        self, request: Request, items: list[dict[str, Any]], compact: tuple[str, ...]
    ) -> Reply:
        limit_raw = request.arg("limit")
        offset = request.arg("offset")
        if limit_raw is not None:
            require(
                limit_raw.isdigit() and 1 <= int(limit_raw) <= 100,
                "limit must be between 1 and 100",
            )
        limit = min(int(limit_raw or 100), self.max_page)
        start = 0
        if offset:
            require(limit_raw is not None, "offset is only valid with limit")
            try:
                start = int(base64.urlsafe_b64decode(offset.encode()).decode().removeprefix("o:"))
            except ValueError:
                return _error(400, "offset: Your pagination token is invalid.")
        opt_fields = self._opt_fields(request)
        page = [self._select(item, opt_fields, compact) for item in items[start : start + limit]]
        next_page = None
        if start + limit < len(items):
            token = base64.urlsafe_b64encode(f"o:{start + limit}".encode()).decode()
            path = f"{request.path.removeprefix(PREFIX)}?limit={limit_raw}&offset={token}"
            next_page = {"offset": token, "path": path, "uri": f"{self.url}{PREFIX}{path}"}
        return 200, {"data": page, "next_page": next_page}

    def project_tasks(self) -> list[dict[str, Any]]:
        return [t for t in self.tasks.values() if self.project_gid in t["projects"]]

    def comments(self, task_gid: str) -> list[str]:
        return [s["text"] for s in self.stories.get(task_gid, []) if s["type"] == "comment"]

    # --- routes -------------------------------------------------------------------------------
    @route("POST", PREFIX + r"/tasks")
    def create_task(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        data = self._data(request, TASK_REQUEST_FIELDS)
        require(isinstance(data.get("name"), str), "data.name must be a string")
        _check_task_fields(data)
        projects = data.get("projects", [])
        require(
            isinstance(projects, list) and all(isinstance(p, str) for p in projects),
            "data.projects must be a list of gids",
        )
        require(projects or data.get("workspace") or data.get("parent"), "workspace: Missing input")
        if "workspace" in data and data["workspace"] != self.workspace_gid:
            return _error(404, f"workspace: Unknown object: {data['workspace']}")
        for project in projects:
            if project != self.project_gid:
                return _error(404, f"projects: Unknown object: {project}")
        gid = self._gid()
        task = {
            "gid": gid,
            "resource_type": "task",
            "resource_subtype": "default_task",
            "name": data["name"],
            "notes": data.get("notes", ""),
            "completed": data.get("completed", False),
            "completed_at": None,
            "due_on": data.get("due_on"),
            "due_at": None,
            "projects": list(projects),
            "workspace": {"gid": self.workspace_gid, "resource_type": "workspace"},
            "permalink_url": f"https://app.asana.com/0/{self.project_gid}/{gid}",
        }
        with self._lock:
            self.tasks[gid] = task
            self.stories[gid] = [
                {
                    "gid": self._gid(),
                    "resource_type": "story",
                    "type": "system",
                    "resource_subtype": "added_to_project",
                    "text": "added to Incidents",
                }
            ]
        answer = self._select(
            task, self._opt_fields(request), ("name", "resource_type", "resource_subtype")
        )
        if self.omit_permalink_on_create:
            answer.pop("permalink_url", None)
        return 201, {"data": answer}

    @route("GET", PREFIX + r"/tasks/(?P<task>\d+)")
    def get_task(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        assert request.match is not None
        task = self.tasks.get(request.match["task"])
        if task is None:
            return _error(404, f"task: Unknown object: {request.match['task']}")
        return 200, {"data": self._select(task, self._opt_fields(request), tuple(task))}

    @route("PUT", PREFIX + r"/tasks/(?P<task>\d+)")
    def update_task(self, request: Request) -> Reply:
        """Only the fields given change; the answer is the updated task."""
        if denied := self._auth(request):
            return denied
        assert request.match is not None
        data = self._data(request, TASK_REQUEST_FIELDS)
        _check_task_fields(data)
        task = self.tasks.get(request.match["task"])
        if task is None:
            return _error(404, f"task: Unknown object: {request.match['task']}")
        with self._lock:
            if data.get("completed") is True and not task["completed"]:
                task["completed_at"] = datetime.now(UTC).isoformat(timespec="milliseconds")
            elif data.get("completed") is False:
                task["completed_at"] = None
            task.update(data)
        return 200, {"data": self._select(task, self._opt_fields(request), tuple(task))}

    @route("GET", PREFIX + r"/projects/(?P<project>\d+)/tasks")
    def list_project_tasks(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        assert request.match is not None
        if request.match["project"] != self.project_gid:
            return _error(404, f"project: Unknown object: {request.match['project']}")
        return self._page(
            request, self.project_tasks(), ("name", "resource_type", "resource_subtype")
        )

    @route("GET", PREFIX + r"/tasks/(?P<task>\d+)/stories")
    def list_stories(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        assert request.match is not None
        if request.match["task"] not in self.tasks:
            return _error(404, f"task: Unknown object: {request.match['task']}")
        return self._page(
            request,
            self.stories[request.match["task"]],
            ("resource_type", "resource_subtype", "text", "type"),
        )

    @route("POST", PREFIX + r"/tasks/(?P<task>\d+)/stories")
    def create_story(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        assert request.match is not None
        data = self._data(request, STORY_REQUEST_FIELDS)
        require(
            isinstance(data.get("text") or data.get("html_text"), str),
            "data.text or data.html_text is required",
        )
        task_gid = request.match["task"]
        if task_gid not in self.tasks:
            return _error(404, f"task: Unknown object: {task_gid}")
        story = {
            "gid": self._gid(),
            "resource_type": "story",
            "type": "comment",
            "resource_subtype": "comment_added",
            "text": data.get("text") or data.get("html_text"),
        }
        with self._lock:
            self.stories[task_gid].append(story)
        return 201, {"data": story}

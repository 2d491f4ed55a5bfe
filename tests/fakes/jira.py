"""A fake Jira Cloud REST API v3: create issue, get issue, JQL search (search/jql), remote
links, comments, transitions.

Requests are checked against the published formats: Basic auth (email:API token), the create
request against the OpenAPI example's structure (tests/fixtures/vendor/jira), `duedate` as
YYYY-MM-DD, rich text as Atlassian Document Format, a transition by its id. Creates answer with
the OpenAPI 201 example's shape. State is kept, so idempotency is observable (issues, remote
links by globalId, comments, each issue's status). Issues move through a `Workflow` (Jira
Cloud's status categories: new, indeterminate, done); a test sets another one (statuses named
differently, no way to done) and lists fields the project's create screen lacks (`off_screen`:
Jira answers 400 with `errors.<field>` then).
"""

from __future__ import annotations

import base64
import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
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

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vendor" / "jira"


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


CREATE_REQUEST = load_fixture("rest_v3_create_issue_request_openapi_example.json")
CREATE_RESPONSE = load_fixture("rest_v3_create_issue_response_201_openapi_example.json")

NOT_ON_SCREEN = "Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
ISSUE_NOT_FOUND = {
    "errorMessages": ["Issue does not exist or you do not have permission to see it."],
    "errors": {},
}
_JQL = re.compile(
    r'project = "(?P<project>(?:[^"\\]|\\.)*)" AND labels = "(?P<label>(?:[^"\\]|\\.)*)"'
    r"(?: ORDER BY created ASC)?"
)
#: Jira Cloud's status categories (GET /rest/api/3/statuscategory), by key
STATUS_CATEGORIES: dict[str, dict[str, Any]] = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {
        "id": 4,
        "key": "indeterminate",
        "colorName": "yellow",
        "name": "In Progress",
    },
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}
#: query parameters of GET /rest/api/3/issue/{issueIdOrKey}
GET_ISSUE_PARAMS = {"fields", "fieldsByKeys", "expand", "properties", "updateHistory", "failFast"}
#: query parameters of GET /rest/api/3/issue/{issueIdOrKey}/transitions
GET_TRANSITIONS_PARAMS = {
    "expand", "transitionId", "skipRemoteOnlyCondition", "includeUnavailableTransitions",
    "sortByOpsBarAndStatus",
}  # fmt: skip
#: top-level keys of POST /rest/api/3/issue/{issueIdOrKey}/transitions
TRANSITION_REQUEST_KEYS = {"transition", "fields", "update", "historyMetadata", "properties"}
_FIELD_NAME = re.compile(r"\*all|\*navigable|-?[A-Za-z0-9_]+")


@dataclass(frozen=True)
class Transition:
    """A workflow transition into the status `to`, offered from the statuses in `sources`, or
    from every other status when there are none (a global transition)."""

    id: str
    name: str
    to: str
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Workflow:
    #: status name -> (status id, status category key)
    statuses: Mapping[str, tuple[str, str]]
    transitions: tuple[Transition, ...]
    initial: str


#: a team-managed project's workflow: every status reachable from any other
SIMPLIFIED_WORKFLOW = Workflow(
    statuses={
        "To Do": ("10000", "new"),
        "In Progress": ("10001", "indeterminate"),
        "Done": ("10002", "done"),
    },
    transitions=(
        Transition("11", "To Do", "To Do"),
        Transition("21", "In Progress", "In Progress"),
        Transition("31", "Done", "Done"),
    ),
    initial="To Do",
)


_INLINE_NODES = {"text", "hardBreak", "mention", "emoji", "inlineCard", "date", "status"}
_MARKS = {"link", "strong", "em", "code", "strike", "underline", "subsup", "textColor"}


def check_adf(doc: Any, where: str) -> None:
    """The parts of the ADF schema the adapter uses: doc v1 > paragraph > text/hardBreak."""
    require(
        isinstance(doc, dict), f"{where} must be an ADF document object, not {type(doc).__name__}"
    )
    require(
        doc.get("type") == "doc" and doc.get("version") == 1,
        f"{where}: ADF needs type doc, version 1",
    )
    content = doc.get("content")
    require(isinstance(content, list), f"{where}: ADF doc needs a content list")
    for block in content:
        require(
            isinstance(block, dict) and block.get("type") == "paragraph",
            f"{where}: unexpected block {block!r}",
        )
        for node in block.get("content", []):
            require(
                isinstance(node, dict) and node.get("type") in _INLINE_NODES,
                f"{where}: bad inline {node!r}",
            )
            if node["type"] == "text":
                require(
                    isinstance(node.get("text"), str) and node["text"] != "",
                    f"{where}: text nodes need non-empty text",
                )
                for mark in node.get("marks", []):
                    require(mark.get("type") in _MARKS, f"{where}: unknown mark {mark!r}")
                    if mark["type"] == "link":
                        require(
                            isinstance(mark.get("attrs", {}).get("href"), str),
                            f"{where}: link mark needs attrs.href",
                        )


def adf_text(doc: dict[str, Any]) -> str:
    """The plain text of an ADF doc (paragraphs joined by blank lines)."""
    paragraphs = []
    for block in doc.get("content", []):
        parts = [
            n.get("text", "") if n["type"] == "text" else "\n" for n in block.get("content", [])
        ]
        paragraphs.append("".join(parts))
    return "\n\n".join(paragraphs)


def _ref_object(value: Any, where: str) -> None:
    require(
        isinstance(value, dict) and ({"id", "key", "name"} & value.keys()),
        f"{where} must be an object with id, key or name",
    )


class FakeJira(FakeServer):
    def __init__(
        self,
        email: str = "ops-bot@example.com",
        api_token: str = "jira-token-s3cr3t",
        project_key: str = "OPS",
    ) -> None:
        super().__init__()
        self.email = email
        self.api_token = api_token
        self.project_key = project_key
        #: fields the project's create screen lacks (Jira answers 400 errors.<field>)
        self.off_screen: set[str] = set()
        #: the workflow new issues start in; a test may set another before creating issues
        self.workflow = SIMPLIFIED_WORKFLOW
        #: when set, creates answer 400 with this body (a validation error Jira would give)
        self.reject_create: dict[str, Any] | None = None
        self.issues: dict[str, dict[str, Any]] = {}  # key -> {"id", "key", "fields"}
        self.remote_links: dict[
            str, dict[str, dict[str, Any]]
        ] = {}  # issue key -> globalId -> link
        self.comments: dict[str, list[dict[str, Any]]] = {}
        self._next_id = 10000
        self._next_link = 100

    # --- helpers ------------------------------------------------------------------------------
    def _auth(self, request: Request) -> Reply | None:
        expected = "Basic " + base64.b64encode(f"{self.email}:{self.api_token}".encode()).decode()
        if request.headers.get("authorization") == expected:
            return None
        with self._lock:
            self.violations.append(f"{request.method} {request.path}: missing or wrong Basic auth")
        # Jira Cloud answers unauthenticated calls with 401 and a plain message
        return (
            401,
            b"Client must be authenticated to access this resource.",
            {"Content-Type": "text/plain"},
        )

    def _json(self, request: Request) -> Any:
        require(
            request.headers.get("content-type", "").startswith("application/json"),
            "Content-Type must be application/json",
        )
        try:
            return request.json
        except ValueError:
            raise FormatViolation("body is not JSON") from None

    def _issue(self, key_or_id: str) -> dict[str, Any] | None:
        if key_or_id in self.issues:
            return self.issues[key_or_id]
        return next((i for i in self.issues.values() if i["id"] == key_or_id), None)

    def _status(self, name: str) -> dict[str, Any]:
        """A status object as Jira renders it (issue fields, a transition's `to`)."""
        status_id, category = self.workflow.statuses[name]
        details = STATUS_CATEGORIES[category]
        return {
            "self": f"{self.url}/rest/api/3/status/{status_id}",
            "description": "",
            "iconUrl": f"{self.url}/images/icons/statuses/generic.png",
            "name": name,
            "id": status_id,
            "statusCategory": {
                "self": f"{self.url}/rest/api/3/statuscategory/{details['id']}",
                **details,
            },
        }

    def _offered(self, issue: dict[str, Any]) -> list[Transition]:
        """The transitions the workflow offers from the issue's status."""
        current = issue["fields"]["status"]["name"]
        return [
            t
            for t in self.workflow.transitions
            if (current in t.sources) or (not t.sources and t.to != current)
        ]

    def status(self, key: str) -> str:
        """The issue's status name."""
        return str(self.issues[key]["fields"]["status"]["name"])

    def set_status(self, key: str, name: str) -> None:
        """Someone moved the issue in Jira."""
        with self._lock:
            self.issues[key]["fields"]["status"] = self._status(name)

    # --- routes -------------------------------------------------------------------------------
    @route("POST", r"/rest/api/3/issue")
    def create_issue(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        body = self._json(request)
        require(
            isinstance(body, dict) and isinstance(body.get("fields"), dict),
            "body needs a fields object",
        )
        require(
            set(body) <= set(CREATE_REQUEST),
            f"unknown top-level keys {sorted(set(body) - set(CREATE_REQUEST))}",
        )
        fields = body["fields"]
        known = set(CREATE_REQUEST["fields"])
        require(
            set(fields) <= known,
            f"fields not in the published example: {sorted(set(fields) - known)}",
        )
        for name in ("project", "issuetype"):
            require(name in fields, f"fields.{name} is required")
            _ref_object(fields[name], f"fields.{name}")
        summary = fields.get("summary")
        require(
            isinstance(summary, str) and summary.strip(),
            "fields.summary must be a non-empty string",
        )
        require(len(summary) <= 255, "fields.summary must be at most 255 characters")
        require("\n" not in summary, "fields.summary must not contain line breaks")
        if "description" in fields:
            check_adf(fields["description"], "fields.description")
        if "labels" in fields:
            labels = fields["labels"]
            require(
                isinstance(labels, list) and all(isinstance(x, str) for x in labels),
                "fields.labels must be strings",
            )
            require(
                all(x and " " not in x and len(x) <= 255 for x in labels),
                "labels cannot be empty or contain spaces",
            )
        if "priority" in fields:
            _ref_object(fields["priority"], "fields.priority")
        if "duedate" in fields:
            require(is_day(fields["duedate"]), "fields.duedate must be a date as YYYY-MM-DD")
        refused = {f: NOT_ON_SCREEN.format(name=f) for f in sorted(self.off_screen) if f in fields}
        if refused:  # Jira reports every field it cannot set, in one answer
            return 400, {"errorMessages": [], "errors": refused}
        if self.reject_create is not None:
            return 400, self.reject_create
        project = fields["project"].get("key")
        if project != self.project_key:
            return 400, {"errorMessages": [], "errors": {"project": "valid project is required"}}
        with self._lock:
            issue_id = str(self._next_id)
            self._next_id += 1
            key = f"{project}-{len(self.issues) + 1}"
            stored = {**copy.deepcopy(fields), "status": self._status(self.workflow.initial)}
            self.issues[key] = {"id": issue_id, "key": key, "fields": stored}
        answer = copy.deepcopy(CREATE_RESPONSE)
        answer.update(id=issue_id, key=key, self=f"{self.url}/rest/api/3/issue/{issue_id}")
        return 201, answer

    @route("POST", r"/rest/api/3/search/jql")
    def search_jql(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        body = self._json(request)
        require(
            isinstance(body, dict) and isinstance(body.get("jql"), str), "body needs a jql string"
        )
        require("startAt" not in body, "search/jql pages with nextPageToken, not startAt")
        fields = body.get("fields", [])
        require(
            isinstance(fields, list) and all(isinstance(f, str) for f in fields),
            "fields must be a list of strings",
        )
        max_results = body.get("maxResults", 50)
        require(
            isinstance(max_results, int) and 0 < max_results <= 5000,
            "maxResults must be a positive integer",
        )
        match = _JQL.fullmatch(body["jql"])
        require(match, f"the fake understands only project/labels JQL, got {body['jql']!r}")
        assert match is not None
        unquote = lambda s: re.sub(r"\\(.)", r"\1", s)  # noqa: E731
        project, label = unquote(match["project"]), unquote(match["label"])
        if project != self.project_key:
            return 400, {
                "errorMessages": [f"The value '{project}' does not exist for the field 'project'."],
                "errors": {},
            }
        found = [i for i in self.issues.values() if label in i["fields"].get("labels", [])]
        issues = [
            {
                "id": i["id"],
                "key": i["key"],
                "self": f"{self.url}/rest/api/3/issue/{i['id']}",
                "fields": {f: i["fields"].get(f) for f in fields if f in i["fields"]},
            }
            for i in found[:max_results]
        ]
        return 200, {"issues": issues, "isLast": len(found) <= max_results}

    @route("POST", r"/rest/api/3/issue/(?P<issue>[^/]+)/remotelink")
    def remote_link(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        body = self._json(request)
        assert request.match is not None
        require(
            isinstance(body, dict) and isinstance(body.get("object"), dict), "body needs an object"
        )
        obj = body["object"]
        require(isinstance(obj.get("url"), str) and obj["url"], "object.url is required")
        require(isinstance(obj.get("title"), str) and obj["title"], "object.title is required")
        global_id = body.get("globalId")
        require(
            global_id is None or (isinstance(global_id, str) and len(global_id) <= 255),
            "globalId is a string of at most 255 characters",
        )
        issue = self._issue(request.match["issue"])
        if issue is None:
            return 404, ISSUE_NOT_FOUND
        links = self.remote_links.setdefault(issue["key"], {})
        with self._lock:
            if global_id and global_id in links:
                link = links[global_id]
                link.update(body)
                status = 200
            else:
                link = {"id": self._next_link, **body}
                self._next_link += 1
                links[global_id or f"id={link['id']}"] = link
                status = 201
        return status, {
            "id": link["id"],
            "self": f"{self.url}/rest/api/3/issue/{issue['key']}/remotelink/{link['id']}",
        }

    @route("POST", r"/rest/api/3/issue/(?P<issue>[^/]+)/comment")
    def comment(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        body = self._json(request)
        assert request.match is not None
        require(isinstance(body, dict) and "body" in body, "comment needs a body")
        check_adf(body["body"], "body")
        require(body["body"]["content"], "comment body must not be empty")
        issue = self._issue(request.match["issue"])
        if issue is None:
            return 404, ISSUE_NOT_FOUND
        with self._lock:
            comments = self.comments.setdefault(issue["key"], [])
            comment_id = str(10000 + len(comments))
            comments.append({"id": comment_id, "body": body["body"]})
        return 201, {
            "id": comment_id,
            "self": f"{self.url}/rest/api/3/issue/{issue['id']}/comment/{comment_id}",
            "body": body["body"],
        }

    @route("GET", r"/rest/api/3/issue/(?P<issue>[^/]+)")
    def get_issue(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        assert request.match is not None
        unknown = set(request.query) - GET_ISSUE_PARAMS
        require(not unknown, f"unknown query parameters {sorted(unknown)}")
        wanted = [f for value in request.query.get("fields", []) for f in value.split(",") if f]
        require(
            all(_FIELD_NAME.fullmatch(f) for f in wanted),
            "fields is a comma-separated list of field ids, *all or *navigable",
        )
        issue = self._issue(request.match["issue"])
        if issue is None:
            return 404, ISSUE_NOT_FOUND
        every = not wanted or {"*all", "*navigable"} & set(wanted)
        fields = {name: value for name, value in issue["fields"].items() if every or name in wanted}
        return 200, {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": issue["id"],
            "self": f"{self.url}/rest/api/3/issue/{issue['id']}",
            "key": issue["key"],
            "fields": copy.deepcopy(fields),
        }

    @route("GET", r"/rest/api/3/issue/(?P<issue>[^/]+)/transitions")
    def get_transitions(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        assert request.match is not None
        unknown = set(request.query) - GET_TRANSITIONS_PARAMS
        require(not unknown, f"unknown query parameters {sorted(unknown)}")
        issue = self._issue(request.match["issue"])
        if issue is None:
            return 404, ISSUE_NOT_FOUND
        transitions = [
            {
                "id": t.id,
                "name": t.name,
                "to": self._status(t.to),
                "hasScreen": False,
                "isGlobal": not t.sources,
                "isInitial": False,
                "isAvailable": True,
                "isConditional": False,
                "isLooped": False,
            }
            for t in self._offered(issue)
        ]
        return 200, {"expand": "transitions", "transitions": transitions}

    @route("POST", r"/rest/api/3/issue/(?P<issue>[^/]+)/transitions")
    def do_transition(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        assert request.match is not None
        body = self._json(request)
        require(isinstance(body, dict), "body must be an object")
        unknown = set(body) - TRANSITION_REQUEST_KEYS
        require(not unknown, f"unknown top-level keys {sorted(unknown)}")
        transition = body.get("transition")
        require(
            isinstance(transition, dict)
            and isinstance(transition.get("id"), str)
            and transition["id"],
            "transition.id (a string) is required",
        )
        issue = self._issue(request.match["issue"])
        if issue is None:
            return 404, ISSUE_NOT_FOUND
        chosen = next((t for t in self._offered(issue) if t.id == transition["id"]), None)
        if chosen is None:
            return 400, {
                "errorMessages": [
                    f"Transition id '{transition['id']}' is not valid for this issue."
                ],
                "errors": {},
            }
        with self._lock:
            issue["fields"]["status"] = self._status(chosen.to)
        return 204, None

"""A fake Jira Cloud REST API v3: create issue, JQL search (search/jql), remote links, comments.

Requests are checked against the published formats: Basic auth (email:API token), the create
request against the OpenAPI example's structure (tests/fixtures/vendor/jira), `duedate` as
YYYY-MM-DD, rich text as Atlassian Document Format. Creates answer with the OpenAPI 201
example's shape. State is kept, so idempotency is observable (issues, remote links by globalId,
comments). A test lists fields the project's create screen lacks (`off_screen`: Jira answers
400 with `errors.<field>` then).
"""

from __future__ import annotations

import base64
import copy
import json
import re
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
            self.issues[key] = {"id": issue_id, "key": key, "fields": copy.deepcopy(fields)}
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

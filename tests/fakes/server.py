"""A base for fake vendor APIs on 127.0.0.1: routes, request recording, scripted failures.

A fake is a subclass that registers handlers with `@route(method, path_regex)`. Each handler
checks the request against the vendor's published format (method, path, auth header, body)
and returns `(status, body)` or `(status, body, headers)`; a request that breaks the format
gets 400 with the reason (and the reason is kept in `violations`, so tests can assert on
none). `fail_next(status, times, headers)` makes the next requests fail (429 with
Retry-After, 5xx) before reaching the handler.

    with FakeJira() as jira:
        adapter = JiraTicketing(base_url=jira.url, ...)
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

Reply = tuple[int, Any] | tuple[int, Any, dict[str, str]]
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    raw: bytes
    match: re.Match[str] | None = None

    @property
    def json(self) -> Any:
        return json.loads(self.raw) if self.raw else None

    @property
    def form(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(self.raw.decode()))

    def arg(self, name: str) -> str | None:
        """A query or form parameter (Slack sends both)."""
        if name in self.query:
            return self.query[name][0]
        if self.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return self.form.get(name)
        body = (
            self.json
            if self.headers.get("content-type", "").startswith("application/json")
            else None
        )
        if isinstance(body, dict) and name in body:
            value = body[name]
            return value if isinstance(value, str) else json.dumps(value)
        return None


class FormatViolation(Exception):
    """Raised by a handler when a request breaks the vendor's published format."""


def route(method: str, pattern: str) -> Callable[[Callable[..., Reply]], Callable[..., Reply]]:
    def mark(fn: Callable[..., Reply]) -> Callable[..., Reply]:
        fn._route = (method, re.compile(pattern + r"$"))  # type: ignore[attr-defined]
        return fn

    return mark


@dataclass
class _Failure:
    status: int
    times: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None


class FakeServer:
    """Subclass, add @route handlers; use as a context manager."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.violations: list[str] = []
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()
        self._routes = [
            (getattr(self, name)._route, getattr(self, name))
            for name in dir(type(self))
            if hasattr(getattr(type(self), name), "_route")
        ]
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _handle(self) -> None:
                fake._dispatch(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # --- lifecycle ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- scripting ----------------------------------------------------------------------------
    def fail_next(
        self, status: int, times: int = 1, headers: dict[str, str] | None = None, body: Any = None
    ) -> None:
        with self._lock:
            self._failures.append(_Failure(status, times, headers or {}, body))

    def clear_failures(self) -> None:
        """The vendor is back: failures still queued by fail_next are dropped."""
        with self._lock:
            self._failures.clear()

    def calls(self, method: str | None = None, path: str | None = None) -> list[Request]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method)
            and (path is None or re.fullmatch(path, r.path))
        ]

    # --- dispatch -----------------------------------------------------------------------------
    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        parsed = urllib.parse.urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        request = Request(
            method=h.command,
            path=parsed.path,
            query=urllib.parse.parse_qs(parsed.query),
            headers={k.lower(): v for k, v in h.headers.items()},
            raw=raw,
        )
        with self._lock:
            self.requests.append(request)
            failure = self._failures[0] if self._failures else None
            if failure:
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.pop(0)
        if failure:
            reply: Reply = (
                failure.status,
                failure.body or {"error": "scripted failure"},
                failure.headers,
            )
        else:
            reply = self._route_request(request)
        status, body, *rest = reply
        headers = rest[0] if rest else {}
        data = (
            body
            if isinstance(body, bytes)
            else json.dumps(body).encode()
            if body is not None
            else b""
        )
        h.send_response(status)
        if body is not None and "Content-Type" not in headers:
            h.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in headers.items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _route_request(self, request: Request) -> Reply:
        for (method, pattern), handler in self._routes:
            match = pattern.match(request.path)
            if match and method == request.method:
                request.match = match
                try:
                    return handler(request)
                except FormatViolation as exc:
                    with self._lock:
                        self.violations.append(f"{request.method} {request.path}: {exc}")
                    return 400, {"error": f"format violation: {exc}"}
        with self._lock:
            self.violations.append(f"no route for {request.method} {request.path}")
        return 404, {"error": f"no route for {request.method} {request.path}"}


def require(condition: object, message: str) -> None:
    """Inside a handler: reject a request that breaks the published format."""
    if not condition:
        raise FormatViolation(message)


def require_bearer(request: Request, token: str) -> None:
    require(
        request.headers.get("authorization") == f"Bearer {token}",
        "missing or wrong Authorization: Bearer header",
    )


def is_day(value: Any) -> bool:
    """A calendar day as vendors take due dates (Jira `duedate`, Asana `due_on`): a string
    YYYY-MM-DD naming a real day."""
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True

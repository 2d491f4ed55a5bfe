"""One small JSON-over-HTTPS client for every REST adapter (Graph, Zoom, Google, Jira, Asana).

Standard library only (nothing more to bundle or import at cold start). Maps responses to the
ports' errors: 429 and 5xx, timeouts and connection failures are retryable (with the vendor's
Retry-After), other 4xx are permanent. Secrets go in headers (or in an OAuth form, whose values
are masked) and are never logged or put in error messages.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from email.utils import parsedate_to_datetime
from typing import Any

from tocsin.domain.clock import utcnow
from tocsin.integrations.ports import PermanentIntegrationError, RetryableIntegrationError

USER_AGENT = "tocsin/0.1 (+https://github.com/tocsin)"
#: the longest error body text kept in an error message
_ERROR_TEXT = 300


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: Any  # parsed JSON, or None when empty

    def header(self, name: str) -> str | None:
        """A header's value, whatever its case."""
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After is seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - utcnow()).total_seconds())
    except (TypeError, ValueError):
        return None


def oauth_error_text(body: Any, fallback: str = "error") -> str:
    """An OAuth error answer (RFC 6749 5.2: `{"error", "error_description"}`) as `error:
    description` (the description's first line), or `fallback` when the answer is not one."""
    error = body.get("error") if isinstance(body, dict) else None
    description = body.get("error_description") if isinstance(body, dict) else None
    first = description.splitlines()[0] if isinstance(description, str) and description else ""
    text = f"{error if isinstance(error, str) else ''}: {first}".strip(": ")
    return text[:_ERROR_TEXT] or fallback


class JsonHttp:
    """Calls under `base_url` with headers from `auth()` (called per request, so tokens that
    expire can be refreshed)."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        auth: Callable[[], Mapping[str, str]] = dict,
        timeout: float = 10.0,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.timeout = timeout

    def url(self, path: str, query: Mapping[str, Any] | None = None) -> str:
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(
                {k: v for k, v in query.items() if v is not None}, doseq=True
            )
        return url

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Mapping[str, Any] | None = None,
        ok: tuple[int, ...] = (),
        form: Mapping[str, str] | None = None,
    ) -> Response:
        """Send; a status in `ok` (besides 2xx) is returned instead of raised (e.g. 409).

        `form` is sent instead of `body`, as application/x-www-form-urlencoded (an OAuth token
        request); its errors show the answer's OAuth error and description, never the form's
        values."""
        if form is not None:
            data: bytes | None = urllib.parse.urlencode(form).encode()
            content_type = "application/x-www-form-urlencoded"
        else:
            data = None if body is None else json.dumps(body).encode()
            content_type = "application/json"
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **self.auth()}
        if data is not None:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(
            self.url(path, query), data=data, method=method, headers=headers
        )
        where = f"{method} {path}"
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return Response(resp.status, dict(resp.headers), _parse(resp.read()))
        except urllib.error.HTTPError as exc:
            status = exc.code
            raw = exc.read()
            if status in ok:
                return Response(status, dict(exc.headers), _parse(raw))
            if form is None:
                text = raw.decode("utf-8", "replace")[:_ERROR_TEXT]
            else:
                fallback = exc.reason if isinstance(exc.reason, str) and exc.reason else "error"
                text = _masked(oauth_error_text(_parse(raw), fallback), form.values())
            message = f"{where} -> {status}: {text}"
            if status == 429 or status >= 500:
                retry_after = retry_after_seconds(exc.headers.get("Retry-After"))
                raise RetryableIntegrationError(
                    self.provider, message, status, retry_after
                ) from None
            raise PermanentIntegrationError(self.provider, message, status) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RetryableIntegrationError(self.provider, f"{where}: {reason}") from None

    def get(
        self, path: str, query: Mapping[str, Any] | None = None, ok: tuple[int, ...] = ()
    ) -> Response:
        return self.request("GET", path, query=query, ok=ok)

    def post(
        self,
        path: str,
        body: Any = None,
        ok: tuple[int, ...] = (),
        form: Mapping[str, str] | None = None,
    ) -> Response:
        return self.request("POST", path, body, ok=ok, form=form)


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def _masked(text: str, values: Iterable[str]) -> str:
    """`text` with every non-empty value (the longest first) replaced by ***."""
    for value in sorted((v for v in values if v), key=len, reverse=True):
        text = text.replace(value, "***")
    return text


def clip(value: str, limit: int) -> str:
    """`value` in at most `limit` characters (a vendor's field limit): whole when it fits,
    else cut at a word boundary near the limit (or at the limit) and ended with `…`."""
    if len(value) <= limit:
        return value
    cut = value[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit * 4 // 5:
        cut = cut[:space]
    return cut.rstrip() + "…"


def iso_day(day: date) -> str:
    """A calendar day as vendors take due dates (Jira `duedate`, Asana `due_on`): YYYY-MM-DD.
    A datetime (which is a date too) gives its day, never a time."""
    return date(day.year, day.month, day.day).isoformat()

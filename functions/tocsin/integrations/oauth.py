"""OAuth access tokens for the REST adapters (Zoom, Google Meet, Teams): shared, vendor-neutral.

- `TokenCache` holds an access token until shortly before its `expires_in` runs out and asks
  its `fetch` (the vendor's own token request) for a new one on demand;
- `OAuthSession` calls an API with that token as a Bearer: a 401 while a token was cached drops
  it and tries once more with a new one; a 401 that persists is permanent;
- `scrubbed` keeps secrets and tokens out of error messages, whatever the vendor echoed.

How a token is requested (Basic auth, a refresh token, rotation) stays in each adapter.
"""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from tocsin.integrations.http import JsonHttp, Response
from tocsin.integrations.ports import (
    IntegrationError,
    PermanentIntegrationError,
    RetryableIntegrationError,
)

#: the lifetime assumed when a token answer has no usable `expires_in`
DEFAULT_LIFETIME = 3600.0


def token_answer(provider: str, body: Any, missing: str) -> tuple[str, float]:
    """(access token, lifetime in seconds) of a token endpoint's answer; no token: permanent,
    with the message `missing`."""
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise PermanentIntegrationError(provider, missing)
    try:
        lifetime = float(body.get("expires_in") or DEFAULT_LIFETIME)
    except (TypeError, ValueError):
        lifetime = DEFAULT_LIFETIME
    return token, lifetime


def split_url(url: str) -> tuple[str, str]:
    """(origin, path and query) of a full URL: a JsonHttp on the origin posts to the path, and
    its errors name the path only."""
    parts = urllib.parse.urlsplit(url)
    return (
        f"{parts.scheme}://{parts.netloc}",
        urllib.parse.urlunsplit(("", "", parts.path, parts.query, "")),
    )


class TokenCache:
    """An access token from `fetch` (which answers `(token, lifetime)`), reused until `margin`
    seconds (or `margin(lifetime)`) before its lifetime runs out. Thread-safe."""

    def __init__(
        self,
        fetch: Callable[[], tuple[str, float]],
        clock: Callable[[], float],
        margin: float | Callable[[float], float],
    ) -> None:
        self.fetch = fetch
        self.clock = clock
        self.margin = margin
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    @property
    def current(self) -> str | None:
        """The token held now, valid or not (to keep it out of error messages)."""
        return self._token

    def valid(self) -> bool:
        return self._token is not None and self.clock() < self._expires_at

    def get(self) -> str:
        """The cached token, or a new one."""
        with self._lock:
            if self.valid():
                assert self._token is not None
                return self._token
            token, lifetime = self.fetch()
            margin = self.margin(lifetime) if callable(self.margin) else self.margin
            self._token = token
            self._expires_at = self.clock() + max(0.0, lifetime - margin)
            return token

    def drop(self) -> None:
        """Forget the token (the API refused it): the next `get` fetches a new one."""
        with self._lock:
            self._token = None

    def bearer(self) -> dict[str, str]:
        """The Authorization header (a JsonHttp `auth`)."""
        return {"Authorization": f"Bearer {self.get()}"}


class OAuthSession:
    """JSON calls under `base_url` with a cached Bearer token. `describe(method, path, resp)`
    is the message of the permanent error raised for a 401 that persists."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        tokens: TokenCache,
        describe: Callable[[str, str, Response], str],
        timeout: float = 10.0,
    ) -> None:
        self.provider = provider
        self.tokens = tokens
        self.describe = describe
        self.http = JsonHttp(provider, base_url, auth=tokens.bearer, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Mapping[str, Any] | None = None,
        ok: tuple[int, ...] = (),
    ) -> Response:
        """One API call (see JsonHttp.request). A 401 with a cached token fetches a new token
        and tries once more; a second 401 (or one with a fresh token) is permanent."""
        cached = self.tokens.valid()
        resp = self.http.request(method, path, body, query=query, ok=(401, *ok))
        if resp.status == 401 and cached:
            self.tokens.drop()
            resp = self.http.request(method, path, body, query=query, ok=(401, *ok))
        if resp.status == 401:
            self.tokens.drop()
            raise PermanentIntegrationError(self.provider, self.describe(method, path, resp), 401)
        return resp


@contextmanager
def scrubbed(
    provider: str, secrets: Callable[[], Iterable[str]], mask: str = "***"
) -> Iterator[None]:
    """No secret in an error message, whatever the vendor echoed: each of `secrets()` (read when
    the error is raised, so a token fetched meanwhile is included; replaced in that order) is
    replaced by `mask`, and the error raised again as the same class (for `provider`)."""
    try:
        yield
    except IntegrationError as exc:
        message = exc.message
        for secret in secrets():
            if secret:
                message = message.replace(secret, mask)
        if message == exc.message:
            raise
        if isinstance(exc, RetryableIntegrationError):
            raise RetryableIntegrationError(
                provider, message, exc.status, exc.retry_after
            ) from None
        raise type(exc)(provider, message, exc.status) from None

"""Microsoft Teams chat-ops transport: who sent a request, and how to answer a bot's activity.

- Outgoing webhooks (`verify_hmac`): Teams signs the raw body with the webhook's security token,
  `Authorization: HMAC base64(HMAC-SHA256(key=base64decode(token), msg=body))`, compared in
  constant time (MicrosoftDocs/msteams-docs add-outgoing-webhook.md). The signature has no
  timestamp of its own, but it covers the activity's `timestamp`: one more than 5 minutes off
  is refused as a replay (`stale`).
- Bots (`BotAuthenticator`): the Bot Connector sends `Authorization: Bearer <JWT>`, signed
  RS256 with a key from the Bot Framework OpenID metadata's `jwks_uri` (cached a day, fetched
  again when a token names an unknown `kid`, at most once a minute), issued by
  `https://api.botframework.com` for the bot's app id (`aud`), and carrying the `serviceUrl`
  the activity must name: otherwise the activity is refused ("Authentication with the Bot
  Connector API", bot-framework-rest-connector-authentication.md). The key's `endorsements`,
  when listed, must include the activity's channel (`msteams`). 5 minutes of clock skew, as
  the docs allow.
- Answers (`BotConnector`): `POST {serviceUrl}v3/conversations/{id}/activities/{activityId}`
  (a reply) or `PUT …/activities/{id}` (update the card a button was on), with a token from the
  client-credentials flow (`scope=https://api.botframework.com/.default`, tenant
  `botframework.com` or the bot's own for single-tenant bots), cached until shortly before it
  expires. The service URL always comes from an activity whose token vouched for it: the
  bot's token never goes anywhere else.

Verified with `cryptography` (already bundled for CloudFront cookies): only RS256 is accepted,
so neither `none` nor an HMAC-with-the-public-key token gets through.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tocsin.integrations.http import JsonHttp
from tocsin.integrations.oauth import TokenCache, split_url, token_answer
from tocsin.integrations.ports import PermanentIntegrationError
from tocsin.integrations.teams import PROVIDER, TOKEN_ERRORS, BotOptions, _token_error

#: the chat secret's keys chat-ops reads (optional for the Graph adapter)
BOT_PASSWORD_KEY = "bot_app_password"
OUTGOING_WEBHOOK_KEY = "outgoing_webhook_token"
ISSUER = "https://api.botframework.com"
SCOPE = "https://api.botframework.com/.default"
MULTI_TENANT = "botframework.com"
#: seconds of clock difference tolerated on exp / nbf (the Bot Framework docs: 5 minutes)
CLOCK_SKEW = 300.0
#: how long fetched signing keys are used before being fetched again
KEYS_TTL = 24 * 3600.0
#: an unknown `kid` fetches the keys again, but not more often than this
KEYS_REFRESH_MIN = 60.0
#: a bot token is renewed this many seconds before it expires
TOKEN_MARGIN = 300.0
TIMEOUT = 5.0


class BotAuthError(Exception):
    """A request that is not from Teams (bad, missing, expired or misdirected credentials).
    The message says which check failed; it never holds the token."""


# --- outgoing webhooks --------------------------------------------------------------------------


def outgoing_webhook_token(secret: Mapping[str, str]) -> bytes:
    """The outgoing webhook's security token (base64, as Teams shows it once), decoded."""
    value = (secret.get(OUTGOING_WEBHOOK_KEY) or "").strip()
    try:
        key = base64.b64decode(value, validate=True) if value else b""
    except (binascii.Error, ValueError):
        key = b""
    if not key:
        raise PermanentIntegrationError(
            PROVIDER,
            f"the secret lacks a base64 {OUTGOING_WEBHOOK_KEY} (the security token Teams shows "
            "when the outgoing webhook is created): requests cannot be verified",
        )
    return key


def hmac_header(key: bytes, body: bytes) -> str:
    """The `Authorization` value Teams sends for `body` (also what tests sign with)."""
    digest = hmac.new(key, body, hashlib.sha256).digest()
    return "HMAC " + base64.b64encode(digest).decode()


def verify_hmac(key: bytes, body: bytes, authorization: str | None) -> bool:
    """Whether `authorization` is Teams' HMAC of the raw `body` under `key`, in constant time."""
    if not authorization or not key:
        return False
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "hmac" or not value.strip():
        return False
    return hmac.compare_digest(hmac_header(key, body).encode(), f"HMAC {value.strip()}".encode())


def stale(activity: Mapping[str, Any], now: float | None = None) -> bool:
    """Whether the activity's `timestamp` (covered by the HMAC) is more than CLOCK_SKEW away
    from now: a recorded request replayed later is refused. No timestamp: not judged."""
    from datetime import datetime

    raw = activity.get("timestamp")
    if not isinstance(raw, str) or not raw:
        return False
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return True
    if at.tzinfo is None:
        return True
    return abs((time.time() if now is None else now) - at.timestamp()) > CLOCK_SKEW


# --- inbound bot tokens -------------------------------------------------------------------------


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _int(value: str) -> int:
    return int.from_bytes(_b64url(value), "big")


@dataclass(frozen=True)
class Claims:
    """What a verified token vouches for."""

    app_id: str
    service_url: str
    expires: float


class BotAuthenticator:
    """Verifies the Bot Connector's tokens for one bot. Keys are shared by every request of the
    container (thread-safe)."""

    def __init__(
        self,
        options: BotOptions,
        clock: Callable[[], float] = time.time,
        timeout: float = TIMEOUT,
    ) -> None:
        self.options = options
        self.clock = clock
        self.timeout = timeout
        self._keys: dict[str, dict[str, Any]] = {}
        self._fetched_at = -1e18
        self._lock = threading.Lock()

    # keys
    def _get_json(self, url: str) -> Any:
        origin, path = split_url(url)
        return JsonHttp(PROVIDER, origin, timeout=self.timeout).get(path).body

    def _fetch_keys(self) -> None:
        metadata = self._get_json(self.options.openid_url)
        jwks_uri = metadata.get("jwks_uri") if isinstance(metadata, dict) else None
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise PermanentIntegrationError(PROVIDER, "OpenID metadata without a jwks_uri")
        jwks = self._get_json(jwks_uri)
        keys = jwks.get("keys") if isinstance(jwks, dict) else None
        if not isinstance(keys, list):
            raise PermanentIntegrationError(PROVIDER, "the bot signing keys are not a JWKS")
        self._keys = {
            str(k["kid"]): k for k in keys if isinstance(k, dict) and isinstance(k.get("kid"), str)
        }
        self._fetched_at = self.clock()

    def key(self, kid: str) -> dict[str, Any] | None:
        """The signing key `kid`: cached, or fetched (a day old, or unknown and the last fetch
        more than a minute ago)."""
        with self._lock:
            age = self.clock() - self._fetched_at
            if age > KEYS_TTL or (kid not in self._keys and age > KEYS_REFRESH_MIN):
                self._fetch_keys()
            return self._keys.get(kid)

    # tokens
    def verify(self, authorization: str | None, activity: Mapping[str, Any]) -> Claims:
        """The claims of the request's token; BotAuthError when any check fails."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise BotAuthError("no Bearer token")
        parts = token.strip().split(".")
        if len(parts) != 3:
            raise BotAuthError("not a JWT")
        try:
            header = json.loads(_b64url(parts[0]))
            claims = json.loads(_b64url(parts[1]))
            signature = _b64url(parts[2])
        except (ValueError, binascii.Error) as exc:
            raise BotAuthError("malformed JWT") from exc
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise BotAuthError("malformed JWT")
        if header.get("alg") != "RS256":
            raise BotAuthError(f"algorithm {str(header.get('alg'))[:20]!r} is not RS256")
        kid = header.get("kid")
        key = self.key(kid) if isinstance(kid, str) else None
        if key is None:
            raise BotAuthError("signed with an unknown key")
        self._check_signature(key, f"{parts[0]}.{parts[1]}".encode(), signature)
        endorsements = key.get("endorsements")
        channel = str(activity.get("channelId") or "")
        if isinstance(endorsements, list) and channel not in endorsements:
            raise BotAuthError(f"the signing key is not endorsed for channel {channel[:30]!r}")
        return self._check_claims(claims, activity)

    @staticmethod
    def _check_signature(jwk: Mapping[str, Any], signed: bytes, signature: bytes) -> None:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        if jwk.get("kty") != "RSA":
            raise BotAuthError("the signing key is not an RSA key")
        try:
            public = rsa.RSAPublicNumbers(_int(str(jwk["e"])), _int(str(jwk["n"]))).public_key()
            public.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, KeyError, ValueError, binascii.Error) as exc:
            raise BotAuthError("bad signature") from exc

    def _check_claims(self, claims: Mapping[str, Any], activity: Mapping[str, Any]) -> Claims:
        now = self.clock()
        if claims.get("iss") != ISSUER:
            raise BotAuthError("wrong issuer")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.options.app_id not in audiences:
            raise BotAuthError("wrong audience (not this bot's app id)")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or now > exp + CLOCK_SKEW:
            raise BotAuthError("expired")
        nbf = claims.get("nbf")
        if isinstance(nbf, int | float) and now < nbf - CLOCK_SKEW:
            raise BotAuthError("not valid yet")
        service_url = claims.get("serviceUrl") or claims.get("serviceurl")
        if not isinstance(service_url, str) or service_url != activity.get("serviceUrl"):
            raise BotAuthError("the token does not vouch for the activity's serviceUrl")
        return Claims(app_id=self.options.app_id, service_url=service_url, expires=float(exp))


# --- outbound: the Bot Connector ----------------------------------------------------------------


def bot_password(secret: Mapping[str, str]) -> str:
    value = (secret.get(BOT_PASSWORD_KEY) or "").strip()
    if not value:
        raise PermanentIntegrationError(
            PROVIDER,
            f"the secret lacks {BOT_PASSWORD_KEY} (the Azure Bot's client secret): the bot "
            "cannot answer",
        )
    return value


class BotConnector:
    """Sends the bot's answers. One per bot credential; its token is cached across requests."""

    def __init__(
        self,
        options: BotOptions,
        password: str,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = TIMEOUT,
    ) -> None:
        self.options = options
        self.timeout = timeout
        self._password = password
        tenant = options.tenant_id or MULTI_TENANT
        origin, self._token_path = split_url(
            options.login_url.rstrip("/")
            + "/"
            + urllib.parse.quote(tenant, safe="")
            + "/oauth2/v2.0/token"
        )
        self._oauth = JsonHttp(PROVIDER, origin, timeout=timeout)
        self.tokens = TokenCache(
            self._fetch_token, clock, lambda life: min(TOKEN_MARGIN, life / 10)
        )

    def _fetch_token(self) -> tuple[str, float]:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.options.app_id,
            "client_secret": self._password,
            "scope": SCOPE,
        }
        resp = self._oauth.post(self._token_path, form=form, ok=TOKEN_ERRORS)
        if resp.status >= 400:
            raise _token_error(f"POST {self._token_path}", resp)
        return token_answer(PROVIDER, resp.body, "POST token: answer without access_token")

    def _http(self, service_url: str) -> JsonHttp:
        if not service_url.startswith(("https://", "http://")):
            raise PermanentIntegrationError(PROVIDER, "the activity's serviceUrl is not a URL")
        return JsonHttp(PROVIDER, service_url.rstrip("/"), auth=self.tokens.bearer, timeout=15)

    @staticmethod
    def _path(conversation_id: str, activity_id: str) -> str:
        return (
            f"/v3/conversations/{urllib.parse.quote(conversation_id, safe='')}"
            f"/activities/{urllib.parse.quote(activity_id, safe='')}"
        )

    def reply(self, activity: Mapping[str, Any], message: dict[str, Any]) -> str:
        """Answer `activity` (in its conversation, as a reply to it); the new activity's id."""
        body = {**message, **_addressing(activity), "replyToId": activity.get("id")}
        conversation = str((activity.get("conversation") or {}).get("id") or "")
        resp = self._http(str(activity.get("serviceUrl") or "")).post(
            self._path(conversation, str(activity.get("id") or "")), body
        )
        return str((resp.body or {}).get("id") or "") if isinstance(resp.body, dict) else ""

    def update(self, activity: Mapping[str, Any], message_id: str, message: dict[str, Any]) -> None:
        """Replace the bot's message `message_id` (the card a button was clicked on)."""
        body = {**message, **_addressing(activity), "id": message_id}
        conversation = str((activity.get("conversation") or {}).get("id") or "")
        self._http(str(activity.get("serviceUrl") or "")).request(
            "PUT", self._path(conversation, message_id), body
        )


def _addressing(activity: Mapping[str, Any]) -> dict[str, Any]:
    """from = the bot (the activity's recipient), recipient = who wrote, same conversation."""
    return {
        "from": activity.get("recipient") or {},
        "recipient": activity.get("from") or {},
        "conversation": activity.get("conversation") or {},
    }


# --- per-container caches -----------------------------------------------------------------------
_authenticators: dict[BotOptions, BotAuthenticator] = {}
_connectors: dict[tuple[BotOptions, str], BotConnector] = {}
_cache_lock = threading.Lock()


def authenticator(options: BotOptions) -> BotAuthenticator:
    """The container's authenticator for this bot (its keys survive between requests)."""
    with _cache_lock:
        return _authenticators.setdefault(options, BotAuthenticator(options))


def connector(options: BotOptions, password: str) -> BotConnector:
    """The container's connector for this bot and password (a rotated password: a new one)."""
    key = (options, hashlib.sha256(password.encode()).hexdigest())
    with _cache_lock:
        if key not in _connectors:
            _connectors[key] = BotConnector(options, password)
        return _connectors[key]


def reset_caches() -> None:
    with _cache_lock:
        _authenticators.clear()
        _connectors.clear()

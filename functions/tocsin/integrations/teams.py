"""Microsoft Teams as the chat port: through Microsoft Graph (`teams`), or through an incoming
webhook / Power Automate "Workflows" URL (`teams_webhook`).

Graph (`teams`). Graph lets an application (app-only token) create channels, but posting a
channel message with application permissions is only allowed for message *import*
(Teamwork.Migrate.All): ordinary posts need a delegated token. The adapter therefore acts as a
dedicated service account, through delegated permissions only: its refresh token (obtained once
with the authorization code flow) is redeemed at the Microsoft identity platform's v2.0 token
endpoint (`grant_type=refresh_token`, with the app's client secret: a confidential client). The
access token is cached until shortly before `expires_in`; a refresh token returned with it
replaces the old one in memory (Microsoft rotates them; the old one stays valid until its own
lifetime ends, so a cold start with the stored one still works). See docs/integrations/teams.md
for the permissions and why.

Port methods against Graph v1.0:

- find_channel: `GET /teams/{team}/channels?$filter=displayName eq '…'`, exact match (also
  accepts a channel reference `{team-id}/{channel-id}` or a bare `19:…@thread…` id);
- create_channel: find first, else `POST /teams/{team}/channels`; "name already exists" (409 or
  400) -> the existing channel is looked up and returned;
- set_topic: `PATCH /teams/{team}/channels/{channel}` (the description: Teams has no topic);
- invite: a standard channel's members are the team's members: users not yet in the team are
  added with `POST /teams/{team}/members`; a private/shared channel also needs
  `POST /teams/{team}/channels/{channel}/members` (Teams requires team membership first);
- post_message: `POST /teams/{team}/channels/{channel}/messages`: an html body holding the
  @mentions and `<attachment id=…>`, and one Adaptive Card attachment (`render_card`);
- pin: Graph pins messages only in chats, not in channels: a documented no-op;
- add_link: a website tab (`com.microsoft.teamspace.tab.web`), idempotent on the URL by listing
  the channel's tabs first; `link_mode: message` posts a small card instead;
- direct_message (paging through chat): the one-on-one chat of the service account and the user,
  `POST /chats` with `chatType: oneOnOne` and both as `aadUserConversationMember` owners (Graph
  returns the existing chat for the same pair, so this is idempotent), then
  `POST /chats/{chat-id}/messages` with the same body and Adaptive Card as channel messages.
  The service account's own id comes from `GET /me` (asked once). Delegated permissions:
  Chat.Create, ChatMessage.Send, User.Read.

Webhook (`teams_webhook`). The URL (an Office 365 connector "Incoming Webhook" or a Workflows
"When a Teams webhook request is received" trigger) is the credential and posts to one fixed
channel: channels are that channel, invites, topics and direct messages are not possible,
messages are the same Adaptive Card in the documented `{"type": "message", "attachments": [...]}` envelope. Connectors
answer 200 with `1`, Workflows 202; connectors also answer 200 with "Webhook message delivery
failed with error: … HTTP error 429 …" when Teams refused the message: that inner status is what
counts. The URL never appears in an error or a log line.
"""

from __future__ import annotations

import html
import json
import logging
import re
import time
import unicodedata
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tocsin.integrations.http import JsonHttp, Response, oauth_error_text, retry_after_seconds
from tocsin.integrations.oauth import OAuthSession, TokenCache, scrubbed, split_url, token_answer
from tocsin.integrations.ports import (
    Action,
    ChannelRef,
    ChatMessage,
    IntegrationError,
    Link,
    MessageRef,
    PermanentIntegrationError,
    RetryableIntegrationError,
)

PROVIDER = "teams"
PORT = "chat"
#: client_secret: Microsoft requires it on the token endpoint for web (confidential) apps, and
#: refresh tokens issued to confidential clients survive the service account's password changes;
#: refresh_token: the service account's delegated grant. The client and tenant ids are public
#: identifiers (options).
SECRET_KEYS: tuple[str, ...] = ("client_secret", "refresh_token")

WEBHOOK_PROVIDER = "teams_webhook"
#: the webhook URL is the credential (anyone holding it can post to the channel)
WEBHOOK_SECRET_KEYS: tuple[str, ...] = ("webhook_url",)

log = logging.getLogger(__name__)

# --- limits and constants ---------------------------------------------------------------------
CHANNEL_NAME_MAX = 50  # Teams channel displayName
DESCRIPTION_MAX = 1024  # channel description
TAB_NAME_MAX = 128
SUMMARY_MAX = 280  # chatMessage.summary: the notification / preview text
CARD_VERSION = "1.4"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
WEBSITE_TAB_APP = "com.microsoft.teamspace.tab.web"
#: a token is renewed this many seconds (at most a tenth of its lifetime) before its
#: `expires_in` runs out
TOKEN_MARGIN = 120.0
#: the Graph statuses `_call` maps itself (the rest: JsonHttp's retryable / permanent errors)
GRAPH_ERRORS = (400, 401, 403, 404, 405, 409, 410, 412, 413, 422)
#: the token endpoint's statuses `_token_error` maps (429 stays retryable)
TOKEN_ERRORS = tuple(status for status in range(400, 500) if status != 429)
#: pages of a Graph collection followed through @odata.nextLink before giving up
MAX_PAGES = 50
#: shown when a mentioned user's display name cannot be read
MENTION_FALLBACK = "on-call"

# Adaptive Card content limits (Teams caps a message at about 28 KB)
MAX_TITLE = 300
MAX_BODY = 4000
MAX_FACTS = 20
MAX_FACT_TITLE = 100
MAX_FACT_VALUE = 1000
MAX_CONTEXT_LINES = 10
MAX_CONTEXT_TEXT = 500
MAX_ACTIONS = 6  # Teams shows up to six actions in a row
MAX_LINKS = 12
MAX_ACTION_TITLE = 80
MAX_URL = 2000

_FORBIDDEN_NAME_CHARS = re.compile(r"[~#%&*{}+/\\:<>?|'\"]")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_CHANNEL_ID = re.compile(r"^19:[^\s/]+@thread\.[A-Za-z0-9]+$")
_URL = re.compile(r"^https?://[^\s<>\"]+$")
_DELIVERY_FAILED = re.compile(r"^\s*Webhook message delivery failed", re.I)
_INNER_STATUS = re.compile(r"HTTP error (\d{3})")

#: ChatMessage.accent -> Adaptive Card Container style / TextRun color
ACCENT_STYLE = {"danger": "attention", "warning": "warning", "good": "good"}


# --- options ------------------------------------------------------------------------------------


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


class BotOptions(BaseModel):
    """`integrations.chat.options.bot`: the Azure Bot chat-ops answers through
    (integrations/teams_bot.py). The bot's password is the chat secret's `bot_app_password`;
    the outgoing webhook's security token its `outgoing_webhook_token`. The URLs are
    Microsoft's public cloud; tests point them at loopback fakes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: the Azure Bot's Microsoft App ID (the `aud` of the tokens Teams sends the bot)
    app_id: str = Field(pattern=r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
    #: single-tenant bots get their tokens from their own tenant; multi-tenant (None) from
    #: `botframework.com`
    tenant_id: str | None = None
    #: the Bot Framework OpenID metadata (its `jwks_uri` holds the keys tokens are signed with)
    openid_url: str = Field(
        default="https://login.botframework.com/v1/.well-known/openidconfiguration",
        pattern=r"^https?://\S+$",
    )
    #: the Microsoft identity platform the bot's own tokens come from
    login_url: str = Field(default="https://login.microsoftonline.com", pattern=r"^https?://\S+$")


class Options(BaseModel):
    """`integrations.chat.options` when `provider: teams`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Microsoft Graph root (national clouds: https://graph.microsoft.us/v1.0, …)
    base_url: str = Field(default="https://graph.microsoft.com/v1.0", pattern=r"^https?://\S+$")
    #: Microsoft identity platform authority
    login_url: str = Field(default="https://login.microsoftonline.com", pattern=r"^https?://\S+$")
    #: the Entra tenant (directory) id or a verified domain
    tenant_id: str
    #: the app registration's Application (client) id
    client_id: str = Field(pattern=r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
    #: the team (its group id) incident channels are created in
    team_id: str = Field(pattern=r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
    #: standard: everyone in the team sees incident channels; private: only those invited
    channel_membership: Literal["standard", "private"] = "standard"
    #: tab: a website tab per link; message: a small card per link (if tabs are blocked)
    link_mode: Literal["tab", "message"] = "tab"
    #: scopes asked for on refresh (`.default`: whatever was consented; offline_access: a new
    #: refresh token with each answer)
    scope: str = "https://graph.microsoft.com/.default offline_access"
    #: chat-ops through a Teams bot (docs/chatops.md#microsoft-teams); None: no bot
    bot: BotOptions | None = None

    @field_validator("tenant_id", "scope")
    @classmethod
    def _strip(cls, value: str) -> str:
        return _not_blank(value)


class WebhookOptions(BaseModel):
    """`integrations.chat.options` when `provider: teams_webhook`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: the Teams channel the webhook posts to (its "Get link to channel" URL), used as the
    #: channel link in tickets; optional
    channel_url: str | None = Field(default=None, pattern=r"^https://\S+$")
    #: chat-ops through a Teams bot (docs/chatops.md#microsoft-teams); None: no bot
    bot: BotOptions | None = None


# --- names ----------------------------------------------------------------------------------------


def channel_display_name(name: str) -> str:
    """`name` as a valid Teams channel name: forbidden characters (~ # % & * { } + / \\ : < > ?
    | ' ") become `-`, control characters go, whitespace is collapsed, a leading `_`/`.` and a
    trailing `.` are dropped, and it is cut to 50 characters. Nothing usable left: permanent."""
    text = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    text = _FORBIDDEN_NAME_CHARS.sub("-", text)
    text = " ".join(text.split())
    text = text.lstrip("_. ")
    text = text[:CHANNEL_NAME_MAX].rstrip(". ")
    if not re.search(r"\w", text):
        raise PermanentIntegrationError(
            PROVIDER,
            f"invalid channel name {name[:80]!r}: Teams needs 1-{CHANNEL_NAME_MAX} characters, "
            "not only punctuation",
        )
    return text


def _odata_string(value: str) -> str:
    """An OData string literal: single quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- Adaptive Card --------------------------------------------------------------------------------


def _run(text: str, **style: Any) -> dict[str, Any]:
    """A TextRun: plain text, never parsed as Markdown (caller text stays inert)."""
    return {"type": "TextRun", "text": text, **style}


def _rich(*runs: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {"type": "RichTextBlock", "inlines": list(runs), **props}


def _valid_url(url: str) -> bool:
    return len(url) <= MAX_URL and bool(_URL.fullmatch(url))


def render_card(message: ChatMessage) -> dict[str, Any]:
    """An Adaptive Card (1.4) for `message`: the title (coloured by accent), the body (a
    TextBlock: Markdown, as ChatMessage promises), the fields as a FactSet, the context lines
    small and subtle, the links as Action.OpenUrl buttons. Title and context lines (alert titles
    come from outside) are TextRuns, which Teams never parses, so text such as
    `<at>x</at>` or `[x](javascript:…)` is shown as typed. No `msteams.entities`: the card
    itself mentions nobody (Graph posts carry mentions in the message body). Mentions are not
    rendered here. `actions` come first among the buttons, as `submit_action` renders them."""
    accent = ACCENT_STYLE.get(message.accent or "")
    body: list[dict[str, Any]] = []

    title = message.title
    if title:
        style: dict[str, Any] = {"weight": "Bolder", "size": "Large"}
        if accent:
            style["color"] = accent
        heading = _rich(_run(_cut(title, MAX_TITLE), **style))
        if accent:
            body.append({"type": "Container", "style": accent, "bleed": True, "items": [heading]})
        else:
            body.append(heading)

    text = message.body
    if not text and not title and not message.fields:
        text = message.text  # nothing else to show: the fallback is the message
    if text:
        body.append({"type": "TextBlock", "text": _cut(text, MAX_BODY), "wrap": True})

    facts = [
        {"title": _cut(label or "", MAX_FACT_TITLE), "value": _cut(value or "-", MAX_FACT_VALUE)}
        for label, value in message.fields
        if label or value
    ]
    if facts:
        body.append({"type": "FactSet", "facts": facts[:MAX_FACTS]})

    lines = [line for line in message.context if line][:MAX_CONTEXT_LINES]
    for n, line in enumerate(lines):
        block = _rich(_run(_cut(line, MAX_CONTEXT_TEXT), size="Small", isSubtle=True))
        if n == 0:
            block["separator"] = True
        body.append(block)

    actions: list[dict[str, Any]] = [submit_action(a) for a in message.actions]
    for link in message.links:
        if not _valid_url(link.url):
            log.warning("teams: link %r left out: not an http(s) URL", link.label[:80])
            continue
        actions.append(
            {
                "type": "Action.OpenUrl",
                "title": _cut(link.label or link.url, MAX_ACTION_TITLE),
                "url": link.url,
            }
        )
    actions = actions[: MAX_LINKS + len(message.actions)]
    if len(actions) > MAX_ACTIONS:  # the rest in the body, as a second row of buttons
        body.append({"type": "ActionSet", "actions": actions[MAX_ACTIONS:]})
        actions = actions[:MAX_ACTIONS]

    if not body:
        body.append(
            {"type": "TextBlock", "text": _cut(message.text or " ", MAX_BODY), "wrap": True}
        )
    card: dict[str, Any] = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
        "msteams": {"width": "Full"},
    }
    if actions:
        card["actions"] = actions
    return card


#: ChatMessage Action.style -> Action.Submit style (Adaptive Cards 1.2+)
SUBMIT_STYLE = {"primary": "positive", "danger": "destructive"}


def submit_action(action: Action) -> dict[str, Any]:
    """An interactive control as Teams delivers it back to the bot: a button is an
    `Action.Submit` whose data is `{"action": action_id, "value": value}` (the card submit
    activity's `value`); a select is an `Action.ShowCard` holding an `Input.ChoiceSet` (id
    `value`, so the submitted data is the same shape) and its OK button. Adaptive Cards have no
    confirmation dialog: an action with `confirm` opens a ShowCard asking the question, whose
    button is the real submit (the best Teams allows)."""
    title = _cut(action.label or action.action_id, MAX_ACTION_TITLE)
    data = {"action": action.action_id, "value": action.value}
    submit: dict[str, Any] = {"type": "Action.Submit", "title": title, "data": data}
    if style := SUBMIT_STYLE.get(action.style or ""):
        submit["style"] = style
    if action.options:
        choices = [
            {"title": _cut(label or value, MAX_ACTION_TITLE), "value": value}
            for label, value in action.options
        ]
        inner: list[dict[str, Any]] = []
        if action.confirm:
            inner.append(_rich(_run(_cut(action.confirm, 300))))  # inert, as titles
        inner.append(
            {
                "type": "Input.ChoiceSet",
                "id": "value",
                "style": "compact",
                "isRequired": True,
                "value": action.value if any(v == action.value for _, v in action.options) else "",
                "choices": choices,
            }
        )
        ok = {"type": "Action.Submit", "title": "OK", "data": {"action": action.action_id}}
        return _show_card(title, inner, ok)
    if action.confirm:
        question = _rich(_run(_cut(action.confirm, 300)))
        return _show_card(title, [question], {**submit, "title": _cut(f"Yes, {title}", 80)})
    return submit


def _show_card(title: str, body: list[dict[str, Any]], submit: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Action.ShowCard",
        "title": title,
        "card": {
            "type": "AdaptiveCard",
            "version": CARD_VERSION,
            "body": body,
            "actions": [submit],
        },
    }


def webhook_payload(card: Mapping[str, Any]) -> dict[str, Any]:
    """The incoming-webhook / Workflows envelope around a card (contentUrl must be null)."""
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card}],
    }


def link_card(title: str, url: str) -> dict[str, Any]:
    """A short card holding one link (add_link when a tab is not wanted)."""
    return render_card(
        ChatMessage(
            text=f"{title}: {url}",
            title=title or url,
            context=(url,),
            links=(Link(title or "Open", url),),
        )
    )


# --- errors ---------------------------------------------------------------------------------------


def _graph_error(body: Any) -> tuple[str, str]:
    """(code, message) of a Graph error answer `{"error": {"code", "message"}}`."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("code") or ""), str(error.get("message") or "")[:300]
    if isinstance(body, str):
        return "", body[:300]
    return "", ""


def _failure(method: str, path: str, resp: Response) -> str:
    """`METHOD path -> status code: message` of a Graph error answer (no query string)."""
    code, text = _graph_error(resp.body)
    return f"{method} {path.split('?')[0]} -> {resp.status}{f' {code}' if code else ''}: {text}"


def _unauthorized(method: str, path: str, resp: Response) -> str:
    return _failure(method, path, resp) + " (Graph does not accept the service account's token)"


def _token_error(where: str, resp: Response) -> IntegrationError:
    """A refused token request. Errors name the endpoint and Microsoft's error code and
    description (AADSTS…), never the form's values."""
    code = str(resp.body.get("error") or "") if isinstance(resp.body, dict) else ""
    message = f"{where} -> {resp.status}: {oauth_error_text(resp.body)}"[:400]
    if code == "temporarily_unavailable":
        return RetryableIntegrationError(
            PROVIDER, message, resp.status, retry_after_seconds(resp.header("Retry-After"))
        )
    if code == "invalid_grant":
        message += (
            " (the service account's refresh token was revoked or has expired: sign it in "
            "again and store the new refresh_token in the secret)"
        )
    elif code in {"invalid_client", "unauthorized_client"}:
        message += " (check client_id / client_secret: is the secret expired?)"
    return PermanentIntegrationError(PROVIDER, message, resp.status)


# --- Graph adapter --------------------------------------------------------------------------------


class TeamsChat:
    """The chat port on Microsoft Teams through Graph, as a service account (delegated)."""

    provider = PROVIDER

    def __init__(
        self,
        options: Options,
        client_secret: str,
        refresh_token: str,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options
        self.timeout = timeout
        self.clock = clock
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        #: the client secret and every refresh token seen, to scrub from errors
        self._secrets: set[str] = {s for s in (client_secret, refresh_token) if s}
        token_origin, self._token_path = split_url(
            options.login_url.rstrip("/")
            + "/"
            + urllib.parse.quote(options.tenant_id, safe="")
            + "/oauth2/v2.0/token"
        )
        self._oauth = JsonHttp(PROVIDER, token_origin, timeout=timeout)
        self._tokens = TokenCache(
            self._fetch_token,
            lambda: self.clock(),
            lambda lifetime: min(TOKEN_MARGIN, lifetime / 10),
        )
        self._api = OAuthSession(PROVIDER, options.base_url, self._tokens, _unauthorized, timeout)
        self._names: dict[str, str] = {}  # user id -> display name (mentions)
        self._membership: dict[str, str] = {}  # channel ref id -> membershipType
        self._posted_links: set[tuple[str, str]] = set()  # link_mode message, this instance
        self._me: str | None = None  # the service account's user id (GET /me)

    @property
    def refresh_token(self) -> str:
        """The newest refresh token (Microsoft rotates them); persist it to avoid re-consent
        when the stored one nears the end of its lifetime."""
        return self._refresh_token

    # --- auth ---------------------------------------------------------------------------------
    def _fetch_token(self) -> tuple[str, float]:
        """Redeem the refresh token (under the token cache's lock); keep a rotated one."""
        form = {
            "client_id": self.options.client_id,
            "client_secret": self._client_secret,
            "grant_type": "refresh_token",
            "refresh_token": self._refresh_token,
            "scope": self.options.scope,
        }
        resp = self._oauth.post(self._token_path, form=form, ok=TOKEN_ERRORS)
        if resp.status >= 400:
            raise _token_error(f"POST {self._token_path}", resp)
        token, lifetime = token_answer(
            PROVIDER, resp.body, "POST token: answer without access_token"
        )
        rotated = resp.body.get("refresh_token")
        if isinstance(rotated, str) and rotated:
            self._refresh_token = rotated
            self._secrets.add(rotated)
        return token, lifetime

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        ok: tuple[int, ...] = (),
        need: str = "",
    ) -> Response:
        """One Graph call. A 401 with a cached token gets a new token and one more try; other
        4xx (not in `ok`) are permanent, naming Graph's error code and `need` (the delegated
        permission the call requires)."""
        resp = self._api.request(method, path, body, ok=GRAPH_ERRORS)
        if resp.status < 400 or resp.status in ok:
            return resp
        message = _failure(method, path, resp)
        if resp.status == 403 and need:
            message += (
                f" (needs the delegated permission {need}, admin-consented, and the service "
                "account must be a member (owner for membership changes) of the team)"
            )
        raise PermanentIntegrationError(PROVIDER, message, resp.status)

    def _scrubbed(self) -> AbstractContextManager[None]:
        """No secret or token in an error message (the longest first), whatever the vendor
        echoed."""
        return scrubbed(
            PROVIDER,
            lambda: sorted({*self._secrets, self._tokens.current or ""}, key=len, reverse=True),
            mask="[redacted]",
        )

    # --- ChatPort -----------------------------------------------------------------------------
    def find_channel(self, name: str) -> ChannelRef | None:
        with self._scrubbed():
            ref = self._parse_reference(name)
            if ref:
                channel = self._get_channel(*ref)
                return self._ref(ref[0], channel) if channel else None
            display = channel_display_name(name)
            channel = self._find(display)
            return self._ref(self.options.team_id, channel) if channel else None

    def create_channel(self, name: str, description: str) -> ChannelRef:
        with self._scrubbed():
            display = channel_display_name(name)
            team = self.options.team_id
            existing = self._find(display)
            if existing:
                return self._ref(team, existing)
            body: dict[str, Any] = {
                "displayName": display,
                "membershipType": self.options.channel_membership,
            }
            if description:
                body["description"] = _cut(description, DESCRIPTION_MAX)
            path = f"/teams/{team}/channels"
            resp = self._call("POST", path, body, ok=(400, 409), need="Channel.Create")
            if resp.status in (400, 409):
                code, text = _graph_error(resp.body)
                if code != "NameAlreadyExists" and "already exist" not in text.lower():
                    raise PermanentIntegrationError(
                        PROVIDER, f"POST {path} -> {resp.status} {code}: {text}", resp.status
                    )
                # made by an earlier attempt (or someone else): use it
                found = self._find(display) or self._find(display, casefold=True)
                if found:
                    return self._ref(team, found)
                raise PermanentIntegrationError(
                    PROVIDER,
                    f"POST {path} -> {resp.status}: the channel name {display!r} is taken by a "
                    "channel the service account cannot see (a deleted channel keeps its name "
                    "until it is purged, or a private channel it is not in)",
                    resp.status,
                )
            channel = resp.body if isinstance(resp.body, dict) else {}
            if not channel.get("id"):
                raise PermanentIntegrationError(PROVIDER, f"POST {path}: answer without id")
            self._membership[f"{team}/{channel['id']}"] = str(
                channel.get("membershipType") or self.options.channel_membership
            )
            return self._ref(team, channel)

    def set_topic(self, channel: ChannelRef, topic: str) -> None:
        with self._scrubbed():
            team, cid = _split(channel)
            self._call(
                "PATCH",
                f"/teams/{team}/channels/{_q(cid)}",
                {"description": _cut(topic, DESCRIPTION_MAX)},
                need="ChannelSettings.ReadWrite.All",
            )

    def invite(self, channel: ChannelRef, user_ids: list[str]) -> list[str]:
        wanted = list(dict.fromkeys(uid for uid in user_ids if uid))
        bad = [uid for uid in wanted if not _GUID.fullmatch(uid)]
        if bad:
            raise PermanentIntegrationError(
                PROVIDER, f"invite: not Entra user object ids: {bad[:10]}"
            )
        with self._scrubbed():
            team, cid = _split(channel)
            private = self._membership_type(team, cid) in {"private", "shared"}
            in_channel = self._channel_members(team, cid) if private else set()
            added: list[str] = []
            for uid in wanted:
                new_in_team = False
                if not self._is_team_member(team, uid):
                    self._add_member(f"/teams/{team}/members", uid, "TeamMember.ReadWrite.All")
                    new_in_team = True
                if private:
                    if uid.lower() not in in_channel:
                        self._add_member(
                            f"/teams/{team}/channels/{_q(cid)}/members",
                            uid,
                            "ChannelMember.ReadWrite.All",
                        )
                        added.append(uid)
                elif new_in_team:
                    added.append(uid)
            return added

    def post_message(self, channel: ChannelRef, message: ChatMessage) -> MessageRef:
        with self._scrubbed():
            team, cid = _split(channel)
            body = self._message_body(message)
            resp = self._call(
                "POST",
                f"/teams/{team}/channels/{_q(cid)}/messages",
                body,
                need="ChannelMessage.Send",
            )
            data = resp.body if isinstance(resp.body, dict) else {}
            if not data.get("id"):
                raise PermanentIntegrationError(PROVIDER, "POST messages: answer without id")
            url = data.get("webUrl")
            return MessageRef(
                PROVIDER, channel.id, str(data["id"]), str(url) if isinstance(url, str) else None
            )

    def pin(self, message: MessageRef) -> None:
        """Graph pins messages only in chats (pinnedChatMessageInfo), not in channels: nothing
        to do (the summary card is the channel's first message)."""
        log.debug(
            "teams: channel messages cannot be pinned through Graph; %s left as is", message.id
        )

    def add_link(self, channel: ChannelRef, title: str, url: str) -> None:
        if not _valid_url(url):
            raise PermanentIntegrationError(PROVIDER, "add_link: the link is not an http(s) URL")
        with self._scrubbed():
            team, cid = _split(channel)
            if self.options.link_mode == "message" or not url.startswith("https://"):
                # website tabs need https; and some tenants block tabs
                key = (channel.id, url)
                if key not in self._posted_links:
                    self._post_card(team, cid, link_card(title, url), f"{title}: {url}")
                    self._posted_links.add(key)
                return
            tabs_path = f"/teams/{team}/channels/{_q(cid)}/tabs"
            for tab in self._pages(f"{tabs_path}?$expand=teamsApp", need="TeamsTab.Read.All"):
                config = tab.get("configuration")
                if isinstance(config, dict) and url in (
                    config.get("websiteUrl"),
                    config.get("contentUrl"),
                ):
                    return
            self._call(
                "POST",
                tabs_path,
                {
                    "displayName": _cut(" ".join((title or url).split()), TAB_NAME_MAX),
                    "teamsApp@odata.bind": self._graph_root()
                    + f"/appCatalogs/teamsApps/{WEBSITE_TAB_APP}",
                    "configuration": {
                        "entityId": None,
                        "contentUrl": url,
                        "websiteUrl": url,
                        "removeUrl": None,
                    },
                },
                need="TeamsTab.Create",
            )

    def direct_message(self, user_id: str, message: ChatMessage) -> MessageRef:
        if not _GUID.fullmatch(user_id or ""):
            raise PermanentIntegrationError(
                PROVIDER, "direct_message: the user is not an Entra user object id"
            )
        with self._scrubbed():
            me = self._service_account()
            if me.lower() == user_id.lower():
                raise PermanentIntegrationError(
                    PROVIDER, "direct_message: the user is the service account itself"
                )
            chat_id = self._one_on_one(me, user_id)
            resp = self._call(
                "POST",
                f"/chats/{_q(chat_id)}/messages",
                self._message_body(message),
                need="ChatMessage.Send",
            )
            data = resp.body if isinstance(resp.body, dict) else {}
            if not data.get("id"):
                raise PermanentIntegrationError(PROVIDER, "POST chats messages: answer without id")
            url = data.get("webUrl")
            return MessageRef(
                PROVIDER, chat_id, str(data["id"]), str(url) if isinstance(url, str) else None
            )

    # --- helpers ------------------------------------------------------------------------------
    def _service_account(self) -> str:
        """The signed-in service account's user object id (`GET /me`, asked once)."""
        if self._me is None:
            resp = self._call("GET", "/me?$select=id", need="User.Read")
            uid = resp.body.get("id") if isinstance(resp.body, dict) else None
            if not isinstance(uid, str) or not _GUID.fullmatch(uid):
                raise PermanentIntegrationError(PROVIDER, "GET /me: answer without a user id")
            self._me = uid
        return self._me

    def _one_on_one(self, me: str, user_id: str) -> str:
        """The id of the one-on-one chat of `me` and `user_id` (made if it does not exist;
        Graph answers the existing chat for the same pair)."""
        member = {
            "@odata.type": "#microsoft.graph.aadUserConversationMember",
            "roles": ["owner"],
        }
        body = {
            "chatType": "oneOnOne",
            "members": [
                {**member, "user@odata.bind": f"{self._graph_root()}/users('{uid}')"}
                for uid in (me, user_id)
            ],
        }
        resp = self._call("POST", "/chats", body, need="Chat.Create")
        chat = resp.body if isinstance(resp.body, dict) else {}
        chat_id = chat.get("id")
        if not isinstance(chat_id, str) or not chat_id:
            raise PermanentIntegrationError(PROVIDER, "POST /chats: answer without id")
        return chat_id

    def _graph_root(self) -> str:
        return self.options.base_url.rstrip("/")

    def _parse_reference(self, name: str) -> tuple[str, str] | None:
        """`{team-id}/{channel-id}` or a bare channel id (a channel configured by id)."""
        text = name.strip()
        if "/" in text:
            team, _, cid = text.partition("/")
            if _GUID.fullmatch(team) and _CHANNEL_ID.fullmatch(cid):
                return team, cid
        elif _CHANNEL_ID.fullmatch(text):
            return self.options.team_id, text
        return None

    def _get_channel(self, team: str, cid: str) -> dict[str, Any] | None:
        resp = self._call(
            "GET",
            f"/teams/{team}/channels/{_q(cid)}?$select=id,displayName,description,webUrl,membershipType",
            ok=(404,),
            need="Channel.ReadBasic.All",
        )
        return resp.body if resp.status != 404 and isinstance(resp.body, dict) else None

    def _find(self, display: str, casefold: bool = False) -> dict[str, Any] | None:
        """The channel of the configured team named exactly `display` (or, with `casefold`,
        up to case: Teams treats names case-insensitively when it refuses a duplicate). Graph
        filters on displayName; should it refuse the filter, every channel is listed."""
        team = self.options.team_id
        select = "$select=id,displayName,description,webUrl,membershipType"
        query = urllib.parse.quote(f"displayName eq {_odata_string(display)}", safe="'")
        try:
            found = self._match(
                self._pages(
                    f"/teams/{team}/channels?$filter={query}&{select}", "Channel.ReadBasic.All"
                ),
                display,
                casefold,
            )
        except PermanentIntegrationError as exc:
            if exc.status != 400:
                raise
            log.warning("teams: Graph refused the channel name filter; listing all channels")
            found = self._match(
                self._pages(f"/teams/{team}/channels?{select}", "Channel.ReadBasic.All"),
                display,
                casefold,
            )
        return found

    @staticmethod
    def _match(
        channels: Iterator[dict[str, Any]], display: str, casefold: bool
    ) -> dict[str, Any] | None:
        for channel in channels:
            name = channel.get("displayName")
            if not isinstance(name, str):
                continue
            if name == display or (casefold and name.casefold() == display.casefold()):
                return channel
        return None

    def _pages(self, path: str, need: str) -> Iterator[dict[str, Any]]:
        """Every item of a Graph collection, following @odata.nextLink."""
        url: str | None = path
        for _ in range(MAX_PAGES):
            assert url is not None
            resp = self._call("GET", url, need=need)
            data = resp.body if isinstance(resp.body, dict) else {}
            for item in data.get("value") or []:
                if isinstance(item, dict):
                    yield item
            link = data.get("@odata.nextLink")
            url = link if isinstance(link, str) and link else None
            if url is None:
                return
        raise PermanentIntegrationError(PROVIDER, f"GET {path.split('?')[0]}: too many pages")

    def _ref(self, team: str, channel: Mapping[str, Any]) -> ChannelRef:
        cid = str(channel["id"])
        kind = channel.get("membershipType")
        if isinstance(kind, str) and kind:
            self._membership[f"{team}/{cid}"] = kind
        url = channel.get("webUrl")
        return ChannelRef(
            PROVIDER,
            f"{team}/{cid}",
            str(channel.get("displayName") or ""),
            str(url) if isinstance(url, str) and url else None,
        )

    def _membership_type(self, team: str, cid: str) -> str:
        key = f"{team}/{cid}"
        if key not in self._membership:
            channel = self._get_channel(team, cid)
            if channel is None:
                raise PermanentIntegrationError(PROVIDER, f"channel {key} not found")
            self._membership[key] = str(channel.get("membershipType") or "standard")
        return self._membership[key]

    def _is_team_member(self, team: str, uid: str) -> bool:
        query = urllib.parse.quote(
            f"(microsoft.graph.aadUserConversationMember/userId eq '{uid}')", safe="'()/"
        )
        for member in self._pages(
            f"/teams/{team}/members?$filter={query}", "TeamMember.ReadWrite.All"
        ):
            if str(member.get("userId") or "").lower() == uid.lower():
                if isinstance(member.get("displayName"), str) and member["displayName"]:
                    self._names[uid] = member["displayName"]
                return True
        return False

    def _channel_members(self, team: str, cid: str) -> set[str]:
        members: set[str] = set()
        path = f"/teams/{team}/channels/{_q(cid)}/members"
        for member in self._pages(path, "ChannelMember.ReadWrite.All"):
            uid = member.get("userId")
            if isinstance(uid, str) and uid:
                members.add(uid.lower())
        return members

    def _add_member(self, path: str, uid: str, need: str) -> None:
        """Add a user (aadUserConversationMember); "already a member" is not an error."""
        resp = self._call(
            "POST",
            path,
            {
                "@odata.type": "#microsoft.graph.aadUserConversationMember",
                "roles": [],
                "user@odata.bind": f"{self._graph_root()}/users('{uid}')",
            },
            ok=(400, 409),
            need=need,
        )
        if resp.status in (400, 409):
            code, text = _graph_error(resp.body)
            if resp.status == 409 or "already" in text.lower():
                return
            raise PermanentIntegrationError(
                PROVIDER, f"POST {path} -> {resp.status} {code}: {text} (user {uid})", resp.status
            )

    def _display_name(self, uid: str) -> str:
        if uid not in self._names:
            try:
                resp = self._call(
                    "GET", f"/users/{uid}?$select=id,displayName", need="User.ReadBasic.All"
                )
                name = resp.body.get("displayName") if isinstance(resp.body, dict) else None
            except PermanentIntegrationError as exc:
                log.warning("teams: no display name for a mention: %s", exc.message)
                name = None
            self._names[uid] = name if isinstance(name, str) and name.strip() else MENTION_FALLBACK
        return self._names[uid]

    def _message_body(self, message: ChatMessage) -> dict[str, Any]:
        # a card posted by the service account cannot call back (Teams delivers an
        # Action.Submit only to the bot that sent the card): no buttons that would do nothing;
        # `/incident summary` through the bot shows them
        card = render_card(replace(message, actions=()))
        attachment_id = uuid.uuid4().hex
        mentions: list[dict[str, Any]] = []
        parts: list[str] = []
        for uid in dict.fromkeys(message.mentions):
            if not _GUID.fullmatch(uid):
                log.warning("teams: mention left out: not an Entra user object id")
                continue
            name = self._display_name(uid)
            index = len(mentions)
            parts.append(f'<at id="{index}">{html.escape(name)}</at>')
            mentions.append(
                {
                    "id": index,
                    "mentionText": name,
                    "mentioned": {
                        "user": {"id": uid, "displayName": name, "userIdentityType": "aadUser"}
                    },
                }
            )
        lead = f"<p>{' '.join(parts)}</p>" if parts else ""
        body: dict[str, Any] = {
            "body": {
                "contentType": "html",
                "content": f'{lead}<attachment id="{attachment_id}"></attachment>',
            },
            "attachments": [
                {
                    "id": attachment_id,
                    "contentType": CARD_CONTENT_TYPE,
                    "contentUrl": None,
                    "content": json.dumps(card, ensure_ascii=False),
                    "name": None,
                    "thumbnailUrl": None,
                }
            ],
            "summary": _cut(" ".join((message.text or message.title or "").split()), SUMMARY_MAX),
        }
        if mentions:
            body["mentions"] = mentions
        if message.accent == "danger":
            body["importance"] = "high"
        return body

    def _post_card(self, team: str, cid: str, card: dict[str, Any], summary: str) -> None:
        attachment_id = uuid.uuid4().hex
        self._call(
            "POST",
            f"/teams/{team}/channels/{_q(cid)}/messages",
            {
                "body": {
                    "contentType": "html",
                    "content": f'<attachment id="{attachment_id}"></attachment>',
                },
                "attachments": [
                    {
                        "id": attachment_id,
                        "contentType": CARD_CONTENT_TYPE,
                        "contentUrl": None,
                        "content": json.dumps(card, ensure_ascii=False),
                        "name": None,
                        "thumbnailUrl": None,
                    }
                ],
                "summary": _cut(summary, SUMMARY_MAX),
            },
            need="ChannelMessage.Send",
        )


def _split(channel: ChannelRef) -> tuple[str, str]:
    team, sep, cid = channel.id.partition("/")
    if not sep or not team or not cid:
        raise PermanentIntegrationError(
            PROVIDER, f"channel ref {channel.id!r} is not a Teams '{{team-id}}/{{channel-id}}'"
        )
    return team, cid


def _q(channel_id: str) -> str:
    """A channel id in a URL path (`19:…@thread.tacv2` keeps its `:` and `@`, as Graph shows)."""
    return urllib.parse.quote(channel_id, safe=":@")


def build(options: Options, secret: Mapping[str, str]) -> TeamsChat:
    missing = [key for key in SECRET_KEYS if not (secret.get(key) or "").strip()]
    if missing:
        raise PermanentIntegrationError(
            PROVIDER,
            f"the secret lacks {', '.join(missing)} (the app's client secret and the service "
            "account's refresh token; see docs/integrations/teams.md)",
        )
    return TeamsChat(options, secret["client_secret"].strip(), secret["refresh_token"].strip())


# --- webhook adapter --------------------------------------------------------------------------------


class TeamsWebhookChat:
    """The chat port on one Teams channel through its incoming webhook or Workflows URL."""

    provider = WEBHOOK_PROVIDER
    #: the id of the one channel a webhook reaches
    CHANNEL_ID = "webhook"

    def __init__(self, options: WebhookOptions, webhook_url: str, timeout: float = 10.0) -> None:
        self.options = options
        self._url = webhook_url
        parts = urllib.parse.urlsplit(webhook_url)
        #: the URL and the pieces of it that carry the credential, to scrub from errors
        pieces = [v for _, v in urllib.parse.parse_qsl(parts.query)] + parts.path.split("/")
        self._secrets = [
            s
            for s in (webhook_url, parts.path, parts.query, *pieces)
            if s and (len(s) >= 8 or s in (webhook_url, parts.path, parts.query))
        ]
        self._secrets.sort(key=len, reverse=True)
        self._http = JsonHttp(WEBHOOK_PROVIDER, webhook_url, timeout=timeout)
        self._posted_links: set[str] = set()

    # --- ChatPort -----------------------------------------------------------------------------
    def find_channel(self, name: str) -> ChannelRef | None:
        return self._channel(name)

    def create_channel(self, name: str, description: str) -> ChannelRef:
        return self._channel(name)

    def set_topic(self, channel: ChannelRef, topic: str) -> None:
        """A webhook cannot change a channel: nothing to do."""

    def invite(self, channel: ChannelRef, user_ids: list[str]) -> list[str]:
        """A webhook cannot add anyone to a channel."""
        return []

    def post_message(self, channel: ChannelRef, message: ChatMessage) -> MessageRef:
        self._post(render_card(replace(message, actions=())), "post_message")  # no callback
        return MessageRef(WEBHOOK_PROVIDER, channel.id, uuid.uuid4().hex, None)

    def pin(self, message: MessageRef) -> None:
        """A webhook cannot pin."""

    def direct_message(self, user_id: str, message: ChatMessage) -> MessageRef:
        raise PermanentIntegrationError(
            WEBHOOK_PROVIDER,
            "direct_message: an incoming webhook cannot message a person (it posts to one "
            "fixed channel); page through the `teams` (Graph) chat provider, SMS or e-mail",
        )

    def add_link(self, channel: ChannelRef, title: str, url: str) -> None:
        """A small card with the link, once per URL for this adapter instance (a webhook cannot
        list what it posted: after a cold start the same link may be posted again)."""
        if not _valid_url(url):
            raise PermanentIntegrationError(
                WEBHOOK_PROVIDER, "add_link: the link is not an http(s) URL"
            )
        if url in self._posted_links:
            return
        self._post(link_card(title, url), "add_link")
        self._posted_links.add(url)

    # --- helpers ------------------------------------------------------------------------------
    def _channel(self, name: str) -> ChannelRef:
        return ChannelRef(WEBHOOK_PROVIDER, self.CHANNEL_ID, name, self.options.channel_url)

    def _post(self, card: dict[str, Any], what: str) -> None:
        try:
            resp = self._http.request("POST", "", webhook_payload(card))
        except RetryableIntegrationError as exc:
            raise RetryableIntegrationError(
                WEBHOOK_PROVIDER,
                self._scrub(f"{what}: POST webhook -> {_tail(exc)}"),
                exc.status,
                exc.retry_after,
            ) from None
        except IntegrationError as exc:
            message = self._scrub(f"{what}: POST webhook -> {_tail(exc)}")
            if exc.status == 404:
                message += " (the webhook was removed, or its URL is wrong)"
            raise PermanentIntegrationError(WEBHOOK_PROVIDER, message, exc.status) from None
        text = resp.body if isinstance(resp.body, str) else ""
        if _DELIVERY_FAILED.match(text):  # a connector's 200 that wraps Teams' own refusal
            inner = _INNER_STATUS.search(text)
            status = int(inner.group(1)) if inner else None
            message = self._scrub(
                f"{what}: POST webhook -> {resp.status}, but Teams refused the message "
                f"({f'HTTP {status}' if status else 'could not reach Teams'})"
            )
            if status is None or status == 429 or status >= 500:
                raise RetryableIntegrationError(
                    WEBHOOK_PROVIDER,
                    message,
                    status,
                    retry_after_seconds(resp.header("Retry-After")),
                )
            raise PermanentIntegrationError(WEBHOOK_PROVIDER, message, status)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text


def _tail(exc: IntegrationError) -> str:
    """The part of a JsonHttp error after its `METHOD path` (the path is the secret URL)."""
    message = exc.message
    _, arrow, rest = message.partition("-> ")
    if arrow:
        return rest
    _, colon, rest = message.partition(": ")
    return rest if colon else "failed"


def build_webhook(options: WebhookOptions, secret: Mapping[str, str]) -> TeamsWebhookChat:
    url = (secret.get("webhook_url") or "").strip()
    if not url:
        raise PermanentIntegrationError(
            WEBHOOK_PROVIDER,
            "the secret lacks webhook_url (the Teams incoming webhook or Workflows URL)",
        )
    if not re.match(r"^https?://[^\s/]+/\S*$", url):
        raise PermanentIntegrationError(
            WEBHOOK_PROVIDER, "the secret's webhook_url is not an http(s) URL"
        )
    return TeamsWebhookChat(options, url)


#: the registry's view of the two providers in this module
ADAPTERS: dict[str, dict[str, Any]] = {
    PROVIDER: {"Options": Options, "SECRET_KEYS": SECRET_KEYS, "build": build},
    WEBHOOK_PROVIDER: {
        "Options": WebhookOptions,
        "SECRET_KEYS": WEBHOOK_SECRET_KEYS,
        "build": build_webhook,
    },
}

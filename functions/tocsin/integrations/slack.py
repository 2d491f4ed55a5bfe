"""Slack chat adapter: incident channels, topic, invites, Block Kit messages, pins, bookmarks.

Talks to the Slack Web API with slack_sdk's WebClient and a bot token (xoxb-…). Every call is
mapped to the ports' errors: HTTP 429 / `ratelimited`, 5xx, `internal_error`, `fatal_error`,
`service_unavailable`, `request_timeout` and network failures are retryable (with Slack's
Retry-After); everything else (`invalid_auth`, `missing_scope`, `channel_not_found`,
`invalid_name*`, …) is permanent. The client retries a failed connection once after a short
pause and never waits on rate limits itself: the state machine does the backing off.

`direct_message` (paging through chat) opens the DM with `conversations.open` (scope
`im:write`) and posts the same Block Kit message there.

`render_blocks` turns a provider-neutral `ChatMessage` into Block Kit within Slack's published
limits, escaping `&`, `<` and `>` in every piece of caller text so that an incident title cannot
smuggle in `<!channel>` or a disguised link.

slack_sdk is imported when an adapter is built, not when this module is imported (the registry
reads `Options` and `SECRET_KEYS` without paying for it).
"""

from __future__ import annotations

import http.client
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from tocsin.integrations.http import retry_after_seconds
from tocsin.integrations.ports import (
    Action,
    ChannelRef,
    ChatMessage,
    IntegrationError,
    MessageRef,
    PermanentIntegrationError,
    RetryableIntegrationError,
)

if TYPE_CHECKING:
    from slack_sdk.web import WebClient

PROVIDER = "slack"
PORT = "chat"
SECRET_KEYS: tuple[str, ...] = ("bot_token",)
#: the key of the chat secret holding the Slack app's Signing Secret: chat-ops
#: (/v1/slack/commands, /v1/slack/interactions) verifies every request with it. Optional for
#: the adapter (the response workflow does not need it), required for chat-ops.
SIGNING_SECRET_KEY = "signing_secret"
#: where Slack's response_url messages go; anything else is refused
RESPONSE_URL_BASE = "https://hooks.slack.com/"
#: where Slack serves files (`url_private_download`); the bot token is sent nowhere else
FILE_URL_BASE = "https://files.slack.com/"

log = logging.getLogger(__name__)

#: seconds slack_sdk waits for Slack to connect and answer
TIMEOUT = 10
#: pause before the one retry of a failed connection (slack_sdk's own handler; kept under 1 s)
CONNECTION_RETRY_PAUSE = 0.25

# --- Slack's published limits -----------------------------------------------------------------
MAX_NAME = 80  # channel name
MAX_TOPIC = 250  # conversations.setTopic / setPurpose
MAX_INVITE = 1000  # users per conversations.invite
LIST_PAGE = 999  # conversations.list `limit` ("an integer under 1000")
MAX_PAGES = 500  # a safety stop for a cursor that never ends
MAX_BLOCKS = 50  # blocks per message
MAX_HEADER = 150  # header block plain_text
MAX_SECTION_TEXT = 3000  # section text / any text object
MAX_FIELDS = 10  # fields per section
MAX_FIELD_TEXT = 2000  # each field's text
MAX_CONTEXT_ELEMENTS = 10  # elements per context block
MAX_ACTION_ELEMENTS = 25  # elements per actions block
MAX_BUTTON_TEXT = 75
MAX_BUTTON_URL = 3000
#: views.open runs inside the 3 s acknowledgement
VIEWS_OPEN_TIMEOUT = 2
#: joins a repeated action_id and its number (`tocsin.runbook.helpful~2`); stripped on click
REPEAT = "~"
MAX_BUTTON_VALUE = 2000
MAX_OPTIONS = 100  # options per static_select
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_CONFIRM_TITLE = 100  # confirmation dialog: title, text, buttons
MAX_CONFIRM_TEXT = 300
MAX_CONFIRM_BUTTON = 30
MAX_FALLBACK_TEXT = 4000  # chat.postMessage `text`: Slack advises keeping it under 4,000

_NAME = re.compile(r"^[a-z0-9_-]{1,80}$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_URL = re.compile(r"^https?://[^\s<>|]+$")

#: Web API error codes that mean "try again later"
RETRYABLE_ERRORS = frozenset(
    {
        "ratelimited",
        "rate_limited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
    }
)
#: errors that say the token itself is no good
_AUTH_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
)
#: conversations.invite answers that leave the channel as we want it
_BENIGN_INVITE = frozenset({"already_in_channel", "cant_invite_self"})
#: accent -> emoji put before the title (Block Kit has no colour bar)
ACCENT_EMOJI = {
    "danger": ":red_circle:",
    "warning": ":large_orange_circle:",
    "good": ":large_green_circle:",
}


class Options(BaseModel):
    """`integrations.chat.options` when `provider: slack`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: the Web API root; change it only for a proxy or a test double
    base_url: str = Field(default="https://slack.com/api/", pattern=r"^https?://\S+$")
    #: create incident channels as private channels (the bot then needs groups:* scopes)
    private_channels: bool = False
    #: e.g. https://acme.slack.com, used to build channel and message links; when unset the
    #: adapter asks Slack once (auth.test) for the workspace URL
    workspace_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+/?$")
    #: chat-ops answers only through response URLs under this root (Slack's own; change it
    #: only for a test double)
    response_url_base: str = Field(default=RESPONSE_URL_BASE, pattern=r"^https?://[^\s/]+/\S*$")
    #: the transcript capture downloads shared files (with the bot token) only from URLs under
    #: this root (Slack's file host; change it only for a test double)
    file_url_base: str = Field(default=FILE_URL_BASE, pattern=r"^https?://[^\s/]+/\S*$")


def build(options: Options, secret: Mapping[str, str]) -> SlackChat:
    token = (secret.get("bot_token") or "").strip()
    if not token:
        raise PermanentIntegrationError(
            PROVIDER, "the secret lacks bot_token (the Slack app's Bot User OAuth Token, xoxb-…)"
        )
    return SlackChat(options, token)


# --- rendering --------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Slack's control characters as entities (&amp; &lt; &gt;), nothing else."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit(text: str, limit: int) -> str:
    """`text` escaped and cut to at most `limit` characters, ending in … when cut; an entity
    is never split."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    out: list[str] = []
    size = 0
    for char in text:
        piece = escape(char)
        if size + len(piece) > limit - 1:
            break
        out.append(piece)
        size += len(piece)
    return "".join(out) + "…"


def _mentions(message: ChatMessage) -> str:
    """`<@U…>` for each well-formed user id; anything else is dropped (it could not be a
    Slack user and must not reach the message unescaped)."""
    return " ".join(
        f"<@{uid}>" for uid in dict.fromkeys(message.mentions) if _USER_ID.fullmatch(uid)
    )


def _mrkdwn(text: str) -> dict[str, Any]:
    # verbatim: Slack must not auto-link or auto-parse mentions in caller text
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def render_blocks(message: ChatMessage) -> list[dict[str, Any]]:
    """Block Kit for `message`: header (title), section (mentions + body), sections of fields,
    actions (link buttons), context lines. All caller text is escaped and cut to Slack's
    limits; at most 50 blocks (the last one then says how many were left out)."""
    blocks: list[dict[str, Any]] = []
    accent = ACCENT_EMOJI.get(message.accent or "")
    prefix = f"{accent} " if accent else ""

    if message.title:
        blocks.append(
            {
                "type": "header",
                "text": _plain(prefix + fit(message.title, MAX_HEADER - len(prefix))),
            }
        )
        prefix = ""

    body = message.body
    if not body and not message.title and not message.fields:
        body = message.text  # nothing else to show: the fallback is the message
    mentions = _mentions(message)
    lead = " ".join(part for part in (prefix.strip(), mentions) if part)
    if body or lead:
        head = f"{lead}\n" if lead and body else lead
        blocks.append(
            {
                "type": "section",
                "text": _mrkdwn(head + fit(body or "", MAX_SECTION_TEXT - len(head))),
            }
        )

    fields: list[dict[str, Any]] = []
    for label, value in message.fields:
        if not label and not value:
            continue
        name = fit(label, 300) if label else ""
        head = f"*{name}*\n" if name else ""
        fields.append(_mrkdwn(head + fit(value or "-", MAX_FIELD_TEXT - len(head))))
    for group in _chunks(fields, MAX_FIELDS):
        blocks.append({"type": "section", "fields": group})

    buttons: list[dict[str, Any]] = []
    for link in message.links:
        if len(link.url) > MAX_BUTTON_URL or not _URL.fullmatch(link.url):
            log.warning(
                "slack: link %r left out: not an http(s) URL of at most %d characters",
                link.label,
                MAX_BUTTON_URL,
            )
            continue
        buttons.append(
            {
                "type": "button",
                "text": _plain(fit(link.label or link.url, MAX_BUTTON_TEXT)),
                "url": link.url,
                "action_id": f"tocsin-link-{len(buttons)}",
            }
        )
    for group in _chunks(buttons, MAX_ACTION_ELEMENTS):
        blocks.append({"type": "actions", "elements": group})
    controls = [action_element(action) for action in message.actions]
    seen: dict[str, int] = {}
    for control in controls:  # action_ids are unique per message: number the repeats
        n = seen[control["action_id"]] = seen.get(control["action_id"], 0) + 1
        if n > 1:
            control["action_id"] += f"{REPEAT}{n}"
    for group in _chunks(controls, MAX_ACTION_ELEMENTS):
        blocks.append({"type": "actions", "elements": group})

    lines = [_mrkdwn(fit(line, MAX_SECTION_TEXT)) for line in message.context if line]
    for group in _chunks(lines, MAX_CONTEXT_ELEMENTS):
        blocks.append({"type": "context", "elements": group})

    if len(blocks) > MAX_BLOCKS:
        left_out = len(blocks) - (MAX_BLOCKS - 1)
        blocks = blocks[: MAX_BLOCKS - 1]
        blocks.append(
            {"type": "context", "elements": [_mrkdwn(f"({left_out} more blocks not shown)")]}
        )
    return blocks


def action_element(action: Action) -> dict[str, Any]:
    """An interactive control: a button, or a static_select when the action has options.
    Clicks arrive at /v1/slack/interactions as block_actions with this action_id."""
    element: dict[str, Any]
    if action.options:
        element = {
            "type": "static_select",
            "action_id": action.action_id,
            "placeholder": _plain(fit(action.label, MAX_BUTTON_TEXT)),
            "options": [
                {"text": _plain(fit(label, MAX_OPTION_TEXT)), "value": value[:MAX_OPTION_VALUE]}
                for label, value in action.options[:MAX_OPTIONS]
            ],
        }
    else:
        element = {
            "type": "button",
            "action_id": action.action_id,
            "text": _plain(fit(action.label, MAX_BUTTON_TEXT)),
            "value": action.value[:MAX_BUTTON_VALUE],
        }
        if action.style in ("primary", "danger"):
            element["style"] = action.style
    if action.confirm:
        element["confirm"] = {
            "title": _plain(fit(action.label, MAX_CONFIRM_TITLE)),
            "text": _plain(fit(action.confirm, MAX_CONFIRM_TEXT)),
            "confirm": _plain(fit(action.label, MAX_CONFIRM_BUTTON)),
            "deny": _plain("Cancel"),
        }
    return element


def fallback_text(message: ChatMessage) -> str:
    """chat.postMessage `text`: what notifications and screen readers get (escaped too)."""
    mentions = _mentions(message)
    head = f"{mentions} " if mentions else ""
    text = fit(message.text or message.title or "", MAX_FALLBACK_TEXT - len(head))
    return (head + text) or "(no text)"


# --- adapter ----------------------------------------------------------------------------------


class SlackChat:
    """The chat port on Slack. Thread-safe as far as slack_sdk's WebClient is."""

    provider = PROVIDER

    def __init__(self, options: Options, token: str) -> None:
        from slack_sdk.http_retry import (
            ConnectionErrorRetryHandler,
            FixedValueRetryIntervalCalculator,
        )
        from slack_sdk.web import WebClient

        self.options = options
        self._token = token
        # only slack_sdk's connection-error handler (one retry, short pause): no waiting on 429
        retry = ConnectionErrorRetryHandler(
            max_retry_count=1,
            interval_calculator=FixedValueRetryIntervalCalculator(CONNECTION_RETRY_PAUSE),
        )
        self._client: WebClient = WebClient(
            token=token, base_url=options.base_url, timeout=TIMEOUT, retry_handlers=[retry]
        )
        self._workspace: str | None = (
            options.workspace_url.rstrip("/") if options.workspace_url else None
        )

    # --- ChatPort -----------------------------------------------------------------------------
    def find_channel(self, name: str) -> ChannelRef | None:
        _check_name(name)
        channel = self._find(name)
        return self._channel_ref(channel) if channel else None

    def create_channel(self, name: str, description: str) -> ChannelRef:
        _check_name(name)
        data = self._call(
            "conversations.create",
            self._client.conversations_create,
            tolerate=("name_taken",),
            name=name,
            is_private=self.options.private_channels,
        )
        if data.get("ok"):
            channel = data["channel"]
            if description:
                self._set_purpose(channel["id"], description)
            return self._channel_ref(channel)
        # name_taken: made by an earlier attempt (or by someone else); use it if we can
        existing = self._find(name)
        if existing:
            return self._channel_ref(existing)
        archived = self._find(name, archived=True)
        if archived:
            raise PermanentIntegrationError(
                PROVIDER,
                f"conversations.create: #{name} exists but is archived ({archived.get('id')}); "
                "unarchive or rename it",
            )
        raise PermanentIntegrationError(
            PROVIDER,
            f"conversations.create: #{name} is taken by a channel the bot cannot see "
            "(a private channel it is not in, or a type it may not list)",
        )

    def set_topic(self, channel: ChannelRef, topic: str) -> None:
        self._call(
            "conversations.setTopic",
            self._client.conversations_setTopic,
            channel=channel.id,
            topic=_cut(topic, MAX_TOPIC),
        )

    def invite(self, channel: ChannelRef, user_ids: list[str]) -> list[str]:
        wanted = list(dict.fromkeys(uid for uid in user_ids if uid))
        bad = [uid for uid in wanted if not _USER_ID.fullmatch(uid)]
        if bad:
            raise PermanentIntegrationError(
                PROVIDER, f"conversations.invite: not Slack user ids: {bad[:10]}"
            )
        added: list[str] = []
        for batch in _chunks(wanted, MAX_INVITE):
            added.extend(self._invite(channel.id, batch))
        return added

    def post_message(self, channel: ChannelRef, message: ChatMessage) -> MessageRef:
        return self._post(channel.id, message)

    def pin(self, message: MessageRef) -> None:
        self._call(
            "pins.add",
            self._client.pins_add,
            tolerate=("already_pinned",),
            channel=message.channel_id,
            timestamp=message.id,
        )

    def add_link(self, channel: ChannelRef, title: str, url: str) -> None:
        if not _URL.fullmatch(url):
            raise PermanentIntegrationError(
                PROVIDER, "bookmarks.add: the link is not an http(s) URL"
            )
        data = self._call("bookmarks.list", self._client.bookmarks_list, channel_id=channel.id)
        if any(b.get("link") == url for b in data.get("bookmarks") or [] if isinstance(b, dict)):
            return
        self._call(
            "bookmarks.add",
            self._client.bookmarks_add,
            channel_id=channel.id,
            title=title or url,
            type="link",
            link=url,
        )

    def direct_message(self, user_id: str, message: ChatMessage) -> MessageRef:
        """Open (or reopen) the DM with the user (`conversations.open`, needs `im:write`) and
        post the message there, rendered as in channels."""
        if not _USER_ID.fullmatch(user_id or ""):
            raise PermanentIntegrationError(
                PROVIDER, f"conversations.open: not a Slack user id: {user_id[:40]!r}"
            )
        data = self._call("conversations.open", self._client.conversations_open, users=user_id)
        channel = data.get("channel")
        channel_id = channel.get("id") if isinstance(channel, dict) else None
        if not channel_id:
            raise PermanentIntegrationError(
                PROVIDER, "conversations.open: answer without channel id"
            )
        return self._post(str(channel_id), message)

    # --- helpers ------------------------------------------------------------------------------
    def open_view(self, trigger_id: str, view: Mapping[str, Any]) -> None:
        """views.open: show a modal to the person who typed the command (the trigger_id
        expires 3 seconds after the command, so this runs in the acknowledgement)."""
        from slack_sdk.web import WebClient

        # no retry, a short timeout: the acknowledgement (and the trigger_id) has 3 s in all
        self._client_quick = WebClient(
            token=self._token, base_url=self.options.base_url, timeout=VIEWS_OPEN_TIMEOUT
        )
        self._call(
            "views.open", self._client_quick.views_open, trigger_id=trigger_id, view=dict(view)
        )

    def _post(self, channel_id: str, message: ChatMessage) -> MessageRef:
        blocks = render_blocks(message)
        data = self._call(
            "chat.postMessage",
            self._client.chat_postMessage,
            channel=channel_id,
            text=fallback_text(message),
            blocks=blocks or None,
            unfurl_links=False,
            unfurl_media=False,
        )
        posted_in = str(data.get("channel") or channel_id)
        ts = str(data["ts"])
        return MessageRef(PROVIDER, posted_in, ts, self._message_url(posted_in, ts))

    def _find(self, name: str, archived: bool = False) -> dict[str, Any] | None:
        """The channel called `name` (conversations.list, every page): a live one, or with
        `archived` an archived one."""
        types = (
            "public_channel,private_channel" if self.options.private_channels else "public_channel"
        )
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            data = self._call(
                "conversations.list",
                self._client.conversations_list,
                types=types,
                exclude_archived=not archived,
                limit=LIST_PAGE,
                cursor=cursor,
            )
            for channel in data.get("channels") or []:
                if (
                    isinstance(channel, dict)
                    and channel.get("name") == name
                    and bool(channel.get("is_archived")) == archived
                ):
                    return channel
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
        raise PermanentIntegrationError(
            PROVIDER, f"conversations.list: more than {MAX_PAGES} pages"
        )

    def _set_purpose(self, channel_id: str, description: str) -> None:
        """The channel's description; cosmetic, so a failure is logged, not raised."""
        try:
            self._call(
                "conversations.setPurpose",
                self._client.conversations_setPurpose,
                channel=channel_id,
                purpose=_cut(description, MAX_TOPIC),
            )
        except IntegrationError as exc:
            log.warning(
                "slack: channel %s created without its description: %s", channel_id, exc.message
            )

    def _invite(self, channel_id: str, users: list[str]) -> list[str]:
        """Invite `users` (≤ 1000). Slack invites nobody when one invite fails, so users that
        are already members (or the bot itself) are dropped and the rest asked again."""
        pending = list(users)
        while pending:
            data = self._call(
                "conversations.invite",
                self._client.conversations_invite,
                tolerate=tuple(_BENIGN_INVITE),
                channel=channel_id,
                users=",".join(pending),
            )
            errors = [e for e in data.get("errors") or [] if isinstance(e, dict)]
            if data.get("ok"):
                skipped = {e.get("user") for e in errors}
                return [uid for uid in pending if uid not in skipped]
            failures = [e for e in errors if e.get("error") not in _BENIGN_INVITE]
            if failures:
                detail = ", ".join(f"{e.get('user')}: {e.get('error')}" for e in failures[:10])
                raise PermanentIntegrationError(PROVIDER, f"conversations.invite -> {detail}")
            if not errors:  # no per-user detail: with one user it is that user, else ask one by one
                if len(pending) == 1:
                    return []
                return [uid for single in pending for uid in self._invite(channel_id, [single])]
            benign = {e.get("user") for e in errors}
            remaining = [uid for uid in pending if uid not in benign]
            if len(remaining) == len(pending):
                raise PermanentIntegrationError(
                    PROVIDER, f"conversations.invite -> {data.get('error')} for users not asked for"
                )
            pending = remaining
        return []

    def _channel_ref(self, channel: Mapping[str, Any]) -> ChannelRef:
        channel_id = str(channel["id"])
        base = self._workspace_url()
        return ChannelRef(
            PROVIDER,
            channel_id,
            str(channel.get("name") or ""),
            f"{base}/archives/{channel_id}" if base else None,
        )

    def _message_url(self, channel_id: str, ts: str) -> str | None:
        base = self._workspace_url()
        return f"{base}/archives/{channel_id}/p{ts.replace('.', '')}" if base else None

    def _workspace_url(self) -> str | None:
        """`workspace_url`, else the workspace URL auth.test reports (asked once; links are a
        nicety, so a failure leaves them out rather than failing the step)."""
        if self._workspace is None:
            try:
                data = self._call("auth.test", self._client.auth_test)
            except IntegrationError as exc:
                log.warning("slack: no workspace URL for links: %s", exc.message)
                return None
            url = str(data.get("url") or "").rstrip("/")
            if url.startswith(("https://", "http://")):
                self._workspace = url
            elif data.get("team_id"):
                self._workspace = f"https://app.slack.com/client/{data['team_id']}"
            else:
                return None
        return self._workspace

    def _call(
        self, method: str, fn: Callable[..., Any], tolerate: tuple[str, ...] = (), **kwargs: Any
    ) -> dict[str, Any]:
        """One Web API call. Answers whose `error` is in `tolerate` come back as data (with
        ok false) instead of raising."""
        from slack_sdk.errors import SlackApiError, SlackClientError

        try:
            response = fn(**kwargs)
        except SlackApiError as exc:
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            if exc.response.status_code == 200 and data.get("error") in tolerate:
                return dict(data)
            raise self._api_error(method, exc.response) from None
        except SlackClientError as exc:  # an unusable request (e.g. a base_url that is not http)
            raise PermanentIntegrationError(PROVIDER, self._scrub(f"{method}: {exc}")) from None
        except (OSError, http.client.HTTPException) as exc:
            # URLError, timeouts, refused/reset connections (after slack_sdk's one retry)
            reason = getattr(exc, "reason", None) or exc
            raise RetryableIntegrationError(
                PROVIDER, self._scrub(f"{method}: {type(exc).__name__}: {reason}")
            ) from None
        data = response.data
        return dict(data) if isinstance(data, dict) else {}

    def _api_error(self, method: str, response: Any) -> IntegrationError:
        status: int | None = getattr(response, "status_code", None)
        data = response.data if isinstance(response.data, dict) else {}
        error = str(data.get("error") or f"HTTP {status}")[:200]
        if status == 429 or error in RETRYABLE_ERRORS or (status is not None and status >= 500):
            retry_after = retry_after_seconds(_header(response.headers, "Retry-After"))
            return RetryableIntegrationError(
                PROVIDER, self._scrub(f"{method} -> {status}: {error}"), status, retry_after
            )
        if error == "missing_scope":
            needed = data.get("needed") or "?"
            message = f"{method} -> missing_scope: the bot token needs the {needed} scope (add it to the app and reinstall it)"
        elif error in _AUTH_ERRORS:
            message = f"{method} -> {error}: Slack does not accept the bot token"
        else:
            message = f"{method} -> {error}"
        per_user = [e for e in data.get("errors") or [] if isinstance(e, dict) and e.get("user")]
        if per_user:  # conversations.invite says which user failed how
            message += (
                " (" + ", ".join(f"{e['user']}: {e.get('error')}" for e in per_user[:10]) + ")"
            )
        return PermanentIntegrationError(PROVIDER, self._scrub(message), status)

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "[redacted]") if self._token else text


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name or "") or not re.search(r"[a-z0-9]", name):
        raise PermanentIntegrationError(
            PROVIDER,
            f"invalid channel name {name!r}: Slack takes 1-{MAX_NAME} lowercase letters, digits, - and _",
        )


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    for key, value in dict(headers).items():
        if str(key).lower() == name.lower():
            return str(value[0] if isinstance(value, list) and value else value)
    return None


# --- chat-ops: request signatures and response URLs -------------------------------------------


def signing_secret(secret: Mapping[str, str]) -> str:
    """The Slack app's Signing Secret from the chat integration's secret (`signing_secret`)."""
    value = (secret.get(SIGNING_SECRET_KEY) or "").strip()
    if not value:
        raise PermanentIntegrationError(
            PROVIDER,
            f"the secret lacks {SIGNING_SECRET_KEY} (the Slack app's Signing Secret, under "
            "Basic Information → App Credentials): chat-ops cannot verify requests",
        )
    return value


def verify_request(
    secret: str, body: bytes, headers: Mapping[str, str], now: float | None = None
) -> bool:
    """Slack's request signature (`X-Slack-Signature` = v0=HMAC-SHA256 over
    `v0:{X-Slack-Request-Timestamp}:{raw body}`), checked in constant time by slack_sdk's
    SignatureVerifier, which also refuses timestamps more than 5 minutes away from now."""
    from slack_sdk.signature import SignatureVerifier

    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    timestamp = lower.get("x-slack-request-timestamp")
    signature = lower.get("x-slack-signature")
    if not timestamp or not signature:
        return False
    from slack_sdk.signature import Clock

    class _At(Clock):
        def now(self) -> float:
            return float(now) if now is not None else super().now()

    verifier = SignatureVerifier(secret, _At())
    try:
        return bool(verifier.is_valid(body=body, timestamp=timestamp, signature=signature))
    except (ValueError, TypeError):  # a timestamp that is not a number
        return False


def post_response(options: Options, url: str, message: Mapping[str, Any]) -> None:
    """Post `message` to a response_url Slack gave with a command or an interaction (valid
    for 30 minutes, 5 messages). Only URLs under `options.response_url_base` (Slack's
    hooks.slack.com) are used: the URL comes in the request, so anything else is refused
    rather than letting a request make Tocsin post elsewhere. 429/5xx/network failures are
    retryable; other answers (expired_url, invalid_blocks, ...) permanent."""
    from slack_sdk.webhook import WebhookClient

    base = options.response_url_base
    if not url.startswith(base) or any(c.isspace() for c in url) or ".." in url:
        raise PermanentIntegrationError(
            PROVIDER, f"response_url refused: not under {base} ({url[:40]!r}…)"
        )
    client = WebhookClient(url, timeout=TIMEOUT)
    try:
        response = client.send_dict(dict(message))
    except (OSError, http.client.HTTPException) as exc:
        raise RetryableIntegrationError(
            PROVIDER, f"response_url: {type(exc).__name__}: {getattr(exc, 'reason', exc)}"
        ) from None
    status = response.status_code
    if 200 <= status < 300:
        return
    detail = (response.body or "")[:200] if isinstance(response.body, str) else ""
    if status == 429 or status >= 500:
        retry_after = retry_after_seconds(_header(response.headers, "Retry-After"))
        raise RetryableIntegrationError(
            PROVIDER, f"response_url -> {status}: {detail}", status, retry_after
        )
    raise PermanentIntegrationError(PROVIDER, f"response_url -> {status}: {detail}", status)

"""Slack's Events API, turned into vendor-neutral `ChatEvent`s, and copies of shared files.

What becomes a ChatEvent (the formats of Slack's event reference pages):
- `message` (no subtype, `file_share`, `thread_broadcast`, `bot_message`, `me_message`): a
  MESSAGE, its id the message's `ts`, its time that `ts`; a reply carries `thread_ts`.
- `message` / `message_changed`: an EDIT of `message.ts`, at `message.edited.ts`, with the new
  text and `previous_message`'s. A change that leaves the text as it was (Slack sends one when
  it unfurls a link) is no edit and is ignored.
- `message` / `message_deleted`: a DELETE of `deleted_ts`, with `previous_message`'s text.
- `reaction_added` / `reaction_removed` on a message (`item.type: message`).
Other events and subtypes (joins, topic changes, `message_replied`…) are not captured.

`download_file` fetches a file's `url_private_download` with the bot token, only from
`Options.file_url_base` (Slack's file host): the URL comes in the event, and the token must
never be sent anywhere else. Redirects are not followed (urllib would resend the token).
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from tocsin.domain.chatevents import ChatEvent, ChatEventKind, ChatFile
from tocsin.domain.errors import PayloadFormatError
from tocsin.integrations.http import USER_AGENT, retry_after_seconds
from tocsin.integrations.ports import PermanentIntegrationError, RetryableIntegrationError
from tocsin.integrations.slack import PROVIDER, TIMEOUT, Options

SOURCE = "slack events"
#: message subtypes that are someone saying something
_SAID = frozenset({None, "file_share", "thread_broadcast", "bot_message", "me_message"})
#: the bot events the capture subscribes to (the manifest lists them)
BOT_EVENTS: tuple[str, ...] = (
    "message.channels",
    "message.groups",
    "reaction_added",
    "reaction_removed",
)


def chat_event(envelope: Mapping[str, Any]) -> ChatEvent | None:
    """The ChatEvent of an `event_callback` envelope, or None for what is not captured.
    Raises PayloadFormatError when a captured kind lacks what identifies it."""
    event = envelope.get("event")
    if not isinstance(event, Mapping):
        raise PayloadFormatError(SOURCE, "event: missing or not an object")
    event_id = str(envelope.get("event_id") or "")
    kind = event.get("type")
    if kind == "message":
        return _message(event, event_id)
    if kind in ("reaction_added", "reaction_removed"):
        return _reaction(event, event_id)
    return None


def slack_time(ts: Any, field: str = "ts") -> datetime:
    """A Slack timestamp ("1596183880.004200": seconds and microseconds) as a UTC datetime,
    exactly (no float rounding: the same ts always gives the same time)."""
    seconds, _, fraction = str(ts or "").partition(".")
    if not seconds.isdigit() or (fraction and not fraction.isdigit()):
        raise PayloadFormatError(SOURCE, f"{field}: {str(ts)[:40]!r} is not a Slack timestamp")
    micros = int((fraction or "0").ljust(6, "0")[:6])
    return datetime.fromtimestamp(int(seconds), UTC) + timedelta(microseconds=micros)


def _required(event: Mapping[str, Any], field: str) -> str:
    value = event.get(field)
    if not isinstance(value, str) or not value:
        raise PayloadFormatError(SOURCE, f"event.{field}: missing")
    return value


def _thread(message: Mapping[str, Any], ts: str) -> str | None:
    parent = message.get("thread_ts")
    return str(parent) if parent and parent != ts else None


def _text(message: Mapping[str, Any]) -> str:
    text = message.get("text")
    return text if isinstance(text, str) else ""


def _is_bot(message: Mapping[str, Any]) -> bool:
    return bool(message.get("bot_id")) or message.get("subtype") == "bot_message"


def _files(message: Mapping[str, Any]) -> tuple[ChatFile, ...]:
    files = []
    for raw in message.get("files") or []:
        if not isinstance(raw, Mapping) or not raw.get("id"):
            continue
        size = raw.get("size")
        files.append(
            ChatFile(
                id=str(raw["id"]),
                name=str(raw.get("name") or raw.get("title") or raw["id"]),
                mimetype=str(raw.get("mimetype") or ""),
                size=size if isinstance(size, int) else 0,
                url=str(raw.get("url_private_download") or raw.get("url_private") or ""),
            )
        )
    return tuple(files)


def _message(event: Mapping[str, Any], event_id: str) -> ChatEvent | None:
    subtype = event.get("subtype")
    channel = _required(event, "channel")
    if subtype == "message_changed":
        return _edit(event, channel, event_id)
    if subtype == "message_deleted":
        return _deletion(event, channel, event_id)
    if subtype not in _SAID:
        return None
    ts = _required(event, "ts")
    return ChatEvent(
        provider=PROVIDER,
        channel_id=channel,
        kind=ChatEventKind.MESSAGE,
        message_id=ts,
        user_id=str(event.get("user") or event.get("bot_id") or ""),
        at=slack_time(ts),
        text=_text(event),
        thread_id=_thread(event, ts),
        files=_files(event),
        event_id=event_id,
        bot=_is_bot(event),
    )


def _edit(event: Mapping[str, Any], channel: str, event_id: str) -> ChatEvent | None:
    message = event.get("message")
    if not isinstance(message, Mapping):
        raise PayloadFormatError(SOURCE, "event.message: missing on message_changed")
    previous = event.get("previous_message")
    previous = previous if isinstance(previous, Mapping) else None
    if previous is not None and _text(previous) == _text(message):
        return None  # an unfurl or a metadata change: nobody edited the text
    ts = _required(message, "ts")
    raw_edited = message.get("edited")
    edited: Mapping[str, Any] = raw_edited if isinstance(raw_edited, Mapping) else {}
    return ChatEvent(
        provider=PROVIDER,
        channel_id=channel,
        kind=ChatEventKind.EDIT,
        message_id=ts,
        user_id=str(edited.get("user") or message.get("user") or message.get("bot_id") or ""),
        at=slack_time(edited.get("ts") or event.get("ts") or event.get("event_ts")),
        text=_text(message),
        thread_id=_thread(message, ts),
        event_id=event_id,
        bot=_is_bot(message),
        previous_text=_text(previous) if previous is not None else None,
        message_at=slack_time(ts),
    )


def _deletion(event: Mapping[str, Any], channel: str, event_id: str) -> ChatEvent:
    deleted = _required(event, "deleted_ts")
    previous = event.get("previous_message")
    previous = previous if isinstance(previous, Mapping) else {}
    return ChatEvent(
        provider=PROVIDER,
        channel_id=channel,
        kind=ChatEventKind.DELETE,
        message_id=deleted,
        # Slack does not say who deleted it: the author is who the message was by
        user_id=str(previous.get("user") or previous.get("bot_id") or ""),
        at=slack_time(event.get("ts") or event.get("event_ts")),
        thread_id=_thread(previous, deleted),
        event_id=event_id,
        bot=_is_bot(previous),
        previous_text=_text(previous) if previous else None,
        message_at=slack_time(deleted, "deleted_ts"),
    )


def _reaction(event: Mapping[str, Any], event_id: str) -> ChatEvent | None:
    item = event.get("item")
    if not isinstance(item, Mapping) or item.get("type") != "message":
        return None  # reactions to files are not about the channel's conversation
    return ChatEvent(
        provider=PROVIDER,
        channel_id=_required(item, "channel"),
        kind=ChatEventKind(str(event["type"])),
        message_id=_required(item, "ts"),
        user_id=_required(event, "user"),
        at=slack_time(event.get("event_ts"), "event_ts"),
        reaction=_required(event, "reaction"),
        event_id=event_id,
        message_at=slack_time(item.get("ts"), "item.ts"),
    )


# --- file copies ---------------------------------------------------------------------------------


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx comes back as an HTTPError: the token goes nowhere else


def download_file(options: Options, token: str, file: ChatFile, max_bytes: int) -> bytes:
    """The file's bytes from Slack (at most `max_bytes`). Retryable: 429, 5xx, network
    failures. Permanent: a URL that is not Slack's file host, 4xx, a redirect, too large, or
    a web page instead of the file (what Slack answers when the token lacks `files:read`)."""
    base = options.file_url_base
    url = file.url
    if not url:  # e.g. Slack Connect files (`file_access: check_file_info`)
        raise PermanentIntegrationError(PROVIDER, f"file {file.id}: no download URL in the event")
    if not url.startswith(base) or any(c.isspace() for c in url) or ".." in url:
        raise PermanentIntegrationError(PROVIDER, f"file {file.id}: not a URL under {base}")
    if file.size > max_bytes:
        raise PermanentIntegrationError(
            PROVIDER, f"file {file.id}: {file.size} bytes, more than the {max_bytes} copied"
        )
    request = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT}
    )
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(request, timeout=TIMEOUT) as resp:
            content_type = str(resp.headers.get("Content-Type") or "")
            body: bytes = resp.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        raise _http_error(file, exc) from None
    except (OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or type(exc).__name__
        raise RetryableIntegrationError(PROVIDER, f"file {file.id}: {reason}") from None
    if len(body) > max_bytes:
        raise PermanentIntegrationError(
            PROVIDER, f"file {file.id}: more than the {max_bytes} bytes copied"
        )
    if content_type.startswith("text/html") and "html" not in file.mimetype:
        raise PermanentIntegrationError(
            PROVIDER,
            f"file {file.id}: Slack answered with a web page, not the file "
            "(does the app have the files:read scope?)",
        )
    return body


def _http_error(file: ChatFile, exc: urllib.error.HTTPError) -> Exception:
    status = exc.code
    exc.close()
    if status == 429 or status >= 500:
        retry_after = retry_after_seconds(exc.headers.get("Retry-After") if exc.headers else None)
        return RetryableIntegrationError(
            PROVIDER, f"file {file.id} -> {status}", status, retry_after
        )
    return PermanentIntegrationError(PROVIDER, f"file {file.id} -> {status}", status)

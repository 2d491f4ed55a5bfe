"""Chat-ops answers as Microsoft Teams Adaptive Cards, and Teams activities as chat events.

`render(answer)` turns every answer of services/chatops.py into an Adaptive Card (1.4, as
integrations/teams.py's cards): caller text (titles, wording, page names) goes into TextRuns,
which Teams never parses as Markdown, cut to the card limits. The preview carries Publish and
Cancel as `Action.Submit` whose data is `{"action": PUBLISH|CANCEL, "value": draft id}`: the
card submit comes back to the bot as a `message` activity with that `value`. Outgoing webhooks
cannot receive a click (`buttons=False`): their preview says how to publish instead. An answer
type this module does not know yet is shown by its `text` (and `lines`), never dropped.

`teams_chat_event(activity)` is the capture contract's converter (domain/chatevents.py):
channel messages, edits (`messageUpdate`, eventType `editMessage`), deletions (`messageDelete`,
`softDeleteMessage`) and reactions (`messageReaction`).
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tocsin.domain.chatevents import ChatEvent, ChatEventKind, ChatFile
from tocsin.integrations.teams import (
    CARD_CONTENT_TYPE,
    CARD_SCHEMA,
    CARD_VERSION,
    MAX_ACTION_TITLE,
    MAX_BODY,
    MAX_TITLE,
    _cut,
    _rich,
    _run,
    _valid_url,
    render_card,
)
from tocsin.services.chatops import (
    CANCEL,
    PUBLISH,
    SLASH,
    Cancelled,
    DeclareForm,
    MessageAnswer,
    Preview,
    Published,
)

#: pages shown in one preview card (Teams caps a message at about 28 KB)
MAX_PAGES = 10
MAX_LINES = 30
MAX_LINE = 300
MAX_WORDING = 1500
_MENTION = re.compile(r"<at\b[^>]*>.*?</at>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


# --- cards ----------------------------------------------------------------------------------------


def _text(text: str, limit: int = MAX_BODY, **style: Any) -> dict[str, Any]:
    """Caller text, shown exactly as typed (a TextRun is never parsed as Markdown)."""
    return _rich(_run(_cut(text, limit), **style))


def _card(
    body: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    card: dict[str, Any] = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body or [_text(" ")],
        "msteams": {"width": "Full"},
    }
    if actions:
        card["actions"] = actions
    return card


#: the declare card's submit: its data joins the inputs' values (title, severity, …)
DECLARE_SUBMIT = "tocsin.declare.submit"


def render(answer: Any, buttons: bool = True) -> dict[str, Any]:
    """The Adaptive Card for an answer of ChatOps.command / ChatOps.act."""
    if isinstance(answer, MessageAnswer):
        return render_card(answer.message)
    if isinstance(answer, DeclareForm):
        return _declare(answer, buttons)
    if isinstance(answer, Preview):
        return _preview(answer, buttons)
    if isinstance(answer, Published):
        return _published(answer)
    if isinstance(answer, Cancelled):
        return _card([_text(f"Cancelled by {_cut(answer.by, 100)}: nothing was published.")])
    return _reply(answer)


def _declare(form: DeclareForm, buttons: bool) -> dict[str, Any]:
    """Teams has no modal: the form is a card whose Submit sends the inputs with
    `{"action": DECLARE_SUBMIT}` (an outgoing webhook cannot take a submit: it says how to
    declare in one line instead)."""
    if not buttons:
        return _card(
            [
                _text(
                    f"Declare in one line: {SLASH} declare {form.default_severity} [service] <title>"
                )
            ]
        )
    body: list[dict[str, Any]] = [
        _text("Declare an incident", MAX_TITLE, weight="Bolder", size="Medium"),
        {
            "type": "Input.Text",
            "id": "title",
            "label": "Title",
            "maxLength": 200,
            "isRequired": True,
            "errorMessage": "A title, please.",
        },
        {
            "type": "Input.ChoiceSet",
            "id": "severity",
            "label": "Severity",
            "value": form.default_severity,
            "choices": [
                {"title": _cut(name + (f" — {what}" if what else ""), 200), "value": name}
                for name, what in form.severities
            ],
        },
    ]
    if form.services:
        body.append(
            {
                "type": "Input.ChoiceSet",
                "id": "service",
                "label": "Service",
                "choices": [{"title": name, "value": name} for name in form.services],
            }
        )
    body.append(
        {
            "type": "Input.Text",
            "id": "description",
            "label": "Description",
            "isMultiline": True,
            "maxLength": 3000,
        }
    )
    # the form's own id: a second click (or a second person on the same card) declares nothing
    form_id = secrets.token_urlsafe(12)
    actions = [
        {
            "type": "Action.Submit",
            "title": "Declare",
            "data": {"action": DECLARE_SUBMIT, "form": form_id},
        }
    ]
    return _card(body, actions)


def replaces(answer: Any) -> bool:
    """Whether the answer takes the place of the card that was clicked (Slack's
    replace_original)."""
    if isinstance(answer, Published | Cancelled):
        return True
    return bool(getattr(answer, "replace", False))


def _reply(answer: Any) -> dict[str, Any]:
    """A Reply, or any later answer type with `text` (and maybe `lines`)."""
    text = getattr(answer, "text", None)
    body = [_text(str(text) if text else "Done.")]
    lines = [str(line) for line in getattr(answer, "lines", None) or []][:MAX_LINES]
    body += [_text(f"• {line}", MAX_LINE) for line in lines]
    return _card(body)


def _preview(preview: Preview, buttons: bool) -> dict[str, Any]:
    incident = preview.incident
    body: list[dict[str, Any]] = [
        _text(
            f"Status page preview: {incident.ref} {incident.title}",
            MAX_TITLE,
            weight="Bolder",
            size="Medium",
        )
    ]
    for draft in preview.drafts[:MAX_PAGES]:
        name = preview.page_names.get(draft.page, draft.page)
        action = f"update {draft.record_id}" if draft.record_id else "open a new incident"
        components = ", ".join(f"{k}: {v.value}" for k, v in draft.components.items()) or "none"
        body.append(
            {
                "type": "Container",
                "separator": True,
                "items": [
                    _text(f"{name} ({draft.page}): {action}", 300, weight="Bolder"),
                    {
                        "type": "FactSet",
                        "facts": [
                            {"title": "Status", "value": draft.status.value},
                            {"title": "Impact", "value": draft.impact.value},
                            {"title": "Components", "value": _cut(components, 800)},
                        ],
                    },
                    _text(draft.body, MAX_WORDING, isSubtle=True),
                ],
            }
        )
    if len(preview.drafts) > MAX_PAGES:
        body.append(_text(f"… and {len(preview.drafts) - MAX_PAGES} more pages"))
    if not buttons:
        body.append(
            _text(
                "Outgoing webhooks cannot take a click: publish this with the Tocsin bot, or "
                "`tocsin statuspage publish`.",
                size="Small",
                isSubtle=True,
            )
        )
        return _card(body)
    actions = [
        {
            "type": "Action.Submit",
            "title": "Publish",
            "style": "positive",
            "data": {"action": PUBLISH, "value": preview.draft_id},
        },
        {
            "type": "Action.Submit",
            "title": "Cancel",
            "data": {"action": CANCEL, "value": preview.draft_id},
        },
    ]
    return _card(body, actions)


def _published(published: Published) -> dict[str, Any]:
    incident = published.incident
    body = [
        _text(
            f"Published {incident.ref} to the status page (by {_cut(published.author, 100)})",
            MAX_TITLE,
            weight="Bolder",
        )
    ]
    actions: list[dict[str, Any]] = []
    for page in published.pages[:MAX_PAGES]:
        what = page["status"] if page["changed"] else f"{page['status']} (it said this already)"
        body.append(_text(f"{page['name']}: {what}", 300, weight="Bolder"))
        body.append(_text(str(page["body"]), MAX_WORDING, isSubtle=True))
        url = str(page.get("url") or "")
        if _valid_url(url):
            actions.append(
                {
                    "type": "Action.OpenUrl",
                    "title": _cut(f"Open {page['name']}", MAX_ACTION_TITLE),
                    "url": url,
                }
            )
    return _card(body, actions[:6])


def attachment(card: dict[str, Any]) -> dict[str, Any]:
    return {"contentType": CARD_CONTENT_TYPE, "content": card}


def message(card: dict[str, Any]) -> dict[str, Any]:
    """A message activity holding one card (an outgoing webhook's answer, a bot's reply)."""
    return {"type": "message", "attachments": [attachment(card)]}


# --- inbound text ---------------------------------------------------------------------------------


def command_text(activity: Mapping[str, Any]) -> str:
    """What a person typed to the bot, without the `<at>Bot</at>` mention Teams puts in the
    text (and without other markup: channel messages arrive as HTML)."""
    text = str(activity.get("text") or "")
    text = _MENTION.sub(" ", text)
    text = html.unescape(_TAG.sub(" ", text))
    words = text.split()
    if words and words[0].lower() in {SLASH, SLASH.lstrip("/"), "incident"}:
        words = words[1:]  # "@Tocsin /incident statuspage …" and "@Tocsin statuspage …" alike
    return " ".join(words)


def mentions_bot(activity: Mapping[str, Any]) -> bool:
    """Whether the activity @mentions its recipient (the bot)."""
    bot = str((activity.get("recipient") or {}).get("id") or "")
    for entity in activity.get("entities") or []:
        if not isinstance(entity, dict) or entity.get("type") != "mention":
            continue
        mentioned = entity.get("mentioned")
        if bot and isinstance(mentioned, dict) and str(mentioned.get("id") or "") == bot:
            return True
    return False


def user_of(activity: Mapping[str, Any]) -> str:
    """The Entra object id (what `people[].teams` holds), else the Teams user id."""
    sender = activity.get("from") or {}
    return str(sender.get("aadObjectId") or sender.get("id") or "")


def teams_channel_id(activity: Mapping[str, Any]) -> str:
    """The Teams channel (`19:…@thread.tacv2`) the activity happened in, '' outside channels."""
    data = activity.get("channelData") or {}
    channel = data.get("channel") if isinstance(data, dict) else None
    if isinstance(channel, dict) and channel.get("id"):
        return str(channel["id"])
    if isinstance(data, dict) and data.get("teamsChannelId"):
        return str(data["teamsChannelId"])
    return ""


# --- capture --------------------------------------------------------------------------------------


def _at(activity: Mapping[str, Any]) -> datetime:
    raw = str(activity.get("timestamp") or "")
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _plain(activity: Mapping[str, Any]) -> str:
    """The message's text as people read it (Teams sends channel messages as HTML)."""
    text = str(activity.get("text") or "")
    if str(activity.get("textFormat") or "") in {"xml", "html"} or "<" in text:
        text = html.unescape(_TAG.sub("", re.sub(r"<br\s*/?>|</p>", "\n", text, flags=re.I)))
    return text.strip()


def _files(activity: Mapping[str, Any]) -> tuple[ChatFile, ...]:
    """Shared files (`application/vnd.microsoft.teams.file.download.info` attachments, and
    plain attachments with a contentUrl); cards are not files."""
    files: list[ChatFile] = []
    for n, item in enumerate(activity.get("attachments") or []):
        if not isinstance(item, dict):
            continue
        kind = str(item.get("contentType") or "")
        if kind.startswith("application/vnd.microsoft.card") or kind == "text/html":
            continue
        raw = item.get("content")
        content: dict[str, Any] = raw if isinstance(raw, dict) else {}
        url = str(content.get("downloadUrl") or item.get("contentUrl") or "")
        if not url:
            continue
        files.append(
            ChatFile(
                id=str(content.get("uniqueId") or item.get("id") or n),
                name=str(item.get("name") or ""),
                mimetype=str(content.get("fileType") or kind),
                url=url,
            )
        )
    return tuple(files)


def teams_chat_event(activity: Mapping[str, Any]) -> ChatEvent | None:
    """The chat event a Teams channel activity is, or None (not a channel, not a kind the
    timeline keeps: typing, conversationUpdate, a card submit). `channel_id` is the Teams
    channel id; the caller maps it to the channel directory's id."""
    channel = teams_channel_id(activity)
    if not channel:
        return None
    kind = str(activity.get("type") or "")
    event_type = str((activity.get("channelData") or {}).get("eventType") or "")
    conversation = str((activity.get("conversation") or {}).get("id") or "")
    thread = conversation.partition(";messageid=")[2] or None
    common: dict[str, Any] = {
        "provider": "teams",
        "channel_id": channel,
        "user_id": user_of(activity),
        "at": _at(activity),
        "event_id": str(activity.get("id") or ""),
        "bot": str((activity.get("from") or {}).get("role") or "") == "bot",
    }
    message_id = str(activity.get("id") or "")
    if kind == "message":
        value = activity.get("value")
        if isinstance(value, dict) and "action" in value:
            return None  # a click on a card, not something said in the channel
        if thread == message_id:
            thread = None  # the thread's first message
        return ChatEvent(
            kind=ChatEventKind.MESSAGE,
            message_id=message_id,
            text=_plain(activity),
            thread_id=thread,
            files=_files(activity),
            **common,
        )
    if kind == "messageUpdate" and event_type == "editMessage":
        return ChatEvent(
            kind=ChatEventKind.EDIT,
            message_id=message_id,
            text=_plain(activity),
            thread_id=thread if thread != message_id else None,
            **common,
        )
    if kind == "messageUpdate" and event_type == "undeleteMessage":
        return None  # an undelete: the message is there again; the timeline keeps both
    if kind == "messageDelete" and event_type in {"softDeleteMessage", ""}:
        return ChatEvent(kind=ChatEventKind.DELETE, message_id=message_id, **common)
    if kind == "messageReaction":
        added = activity.get("reactionsAdded") or []
        removed = activity.get("reactionsRemoved") or []
        target = str(activity.get("replyToId") or message_id)
        common["message_id"] = target
        if added:
            return ChatEvent(
                kind=ChatEventKind.REACTION_ADDED,
                reaction=str(added[0].get("type") or ""),
                **common,
            )
        if removed:
            return ChatEvent(
                kind=ChatEventKind.REACTION_REMOVED,
                reaction=str(removed[0].get("type") or ""),
                **common,
            )
    return None

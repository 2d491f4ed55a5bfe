"""Chat-ops answers as Slack messages (Block Kit) for a response_url.

Every answer is ephemeral (only the person who typed the command sees it). The preview has
one section per status page and two buttons whose `value` is the stored draft's id (well
under Slack's 2,000 characters); Publish and Cancel replace the preview (`replace_original`).
All caller text (titles, wording) is escaped and cut to Slack's limits by `fit`.
"""

from __future__ import annotations

import re
from typing import Any

from tocsin.integrations.slack import (
    MAX_FALLBACK_TEXT,
    MAX_HEADER,
    MAX_SECTION_TEXT,
    fallback_text,
    fit,
    render_blocks,
)
from tocsin.services.chatops import (
    CANCEL,
    PUBLISH,
    Answer,
    Cancelled,
    DeclareForm,
    MessageAnswer,
    Preview,
    Published,
    Reply,
)

#: pages shown in one preview (each takes two blocks; a message holds at most 50)
MAX_PAGES = 20


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def render(answer: Answer) -> dict[str, Any]:
    if isinstance(answer, MessageAnswer):
        return {
            "response_type": "ephemeral",
            "text": fallback_text(answer.message),
            "blocks": render_blocks(answer.message),
        }
    if isinstance(answer, DeclareForm):  # the modal opens in the acknowledgement; not here
        return _reply(Reply(f"Declare with `/incident declare {answer.default_severity} <title>`."))
    if isinstance(answer, Preview):
        return _preview(answer)
    if isinstance(answer, Published):
        return _published(answer)
    if isinstance(answer, Cancelled):
        return {
            "response_type": "ephemeral",
            "replace_original": True,
            "text": f"Cancelled by {fit(answer.by, 100)}: nothing was published.",
        }
    return _reply(answer)


#: a user mention survives escaping (answers name people as `<@U123>`; a mention typed in a
#: note is one the person could have typed in the channel anyway)
_ESCAPED_MENTION = re.compile(r"&lt;@([UW][A-Z0-9]{2,30})&gt;")


def _text(text: str, limit: int) -> str:
    return _ESCAPED_MENTION.sub(r"<@\1>", fit(text, limit))


def _reply(reply: Reply) -> dict[str, Any]:
    text = _text(reply.text, MAX_SECTION_TEXT)
    message: dict[str, Any] = {
        "response_type": "in_channel" if reply.public else "ephemeral",
        "text": _text(reply.text, MAX_FALLBACK_TEXT),
        "blocks": [_section(text)],
    }
    if reply.lines:
        body = "\n".join(f"• {fit(line, 300)}" for line in reply.lines)
        message["blocks"].append(_section(body[:MAX_SECTION_TEXT]))
    if reply.replace:
        message["replace_original"] = True
    return message


def _preview(preview: Preview) -> dict[str, Any]:
    incident = preview.incident
    title = f"Status page preview: {incident.ref} {incident.title}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": fit(title, MAX_HEADER)}}
    ]
    for draft in preview.drafts[:MAX_PAGES]:
        name = preview.page_names.get(draft.page, draft.page)
        action = f"update {draft.record_id}" if draft.record_id else "open a new incident"
        components = (
            ", ".join(f"{fit(k, 100)}: {v.value}" for k, v in draft.components.items()) or "none"
        )
        head = (
            f"*{fit(name, 150)}* ({fit(draft.page, 40)}): {action}\n"
            f"*Status:* {draft.status.value}   *Impact:* {draft.impact.value}\n"
            f"*Components:* {fit(components, 800)}\n"
        )
        blocks.append(_section(head + ">" + fit(draft.body, MAX_SECTION_TEXT - len(head) - 1)))
    if len(preview.drafts) > MAX_PAGES:
        blocks.append(_section(f"… and {len(preview.drafts) - MAX_PAGES} more pages"))
    blocks.append(
        {
            "type": "actions",
            "block_id": "tocsin.statuspage",
            "elements": [
                {
                    "type": "button",
                    "action_id": PUBLISH,
                    "text": {"type": "plain_text", "text": "Publish"},
                    "style": "primary",
                    "value": preview.draft_id,
                },
                {
                    "type": "button",
                    "action_id": CANCEL,
                    "text": {"type": "plain_text", "text": "Cancel"},
                    "value": preview.draft_id,
                },
            ],
        }
    )
    pages = ", ".join(preview.page_names.get(d.page, d.page) for d in preview.drafts)
    return {
        "response_type": "ephemeral",
        "text": fit(f"Status page preview for {incident.ref} ({pages})", MAX_FALLBACK_TEXT),
        "blocks": blocks,
    }


def _published(published: Published) -> dict[str, Any]:
    incident = published.incident
    blocks: list[dict[str, Any]] = [
        _section(
            f"*Published {incident.ref} to the status page* (by {fit(published.author, 100)}):"
        )
    ]
    for page in published.pages[:MAX_PAGES]:
        what = page["status"] if page["changed"] else f"{page['status']} (it said this already)"
        link = page["url"] if str(page["url"]).startswith(("https://", "http://")) else ""
        name = fit(str(page["name"]), 150)
        shown = f"<{link}|{name}>" if link else name
        text = f"{shown}: {what}\n"
        blocks.append(
            _section(text + ">" + fit(str(page["body"]), MAX_SECTION_TEXT - len(text) - 1))
        )
    names = ", ".join(str(p["name"]) for p in published.pages)
    return {
        "response_type": "ephemeral",
        "replace_original": True,
        "text": fit(f"Published {incident.ref} to {names}", MAX_FALLBACK_TEXT),
        "blocks": blocks,
    }


# --- the declare modal ------------------------------------------------------------------------
DECLARE_CALLBACK = "tocsin.declare"
#: block ids of the modal's inputs (view_submission state.values is keyed by them)
TITLE, SEVERITY, SERVICE, DESCRIPTION = "title", "severity", "service", "description"
MAX_TITLE = 200
MAX_METADATA = 3000  # private_metadata


def declare_view(form: DeclareForm, metadata: str) -> dict[str, Any]:
    """The modal `/incident declare` opens (views.open). `metadata` (private_metadata, at
    most 3,000 characters) carries the channel and the command's response_url back with
    the submission, so the answer reaches the person where they typed the command."""

    def option(label: str, value: str) -> dict[str, Any]:
        return {"text": {"type": "plain_text", "text": fit(label, 75)}, "value": value[:150]}

    severities = [
        option(name + (f" — {what}" if what else ""), name) for name, what in form.severities
    ][:100]
    initial = next((o for o in severities if o["value"] == form.default_severity), None)
    severity: dict[str, Any] = {
        "type": "static_select",
        "action_id": "value",
        "options": severities,
    }
    if initial:
        severity["initial_option"] = initial
    blocks: list[dict[str, Any]] = [
        {
            "type": "input",
            "block_id": TITLE,
            "label": {"type": "plain_text", "text": "Title"},
            "element": {
                "type": "plain_text_input",
                "action_id": "value",
                "max_length": MAX_TITLE,
                "placeholder": {"type": "plain_text", "text": "What is broken, for whom?"},
            },
        },
        {
            "type": "input",
            "block_id": SEVERITY,
            "label": {"type": "plain_text", "text": "Severity"},
            "element": severity,
        },
    ]
    if form.services:
        blocks.append(
            {
                "type": "input",
                "block_id": SERVICE,
                "optional": True,
                "label": {"type": "plain_text", "text": "Service"},
                "element": {
                    "type": "static_select",
                    "action_id": "value",
                    "options": [option(name, name) for name in form.services][:100],
                },
            }
        )
    blocks.append(
        {
            "type": "input",
            "block_id": DESCRIPTION,
            "optional": True,
            "label": {"type": "plain_text", "text": "Description"},
            "element": {
                "type": "plain_text_input",
                "action_id": "value",
                "multiline": True,
                "max_length": 3000,
            },
        }
    )
    return {
        "type": "modal",
        "callback_id": DECLARE_CALLBACK,
        "title": {"type": "plain_text", "text": "Declare an incident"},
        "submit": {"type": "plain_text", "text": "Declare"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": metadata[:MAX_METADATA],
        "blocks": blocks,
    }


def submitted_fields(view: dict[str, Any]) -> dict[str, str]:
    """title, severity, service, description from a view_submission's state.values."""
    values = ((view.get("state") or {}).get("values")) or {}
    out: dict[str, str] = {}
    for block in (TITLE, SEVERITY, SERVICE, DESCRIPTION):
        element = (values.get(block) or {}).get("value") or {}
        if not isinstance(element, dict):
            continue
        chosen = element.get("selected_option")
        value = chosen.get("value") if isinstance(chosen, dict) else element.get("value")
        if isinstance(value, str) and value.strip():
            out[block] = value.strip()
    return out

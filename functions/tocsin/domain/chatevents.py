"""What happened in an incident channel, vendor-neutral: the input of the transcript capture.

Slack's Events API (`message` and its `message_changed` / `message_deleted` subtypes, threads,
`reaction_added` / `reaction_removed`, files) and Teams' bot activities (`message`,
`messageUpdate`, `messageDelete`, `messageReaction`) are both turned into `ChatEvent`s;
services/capture.py puts them on the incident's timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ChatEventKind(StrEnum):
    MESSAGE = "message"
    EDIT = "edit"
    DELETE = "delete"
    REACTION_ADDED = "reaction_added"
    REACTION_REMOVED = "reaction_removed"


@dataclass(frozen=True)
class ChatFile:
    """A file shared in a message. `url` is the vendor's (private, expiring) download URL."""

    id: str
    name: str
    mimetype: str = ""
    size: int = 0
    url: str = ""


@dataclass(frozen=True)
class ChatEvent:
    provider: str  # slack | teams
    channel_id: str
    kind: ChatEventKind
    #: the message this is about (Slack: its ts; Teams: the activity/message id)
    message_id: str
    user_id: str
    at: datetime
    text: str = ""
    #: the thread's parent message id when the message is a reply
    thread_id: str | None = None
    #: reaction name (Slack: `pushpin`; Teams: `like`, `heart`…)
    reaction: str | None = None
    files: tuple[ChatFile, ...] = ()
    #: the vendor's delivery id (Slack event_id, Teams activity id): a retry has the same one
    event_id: str = ""
    #: a bot's own message (Tocsin's) — recorded as such, never as a person's
    bot: bool = False
    #: EDIT and DELETE: the text before the change, when the vendor says it (Slack's
    #: `previous_message`); the edit keeps both, the deletion keeps what was deleted
    previous_text: str | None = None
    #: when the message this is about was posted (Slack: its ts), when the vendor says it: an
    #: edit, deletion or reaction then finds the message's own timeline event (its text)
    message_at: datetime | None = None

"""The incident channel's transcript: chat events (Slack, Teams) onto the incident's timeline.

Only channels that belong to an incident (ChannelDirectory) are captured; anything else is
ignored and counted in a log line without its content. Every timeline event says who (the
chat user, and the Tocsin person `people[].<provider>` maps them to) and when (the chat tool's
time, not when it arrived), and its `data` stands on its own: the postmortem builds the
transcript from these events without asking the chat tool again.

Exactly once: an event's timeline id is derived from what it is about (provider, channel,
message, kind, and the edit's time or the delivery's id), its time is the vendor's, and it is
appended only when absent: a redelivered or retried event appends nothing twice.

- MESSAGE -> `chat_message` (`thread_id` for replies, `bot` for bots' messages, `files`)
- EDIT -> `chat_message_edited` (previous and new text); DELETE -> `chat_message_deleted`
  (the message's own event stays on the timeline: the deletion marks it)
- REACTION_ADDED/REMOVED with `chatops.key_event_reaction` -> `key_event` /
  `key_event_unmarked` (with the message's text); other reactions -> `chat_reaction`

Files: images (up to `chatops.copy_images_max_bytes`) and other files (up to
`chatops.copy_files_max_bytes`) are copied to the artifact bucket, since chat URLs expire.
A copy that fails for good never loses the message: the file is recorded `copy_failed` with
the reason. A chat tool outage raises (the queue retries) until the last attempt, which
records the failure instead.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tocsin.domain.chatevents import ChatEvent, ChatEventKind, ChatFile
from tocsin.domain.clock import iso
from tocsin.domain.timeline import Actor, ActorKind, TimelineEvent, TimelineKind
from tocsin.integrations.ports import PermanentIntegrationError, RetryableIntegrationError

if TYPE_CHECKING:
    from tocsin.dal.chatops import ChannelDirectory
    from tocsin.dal.incidents import IncidentRepository
    from tocsin.domain.config import TocsinConfig

log = logging.getLogger(__name__)

#: (provider, file, max bytes) -> the file's bytes; raises the ports' integration errors
FileFetcher = Callable[[str, ChatFile, int], bytes]
#: (incident id, provider, file, bytes) -> the stored copy's key
FileStore = Callable[[str, str, ChatFile, bytes], str]

_KINDS = {
    ChatEventKind.MESSAGE: TimelineKind.CHAT_MESSAGE,
    ChatEventKind.EDIT: TimelineKind.CHAT_MESSAGE_EDITED,
    ChatEventKind.DELETE: TimelineKind.CHAT_MESSAGE_DELETED,
}


@dataclass(frozen=True)
class Captured:
    """What capturing one chat event did: `incident_id` None when the channel is no
    incident's; `kind` None when appended is False because it was there already."""

    incident_id: str | None
    kind: TimelineKind | None = None
    appended: bool = False


def timeline_id(event: ChatEvent, kind: TimelineKind) -> str:
    """The same chat event always gets the same timeline id. An edit is told apart from the
    message's other edits by its time; a reaction by its delivery (the same pushpin may be
    added, removed and added again)."""
    if kind in (TimelineKind.CHAT_MESSAGE, TimelineKind.CHAT_MESSAGE_DELETED):
        discriminator = ""
    elif kind is TimelineKind.CHAT_MESSAGE_EDITED:
        discriminator = iso(event.at)
    else:
        discriminator = event.event_id or f"{event.user_id}|{event.reaction}|{iso(event.at)}"
    parts = (event.provider, event.channel_id, event.message_id, kind.value, discriminator)
    return "chat_" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:26]


def is_image(file: ChatFile) -> bool:
    return file.mimetype.lower().startswith("image/")


class CaptureService:
    def __init__(
        self,
        config: TocsinConfig,
        incidents: IncidentRepository,
        channels: ChannelDirectory,
        fetch: FileFetcher,
        store: FileStore,
    ) -> None:
        self.config = config
        self.incidents = incidents
        self.channels = channels
        self.fetch = fetch
        self.store = store

    def capture(self, event: ChatEvent, last_attempt: bool = True) -> Captured:
        """Put one chat event on its incident's timeline (once). `last_attempt`: a file copy
        that fails for a passing reason is recorded as failed instead of raised."""
        incident_id = self.channels.incident_of(event.provider, event.channel_id)
        if incident_id is None:
            log.info(
                "chat event ignored: not an incident channel",
                extra={"provider": event.provider, "chat_event": event.kind.value, "ignored": 1},
            )
            return Captured(None)
        kind = self._kind(event)
        entry_id = timeline_id(event, kind)
        if self.incidents.timeline_event(incident_id, event.at, entry_id) is not None:
            return Captured(incident_id, None, False)  # a redelivery: nothing to redo
        data = self._data(incident_id, event, kind, last_attempt)
        appended = self.incidents.append_timeline(
            TimelineEvent(
                id=entry_id,
                incident_id=incident_id,
                at=event.at,
                kind=kind,
                actor=self._actor(event),
                data=data,
            ),
            once=True,
        )
        log.info(
            "chat event captured",
            extra={"incident_id": incident_id, "kind": kind.value, "appended": appended},
        )
        return Captured(incident_id, kind if appended else None, appended)

    # --- what it is -----------------------------------------------------------------------------
    def _kind(self, event: ChatEvent) -> TimelineKind:
        if event.kind in _KINDS:
            return _KINDS[event.kind]
        if self._is_key_reaction(event.reaction):
            if event.kind is ChatEventKind.REACTION_ADDED:
                return TimelineKind.KEY_EVENT
            return TimelineKind.KEY_EVENT_UNMARKED
        return TimelineKind.CHAT_REACTION

    def _is_key_reaction(self, reaction: str | None) -> bool:
        # Slack adds skin tones as `name::skin-tone-2`
        name = (reaction or "").split("::", 1)[0]
        return bool(name) and name == self.config.chatops.key_event_reaction

    def person_of(self, provider: str, user_id: str) -> str | None:
        """The Tocsin person (config `people[].slack` / `.teams`) behind a chat user."""
        if not user_id:
            return None
        return next((p.id for p in self.config.people if p.chat_id(provider) == user_id), None)

    def _actor(self, event: ChatEvent) -> Actor:
        if event.bot:
            return Actor.integration(event.provider)
        person = self.person_of(event.provider, event.user_id)
        return Actor(kind=ActorKind.USER, id=person or event.user_id or "unknown")

    # --- what is kept -----------------------------------------------------------------------
    def _data(
        self, incident_id: str, event: ChatEvent, kind: TimelineKind, last_attempt: bool
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "provider": event.provider,
            "channel_id": event.channel_id,
            "message_id": event.message_id,
            "thread_id": event.thread_id,
            "user": event.user_id,
            "person": self.person_of(event.provider, event.user_id),
            "bot": event.bot,
        }
        if kind is TimelineKind.CHAT_MESSAGE:
            data["text"] = event.text
            data["files"] = [self._copy(incident_id, event, f, last_attempt) for f in event.files]
        elif kind is TimelineKind.CHAT_MESSAGE_EDITED:
            data["text"] = event.text
            data["previous_text"] = self._previous_text(incident_id, event)
        elif kind is TimelineKind.CHAT_MESSAGE_DELETED:
            data["deleted"] = True
            data["text"] = self._previous_text(incident_id, event)
        else:
            data.update(self._reaction_data(incident_id, event, kind))
        data["message_event"] = self._message_event_id(event)
        return data

    def _message_event_id(self, event: ChatEvent) -> str:
        """The timeline id of the message this event is about (its `chat_message`)."""
        return timeline_id(
            ChatEvent(
                provider=event.provider,
                channel_id=event.channel_id,
                kind=ChatEventKind.MESSAGE,
                message_id=event.message_id,
                user_id="",
                at=event.at,
            ),
            TimelineKind.CHAT_MESSAGE,
        )

    def _message(self, incident_id: str, event: ChatEvent) -> TimelineEvent | None:
        """The message's own timeline event, when the vendor says when it was posted."""
        at: datetime | None = event.message_at
        if at is None:
            return None
        return self.incidents.timeline_event(incident_id, at, self._message_event_id(event))

    def _previous_text(self, incident_id: str, event: ChatEvent) -> str | None:
        if event.previous_text is not None:
            return event.previous_text
        message = self._message(incident_id, event)
        return str(message.data.get("text") or "") if message is not None else None

    def _reaction_data(
        self, incident_id: str, event: ChatEvent, kind: TimelineKind
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"reaction": event.reaction}
        if kind is TimelineKind.CHAT_REACTION:
            data["removed"] = event.kind is ChatEventKind.REACTION_REMOVED
            return data
        # a key event stands on its own: what was said (as it read when marked), by whom, when
        message = self._message(incident_id, event)
        if message is not None:
            data["text"] = self._text_when_marked(incident_id, message, event.at)
            data["message_user"] = message.data.get("user")
            data["message_person"] = message.data.get("person")
            data["message_at"] = iso(message.at)
            data["thread_id"] = message.data.get("thread_id")
        elif event.message_at is not None:
            data["message_at"] = iso(event.message_at)
        return data

    def _text_when_marked(self, incident_id: str, message: TimelineEvent, at: datetime) -> Any:
        """The message's text after its last edit before `at` (else as it was posted)."""
        edits = self.incidents.timeline_of_kind(
            incident_id, TimelineKind.CHAT_MESSAGE_EDITED.value, message.at, at
        )
        mine = [e for e in edits if e.data.get("message_event") == message.id]
        return (mine[-1] if mine else message).data.get("text")

    # --- files ----------------------------------------------------------------------------------
    def _copy(
        self, incident_id: str, event: ChatEvent, file: ChatFile, last_attempt: bool
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": file.id,
            "name": file.name,
            "mimetype": file.mimetype,
            "size": file.size,
            "image": is_image(file),
        }
        settings = self.config.chatops
        limit = settings.copy_images_max_bytes if is_image(file) else settings.copy_files_max_bytes
        if limit <= 0:
            return {**entry, "copy": "not_copied", "reason": "only images are copied"}
        try:
            body = self.fetch(event.provider, file, limit)
        except RetryableIntegrationError as exc:
            if not last_attempt:
                raise
            return {**entry, "copy": "copy_failed", "reason": exc.message[:300]}
        except PermanentIntegrationError as exc:
            log.warning("chat file not copied", extra={"error": exc.message[:300]})
            return {**entry, "copy": "copy_failed", "reason": exc.message[:300]}
        key = self.store(incident_id, event.provider, file, body)
        return {**entry, "copy": "copied", "key": key, "size": len(body)}

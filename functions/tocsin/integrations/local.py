"""Local adapters: what Tocsin would have sent, recorded in its own table.

The default for every port when no vendor is configured, so the whole response flow runs out
of the box (demo, local mode, a fresh deployment): channels, messages (direct messages too, in
a `D…` conversation per person), pins, links, bridges and tickets are stored under `LOCAL#…`
keys and behave like the real thing (idempotent on names and keys), and
the demo, `tocsin incidents show` and the tests read them back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict
from datetime import date
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from tocsin.dal.aws import client
from tocsin.dal.dynamo import deser, is_conditional_failure, query_all, ser, ser_value
from tocsin.domain.clock import iso, utcnow
from tocsin.domain.ids import ulid
from tocsin.integrations.http import iso_day
from tocsin.integrations.ports import (
    BridgeRef,
    ChannelRef,
    ChatMessage,
    MessageRef,
    PermanentIntegrationError,
    TicketRef,
)

PROVIDER = "local"


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _short(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:10]


def _dm_id(user_id: str) -> str:
    """The local direct-message conversation with `user_id` (like Slack's D… ids)."""
    return f"D{_short(user_id.strip())}"


class _Recorder:
    def __init__(self, table: str) -> None:
        self.table = table
        self.ddb = client("dynamodb")

    def put_new(self, pk: str, sk: str, data: dict[str, Any]) -> dict[str, Any]:
        """Store if absent; return what is stored (ours or the earlier one)."""
        item = {"pk": pk, "sk": sk, "type": "local_outbox", "at": iso(utcnow()), **data}
        try:
            self.ddb.put_item(
                TableName=self.table, Item=ser(item), ConditionExpression="attribute_not_exists(pk)"
            )
            return item
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
        found = self.get(pk, sk)
        assert found is not None
        return found

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        resp = self.ddb.get_item(
            TableName=self.table, Key=ser({"pk": pk, "sk": sk}), ConsistentRead=True
        )
        return deser(resp["Item"]) if "Item" in resp else None

    def update(self, pk: str, sk: str, expression: str, values: dict[str, Any]) -> None:
        self.ddb.update_item(
            TableName=self.table,
            Key=ser({"pk": pk, "sk": sk}),
            UpdateExpression=expression,
            ExpressionAttributeValues={k: ser_value(v) for k, v in values.items()},
        )

    def query(self, pk: str) -> list[dict[str, Any]]:
        return query_all(
            self.ddb,
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": ser_value(pk)},
        )


class LocalChat(_Recorder):
    provider = PROVIDER

    def _ref(self, item: dict[str, Any]) -> ChannelRef:
        return ChannelRef(PROVIDER, item["id"], item["name"], f"local:channel/{item['name']}")

    def find_channel(self, name: str) -> ChannelRef | None:
        """The local workspace has every channel the configuration names (team and
        stakeholder channels): looking one up makes it."""
        return self.create_channel(name, "")

    def create_channel(self, name: str, description: str) -> ChannelRef:
        if not name or len(name) > 80:
            raise PermanentIntegrationError(PROVIDER, f"invalid channel name {name!r}")
        item = self.put_new(
            "LOCAL#channel",
            name,
            {"id": f"L{_short(name)}", "name": name, "description": description, "topic": ""},
        )
        return self._ref(item)

    def set_topic(self, channel: ChannelRef, topic: str) -> None:
        self.update("LOCAL#channel", channel.name, "SET topic = :t", {":t": topic})

    def invite(self, channel: ChannelRef, user_ids: list[str]) -> list[str]:
        found = self.get("LOCAL#channel", channel.name) or {}
        members = list(found.get("members", []))
        added = [u for u in dict.fromkeys(user_ids) if u not in members]
        if added:
            self.update("LOCAL#channel", channel.name, "SET members = :m", {":m": members + added})
        return added

    def post_message(self, channel: ChannelRef, message: ChatMessage) -> MessageRef:
        ts = ulid()
        self.put_new(
            f"LOCAL#messages#{channel.id}", ts, {"message": asdict(message), "pinned": False}
        )
        return MessageRef(PROVIDER, channel.id, ts, f"local:message/{channel.name}/{ts}")

    def pin(self, message: MessageRef) -> None:
        self.update(
            f"LOCAL#messages#{message.channel_id}", message.id, "SET pinned = :p", {":p": True}
        )

    def add_link(self, channel: ChannelRef, title: str, url: str) -> None:
        self.put_new(f"LOCAL#links#{channel.id}", url, {"title": title, "url": url})

    def direct_message(self, user_id: str, message: ChatMessage) -> MessageRef:
        """Recorded like channel messages, in the user's own DM conversation (`D…`), with
        `to` naming the person."""
        if not user_id or not user_id.strip():
            raise PermanentIntegrationError(PROVIDER, "direct_message: no user id")
        dm = _dm_id(user_id)
        ts = ulid()
        self.put_new(
            f"LOCAL#messages#{dm}",
            ts,
            {"message": asdict(message), "pinned": False, "direct": True, "to": user_id},
        )
        return MessageRef(PROVIDER, dm, ts, f"local:dm/{user_id}/{ts}")

    # --- reading what was "sent" (demo, CLI, tests) -------------------------------------------
    def messages(self, channel: ChannelRef) -> list[dict[str, Any]]:
        return self.query(f"LOCAL#messages#{channel.id}")

    def links(self, channel: ChannelRef) -> list[dict[str, Any]]:
        return self.query(f"LOCAL#links#{channel.id}")

    def direct_messages(self, user_id: str) -> list[dict[str, Any]]:
        return self.query(f"LOCAL#messages#{_dm_id(user_id)}")

    def channel(self, name: str) -> dict[str, Any] | None:
        return self.get("LOCAL#channel", name)


class LocalConferencing(_Recorder):
    provider = PROVIDER

    def _ref(self, item: dict[str, Any]) -> BridgeRef:
        return BridgeRef(PROVIDER, item["id"], item["join_url"])

    def find_bridge(self, key: str) -> BridgeRef | None:
        found = self.get("LOCAL#bridge", key)
        return self._ref(found) if found else None

    def create_bridge(self, key: str, topic: str) -> BridgeRef:
        bridge_id = _short(key)
        item = self.put_new(
            "LOCAL#bridge",
            key,
            {"id": bridge_id, "topic": topic, "join_url": f"local:bridge/{bridge_id}"},
        )
        return self._ref(item)


class LocalTicketing(_Recorder):
    """Tickets under `LOCAL#ticket` (by incident key); whether one is done under
    `LOCAL#ticketstate` (by ticket id): not done until `complete_ticket` (or, in tests,
    `set_done`, standing for someone who finishes or reopens it in the tool)."""

    provider = PROVIDER

    def _ref(self, item: dict[str, Any]) -> TicketRef:
        return TicketRef(PROVIDER, item["id"], item["key"], f"local:ticket/{item['key']}")

    def find_ticket(self, key: str) -> TicketRef | None:
        found = self.get("LOCAL#ticket", key)
        return self._ref(found) if found else None

    def create_ticket(
        self,
        key: str,
        summary: str,
        description: str,
        priority: str | None,
        due: date | None = None,
    ) -> TicketRef:
        ticket_key = f"LOCAL-{_short(key)[:6].upper()}"
        item = self.put_new(
            "LOCAL#ticket",
            key,
            {
                "id": _short(key),
                "key": ticket_key,
                "summary": summary,
                "description": description,
                "priority": priority,
                "due": iso_day(due) if due is not None else None,
            },
        )
        return self._ref(item)

    def add_link(self, ticket: TicketRef, title: str, url: str) -> None:
        self.put_new(f"LOCAL#ticketlinks#{ticket.id}", url, {"title": title, "url": url})

    def add_comment(self, ticket: TicketRef, text: str) -> None:
        self.put_new(f"LOCAL#ticketcomments#{ticket.id}", ulid(), {"text": text})

    def ticket_done(self, ticket: TicketRef) -> bool:
        state = self.get("LOCAL#ticketstate", ticket.id)
        return bool(state and state.get("done"))

    def complete_ticket(self, ticket: TicketRef) -> bool:
        return self.set_done(ticket, True)

    def set_done(self, ticket: TicketRef, done: bool) -> bool:
        """Record the ticket as done (or not); True when that changed its state (a ticket
        never recorded is not done). Conditional, so two completions at once change it once."""
        changes = "#done = :was"  # not `<>`: how that treats a missing attribute varies
        if done:
            changes = f"attribute_not_exists(#done) OR {changes}"
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=ser({"pk": "LOCAL#ticketstate", "sk": ticket.id}),
                UpdateExpression="SET #type = :type, #at = :at, #key = :key, #done = :done",
                ConditionExpression=changes,
                ExpressionAttributeNames={
                    "#type": "type",
                    "#at": "at",
                    "#key": "key",
                    "#done": "done",
                },
                ExpressionAttributeValues={
                    ":type": ser_value("local_outbox"),
                    ":at": ser_value(iso(utcnow())),
                    ":key": ser_value(ticket.key),
                    ":done": ser_value(done),
                    ":was": ser_value(not done),
                },
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            return False
        return True

    def links(self, ticket: TicketRef) -> list[dict[str, Any]]:
        return self.query(f"LOCAL#ticketlinks#{ticket.id}")

    def comments(self, ticket: TicketRef) -> list[dict[str, Any]]:
        return self.query(f"LOCAL#ticketcomments#{ticket.id}")


def _builder(cls: type[_Recorder]) -> Any:
    def build(options: Options, context: Mapping[str, str]) -> Any:
        # local adapters need no secret: the registry hands them the table they record into
        return cls(context["table"])

    return build


#: the registry's view of this module: one local adapter per port
ADAPTERS: dict[str, dict[str, Any]] = {
    port: {"Options": Options, "SECRET_KEYS": (), "build": _builder(cls)}
    for port, cls in (
        ("chat", LocalChat),
        ("conferencing", LocalConferencing),
        ("ticketing", LocalTicketing),
    )
}

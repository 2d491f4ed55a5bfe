"""The local ticketing adapter (the default when no tool is configured) in moto's DynamoDB:
due dates recorded, done only once completed (or set by a test standing for someone in the
tool), completion idempotent."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from tocsin.integrations import local
from tocsin.integrations.ports import TicketingPort

KEY = "inc-01j9zq5k3v8m2n4p6r8t0w2y4a"


@pytest.fixture
def tickets(aws: Any) -> local.LocalTicketing:
    adapter = local.ADAPTERS["ticketing"]["build"](local.Options(), {"table": aws.table})
    assert isinstance(adapter, local.LocalTicketing)
    return adapter


def test_local_ticketing_implements_the_port(tickets: local.LocalTicketing) -> None:
    assert isinstance(tickets, TicketingPort)
    assert tickets.provider == "local"


def test_due_date_is_recorded(tickets: local.LocalTicketing) -> None:
    with_due = tickets.create_ticket("inc-a", "Rotate the keys", "d", "SEV2", due=date(2025, 3, 14))
    without = tickets.create_ticket("inc-b", "Add an alert", "d", "SEV2")  # as callers did

    items = {item["sk"]: item for item in tickets.query("LOCAL#ticket")}
    assert items["inc-a"]["due"] == "2025-03-14"
    assert "due" not in items["inc-b"]
    assert tickets.find_ticket("inc-a") == with_due and tickets.find_ticket("inc-b") == without


def test_a_ticket_is_done_once_completed(tickets: local.LocalTicketing) -> None:
    ticket = tickets.create_ticket(KEY, "Rotate the keys", "details", "SEV2")
    assert tickets.ticket_done(ticket) is False

    assert tickets.complete_ticket(ticket) is True
    assert tickets.ticket_done(ticket) is True
    assert tickets.complete_ticket(ticket) is False  # a retried step: done already

    state = tickets.get("LOCAL#ticketstate", ticket.id)
    assert state is not None
    assert (state["done"], state["key"], state["type"]) == (True, ticket.key, "local_outbox")


def test_set_done_stands_for_someone_in_the_tool(tickets: local.LocalTicketing) -> None:
    ticket = tickets.create_ticket(KEY, "Rotate the keys", "details", "SEV2")
    assert tickets.set_done(ticket, False) is False  # never done: nothing changes

    assert tickets.set_done(ticket, True) is True  # finished in the tool
    assert tickets.ticket_done(ticket) is True
    assert tickets.complete_ticket(ticket) is False

    assert tickets.set_done(ticket, False) is True  # reopened
    assert tickets.ticket_done(ticket) is False
    assert tickets.complete_ticket(ticket) is True
    assert tickets.ticket_done(ticket) is True

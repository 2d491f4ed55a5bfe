"""The local ticketing adapter (the default when no tool is configured) in moto's DynamoDB:
due dates recorded."""

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

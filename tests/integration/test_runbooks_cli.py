"""`tocsin runbooks list|suggest|search|report` against the API (the local gateway, in-process)."""

from __future__ import annotations

import json
from typing import Any

from tests.helpers import Http, wait_for_workflows


def test_runbooks_commands(http: Http, cli: Any) -> None:
    assert "checkout-latency" in cli("runbooks", "list")
    found = cli("runbooks", "search", "certificate", "expired")
    assert found.startswith("1. TLS certificate expiring or expired")
    assert "why: text: " in found
    resp = http.call(
        "POST",
        "/v1/incidents",
        {"title": "Checkout p99 latency above 2 s", "severity": "SEV1", "service": "checkout"},
    )
    wait_for_workflows(60)
    ref = http.call("GET", f"/v1/incidents/{resp.body['id']}").body["ref"]
    assert ref.startswith("INC-")
    suggested = cli("runbooks", "suggest", ref)
    assert suggested.startswith("1. Checkout latency (p99) high  [checkout-latency]")
    assert "why: service checkout; text: " in suggested
    report = cli("runbooks", "report")
    assert "review overdue" in report and "dns-resolution" in report
    assert json.loads(cli("runbooks", "report", "--json"))["counts"]["runbooks"] >= 14

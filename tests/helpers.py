"""Test helpers shared by every suite (fixtures live in conftest.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
#: real vendor payloads, copied from the team's shared fixtures (provenance in SOURCES.md there);
#: TOCSIN_FIXTURES points the tests at another copy
FIXTURES = Path(os.environ.get("TOCSIN_FIXTURES") or REPO / "tests" / "fixtures" / "vendor")
TOKEN = "tcn_test_token"


def fixture_path(relative: str) -> Path:
    return FIXTURES / relative


def load_fixture(relative: str) -> Any:
    return json.loads(fixture_path(relative).read_text())


class Http:
    """Requests through the local gateway (route table -> API Gateway event -> handler)."""

    def __init__(self, token: str = TOKEN) -> None:
        from tocsin_local.gateway import LocalGateway
        from werkzeug.test import Client

        self.client = Client(LocalGateway())
        self.token = token

    def call(
        self, method: str, path: str, body: Any = None, token: Any = None, **kwargs: Any
    ) -> Any:
        headers = dict(kwargs.pop("headers", {}))
        if token is not False:
            headers.setdefault("Authorization", f"Bearer {token or self.token}")
        data = body if isinstance(body, bytes | str) or body is None else json.dumps(body)
        resp = self.client.open(path, method=method, data=data, headers=headers, **kwargs)
        is_json = "json" in (resp.headers.get("Content-Type") or "json")
        resp.body = json.loads(resp.data) if resp.data and is_json else None
        return resp

    def alert(self, source: str, payload: Any, **kwargs: Any) -> Any:
        return self.call("POST", f"/v1/alerts/{source}", payload, **kwargs)


def generic_alert(title: str = "Disk full on db-1", **fields: Any) -> dict[str, Any]:
    return {"title": title, **fields}


def wait_for_workflows(timeout: float = 20.0) -> None:
    """Until no response workflow is running (they number incidents in their first step)."""
    import time

    import boto3

    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    deadline = time.monotonic() + timeout
    for machine in sfn.list_state_machines()["stateMachines"]:
        if machine["name"].endswith("-escalation"):
            continue  # escalations wait for minutes for an acknowledgement, by design
        while time.monotonic() < deadline:
            running = sfn.list_executions(
                stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING"
            )
            if not running["executions"]:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("response workflows still running")


def set_incident_stream(enabled: bool) -> None:
    """Turn the table stream's mapping (new incidents -> their workflow, ADR 21) off or on;
    off, it keeps the records, and on again it delivers them, as on AWS."""
    import boto3

    lam = boto3.client("lambda", region_name="us-east-1")
    [mapping] = [
        m
        for m in lam.list_event_source_mappings()["EventSourceMappings"]
        if ":dynamodb:" in m["EventSourceArn"]
    ]
    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=enabled)

"""`tocsin runbooks list|suggest|search|report` against the API (the local gateway, in-process)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from click.testing import CliRunner
from tocsin_local.cli import main

from tests.helpers import TOKEN, Http, wait_for_workflows


class _Resp:
    def __init__(self, status: int, content: bytes) -> None:
        self.status_code, self.content = status, content
        self.text = content.decode()

    def json(self) -> Any:
        return json.loads(self.content)


@pytest.fixture
def cli(http: Http, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The CLI's HTTP requests go to the gateway in this process."""

    def request(method: str, url: str, headers: Any = None, params: Any = None, **_: Any) -> _Resp:
        path = url.removeprefix("http://tocsin.test") + (f"?{urlencode(params)}" if params else "")
        resp = http.client.open(path, method=method, headers=headers)
        return _Resp(resp.status_code, resp.data)

    monkeypatch.setattr("tocsin_local.client.requests.request", request)

    def run(*args: str) -> Any:
        result = CliRunner().invoke(main, ["--url", "http://tocsin.test", "--token", TOKEN, *args])
        assert result.exit_code == 0, result.output
        return result.output

    return run


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

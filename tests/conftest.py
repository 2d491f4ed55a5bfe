"""Shared fixtures: an in-process AWS (moto) provisioned exactly like local mode, and an HTTP
client for the route table's handlers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import REPO, TOKEN, Http


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto in-process with Tocsin's resources; the response workflow really executes (its
    Lambda tasks run our handlers in-process)."""
    from moto import mock_aws
    from tocsin_local import patches
    from tocsin_local.provision import provision
    from tocsin_local.runtime import reset_runtime_caches

    for key in ("AWS_ENDPOINT_URL", "MOTO_PORT", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("TOCSIN_CONFIG_DIR", str(REPO / "config"))
    monkeypatch.setenv("TOCSIN_MAX_RETRY_AFTER", "0.05")
    patches.apply()
    patches.set_retry_scale(0.01)  # Step Functions Retry waits: 2 s -> 20 ms
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        reset_runtime_caches()
        resources = provision(TOKEN)
        monkeypatch.setenv("TOCSIN_TABLE", resources.table)
        monkeypatch.setenv("TOCSIN_ARTIFACT_BUCKET", resources.bucket)
        monkeypatch.setenv("TOCSIN_STATE_MACHINE_ARN", resources.state_machine_arn)
        monkeypatch.setenv(
            "TOCSIN_ESCALATION_STATE_MACHINE_ARN", resources.escalation_state_machine_arn
        )
        monkeypatch.setenv("TOCSIN_SIGNING_KEY_NAME", resources.signing_secret)
        monkeypatch.setenv("TOCSIN_STATUS_BUCKET", resources.status_bucket)
        monkeypatch.setenv("TOCSIN_STATUS_COOKIE_KEY_NAME", resources.status_cookie_secret)
        monkeypatch.setenv("TOCSIN_CHATOPS_QUEUE_URL", resources.chatops_queue_url)
        monkeypatch.setenv("TOCSIN_PUBLIC_URL", "https://tocsin.example.test")
        reset_runtime_caches()
        yield resources
        try:
            end_escalations(resources)
        except Exception as exc:  # hygiene only: a test may have broken AWS on purpose
            print(f"could not end escalations after the test: {exc}")
        reset_runtime_caches()


def end_escalations(resources: Any) -> None:
    """Escalations wait for minutes in real time: end those a test left running (as a
    resolution would) so their executions finish inside this test's moto, not in a later one."""
    import time

    import boto3
    from tocsin.dal.dynamo import deser
    from tocsin.domain.timeline import Actor
    from tocsin.handlers.container import container

    ddb = boto3.client("dynamodb", region_name="us-east-1")
    pages = ddb.get_paginator("scan").paginate(
        TableName=resources.table,
        FilterExpression="begins_with(sk, :esc) AND #s = :active",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":esc": {"S": "ESC#"}, ":active": {"S": "active"}},
    )
    incidents = {deser(item)["incident_id"] for page in pages for item in page["Items"]}
    for incident_id in incidents:
        container().escalations.stop(incident_id, "cancelled", Actor.system("test-teardown"))
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    deadline = time.monotonic() + 10
    while (
        time.monotonic() < deadline
        and sfn.list_executions(
            stateMachineArn=resources.escalation_state_machine_arn, statusFilter="RUNNING"
        )["executions"]
    ):
        time.sleep(0.05)


@pytest.fixture
def http(aws: Any) -> Http:
    return Http()


class _CliResponse:
    def __init__(self, status: int, content: bytes) -> None:
        self.status_code, self.content = status, content
        self.text = content.decode()

    def json(self) -> Any:
        return json.loads(self.content)


@pytest.fixture
def cli(http: Http, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`tocsin …` in this process, its HTTP requests sent to the gateway in this process;
    returns the output, failing the test on a non-zero exit."""
    from urllib.parse import urlencode

    from click.testing import CliRunner
    from tocsin_local.cli import main

    def request(
        method: str,
        url: str,
        headers: Any = None,
        params: Any = None,
        **kwargs: Any,
    ) -> _CliResponse:
        path = url.removeprefix("http://tocsin.test") + (f"?{urlencode(params)}" if params else "")
        payload = kwargs.get("json")
        body = None if payload is None else json.dumps(payload)
        sent = {**(headers or {}), **({"Content-Type": "application/json"} if body else {})}
        resp = http.client.open(path, method=method, headers=sent, data=body)
        return _CliResponse(resp.status_code, resp.data)

    monkeypatch.setattr("tocsin_local.client.requests.request", request)

    def run(*args: str, ok: bool = True) -> Any:
        result = CliRunner().invoke(main, ["--url", "http://tocsin.test", "--token", TOKEN, *args])
        if ok:
            assert result.exit_code == 0, result.output
        return result if not ok else result.output

    return run

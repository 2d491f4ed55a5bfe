"""The embedded local mode end to end over HTTP: `tocsin local up` in its own process, real
ASL executed on moto, handlers invoked in-process, EventBridge -> SQS -> Lambda."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import requests

from tests.helpers import REPO, load_fixture

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("local-mode")]
TOKEN = "tcn_e2e_token"


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    config = tmp_path_factory.mktemp("config")
    for path in (REPO / "config").glob("*.yaml"):
        shutil.copy(path, config / path.name)
    severities = (config / "severities.yaml").read_text()
    (config / "severities.yaml").write_text(
        severities.replace("auto_resolve_after: 30m", "auto_resolve_after: 1s")
    )
    workdir = tmp_path_factory.mktemp("workdir")
    env = {
        **os.environ,
        "TOCSIN_TOKEN": TOKEN,
        "TOCSIN_CONFIG_DIR": str(config),
        "LOG_LEVEL": "ERROR",
    }
    for key in ("AWS_ENDPOINT_URL", "TOCSIN_URL", "TOCSIN_TABLE"):
        env.pop(key, None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tocsin_local.cli",
            "local",
            "up",
            "--port",
            "0",
            "--json",
            "--sweep-interval",
            "0.3",
        ],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 90
    ready: dict[str, Any] | None = None
    lines: list[str] = []
    while time.monotonic() < deadline and ready is None:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        lines.append(line)
        if line.startswith("{") and '"ready"' in line:
            ready = json.loads(line)
    assert ready, "local mode did not start:\n" + "".join(lines)
    ready["workdir"] = workdir
    ready["proc"] = proc
    yield ready
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert not (workdir / ".tocsin" / "local.json").exists()


def aws_client(local: dict[str, Any], service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=local["aws_endpoint"],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def api(local: dict[str, Any], method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    return requests.request(method, local["url"] + path, headers=headers, timeout=30, **kwargs)


def wait_for(predicate: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def timeline_kinds(local: dict[str, Any], incident_id: str) -> list[str]:
    items = api(local, "GET", f"/v1/incidents/{incident_id}/timeline").json()["items"]
    return [event["kind"] for event in items]


def test_ready_line_and_health(local: dict[str, Any]) -> None:
    assert local["url"].startswith("http://127.0.0.1:")
    assert local["token"] == TOKEN
    assert requests.get(local["url"] + "/healthz", timeout=5).json() == {"ok": True}


def test_alert_over_http_runs_the_real_state_machine(local: dict[str, Any]) -> None:
    payload = load_fixture("alertmanager/oncall_example_payload_firing_2_alerts.json")
    resp = api(local, "POST", "/v1/alerts/alertmanager", data=json.dumps(payload))
    assert resp.status_code == 202, resp.text
    (incident_id,) = resp.json()["created"]
    # the workflow's first Task (a Lambda in the ASL) records itself on the timeline
    wait_for(lambda: "workflow_started" in timeline_kinds(local, incident_id))
    sfn = aws_client(local, "stepfunctions")
    incident = api(local, "GET", f"/v1/incidents/{incident_id}").json()
    status = wait_for(
        lambda: (
            sfn.describe_execution(executionArn=incident["execution_arn"])["status"] != "RUNNING"
        )
    )
    assert status
    assert sfn.describe_execution(executionArn=incident["execution_arn"])["status"] == "SUCCEEDED"
    # the response ran: channel, bridge and ticket (local adapters) are linked on the incident
    links = api(local, "GET", f"/v1/incidents/{incident_id}").json()["links"]
    assert set(links) == {"channel", "bridge", "ticket"}, links
    steps = api(local, "GET", f"/v1/incidents/{incident_id}/response").json()["steps"]
    # every step done, but paging and the status page: the alert's service has no team and no
    # status page component here, so nobody is paged and no page changes (said on the step,
    # never silently)
    skipped = {step["step"].split(":")[0]: step for step in steps if step["state"] == "skipped"}
    assert set(skipped) <= {"page", "update_status_page"}, steps
    if "update_status_page" in skipped:
        assert "no status page" in skipped["update_status_page"]["detail"]["reason"]
    if "page" in skipped:
        assert "pages nobody" in skipped["page"]["detail"]["reason"]
    assert steps and all(step["state"] in {"done", "skipped"} for step in steps), steps


def test_fifty_concurrent_posts_of_one_alert_make_one_incident(local: dict[str, Any]) -> None:
    body = json.dumps(
        {"title": "Checkout 5xx", "dedup_key": "e2e-checkout-5xx", "severity": "critical"}
    )
    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(
            pool.map(lambda _: api(local, "POST", "/v1/alerts/generic", data=body), range(50))
        )
    assert [r.status_code for r in results] == [202] * 50
    created = [i for r in results for i in r.json()["created"]]
    assert len(created) == 1
    assert sum(r.json()["duplicates"] for r in results) == 49


def test_cloudwatch_alarm_through_eventbridge_opens_an_incident(local: dict[str, Any]) -> None:
    event = load_fixture(
        "aws/eventbridge_cloudwatch_alarm_state_change_single_metric_OK_to_ALARM.json"
    )
    events = aws_client(local, "events")
    result = events.put_events(
        Entries=[
            {
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Detail": json.dumps(event["detail"]),
                "Resources": event["resources"],
            }
        ]
    )
    assert result["FailedEntryCount"] == 0

    def found() -> list[dict[str, Any]]:
        items = api(local, "GET", "/v1/incidents?limit=100").json()["items"]
        return [i for i in items if i["source"] == "eventbridge"]

    (incident,) = wait_for(found)
    assert incident["labels"]["alarm_name"] == event["detail"]["alarmName"]


def test_resolve_then_quiet_period_auto_resolves(local: dict[str, Any]) -> None:
    alert = {"title": "Payment latency", "dedup_key": "e2e-latency", "severity": "critical"}
    incident_id = api(local, "POST", "/v1/alerts/generic", data=json.dumps(alert)).json()[
        "created"
    ][0]
    api(local, "POST", "/v1/alerts/generic", data=json.dumps({**alert, "status": "resolved"}))
    # mitigated at once (and, SEV1's quiet period being 1 s in this configuration with the
    # sweeper every 0.3 s, a slow machine may already have resolved it: the timeline says both)
    status = api(local, "GET", f"/v1/incidents/{incident_id}").json()["status"]
    assert status in ("mitigated", "resolved")
    wait_for(
        lambda: api(local, "GET", f"/v1/incidents/{incident_id}").json()["status"] == "resolved",
        timeout=20,
    )
    items = api(local, "GET", f"/v1/incidents/{incident_id}/timeline").json()["items"]
    changes = [e["data"]["new"] for e in items if e["kind"] == "status_changed"]
    assert changes == ["mitigated", "resolved"]
    # each change ran the workflows that answer it (topic updated; the resolved notices)
    wait_for(
        lambda: any(
            s["step"].startswith("post_message:")
            for s in api(local, "GET", f"/v1/incidents/{incident_id}/response").json()["steps"]
        )
    )


def test_cli_talks_to_the_running_local_mode(local: dict[str, Any]) -> None:
    api(local, "POST", "/v1/alerts/generic", data=b"{broken")
    declared = api(local, "POST", "/v1/incidents", json={"title": "CLI check", "severity": "SEV1"})
    incident_id = declared.json()["id"]
    wait_for(
        lambda: any(
            s["step"] == "post_summary"
            for s in api(local, "GET", f"/v1/incidents/{incident_id}/response").json()["steps"]
        )
    )
    env = {k: v for k, v in os.environ.items() if k not in ("TOCSIN_URL", "TOCSIN_TOKEN")}
    run = [sys.executable, "-m", "tocsin_local.cli"]
    listed = subprocess.run(
        [*run, "quarantine", "list"], cwd=local["workdir"], env=env, capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr
    assert "generic" in listed.stdout and "not valid JSON" in listed.stdout
    incidents = subprocess.run(
        [*run, "incidents", "list"], cwd=local["workdir"], env=env, capture_output=True, text=True
    )
    assert incidents.returncode == 0 and "CLI check" in incidents.stdout

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*run, *args], cwd=local["workdir"], env=env, capture_output=True, text=True
        )

    posted = cli("incidents", "update", incident_id, "Rolled back", "--by", "carol")
    assert posted.returncode == 0 and "delivery started" in posted.stdout, posted.stderr
    shown = cli("incidents", "show", incident_id)
    assert shown.returncode == 0 and "stakeholder_update" in shown.stdout
    assert "Response steps:" in shown.stdout and "create_channel" in shown.stdout

    # on call: who, when; acknowledging and roles from the command line
    oncall = cli("oncall", "show", "payments-secondary", "--at", "2026-11-27T12:00Z", "--days", "8")
    assert oncall.returncode == 0, oncall.stderr
    assert oncall.stdout.startswith("payments-secondary at 2026-11-27T12:00:00")
    assert "2026-11-30T08:00:00.000Z" in oncall.stdout  # Monday 09:00 Berlin handoff
    assert cli("oncall", "show", "nope").returncode != 0
    bad = cli("oncall", "override", "payments-primary", "dan", "--duration", "soon")
    assert bad.returncode != 0 and "duration" in bad.stderr
    over = cli("oncall", "override", "payments-primary", "dan", "--duration", "1h")
    assert over.returncode == 0, over.stderr
    listed_oncall = cli("oncall", "list")
    assert "payments-primary" in listed_oncall.stdout and "dan" in listed_oncall.stdout
    acked = cli("incidents", "ack", incident_id, "--by", "carol")
    assert acked.returncode == 0 and "acknowledged by carol" in acked.stdout, acked.stderr
    roles = cli("incidents", "roles", incident_id, "--set", "commander=bob", "--by", "carol")
    assert roles.returncode == 0 and "Incident Commander" in roles.stdout
    assert any(
        line.split()[:3] == ["Incident", "Commander", "bob"] for line in roles.stdout.splitlines()
    ), roles.stdout


def test_unknown_route_is_a_json_404(local: dict[str, Any]) -> None:
    resp = api(local, "GET", "/v1/nothing")
    assert resp.status_code == 404 and "error" in resp.json()


def test_status_pages_from_the_cli_and_over_http(local: dict[str, Any]) -> None:
    """The Communications Lead's path on the command line, the pages served by the gateway,
    and a private page opened with an access link in a real HTTP client (cookies and all)."""

    declared = api(
        local,
        "POST",
        "/v1/incidents",
        json={"title": "Card payments failing", "severity": "SEV3", "service": "checkout"},
    )
    incident_id = declared.json()["id"]
    env = {k: v for k, v in os.environ.items() if k not in ("TOCSIN_URL", "TOCSIN_TOKEN")}

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tocsin_local.cli", *args],
            cwd=local["workdir"],
            env=env,
            capture_output=True,
            text=True,
            input=stdin,
        )

    # the preview first; answering no publishes nothing
    declined = cli("statuspage", "publish", incident_id, "--page", "public", stdin="n\n")
    assert declined.returncode != 0
    # the public page names it its own way (`incident_name`), not by the internal title
    assert (
        "[public] open: Problems with Checkout and Payments API — investigating" in declined.stdout
    )
    assert "Checkout: degraded_performance" in declined.stdout
    assert api(local, "GET", "/v1/status-pages/public/incidents").json()["items"] == []
    published = cli(
        "statuspage", "publish", incident_id, "--page", "public", "--status", "identified",
        "--text", "Card payments fail for some customers.", "--by", "bob", stdin="y\n",
    )  # fmt: skip
    assert published.returncode == 0, published.stderr
    assert "identified" in published.stdout
    listed = cli("statuspage", "list")
    assert "public (public): Partially Degraded Service" in listed.stdout, listed.stdout
    shown = cli("statuspage", "show", "public")
    assert "Problems with Checkout and Payments API" in shown.stdout

    page = requests.get(f"{local['url']}/status/public/", timeout=10)
    assert page.status_code == 200 and "Card payments fail for some customers." in page.text
    summary = requests.get(f"{local['url']}/status/public/api/v2/summary.json", timeout=10).json()
    assert summary["incidents"][0]["status"] == "identified"

    # a private page: 403 without cookies, readable after opening an access link
    assert requests.get(f"{local['url']}/status/internal/", timeout=10).status_code == 403
    viewer = cli("statuspage", "viewer", "internal", "Support team", "--days", "1")
    assert viewer.returncode == 0, viewer.stderr
    link = viewer.stdout.strip().splitlines()[-1]
    session = requests.Session()
    opened = session.get(link, timeout=10)  # follows the redirect, sending the cookies
    assert opened.status_code == 200 and "Admin console" in opened.text
    assert "Admin console" not in page.text

    start = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%MZ")
    scheduled = cli(
        "statuspage", "maintenance", "public", "Database upgrade", "Checkout may be slow.",
        "--start", start, "--duration", "1h", "--component", "Checkout",
    )  # fmt: skip
    assert scheduled.returncode == 0 and "scheduled" in scheduled.stdout, scheduled.stderr
    upcoming = requests.get(
        f"{local['url']}/status/public/api/v2/scheduled-maintenances/upcoming.json", timeout=10
    ).json()
    assert [m["name"] for m in upcoming["scheduled_maintenances"]] == ["Database upgrade"]
    rebuilt = cli("statuspage", "rebuild", "public")
    assert rebuilt.returncode == 0 and "0 written" in rebuilt.stdout, rebuilt.stdout

"""Escalation end to end: the real escalation state machine under moto (.waitForTaskToken with
per-level timeouts), our handlers in-process, pages through the real adapters."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import REPO, Http

#: short levels so a test walks through three of them in seconds
LEVEL = "2s"


def write_config(tmp: Path, oncall: Callable[[dict[str, Any]], None]) -> Path:
    config = tmp / "config"
    shutil.copytree(REPO / "config", config)
    data = yaml.safe_load((config / "oncall.yaml").read_text())
    oncall(data)
    (config / "oncall.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return config


def three_levels(data: dict[str, Any]) -> None:
    data["escalation_policies"][0] = {
        "name": "payments",
        "levels": [
            {"targets": [{"person": "alice"}], "timeout": LEVEL},
            {"targets": [{"person": "bob"}], "timeout": LEVEL},
            {"targets": [{"person": "erin"}], "timeout": LEVEL},
        ],
    }
    # chat now, SMS after a minute: within a 2 s level only chat is due, SMS is the fallback
    data["paging"] = {"default_rules": [{"method": "chat"}, {"method": "sms", "after": "1m"}]}


def use_config(monkeypatch: pytest.MonkeyPatch, config: Path) -> None:
    from tocsin_local.runtime import reset_runtime_caches

    monkeypatch.setenv("TOCSIN_CONFIG_DIR", str(config))
    reset_runtime_caches()


@pytest.fixture
def paging(aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Http:
    use_config(monkeypatch, write_config(tmp_path, three_levels))
    return Http()


def declare(http: Http, severity: str = "SEV1", service: str = "checkout") -> str:
    resp = http.call(
        "POST",
        "/v1/incidents",
        {"title": "Checkout down", "severity": severity, "service": service},
    )
    assert resp.status_code == 201, resp.body
    return str(resp.body["id"])


def escalations(http: Http, incident_id: str) -> list[dict[str, Any]]:
    return list(http.call("GET", f"/v1/incidents/{incident_id}/escalations").body["items"])


def pages(http: Http, incident_id: str) -> list[dict[str, Any]]:
    return [p for e in escalations(http, incident_id) for p in e["pages"]]


def sent_to(http: Http, incident_id: str) -> list[str]:
    # esc:page:<escalation>:r<round>:l<level>:<target>:<method>
    return [p["step"].split(":")[5] for p in pages(http, incident_id) if p["state"] == "done"]


def wait_until(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def timeline(http: Http, incident_id: str) -> list[dict[str, Any]]:
    return list(http.call("GET", f"/v1/incidents/{incident_id}/timeline?limit=500").body["items"])


def ended(http: Http, incident_id: str) -> bool:
    found = escalations(http, incident_id)
    return bool(found) and all(e["status"] != "active" for e in found)


def escalation_done(aws: Any) -> bool:
    import boto3

    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    return not sfn.list_executions(
        stateMachineArn=aws.escalation_state_machine_arn, statusFilter="RUNNING"
    )["executions"]


# --- the path the issue describes ---------------------------------------------------------------


def test_three_levels_first_page_timeout_second_page_ack_and_no_third(
    paging: Http, aws: Any
) -> None:
    incident_id = declare(paging)
    wait_until(lambda: sent_to(paging, incident_id) == ["alice"])
    first = time.monotonic()
    wait_until(lambda: "bob" in sent_to(paging, incident_id))
    waited = time.monotonic() - first
    assert (
        1.0 <= waited <= 12.0
    )  # the level's 2 s timeout (+ scheduling on a busy box), not at once
    resp = paging.call("POST", f"/v1/incidents/{incident_id}/acknowledge", {"by": "bob"})
    assert resp.status_code == 200, resp.body
    assert resp.body["escalations_ended"] == ["1"]
    wait_until(lambda: escalation_done(aws))
    time.sleep(2.5)  # longer than the second level's timeout: the third level never pages
    assert sent_to(paging, incident_id) == ["alice", "bob"]
    (esc,) = escalations(paging, incident_id)
    assert esc["status"] == "acknowledged"
    assert esc["acknowledged_by"] == "bob"
    assert esc["level"] == 2
    incident = paging.call("GET", f"/v1/incidents/{incident_id}").body
    assert incident["status"] == "acknowledged"
    kinds = [e["kind"] for e in timeline(paging, incident_id)]
    assert kinds.count("page_sent") == 2
    assert kinds.count("escalation_started") == 1
    assert kinds.count("escalation_ended") == 1


def test_a_policy_edited_mid_incident_does_not_change_the_running_escalation(
    paging: Http, aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    incident_id = declare(paging)
    wait_until(lambda: sent_to(paging, incident_id) == ["alice"])

    def edited(data: dict[str, Any]) -> None:
        three_levels(data)
        data["escalation_policies"][0]["levels"][1]["targets"] = [{"person": "dan"}]

    use_config(monkeypatch, write_config(tmp_path / "edited", edited))
    wait_until(lambda: len(sent_to(paging, incident_id)) == 2)
    assert sent_to(paging, incident_id) == ["alice", "bob"]  # the copy taken at the start


def test_nobody_acknowledging_walks_every_level_then_ends_on_the_timeline(
    paging: Http, aws: Any
) -> None:
    incident_id = declare(paging)
    wait_until(lambda: ended(paging, incident_id), timeout=30)
    assert sent_to(paging, incident_id) == ["alice", "bob", "erin"]
    (esc,) = escalations(paging, incident_id)
    assert esc["status"] == "exhausted"
    ends = [e for e in timeline(paging, incident_id) if e["kind"] == "escalation_ended"]
    assert [e["data"]["outcome"] for e in ends] == ["exhausted"]


def test_resolving_ends_paging_at_once(paging: Http, aws: Any) -> None:
    incident_id = declare(paging)
    wait_until(lambda: sent_to(paging, incident_id) == ["alice"])
    resp = paging.call("PATCH", f"/v1/incidents/{incident_id}", {"status": "resolved"})
    assert resp.status_code == 200, resp.body
    wait_until(lambda: escalation_done(aws), timeout=10)
    time.sleep(2.5)
    assert sent_to(paging, incident_id) == ["alice"]
    assert escalations(paging, incident_id)[0]["status"] == "resolved"


def test_acknowledging_after_resolution_is_refused_and_changes_nothing(
    paging: Http, aws: Any
) -> None:
    incident_id = declare(paging)
    wait_until(lambda: sent_to(paging, incident_id) == ["alice"])
    paging.call("PATCH", f"/v1/incidents/{incident_id}", {"status": "resolved"})
    before = paging.call("GET", f"/v1/incidents/{incident_id}").body
    resp = paging.call("POST", f"/v1/incidents/{incident_id}/acknowledge", {"by": "bob"})
    assert resp.status_code == 409
    assert "resolved" in resp.body["error"]
    after = paging.call("GET", f"/v1/incidents/{incident_id}").body
    assert after["status"] == "resolved" and after["version"] == before["version"]


# --- exactly once -----------------------------------------------------------------------------


def test_pages_are_sent_once_per_level_when_the_task_is_retried(
    paging: Http, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page task fails after paging, twice per level: Step Functions retries it; nobody
    is paged twice."""
    from tocsin.handlers import workflow

    original = workflow.page_wave
    failures: dict[str, int] = {}

    def flaky(event: dict[str, Any]) -> dict[str, Any]:
        result = original(event)
        key = str(event.get("cursor"))
        failures[key] = failures.get(key, 0) + 1
        if failures[key] <= 2:
            raise workflow.RetryableError("lost the answer")
        return result

    monkeypatch.setitem(workflow.ACTIONS, "page_wave", flaky)
    incident_id = declare(paging)
    wait_until(lambda: ended(paging, incident_id) and escalation_done(aws), timeout=40)
    assert sent_to(paging, incident_id) == ["alice", "bob", "erin"]
    assert all(n == 3 for n in failures.values()), failures  # each task ran three times
    kinds = [e["kind"] for e in timeline(paging, incident_id)]
    assert kinds.count("page_sent") == 3


def test_starting_paging_twice_starts_one_escalation(paging: Http, aws: Any) -> None:
    from tocsin.domain.timeline import Actor
    from tocsin.handlers.container import container

    incident_id = declare(paging)
    wait_until(lambda: escalations(paging, incident_id))
    incident = container().incident_repo.get(incident_id)
    again = container().escalations.start(incident, Actor.system("test"))
    assert again["escalation_id"] == "1"
    assert len(escalations(paging, incident_id)) == 1


# --- acknowledgement links --------------------------------------------------------------------


def ack_token(incident_id: str, recipient: str = "alice", ttl: float = 3600) -> str:
    from datetime import timedelta

    from tocsin.domain.clock import utcnow
    from tocsin.handlers.container import container

    return container().signer.sign(
        "ack", {"i": incident_id, "e": "1", "u": recipient}, utcnow() + timedelta(seconds=ttl)
    )


def test_the_link_in_a_page_acknowledges_with_a_post_never_a_get(paging: Http, aws: Any) -> None:
    from tocsin.handlers.container import container

    incident_id = declare(paging)
    wait_until(lambda: sent_to(paging, incident_id) == ["alice"])
    # the link that went out in alice's page (the local chat adapter recorded her DM)
    (dm,) = container().adapters.get("chat").direct_messages("alice")
    url = next(link["url"] for link in dm["message"]["links"] if link["label"] == "Acknowledge")
    path = url.removeprefix("https://tocsin.example.test")
    assert path.startswith("/v1/ack/")
    shown = paging.call("GET", path, token=False)
    assert shown.status_code == 200
    assert b"Acknowledge</button>" in shown.data
    assert shown.headers["Cache-Control"] == "no-store"
    assert paging.call("GET", f"/v1/incidents/{incident_id}").body["status"] == "triggered"
    done = paging.call("POST", path, token=False, headers={"Accept": "application/json"})
    assert done.status_code == 200, done.data
    assert done.body["by"] == "Alice Martin" and done.body["via"] == "link"
    assert paging.call("GET", f"/v1/incidents/{incident_id}").body["status"] == "acknowledged"
    again = paging.call("POST", path, token=False)
    assert again.status_code == 200  # idempotent
    assert b"Acknowledged" in again.data


def test_forged_and_expired_links_are_refused_and_change_nothing(paging: Http, aws: Any) -> None:
    incident_id = declare(paging)
    wait_until(lambda: escalations(paging, incident_id))
    good = ack_token(incident_id)
    payload, _, signature = good.partition(".")
    forged = f"{payload}.{signature[:-2]}{'A' if signature[-2] != 'A' else 'B'}{signature[-1]}"
    for method in ("GET", "POST"):
        assert paging.call(method, f"/v1/ack/{forged}", token=False).status_code == 401
        assert paging.call(method, "/v1/ack/not-a-token", token=False).status_code == 401
    expired = ack_token(incident_id, ttl=-1)
    assert paging.call("POST", f"/v1/ack/{expired}", token=False).status_code == 410
    resp = paging.call(
        "POST", f"/v1/ack/{expired}", token=False, headers={"Accept": "application/json"}
    )
    assert resp.status_code == 410 and "expired" in resp.body["error"]
    assert paging.call("GET", f"/v1/incidents/{incident_id}").body["status"] == "triggered"
    assert escalations(paging, incident_id)[0]["status"] == "active"


# --- roles ------------------------------------------------------------------------------------


def test_sev1_roles_come_from_schedules_and_handoffs_are_recorded(paging: Http, aws: Any) -> None:
    from tocsin.domain.clock import utcnow
    from tocsin.handlers.container import container

    incident_id = declare(paging)
    now = utcnow()
    roles = wait_until(
        lambda: (
            {
                r["role"]: r
                for r in paging.call("GET", f"/v1/incidents/{incident_id}/roles").body["items"]
                if r["holder"]
            }
            if len(
                [
                    r
                    for r in paging.call("GET", f"/v1/incidents/{incident_id}/roles").body["items"]
                    if r["holder"]
                ]
            )
            == 3
            else None
        )
    )
    oncall = container().oncall
    assert roles["commander"]["holder"] == oncall.on_call("incident-commanders", now)
    assert roles["operations"]["holder"] == oncall.on_call("payments-primary", now)
    assert roles["communications"]["holder"] == oncall.on_call("payments-secondary", now)
    before = roles["commander"]["holder"]
    target = "dan" if before != "dan" else "carol"
    resp = paging.call(
        "PATCH",
        f"/v1/incidents/{incident_id}/roles",
        {"role": "commander", "person": target, "changed_by": "dan"},
    )
    assert resp.status_code == 200, resp.body
    assert resp.body["holder"] == target
    last = resp.body["history"][-1]
    assert last["assumed"] == target and last["renounced"] == before and last["by"] == "dan"
    stale = paging.call(
        "PATCH",
        f"/v1/incidents/{incident_id}/roles",
        {"role": "commander", "person": "bob", "expected": before, "check_expected": True},
    )
    assert stale.status_code == 409
    unknown = paging.call(
        "PATCH", f"/v1/incidents/{incident_id}/roles", {"role": "scribe", "person": "bob"}
    )
    assert unknown.status_code == 404
    events = [e for e in timeline(paging, incident_id) if e["kind"] == "role_changed"]
    assert {e["data"]["role"] for e in events} == {"commander", "communications", "operations"}
    handoff = events[-1]["data"]
    assert (handoff["assumed"], handoff["renounced"]) == (target, before)


@pytest.fixture
def slow_levels(aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Http]:
    def slow(data: dict[str, Any]) -> None:
        three_levels(data)
        for level in data["escalation_policies"][0]["levels"]:
            level["timeout"] = "1m"

    use_config(monkeypatch, write_config(tmp_path, slow))
    yield Http()


# --- paging services: PagerDuty, Opsgenie, failover, their webhooks -----------------------------


@pytest.fixture
def vendors(
    aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Http, Any, Any]]:
    """Level 1 pages PagerDuty (Opsgenie when PagerDuty fails), level 2 bob by chat."""
    import json

    import boto3

    from tests.fakes.opsgenie import API_KEY, FakeOpsgenie
    from tests.fakes.pagerduty import ROUTING_KEY, FakePagerDuty

    with FakePagerDuty() as pd, FakeOpsgenie() as og:
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        secrets.create_secret(
            Name="tocsin/pagerduty",
            SecretString=json.dumps({"routing_key": ROUTING_KEY, "webhook_secrets": "pd-secret"}),
        )
        secrets.create_secret(
            Name="tocsin/opsgenie",
            SecretString=json.dumps({"api_key": API_KEY, "webhook_token": "og-token"}),
        )

        def services(data: dict[str, Any]) -> None:
            three_levels(data)
            levels = data["escalation_policies"][0]["levels"]
            levels[0]["targets"] = [{"service": "pagerduty", "fallback": "opsgenie"}]
            data["paging"]["methods"] = {
                "pagerduty": {
                    "provider": "pagerduty",
                    "secret": "tocsin/pagerduty",
                    "options": {"base_url": pd.url},
                },
                "opsgenie": {
                    "provider": "opsgenie",
                    "secret": "tocsin/opsgenie",
                    "options": {"base_url": og.url},
                },
            }

        use_config(monkeypatch, write_config(tmp_path, services))
        yield Http(), pd, og


def pd_webhook(incident_id: str, event_type: str) -> bytes:
    import json

    from tests.helpers import load_fixture

    body = load_fixture("pagerduty/docs_v3_incident.priority_updated.json")
    body["event"]["event_type"] = event_type
    body["event"]["data"]["incident_key"] = f"tocsin-{incident_id}"
    return json.dumps(body).encode()


def signed(body: bytes, secret: str = "pd-secret") -> dict[str, str]:
    from tocsin.integrations import pagerduty

    return {
        "X-PagerDuty-Signature": pagerduty.sign(body, secret),
        "Content-Type": "application/json",
    }


def test_pagerduty_gets_one_alert_per_incident_and_its_webhook_acknowledges(
    vendors: tuple[Http, Any, Any], aws: Any
) -> None:
    http, pd, og = vendors
    incident_id = declare(http)
    wait_until(lambda: pd.trigger_events())
    (trigger,) = pd.trigger_events()
    assert trigger["dedup_key"] == f"tocsin-{incident_id}"
    assert trigger["payload"]["severity"] == "critical"
    assert og.creates() == []  # PagerDuty worked: no fallback
    body = pd_webhook(incident_id, "incident.acknowledged")
    forged = http.call(
        "POST", "/v1/webhooks/pagerduty", body, token=False, headers=signed(body, "wrong")
    )
    assert forged.status_code == 401
    assert escalations(http, incident_id)[0]["status"] == "active"
    resp = http.call("POST", "/v1/webhooks/pagerduty", body, token=False, headers=signed(body))
    assert resp.status_code == 200, resp.body
    assert resp.body["via"] == "pagerduty"
    wait_until(lambda: escalation_done(aws))
    (esc,) = escalations(http, incident_id)
    assert (esc["status"], esc["acknowledged_via"]) == ("acknowledged", "pagerduty")
    assert http.call("GET", f"/v1/incidents/{incident_id}").body["status"] == "acknowledged"
    # PagerDuty told us: we do not acknowledge back
    assert [e["event_action"] for e in pd.events] == ["trigger"]
    # a replayed delivery changes nothing
    again = http.call("POST", "/v1/webhooks/pagerduty", body, token=False, headers=signed(body))
    assert again.status_code == 200 and again.body["escalations_ended"] == []
    kinds = [e["kind"] for e in timeline(http, incident_id)]
    assert kinds.count("escalation_ended") == 1
    # resolving the incident resolves PagerDuty's alert (acknowledged before: still open there)
    http.call("PATCH", f"/v1/incidents/{incident_id}", {"status": "resolved"})
    wait_until(lambda: [e["event_action"] for e in pd.events] == ["trigger", "resolve"])
    assert pd.alerts[f"tocsin-{incident_id}"]["status"] == "resolved"
    unknown = http.call(
        "POST",
        "/v1/webhooks/pagerduty",
        pd_webhook("inc-unknown", "incident.acknowledged"),
        token=False,
        headers=signed(pd_webhook("inc-unknown", "incident.acknowledged")),
    )
    assert unknown.status_code == 202 and unknown.body["ignored"] is True


def test_acknowledging_in_tocsin_acknowledges_the_pagerduty_alert(
    vendors: tuple[Http, Any, Any], aws: Any
) -> None:
    http, pd, _ = vendors
    incident_id = declare(http)
    wait_until(lambda: pd.trigger_events())
    http.call("POST", f"/v1/incidents/{incident_id}/acknowledge", {"by": "alice"})
    wait_until(lambda: [e["event_action"] for e in pd.events] == ["trigger", "acknowledge"])
    assert pd.events[1]["dedup_key"] == f"tocsin-{incident_id}"


def test_a_failing_paging_service_falls_back_and_both_are_on_the_timeline(
    vendors: tuple[Http, Any, Any], aws: Any
) -> None:
    http, pd, og = vendors
    pd.fail_next(503, times=100)
    incident_id = declare(http)
    wait_until(lambda: og.creates())
    (alert,) = og.creates()
    assert alert["alias"] == f"tocsin-{incident_id}"
    # the page is recorded right after Opsgenie answers
    events = wait_until(
        lambda: (
            (found := timeline(http, incident_id))
            and any(e["kind"] == "page_sent" for e in found)
            and found
        )
    )
    failed = [e["data"] for e in events if e["kind"] == "page_failed"]
    sent = [e["data"] for e in events if e["kind"] == "page_sent"]
    assert failed[0]["method"] == "pagerduty" and failed[0]["fallback"] == "opsgenie"
    assert "503" in failed[0]["error"] or "pagerduty" in failed[0]["error"]
    assert sent[0]["method"] == "opsgenie"
    # Opsgenie's webhook acknowledges, with its shared token only
    import json

    from tests.helpers import load_fixture

    body = load_fixture("opsgenie/zulip_outgoing_webhook_Create.json")
    body["action"] = "Acknowledge"
    body["alert"]["alias"] = f"tocsin-{incident_id}"
    raw = json.dumps(body)
    bad = http.call(
        "POST", "/v1/webhooks/opsgenie", raw, token=False, headers={"X-Tocsin-Token": "nope"}
    )
    assert bad.status_code == 401
    ok = http.call(
        "POST", "/v1/webhooks/opsgenie", raw, token=False, headers={"X-Tocsin-Token": "og-token"}
    )
    assert ok.status_code == 200, ok.body
    assert escalations(http, incident_id)[0]["acknowledged_via"] == "opsgenie"


def test_a_person_whose_method_fails_is_reached_by_the_next_one_at_once(
    paging: Http, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tocsin.integrations.chat_paging import ChatPaging
    from tocsin.integrations.ports import RetryableIntegrationError

    def down(self: Any, page: Any, to: Any) -> Any:
        raise RetryableIntegrationError("slack", "HTTP 503", status=503)

    monkeypatch.setattr(ChatPaging, "send", down)
    # alice: chat first, then sms (her rules come from default_rules: chat, then sms after 1m)
    from tocsin.handlers.container import container

    incident_id = declare(paging)
    wait_until(lambda: "alice" in sent_to(paging, incident_id))
    done = [p for p in pages(paging, incident_id) if p["state"] == "done"]
    assert done[0]["method"] in {"sms", "email"}
    failed = [p for p in pages(paging, incident_id) if p["state"] == "failed"]
    assert failed and failed[0]["method"] == "chat"
    assert container().config.paging.default_rules[0].method == "chat"


def test_a_level_that_cannot_be_paged_is_recorded_and_the_next_level_pages(
    paging: Http, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tocsin.services.escalation import EscalationService

    original = EscalationService._recipients

    def broken(self: Any, incident_id: str, level_key: str, *args: Any) -> Any:
        if level_key.endswith(":l1"):
            raise ValueError("schedule feed unreadable")
        return original(self, incident_id, level_key, *args)

    monkeypatch.setattr(EscalationService, "_recipients", broken)
    incident_id = declare(paging)
    wait_until(lambda: sent_to(paging, incident_id) == ["bob"])
    failed = [e["data"] for e in timeline(paging, incident_id) if e["kind"] == "page_failed"]
    assert failed and "schedule feed unreadable" in failed[0]["cause"]


def test_acknowledging_by_changing_the_status_also_stops_paging(paging: Http, aws: Any) -> None:
    incident_id = declare(paging)
    wait_until(lambda: sent_to(paging, incident_id) == ["alice"])
    resp = paging.call(
        "PATCH", f"/v1/incidents/{incident_id}", {"status": "acknowledged", "changed_by": "alice"}
    )
    assert resp.status_code == 200, resp.body
    wait_until(lambda: escalation_done(aws), timeout=10)
    time.sleep(2.5)
    assert sent_to(paging, incident_id) == ["alice"]
    (esc,) = escalations(paging, incident_id)
    assert (esc["status"], esc["acknowledged_by"]) == ("acknowledged", "alice")


def test_a_method_repeated_later_is_sent_again_and_late_rules_still_page_at_once(
    aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """alice: SMS now and SMS again after 1 s; bob's only rule comes after his level ends."""

    def rules(data: dict[str, Any]) -> None:
        three_levels(data)
        data["escalation_policies"][0]["levels"][0]["timeout"] = "3s"
        data["paging"]["default_rules"] = [
            {"method": "sms"},
            {"method": "sms", "after": "1s"},
        ]

    config = write_config(tmp_path, rules)
    teams = yaml.safe_load((config / "teams.yaml").read_text())
    for person in teams["people"]:
        if person["id"] == "bob":
            person["notify"] = [{"method": "chat", "after": "1h"}]
    (config / "teams.yaml").write_text(yaml.safe_dump(teams, sort_keys=False))
    use_config(monkeypatch, config)
    http = Http()
    incident_id = declare(http)
    wait_until(lambda: "bob" in sent_to(http, incident_id), timeout=30)
    alice = [p for p in pages(http, incident_id) if ":alice:" in p["step"] and p["state"] == "done"]
    assert [p["method"] for p in alice] == ["sms", "sms"]
    bob = [p for p in pages(http, incident_id) if ":bob:" in p["step"] and p["state"] == "done"]
    assert [p["method"] for p in bob] == ["chat"]


def test_a_vendor_down_when_the_incident_resolves_does_not_fail_the_resolution(
    vendors: tuple[Http, Any, Any], aws: Any
) -> None:
    http, pd, _ = vendors
    incident_id = declare(http)
    wait_until(lambda: pd.trigger_events())
    http.call("POST", f"/v1/incidents/{incident_id}/acknowledge", {"by": "alice"})
    wait_until(lambda: [e["event_action"] for e in pd.events] == ["trigger", "acknowledge"])
    pd.fail_next(503, times=10)
    resp = http.call("PATCH", f"/v1/incidents/{incident_id}", {"status": "resolved"})
    assert resp.status_code == 200 and resp.body["status"] == "resolved"
    failed = [e["data"] for e in timeline(http, incident_id) if e["kind"] == "page_failed"]
    assert failed and failed[-1]["provider"] == "pagerduty"
    assert "close the alert there" in failed[-1]["note"]


def test_a_failing_send_task_success_does_not_fail_the_acknowledgement(
    paging: Http, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tocsin.adapters.workflow import StepFunctionsEscalations

    incident_id = declare(paging)
    wait_until(lambda: sent_to(paging, incident_id) == ["alice"])

    def throttled(self: Any, token: str, output: Any) -> bool:
        raise RuntimeError("ThrottlingException")

    monkeypatch.setattr(StepFunctionsEscalations, "complete", throttled)
    resp = paging.call("POST", f"/v1/incidents/{incident_id}/acknowledge", {"by": "bob"})
    assert resp.status_code == 200 and resp.body["escalations_ended"] == ["1"]
    assert paging.call("GET", f"/v1/incidents/{incident_id}").body["status"] == "acknowledged"
    # the level's wait runs out, the next level sees the escalation ended and pages nobody
    wait_until(lambda: escalation_done(aws), timeout=20)
    assert sent_to(paging, incident_id) == ["alice"]


def test_an_escalation_that_failed_leaves_the_vendor_alert_open(
    vendors: tuple[Http, Any, Any], aws: Any
) -> None:
    from tocsin.domain.timeline import Actor
    from tocsin.handlers.container import container

    http, pd, _ = vendors
    incident_id = declare(http)
    wait_until(lambda: pd.trigger_events())
    container().escalations.end(incident_id, "1", "failed", Actor.system("test"))
    wait_until(lambda: escalation_done(aws), timeout=20)
    assert [e["event_action"] for e in pd.events] == ["trigger"]  # PagerDuty keeps paging

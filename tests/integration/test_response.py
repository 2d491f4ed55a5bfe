"""The response workflow end to end: the real ASL executed by moto, our tasks in-process, the
local adapters (and a vendor adapter against its loopback fake) doing the work."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.fakes.jira import FakeJira
from tests.fakes.slack import FakeSlack
from tests.helpers import REPO, Http, set_incident_stream, wait_for_workflows

CREATION_STEPS = {"create_channel", "start_bridge", "create_ticket", "post_summary"}


def declare(http: Http, title: str, severity: str, service: str | None = "checkout") -> str:
    resp = http.call(
        "POST", "/v1/incidents", {"title": title, "severity": severity, "service": service}
    )
    assert resp.status_code == 201, resp.body
    wait_for_workflows(60)
    return str(resp.body["id"])


def response(http: Http, incident_id: str) -> dict[str, Any]:
    resp = http.call("GET", f"/v1/incidents/{incident_id}/response")
    assert resp.status_code == 200, resp.body
    return dict(resp.body)


def steps(http: Http, incident_id: str) -> dict[str, dict[str, Any]]:
    return {s["action"]: s for s in response(http, incident_id)["steps"]}


def timeline(http: Http, incident_id: str) -> list[dict[str, Any]]:
    return list(http.call("GET", f"/v1/incidents/{incident_id}/timeline?limit=500").body["items"])


def adapters() -> Any:
    from tocsin.handlers.container import container

    return container().adapters


def executions(aws: Any) -> list[dict[str, Any]]:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    return list(sfn.list_executions(stateMachineArn=aws.state_machine_arn)["executions"])


@pytest.fixture
def business_hours(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every moment is inside business hours (the SEV3 workflows depend on the clock)."""
    from tocsin.domain.response import BusinessHours

    monkeypatch.setattr(BusinessHours, "contains", lambda self, at: True)


def test_sev1_opens_channel_bridge_ticket_links_them_and_informs_stakeholders(
    http: Http, aws: Any
) -> None:
    incident_id = declare(http, "Checkout latency above 2 s", "SEV1")
    incident = http.call("GET", f"/v1/incidents/{incident_id}").body
    # the channel is named from the number and the title, valid for Slack and Teams
    assert incident["links"]["channel"] == "local:channel/inc-1-checkout-latency-above-2-s"
    assert incident["links"]["bridge"].startswith("local:bridge/")
    assert incident["links"]["ticket"].startswith("local:ticket/LOCAL-")
    done = steps(http, incident_id)
    assert {k for k, s in done.items() if s["outcome"] == "done"} == {
        "page",
        "assign_roles",
        "create_channel",
        "invite",
        "post_summary",
        "start_bridge",
        "create_ticket",
        "link_resources",
        "notify_stakeholders",
        "update_status_page",
    }
    # the plan is on the timeline, in stages: what the second stage posts needs the first
    plan = next(e for e in timeline(http, incident_id) if e["data"].get("step") == "plan")
    assert plan["data"]["workflows"] == ["sev1-all-hands"]
    assert plan["data"]["stages"][0] == [
        "page",
        "assign_roles",
        "create_channel",
        "start_bridge",
        "create_ticket",
        "update_status_page",
    ]
    assert set(plan["data"]["stages"][1]) == {
        "invite",
        "post_summary",
        "notify_stakeholders",
        "link_resources",
    }
    # responders, role holders (from the schedules) and stakeholders (leadership)
    holders = {
        r["holder"] for r in http.call("GET", f"/v1/incidents/{incident_id}/roles").body["items"]
    }
    assert set(done["invite"]["detail"]["invited"]) == {"alice", "bob", "erin"} | holders
    # the summary: severity, service, alerts, links to bridge and ticket; pinned
    chat = adapters().get("chat")
    channel = chat.find_channel("inc-1-checkout-latency-above-2-s")
    assert chat.channel(channel.name)["topic"].startswith("INC-1 · SEV1 · triggered · checkout")
    (summary,) = chat.messages(channel)
    assert summary["pinned"] is True
    fields = dict(summary["message"]["fields"])
    assert fields["Severity"].startswith("SEV1") and fields["Service"] == "checkout"
    assert {link["label"] for link in summary["message"]["links"]} >= {
        "Join the video bridge",
        f"Ticket {done['create_ticket']['detail']['ref']['key']}",
    }
    # linked both ways: channel bookmarks the ticket and bridge; the ticket links the channel
    assert {link["title"] for link in chat.links(channel)} == {
        f"Ticket {done['create_ticket']['detail']['ref']['key']}",
        "Video bridge",
    }
    tickets = adapters().get("ticketing")
    ticket = tickets.find_ticket(incident_id)
    assert {link["url"] for link in tickets.links(ticket)} == {
        incident["links"]["channel"],
        incident["links"]["bridge"],
    }
    # stakeholder channels (severity's groups) and the team channel were told
    assert set(done["notify_stakeholders"]["detail"]["posted"]) == {
        "incident-leadership",
        "support-escalations",
        "team-payments",
    }


def test_every_outcome_is_on_the_timeline_once(http: Http) -> None:
    incident_id = declare(http, "Search down", "SEV2", "search")
    events = [e for e in timeline(http, incident_id) if e["kind"] == "workflow_step"]
    recorded = [e["data"]["step"] for e in events]
    assert len(recorded) == len(set(recorded))
    assert {"plan", "create_channel", "post_summary", "start_bridge", "create_ticket"} <= {
        e["data"].get("action", e["data"]["step"]) for e in events
    }


def test_rerunning_the_execution_creates_nothing_twice(http: Http, aws: Any) -> None:
    incident_id = declare(http, "Checkout errors", "SEV1")
    before = steps(http, incident_id)
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    # a second execution of the same response (e.g. started by hand, or a redrive)
    sfn.start_execution(
        stateMachineArn=aws.state_machine_arn,
        name=f"{incident_id}-rerun",
        input=json.dumps({"incident_id": incident_id, "triggers": ["incident_created"]}),
    )
    wait_for_workflows(60)
    after = steps(http, incident_id)
    for name in CREATION_STEPS:
        assert after[name]["detail"] == before[name]["detail"]
        assert after[name]["at"] == before[name]["at"]
    chat = adapters().get("chat")
    channel = chat.find_channel("inc-1-checkout-errors")
    assert len(chat.messages(channel)) == 1  # one summary
    assert len(adapters().get("ticketing").query("LOCAL#ticket")) == 1
    assert len(adapters().get("conferencing").query("LOCAL#bridge")) == 1


def test_a_retried_step_does_nothing_twice(http: Http) -> None:
    from tocsin.handlers.workflow import handler
    from tocsin_local.patches import FakeLambdaContext

    incident_id = declare(http, "Disk full", "SEV1")
    step = {"type": "create_ticket", "key": "create_ticket", "params": {}}
    event = {"action": "run_action", "incident_id": incident_id, "step": step}
    first = handler(event, FakeLambdaContext("workflow"))
    again = handler(event, FakeLambdaContext("workflow"))
    assert first == again and first["outcome"] == "done"
    assert len(adapters().get("ticketing").query("LOCAL#ticket")) == 1


def test_severity_upgrade_adds_what_sev1_needs_without_duplicating(
    http: Http, aws: Any, business_hours: None
) -> None:
    incident_id = declare(http, "Slow search results", "SEV3", "search")
    sev3 = steps(http, incident_id)
    assert set(sev3) == {
        "create_channel",
        "invite",
        "post_summary",
        "create_ticket",
        "link_resources",
    }
    assert "bridge" not in http.call("GET", f"/v1/incidents/{incident_id}").body["links"]
    # When it becomes a SEV1
    resp = http.call("PATCH", f"/v1/incidents/{incident_id}", {"severity": "SEV1"})
    assert resp.status_code == 200
    wait_for_workflows(60)
    sev1 = steps(http, incident_id)
    # the bridge and the stakeholder notice are new; channel, ticket, summary are the same ones
    assert sev1["start_bridge"]["outcome"] == "done"
    assert sev1["notify_stakeholders"]["outcome"] == "done"
    for name in ("create_channel", "create_ticket", "post_summary"):
        assert sev1[name]["detail"] == sev3[name]["detail"]
    assert len(adapters().get("ticketing").query("LOCAL#ticket")) == 1
    # stakeholders (leadership) are invited now
    invites = [s for s in response(http, incident_id)["steps"] if s["action"] == "invite"]
    holders = {
        r["holder"] for r in http.call("GET", f"/v1/incidents/{incident_id}/roles").body["items"]
    }
    # SEV1 fills the roles from the schedules: new role holders are invited with them
    assert set(invites[-1]["detail"]["invited"]) == ({"erin"} | holders) - set(
        invites[0]["detail"]["invited"]
    ) - {None}
    names = {e["name"] for e in executions(aws)}
    assert names == {incident_id, f"{incident_id}-v2"}


def test_sev3_outside_business_hours_gets_only_a_ticket(
    http: Http, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tocsin.domain.response import BusinessHours

    monkeypatch.setattr(BusinessHours, "contains", lambda self, at: False)
    incident_id = declare(http, "Batch job slow", "SEV3", "search")
    assert set(steps(http, incident_id)) == {"create_ticket", "link_resources"}
    assert steps(http, incident_id)["link_resources"]["outcome"] == "skipped"  # no channel


def test_resolving_posts_in_the_channel_and_comments_on_the_ticket(http: Http) -> None:
    incident_id = declare(http, "Payments timeouts", "SEV2")
    resp = http.call("PATCH", f"/v1/incidents/{incident_id}", {"status": "resolved"})
    assert resp.status_code == 200
    wait_for_workflows(60)
    done = {s["action"]: s for s in response(http, incident_id)["steps"]}
    assert done["post_message"]["outcome"] == "done"
    assert done["comment_ticket"]["outcome"] == "done"
    chat = adapters().get("chat")
    channel = chat.find_channel("inc-1-payments-timeouts")
    texts = [m["message"]["text"] for m in chat.messages(channel)]
    assert any(t.startswith("INC-1 is resolved after") for t in texts)
    assert "INC-1 is now SEV2, resolved." in texts
    assert chat.channel(channel.name)["topic"].startswith("INC-1 · SEV2 · resolved")
    tickets = adapters().get("ticketing")
    comments = [c["text"] for c in tickets.comments(tickets.find_ticket(incident_id))]
    assert sum(c.startswith("INC-1 resolved after") for c in comments) == 1
    # and the postmortem, generated last, says where it is in both places
    assert done["generate_postmortem"]["outcome"] == "done"
    assert sum(c.startswith("The postmortem of INC-1 is ready: ") for c in comments) == 1
    assert any(t.startswith("The postmortem of INC-1 is ready: ") for t in texts)


def test_a_trigger_whose_start_failed_is_started_by_the_sweeper(
    http: Http, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tocsin.adapters.workflow import StepFunctionsWorkflow
    from tocsin.handlers.container import container
    from tocsin.services.sweeper import sweep

    incident_id = declare(http, "Queue backlog", "SEV2")

    def down(*args: Any) -> str:
        raise RuntimeError("Step Functions unavailable")

    original = StepFunctionsWorkflow.trigger
    monkeypatch.setattr(StepFunctionsWorkflow, "trigger", down)
    assert (
        http.call("PATCH", f"/v1/incidents/{incident_id}", {"severity": "SEV1"}).status_code == 200
    )
    monkeypatch.setattr(StepFunctionsWorkflow, "trigger", original)
    c = container()
    (pending,) = c.incident_repo.pending_triggers()
    assert pending["incident_id"] == incident_id
    assert sweep(c.incident_repo, c.incidents, c.config).triggered == []  # too recent
    later = c.incidents.clock() + timedelta(minutes=1)
    c.incidents.clock = lambda: later
    assert sweep(c.incident_repo, c.incidents, c.config).triggered == [f"{incident_id}-v2"]
    wait_for_workflows(60)
    assert c.incident_repo.pending_triggers() == []
    assert steps(http, incident_id)["start_bridge"]["outcome"] == "done"


# --- a vendor adapter in the flow: Jira through its loopback fake ------------------------------


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        for name in ("incident-leadership", "support-escalations", "team-payments"):
            fake._new_channel(name, private=False, creator="U0TOCSIN01")  # they exist already
        yield fake


@pytest.fixture
def jira(
    aws: Any, slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeJira]:
    """Chat through the Slack adapter, tickets through the Jira adapter, each against its
    fake; credentials in (moto's) Secrets Manager, as deployed."""
    from tocsin_local.runtime import reset_runtime_caches

    with FakeJira() as fake:
        config = tmp_path / "config"
        shutil.copytree(REPO / "config", config)
        (config / "integrations.yaml").write_text(
            "integrations:\n"
            "  chat:\n"
            "    provider: slack\n"
            "    secret: tocsin/slack\n"
            f"    options: {{base_url: '{slack.url}/api/', workspace_url: 'https://acme.slack.com'}}\n"
            "  ticketing:\n"
            "    provider: jira\n"
            "    secret: tocsin/jira\n"
            f"    options: {{base_url: '{fake.url}', project_key: {fake.project_key}}}\n"
        )
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        secrets.create_secret(
            Name="tocsin/jira",
            SecretString=json.dumps({"email": fake.email, "api_token": fake.api_token}),
        )
        secrets.create_secret(
            Name="tocsin/slack", SecretString=json.dumps({"bot_token": slack.token})
        )
        monkeypatch.setenv("TOCSIN_CONFIG_DIR", str(config))
        reset_runtime_caches()
        yield fake


def test_slack_channel_and_jira_ticket_through_the_real_adapters_linked_both_ways(
    http: Http, jira: FakeJira, slack: FakeSlack
) -> None:
    incident_id = declare(http, "Checkout 5xx", "SEV1")
    done = steps(http, incident_id)
    assert done["create_ticket"]["provider"] == "jira"
    assert done["create_channel"]["provider"] == "slack"
    key = done["create_ticket"]["detail"]["ref"]["key"]
    links = http.call("GET", f"/v1/incidents/{incident_id}").body["links"]
    assert links["ticket"].endswith(f"/browse/{key}")
    channel_id = done["create_channel"]["detail"]["ref"]["id"]
    assert links["channel"] == f"https://acme.slack.com/archives/{channel_id}"
    assert jira.violations == [] and slack.violations == []
    assert len(jira.calls("POST", "/rest/api/3/issue")) == 1
    # the ticket links the Slack channel (not the local bridge: no web address to link)
    (remote,) = jira.calls("POST", rf"/rest/api/3/issue/{key}/remotelink")
    assert remote.json["object"]["url"] == links["channel"]
    # the channel bookmarks the ticket; the summary is pinned in it
    assert [b["link"] for b in slack.bookmarks[channel_id]] == [links["ticket"]]
    (summary,) = slack.messages[channel_id]
    assert len(slack.calls("POST", "/api/pins.add")) == 1
    assert "Checkout 5xx" in json.dumps(summary)
    # stakeholders were told in their (existing) Slack channels
    assert set(done["notify_stakeholders"]["detail"]["posted"]) == {
        "incident-leadership",
        "support-escalations",
        "team-payments",
    }


def test_a_vendor_5xx_is_retried_and_the_step_succeeds(http: Http, jira: FakeJira) -> None:
    jira.fail_next(503, times=2)
    incident_id = declare(http, "Checkout 5xx", "SEV1")
    assert steps(http, incident_id)["create_ticket"]["outcome"] == "done"
    assert len(jira.calls("POST", "/rest/api/3/issue")) == 1


def test_an_integration_that_keeps_failing_is_recorded_and_the_response_goes_on(
    http: Http, jira: FakeJira
) -> None:
    jira.fail_next(401, times=100, body={"errorMessages": ["Unauthorized"]})
    incident_id = declare(http, "Checkout 5xx", "SEV1")
    done = steps(http, incident_id)
    failed = done["create_ticket"]
    assert failed["state"] == "failed" and failed["error"] == "PermanentIntegrationError"
    assert "401" in failed["cause"] and jira.api_token not in failed["cause"]
    # everything else happened
    for name in ("create_channel", "post_summary", "start_bridge", "notify_stakeholders"):
        assert done[name]["outcome"] == "done", name
    event = next(e for e in timeline(http, incident_id) if e["data"].get("step") == "create_ticket")
    assert event["data"]["outcome"] == "failed"
    # one attempt: a permanent error is not retried
    assert len(jira.calls("POST", "/rest/api/3/search/jql")) == 1


# --- races and partial failures ---------------------------------------------------------------


def test_a_later_run_never_stands_in_for_the_incidents_own(
    http: Http, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The opening run has not started (its stream record is held up); an acknowledgement's
    run must not be recorded as the incident's execution, or the sweeper would never start
    the response."""
    from tocsin.handlers.container import container
    from tocsin.services.sweeper import sweep

    set_incident_stream(False)
    resp = http.call("POST", "/v1/incidents", {"title": "Orders lost", "severity": "SEV1"})
    assert resp.status_code == 201, resp.body
    (incident,) = http.call("GET", "/v1/incidents").body["items"]
    patched = http.call("PATCH", f"/v1/incidents/{incident['id']}", {"status": "acknowledged"})
    assert patched.status_code == 200
    wait_for_workflows(60)
    assert http.call("GET", f"/v1/incidents/{incident['id']}").body["execution_arn"] is None
    c = container()
    later = c.incidents.clock() + timedelta(minutes=1)
    c.incidents.clock = lambda: later
    assert sweep(c.incident_repo, c.incidents, c.config).finalized == [incident["id"]]
    wait_for_workflows(60)
    assert steps(http, incident["id"])["create_channel"]["outcome"] == "done"


def test_two_runs_never_do_one_step_at_once(http: Http, monkeypatch: pytest.MonkeyPatch) -> None:
    from tocsin.dal.steps import StepBusy
    from tocsin.handlers.container import container
    from tocsin.integrations.local import LocalTicketing

    incident_id = declare(http, "Disk full", "SEV3", "search")  # no bridge yet
    response = container().response
    inside = threading.Event()
    release = threading.Event()
    calls = []
    original = LocalTicketing.create_ticket

    def slow(self: Any, *args: Any) -> Any:
        calls.append(args)
        inside.set()
        release.wait(5)
        return original(self, *args)

    monkeypatch.setattr(LocalTicketing, "find_ticket", lambda self, key: None)
    monkeypatch.setattr(LocalTicketing, "create_ticket", slow)
    step = {"type": "start_bridge", "key": "start_bridge", "params": {}}
    ticket = {"type": "create_ticket", "key": "create_ticket-race", "params": {}}
    results: list[Any] = []
    first = threading.Thread(
        target=lambda: results.append(response.run(incident_id, ticket, "run-a"))
    )
    first.start()
    assert inside.wait(5)
    with pytest.raises(StepBusy):  # the upgrade's run finds the step taken: it retries later
        response.run(incident_id, ticket, "run-b")
    release.set()
    first.join(5)
    assert response.run(incident_id, ticket, "run-b") == results[0]  # then it is done
    assert len(calls) == 1
    assert response.run(incident_id, step, "run-b")["outcome"] == "done"


def test_a_retried_summary_is_not_posted_twice_to_pin_it(
    http: Http, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tocsin.integrations.local import LocalChat
    from tocsin.integrations.ports import RetryableIntegrationError

    original = LocalChat.pin
    failures = iter([True])

    def flaky(self: Any, message: Any) -> None:
        if next(failures, False):
            raise RetryableIntegrationError("local", "pins.add -> 429", 429, 0.01)
        original(self, message)

    monkeypatch.setattr(LocalChat, "pin", flaky)
    declare(http, "Payments slow", "SEV1")
    chat = adapters().get("chat")
    (summary,) = chat.messages(chat.find_channel("inc-1-payments-slow"))
    assert summary["pinned"] is True


def test_a_step_skipped_for_want_of_a_channel_is_done_when_a_later_run_has_one(
    http: Http, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tocsin.integrations.local import LocalChat
    from tocsin.integrations.ports import PermanentIntegrationError

    def refused(self: Any, name: str, description: str) -> Any:
        raise PermanentIntegrationError("local", "conversations.create -> restricted_action")

    original = LocalChat.create_channel
    monkeypatch.setattr(LocalChat, "create_channel", refused)
    incident_id = declare(http, "Checkout errors", "SEV2")
    before = steps(http, incident_id)
    assert before["create_channel"]["state"] == "failed"
    assert before["post_summary"]["state"] == "skipped"
    monkeypatch.setattr(LocalChat, "create_channel", original)
    http.call("PATCH", f"/v1/incidents/{incident_id}", {"severity": "SEV1"})
    wait_for_workflows(60)
    after = steps(http, incident_id)
    assert after["create_channel"]["outcome"] == "done"
    assert after["post_summary"]["outcome"] == "done"
    chat = adapters().get("chat")
    channel = chat.find_channel("inc-1-checkout-errors")
    texts = [m["message"].get("title") for m in chat.messages(channel)]
    assert "INC-1: Checkout errors" in texts


def test_network_errors_of_aws_calls_are_retried() -> None:
    from botocore.exceptions import ReadTimeoutError
    from tocsin.handlers import workflow
    from tocsin_local.patches import FakeLambdaContext

    def timeout(event: Any) -> Any:
        raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    original = workflow.ACTIONS["run_action"]
    workflow.ACTIONS["run_action"] = timeout
    try:
        with pytest.raises(workflow.RetryableError):
            workflow.handler({"action": "run_action"}, FakeLambdaContext("workflow"))
    finally:
        workflow.ACTIONS["run_action"] = original

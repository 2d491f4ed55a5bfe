"""Workflows as code: validation with file and line, matching, merging and staging of actions,
channel names, business hours."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tocsin.config_loader import load_config
from tocsin.domain.config import TocsinConfig
from tocsin.domain.errors import ConfigError
from tocsin.domain.incidents import Incident, IncidentStatus
from tocsin.domain.response import BusinessHours, Trigger
from tocsin.services.response import (
    CHANNEL_NAME_MAX,
    TriggerContext,
    channel_name,
    plan_response,
)

from tests.helpers import REPO

MONDAY_NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SATURDAY_NOON = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def config() -> TocsinConfig:
    return load_config(REPO / "config")


def incident(severity: str = "SEV1", service: str | None = "checkout", **extra: object) -> Incident:
    return Incident(
        id="inc-01m8drk06v65nv7bs134e32vfv",
        number=42,
        title="Checkout latency",
        severity=severity,
        service=service,
        created_at=MONDAY_NOON,
        updated_at=MONDAY_NOON,
        **extra,  # type: ignore[arg-type]
    )


def created(at: datetime = MONDAY_NOON) -> TriggerContext:
    return TriggerContext((Trigger.INCIDENT_CREATED,), at)


def stage_types(stages: list[list[dict[str, object]]]) -> list[list[object]]:
    return [[a["type"] for a in stage] for stage in stages]


# --- channel names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "title", "expected"),
    [
        (42, "Checkout latency", "inc-42-checkout-latency"),
        (7, "  Payments: 5xx @ EU (prod)!  ", "inc-7-payments-5xx-eu-prod"),
        (3, "Zürich Café — ÜBER slow", "inc-3-zurich-cafe-uber-slow"),
        (9, "日本語のみ", "inc-9"),
    ],
)
def test_channel_names_are_valid_for_slack_and_teams(
    number: int, title: str, expected: str
) -> None:
    assert channel_name("inc", number, title, "inc-01m8drk06v65nv7bs134e32vfv") == expected


def test_an_unnumbered_incident_is_named_from_its_id() -> None:
    name = channel_name("inc", None, "Disk full", "inc-01m8drk06v65nv7bs134e32vfv")
    assert name == "inc-4e32vfv-disk-full".replace("4e32vfv", "34e32vfv")


def test_long_titles_are_cut_at_a_word_within_the_limit() -> None:
    name = channel_name("inc", 1234, "Checkout latency above two seconds for all EU customers", "i")
    assert len(name) <= CHANNEL_NAME_MAX
    assert name.startswith("inc-1234-checkout-latency-above-two-seconds")
    assert not name.endswith("-")
    for n in range(1, 120):
        name = channel_name("inc", n, "x" * n + " y", "i")
        assert len(name) <= CHANNEL_NAME_MAX and name.replace("-", "").isalnum()


# --- matching and planning ------------------------------------------------------------------------


def test_sev1_plan_runs_creations_first_then_what_uses_them(config: TocsinConfig) -> None:
    plan = plan_response(config, incident(), created(), "inc-x")
    assert plan.workflows == ["sev1-all-hands"]
    # paging and roles start at once, with the channel: nobody waits for a channel to be paged
    assert stage_types(plan.stages) == [
        [
            "page",
            "assign_roles",
            "create_channel",
            "start_bridge",
            "create_ticket",
            "update_status_page",
        ],
        ["invite", "post_summary", "notify_stakeholders", "link_resources"],
    ]
    keys = {a["type"]: a["key"] for a in plan.actions}
    # things that exist once per incident have fixed keys; the others one per run
    assert keys["create_channel"] == "create_channel" and keys["invite"] == "invite:inc-x"
    assert keys["page"] == "page"  # paged once per incident, whatever runs follow


def test_sev3_depends_on_business_hours(config: TocsinConfig) -> None:
    day = plan_response(config, incident("SEV3"), created(MONDAY_NOON), "e")
    night = plan_response(config, incident("SEV3"), created(SATURDAY_NOON), "e")
    assert day.workflows == ["sev3-business-hours"]
    assert night.workflows == ["sev3-after-hours"]
    assert stage_types(night.stages) == [["create_ticket"], ["link_resources"]]


def test_resolution_updates_the_channel_and_runs_the_resolved_workflow(
    config: TocsinConfig,
) -> None:
    resolved = incident("SEV1", status=IncidentStatus.RESOLVED)
    context = TriggerContext((Trigger.STATUS_CHANGED, Trigger.RESOLVED), MONDAY_NOON)
    plan = plan_response(config, resolved, context, "inc-x-v3")
    assert plan.workflows == ["keep-the-channel-current", "status-page-follows", "resolved"]
    assert sorted(a["type"] for a in plan.actions) == [
        "comment_ticket",
        "generate_postmortem",
        "notify_stakeholders",
        "post_message",
        "update_channel",
        "update_status_page",
    ]
    # the postmortem is generated last: it holds what the other steps said
    assert stage_types(plan.stages)[-1] == ["generate_postmortem"]
    # the status pages the incident is on follow it; it is opened on none
    [status] = [a for a in plan.actions if a["type"] == "update_status_page"]
    assert status["params"]["open"] is False


def test_a_severity_change_opens_where_the_new_severity_says_and_updates_everywhere(
    config: TocsinConfig,
) -> None:
    context = TriggerContext((Trigger.SEVERITY_CHANGED,), MONDAY_NOON)
    sev2 = plan_response(config, incident("SEV2"), context, "e")
    [status] = [a for a in sev2.actions if a["type"] == "update_status_page"]
    # sev2-respond opens it on the internal page; status-page-follows keeps the public one
    # (where a SEV1 put it) current
    assert status["params"] == {"pages": ["internal"], "open": True, "text": None}
    sev1 = plan_response(config, incident("SEV1"), context, "e")
    [status] = [a for a in sev1.actions if a["type"] == "update_status_page"]
    assert status["params"] == {"pages": None, "open": True, "text": None}


def _config_with(tmp_path: Path, workflows: str) -> TocsinConfig:
    target = tmp_path / "config"
    shutil.copytree(REPO / "config", target)
    (target / "workflows.yaml").write_text(workflows)
    return load_config(target)


def test_merging_conditions_and_repeats(tmp_path: Path) -> None:
    config = _config_with(
        tmp_path,
        """
workflows:
  - name: payments-team
    triggers: [incident_created]
    when: {teams: [payments], labels: {region: "eu-.*"}}
    actions:
      - invite: {responders: false, people: [carol]}
      - post_message: {text: "EU payments: check the PSP status page"}
  - name: everyone
    triggers: [incident_created]
    actions:
      - invite: {stakeholders: true}
      - post_message: {text: "Second note"}
  - name: switched-off
    enabled: false
    triggers: [incident_created]
    actions: [create_ticket]
  - name: search-only
    triggers: [incident_created]
    when: {services: [search]}
    actions: [start_bridge]
""",
    )
    eu = incident(labels={"region": "eu-west-1"})
    plan = plan_response(config, eu, created(), "e")
    assert plan.workflows == ["payments-team", "everyone"]
    (invite,) = [a for a in plan.actions if a["type"] == "invite"]
    assert invite["params"] == {"responders": True, "stakeholders": True, "people": ["carol"]}
    messages = [a["params"]["text"] for a in plan.actions if a["type"] == "post_message"]
    assert messages == ["EU payments: check the PSP status page", "Second note"]
    us = incident(labels={"region": "us-east-1"})
    assert plan_response(config, us, created(), "e").workflows == ["everyone"]
    # no channel in the plan: invite and messages still come after... nothing; one stage
    assert len(plan.stages) == 1


# --- validation -----------------------------------------------------------------------------------


def _problems(tmp_path: Path, files: dict[str, str]) -> str:
    target = tmp_path / "config"
    shutil.copytree(REPO / "config", target)
    for name, text in files.items():
        (target / name).write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(target)
    return "\n".join(err.value.problems)


def test_workflow_errors_name_file_line_and_field(tmp_path: Path) -> None:
    text = _problems(
        tmp_path,
        {
            "workflows.yaml": """workflows:
  - name: a
    triggers: [incident_opened]
    actions: [create_channel]
  - name: b
    triggers: [incident_created]
    actions:
      - create_channel: {prefix: "INC!"}
      - send_fax
""",
        },
    )
    assert "workflows.yaml:3: workflows.0.triggers.0: Input should be 'incident_created'" in text
    assert "workflows.yaml:8: workflows.1.actions.0.prefix: String should match" in text
    assert "workflows.yaml:9: workflows.1.actions.1.type: Input should be 'create_channel'" in text


def test_names_used_must_be_defined(tmp_path: Path) -> None:
    text = _problems(
        tmp_path,
        {
            "workflows.yaml": """workflows:
  - name: c
    triggers: [incident_created]
    when: {severities: [SEV9], teams: [nobody]}
    actions: [create_ticket, {invite: {people: [alice, zed]}}]
""",
            "teams.yaml": """people:
  - {id: alice, name: Alice, slack: U01ALICE01}
teams:
  - {name: payments, owners: [alice, zed]}
  - {name: discovery}
stakeholders:
  - {name: leadership, people: [yuri]}
  - {name: support}
""",
        },
    )
    assert "workflows.yaml:4: workflows.0.when.severities.0: unknown severity 'SEV9'" in text
    assert "workflows.0.when.teams.0: unknown team 'nobody'" in text
    assert "workflows.yaml:5: workflows.0.actions.1.invite.people.1: unknown person 'zed'" in text
    assert "teams.yaml:4: teams.0.owners.1: unknown person 'zed'" in text
    assert "stakeholders.0.people.0: unknown person 'yuri'" in text


def test_chat_ids_are_checked(tmp_path: Path) -> None:
    text = _problems(tmp_path, {"teams.yaml": "people:\n  - {id: al, name: Al, slack: al}\n"})
    assert "teams.yaml:2: people.0.slack: String should match pattern" in text


def test_integrations_are_checked_against_their_adapter(tmp_path: Path) -> None:
    text = _problems(
        tmp_path,
        {
            "integrations.yaml": """integrations:
  chat: {provider: hipchat}
  conferencing: {provider: local}
  ticketing:
    provider: jira
    options: {project_key: OPS, colour: red}
""",
        },
    )
    assert "integrations.yaml:2: integrations.chat.provider: unknown provider 'hipchat'" in text
    assert "integrations.ticketing.secret: jira needs `secret`" in text
    assert "integrations.ticketing.options.base_url: Field required" in text
    assert "integrations.yaml:6: integrations.ticketing.options.colour" in text


# --- business hours -------------------------------------------------------------------------------


def test_business_hours_follow_the_time_zone_across_dst() -> None:
    hours = BusinessHours(timezone="Europe/Berlin", start="09:00", end="18:00")  # type: ignore[arg-type]
    # 07:30 UTC is 08:30 in winter (closed) and 09:30 in summer (open)
    assert not hours.contains(datetime(2026, 1, 14, 7, 30, tzinfo=UTC))
    assert hours.contains(datetime(2026, 7, 15, 7, 30, tzinfo=UTC))
    assert not hours.contains(SATURDAY_NOON)
    with pytest.raises(ValueError, match="unknown time zone"):
        BusinessHours(timezone="Mars/Olympus")

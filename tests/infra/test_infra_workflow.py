"""The response state machine: the ASL as written, fully logged and traced, least privilege."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cfn_query import (
    functions_by_name,
    resources,
    statements_of_role,
    target,
    walk_states,
)
from cfn_query import (
    state_machine as machine_of,
)
from tocsin.routes import Function

from infra.paths import ESCALATION_ASL, RESPONSE_ASL

pytestmark = pytest.mark.xdist_group("synth")


def state_machine(template_json: dict[str, Any], construct: str = "Workflow") -> dict[str, Any]:
    _, machine = machine_of(template_json, construct)
    return dict(machine["Properties"])


def definition(template_json: dict[str, Any], construct: str = "Workflow") -> dict[str, Any]:
    body = state_machine(template_json, construct)["DefinitionString"]
    assert isinstance(body, str), "the ASL is inlined, not uploaded as an asset"
    return dict(json.loads(body))


def test_state_machine_is_standard_and_its_definition_is_the_asl_file(
    template_json: dict[str, Any],
) -> None:
    assert state_machine(template_json)["StateMachineType"] == "STANDARD"
    assert definition(template_json) == json.loads(RESPONSE_ASL.read_text())


def test_workflow_function_arn_is_substituted_into_the_definition(
    template_json: dict[str, Any],
) -> None:
    substitutions = state_machine(template_json)["DefinitionSubstitutions"]
    workflow_id = functions_by_name(template_json)[Function.WORKFLOW]
    assert target(substitutions["WorkflowFunctionArn"]) == workflow_id


def test_every_task_retries_and_catches(template_json: dict[str, Any]) -> None:
    tasks = [
        (name, state)
        for name, state in walk_states(definition(template_json)["States"])
        if state["Type"] == "Task"
    ]
    assert tasks
    for name, state in tasks:
        assert state.get("Retry"), f"Task {name} has no Retry"
        assert state.get("Catch"), f"Task {name} has no Catch"
        caught = {error for catcher in state["Catch"] for error in catcher["ErrorEquals"]}
        assert "States.ALL" in caught, f"Task {name} lets some errors stop the response"


def test_state_machine_logs_all_events_with_execution_data_and_is_traced(
    template_json: dict[str, Any],
) -> None:
    properties = state_machine(template_json)
    logging = properties["LoggingConfiguration"]
    assert logging["Level"] == "ALL"
    assert logging["IncludeExecutionData"] is True
    [destination] = logging["Destinations"]
    log_group_id = target(destination["CloudWatchLogsLogGroup"]["LogGroupArn"])
    log_group = template_json["Resources"][log_group_id]
    assert log_group["Properties"]["RetentionInDays"] > 0
    assert properties["TracingConfiguration"] == {"Enabled": True}


def test_state_machine_may_invoke_only_the_workflow_function(
    template_json: dict[str, Any],
) -> None:
    role_id = target(state_machine(template_json)["RoleArn"])
    assert role_id is not None
    invokes = [
        statement
        for statement in statements_of_role(template_json, role_id)
        if any(str(a).startswith("lambda:") for a in _list(statement["Action"]))
    ]
    workflow_id = functions_by_name(template_json)[Function.WORKFLOW]
    assert invokes == [
        {
            "Action": "lambda:InvokeFunction",
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [workflow_id, "Arn"]},
        }
    ]
    assert len(resources(template_json, "AWS::StepFunctions::StateMachine")) == 2


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- escalation -------------------------------------------------------------------------------


def test_escalation_machine_is_standard_named_and_its_definition_is_the_asl_file(
    template_json: dict[str, Any],
) -> None:
    machine = state_machine(template_json, "Escalation")
    assert machine["StateMachineType"] == "STANDARD"  # Express has no .waitForTaskToken
    assert machine["StateMachineName"] == "Tocsin-escalation"
    assert definition(template_json, "Escalation") == json.loads(ESCALATION_ASL.read_text())
    substitutions = machine["DefinitionSubstitutions"]
    workflow_id = functions_by_name(template_json)[Function.WORKFLOW]
    assert target(substitutions["WorkflowFunctionArn"]) == workflow_id


def test_escalation_tasks_retry_and_catch_and_waits_time_out(
    template_json: dict[str, Any],
) -> None:
    states = dict(walk_states(definition(template_json, "Escalation")["States"]))
    for name, state in states.items():
        if state["Type"] == "Task":
            assert state.get("Retry") and state.get("Catch"), name
    wait = states["WaitForAck"]
    assert wait["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert wait["TimeoutSecondsPath"] == "$.step.result.wait_seconds"
    catches = {tuple(c["ErrorEquals"]): c["Next"] for c in wait["Catch"]}
    assert catches[("States.Timeout",)] == "Advance"  # a timeout moves on to the next level
    assert catches[("States.ALL",)] == "PlainWait"  # a wait that cannot register still waits

"""Small read-only queries over a synthesized CloudFormation template (a plain dict)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tocsin.routes import HANDLERS, Function

Template = dict[str, Any]
Statement = dict[str, Any]


def resources(template: Template, resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def only(template: Template, resource_type: str) -> tuple[str, dict[str, Any]]:
    found = resources(template, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return next(iter(found.items()))


def state_machine(template: Template, construct: str) -> tuple[str, dict[str, Any]]:
    """The state machine of construct `Workflow` (response) or `Escalation`."""
    found = {
        logical_id: resource
        for logical_id, resource in resources(template, "AWS::StepFunctions::StateMachine").items()
        if logical_id.startswith(construct)
    }
    assert len(found) == 1, f"expected one state machine of {construct}, found {sorted(found)}"
    return next(iter(found.items()))


def target(value: Any) -> str | None:
    """The logical id a `Ref` or `Fn::GetAtt` points at (None for anything else)."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
    return None


def functions_by_name(template: Template) -> dict[Function, str]:
    """routes.Function -> logical id of its AWS::Lambda::Function, matched by handler string."""
    by_handler = {
        resource["Properties"]["Handler"]: logical_id
        for logical_id, resource in resources(template, "AWS::Lambda::Function").items()
    }
    return {name: by_handler[handler] for name, handler in HANDLERS.items()}


def role_of_function(template: Template, function_id: str) -> str:
    role = target(template["Resources"][function_id]["Properties"]["Role"])
    assert role is not None
    return role


def statements_of_role(template: Template, role_id: str) -> list[Statement]:
    """Every statement granted to a role: its inline policies and attached AWS::IAM::Policy."""
    role = template["Resources"][role_id]["Properties"]
    statements: list[Statement] = []
    for policy in role.get("Policies", []):
        statements += policy["PolicyDocument"]["Statement"]
    for policy in resources(template, "AWS::IAM::Policy").values():
        properties = policy["Properties"]
        if any(target(ref) == role_id for ref in properties.get("Roles", [])):
            statements += properties["PolicyDocument"]["Statement"]
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def actions_on(statements: list[Statement], logical_id: str) -> set[str]:
    """Allowed actions whose resources mention `logical_id` (directly or inside Fn::Join)."""
    return {
        action
        for statement in statements
        if statement["Effect"] == "Allow"
        and any(logical_id in repr(resource) for resource in as_list(statement["Resource"]))
        for action in as_list(statement["Action"])
    }


def all_actions(statements: list[Statement]) -> set[str]:
    return {
        action
        for statement in statements
        if statement["Effect"] == "Allow"
        for action in as_list(statement["Action"])
    }


def walk_states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state of an ASL definition, including those nested in Parallel and Map."""
    for name, state in states.items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from walk_states(branch["States"])
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from walk_states(state[key]["States"])

"""Functions: one shared arm64 Python 3.11 asset, tracing, logs, settings - and least privilege."""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest
from cfn_query import (
    actions_on,
    all_actions,
    as_list,
    functions_by_name,
    only,
    resources,
    role_of_function,
    state_machine,
    statements_of_role,
    target,
)
from tocsin.routes import HANDLERS, Function
from tocsin.settings import (
    ENV_BUCKET,
    ENV_ESCALATION_STATE_MACHINE,
    ENV_SIGNING_SECRET,
    ENV_STATE_MACHINE,
    ENV_TABLE,
)

from infra.bundling import PYTHON_VERSION

pytestmark = pytest.mark.xdist_group("synth")

#: The incidents' outbox (new incidents from the table's stream) and the sweeper (incidents
#: whose workflow was never started); intake and the API for later runs (severity, status).
STARTERS = {
    Function.INTAKE,
    Function.EVENTBRIDGE_INTAKE,
    Function.API,
    Function.SWEEPER,
    Function.INCIDENT_STREAM,
    Function.CHATOPS,
}
#: Functions that read the table's stream and never its items.
STREAM_READERS = {Function.INCIDENT_STREAM}
#: Reading a DynamoDB stream also needs this, which has no resource-level permission (the
#: stream's other actions are granted on its ARN); only stream readers may have it.
STREAM_STAR_ACTIONS = {"dynamodb:ListStreams"}
#: Actions AWS offers no resource-level permissions for; the only ones allowed on "*".
RESOURCE_STAR_ACTIONS = {
    # SMS pages: publishing to a phone number has no resource ARN
    "sns:Publish",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    # Step Functions' vended log delivery to CloudWatch Logs
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}
SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|PRIVATE|API_?KEY|CREDENTIAL", re.I)


def lambda_functions(template_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resources(template_json, "AWS::Lambda::Function")


def role_statements(template_json: dict[str, Any], name: Function) -> list[dict[str, Any]]:
    function_id = functions_by_name(template_json)[name]
    return statements_of_role(template_json, role_of_function(template_json, function_id))


# --- runtime --------------------------------------------------------------------------------------
def test_there_is_one_function_per_handler_of_the_route_module(
    template_json: dict[str, Any],
) -> None:
    handlers = {f["Properties"]["Handler"] for f in lambda_functions(template_json).values()}
    assert handlers == set(HANDLERS.values())


def test_functions_run_python_matching_the_compiled_bundle_on_arm64(
    template_json: dict[str, Any],
) -> None:
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == PYTHON_VERSION
    for function in lambda_functions(template_json).values():
        assert function["Properties"]["Runtime"] == f"python{PYTHON_VERSION}"
        assert function["Properties"]["Architectures"] == ["arm64"]
        assert function["Properties"]["TracingConfig"] == {"Mode": "Active"}


def test_all_functions_share_one_code_asset(template_json: dict[str, Any]) -> None:
    codes = {repr(f["Properties"]["Code"]) for f in lambda_functions(template_json).values()}
    assert len(codes) == 1


def test_each_function_logs_to_its_own_log_group_with_retention(
    template_json: dict[str, Any],
) -> None:
    log_groups = []
    for function in lambda_functions(template_json).values():
        log_group = target(function["Properties"]["LoggingConfig"]["LogGroup"])
        assert log_group is not None
        assert template_json["Resources"][log_group]["Properties"]["RetentionInDays"] > 0
        log_groups.append(log_group)
    assert len(set(log_groups)) == len(log_groups)


def test_every_log_group_has_a_retention(template_json: dict[str, Any]) -> None:
    for logical_id, log_group in resources(template_json, "AWS::Logs::LogGroup").items():
        assert log_group["Properties"].get("RetentionInDays", 0) > 0, logical_id


def test_environment_carries_powertools_settings_and_resource_names_only(
    template_json: dict[str, Any],
) -> None:
    functions = functions_by_name(template_json)
    table_id, _ = only(template_json, "AWS::DynamoDB::Table")
    machine_id, _ = state_machine(template_json, "Workflow")
    for name, function_id in functions.items():
        variables = template_json["Resources"][function_id]["Properties"]["Environment"][
            "Variables"
        ]
        assert variables["POWERTOOLS_SERVICE_NAME"] == "tocsin"
        assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "Tocsin"
        assert variables["LOG_LEVEL"] == "INFO"
        assert target(variables[ENV_TABLE]) == table_id
        assert "ArtifactBucket" in str(target(variables[ENV_BUCKET]))
        if name in STARTERS:
            assert target(variables[ENV_STATE_MACHINE]) == machine_id
        else:
            assert ENV_STATE_MACHINE not in variables
        # every function that changes incidents (chat-ops too: ack, resolve, page) can start
        # and end paging; the stream's starter only starts response workflows
        if name is Function.INCIDENT_STREAM:
            assert ENV_ESCALATION_STATE_MACHINE not in variables
            continue
        assert variables[ENV_ESCALATION_STATE_MACHINE] == {
            "Fn::Join": [
                "",
                [
                    "arn:",
                    {"Ref": "AWS::Partition"},
                    ":states:",
                    {"Ref": "AWS::Region"},
                    ":",
                    {"Ref": "AWS::AccountId"},
                    ":stateMachine:Tocsin-escalation",
                ],
            ]
        }
        # only the functions that sign or verify links get the signing key
        assert (ENV_SIGNING_SECRET in variables) == (name in {Function.WORKFLOW, Function.API})


def test_no_secrets_in_environment_variables(template_json: dict[str, Any]) -> None:
    for function in lambda_functions(template_json).values():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        for key, value in variables.items():
            assert not SECRET_NAME.search(key), f"{key} looks like a secret"
            if isinstance(value, str):  # literals are settings, never credentials
                assert len(value) <= 32 and not re.search(r"[A-Za-z0-9+/=_-]{24,}", value)


# --- least privilege ------------------------------------------------------------------------------
def test_each_function_has_its_own_role(template_json: dict[str, Any]) -> None:
    roles = [role_of_function(template_json, fid) for fid in lambda_functions(template_json)]
    assert len(set(roles)) == len(roles)
    for role_id in roles:
        assert "ManagedPolicyArns" not in template_json["Resources"][role_id]["Properties"]


def test_no_policy_grants_wildcard_actions_or_resources_beyond_tracing_and_log_delivery(
    template_json: dict[str, Any],
) -> None:
    functions = functions_by_name(template_json)
    stream_reader_roles = {
        role_of_function(template_json, functions[name]) for name in STREAM_READERS
    }
    for role_id in resources(template_json, "AWS::IAM::Role"):
        for statement in statements_of_role(template_json, role_id):
            if statement["Effect"] != "Allow":
                continue
            actions = set(as_list(statement["Action"]))
            assert not {a for a in actions if a.endswith("*")}, f"{role_id}: {actions}"
            if "*" in as_list(statement["Resource"]):
                allowed = RESOURCE_STAR_ACTIONS | (
                    STREAM_STAR_ACTIONS if role_id in stream_reader_roles else set()
                )
                assert actions <= allowed, f"{role_id}: {actions} on '*'"


def test_table_access_is_item_level_without_scan_on_the_table_and_named_indexes(
    template_json: dict[str, Any],
) -> None:
    table_id, _ = only(template_json, "AWS::DynamoDB::Table")
    for name in HANDLERS:
        statements = role_statements(template_json, name)
        actions = actions_on(statements, table_id)
        if name in STREAM_READERS:
            # the stream's records, and nothing of the items
            assert actions == {
                "dynamodb:DescribeStream",
                "dynamodb:GetRecords",
                "dynamodb:GetShardIterator",
            }, name
            for statement in statements:
                if set(as_list(statement["Action"])) & actions:
                    for resource in as_list(statement["Resource"]):
                        assert resource == {"Fn::GetAtt": [table_id, "StreamArn"]}
            continue
        assert "dynamodb:Query" in actions and "dynamodb:PutItem" in actions
        assert "dynamodb:Scan" not in actions, "listing uses the GSIs"
        assert not {a for a in actions if a.startswith(("dynamodb:Delete", "dynamodb:Create"))} - {
            "dynamodb:DeleteItem"
        }
        for statement in statements:
            for resource in as_list(statement["Resource"]):
                assert "/index/*" not in repr(resource)


def test_object_access_is_limited_to_the_prefixes_each_function_writes_and_reads(
    template_json: dict[str, Any],
) -> None:
    def s3_grants(name: Function) -> set[tuple[str, str]]:
        grants = set()
        for statement in role_statements(template_json, name):
            for action in as_list(statement["Action"]):
                if action.startswith("s3:"):
                    for resource in as_list(statement["Resource"]):
                        suffix = resource["Fn::Join"][1][-1]
                        grants.add((action, suffix))
        return grants

    put_raw_and_quarantine = {("s3:PutObject", "/raw/*"), ("s3:PutObject", "/quarantine/*")}
    # status pages (the status bucket: test_infra_statuspage.py)
    publish = {(a, "/status/*") for a in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")}
    assert s3_grants(Function.INTAKE) == put_raw_and_quarantine
    assert s3_grants(Function.EVENTBRIDGE_INTAKE) == put_raw_and_quarantine
    # postmortems: read and written under postmortems/, chat image copies read to embed them
    postmortems = {
        ("s3:GetObject", "/postmortems/*"),
        ("s3:PutObject", "/postmortems/*"),
        ("s3:GetObject", "/chat-files/*"),
    }
    assert (
        s3_grants(Function.API)
        == put_raw_and_quarantine | {("s3:GetObject", "/quarantine/*")} | publish | postmortems
    )
    assert s3_grants(Function.WORKFLOW) == publish | postmortems
    assert s3_grants(Function.SWEEPER) == publish | postmortems  # regenerates stale ones


def test_only_functions_that_open_incidents_may_start_and_describe_executions(
    template_json: dict[str, Any],
) -> None:
    machine_id, _ = state_machine(template_json, "Workflow")
    for name in HANDLERS:
        actions = actions_on(role_statements(template_json, name), machine_id)
        if name in STARTERS:
            assert actions == {"states:StartExecution", "states:DescribeExecution"}, name
        else:
            assert actions == set(), name


def test_function_roles_grant_nothing_outside_their_needs(template_json: dict[str, Any]) -> None:
    allowed_services = {"logs", "xray", "dynamodb", "s3", "states", "sqs", "secretsmanager"}
    for name in HANDLERS:
        services = {
            action.split(":")[0] for action in all_actions(role_statements(template_json, name))
        }
        # only the workflow function pages by SMS (SNS) and e-mail (SES)
        paging = {"sns", "ses"} if name == Function.WORKFLOW else set()
        assert services <= allowed_services | paging, name


def test_the_incident_stream_function_may_do_exactly_its_job(
    template_json: dict[str, Any],
) -> None:
    """Read the table's stream, start response executions, report a lost record to its own
    dead-letter queue, log and trace: nothing else (no item access, no other queue)."""
    table_id, _ = only(template_json, "AWS::DynamoDB::Table")
    machine_id, _ = state_machine(template_json, "Workflow")
    [dlq] = [
        q for q in resources(template_json, "AWS::SQS::Queue") if q.startswith("IncidentOutbox")
    ]
    granted: dict[str, set[str]] = {}
    for statement in role_statements(template_json, Function.INCIDENT_STREAM):
        assert statement["Effect"] == "Allow"
        for resource in as_list(statement["Resource"]):
            for action in as_list(statement["Action"]):
                granted.setdefault(action, set()).add(repr(resource))
    stream = repr({"Fn::GetAtt": [table_id, "StreamArn"]})
    assert {a: r for a, r in granted.items() if a.startswith("dynamodb:")} == {
        "dynamodb:DescribeStream": {stream},
        "dynamodb:GetRecords": {stream},
        "dynamodb:GetShardIterator": {stream},
        "dynamodb:ListStreams": {"'*'"},
    }
    sqs = {a: r for a, r in granted.items() if a.startswith("sqs:")}
    assert sqs and all(r == {repr({"Fn::GetAtt": [dlq, "Arn"]})} for r in sqs.values()), sqs
    assert set(sqs) <= {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}
    states = {a for a, r in granted.items() if a.startswith("states:")}
    assert states == {"states:StartExecution", "states:DescribeExecution"}
    assert all(machine_id in r or "Workflow" in r for a in states for r in granted[a])
    services = {a.split(":")[0] for a in granted}
    assert services == {"dynamodb", "sqs", "states", "logs", "xray"}

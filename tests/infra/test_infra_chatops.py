"""Chat-ops: the chatops function serves the Slack and Teams endpoints and consumes its own
queue."""

from __future__ import annotations

from typing import Any

import pytest
from cfn_query import functions_by_name, resources, target
from tocsin.routes import ROUTES, Function
from tocsin.settings import ENV_CHATOPS_QUEUE, ENV_STATUS_BUCKET

from tests.infra.test_infra_functions import role_statements

pytestmark = pytest.mark.xdist_group("synth")


def chatops_queues(template_json: dict[str, Any]) -> tuple[str, str]:
    found = {
        qid: q
        for qid, q in resources(template_json, "AWS::SQS::Queue").items()
        if qid.startswith("ChatOps")
    }
    [main] = [qid for qid, q in found.items() if "RedrivePolicy" in q["Properties"]]
    [dlq] = [qid for qid in found if qid != main]
    return main, dlq


def test_the_slack_routes_go_to_the_chatops_function() -> None:
    slack = {(r.method, r.path): r.function for r in ROUTES if r.path.startswith("/v1/slack/")}
    assert slack == {
        ("POST", "/v1/slack/commands"): Function.CHATOPS,
        ("POST", "/v1/slack/interactions"): Function.CHATOPS,
        ("POST", "/v1/slack/events"): Function.CHATOPS,
    }


def test_the_teams_routes_go_to_the_chatops_function(template_json: dict[str, Any]) -> None:
    teams = {(r.method, r.path): r.function for r in ROUTES if r.path.startswith("/v1/teams/")}
    assert teams == {
        ("POST", "/v1/teams/messages"): Function.CHATOPS,
        ("POST", "/v1/teams/webhook"): Function.CHATOPS,
    }
    keys = {
        route["Properties"]["RouteKey"]
        for route in resources(template_json, "AWS::ApiGatewayV2::Route").values()
    }
    assert {"POST /v1/teams/messages", "POST /v1/teams/webhook"} <= keys


def test_the_queue_is_encrypted_tls_only_with_a_dead_letter_queue(
    template_json: dict[str, Any],
) -> None:
    main, dlq = chatops_queues(template_json)
    queue = template_json["Resources"][main]["Properties"]
    assert target(queue["RedrivePolicy"]["deadLetterTargetArn"]) == dlq
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 3
    assert queue["MessageRetentionPeriod"] == 1800  # a response_url lasts 30 minutes
    for queue_id in (main, dlq):
        assert template_json["Resources"][queue_id]["Properties"]["SqsManagedSseEnabled"] is True
    covered = set()
    for policy in resources(template_json, "AWS::SQS::QueuePolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Deny" and statement["Condition"] == {
                "Bool": {"aws:SecureTransport": "false"}
            }:
                covered |= {target(q) for q in policy["Properties"]["Queues"]}
    assert {main, dlq} <= covered


def test_the_function_consumes_its_queue_with_partial_batch_responses(
    template_json: dict[str, Any],
) -> None:
    main, _ = chatops_queues(template_json)
    function = functions_by_name(template_json)[Function.CHATOPS]
    (mapping,) = [
        m["Properties"]
        for m in resources(template_json, "AWS::Lambda::EventSourceMapping").values()
        if target(m["Properties"]["EventSourceArn"]) == main
    ]
    assert target(mapping["FunctionName"]) == function
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    props = template_json["Resources"][function]["Properties"]
    variables = props["Environment"]["Variables"]
    assert target(variables[ENV_CHATOPS_QUEUE]) == main
    assert ENV_STATUS_BUCKET in variables
    timeout = props["Timeout"]
    visibility = template_json["Resources"][main]["Properties"]["VisibilityTimeout"]
    assert visibility >= 6 * timeout


def test_it_may_send_to_its_queue_publish_status_pages_and_start_runs_and_paging_only(
    template_json: dict[str, Any],
) -> None:
    main, _ = chatops_queues(template_json)
    statements = role_statements(template_json, Function.CHATOPS)

    def actions_of(statement: dict[str, Any]) -> list[str]:
        action = statement["Action"]
        return action if isinstance(action, list) else [action]

    (send,) = [s for s in statements if "sqs:SendMessage" in actions_of(s)]
    assert target(send["Resource"]) == main
    actions = {a for s in statements for a in actions_of(s)}
    assert not any(a.startswith(("sns:", "ses:")) for a in actions), actions
    # the runs a change from chat triggers, and paging started (`page`) or ended (`ack`)
    assert {a for a in actions if a.startswith("states:")} == {
        "states:StartExecution",
        "states:DescribeExecution",
        "states:SendTaskSuccess",
        "states:SendTaskFailure",
    }
    assert "s3:PutObject" in actions  # status/* of the status bucket (test_infra_statuspage)


def test_it_may_write_shared_file_copies_under_chat_files_of_the_artifact_bucket_only(
    template_json: dict[str, Any],
) -> None:
    (bucket,) = [
        bid
        for bid, b in resources(template_json, "AWS::S3::Bucket").items()
        if bid.startswith("StorageArtifactBucket")
    ]
    grants = set()
    for statement in role_statements(template_json, Function.CHATOPS):
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        resources_ = (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        )
        for resource in resources_:
            if isinstance(resource, dict) and "Fn::Join" in resource:
                parts = resource["Fn::Join"][1]
                if any(target(p) == bucket for p in parts if isinstance(p, dict)):
                    grants |= {(a, parts[-1]) for a in actions}
    # chat file copies it writes; postmortems (`/incident postmortem`) it reads and writes,
    # embedding the image copies
    assert grants == {
        ("s3:PutObject", "/chat-files/*"),
        ("s3:GetObject", "/chat-files/*"),
        ("s3:GetObject", "/postmortems/*"),
        ("s3:PutObject", "/postmortems/*"),
    }

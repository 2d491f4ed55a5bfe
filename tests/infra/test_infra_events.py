"""AWS events reach eventbridge_intake through a safe queue; the sweeper runs every minute."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cfn_query import functions_by_name, only, resources, target
from tocsin.routes import Function

pytestmark = pytest.mark.xdist_group("synth")


def queues(template_json: dict[str, Any]) -> tuple[str, str]:
    """(main queue, dead-letter queue) logical ids of the AWS events path."""
    found = {
        qid: q
        for qid, q in resources(template_json, "AWS::SQS::Queue").items()
        if qid.startswith("AwsEvents")
    }
    [main] = [qid for qid, q in found.items() if "RedrivePolicy" in q["Properties"]]
    [dlq] = [qid for qid in found if qid != main]
    return main, dlq


def test_queue_sends_poison_messages_to_an_encrypted_dead_letter_queue(
    template_json: dict[str, Any],
) -> None:
    main, dlq = queues(template_json)
    redrive = template_json["Resources"][main]["Properties"]["RedrivePolicy"]
    assert target(redrive["deadLetterTargetArn"]) == dlq
    assert 1 < redrive["maxReceiveCount"] <= 10
    for queue_id in (main, dlq):
        assert template_json["Resources"][queue_id]["Properties"]["SqsManagedSseEnabled"] is True


def test_both_queues_deny_requests_without_tls(template_json: dict[str, Any]) -> None:
    covered = set()
    for policy in resources(template_json, "AWS::SQS::QueuePolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if (
                statement["Effect"] == "Deny"
                and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                and statement["Principal"] == {"AWS": "*"}
            ):
                covered |= {target(q) for q in policy["Properties"]["Queues"]}
    assert set(queues(template_json)) <= covered  # (test_infra_chatops: chat-ops' queues)


def test_queue_visibility_outlasts_the_consumer_six_times(template_json: dict[str, Any]) -> None:
    main, _ = queues(template_json)
    consumer = functions_by_name(template_json)[Function.EVENTBRIDGE_INTAKE]
    timeout = template_json["Resources"][consumer]["Properties"]["Timeout"]
    assert template_json["Resources"][main]["Properties"]["VisibilityTimeout"] >= 6 * timeout


def test_alarm_and_health_events_are_routed_to_the_queue(template_json: dict[str, Any]) -> None:
    main, dlq = queues(template_json)
    patterns = {}
    for rule in resources(template_json, "AWS::Events::Rule").values():
        properties = rule["Properties"]
        if "EventPattern" in properties:
            [rule_target] = properties["Targets"]
            assert target(rule_target["Arn"]) == main
            assert target(rule_target["DeadLetterConfig"]["Arn"]) == dlq
            pattern = properties["EventPattern"]
            patterns[tuple(pattern["source"])] = tuple(pattern["detail-type"])
    assert patterns == {
        ("aws.cloudwatch",): ("CloudWatch Alarm State Change",),
        ("aws.health",): ("AWS Health Event",),
    }


def test_only_eventbridge_may_send_to_the_queue_and_only_from_its_rules(
    template_json: dict[str, Any],
) -> None:
    rules = set(resources(template_json, "AWS::Events::Rule"))
    for policy in resources(template_json, "AWS::SQS::QueuePolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Allow":
                assert statement["Principal"] == {"Service": "events.amazonaws.com"}
                assert target(statement["Condition"]["ArnEquals"]["aws:SourceArn"]) in rules


def test_eventbridge_intake_consumes_the_queue_reporting_partial_batch_failures(
    template_json: dict[str, Any],
) -> None:
    main, _ = queues(template_json)
    (properties,) = [
        m["Properties"]
        for m in resources(template_json, "AWS::Lambda::EventSourceMapping").values()
        if target(m["Properties"]["EventSourceArn"]) == main
    ]
    assert (
        target(properties["FunctionName"])
        == functions_by_name(template_json)[Function.EVENTBRIDGE_INTAKE]
    )
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_sweeper_runs_every_minute_without_late_retries(template_json: dict[str, Any]) -> None:
    sweeper = functions_by_name(template_json)[Function.SWEEPER]
    [schedule] = [
        rule["Properties"]
        for rule in resources(template_json, "AWS::Events::Rule").values()
        if "ScheduleExpression" in rule["Properties"]
    ]
    assert schedule["ScheduleExpression"] == "rate(1 minute)"
    [rule_target] = schedule["Targets"]
    assert target(rule_target["Arn"]) == sweeper
    _, invoke_config = only(template_json, "AWS::Lambda::EventInvokeConfig")
    assert invoke_config["Properties"]["MaximumRetryAttempts"] == 0


def test_overdue_action_items_are_reminded_hourly_by_eventbridge_scheduler(
    template_json: dict[str, Any],
) -> None:
    """One Scheduler schedule, hourly in the reminders' time zone, invokes the sweeper with
    the reminders task through a role that may invoke the sweeper and nothing else."""
    from tocsin.config_loader import load_config
    from tocsin.handlers.sweeper import REMINDERS_TASK

    from infra.paths import CONFIG_DIR

    reminders = load_config(CONFIG_DIR).action_items.reminders
    sweeper = functions_by_name(template_json)[Function.SWEEPER]
    [(_, schedule)] = resources(template_json, "AWS::Scheduler::Schedule").items()
    props = schedule["Properties"]
    assert props["ScheduleExpression"] == "cron(0 * * * ? *)"
    assert props["ScheduleExpressionTimezone"] == reminders.timezone
    assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert props["State"] == ("ENABLED" if reminders.enabled else "DISABLED")
    schedule_target = props["Target"]
    assert target(schedule_target["Arn"]) == sweeper
    assert json.loads(schedule_target["Input"]) == {"task": REMINDERS_TASK}
    assert schedule_target["RetryPolicy"]["MaximumRetryAttempts"] == 2
    role_id = target(schedule_target["RoleArn"])
    role = template_json["Resources"][role_id]["Properties"]
    [assume] = role["AssumeRolePolicyDocument"]["Statement"]
    assert assume["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert "aws:SourceAccount" in assume["Condition"]["StringEquals"]
    granted = [
        statement
        for policy in resources(template_json, "AWS::IAM::Policy").values()
        if any(target(r) == role_id for r in policy["Properties"]["Roles"])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert {s["Action"] for s in granted} == {"lambda:InvokeFunction"}
    for statement in granted:
        for resource in statement["Resource"]:
            assert sweeper in json.dumps(resource)  # the sweeper (and its versions) only


def test_new_incidents_start_their_workflow_from_the_tables_stream(
    template_json: dict[str, Any],
) -> None:
    """The incidents' outbox: only inserts of incident records reach the starter, which
    reports partial failures; retries are bounded and what outlives them is described in an
    encrypted, TLS-only dead-letter queue (the sweeper starts what is left)."""
    from tocsin.routes import NEW_INCIDENT_FILTER

    table_id, table = only(template_json, "AWS::DynamoDB::Table")
    assert table["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    starter = functions_by_name(template_json)[Function.INCIDENT_STREAM]
    [(_, mapping)] = [
        (mid, m)
        for mid, m in resources(template_json, "AWS::Lambda::EventSourceMapping").items()
        if target(m["Properties"]["FunctionName"]) == starter
    ]
    props = mapping["Properties"]
    assert props["EventSourceArn"] == {"Fn::GetAtt": [table_id, "StreamArn"]}
    assert props["StartingPosition"] == "LATEST"
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BisectBatchOnFunctionError"] is True
    assert 0 < props["MaximumRetryAttempts"] <= 10
    assert props["MaximumRecordAgeInSeconds"] <= 3600
    [pattern] = [json.loads(f["Pattern"]) for f in props["FilterCriteria"]["Filters"]]
    assert pattern == NEW_INCIDENT_FILTER
    dlq = target(props["DestinationConfig"]["OnFailure"]["Destination"])
    assert dlq is not None and dlq.startswith("IncidentOutbox")
    assert template_json["Resources"][dlq]["Properties"]["SqsManagedSseEnabled"] is True
    tls_only = [
        policy
        for policy in resources(template_json, "AWS::SQS::QueuePolicy").values()
        if dlq in {target(q) for q in policy["Properties"]["Queues"]}
        and any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
        )
    ]
    assert tls_only

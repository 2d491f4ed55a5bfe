"""Create Tocsin's AWS resources on a moto backend, from the same definitions the stack uses."""

from __future__ import annotations

import functools
import io
import json
import secrets
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from tocsin.dal import schema
from tocsin.dal.tokens import TokenStore
from tocsin.routes import EVENT_RULES, HANDLERS, NEW_INCIDENT_FILTER, Function
from tocsin.sources import HTTP_SOURCES

REGION = "us-east-1"
ACCOUNT = "123456789012"
REPO_ROOT = Path(__file__).resolve().parents[2]
ASL_PATH = REPO_ROOT / "statemachines" / "response.asl.json"
ESCALATION_ASL_PATH = REPO_ROOT / "statemachines" / "escalation.asl.json"
SIGNING_SECRET = "tocsin/signing"
STATUS_COOKIE_SECRET = "tocsin/statuspage-cookies"
LOCAL_KEY_PAIR_ID = "KLOCALTOCSIN"
#: local mode accepts its one token for the API and every integration (Jira's webhook too)
TOKEN_NAMES = ("api", *HTTP_SOURCES, "eventbridge", "jira")


@dataclass(frozen=True)
class Resources:
    table: str
    bucket: str
    state_machine_arn: str
    events_queue_url: str
    escalation_state_machine_arn: str = ""
    #: Slack commands and interactions, acknowledged, wait here for the chatops function
    chatops_queue_url: str = ""
    signing_secret: str = SIGNING_SECRET
    status_bucket: str = ""
    status_cookie_secret: str = STATUS_COOKIE_SECRET
    #: the public half of the key that signs private status pages' cookies (the gateway plays
    #: CloudFront and checks them)
    status_cookie_public_key: bytes = b""


def _placeholder_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("README.txt", "local mode runs the handlers in-process")
    return buf.getvalue()


@functools.cache
def _cookie_key_pair() -> tuple[bytes, bytes]:
    """One throwaway key pair per process (RSA key generation costs ~50 ms; tests provision
    a fresh backend for every test)."""
    from tocsin.services.cloudfront_cookies import generate_key_pair

    return generate_key_pair()


def create_table(ddb: Any, name: str) -> None:
    attributes = (
        {schema.PK, schema.SK} | {i.pk for i in schema.INDEXES} | {i.sk for i in schema.INDEXES}
    )
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)
        ],
        KeySchema=[
            {"AttributeName": schema.PK, "KeyType": "HASH"},
            {"AttributeName": schema.SK, "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": index.name,
                "KeySchema": [
                    {"AttributeName": index.pk, "KeyType": "HASH"},
                    {"AttributeName": index.sk, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in schema.INDEXES
        ],
        # the incidents' outbox (infra/storage.py): new incident records start their workflow
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )


def provision(token: str, prefix: str = "tocsin") -> Resources:
    """Create table, bucket, functions, state machine and the EventBridge -> SQS path."""
    session = boto3.session.Session(region_name=REGION)
    ddb = session.client("dynamodb")
    s3 = session.client("s3")
    iam = session.client("iam")
    lam = session.client("lambda")
    sfn = session.client("stepfunctions")
    sqs = session.client("sqs")
    events = session.client("events")

    table, bucket = f"{prefix}-table", f"{prefix}-artifacts"
    status_bucket = f"{prefix}-status"
    create_table(ddb, table)
    s3.create_bucket(Bucket=bucket)
    s3.create_bucket(Bucket=status_bucket)
    role_arn = iam.create_role(
        RoleName=f"{prefix}-local-role",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    code = _placeholder_zip()
    arns: dict[Function, str] = {}
    for function, handler in HANDLERS.items():
        arns[function] = lam.create_function(
            FunctionName=f"{prefix}-{function.value}",
            Runtime="python3.11",
            Role=role_arn,
            Handler=handler,
            Code={"ZipFile": code},
            Timeout=30,
        )["FunctionArn"]
    definition = ASL_PATH.read_text().replace("${WorkflowFunctionArn}", arns[Function.WORKFLOW])
    sm_arn = sfn.create_state_machine(
        name=f"{prefix}-response", definition=definition, roleArn=role_arn
    )["stateMachineArn"]
    escalation = ESCALATION_ASL_PATH.read_text().replace(
        "${WorkflowFunctionArn}", arns[Function.WORKFLOW]
    )
    esc_arn = sfn.create_state_machine(
        name=f"{prefix}-escalation", definition=escalation, roleArn=role_arn
    )["stateMachineArn"]
    # the key that signs acknowledgement and calendar links (the stack generates its own)
    session.client("secretsmanager").create_secret(
        Name=SIGNING_SECRET, SecretString=json.dumps({"key": secrets.token_urlsafe(32)})
    )
    # private status pages: CloudFront signed cookies (the stack's key comes from
    # `tocsin statuspage keygen`; local mode makes a throwaway one)
    private_key, public_key = _cookie_key_pair()
    session.client("secretsmanager").create_secret(
        Name=STATUS_COOKIE_SECRET,
        SecretString=json.dumps(
            {"private_key": private_key.decode(), "key_pair_id": LOCAL_KEY_PAIR_ID}
        ),
    )
    queue_url = sqs.create_queue(QueueName=f"{prefix}-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    for rule, pattern in EVENT_RULES.items():
        events.put_rule(Name=f"{prefix}-{rule}", EventPattern=json.dumps(pattern))
        events.put_targets(Rule=f"{prefix}-{rule}", Targets=[{"Id": "queue", "Arn": queue_arn}])
    lam.create_event_source_mapping(
        EventSourceArn=queue_arn,
        FunctionName=arns[Function.EVENTBRIDGE_INTAKE],
        BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"],  # as infra/events.py
    )
    # chat-ops: acknowledged requests -> queue (dead letters after 3 receives) -> chatops
    dlq_url = sqs.create_queue(QueueName=f"{prefix}-chatops-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    chatops_url = sqs.create_queue(
        QueueName=f"{prefix}-chatops",
        Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})
        },
    )["QueueUrl"]
    chatops_arn = sqs.get_queue_attributes(QueueUrl=chatops_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    lam.create_event_source_mapping(
        EventSourceArn=chatops_arn,
        FunctionName=arns[Function.CHATOPS],
        BatchSize=1,
        FunctionResponseTypes=["ReportBatchItemFailures"],  # as infra/chatops.py
    )
    # new incidents -> their response workflow (as infra/stack.py: IncidentOutbox)
    stream_arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    lam.create_event_source_mapping(
        EventSourceArn=stream_arn,
        FunctionName=arns[Function.INCIDENT_STREAM],
        StartingPosition="LATEST",
        BatchSize=10,
        FilterCriteria={"Filters": [{"Pattern": json.dumps(NEW_INCIDENT_FILTER)}]},
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    tokens = TokenStore(table)
    for name in TOKEN_NAMES:
        tokens.add(name, token)
    return Resources(
        table=table,
        bucket=bucket,
        state_machine_arn=sm_arn,
        events_queue_url=queue_url,
        escalation_state_machine_arn=esc_arn,
        chatops_queue_url=chatops_url,
        status_bucket=status_bucket,
        status_cookie_public_key=public_key,
    )

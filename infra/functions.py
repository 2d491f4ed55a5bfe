"""The Lambda functions of routes.HANDLERS: one shared code asset, one role and log group each."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct
from tocsin.routes import HANDLERS, Function
from tocsin.settings import ENV_BUCKET, ENV_TABLE

from infra.bundling import PYTHON_VERSION
from infra.nag import XRAY_REASON, acknowledge

RUNTIME = lambda_.Runtime.PYTHON_3_11
ARCHITECTURE = lambda_.Architecture.ARM_64
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
POWERTOOLS_ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "tocsin",
    "POWERTOOLS_METRICS_NAMESPACE": "Tocsin",
    "LOG_LEVEL": "INFO",
}


@dataclass(frozen=True)
class FunctionSpec:
    description: str
    timeout: Duration
    memory_mb: int = 512
    async_retries: int | None = None  # None: Lambda's default (2) for asynchronous invocations
    #: other actions the function is granted on '*' (besides X-Ray's), and why
    star_actions_reason: str = ""


SPECS: dict[Function, FunctionSpec] = {
    Function.INTAKE: FunctionSpec(
        "alert webhooks: authenticate, keep, dedup, open incidents", Duration.seconds(10)
    ),
    Function.API: FunctionSpec(
        "incidents, quarantine and maintenance windows API", Duration.seconds(10)
    ),
    Function.EVENTBRIDGE_INTAKE: FunctionSpec(
        "CloudWatch alarms and AWS Health events, from SQS", Duration.seconds(30)
    ),
    Function.WORKFLOW: FunctionSpec("tasks of the response state machine", Duration.seconds(60)),
    # Runs every minute: a failed run is simply redone by the next one, never retried late.
    Function.SWEEPER: FunctionSpec(
        "every minute: resolve quiet incidents, finish stalled ones",
        Duration.seconds(50),
        async_retries=0,
    ),
    # Slack's 3-second acknowledgement includes a cold start: the HTTP path imports little;
    # the queued work (status page publishing) gets the longer timeout
    Function.CHATOPS: FunctionSpec(
        "Slack commands and buttons: verify and acknowledge, then work from its queue",
        Duration.seconds(30),
    ),
    Function.INCIDENT_STREAM: FunctionSpec(
        "starts each new incident's response workflow, from the table's stream",
        Duration.seconds(30),
        memory_mb=256,
        star_actions_reason=" Reading the table's stream also needs dynamodb:ListStreams, "
        "which supports no resource-level permissions either (the stream's own actions are "
        "granted on its ARN only).",
    ),
}


class ServiceFunction(Construct):
    """One function with its own role (no managed policies) and its own log group."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: Function,
        code: lambda_.Code,
        environment: dict[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        spec = SPECS[name]
        self.log_group = logs.LogGroup(self, "Logs", retention=LOG_RETENTION)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Tocsin {name.value} function",
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            description=f"Tocsin {name.value}: {spec.description}",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=HANDLERS[name],
            code=code,
            role=self.role,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
            timeout=spec.timeout,
            memory_size=spec.memory_mb,
            environment={**POWERTOOLS_ENVIRONMENT, **environment},
            retry_attempts=spec.async_retries,
            max_event_age=Duration.minutes(1) if spec.async_retries == 0 else None,
        )
        acknowledge(self.role, "IAM5[Resource::*]", XRAY_REASON + spec.star_actions_reason)
        acknowledge(
            self.function,
            "L1",
            f"The bundle ships .pyc compiled by CPython {PYTHON_VERSION} (Lambda cannot write "
            "__pycache__); the runtime must be the same minor version. Upgrade both together.",
        )


class ServiceFunctions(Construct):
    """Every function of routes.HANDLERS, sharing one code asset."""

    def __init__(
        self, scope: Construct, construct_id: str, *, code: lambda_.Code, table: str, bucket: str
    ) -> None:
        super().__init__(scope, construct_id)
        environment = {ENV_TABLE: table, ENV_BUCKET: bucket}
        self.by_name: dict[Function, ServiceFunction] = {
            name: ServiceFunction(
                self, _construct_id(name), name=name, code=code, environment=environment
            )
            for name in HANDLERS
        }

    def __getitem__(self, name: Function) -> ServiceFunction:
        return self.by_name[name]


def _construct_id(name: Function) -> str:
    return "".join(part.capitalize() for part in name.value.split("_"))

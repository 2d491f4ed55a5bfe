"""The state machines: the response workflow (statemachines/response.asl.json) and the
escalation (statemachines/escalation.asl.json), both Standard (escalation waits with
.waitForTaskToken, which Express does not have)."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.nag import acknowledge, acknowledge_wildcard_resource
from infra.paths import ESCALATION_ASL, RESPONSE_ASL

LOG_RETENTION = logs.RetentionDays.ONE_MONTH
EXECUTION_REASON = (
    "Execution names are incident ids chosen at run time; DescribeExecution is granted on the "
    "executions of this one state machine (execution:<name>:*), nothing wider."
)


class ResponseWorkflow(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        workflow_function: lambda_.IFunction,
        definition: Path = RESPONSE_ASL,
        kind: str = "response",
        state_machine_name: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        # Vended-log destinations should sit under /aws/vendedlogs/ (resource policy size limit).
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/vendedlogs/states/{Stack.of(self).stack_name}-{kind}",
            retention=LOG_RETENTION,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=state_machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            # Inline (not an asset), so the template - and its tests - show the definition.
            definition_body=sfn.DefinitionBody.from_string(definition.read_text(encoding="utf-8")),
            definition_substitutions={"WorkflowFunctionArn": workflow_function.function_arn},
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True
            ),
            tracing_enabled=True,
        )
        # The ASL invokes the unqualified function ARN only: no `:*` versions or aliases.
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"], resources=[workflow_function.function_arn]
            )
        )
        acknowledge(
            self.state_machine,
            "IAM5[Resource::*]",
            "Logging to CloudWatch Logs uses the vended-log delivery APIs (logs:CreateLogDelivery, "
            "PutResourcePolicy, DescribeLogGroups, ...) and X-Ray tracing uses "
            "xray:PutTraceSegments/GetSampling*; none of them supports resource-level permissions.",
        )

    def grant_start(self, grantee: iam.IGrantable) -> None:
        """StartExecution on this state machine and DescribeExecution on its executions."""
        self.state_machine.grant_start_execution(grantee)
        executions = Stack.of(self).format_arn(
            service="states",
            resource="execution",
            resource_name=f"{self.state_machine.state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        iam.Grant.add_to_principal(
            grantee=grantee, actions=["states:DescribeExecution"], resource_arns=[executions]
        )
        acknowledge_wildcard_resource(grantee, executions, EXECUTION_REASON)


class EscalationWorkflow(ResponseWorkflow):
    """The escalation state machine, under a fixed name: its ARN is known without referring
    to the resource, so the workflow function it invokes can start it and complete its task
    tokens (a reference would be a dependency cycle: function -> machine -> function)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, workflow_function: lambda_.IFunction
    ) -> None:
        name = f"{Stack.of(scope).stack_name}-escalation"
        super().__init__(
            scope,
            construct_id,
            workflow_function=workflow_function,
            definition=ESCALATION_ASL,
            kind="escalation",
            state_machine_name=name,
        )
        self.name = name
        self.arn = Stack.of(self).format_arn(
            service="states",
            resource="stateMachine",
            resource_name=name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def grant_escalate(self, grantee: iam.IGrantable) -> None:
        """Start escalations, and complete (acknowledge, cancel) their waiting levels."""
        iam.Grant.add_to_principal(
            grantee=grantee, actions=["states:StartExecution"], resource_arns=[self.arn]
        )
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["states:SendTaskSuccess", "states:SendTaskFailure"],
            resource_arns=[self.arn],
        )

"""The response workflow: a Standard state machine defined by statemachines/response.asl.json."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.nag import acknowledge, acknowledge_wildcard_resource
from infra.paths import RESPONSE_ASL

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
    ) -> None:
        super().__init__(scope, construct_id)
        # Vended-log destinations should sit under /aws/vendedlogs/ (resource policy size limit).
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/vendedlogs/states/{Stack.of(self).stack_name}-response",
            retention=LOG_RETENTION,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
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

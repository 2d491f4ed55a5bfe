"""Starting the response workflow (Step Functions), idempotently: execution name = incident id."""

from __future__ import annotations

import json
from typing import Protocol

from botocore.exceptions import ClientError

from tocsin.dal.aws import client
from tocsin.domain.incidents import Incident


class WorkflowStarter(Protocol):
    def start(self, incident: Incident) -> str: ...


def workflow_input(incident: Incident) -> str:
    """Deterministic: a retried start sends the same input, which Step Functions accepts."""
    return json.dumps(
        {
            "incident_id": incident.id,
            "number": incident.number,
            "title": incident.title,
            "severity": incident.severity,
            "service": incident.service,
        },
        sort_keys=True,
    )


class StepFunctionsWorkflow:
    def __init__(self, state_machine_arn: str) -> None:
        self.state_machine_arn = state_machine_arn
        self.sfn = client("stepfunctions")

    def execution_arn(self, name: str) -> str:
        return self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"

    def start(self, incident: Incident) -> str:
        try:
            resp = self.sfn.start_execution(
                stateMachineArn=self.state_machine_arn,
                name=incident.id,
                input=workflow_input(incident),
            )
            return str(resp["executionArn"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
                return self.execution_arn(incident.id)
            raise

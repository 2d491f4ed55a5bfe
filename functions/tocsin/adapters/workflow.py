"""Starting the response workflow (Step Functions), idempotently: execution name = incident id."""

from __future__ import annotations

import json
from typing import Protocol

from botocore.exceptions import ClientError

from tocsin.dal.aws import client
from tocsin.domain.incidents import Incident


class WorkflowStarter(Protocol):
    def start(self, incident: Incident) -> str: ...

    def trigger(
        self, incident_id: str, execution: str, triggers: list[str], at: str | None = None
    ) -> str: ...

    def deliver_update(self, incident_id: str, event_id: str, text: str) -> str: ...


def workflow_input(incident: Incident) -> str:
    """Deterministic: a retried start sends the same input, which Step Functions accepts."""
    return json.dumps(
        {
            "incident_id": incident.id,
            "number": incident.number,
            "title": incident.title,
            "severity": incident.severity,
            "service": incident.service,
            "triggers": ["incident_created"],
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
        return self._start(incident.id, workflow_input(incident))

    def trigger(
        self, incident_id: str, execution: str, triggers: list[str], at: str | None = None
    ) -> str:
        """A later run for a change (severity, status): `execution` is `<id>-v<version>`;
        `at` is when the change happened."""
        body = {"incident_id": incident_id, "triggers": triggers}
        if at:
            body["at"] = at
        return self._start(execution, json.dumps(body, sort_keys=True))

    def deliver_update(self, incident_id: str, event_id: str, text: str) -> str:
        """Post a recorded stakeholder update to the channels, after the API has answered."""
        body = {
            "incident_id": incident_id,
            "triggers": [],
            "update": {"id": event_id, "text": text},
        }
        return self._start(f"{incident_id}-u{event_id[-12:]}", json.dumps(body, sort_keys=True))

    def _start(self, name: str, body: str) -> str:
        try:
            resp = self.sfn.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=body
            )
            return str(resp["executionArn"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
                return self.execution_arn(name)
            raise


class StepFunctionsEscalations:
    """The escalation state machine: start an escalation (idempotent on its name) and
    complete the task token of a level waiting for an acknowledgement."""

    def __init__(self, state_machine_arn: str) -> None:
        self.state_machine_arn = state_machine_arn
        self.sfn = client("stepfunctions")

    def start(self, name: str, payload: dict[str, object]) -> bool:
        """False when an execution of that name exists already (a retried start)."""
        try:
            self.sfn.start_execution(
                stateMachineArn=self.state_machine_arn,
                name=name,
                input=json.dumps(payload, sort_keys=True),
            )
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
                return False
            raise

    def complete(self, token: str, output: dict[str, object]) -> bool:
        """False for a token that is no longer waiting (its wait timed out: the next level
        is paging, and checks the escalation's status before it does)."""
        try:
            self.sfn.send_task_success(taskToken=token, output=json.dumps(output))
            return True
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}:
                return False
            raise

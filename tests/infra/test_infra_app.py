"""The CDK app: one environment-agnostic stack, offline synth, pinned CLI, useful outputs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import cx_api

from infra.paths import CDK_JSON, REPO_ROOT
from infra.stack import STACK_NAME

pytestmark = pytest.mark.xdist_group("synth")


def test_app_synthesizes_one_environment_agnostic_stack(assembly: cx_api.CloudAssembly) -> None:
    [stack] = assembly.stacks
    assert stack.stack_name == STACK_NAME
    assert stack.environment.account == "unknown-account"
    assert stack.environment.region == "unknown-region"


def test_outputs_give_the_api_url_table_bucket_and_state_machine(
    template_json: dict[str, Any],
) -> None:
    outputs = template_json["Outputs"]
    assert {"ApiUrl", "TableName", "ArtifactBucketName", "StateMachineArn"} <= set(outputs)
    assert "ApiEndpoint" in json.dumps(outputs["ApiUrl"]["Value"])


def test_template_has_no_version_reporting_metadata(template_json: dict[str, Any]) -> None:
    assert "CDKMetadata" not in template_json["Resources"]


def test_cdk_json_runs_the_venv_python_without_reporting_or_lookups() -> None:
    settings = json.loads(CDK_JSON.read_text())
    assert settings["app"] == "python app.py"
    assert settings["versionReporting"] is False
    assert settings["context"]["cli-telemetry"] is False
    lookups = [key for key in settings["context"] if key.startswith(("vpc-provider", "ami:"))]
    assert lookups == [], "no cached lookups: the stack uses none"


def test_cdk_cli_is_pinned_exactly_in_package_json_and_its_lock() -> None:
    package = json.loads((REPO_ROOT / "package.json").read_text())
    lock = json.loads((REPO_ROOT / "package-lock.json").read_text())
    version = package["dependencies"]["aws-cdk"]
    assert version[0].isdigit() and version.startswith("2."), "exact 2.x, no range"
    assert lock["packages"]["node_modules/aws-cdk"]["version"] == version

"""cdk-nag (AwsSolutions) as a synth-time validation plugin, and scoped acknowledgements.

Every acknowledgement names one finding (`AwsSolutions-IAM5[Resource::...]`, not the whole
rule) on the narrowest construct that produces it, with the reason it is acceptable there.
Synthesis fails on any finding that is not acknowledged.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Acknowledgment, App, Stack, Validations
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks
from constructs import Construct, IConstruct

PACK = "AwsSolutions"

XRAY_REASON = (
    "X-Ray tracing (Tracing: Active) needs xray:PutTraceSegments, PutTelemetryRecords and "
    "GetSampling*, which support no resource-level permissions: Resource must be '*'."
)


def add_checks(app: App) -> None:
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    """Acknowledge one finding (`IAM5[Resource::*]`, `L1`) on `scope` and its children."""
    Validations.of(scope).acknowledge(Acknowledgment(id=f"{PACK}-{finding}", reason=reason))


def acknowledge_wildcard_resource(grantee: iam.IGrantable, arn: str, reason: str) -> None:
    """Acknowledge IAM5 for exactly one wildcard resource ARN granted to `grantee`'s role."""
    principal = grantee.grant_principal
    if not isinstance(principal, Construct):
        raise TypeError(f"cannot acknowledge findings on {principal!r}: not a construct")
    resource = flatten_reference(Stack.of(principal).resolve(arn))
    acknowledge(principal, f"IAM5[Resource::{resource}]", reason)


def flatten_reference(node: Any) -> str:
    """A resolved CloudFormation value as cdk-nag 3 spells it in finding ids
    (port of cdk-nag's utils/flatten-cfn-reference)."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict):
        if "Fn::Join" in node:
            delimiter, items = node["Fn::Join"]
            return str(delimiter).join(flatten_reference(item) for item in items)
        if "Fn::Sub" in node:
            return flatten_reference(node["Fn::Sub"])
        if "Fn::GetAtt" in node:
            resource, attribute = node["Fn::GetAtt"]
            return f"<{flatten_reference(resource)}.{flatten_reference(attribute)}>"
        if "Fn::ImportValue" in node:
            return flatten_reference(node["Fn::ImportValue"])
        if "Ref" in node:
            return f"<{flatten_reference(node['Ref'])}>"
    return json.dumps(node, separators=(",", ":"))

"""cdk-nag AwsSolutions passes with zero unacknowledged findings, each acknowledgement narrow."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk import App, Stack, Validations, cx_api
from aws_cdk import aws_s3 as s3
from constructs import IConstruct

from infra.nag import PACK, add_checks, flatten_reference
from infra.stack import STACK_NAME

pytestmark = pytest.mark.xdist_group("synth")

#: Rules we acknowledge somewhere, and why they can be (details in each reason).
EXPECTED_RULES = {
    "IAM5": "wildcards only for X-Ray, vended log delivery, object prefixes, executions, "
    "SMS publishing and the SES sender identity",
    "SMG4": "the signing key rotates by hand: links already sent keep working",
    "L1": "python3.11 matches the compiled .pyc",
    "APIG4": "functions authenticate with per-integration tokens",
    "S1": "the access-log bucket does not log itself",
    "SQS3": "the stream's failure destination is itself a dead-letter queue",
    "CFR1": "status pages are for readers everywhere; private ones use signed cookies",
    "CFR2": "no WAF by default: cached static pages and a throttled, token-checked endpoint",
    "CFR4": "the *.cloudfront.net default certificate's TLS policy is CloudFront's",
}


def acknowledgements(root: IConstruct) -> list[tuple[str, str, str]]:
    """(construct path, rule id, reason) of every acknowledgement in the tree."""
    found = []
    for node in root.node.find_all():
        for entry in node.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for rule_id, reason in dict(entry.data).items():
                    found.append((node.node.path, str(rule_id), str(reason)))
    return found


def test_synth_reports_no_findings_at_all(
    assembly: cx_api.CloudAssembly, validation_report: dict[str, Any]
) -> None:
    """Reaching here means synth did not raise; the written report must be clean too."""
    violations = [
        violation
        for report in validation_report["pluginReports"]
        for violation in report.get("violations", [])
    ]
    assert violations == [], json.dumps(violations, indent=2)[:4000]


def test_acknowledgements_are_scoped_to_resources_never_to_the_stack_or_app(
    app: App, assembly: cx_api.CloudAssembly
) -> None:
    found = acknowledgements(app)
    assert found
    for path, rule_id, _ in found:
        assert path not in ("", STACK_NAME), f"{rule_id} acknowledged for the whole {path!r}"
        assert path.startswith(f"{STACK_NAME}/")


def test_every_acknowledgement_names_one_finding_with_a_specific_reason(
    app: App, assembly: cx_api.CloudAssembly
) -> None:
    for path, rule_id, reason in acknowledgements(app):
        rule = re.sub(r"^[A-Za-z]+::", "", rule_id).removeprefix(f"{PACK}-")
        assert rule.split("[")[0] in EXPECTED_RULES, f"unexpected acknowledgement {rule_id}"
        if rule.startswith("IAM5"):
            assert rule.startswith("IAM5[Resource::"), f"{path}: acknowledge one finding"
        assert len(reason) >= 80, f"{path} {rule_id}: say why it is acceptable here"


def test_wildcard_resources_acknowledged_are_only_tracing_log_prefix_and_execution_arns(
    app: App, assembly: cx_api.CloudAssembly
) -> None:
    resources = {
        rule_id.split("IAM5[Resource::", 1)[1].rstrip("]")
        for _, rule_id, _ in acknowledgements(app)
        if "IAM5[" in rule_id
    }
    for resource in resources:
        assert (
            resource == "*"
            or resource.endswith(
                ("/raw/*", "/quarantine/*", "/status/*", "/chat-files/*", "/postmortems/*")
            )
            or (":execution:" in resource and resource.endswith(":*"))
            # SES sender identities of this account (the sender is configuration)
            or resource.endswith(":<AWS::AccountId>:identity/*")
            # the sweeper's versions and aliases, for EventBridge Scheduler's role only
            or re.fullmatch(r"<FunctionsSweeperFunction[0-9A-F]{8}\.Arn>:\*", resource)
        ), resource


def test_a_finding_that_is_not_acknowledged_fails_synth(tmp_path_factory: Any) -> None:
    """Negative control: how cdk-nag 3 surfaces findings (synth raises with the report)."""
    app = App(outdir=str(tmp_path_factory.mktemp("nag-control")), analytics_reporting=False)
    stack = Stack(app, "Control")
    s3.Bucket(stack, "Careless")  # no access logs, no TLS-only policy
    add_checks(app)

    with pytest.raises(RuntimeError, match=r"ValidationFailed") as raised:
        app.synth()

    assert "AwsSolutions-S1" in str(raised.value)
    assert "AwsSolutions-S10" in str(raised.value)


def test_flatten_reference_spells_findings_as_cdk_nag_does() -> None:
    arn = {"Fn::Join": ["", [{"Fn::GetAtt": ["Bucket", "Arn"]}, "/raw/*"]]}
    assert flatten_reference(arn) == "<Bucket.Arn>/raw/*"
    assert flatten_reference({"Ref": "AWS::Region"}) == "<AWS::Region>"

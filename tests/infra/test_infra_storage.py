"""Durable state is private, encrypted, recoverable and kept when the stack goes away."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match, Template
from cfn_query import only, resources, target
from tocsin.dal import schema

pytestmark = pytest.mark.xdist_group("synth")

BLOCK_ALL = {
    "BlockPublicAcls": True,
    "BlockPublicPolicy": True,
    "IgnorePublicAcls": True,
    "RestrictPublicBuckets": True,
}


def artifact_bucket(template_json: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    [(logical_id, bucket)] = [
        (logical_id, bucket)
        for logical_id, bucket in resources(template_json, "AWS::S3::Bucket").items()
        if "ArtifactBucket" in logical_id
    ]
    return logical_id, bucket


# --- S3 -------------------------------------------------------------------------------------------
def test_every_bucket_blocks_public_access_is_encrypted_and_retained(
    template_json: dict[str, Any],
) -> None:
    buckets = resources(template_json, "AWS::S3::Bucket")
    assert len(buckets) == 3  # artifacts, status pages and their access logs
    for logical_id, bucket in buckets.items():
        properties = bucket["Properties"]
        assert properties["PublicAccessBlockConfiguration"] == BLOCK_ALL, logical_id
        [rule] = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
        assert bucket["DeletionPolicy"] == "Retain", logical_id
        assert bucket["UpdateReplacePolicy"] == "Retain", logical_id


def test_every_bucket_policy_denies_requests_without_tls(template_json: dict[str, Any]) -> None:
    buckets = set(resources(template_json, "AWS::S3::Bucket"))
    covered = set()
    for policy in resources(template_json, "AWS::S3::BucketPolicy").values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        tls_only = [
            s
            for s in statements
            if s["Effect"] == "Deny"
            and s["Action"] == "s3:*"
            and s["Principal"] == {"AWS": "*"}
            and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        if tls_only:
            covered.add(target(policy["Properties"]["Bucket"]))
    assert covered == buckets


def test_artifact_bucket_is_versioned_and_expires_raw_payloads_after_30_days(
    template_json: dict[str, Any],
) -> None:
    _, bucket = artifact_bucket(template_json)
    properties = bucket["Properties"]
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    raw_rules = [
        rule
        for rule in properties["LifecycleConfiguration"]["Rules"]
        if rule.get("Prefix") == "raw/"
    ]
    assert raw_rules == [
        {
            "Id": "expire-raw-payloads",
            "Prefix": "raw/",
            "ExpirationInDays": 30,
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
            "Status": "Enabled",
        }
    ]
    quarantine_expiry = [
        rule
        for rule in properties["LifecycleConfiguration"]["Rules"]
        if "ExpirationInDays" in rule and rule.get("Prefix", "").startswith("quarantine")
    ]
    assert quarantine_expiry == [], "quarantined payloads are kept until replayed"


def test_artifact_bucket_logs_access_to_the_separate_log_bucket(
    template_json: dict[str, Any],
) -> None:
    logical_id, bucket = artifact_bucket(template_json)
    destination = target(bucket["Properties"]["LoggingConfiguration"]["DestinationBucketName"])
    assert destination is not None and destination != logical_id
    assert template_json["Resources"][destination]["Type"] == "AWS::S3::Bucket"


# --- DynamoDB -------------------------------------------------------------------------------------
def test_table_has_the_single_table_keys_and_every_gsi_of_the_schema(template: Template) -> None:
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [
                {"AttributeName": schema.PK, "KeyType": "HASH"},
                {"AttributeName": schema.SK, "KeyType": "RANGE"},
            ],
            "GlobalSecondaryIndexes": Match.array_equals(
                [
                    {
                        "IndexName": index.name,
                        "KeySchema": [
                            {"AttributeName": index.pk, "KeyType": "HASH"},
                            {"AttributeName": index.sk, "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                    for index in schema.INDEXES
                ]
            ),
        },
    )


def test_table_key_attributes_are_strings(template_json: dict[str, Any]) -> None:
    _, table = only(template_json, "AWS::DynamoDB::Table")
    definitions = {
        d["AttributeName"]: d["AttributeType"] for d in table["Properties"]["AttributeDefinitions"]
    }
    keys = {schema.PK, schema.SK} | {a for i in schema.INDEXES for a in (i.pk, i.sk)}
    assert definitions == dict.fromkeys(keys, "S")


def test_table_is_on_demand_recoverable_encrypted_expiring_and_protected(
    template_json: dict[str, Any],
) -> None:
    _, table = only(template_json, "AWS::DynamoDB::Table")
    properties = table["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"]["SSEEnabled"] is True
    assert properties["TimeToLiveSpecification"] == {
        "AttributeName": schema.TTL_ATTRIBUTE,
        "Enabled": True,
    }
    assert properties["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"

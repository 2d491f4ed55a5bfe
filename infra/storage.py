"""Durable state: the DynamoDB single table and the S3 artifact bucket (plus its access logs)."""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct
from tocsin.dal import schema
from tocsin.dal.artifacts import CHAT_FILES_PREFIX as CHAT_FILES_PREFIX
from tocsin.dal.postmortems import POSTMORTEMS_PREFIX as POSTMORTEMS_PREFIX

from infra.nag import acknowledge, acknowledge_wildcard_resource

#: Item-level access only: no Scan (listing uses the GSIs), no table management.
TABLE_DATA_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
)
RAW_PREFIX = "raw/"
QUARANTINE_PREFIX = "quarantine/"
# CHAT_FILES_PREFIX (the runtime's, re-exported): copies of files shared in incident channels,
# kept as long as the timeline naming them (no expiry)
RAW_RETENTION = Duration.days(30)
ACCESS_LOG_RETENTION = Duration.days(365)
OBJECT_KEY_REASON = (
    "Object keys are generated per payload (raw/<date>/<source>/<ulid>.json, "
    "quarantine/<id>.json, chat-files/<incident>/<provider>/<file>/<name>, "
    "postmortems/<incident>/<file>), so access is "
    "granted on one key prefix of the artifact bucket."
)


class Storage(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = _table(self)
        self.access_logs = _access_log_bucket(self)
        self.artifacts = _artifact_bucket(self, self.access_logs)

    def grant_table_data(self, grantee: iam.IGrantable) -> None:
        """Item reads and writes on the table and its named indexes (no index wildcard)."""
        indexes = [f"{self.table.table_arn}/index/{index.name}" for index in schema.INDEXES]
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=list(TABLE_DATA_ACTIONS),
            resource_arns=[self.table.table_arn, *indexes],
        )

    def grant_objects(
        self, grantee: iam.IGrantable, actions: Iterable[str], prefixes: Iterable[str]
    ) -> None:
        """Object actions under the given key prefixes of the artifact bucket only."""
        arns = [self.artifacts.arn_for_objects(f"{prefix}*") for prefix in prefixes]
        iam.Grant.add_to_principal(grantee=grantee, actions=list(actions), resource_arns=arns)
        for arn in arns:
            acknowledge_wildcard_resource(grantee, arn, OBJECT_KEY_REASON)


def _table(scope: Construct) -> dynamodb.Table:
    table = dynamodb.Table(
        scope,
        "Table",
        partition_key=dynamodb.Attribute(name=schema.PK, type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name=schema.SK, type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        time_to_live_attribute=schema.TTL_ATTRIBUTE,
        # the incidents' outbox: a new incident record starts its response workflow
        # (infra/events.py IncidentOutbox, handlers/incident_stream.py)
        stream=dynamodb.StreamViewType.NEW_IMAGE,
        deletion_protection=True,
        removal_policy=RemovalPolicy.RETAIN,
    )
    for index in schema.INDEXES:
        table.add_global_secondary_index(
            index_name=index.name,
            partition_key=dynamodb.Attribute(name=index.pk, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=index.sk, type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )
    return table


def _access_log_bucket(scope: Construct) -> s3.Bucket:
    bucket = s3.Bucket(
        scope,
        "AccessLogBucket",
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        encryption=s3.BucketEncryption.S3_MANAGED,  # log delivery supports SSE-S3 only
        enforce_ssl=True,
        # CloudFront's standard logs (the status pages' distribution) are delivered with an
        # object ACL, so ACLs stay enabled; the bucket owner still owns every log object
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
        lifecycle_rules=[
            s3.LifecycleRule(id="expire-access-logs", expiration=ACCESS_LOG_RETENTION)
        ],
        removal_policy=RemovalPolicy.RETAIN,
    )
    acknowledge(
        bucket,
        "S1",
        "This bucket is the server access log destination of the artifact and status buckets "
        "(and of CloudFront); logging access to it into itself would log its own log "
        "deliveries in a loop.",
    )
    return bucket


def private_bucket(
    scope: Construct,
    construct_id: str,
    *,
    access_logs: s3.IBucket,
    log_prefix: str,
    lifecycle_rules: list[s3.LifecycleRule],
) -> s3.Bucket:
    """A bucket nobody reads but through IAM (or CloudFront's origin access control):
    public access blocked, SSE-S3, TLS only, versioned, access-logged, kept on stack deletion.
    The artifact bucket and the status page bucket are both made here."""
    return s3.Bucket(
        scope,
        construct_id,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned=True,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=log_prefix,
        lifecycle_rules=lifecycle_rules,
        removal_policy=RemovalPolicy.RETAIN,
    )


def _artifact_bucket(scope: Construct, access_logs: s3.IBucket) -> s3.Bucket:
    return private_bucket(
        scope,
        "ArtifactBucket",
        access_logs=access_logs,
        log_prefix="artifacts/",
        lifecycle_rules=[
            s3.LifecycleRule(
                id="expire-raw-payloads",
                prefix=RAW_PREFIX,
                expiration=RAW_RETENTION,
                noncurrent_version_expiration=Duration.days(1),
            ),
            s3.LifecycleRule(
                id="tidy-versions-and-uploads",
                noncurrent_version_expiration=Duration.days(90),
                expired_object_delete_marker=True,
                abort_incomplete_multipart_upload_after=Duration.days(1),
            ),
        ],
    )

"""The one Tocsin stack: composes the constructs and grants each function only what it uses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import App, ArnFormat, AssetHashType, CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct
from tocsin.config_loader import load_config
from tocsin.domain.statuspage import StatusPagesConfig
from tocsin.routes import ROUTES, Function
from tocsin.settings import (
    ENV_ESCALATION_STATE_MACHINE,
    ENV_PUBLIC_URL,
    ENV_SIGNING_SECRET,
    ENV_STATE_MACHINE,
    ENV_STATUS_BUCKET,
    ENV_STATUS_COOKIE_SECRET,
    ENV_STATUS_KEY_PAIR_ID,
    ENV_STATUS_URL,
)

from infra.api import HttpApi
from infra.bundling import Bundle, build_bundle
from infra.chatops import ChatOpsQueue
from infra.events import ActionItemReminders, AwsEventIntake, IncidentOutbox, SweeperSchedule
from infra.functions import ServiceFunctions
from infra.nag import acknowledge, acknowledge_wildcard_resource, add_checks
from infra.paths import CDK_JSON, CONFIG_DIR
from infra.statuspage import StatusPageHosting, read_cookie_public_key
from infra.storage import (
    CHAT_FILES_PREFIX,
    POSTMORTEMS_PREFIX,
    QUARANTINE_PREFIX,
    RAW_PREFIX,
    Storage,
)
from infra.workflow import EscalationWorkflow, ResponseWorkflow

STACK_NAME = "Tocsin"
#: Functions that start response executions (and may look at them): incident_stream starts
#: each new incident's (ADR 21); intake and the API start the runs a change triggers; the
#: sweeper starts what neither could (services/sweeper.py ->
#: IncidentService.finalize_if_stalled, and pending triggers). Never the workflow
#: function: the state machine invokes it (and its ARN in its environment would be a cycle).
STARTS_EXECUTIONS = (
    Function.INTAKE,
    Function.EVENTBRIDGE_INTAKE,
    Function.API,
    Function.SWEEPER,
    Function.INCIDENT_STREAM,
    # `/incident sev|status|ack|resolve` start the runs their change triggers
    Function.CHATOPS,
)
#: Functions without item access to the table: the stream's starter reads its records only.
NO_TABLE_DATA = (Function.INCIDENT_STREAM,)
#: S3 object access per function: action -> key prefixes of the artifact bucket.
OBJECT_ACCESS: dict[Function, dict[str, tuple[str, ...]]] = {
    Function.INTAKE: {"s3:PutObject": (RAW_PREFIX, QUARANTINE_PREFIX)},
    Function.EVENTBRIDGE_INTAKE: {"s3:PutObject": (RAW_PREFIX, QUARANTINE_PREFIX)},
    # postmortems: the API reads and (re)generates them, embedding the chat images' copies
    Function.API: {
        "s3:GetObject": (QUARANTINE_PREFIX, POSTMORTEMS_PREFIX, CHAT_FILES_PREFIX),
        "s3:PutObject": (RAW_PREFIX, QUARANTINE_PREFIX, POSTMORTEMS_PREFIX),
    },
    # the resolve workflow's generate_postmortem step
    Function.WORKFLOW: {
        "s3:GetObject": (POSTMORTEMS_PREFIX, CHAT_FILES_PREFIX),
        "s3:PutObject": (POSTMORTEMS_PREFIX,),
    },
    # postmortems whose record changed after the resolution, regenerated every minute
    Function.SWEEPER: {
        "s3:GetObject": (POSTMORTEMS_PREFIX, CHAT_FILES_PREFIX),
        "s3:PutObject": (POSTMORTEMS_PREFIX,),
    },
    # copies of files shared in incident channels (the Slack events it captures), and
    # `/incident postmortem`
    Function.CHATOPS: {
        "s3:GetObject": (POSTMORTEMS_PREFIX, CHAT_FILES_PREFIX),
        "s3:PutObject": (CHAT_FILES_PREFIX, POSTMORTEMS_PREFIX),
    },
}


#: Functions that start escalations or end them (an acknowledgement, a resolution: any function
#: that changes incidents), so they complete escalation task tokens and sign ack links.
ESCALATES = (
    Function.WORKFLOW,
    Function.API,
    Function.SWEEPER,
    Function.INTAKE,
    Function.EVENTBRIDGE_INTAKE,
    # `/incident page|escalate` start paging; `/incident ack|resolve` end it
    Function.CHATOPS,
)
#: Functions that sign links (the workflow's pages) or verify them (the API: ack links and
#: calendar feeds); only they read the signing key.
SIGNS_LINKS = (Function.WORKFLOW, Function.API)
#: Functions that call chat, conferencing and ticketing tools: the workflow's steps, the
#: sweeper's SLA reminders, the API's stakeholder updates. They may read the integrations'
#: secrets named in the configuration, and no other secret.
USES_INTEGRATIONS = (Function.WORKFLOW, Function.SWEEPER, Function.API)
#: Functions that publish status pages (the API, the workflow, the `/incident statuspage`
#: command, the sweeper for scheduled maintenances): objects under status/ of the status bucket.
PUBLISHES_STATUS_PAGES = (Function.API, Function.WORKFLOW, Function.SWEEPER, Function.CHATOPS)
#: Functions that read only the chat integration's secret: chat-ops verifies Slack's request
#: signatures with its `signing_secret`, answers through response URLs, and downloads files
#: shared in incident channels with its `bot_token`; Teams outgoing webhooks with its
#: `outgoing_webhook_token`, and answers through the Teams bot with its `bot_app_password`.
READS_CHAT_SECRET = (Function.CHATOPS,)
#: The function that issues the signed cookies of private status pages
#: (`/v1/status-pages/...`, reached through the distribution): only it reads their key.
ISSUES_STATUS_COOKIES = Function.API


def integration_secrets(config_dir: Path = CONFIG_DIR) -> list[str]:
    """Names of the Secrets Manager secrets the configured integrations read."""
    config = load_config(config_dir)
    integrations = config.integrations
    names = [getattr(integrations, port).secret for port in ("chat", "conferencing", "ticketing")]
    names += [method.secret for method in config.paging.methods.values()]
    return sorted({name for name in names if name})


def chat_secret(config_dir: Path = CONFIG_DIR) -> str | None:
    """The chat integration's secret (chat-ops reads its Slack signing secret there)."""
    return load_config(config_dir).integrations.chat.secret


def status_pages(config_dir: Path = CONFIG_DIR) -> StatusPagesConfig:
    """The configured status pages (which are private decides the CloudFront behaviors)."""
    return load_config(config_dir).status_pages


def cookie_public_key(config_dir: Path = CONFIG_DIR) -> bytes | None:
    """config/statuspage-cookies.pub.pem (written by `tocsin statuspage keygen`), if any."""
    return read_cookie_public_key(config_dir)


class TocsinStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, bundle: Bundle, **kwargs: Any):
        super().__init__(scope, construct_id, **kwargs)
        code = lambda_.Code.from_asset(
            str(bundle.path), asset_hash=bundle.key, asset_hash_type=AssetHashType.CUSTOM
        )
        storage = Storage(self, "Storage")
        functions = ServiceFunctions(
            self,
            "Functions",
            code=code,
            table=storage.table.table_name,
            bucket=storage.artifacts.bucket_name,
        )
        workflow = ResponseWorkflow(
            self, "Workflow", workflow_function=functions[Function.WORKFLOW].function
        )
        escalation = EscalationWorkflow(
            self, "Escalation", workflow_function=functions[Function.WORKFLOW].function
        )
        # the key that signs acknowledgement links and calendar feed URLs (rotate it by
        # setting `previous_key` to the old value and `key` to a new one)
        signing = secretsmanager.Secret(
            self,
            "SigningKey",
            description="Tocsin: signs acknowledgement links and calendar feed URLs",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template="{}",
                generate_string_key="key",
                exclude_punctuation=True,
                password_length=48,
            ),
        )
        acknowledge(
            signing,
            "SMG4",
            "Rotation is a deliberate operator action (docs/paging.md): the old key stays valid "
            "as previous_key so links already sent keep working; a Lambda rotator would cut them.",
        )
        for name, service in functions.by_name.items():
            if name not in NO_TABLE_DATA:
                storage.grant_table_data(service.function)
            for action, prefixes in OBJECT_ACCESS.get(name, {}).items():
                storage.grant_objects(service.function, [action], prefixes)
        for name in STARTS_EXECUTIONS:
            service = functions[name]
            workflow.grant_start(service.function)
            service.function.add_environment(
                ENV_STATE_MACHINE, workflow.state_machine.state_machine_arn
            )

        for name in ESCALATES:
            fn = functions[name].function
            escalation.grant_escalate(fn)
            fn.add_environment(ENV_ESCALATION_STATE_MACHINE, escalation.arn)
        for name in SIGNS_LINKS:
            fn = functions[name].function
            signing.grant_read(fn)
            fn.add_environment(ENV_SIGNING_SECRET, signing.secret_name)
        # native paging: SMS through SNS (publishing to a phone number has no resource ARN)
        # and e-mail through SES identities of this account
        workflow_fn = functions[Function.WORKFLOW].function
        workflow_fn.add_to_role_policy(
            iam.PolicyStatement(actions=["sns:Publish"], resources=["*"])
        )
        identities = self.format_arn(service="ses", resource="identity", resource_name="*")
        workflow_fn.add_to_role_policy(
            iam.PolicyStatement(actions=["ses:SendEmail"], resources=[identities])
        )
        acknowledge(
            workflow_fn,
            "IAM5[Resource::*]",
            "sns:Publish to a phone number (SMS pages) has no resource ARN to scope it to; the "
            "function publishes to no topic.",
        )
        acknowledge_wildcard_resource(
            workflow_fn,
            identities,
            "Pages are e-mailed from the sender identity the operator "
            "configures (paging.methods.email.options.sender), unknown at synth time.",
        )

        secrets = [self._secret_arn(name) for name in integration_secrets()]
        if secrets:
            for name in USES_INTEGRATIONS:
                functions[name].function.add_to_role_policy(
                    iam.PolicyStatement(
                        actions=["secretsmanager:GetSecretValue"], resources=secrets
                    )
                )

        chat = chat_secret()
        if chat:
            for name in READS_CHAT_SECRET:
                functions[name].function.add_to_role_policy(
                    iam.PolicyStatement(
                        actions=["secretsmanager:GetSecretValue"],
                        resources=[self._secret_arn(chat)],
                    )
                )
        ChatOpsQueue(self, "ChatOps", function=functions[Function.CHATOPS].function)

        api = HttpApi(
            self,
            "Http",
            handlers={route.function: functions[route.function].function for route in ROUTES},
        )
        # links in pages (acknowledge) point at the API; the API itself answers with its own
        # host (a reference from its function would be a cycle)
        for name in (Function.WORKFLOW, Function.SWEEPER):
            functions[name].function.add_environment(ENV_PUBLIC_URL, api.endpoint)
        pages = status_pages()
        hosting = StatusPageHosting(
            self,
            "StatusPages",
            pages=pages,
            public_key_pem=cookie_public_key(),
            access_logs=storage.access_logs,
            api_endpoint=api.endpoint,
        )
        for name in PUBLISHES_STATUS_PAGES:
            fn = functions[name].function
            hosting.grant_publish(fn)
            fn.add_environment(ENV_STATUS_BUCKET, hosting.bucket.bucket_name)
            fn.add_environment(ENV_STATUS_URL, hosting.url)
        if hosting.public_key is not None:
            # the secret is the operator's (keygen writes it before the first deploy); the key
            # pair id is only known once CloudFront has the public key, so it comes from here
            issuer = functions[ISSUES_STATUS_COOKIES].function
            issuer.add_environment(ENV_STATUS_COOKIE_SECRET, pages.cookie_secret)
            issuer.add_environment(ENV_STATUS_KEY_PAIR_ID, hosting.public_key.public_key_id)
            issuer.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["secretsmanager:GetSecretValue"],
                    resources=[self._secret_arn(pages.cookie_secret)],
                )
            )
        AwsEventIntake(self, "AwsEvents", consumer=functions[Function.EVENTBRIDGE_INTAKE].function)
        IncidentOutbox(
            self,
            "IncidentOutbox",
            table=storage.table,
            starter=functions[Function.INCIDENT_STREAM].function,
        )
        SweeperSchedule(self, "Sweeper", sweeper=functions[Function.SWEEPER].function)
        ActionItemReminders(
            self,
            "ActionItemReminders",
            sweeper=functions[Function.SWEEPER].function,
            reminders=load_config(CONFIG_DIR).action_items.reminders,
        )

        CfnOutput(
            self, "ApiUrl", value=api.endpoint, description="POST {ApiUrl}/v1/alerts/{source}"
        )
        CfnOutput(self, "TableName", value=storage.table.table_name)
        CfnOutput(self, "ArtifactBucketName", value=storage.artifacts.bucket_name)
        CfnOutput(self, "StateMachineArn", value=workflow.state_machine.state_machine_arn)
        CfnOutput(self, "EscalationStateMachineArn", value=escalation.arn)
        CfnOutput(self, "SigningSecretName", value=signing.secret_name)
        CfnOutput(
            self,
            "StatusDistributionDomain",
            value=hosting.domain_name,
            description="status pages: https://{StatusDistributionDomain}/status/{page}/",
        )
        CfnOutput(self, "StatusDistributionId", value=hosting.distribution.distribution_id)
        CfnOutput(self, "StatusBucketName", value=hosting.bucket.bucket_name)
        if hosting.public_page:
            CfnOutput(
                self,
                "StatusPageUrl",
                value=hosting.page_url(hosting.public_page),
                description="the public status page",
            )
        if hosting.public_key is not None:
            CfnOutput(
                self,
                "StatusCookieKeyPairId",
                value=hosting.public_key.public_key_id,
                description="CloudFront-Key-Pair-Id of private status pages' cookies",
            )

    def _secret_arn(self, name: str) -> str:
        """The ARN of the secret `name` of this account and region (any version suffix)."""
        return self.format_arn(
            service="secretsmanager",
            resource="secret",
            # a secret's ARN ends in -<6 random characters>
            resource_name=f"{name}-??????",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )


def create_app(*, outdir: str | None = None, context: dict[str, Any] | None = None) -> App:
    """The CDK app: the Tocsin stack, checked by cdk-nag on every synth.

    `context` defaults to cdk.json's, so tests synthesize with the same feature flags as the CLI.
    """
    if context is None:
        context = json.loads(CDK_JSON.read_text(encoding="utf-8")).get("context", {})
    app = App(outdir=outdir, context=context, analytics_reporting=False)
    TocsinStack(
        app,
        STACK_NAME,
        bundle=build_bundle(),
        description="Tocsin incident response: alert intake, response workflow and API",
    )
    add_checks(app)
    return app

"""The public HTTP API (API Gateway v2), built from routes.ROUTES.

Decision record: docs/architecture-decisions.md (ADR 1). Authentication is done by the
functions (per-integration bearer tokens, also accepted as `?token=`), so routes have no
API Gateway authorizer.
"""

from __future__ import annotations

import json

import jsii
from aws_cdk import aws_apigateway as apigw_v1
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.aws_apigatewayv2_integrations import HttpLambdaIntegration
from constructs import Construct
from tocsin.routes import ROUTES, Function

from infra.nag import acknowledge

#: Stage-wide limits. Alert storms arrive in bursts; StartExecution sustains ~300/s, and intake
#: dedups before starting executions, so the steady rate stays far below that.
THROTTLE_RATE_PER_SECOND = 100
THROTTLE_BURST = 200
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
#: HTTP API $context variables. No query string and no headers: `?token=` never reaches a log.
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "routeKey": "$context.routeKey",
    "path": "$context.path",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integrationStatus",
    "integrationError": "$context.integrationErrorMessage",
    "error": "$context.error.message",
}


@jsii.implements(apigw.IAccessLogSettings)
class _AccessLogSettings:
    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigw.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigw.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw_v1.AccessLogFormat:
        return apigw_v1.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FORMAT))


class HttpApi(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, handlers: dict[Function, lambda_.IFunction]
    ) -> None:
        super().__init__(scope, construct_id)
        self.api = apigw.HttpApi(
            self,
            "Api",
            description="Tocsin: alert webhooks and the incident API",
            create_default_stage=False,
        )
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=LOG_RETENTION)
        self.stage = apigw.HttpStage(
            self,
            "DefaultStage",
            http_api=self.api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigw.ThrottleSettings(
                rate_limit=THROTTLE_RATE_PER_SECOND, burst_limit=THROTTLE_BURST
            ),
            access_log_settings=_AccessLogSettings(self.access_logs),
        )
        integrations = {
            name: HttpLambdaIntegration(
                f"{name.value}-integration",
                handler,
                payload_format_version=apigw.PayloadFormatVersion.VERSION_2_0,
            )
            for name, handler in handlers.items()
        }
        for route in ROUTES:
            self.api.add_routes(
                path=route.path,
                methods=[apigw.HttpMethod(route.method)],
                integration=integrations[route.function],
            )
        acknowledge(
            self.api,
            "APIG4",
            "Every route authenticates in its function: per-integration bearer tokens (header "
            "`Authorization: Bearer` or `?token=`, the only option for SNS and some webhook "
            "senders), stored as SHA-256 digests and compared in constant time. An API Gateway "
            "authorizer cannot accept header-or-query credentials without disabling its cache.",
        )

    @property
    def endpoint(self) -> str:
        """`https://{id}.execute-api.{region}.amazonaws.com` (no trailing slash)."""
        return self.api.api_endpoint

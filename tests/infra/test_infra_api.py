"""The HTTP API exposes exactly routes.ROUTES, each wired to its function, throttled and logged."""

from __future__ import annotations

from typing import Any

import pytest
from cfn_query import functions_by_name, only, resources, target
from tocsin.routes import ROUTES

from infra.api import THROTTLE_BURST, THROTTLE_RATE_PER_SECOND

pytestmark = pytest.mark.xdist_group("synth")


def integration_function(template_json: dict[str, Any], route: dict[str, Any]) -> str | None:
    """The logical id of the Lambda function a route's integration invokes."""
    join = route["Properties"]["Target"]["Fn::Join"][1]
    integration_id = next(target(part) for part in join if target(part))
    assert integration_id is not None
    integration = template_json["Resources"][integration_id]["Properties"]
    return target(integration["IntegrationUri"])


def test_api_is_an_http_api(template_json: dict[str, Any]) -> None:
    _, api = only(template_json, "AWS::ApiGatewayV2::Api")
    assert api["Properties"]["ProtocolType"] == "HTTP"


def test_every_route_of_the_route_table_invokes_its_function(
    template_json: dict[str, Any],
) -> None:
    functions = functions_by_name(template_json)
    routes = {
        route["Properties"]["RouteKey"]: route
        for route in resources(template_json, "AWS::ApiGatewayV2::Route").values()
    }
    assert set(routes) == {f"{r.method} {r.path}" for r in ROUTES}, "no route more, none less"
    for expected in ROUTES:
        route = routes[f"{expected.method} {expected.path}"]
        assert integration_function(template_json, route) == functions[expected.function], (
            f"{expected.method} {expected.path} must invoke {expected.function.value}"
        )


def test_integrations_are_lambda_proxy_with_payload_format_2(
    template_json: dict[str, Any],
) -> None:
    integrations = resources(template_json, "AWS::ApiGatewayV2::Integration")
    assert integrations
    for integration in integrations.values():
        assert integration["Properties"]["IntegrationType"] == "AWS_PROXY"
        assert integration["Properties"]["PayloadFormatVersion"] == "2.0"


def test_functions_may_be_invoked_only_through_their_own_routes(
    template_json: dict[str, Any],
) -> None:
    functions = functions_by_name(template_json)
    api_id, _ = only(template_json, "AWS::ApiGatewayV2::Api")
    api_permissions = [
        permission["Properties"]
        for permission in resources(template_json, "AWS::Lambda::Permission").values()
        if permission["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    assert len(api_permissions) == len(ROUTES)
    for permission in api_permissions:
        source = repr(permission["SourceArn"])
        assert api_id in source, "scoped to this API"
        assert target(permission["FunctionName"]) in {functions[r.function] for r in ROUTES}


def test_default_stage_is_throttled_auto_deployed_and_access_logged(
    template_json: dict[str, Any],
) -> None:
    _, stage = only(template_json, "AWS::ApiGatewayV2::Stage")
    properties = stage["Properties"]
    assert properties["StageName"] == "$default"
    assert properties["AutoDeploy"] is True
    assert properties["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": THROTTLE_BURST,
        "ThrottlingRateLimit": THROTTLE_RATE_PER_SECOND,
    }
    destination = target(properties["AccessLogSettings"]["DestinationArn"])
    log_group = template_json["Resources"][destination]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] > 0


def test_access_log_never_records_query_strings_or_headers(
    template_json: dict[str, Any],
) -> None:
    """`?token=` must not end up in a log group."""
    _, stage = only(template_json, "AWS::ApiGatewayV2::Stage")
    log_format = stage["Properties"]["AccessLogSettings"]["Format"]
    assert "$context.requestId" in log_format
    for leaky in ("querystring", "rawQueryString", "request.header", "authorizer"):
        assert leaky.lower() not in log_format.lower()


def test_routes_have_no_gateway_authorizer_because_functions_authenticate(
    template_json: dict[str, Any],
) -> None:
    for route in resources(template_json, "AWS::ApiGatewayV2::Route").values():
        assert route["Properties"].get("AuthorizationType", "NONE") == "NONE"
    assert resources(template_json, "AWS::ApiGatewayV2::Authorizer") == {}

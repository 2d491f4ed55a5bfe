"""Status page hosting: a private bucket behind CloudFront (origin access control), private
pages only with signed cookies, the cookie endpoint on the distribution's domain, and only the
publishing functions may write pages."""

from __future__ import annotations

import graphlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_s3 as s3
from cfn_query import (
    as_list,
    functions_by_name,
    only,
    resources,
    role_of_function,
    statements_of_role,
    target,
)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from tocsin.domain.statuspage import StatusPagesConfig
from tocsin.routes import HANDLERS, Function
from tocsin.services import cloudfront_cookies
from tocsin.settings import (
    ENV_STATUS_BUCKET,
    ENV_STATUS_COOKIE_SECRET,
    ENV_STATUS_KEY_PAIR_ID,
    ENV_STATUS_URL,
)

from infra import stack
from infra.paths import CONFIG_DIR
from infra.statuspage import (
    CONTENT_SECURITY_POLICY,
    CookieKeyMissing,
    StatusPageHosting,
    viewer_request_code,
)

pytestmark = pytest.mark.xdist_group("synth")

PUBLISHERS = {Function.API, Function.WORKFLOW, Function.SWEEPER, Function.CHATOPS}
#: AWS managed policies (ids are the same in every account)
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
#: CloudFront Functions' maximum code size
FUNCTION_CODE_LIMIT = 10 * 1024


def shipped_pages() -> StatusPagesConfig:
    return stack.status_pages()


def private_pages() -> list[str]:
    return [p.id for p in shipped_pages().pages if p.visibility == "private"]


def public_page() -> str:
    [page] = [p.id for p in shipped_pages().pages if p.visibility == "public"]
    return page


def status_bucket(template_json: dict[str, Any]) -> str:
    [logical_id] = [
        logical_id
        for logical_id in resources(template_json, "AWS::S3::Bucket")
        if logical_id.startswith("StatusPages")
    ]
    return logical_id


def distribution(template_json: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    logical_id, resource = only(template_json, "AWS::CloudFront::Distribution")
    return logical_id, resource["Properties"]["DistributionConfig"]


def behaviors(template_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    _, config = distribution(template_json)
    return {b["PathPattern"]: b for b in config["CacheBehaviors"]}


def origin_of(template_json: dict[str, Any], behavior: dict[str, Any]) -> dict[str, Any]:
    _, config = distribution(template_json)
    [origin] = [o for o in config["Origins"] if o["Id"] == behavior["TargetOriginId"]]
    return origin


def function_code(template_json: dict[str, Any], behavior: dict[str, Any]) -> str:
    [association] = behavior["FunctionAssociations"]
    assert association["EventType"] == "viewer-request"
    function_id = target(association["FunctionARN"])
    function = template_json["Resources"][function_id]["Properties"]
    assert function["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    assert function["AutoPublish"] is True
    return str(function["FunctionCode"])


# --- the bucket -----------------------------------------------------------------------------------
def test_status_bucket_is_private_encrypted_versioned_and_access_logged(
    template_json: dict[str, Any],
) -> None:
    bucket = template_json["Resources"][status_bucket(template_json)]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    [rule] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    log_bucket = target(bucket["LoggingConfiguration"]["DestinationBucketName"])
    assert log_bucket is not None and "AccessLogBucket" in log_bucket


def test_only_this_distribution_may_read_the_bucket_and_only_objects(
    template_json: dict[str, Any],
) -> None:
    bucket_id = status_bucket(template_json)
    distribution_id, _ = distribution(template_json)
    [policy] = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in resources(template_json, "AWS::S3::BucketPolicy").values()
        if target(p["Properties"]["Bucket"]) == bucket_id
    ]
    allows = [s for s in policy if s["Effect"] == "Allow"]
    assert len(allows) == 1
    [allow] = allows
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject", "no ListBucket: nothing can list the pages"
    assert distribution_id in json.dumps(allow["Condition"]["StringEquals"]["AWS:SourceArn"])


def test_the_s3_origin_uses_an_origin_access_control(template_json: dict[str, Any]) -> None:
    _, config = distribution(template_json)
    [s3_origin] = [o for o in config["Origins"] if "S3OriginConfig" in o]
    assert target(s3_origin["DomainName"]) == status_bucket(template_json)
    assert s3_origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    control = target(s3_origin["OriginAccessControlId"])
    assert control is not None
    properties = template_json["Resources"][control]["Properties"]["OriginAccessControlConfig"]
    assert properties["OriginAccessControlOriginType"] == "s3"
    assert properties["SigningBehavior"] == "always"


# --- the distribution -----------------------------------------------------------------------------
def test_distribution_speaks_http2_and_3_and_logs_without_cookies(
    template_json: dict[str, Any],
) -> None:
    _, config = distribution(template_json)
    assert config["HttpVersion"] == "http2and3"
    assert config["Enabled"] is True
    logging = config["Logging"]
    assert logging["IncludeCookies"] is False, "signed cookies must not reach the logs"
    assert logging["Prefix"] == "cloudfront/"
    log_bucket = target(logging["Bucket"])
    assert log_bucket is not None and "AccessLogBucket" in log_bucket
    # CloudFront's standard logs are delivered with an ACL: the log bucket must allow ACLs
    ownership = template_json["Resources"][log_bucket]["Properties"]["OwnershipControls"]
    assert ownership == {"Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]}


def test_pages_are_https_compressed_and_cached_as_their_cache_control_says(
    template_json: dict[str, Any],
) -> None:
    _, config = distribution(template_json)
    pages = [config["DefaultCacheBehavior"]] + [
        b for path, b in behaviors(template_json).items() if path.startswith("/status/")
    ]
    for behavior in pages:
        assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
        assert behavior["Compress"] is True
        assert behavior["AllowedMethods"] == ["GET", "HEAD"]
        policy_id = target(behavior["CachePolicyId"])
        assert policy_id is not None
        policy = template_json["Resources"][policy_id]["Properties"]["CachePolicyConfig"]
        assert policy["MinTTL"] == 0
        assert 10 <= policy["DefaultTTL"] <= 60
        assert 3600 <= policy["MaxTTL"] <= 86400
        keys = policy["ParametersInCacheKeyAndForwardedToOrigin"]
        assert keys["EnableAcceptEncodingGzip"] and keys["EnableAcceptEncodingBrotli"]
        assert keys["CookiesConfig"] == {"CookieBehavior": "none"}
        assert keys["QueryStringsConfig"] == {"QueryStringBehavior": "none"}


def test_every_response_carries_the_security_headers(template_json: dict[str, Any]) -> None:
    _, config = distribution(template_json)
    every = [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]
    for behavior in every:
        policy_id = target(behavior["ResponseHeadersPolicyId"])
        assert policy_id is not None, behavior.get("PathPattern")
        policy = template_json["Resources"][policy_id]["Properties"]
        headers = policy["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
        assert headers["ContentSecurityPolicy"] == {
            "ContentSecurityPolicy": CONTENT_SECURITY_POLICY,
            "Override": True,
        }
        assert "script-src" not in CONTENT_SECURITY_POLICY  # no JavaScript, default-src 'none'
        assert headers["ContentTypeOptions"] == {"Override": True}
        assert headers["FrameOptions"] == {"FrameOption": "DENY", "Override": True}
        assert headers["ReferrerPolicy"]["ReferrerPolicy"] == "no-referrer"
        hsts = headers["StrictTransportSecurity"]
        assert hsts["AccessControlMaxAgeSec"] >= 31536000 and hsts["Override"] is True


def test_only_the_public_page_answers_cross_origin_requests(template_json: dict[str, Any]) -> None:
    _, config = distribution(template_json)

    def cors(behavior: dict[str, Any]) -> dict[str, Any] | None:
        policy_id = target(behavior["ResponseHeadersPolicyId"])
        policy = template_json["Resources"][policy_id]["Properties"]
        return policy["ResponseHeadersPolicyConfig"].get("CorsConfig")

    public = cors(config["DefaultCacheBehavior"])
    assert public is not None
    assert public["AccessControlAllowOrigins"] == {"Items": ["*"]}
    assert public["AccessControlAllowCredentials"] is False
    for behavior in config["CacheBehaviors"]:
        assert cors(behavior) is None, behavior["PathPattern"]


def test_global_cloudfront_names_carry_the_region(template_json: dict[str, Any]) -> None:
    """Policies, keys and key groups are account-wide: a second region's stack must not clash."""
    named = {
        "AWS::CloudFront::ResponseHeadersPolicy": ("ResponseHeadersPolicyConfig", "Name"),
        "AWS::CloudFront::KeyGroup": ("KeyGroupConfig", "Name"),
        "AWS::CloudFront::PublicKey": ("PublicKeyConfig", "Name"),
        "AWS::CloudFront::OriginAccessControl": ("OriginAccessControlConfig", "Name"),
        "AWS::CloudFront::CachePolicy": ("CachePolicyConfig", "Name"),
        "AWS::CloudFront::Function": (None, "Name"),
    }
    for resource_type, (config, key) in named.items():
        for logical_id, resource in resources(template_json, resource_type).items():
            properties = resource["Properties"]
            name = (properties[config] if config else properties)[key]
            assert "AWS::Region" in json.dumps(name), logical_id


# --- private pages --------------------------------------------------------------------------------
def test_the_shipped_configuration_has_a_private_page_and_its_public_key() -> None:
    assert private_pages() == ["internal"]
    pem = (CONFIG_DIR / cloudfront_cookies.PUBLIC_KEY_FILE).read_bytes()
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert cloudfront_cookies.load_public_key(pem).key_size == 2048


def test_no_private_key_is_in_the_repository() -> None:
    """keygen's private half of the shipped key was discarded; tests generate their own."""
    if shutil.which("git") is None or not (CONFIG_DIR.parent / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=CONFIG_DIR.parent,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    pem = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----\s+[A-Za-z0-9+/=\s]{64,}")
    for name in filter(None, listed):
        path = CONFIG_DIR.parent / name.decode()
        if path.is_file() and path.stat().st_size < 5_000_000:
            assert not pem.search(path.read_bytes()), f"a private key in {name.decode()}"


def test_private_pages_are_served_only_with_signed_cookies_of_the_configured_key(
    template_json: dict[str, Any],
) -> None:
    [(group_id, group)] = resources(template_json, "AWS::CloudFront::KeyGroup").items()
    [key_id] = [target(item) for item in group["Properties"]["KeyGroupConfig"]["Items"]]
    encoded = template_json["Resources"][key_id]["Properties"]["PublicKeyConfig"]["EncodedKey"]
    shipped = (CONFIG_DIR / cloudfront_cookies.PUBLIC_KEY_FILE).read_bytes()
    assert cloudfront_cookies.fingerprint(encoded) == cloudfront_cookies.fingerprint(shipped)

    by_path = behaviors(template_json)
    protected = {path for path, b in by_path.items() if b.get("TrustedKeyGroups")}
    expected = {f"/status/{page}{suffix}" for page in private_pages() for suffix in ("/*", "")}
    assert protected == expected
    for path in protected:
        assert [target(g) for g in by_path[path]["TrustedKeyGroups"]] == [group_id]
        # the private pages' function serves the private pages only
        code = function_code(template_json, by_path[path])
        assert f"var SERVED_PAGES = {json.dumps(private_pages())};" in code
    _, config = distribution(template_json)
    assert "TrustedKeyGroups" not in config["DefaultCacheBehavior"]
    assert f"/status/{public_page()}/*" not in by_path, "the public page is the default"


def test_the_public_behavior_serves_only_the_public_page(
    template_json: dict[str, Any],
) -> None:
    _, config = distribution(template_json)
    code = function_code(template_json, config["DefaultCacheBehavior"])
    # only the public page: a private page, or one no longer configured, is a 404 here
    assert f"var SERVED_PAGES = {json.dumps([public_page()])};" in code
    assert f"var PUBLIC_PAGE = {json.dumps(public_page())};" in code
    assert len(code.encode()) < FUNCTION_CODE_LIMIT


def test_the_cookie_endpoint_is_on_the_distribution_and_reaches_the_api_uncached(
    template_json: dict[str, Any],
) -> None:
    behavior = behaviors(template_json)["/v1/status-pages/*/access/*"]
    assert behavior["CachePolicyId"] == CACHING_DISABLED
    assert behavior["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
    # only the access links (GET): the API's other routes are not on the pages' domain
    assert set(behavior["AllowedMethods"]) == {"GET", "HEAD"}
    assert behavior["ViewerProtocolPolicy"] == "https-only"
    assert "TrustedKeyGroups" not in behavior and "FunctionAssociations" not in behavior
    origin = origin_of(template_json, behavior)
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert origin["CustomOriginConfig"]["OriginSSLProtocols"] == ["TLSv1.2"]
    api_id, _ = only(template_json, "AWS::ApiGatewayV2::Api")
    assert origin["DomainName"] == {
        "Fn::Select": [2, {"Fn::Split": ["/", {"Fn::GetAtt": [api_id, "ApiEndpoint"]}]}]
    }


# --- functions ------------------------------------------------------------------------------------
def test_only_the_publishers_may_write_pages_and_only_under_status(
    template_json: dict[str, Any],
) -> None:
    bucket_id = status_bucket(template_json)
    functions = functions_by_name(template_json)
    for name in HANDLERS:
        role = role_of_function(template_json, functions[name])
        on_bucket = [
            s
            for s in statements_of_role(template_json, role)
            if any(bucket_id in repr(r) for r in as_list(s["Resource"]))
        ]
        if name not in PUBLISHERS:
            assert on_bucket == [], name
            continue
        [statement] = on_bucket
        assert sorted(as_list(statement["Action"])) == [
            "s3:DeleteObject",
            "s3:GetObject",
            "s3:PutObject",
        ]
        assert statement["Resource"] == {
            "Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/status/*"]]
        }


def test_publishers_know_the_bucket_and_the_url_and_only_the_api_the_cookie_key(
    template_json: dict[str, Any],
) -> None:
    bucket_id = status_bucket(template_json)
    distribution_id, _ = distribution(template_json)
    [(key_id, _)] = resources(template_json, "AWS::CloudFront::PublicKey").items()
    for name, function_id in functions_by_name(template_json).items():
        variables = template_json["Resources"][function_id]["Properties"]["Environment"][
            "Variables"
        ]
        if name in PUBLISHERS:
            assert target(variables[ENV_STATUS_BUCKET]) == bucket_id
            assert variables[ENV_STATUS_URL] == {
                "Fn::Join": ["", ["https://", {"Fn::GetAtt": [distribution_id, "DomainName"]}]]
            }
        else:
            assert ENV_STATUS_BUCKET not in variables and ENV_STATUS_URL not in variables
        if name is Function.API:
            assert variables[ENV_STATUS_COOKIE_SECRET] == shipped_pages().cookie_secret
            assert variables[ENV_STATUS_KEY_PAIR_ID] == {"Ref": key_id}
        else:
            assert ENV_STATUS_COOKIE_SECRET not in variables, name
            assert ENV_STATUS_KEY_PAIR_ID not in variables, name


def test_only_the_api_may_read_the_cookie_secret(template_json: dict[str, Any]) -> None:
    secret = f":secret:{shipped_pages().cookie_secret}-??????"
    functions = functions_by_name(template_json)
    for name in HANDLERS:
        role = role_of_function(template_json, functions[name])
        readers = [
            s
            for s in statements_of_role(template_json, role)
            if secret in json.dumps(s["Resource"])
        ]
        if name is Function.API:
            [statement] = readers
            assert as_list(statement["Action"]) == ["secretsmanager:GetSecretValue"]
        else:
            assert readers == [], name


def test_outputs_give_the_public_page_and_the_distribution(template_json: dict[str, Any]) -> None:
    distribution_id, _ = distribution(template_json)
    outputs = template_json["Outputs"]
    assert outputs["StatusPageUrl"]["Value"] == {
        "Fn::Join": [
            "",
            ["https://", {"Fn::GetAtt": [distribution_id, "DomainName"]}, "/status/public/"],
        ]
    }
    assert outputs["StatusDistributionDomain"]["Value"] == {
        "Fn::GetAtt": [distribution_id, "DomainName"]
    }
    assert target(outputs["StatusBucketName"]["Value"]) == status_bucket(template_json)
    assert target(outputs["StatusCookieKeyPairId"]["Value"]) is not None


def test_the_template_has_no_dependency_cycle(template_json: dict[str, Any]) -> None:
    """Functions name the distribution, which fronts the API that invokes them."""
    names = set(template_json["Resources"])

    def references(node: Any) -> set[str]:
        found: set[str] = set()
        if isinstance(node, dict):
            logical_id = target(node)
            if logical_id in names:
                found.add(str(logical_id))
            for value in node.values():
                found |= references(value)
        elif isinstance(node, list):
            for value in node:
                found |= references(value)
        return found

    graph = {
        logical_id: references(resource) | set(as_list(resource.get("DependsOn", [])))
        for logical_id, resource in template_json["Resources"].items()
    }
    list(graphlib.TopologicalSorter(graph).static_order())  # raises CycleError


# --- the viewer-request function, run in Node.js ----------------------------------------------
NODE = shutil.which("node")


def run_function(code: str, uris: list[str]) -> list[dict[str, Any]]:
    driver = (
        code
        + "\nvar uris = JSON.parse(process.argv[1]);\n"
        + "process.stdout.write(JSON.stringify(uris.map(function (uri) {\n"
        + "  return handler({request: {method: 'GET', uri: uri, headers: {}, querystring: {}}});\n"
        + "})));\n"
    )
    assert NODE is not None
    done = subprocess.run(
        [NODE, "-e", driver, json.dumps(uris)], capture_output=True, check=True, text=True
    )
    return list(json.loads(done.stdout))


@pytest.mark.skipif(NODE is None, reason="needs Node.js (the CDK CLI needs it too)")
def test_public_function_rewrites_redirects_and_refuses_private_paths() -> None:
    code = viewer_request_code("public", ["public"])
    cases = {
        "/status/public/": ("rewrite", "/status/public/index.html"),
        "/status/public/incidents/": ("rewrite", "/status/public/incidents/index.html"),
        "/status/public/api/v2/summary.json": ("rewrite", "/status/public/api/v2/summary.json"),
        "/status/public/history.atom": ("rewrite", "/status/public/history.atom"),
        "/": (302, "/status/public/"),
        "/status": (302, "/status/public/"),
        "/status/": (302, "/status/public/"),
        "/status/public": (301, "/status/public/"),
        # private pages, however spelled: S3 decodes %2F, CloudFront's behavior match does not
        "/status/internal/index.html": (404, None),
        "/status/internal": (404, None),
        "/status/internal%2Findex.html": (404, None),
        "/status%2Finternal/index.html": (404, None),
        "/status/%69nternal/index.html": (404, None),
        "/status/acme/api/v2/summary.json": (404, None),
        # a page that is no longer configured (its old files may still be in the bucket)
        "/status/old-customer/index.html": (404, None),
        "/status/public/../internal/index.html": (404, None),
        "/status/./internal/index.html": (404, None),
        "/status//internal/index.html": (404, None),
        # nothing outside status/ is served
        "/index.html": (404, None),
        "/favicon.ico": (404, None),
        "/status/public/%E0%A4%A": (400, None),
    }
    results = run_function(code, list(cases))
    for (uri, (expected, value)), result in zip(cases.items(), results, strict=True):
        if expected == "rewrite":
            assert "statusCode" not in result, uri
            assert result["uri"] == value, uri
        else:
            assert result["statusCode"] == expected, uri
            if value is not None:
                assert result["headers"]["location"]["value"] == value, uri


@pytest.mark.skipif(NODE is None, reason="needs Node.js (the CDK CLI needs it too)")
def test_private_function_serves_its_page_and_root_needs_a_public_page() -> None:
    private = viewer_request_code("public", ["internal"])
    results = run_function(private, ["/status/internal/", "/status/internal", "/status/x/a.json"])
    assert results[0]["uri"] == "/status/internal/index.html"
    assert results[1]["statusCode"] == 301
    assert results[1]["headers"]["location"]["value"] == "/status/internal/"
    assert results[2]["statusCode"] == 404
    without_public = viewer_request_code(None, ["internal"])
    [root] = run_function(without_public, ["/"])
    assert root["statusCode"] == 404


# --- other configurations (a small stack: no Lambda bundle) -------------------------------------
def hosting_stack(
    pages: dict[str, Any], public_key_pem: bytes | None
) -> tuple[App, StatusPageHosting]:
    app = App(analytics_reporting=False)
    scope = Stack(app, "Control")
    logs = s3.Bucket(scope, "Logs", object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED)
    hosting = StatusPageHosting(
        scope,
        "StatusPages",
        pages=StatusPagesConfig.model_validate(pages),
        public_key_pem=public_key_pem,
        access_logs=logs,
        api_endpoint="https://abc123.execute-api.eu-west-1.amazonaws.com",
    )
    return app, hosting


PRIVATE = {
    "components": [{"name": "Checkout"}],
    "pages": [
        {"id": "public", "name": "Status"},
        {"id": "acme", "name": "Acme", "visibility": "private", "components": ["Checkout"]},
    ],
}


def test_private_pages_without_a_public_key_fail_synth_saying_how_to_make_one() -> None:
    with pytest.raises(CookieKeyMissing, match=r"tocsin statuspage keygen") as raised:
        hosting_stack(PRIVATE, None)
    assert "acme" in str(raised.value)
    assert "statuspage-cookies.pub.pem" in str(raised.value)


def test_the_stack_refuses_to_make_private_pages_public(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stack, "cookie_public_key", lambda: None)
    with pytest.raises(CookieKeyMissing, match=r"tocsin statuspage keygen"):
        stack.create_app()


def test_a_key_that_cloudfront_would_refuse_fails_synth() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    pem = small.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(CookieKeyMissing, match=r"RSA 2048"):
        hosting_stack(PRIVATE, pem)
    with pytest.raises(CookieKeyMissing, match=r"not an RSA public key"):
        hosting_stack(PRIVATE, b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")


def test_without_private_pages_there_is_no_key_and_no_protected_behavior() -> None:
    app, hosting = hosting_stack({"pages": [{"id": "status", "name": "Status"}]}, None)
    template = app.synth().get_stack_by_name("Control").template
    assert hosting.key_group is None and hosting.public_key is None
    assert resources(template, "AWS::CloudFront::KeyGroup") == {}
    assert len(resources(template, "AWS::CloudFront::Function")) == 1
    _, resource = only(template, "AWS::CloudFront::Distribution")
    config = resource["Properties"]["DistributionConfig"]
    assert [b["PathPattern"] for b in config["CacheBehaviors"]] == ["/v1/status-pages/*/access/*"]
    assert hosting.public_page == "status"


def test_a_new_key_is_a_new_public_key_resource_in_the_same_key_group() -> None:
    def key_and_group(pem: bytes) -> tuple[str, str]:
        app, _ = hosting_stack(PRIVATE, pem)
        template = app.synth().get_stack_by_name("Control").template
        [key_id] = resources(template, "AWS::CloudFront::PublicKey")
        [group_id] = resources(template, "AWS::CloudFront::KeyGroup")
        return key_id, group_id

    first = key_and_group(cloudfront_cookies.generate_key_pair()[1])
    second = key_and_group(cloudfront_cookies.generate_key_pair()[1])
    assert first[0] != second[0], "CloudFront cannot change a public key in place"
    assert first[1] == second[1]


def test_the_shipped_key_file_is_what_the_stack_reads(tmp_path: Path) -> None:
    assert stack.cookie_public_key() == (CONFIG_DIR / "statuspage-cookies.pub.pem").read_bytes()
    assert stack.cookie_public_key(tmp_path) is None


def test_more_private_pages_than_cache_behaviors_fail_synth_clearly() -> None:
    pages = {
        "components": [{"name": "Checkout"}],
        "pages": [
            {"id": f"p{i}", "name": f"P{i}", "visibility": "private", "components": ["Checkout"]}
            for i in range(37)
        ],
    }
    with pytest.raises(ValueError, match=r"37 private status pages need 76 CloudFront"):
        hosting_stack(pages, cloudfront_cookies.generate_key_pair()[1])

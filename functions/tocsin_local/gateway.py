"""The local HTTP gateway: turns requests into API Gateway HTTP API (payload 2.0) events for
the same handlers, routed by the same route table as the CDK stack."""

from __future__ import annotations

import base64
import json
import time
import traceback
import uuid
from typing import Any

from tocsin.routes import HANDLERS, ROUTES, Route
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from tocsin_local.patches import FakeLambdaContext, resolve_handler


def _werkzeug_path(path: str) -> str:
    return path.replace("{", "<").replace("}", ">")


class LocalGateway:
    def __init__(self) -> None:
        self.url_map = Map(
            [Rule(_werkzeug_path(r.path), methods=[r.method], endpoint=r) for r in ROUTES]
            + [
                Rule("/healthz", methods=["GET"], endpoint="health"),
                Rule("/status/<page>/", methods=["GET", "HEAD"], endpoint="status"),
                Rule("/status/<page>/<path:rest>", methods=["GET", "HEAD"], endpoint="status"),
                Rule("/status/<page>", methods=["GET", "HEAD"], redirect_to="/status/<page>/"),
            ]
        )
        #: CloudFront's public key for private pages (local mode signs with its own key pair)
        self.cookie_public_key: bytes | None = None

    def event_for(self, request: Request, route: Route, params: dict[str, str]) -> dict[str, Any]:
        body = request.get_data()
        is_text = True
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            is_text = False
            text = base64.b64encode(body).decode()
        now = time.time()
        return {
            "version": "2.0",
            "routeKey": f"{route.method} {route.path}",
            "rawPath": request.path,
            "rawQueryString": request.query_string.decode("latin-1"),
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "queryStringParameters": dict(request.args.items()) or None,
            "pathParameters": params or None,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "local",
                "domainName": request.host,
                "http": {
                    "method": request.method,
                    "path": request.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": request.remote_addr or "127.0.0.1",
                    "userAgent": request.headers.get("user-agent", ""),
                },
                "requestId": str(uuid.uuid4()),
                "routeKey": f"{route.method} {route.path}",
                "stage": "$default",
                "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "timeEpoch": int(now * 1000),
            },
            "body": text if body else None,
            "isBase64Encoded": not is_text,
        }

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        adapter = self.url_map.bind_to_environ(environ)
        try:
            endpoint, params = adapter.match()
        except (NotFound, MethodNotAllowed) as exc:
            body = json.dumps({"error": exc.description or exc.name})
            return Response(body, status=exc.code, content_type="application/json")(
                environ, start_response
            )
        except HTTPException as exc:
            return exc(environ, start_response)
        if endpoint == "health":
            return Response('{"ok": true}', content_type="application/json")(
                environ, start_response
            )
        if endpoint == "status":
            return self.status_file(request, params["page"], params.get("rest", ""))(
                environ, start_response
            )
        route: Route = endpoint
        handler = resolve_handler(HANDLERS[route.function])
        try:
            result = handler(
                self.event_for(request, route, params), FakeLambdaContext(route.function.value)
            )
        except Exception:  # API Gateway answers an unhandled function error like this
            traceback.print_exc()
            body = json.dumps({"message": "Internal Server Error"})
            return Response(body, status=500, content_type="application/json")(
                environ, start_response
            )
        return self.response_for(result)(environ, start_response)

    @staticmethod
    def response_for(result: dict[str, Any]) -> Response:
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
        response = Response(data, status=result.get("statusCode", 200))
        for key, value in (result.get("headers") or {}).items():
            response.headers[key] = value
        for key, values in (result.get("multiValueHeaders") or {}).items():
            for value in values:
                response.headers.add(key, value)
        for cookie in result.get("cookies") or []:
            response.headers.add("Set-Cookie", cookie)
        return response

    def status_file(self, request: Request, page: str, rest: str) -> Response:
        """What CloudFront does for the status pages: `/status/<page>/` is its index.html,
        objects come from the status bucket with their own Content-Type and Cache-Control,
        and a private page needs valid CloudFront signed cookies (403 otherwise)."""
        from botocore.exceptions import ClientError
        from tocsin.config_loader import cached_config
        from tocsin.dal.aws import client
        from tocsin.services.statuspage import STATUS_HEADERS, object_key
        from tocsin.settings import get_settings

        settings = get_settings()
        found = cached_config(settings.config_dir).status_pages.page(page)
        if found is None:
            return _error(404, "no such status page")
        if found.visibility == "private" and not self._allowed(request):
            return _error(403, "Missing Key-Pair-Id query parameter or cookie value")
        path = rest or "index.html"
        if path.endswith("/"):
            path += "index.html"
        try:
            obj = client("s3").get_object(Bucket=settings.status_bucket, Key=object_key(page, path))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return _error(404, "not found")
            raise
        body = b"" if request.method == "HEAD" else obj["Body"].read()
        response = Response(body, status=200, content_type=obj.get("ContentType"))
        if obj.get("CacheControl"):
            response.headers["Cache-Control"] = obj["CacheControl"]
        for key, value in STATUS_HEADERS.items():
            response.headers[key] = value
        return response

    def _allowed(self, request: Request) -> bool:
        from datetime import UTC, datetime

        from tocsin.services.cloudfront_cookies import verify_cookies

        if self.cookie_public_key is None:
            return False
        return verify_cookies(
            self.cookie_public_key, dict(request.cookies), request.base_url, datetime.now(UTC)
        )


def _error(status: int, message: str) -> Response:
    return Response(json.dumps({"error": message}), status=status, content_type="application/json")

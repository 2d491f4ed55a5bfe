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
            + [Rule("/healthz", methods=["GET"], endpoint="health")]
        )

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

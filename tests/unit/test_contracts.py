"""One contract, two runtimes: routes, OpenAPI spec and layering stay consistent."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from tocsin.routes import HANDLERS, ROUTES, Function

from tests.helpers import REPO

PACKAGE = REPO / "functions" / "tocsin"


def test_every_api_route_is_served_by_the_api_handler() -> None:
    from tocsin.handlers import api

    served = {(route.method, route.path) for route in _resolver_routes(api.app)}
    expected = {(r.method, r.path) for r in ROUTES if r.function is Function.API}
    assert served == expected
    # the intake function serves exactly one route, which it reads by hand
    assert [(r.method, r.path) for r in ROUTES if r.function is Function.INTAKE] == [
        ("POST", "/v1/alerts/{source}")
    ]


def test_every_slack_route_is_served_by_the_chatops_handler() -> None:
    from tocsin.handlers import chatops

    served = {(route.method, route.path) for route in _resolver_routes(chatops.app)}
    assert served == {(r.method, r.path) for r in ROUTES if r.function is Function.CHATOPS}


def _resolver_routes(app: Any) -> list[Any]:
    class R:
        def __init__(self, method: str, path: str) -> None:
            self.method, self.path = method, path.replace("<", "{").replace(">", "}")

    return [R(route.method, route.path) for route in app._static_routes + app._dynamic_routes]


def test_committed_openapi_spec_is_current() -> None:
    from tocsin.openapi import render

    committed = (REPO / "docs" / "openapi.json").read_text()
    assert json.loads(committed) == json.loads(render()), (
        "docs/openapi.json is stale: run `make openapi`"
    )


def test_openapi_documents_every_route() -> None:
    spec = json.loads((REPO / "docs" / "openapi.json").read_text())
    assert spec["openapi"].startswith("3.1")
    for route in ROUTES:
        assert route.method.lower() in spec["paths"][route.path], route


def test_handlers_exist() -> None:
    from tocsin_local.patches import resolve_handler

    for handler in HANDLERS.values():
        assert callable(resolve_handler(handler))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_domain_is_pure_and_layers_point_inward() -> None:
    """domain: stdlib + pydantic; services never touch boto3; nothing imports handlers or local mode."""
    for path in (PACKAGE / "domain").glob("*.py"):
        for name in _imports(path):
            assert not name.startswith(
                (
                    "boto3",
                    "botocore",
                    "aws_lambda_powertools",
                    "tocsin.dal",
                    "tocsin.services",
                    "tocsin.handlers",
                    "tocsin.adapters",
                    "yaml",
                )
            ), (path.name, name)
    for path in (PACKAGE / "services").glob("*.py"):
        assert not any(
            n.startswith(("boto3", "botocore", "tocsin.handlers")) for n in _imports(path)
        ), path.name
    for path in PACKAGE.rglob("*.py"):
        assert not any(n.startswith("tocsin_local") for n in _imports(path)), path
        if "handlers" not in path.parts:
            assert not any(
                n.startswith("tocsin.handlers") for n in _imports(path) if path.name != "openapi.py"
            ), path


def test_vendored_fixtures_match_the_shared_ones_when_present() -> None:
    """tests/fixtures/vendor is a copy of the team's shared fixtures so a fresh clone tests
    on its own; when the shared folder sits beside the repository, the copy must be current."""
    from tests.helpers import FIXTURES

    shared = REPO.parent / "shared" / "fixtures"
    if not shared.is_dir():
        return
    ours = {p.relative_to(FIXTURES): p.read_bytes() for p in FIXTURES.rglob("*") if p.is_file()}
    theirs = {p.relative_to(shared): p.read_bytes() for p in shared.rglob("*") if p.is_file()}
    assert ours == theirs, "refresh tests/fixtures/vendor from ../shared/fixtures"

"""Helpers: API Gateway events for the intake handler, percentiles, background deliveries."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tocsin_local import patches


def intake_event(source: str, payload: Any, token: str) -> dict[str, Any]:
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return {
        "version": "2.0",
        "routeKey": "POST /v1/alerts/{source}",
        "rawPath": f"/v1/alerts/{source}",
        "rawQueryString": "",
        "headers": {"authorization": f"Bearer {token}", "content-type": "application/json"},
        "pathParameters": {"source": source},
        "requestContext": {
            "http": {"method": "POST", "path": f"/v1/alerts/{source}", "sourceIp": "127.0.0.1"},
            "requestId": "bench",
            "routeKey": "POST /v1/alerts/{source}",
            "stage": "$default",
        },
        "body": body,
        "isBase64Encoded": False,
    }


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


@contextmanager
def background_event_sources() -> Iterator[None]:
    """Stream (and queue) deliveries on a background thread, as Lambda's pollers on AWS,
    instead of inside the request that wrote the record."""
    was = patches.async_queues()
    patches.set_async_queues(True)
    try:
        yield
    finally:
        patches.set_async_queues(was)

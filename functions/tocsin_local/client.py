"""A small client for Tocsin's HTTP API (the CLI uses it against local mode or AWS)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

STATE_FILE = Path(".tocsin") / "local.json"


class ApiError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        message = body.get("error") if isinstance(body, dict) else body
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.body = body


@dataclass
class ApiClient:
    url: str
    token: str
    timeout: float = 30.0

    @classmethod
    def from_environment(cls, url: str | None = None, token: str | None = None) -> ApiClient:
        """--url/--token, else TOCSIN_URL/TOCSIN_TOKEN, else the running local mode's state file."""
        url = url or os.environ.get("TOCSIN_URL")
        token = token or os.environ.get("TOCSIN_TOKEN")
        if (not url or not token) and STATE_FILE.exists():
            state = json.loads(STATE_FILE.read_text())
            url = url or state.get("url")
            token = token or state.get("token")
        if not url or not token:
            raise ApiError(
                0,
                "no API configured: pass --url/--token, set TOCSIN_URL/TOCSIN_TOKEN, or run `tocsin local up`",
            )
        return cls(url.rstrip("/"), token)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        resp = requests.request(
            method, self.url + path, headers=headers, timeout=self.timeout, **kwargs
        )
        try:
            body = resp.json() if resp.content else None
        except ValueError:
            body = resp.text
        if resp.status_code >= 400:
            raise ApiError(resp.status_code, body)
        return body

    def send_alert(
        self, source: str, payload: Any, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        data = payload if isinstance(payload, bytes | str) else json.dumps(payload)
        resp = requests.post(
            f"{self.url}/v1/alerts/{source}",
            data=data,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                **(headers or {}),
            },
            timeout=self.timeout,
        )
        try:
            return resp.status_code, resp.json() if resp.content else None
        except ValueError:
            return resp.status_code, {"error": resp.text}

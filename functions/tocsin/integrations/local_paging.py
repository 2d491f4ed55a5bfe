"""Local paging: what would have been sent, per method, recorded in Tocsin's table.

The default of every paging method without a provider (sms, e-mail, PagerDuty, Opsgenie), so
escalation runs out of the box: pages are stored under `LOCAL#pages` and `tocsin local
outbox` / the demo show them. Acknowledging and resolving at the "vendor" is recorded too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict

from tocsin.domain.ids import ulid
from tocsin.integrations.local import Options, _Recorder
from tocsin.integrations.ports import Page, PageRef

PROVIDER = "local"
SECRET_KEYS: tuple[str, ...] = ()
__all__ = ["SECRET_KEYS", "LocalPaging", "Options", "build"]


class LocalPaging(_Recorder):
    provider = PROVIDER

    def __init__(self, table: str, method: str) -> None:
        super().__init__(table)
        self.method = method

    def send(self, page: Page, to: str | None) -> PageRef:
        page_id = ulid()
        self.put_new(
            "LOCAL#pages",
            page_id,
            {"method": self.method, "to": to or self.method, "page": asdict(page)},
        )
        return PageRef(PROVIDER, page_id, to or self.method)

    def acknowledge(self, page: Page) -> None:
        self._vendor_state(page, "acknowledged")

    def resolve(self, page: Page) -> None:
        self._vendor_state(page, "resolved")

    def _vendor_state(self, page: Page, state: str) -> None:
        self.put_new(f"LOCAL#vendor#{self.method}", f"{page.key}#{state}", {"state": state})

    def pages(self) -> list[dict[str, object]]:
        return self.query("LOCAL#pages")


def build(options: Options, context: Mapping[str, str]) -> LocalPaging:
    return LocalPaging(context["table"], context.get("method", "local"))

"""The status page renderer: JSON checked key by key against real Statuspage payloads, HTML
and feeds (escaping, structure), uptime arithmetic, privacy, determinism, and when to render
again."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from tocsin.domain.statuspage import (
    ComponentConfig,
    ComponentStatus,
    Impact,
    Kind,
    StatusPageConfig,
    StatusPagesConfig,
    StatusRecord,
    StatusUpdate,
)
from tocsin.services.statuspage_render import (
    PRIVATE_LIVE,
    PUBLIC_LIVE,
    PUBLIC_SETTLED,
    RenderedFile,
    next_change_at,
    render_page,
    uptime,
)

from tests.helpers import load_fixture


def z(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


NOW = z(2024, 3, 10, 12)
BASE = "https://status.example.test/status/public"
ATOM = "{http://www.w3.org/2005/Atom}"
MIN = timedelta(minutes=1)

CONFIG = StatusPagesConfig.model_validate(
    {
        "components": [
            {"name": "Checkout", "group": "Shop", "description": "Cart and checkout"},
            {"name": "Payments API", "group": "Shop", "description": "Card payments"},
            {"name": "Search", "created_at": "2024-02-01T00:00:00Z"},
            {"name": "Webhooks", "only_show_if_degraded": True, "showcase": False},
            {"name": "Admin console", "private": True, "description": "Back office"},
        ],
        "pages": [
            {"id": "public", "name": "Acme Status", "description": "Acme's shop and APIs"},
            {
                "id": "internal",
                "name": "Acme Internal",
                "visibility": "private",
                "components": ["Checkout", "Payments API", "Search", "Webhooks", "Admin console"],
            },
        ],
    }
)
PUBLIC, INTERNAL = CONFIG.pages
PRIVATE_ID = CONFIG.components[-1].component_id

MAJOR, PARTIAL, DEGRADED, OK, MAINT = (
    "major_outage",
    "partial_outage",
    "degraded_performance",
    "operational",
    "under_maintenance",
)
Step = tuple[str, datetime, str, dict[str, str]]


def make(
    record_id: str,
    name: str,
    steps: list[Step],
    *,
    kind: Kind = Kind.INCIDENT,
    impact: Impact = Impact.MINOR,
    page: str = "public",
    **extra: Any,
) -> StatusRecord:
    """A record from its updates, oldest first: (status, at, body, component statuses); each
    update's `affected_components` are the changes from the one before."""
    updates = []
    previous: dict[str, str] = {}
    for index, (status, at, body, components) in enumerate(steps):
        changed = [
            {
                "code": (CONFIG.component(n) or ComponentConfig(name=n)).component_id,
                "name": n,
                "old_status": previous.get(n, OK),
                "new_status": new,
            }
            for n, new in components.items()
            if previous.get(n, OK) != new
        ]
        updates.append(
            StatusUpdate.model_validate(
                {
                    "id": f"{record_id}-u{index}",
                    "status": status,
                    "body": body,
                    "created_at": at,
                    "display_at": at,
                    "updated_at": at,
                    "components": components,
                    "affected_components": changed,
                }
            )
        )
        previous = dict(components)
    first_at = {status: at for status, at, _, _ in reversed(steps)}
    fields: dict[str, Any] = {
        "id": record_id,
        "page": page,
        "kind": kind,
        "name": name,
        "status": steps[-1][0],
        "impact": impact,
        "affects": sorted({n for step in steps for n in step[3]}),
        "updates": list(reversed(updates)),
        "created_at": steps[0][1],
        "updated_at": steps[-1][1],
        "monitoring_at": first_at.get("monitoring"),
        "resolved_at": first_at.get("resolved") or first_at.get("completed"),
    }
    fields.update(extra)
    return StatusRecord.model_validate(fields)


def scenario(page: str = "public") -> list[StatusRecord]:
    """Two overlapping open incidents (one also names the private Admin console), a resolved
    one yesterday, an old one outside the history, a completed, an in-progress and an
    upcoming maintenance."""
    return [
        make(
            "inc-checkout",
            "Checkout errors",
            [
                ("investigating", z(2024, 3, 10, 10), "Errors at checkout.", {"Checkout": PARTIAL}),
                (
                    "identified",
                    z(2024, 3, 10, 10, 30),
                    "A bad deploy.\nRolling back.",
                    {"Checkout": MAJOR, "Payments API": PARTIAL, "Admin console": MAJOR},
                ),
            ],
            impact=Impact.MAJOR,
            page=page,
        ),
        make(
            "inc-latency",
            "Slow responses",
            [
                (
                    "investigating",
                    z(2024, 3, 10, 11),
                    "Pages load slowly.",
                    {"Checkout": DEGRADED, "Search": DEGRADED},
                )
            ],
            page=page,
        ),
        make(
            "inc-db",
            "Payments failing",
            [
                ("investigating", z(2024, 3, 9, 10), "Payments fail.", {"Payments API": MAJOR}),
                ("monitoring", z(2024, 3, 9, 11), "Recovering.", {"Payments API": PARTIAL}),
                ("resolved", z(2024, 3, 9, 12, 40), "All good.", {"Payments API": OK}),
            ],
            impact=Impact.CRITICAL,
            page=page,
        ),
        make(
            "inc-old",
            "Long forgotten",
            [
                ("investigating", z(2023, 10, 1, 8), "Old news.", {"Search": MAJOR}),
                ("resolved", z(2023, 10, 1, 9), "Fixed.", {"Search": OK}),
            ],
            page=page,
        ),
        make(
            "mnt-done",
            "Database upgrade",
            [
                ("scheduled", z(2024, 2, 28, 9), "We will upgrade the database.", {}),
                ("in_progress", z(2024, 3, 2, 22), "Under way.", {"Payments API": MAINT}),
                ("completed", z(2024, 3, 2, 23), "Done.", {"Payments API": OK}),
            ],
            kind=Kind.MAINTENANCE,
            impact=Impact.NONE,
            page=page,
            affects=["Payments API"],
            scheduled_for=z(2024, 3, 2, 22),
            scheduled_until=z(2024, 3, 2, 23, 30),
        ),
        make(
            "mnt-network",
            "Network maintenance",
            [
                ("scheduled", z(2024, 3, 7, 9), "Network work ahead.", {}),
                ("in_progress", z(2024, 3, 10, 11), "Started.", {"Webhooks": MAINT}),
            ],
            kind=Kind.MAINTENANCE,
            impact=Impact.MINOR,
            page=page,
            affects=["Webhooks"],
            scheduled_for=z(2024, 3, 10, 11),
            scheduled_until=z(2024, 3, 10, 14),
        ),
        make(
            "mnt-search",
            "Search index rebuild",
            [("scheduled", z(2024, 3, 8, 9), "Search may be stale for an hour.", {})],
            kind=Kind.MAINTENANCE,
            impact=Impact.NONE,
            page=page,
            affects=["Search"],
            scheduled_for=z(2024, 3, 12, 22),
            scheduled_until=z(2024, 3, 12, 23, 30),
        ),
    ]


def component(name: str) -> ComponentConfig:
    found = CONFIG.component(name)
    assert found is not None, name
    return found


def render(
    records: list[StatusRecord] | None = None,
    page: StatusPageConfig = PUBLIC,
    now: datetime = NOW,
    config: StatusPagesConfig = CONFIG,
) -> dict[str, RenderedFile]:
    return render_page(config, page, scenario() if records is None else records, now, BASE)


def doc(files: dict[str, RenderedFile], path: str) -> Any:
    return json.loads(files[path].body)


def text(files: dict[str, RenderedFile], path: str) -> str:
    return files[path].body.decode()


@pytest.fixture(scope="module")
def files() -> dict[str, RenderedFile]:
    return render()


# --- JSON, key by key against the fixtures ------------------------------------------------------

COMPONENT_STATUSES = {s.value for s in ComponentStatus}
INCIDENT_STATUSES = {"investigating", "identified", "monitoring", "resolved", "postmortem"}
MAINTENANCE_STATUSES = {"scheduled", "in_progress", "verifying", "completed"}
STATUS_WORDING = {
    ("none", "All Systems Operational"),
    ("none", "Service Under Maintenance"),
    ("minor", "Minor Service Outage"),
    ("minor", "Partially Degraded Service"),
    ("major", "Partial System Outage"),
    ("critical", "Major System Outage"),
}
GITHUB_COMPONENT = load_fixture("statuspage/githubstatus_summary_json_captured_operational.json")[
    "components"
][0]
#: the real Statuspage fields we publish beyond the fixtures' keys, by kind of object
EXTRA_KEYS: dict[str, set[str]] = {
    "document": set(),
    "page": {"time_zone"},  # the docs examples lack it; the githubstatus captures have it
    "status": set(),
    # the docs example's components lack what the githubstatus capture shows
    "component": {*GITHUB_COMPONENT, "start_date", "components"},
    "incident": {"started_at", "components"},
    "maintenance": {"started_at", "components"},
    "incident_update": {"affected_components"},
    "maintenance_update": {"affected_components"},
}
#: keys whose value may be null where a fixture has a string, or a string where it has null
NULLABLE = {"description", "group_id", "monitoring_at", "resolved_at", "start_date"}
CHILD_KIND = {
    "page": "page",
    "status": "status",
    "components": "component",
    "incidents": "incident",
    "scheduled_maintenances": "maintenance",
}
STATUS_VOCABULARY = {
    "component": COMPONENT_STATUSES,
    "incident": INCIDENT_STATUSES,
    "maintenance": MAINTENANCE_STATUSES,
    "incident_update": INCIDENT_STATUSES,
    "maintenance_update": MAINTENANCE_STATUSES,
}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?(Z|[+-]\d\d:\d\d)$")


def child_kind(kind: str, key: str) -> str:
    if key == "incident_updates":
        return f"{kind}_update"
    return CHILD_KIND.get(key, kind)


def check_value(kind: str, key: str, value: Any, path: str) -> None:
    """A value from the documented vocabulary (or format)."""
    if key == "status" and kind in STATUS_VOCABULARY:
        assert value in STATUS_VOCABULARY[kind], f"{path}: {value!r}"
    elif key == "impact":
        assert value in {i.value for i in Impact}, f"{path}: {value!r}"
    elif key == "indicator":
        assert value in {"none", "minor", "major", "critical"}, f"{path}: {value!r}"
    elif (key.endswith("_at") or key in {"scheduled_for", "scheduled_until"}) and value is not None:
        assert TIMESTAMP.match(value), f"{path}: {value!r}"
    elif key == "start_date" and value is not None:
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", value), f"{path}: {value!r}"
    elif key == "position":
        assert value >= 1, path
    if kind == "status" and key == "description":
        assert value in {wording for _, wording in STATUS_WORDING}, f"{path}: {value!r}"


def assert_like(fixture: Any, ours: Any, kind: str = "document", path: str = "$") -> None:
    """`ours` has every key of `fixture` with a value of the same JSON type (recursively),
    values from the documented vocabularies, and extra keys only from EXTRA_KEYS."""
    if isinstance(fixture, dict):
        assert isinstance(ours, dict), f"{path}: not an object"
        missing = fixture.keys() - ours.keys()
        assert not missing, f"{path}: missing {sorted(missing)}"
        extra = ours.keys() - fixture.keys()
        assert extra <= EXTRA_KEYS[kind], f"{path}: unexpected {sorted(extra - EXTRA_KEYS[kind])}"
        for key, value in ours.items():
            where = f"{path}.{key}"
            check_value(kind, key, value, where)
            if key in fixture:
                assert_like(fixture[key], value, child_kind(kind, key), where)
        if kind in {"incident", "maintenance"}:
            for index, item in enumerate(ours.get("components", [])):
                assert_like(GITHUB_COMPONENT, item, "component", f"{path}.components[{index}]")
        if kind.endswith("_update"):
            for change in ours.get("affected_components") or []:
                assert set(change) == {"code", "name", "old_status", "new_status"}, where
                assert {change["old_status"], change["new_status"]} <= COMPONENT_STATUSES
        if kind == "component" and ours.get("group"):
            assert ours["group_id"] is None and ours["components"], path
    elif isinstance(fixture, list):
        assert isinstance(ours, list), f"{path}: not a list"
        if fixture:  # (an empty list in a fixture shows nothing about its items)
            assert ours, f"{path}: the fixture has items, ours none (the scenario must cover it)"
            for index, item in enumerate(ours):
                assert_like(fixture[0], item, kind, f"{path}[{index}]")
    elif fixture is None or ours is None:
        key = path.rsplit(".", 1)[-1]
        assert fixture is ours or key in NULLABLE, f"{path}: null where the fixture has a value"
        if ours is not None:
            assert isinstance(ours, str), path
    else:
        assert type(ours) is type(fixture), (
            f"{path}: {type(ours).__name__}, not {type(fixture).__name__}"
        )


SUMMARY_META = "statuspage/metastatuspage_docs_summary_json.json"
SUMMARY_GITHUB = "statuspage/githubstatus_summary_json_captured_operational.json"
STATUS_GITHUB = "statuspage/githubstatus_status_json_captured.json"
INCIDENTS_META = "statuspage/metastatuspage_docs_incidents_json.json"
MAINTENANCES_META = "statuspage/metastatuspage_docs_scheduled_maintenances_json.json"


def components_fixture() -> dict[str, Any]:
    """components.json is {page, components}: the githubstatus capture's parts."""
    summary = load_fixture(SUMMARY_GITHUB)
    return {"page": summary["page"], "components": summary["components"]}


FIXTURES_OF: dict[str, list[str | None]] = {
    "api/v2/summary.json": [SUMMARY_META, SUMMARY_GITHUB],
    "api/v2/status.json": [STATUS_GITHUB],
    "api/v2/components.json": [None],
    "api/v2/incidents.json": [INCIDENTS_META],
    "api/v2/incidents/unresolved.json": [INCIDENTS_META],
    "api/v2/scheduled-maintenances.json": [MAINTENANCES_META],
    "api/v2/scheduled-maintenances/upcoming.json": [MAINTENANCES_META],
    "api/v2/scheduled-maintenances/active.json": [MAINTENANCES_META],
}


@pytest.mark.parametrize(
    "name", [SUMMARY_META, SUMMARY_GITHUB, STATUS_GITHUB, INCIDENTS_META, MAINTENANCES_META]
)
def test_the_checker_accepts_the_fixtures_themselves(name: str) -> None:
    fixture = load_fixture(name)
    assert_like(fixture, fixture)


@pytest.mark.parametrize("path", sorted(FIXTURES_OF))
def test_json_matches_statuspage_key_by_key(files: dict[str, RenderedFile], path: str) -> None:
    ours = doc(files, path)
    for name in FIXTURES_OF[path]:
        assert_like(components_fixture() if name is None else load_fixture(name), ours)
    assert files[path].content_type == "application/json"


def test_json_lists_follow_statuspage(files: dict[str, RenderedFile]) -> None:

    def ids(path: str, key: str) -> list[str]:
        return [item["id"] for item in doc(files, path)[key]]

    assert ids("api/v2/incidents.json", "incidents") == [
        "inc-latency",
        "inc-checkout",
        "inc-db",
        "inc-old",
    ]
    assert ids("api/v2/incidents/unresolved.json", "incidents") == ["inc-latency", "inc-checkout"]
    assert ids("api/v2/summary.json", "incidents") == ["inc-latency", "inc-checkout"]
    assert ids("api/v2/scheduled-maintenances.json", "scheduled_maintenances") == [
        "mnt-search",
        "mnt-network",
        "mnt-done",
    ]
    assert ids("api/v2/scheduled-maintenances/upcoming.json", "scheduled_maintenances") == [
        "mnt-search"
    ]
    assert ids("api/v2/scheduled-maintenances/active.json", "scheduled_maintenances") == [
        "mnt-network"
    ]
    assert ids("api/v2/summary.json", "scheduled_maintenances") == ["mnt-search", "mnt-network"]


def test_json_values(files: dict[str, RenderedFile]) -> None:
    summary = doc(files, "api/v2/summary.json")
    assert summary["page"] == {
        "id": "public",
        "name": "Acme Status",
        "url": BASE,
        "time_zone": "Etc/UTC",
        "updated_at": "2024-03-10T11:00:00.000Z",
    }
    by_name = {c["name"]: c for c in summary["components"]}
    assert [c["name"] for c in summary["components"]] == [
        "Shop",
        "Checkout",
        "Payments API",
        "Search",
        "Webhooks",
    ]
    assert [c["position"] for c in summary["components"]] == [1, 2, 3, 4, 5]
    shop = by_name["Shop"]
    assert shop["group"] is True and shop["status"] == MAJOR
    assert shop["components"] == [by_name["Checkout"]["id"], by_name["Payments API"]["id"]]
    assert by_name["Checkout"]["group_id"] == shop["id"]
    assert {n: c["status"] for n, c in by_name.items()} == {
        "Shop": MAJOR,
        "Checkout": MAJOR,  # the worst of two overlapping incidents
        "Payments API": PARTIAL,
        "Search": DEGRADED,
        "Webhooks": MAINT,
    }
    assert by_name["Search"]["start_date"] == "2024-02-01"
    assert by_name["Search"]["created_at"] == "2024-02-01T00:00:00.000Z"
    assert by_name["Checkout"]["description"] == "Cart and checkout"
    assert by_name["Webhooks"]["description"] is None
    assert by_name["Webhooks"]["only_show_if_degraded"] is True
    assert by_name["Checkout"]["updated_at"] == "2024-03-10T11:00:00.000Z"
    assert summary["status"] == {"indicator": "major", "description": "Partial System Outage"}

    checkout = next(i for i in summary["incidents"] if i["id"] == "inc-checkout")
    assert checkout["shortlink"] == f"{BASE}/incidents/inc-checkout.html"
    assert checkout["started_at"] == checkout["created_at"] == "2024-03-10T10:00:00.000Z"
    assert [c["name"] for c in checkout["components"]] == ["Checkout", "Payments API"]
    newest, oldest = checkout["incident_updates"]
    assert (newest["status"], oldest["status"]) == ("identified", "investigating")
    assert newest["body"] == "A bad deploy.\nRolling back."
    assert newest["incident_id"] == "inc-checkout"
    assert newest["affected_components"] == [
        {
            "code": by_name["Checkout"]["id"],
            "name": "Checkout",
            "old_status": PARTIAL,
            "new_status": MAJOR,
        },
        {
            "code": by_name["Payments API"]["id"],
            "name": "Payments API",
            "old_status": OK,
            "new_status": PARTIAL,
        },
    ]
    resolved = next(
        i for i in doc(files, "api/v2/incidents.json")["incidents"] if i["id"] == "inc-db"
    )
    assert resolved["status"] == "resolved"
    assert resolved["resolved_at"] == "2024-03-09T12:40:00.000Z"
    assert resolved["monitoring_at"] == "2024-03-09T11:00:00.000Z"
    assert resolved["incident_updates"][0]["affected_components"] == [
        {
            "code": by_name["Payments API"]["id"],
            "name": "Payments API",
            "old_status": PARTIAL,
            "new_status": OK,
        }
    ]
    network = doc(files, "api/v2/scheduled-maintenances/active.json")["scheduled_maintenances"][0]
    assert network["scheduled_for"] == "2024-03-10T11:00:00.000Z"
    assert network["scheduled_until"] == "2024-03-10T14:00:00.000Z"
    assert network["incident_updates"][1]["affected_components"] is None  # like Statuspage


def test_incidents_json_lists_the_newest_fifty() -> None:
    records = [
        make(f"inc-{n:03d}", f"Incident {n}", [("resolved", NOW - timedelta(hours=n), "x", {})])
        for n in range(60)
    ]
    listed = doc(render(records), "api/v2/incidents.json")["incidents"]
    assert [i["id"] for i in listed] == [f"inc-{n:03d}" for n in range(50)]


def test_indicator_and_description_as_in_the_fixture() -> None:
    """The docs example: API partial_outage + Management Portal major_outage -> major."""
    fixture = load_fixture(SUMMARY_META)
    config = StatusPagesConfig.model_validate(
        {
            "components": [{"name": c["name"]} for c in fixture["components"]],
            "pages": [{"id": "p", "name": "P"}],
        }
    )
    statuses = {c["name"]: c["status"] for c in fixture["components"]}
    record = make("inc-1", "Outage", [("identified", NOW - MIN, "Down.", statuses)], page="p")
    files = render_page(config, config.pages[0], [record], NOW, BASE)
    assert doc(files, "api/v2/status.json")["status"] == fixture["status"]
    assert [c["status"] for c in doc(files, "api/v2/components.json")["components"]] == [
        c["status"] for c in fixture["components"]
    ]


def test_all_operational_as_in_the_github_capture() -> None:
    fixture = load_fixture(STATUS_GITHUB)
    assert doc(render([]), "api/v2/status.json")["status"] == fixture["status"]


@pytest.mark.parametrize(
    ("statuses", "impact", "expected"),
    [
        (
            {"Checkout": MAJOR, "Payments API": MAJOR, "Search": MAJOR, "Webhooks": MAJOR},
            "minor",
            ("critical", "Major System Outage"),
        ),
        ({"Search": PARTIAL}, "minor", ("minor", "Minor Service Outage")),
        ({"Search": DEGRADED}, "critical", ("minor", "Partially Degraded Service")),
        ({}, "critical", ("critical", "Major System Outage")),
        ({}, "none", ("none", "All Systems Operational")),
    ],
)
def test_status_wording(statuses: dict[str, str], impact: str, expected: tuple[str, str]) -> None:
    record = make(
        "inc-1", "Trouble", [("investigating", NOW - MIN, "Hm.", statuses)], impact=Impact(impact)
    )
    status = doc(render([record]), "api/v2/status.json")["status"]
    assert (status["indicator"], status["description"]) == expected


# --- maintenances move with time ----------------------------------------------------------------


def planned(auto: bool = True) -> StatusRecord:
    return make(
        "mnt-1",
        "Planned work",
        [("scheduled", z(2024, 3, 1, 9), "Planned.", {})],
        kind=Kind.MAINTENANCE,
        impact=Impact.NONE,
        affects=["Search"],
        scheduled_for=z(2024, 3, 10, 13),
        scheduled_until=z(2024, 3, 10, 15),
        auto_transition=auto,
    )


def test_a_maintenance_is_active_from_its_start_and_completed_from_its_end() -> None:
    before = render([planned()], now=z(2024, 3, 10, 12, 59))
    during = render([planned()], now=z(2024, 3, 10, 13))
    after = render([planned()], now=z(2024, 3, 10, 15))

    def maintenances(files: dict[str, RenderedFile], which: str) -> list[Any]:
        return doc(files, f"api/v2/scheduled-maintenances{which}.json")["scheduled_maintenances"]

    assert [m["status"] for m in maintenances(before, "/upcoming")] == ["scheduled"]
    assert maintenances(before, "/active") == []
    assert [m["status"] for m in maintenances(during, "/active")] == ["in_progress"]
    assert maintenances(during, "/upcoming") == []

    def search(files: dict[str, RenderedFile]) -> Any:
        return next(
            c for c in doc(files, "api/v2/components.json")["components"] if c["name"] == "Search"
        )

    assert search(before)["status"] == OK
    assert search(during)["status"] == MAINT
    assert search(during)["updated_at"] == "2024-03-10T13:00:00.000Z"
    assert doc(during, "api/v2/status.json")["status"] == {
        "indicator": "none",
        "description": "Service Under Maintenance",
    }
    done = maintenances(after, "")[0]
    assert (done["status"], done["resolved_at"]) == ("completed", "2024-03-10T15:00:00.000Z")
    assert search(after)["status"] == OK
    assert "Service Under Maintenance" in text(during, "index.html")


def test_a_maintenance_without_auto_transition_keeps_its_status() -> None:
    files = render([planned(auto=False)], now=z(2024, 3, 10, 14))
    assert [
        m["status"]
        for m in doc(files, "api/v2/scheduled-maintenances/upcoming.json")["scheduled_maintenances"]
    ] == ["scheduled"]


# --- uptime ---------------------------------------------------------------------------------------


def outage(record_id: str, component: str, steps: list[tuple[datetime, str]]) -> StatusRecord:
    """An incident giving `component` each status from its time; the last step resolves."""
    named = [
        ("resolved" if i == len(steps) - 1 else "investigating", at, "…", {component: status})
        for i, (at, status) in enumerate(steps)
    ]
    return make(record_id, f"Trouble with {component}", named)


def test_uptime_weighs_major_and_partial_minutes() -> None:
    """60 min major + 100 min partial = 60 + 30 weighted minutes."""
    record = outage(
        "inc-u",
        "Payments API",
        [(z(2024, 3, 5, 10), MAJOR), (z(2024, 3, 5, 11), PARTIAL), (z(2024, 3, 5, 12, 40), OK)],
    )
    result = uptime(component("Payments API"), [record], PUBLIC, NOW)
    assert len(result.days) == 90
    assert result.days[-1].day.isoformat() == "2024-03-10"
    day = result.days[-6]
    assert (day.day.isoformat(), day.worst) == ("2024-03-05", ComponentStatus.MAJOR_OUTAGE)
    assert day.minutes == pytest.approx(90)
    assert sum(d.minutes for d in result.days) == pytest.approx(90)
    assert result.total_minutes == 90 * 24 * 60  # no created_at: the whole window
    assert result.percent == pytest.approx(100 * (1 - 90 / 129_600))
    html = text(render([record]), "index.html")
    assert "99.93 % uptime" in html  # 99.9305… floored
    assert 'class="l2" title="5 March 2024: major outage, 1 h 30 min of downtime"' in html


def test_uptime_counts_from_the_components_creation() -> None:
    record = outage("inc-u", "Search", [(z(2024, 3, 5, 10), MAJOR), (z(2024, 3, 5, 11, 30), OK)])
    result = uptime(component("Search"), [record], PUBLIC, NOW)
    total = (z(2024, 3, 11) - z(2024, 2, 1)).total_seconds() / 60
    assert result.total_minutes == total
    assert result.percent == pytest.approx(100 * (1 - 90 / total))
    assert [d.tracked for d in result.days].count(False) == 90 - 39
    html = text(render([record]), "index.html")
    assert f"{int(100 * (1 - 90 / total) * 100) / 100:.2f} % uptime" in html
    assert 'class="lnone" title="31 January 2024: no data"' in html
    assert 'class="l0" title="1 February 2024: no downtime"' in html


def test_overlapping_incidents_count_once_at_the_worst_status() -> None:
    first = outage("inc-a", "Checkout", [(z(2024, 3, 5, 10), MAJOR), (z(2024, 3, 5, 11), OK)])
    second = outage(
        "inc-b", "Checkout", [(z(2024, 3, 5, 10, 30), PARTIAL), (z(2024, 3, 5, 11, 30), OK)]
    )
    result = uptime(component("Checkout"), [first, second], PUBLIC, NOW)
    assert result.days[-6].minutes == pytest.approx(60 + 0.3 * 30)


def test_ongoing_downtime_is_counted_up_to_the_last_step() -> None:
    record = make(
        "inc-1", "Down", [("investigating", z(2024, 3, 10, 11), "Down.", {"Checkout": MAJOR})]
    )

    def today(now: datetime) -> float:
        return uptime(component("Checkout"), [record], PUBLIC, now).days[-1].minutes

    assert today(z(2024, 3, 10, 12, 4, 59)) == pytest.approx(60)
    assert today(z(2024, 3, 10, 12, 5)) == pytest.approx(65)


def test_a_day_with_downtime_never_shows_100_percent() -> None:
    record = outage("inc-1", "Checkout", [(z(2024, 3, 5, 10), PARTIAL), (z(2024, 3, 5, 10, 1), OK)])
    html = text(render([record]), "index.html")
    assert "99.99 % uptime" in html
    assert 'title="5 March 2024: partial outage, 1 min of downtime"' in html


def test_uptime_days_follow_the_pages_time_zone_across_dst() -> None:
    page = StatusPageConfig(id="public", name="Acme", time_zone="Europe/Berlin", history_days=7)
    config = CONFIG.model_copy(update={"pages": [page]})
    result = uptime(config.components[0], [], page, z(2024, 4, 2, 12))
    assert [d.day.isoformat() for d in result.days][:3] == [
        "2024-03-27",
        "2024-03-28",
        "2024-03-29",
    ]
    assert result.total_minutes == 7 * 24 * 60 - 60  # 31 March has 23 hours
    # a bar's day is the local day: 22:30 UTC on 1 April is 2 April in Berlin
    late = outage("inc-1", "Checkout", [(z(2024, 4, 1, 22, 30), MAJOR), (z(2024, 4, 1, 23), OK)])
    result = uptime(config.components[0], [late], page, z(2024, 4, 2, 12))
    assert [(d.day.isoformat(), d.minutes) for d in result.days if d.minutes] == [
        ("2024-04-02", 30)
    ]


def test_a_whole_day_outage_on_a_dst_day_counts_its_real_length() -> None:
    page = StatusPageConfig(id="public", name="Acme", time_zone="Europe/Berlin", history_days=7)
    record = outage("inc-1", "Checkout", [(z(2024, 3, 30, 12), MAJOR), (z(2024, 4, 1, 12), OK)])
    result = uptime(CONFIG.components[0], [record], page, z(2024, 4, 2, 12))
    assert {d.day.isoformat(): d.minutes for d in result.days}["2024-03-31"] == 23 * 60


# --- privacy ----------------------------------------------------------------------------------------


def test_a_public_page_never_shows_a_private_component(files: dict[str, RenderedFile]) -> None:
    for path, file in files.items():
        body = file.body.decode()
        assert "Admin console" not in body, path
        assert PRIVATE_ID not in body, path
        assert "Back office" not in body, path


def test_a_private_page_shows_its_private_component() -> None:
    files = render(scenario("internal"), page=INTERNAL)
    assert "Admin console" in text(files, "index.html")
    summary = doc(files, "api/v2/summary.json")
    assert "Admin console" in [c["name"] for c in summary["components"]]
    checkout = next(i for i in summary["incidents"] if i["id"] == "inc-checkout")
    assert [c["name"] for c in checkout["incident_updates"][0]["affected_components"]] == [
        "Checkout",
        "Payments API",
        "Admin console",
    ]


def test_records_of_other_pages_are_ignored() -> None:
    files = render(scenario("internal"))
    assert doc(files, "api/v2/incidents.json")["incidents"] == []
    assert not [p for p in files if p.startswith("incidents/")]


def test_cache_headers() -> None:
    public, private = render(), render(scenario("internal"), page=INTERNAL)
    assert public["index.html"].cache_control == PUBLIC_LIVE
    assert public["api/v2/summary.json"].cache_control == PUBLIC_LIVE
    assert public["history.atom"].cache_control == PUBLIC_LIVE
    assert public["incidents/inc-checkout.html"].cache_control == PUBLIC_LIVE
    assert public["incidents/inc-db.html"].cache_control == PUBLIC_SETTLED
    assert all(f.cache_control.startswith("private,") for f in private.values())
    assert private["index.html"].cache_control == PRIVATE_LIVE
    assert all("public" in f.cache_control for f in public.values())


# --- determinism --------------------------------------------------------------------------------------


def bodies(files: dict[str, RenderedFile]) -> dict[str, bytes]:
    return {path: f.body for path, f in files.items()}


def test_equal_inputs_give_equal_bytes(files: dict[str, RenderedFile]) -> None:
    assert bodies(render()) == bodies(files)
    assert bodies(render(list(reversed(scenario())))) == bodies(files)


def test_no_file_changes_while_time_alone_changes_nothing() -> None:
    """Only resolved records: an hour later every byte is the same (no "generated at")."""
    records = [r for r in scenario() if r.closed]
    assert bodies(render(records, now=z(2024, 3, 10, 9))) == bodies(
        render(records, now=z(2024, 3, 10, 23, 59))
    )


def test_files() -> None:
    files = render()
    assert set(files) == {
        "index.html",
        "history.atom",
        "history.rss",
        *(f"incidents/{r.id}.html" for r in scenario()),
        *(
            f"api/v2/{p}"
            for p in [
                "summary.json",
                "status.json",
                "components.json",
                "incidents.json",
                "incidents/unresolved.json",
                "scheduled-maintenances.json",
                "scheduled-maintenances/upcoming.json",
                "scheduled-maintenances/active.json",
            ]
        ),
    }
    assert all(path == f.path for path, f in files.items())
    assert files["index.html"].content_type == "text/html; charset=utf-8"
    assert files["history.atom"].content_type == "application/atom+xml"
    assert files["history.rss"].content_type == "application/rss+xml"


def test_a_record_id_that_cannot_name_a_file_is_refused() -> None:
    record = make("../index", "Sneaky", [("investigating", NOW, "x", {})])
    with pytest.raises(ValueError, match="cannot name a file"):
        render([record])


# --- when to render again --------------------------------------------------------------------------


def test_next_change_is_the_next_local_midnight() -> None:
    assert next_change_at(PUBLIC, [], NOW) == z(2024, 3, 11)
    berlin = StatusPageConfig(id="public", name="Acme", time_zone="Europe/Berlin")
    assert next_change_at(berlin, [], NOW) == z(2024, 3, 10, 23)
    assert next_change_at(berlin, [], z(2024, 3, 30, 23, 30)) == z(2024, 3, 31, 22)  # CEST


def test_next_change_at_a_maintenance_boundary() -> None:
    assert next_change_at(PUBLIC, [planned()], NOW) == z(2024, 3, 10, 13)
    assert next_change_at(PUBLIC, [planned()], z(2024, 3, 10, 13)) == z(2024, 3, 10, 15)
    assert next_change_at(PUBLIC, [planned(auto=False)], NOW) == z(2024, 3, 11)


def test_next_change_while_downtime_accrues() -> None:
    down = make(
        "inc-1", "Down", [("investigating", z(2024, 3, 10, 11), "Down.", {"Checkout": MAJOR})]
    )
    assert next_change_at(PUBLIC, [down], z(2024, 3, 10, 12, 1, 30)) == z(2024, 3, 10, 12, 5)
    slow = make(
        "inc-2", "Slow", [("investigating", z(2024, 3, 10, 11), "Slow.", {"Checkout": DEGRADED})]
    )
    assert next_change_at(PUBLIC, [slow], z(2024, 3, 10, 12, 1)) == z(2024, 3, 11)  # no downtime
    ended = outage("inc-3", "Checkout", [(z(2024, 3, 10, 11), MAJOR), (z(2024, 3, 10, 12, 3), OK)])
    assert next_change_at(PUBLIC, [ended], z(2024, 3, 10, 12, 4)) == z(2024, 3, 10, 12, 5)
    assert next_change_at(PUBLIC, [ended], z(2024, 3, 10, 12, 6)) == z(2024, 3, 11)


@pytest.mark.parametrize(
    ("records", "now"),
    [
        ([planned()], NOW),
        (scenario(), z(2024, 3, 10, 12, 1)),
        ([r for r in scenario() if r.closed], NOW),
    ],
    ids=["maintenance", "accruing", "history-ages-out"],
)
def test_nothing_changes_before_next_change_at_and_something_at_it(
    records: list[StatusRecord], now: datetime
) -> None:
    moment = next_change_at(PUBLIC, records, now)
    assert bodies(render(records, now=now)) == bodies(
        render(records, now=moment - timedelta(seconds=1))
    )
    assert bodies(render(records, now=now)) != bodies(render(records, now=moment))


def test_a_record_ages_out_of_the_history_at_local_midnight() -> None:
    record = outage("inc-1", "Checkout", [(z(2023, 12, 12, 10), MAJOR), (z(2023, 12, 12, 11), OK)])
    last_day = z(2024, 3, 10, 23, 59)
    assert "incidents/inc-1.html" in text(render([record], now=last_day), "index.html")
    after = render([record], now=z(2024, 3, 11))
    assert "incidents/inc-1.html" not in text(after, "index.html")
    assert "incidents/inc-1.html" in after  # its page stays


# --- HTML -----------------------------------------------------------------------------------------------


class Outline(HTMLParser):
    """Tags, attributes and text of a document."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def outline(html: str) -> Outline:
    parser = Outline()
    parser.feed(html)
    return parser


def test_html_structure(files: dict[str, RenderedFile]) -> None:
    for path in [p for p in files if p.endswith(".html")]:
        page = outline(text(files, path))
        assert page.all("html") == [{"lang": "en"}], path
        assert len(page.all("h1")) == 1, path
        assert len(page.all("main")) == 1 and page.all("header") and page.all("footer"), path
        assert not page.all("script") and not page.all("img") and not page.all("iframe"), path
        assert not [a for _, a in page.tags if any(k.startswith("on") for k in a)], path
        assert not [a for _, a in page.tags if "style" in a], path  # the CSP allows none
        links = [a["href"] for a in page.all("a") + page.all("link")]
        assert all(h == "data:," or (h and not re.match(r"^[a-z]+:", h)) for h in links), path
        csp = next(a for a in page.all("meta") if a.get("http-equiv") == "Content-Security-Policy")
        assert "default-src 'none'" in (csp["content"] or "")
        # the one inline stylesheet is allowed by its hash (else browsers would drop it)
        style = re.search(r"<style>(.*?)</style>", text(files, path), re.S)
        assert style is not None
        digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
        assert f"style-src 'sha256-{digest}'" in (csp["content"] or ""), path
        feeds = {a["type"] for a in page.all("link") if a.get("rel") == "alternate"}
        assert feeds == {"application/atom+xml", "application/rss+xml"}


def test_index_content(files: dict[str, RenderedFile]) -> None:
    html = text(files, "index.html")
    page = outline(html)
    words = " ".join(" ".join(page.text).split())
    assert "Partial System Outage" in words
    for name in [
        "Checkout errors",
        "Slow responses",
        "Network maintenance",
        "Search index rebuild",
    ]:
        assert name in words
    assert "A bad deploy.\nRolling back." in html and "Errors at checkout." in html
    assert "Payments failing" in words  # yesterday, in the history
    assert "Database upgrade" in words  # a completed maintenance, in the history
    assert "Long forgotten" not in words  # older than the history
    assert "Webhooks" in words  # only_show_if_degraded, under maintenance now
    assert "Checkout Major outage" in words and "Search Degraded performance" in words
    headings = [a.get("id") for a in page.all("h2")]
    assert headings == ["overall", "active", "maintenance", "components", "history"]
    days = re.findall(r"<h3>(\d+ \w+ 2024)</h3>", html)
    assert days == ["9 March 2024", "2 March 2024"]  # newest first
    bars = [
        a for a in page.all("li") if (a.get("class") or "").startswith("l") and a.get("aria-label")
    ]
    assert len(bars) == 3 * 90  # Checkout, Payments API, Search; Webhooks is no showcase
    assert all(a["title"] == a["aria-label"] for a in bars)
    assert "over the last 90 days" in words
    assert 'href="incidents/inc-checkout.html"' in html and 'href="incidents/inc-db.html"' in html


def test_only_show_if_degraded_components_hide_while_operational() -> None:
    html = text(render([r for r in scenario() if r.id != "mnt-network"]), "index.html")
    assert "Webhooks" not in html


def test_detail_pages() -> None:
    files = render()
    html = text(files, "incidents/inc-checkout.html")
    page = outline(html)
    words = " ".join(" ".join(page.text).split())
    assert [h for h in re.findall(r"<h1>(.*?)</h1>", html)] == ["Checkout errors"]
    assert "Major impact" in words and "Identified" in words and "Investigating" in words
    assert words.index("A bad deploy.") < words.index("Errors at checkout.")  # newest first
    assert "10 March 2024, 10:30 UTC" in words
    assert "Checkout Now: Major outage" in words and "Payments API Now: Partial outage" in words
    assert 'href="../index.html"' in html
    maintenance = text(files, "incidents/mnt-search.html")
    assert "Scheduled for 12 March 2024, 22:00 \u2013 23:30 UTC" in maintenance


def test_detail_times_are_in_the_pages_time_zone() -> None:
    page = StatusPageConfig(id="public", name="Acme", time_zone="Europe/Berlin")
    config = CONFIG.model_copy(update={"pages": [page]})
    files = render_page(config, page, scenario(), NOW, BASE)
    words = " ".join(outline(text(files, "incidents/inc-checkout.html")).text)
    assert "10 March 2024, 11:30 CET" in words
    assert "Times are shown in Europe/Berlin" in text(files, "index.html")


# --- feeds ------------------------------------------------------------------------------------------------


def test_atom_feed(files: dict[str, RenderedFile]) -> None:
    feed = ET.fromstring(files["history.atom"].body)
    assert feed.tag == f"{ATOM}feed"
    for required in ["id", "title", "updated", "author"]:
        assert feed.find(f"{ATOM}{required}") is not None, required
    assert feed.findtext(f"{ATOM}updated") == "2024-03-10T11:00:00.000Z"
    self_link = [
        link.get("href") for link in feed.findall(f"{ATOM}link") if link.get("rel") == "self"
    ]
    assert self_link == [f"{BASE}/history.atom"]
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}id") for e in entries] == [
        f"{BASE}/incidents/{i}.html"
        for i in [
            "mnt-network",  # ties on updated_at: by id, descending
            "inc-latency",
            "inc-checkout",
            "inc-db",
            "mnt-search",
            "mnt-done",
            "inc-old",
        ]
    ]
    latency = entries[1]
    for required in ["title", "updated", "published", "content"]:
        assert latency.find(f"{ATOM}{required}") is not None, required
    link, content = latency.find(f"{ATOM}link"), latency.find(f"{ATOM}content")
    assert link is not None and link.get("href") == f"{BASE}/incidents/inc-latency.html"
    assert content is not None and content.get("type") == "html"
    assert "Pages load slowly." in (content.text or "")
    assert latency.findtext(f"{ATOM}published") == "2024-03-10T11:00:00.000Z"


def test_rss_feed(files: dict[str, RenderedFile]) -> None:
    rss = ET.fromstring(files["history.rss"].body)
    assert rss.tag == "rss" and rss.get("version") == "2.0"
    channel = rss.find("channel")
    assert channel is not None
    for required in ["title", "link", "description"]:
        assert channel.findtext(required), required
    assert channel.findtext("lastBuildDate") == "Sun, 10 Mar 2024 11:00:00 GMT"
    items = channel.findall("item")
    assert len(items) == 7
    network = items[0]
    assert network.findtext("title") == "Network maintenance"
    assert network.findtext("link") == f"{BASE}/incidents/mnt-network.html"
    assert network.findtext("guid") == f"{BASE}/incidents/mnt-network.html"
    assert network.findtext("pubDate") == "Thu, 07 Mar 2024 09:00:00 GMT"
    description = network.findtext("description", "")
    assert "Started." in description and "Network work ahead." in description
    assert "Scheduled for 10 March 2024, 11:00 \u2013 14:00 UTC" in description


def test_feeds_carry_the_newest_fifty_by_update() -> None:
    records = [
        make(f"inc-{n:03d}", f"Incident {n}", [("resolved", NOW - timedelta(hours=n), "x", {})])
        for n in range(60)
    ]
    files = render(records)
    entries = ET.fromstring(files["history.atom"].body).findall(f"{ATOM}entry")
    assert len(entries) == 50
    assert entries[0].findtext(f"{ATOM}title") == "Incident 0"
    assert len(ET.fromstring(files["history.rss"].body).findall("channel/item")) == 50


# --- hostile text -----------------------------------------------------------------------------------------

HOSTILE_NAME = "<script>alert(1)</script> & ]]> Co"
HOSTILE_BODY = '"><img src=x onerror=alert(1)> & ]]> <b>bold</b> \x00\x1b done'


def hostile_files() -> dict[str, RenderedFile]:
    config = StatusPagesConfig.model_validate(
        {
            "components": [{"name": "Checkout", "description": '<i onmouseover="x()">desc</i>'}],
            "pages": [
                {
                    "id": "public",
                    "name": 'Acme <Status> & "Co"',
                    "description": "<marquee>hi</marquee>",
                }
            ],
        }
    )
    record = make(
        "inc-x", HOSTILE_NAME, [("investigating", NOW - MIN, HOSTILE_BODY, {"Checkout": MAJOR})]
    )
    return render_page(config, config.pages[0], [record], NOW, BASE)


def test_hostile_text_is_escaped_in_html() -> None:
    files = hostile_files()
    for path in ["index.html", "incidents/inc-x.html"]:
        html = text(files, path)
        for raw in ["<script>", "<img", "<b>", "<i ", "<marquee>", "<Status>"]:
            assert raw not in html, (path, raw)
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; ]]&gt; Co" in html
        assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt; &amp;" in html
        assert "Acme &lt;Status&gt; &amp; &#34;Co&#34;" in html
        page = outline(html)
        assert not page.all("script") and not page.all("img"), path
        assert HOSTILE_NAME in "".join(page.text)  # what the reader sees is the text as written


def test_hostile_text_is_escaped_in_feeds() -> None:
    files = hostile_files()
    atom, rss = files["history.atom"].body, files["history.rss"].body
    for feed in (atom, rss):
        assert b"<script>" not in feed and b"<img" not in feed and b"\x00" not in feed
    entry = ET.fromstring(atom).find(f"{ATOM}entry")
    assert entry is not None
    assert entry.findtext(f"{ATOM}title") == HOSTILE_NAME
    content = entry.findtext(f"{ATOM}content", "")
    # the content is HTML: the body is in it as escaped text, never as markup
    assert "&lt;img src=x onerror=alert(1)&gt;" in content and "<img" not in content
    assert "&lt;b&gt;bold&lt;/b&gt;" in content
    item = ET.fromstring(rss).find("channel/item")
    assert item is not None and item.findtext("title") == HOSTILE_NAME
    assert "&lt;img src=x" in item.findtext("description", "")


def test_hostile_text_is_kept_as_written_in_json() -> None:
    incident = doc(hostile_files(), "api/v2/incidents.json")["incidents"][0]
    assert incident["name"] == HOSTILE_NAME
    assert incident["incident_updates"][0]["body"] == HOSTILE_BODY

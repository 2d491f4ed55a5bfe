"""Configuration as code: severities, severity mapping, grouping, services, maintenance.

The models are pure pydantic; `tocsin.config_loader` reads them from YAML files with line
numbers for every error.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tocsin.domain.action_items import ActionItemsConfig
from tocsin.domain.chatops import ChatOpsConfig, permission_problems
from tocsin.domain.durations import Duration
from tocsin.domain.oncall import EscalationPolicy, PagingConfig, RoleConfig, _default_roles
from tocsin.domain.response import (
    BusinessHours,
    Integrations,
    Person,
    StakeholderGroup,
    TeamConfig,
    Workflow,
)
from tocsin.domain.runbooks import RunbooksConfig
from tocsin.domain.schedules import Schedule
from tocsin.domain.statuspage import StatusPagesConfig, status_page_problems


def _check_regexes(patterns: dict[str, str]) -> dict[str, str]:
    for key, pattern in patterns.items():
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(
                f"label {key!r}: invalid regular expression {pattern!r}: {exc}"
            ) from None
    return patterns


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlaPolicy(Strict):
    """Response targets of a severity; the sweeper enforces them (reminds, flags, counts)."""

    #: a triggered incident not acknowledged within this is flagged (once)
    acknowledge_within: Duration | None = None
    #: no stakeholder update within this after opening is flagged (once)
    first_update_within: Duration | None = None
    #: a stakeholder update is due this long after the last one: the Communications Lead is
    #: reminded in the incident channel
    update_every: Duration | None = None


class SeverityLevel(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,20}$")
    description: str = ""
    #: after every alert of a mitigated incident has resolved, resolve it after this quiet time
    auto_resolve_after: Duration | None = None
    sla: SlaPolicy = SlaPolicy()
    #: who is paged: `team` (the service's team), team names or people ids (paging uses it)
    page: list[str] = Field(default_factory=list)
    #: whether incidents of this severity go on the status page
    status_page: bool = False
    #: stakeholder groups informed of incidents of this severity
    stakeholders: list[str] = Field(default_factory=list)


class SeverityRule(Strict):
    """First matching rule gives an alert's severity. All given conditions must hold."""

    sources: list[str] = Field(default_factory=list)
    hints: list[str] = Field(default_factory=list)  # case-insensitive, the source's severity
    labels: dict[str, str] = Field(default_factory=dict)  # label -> full-match regex
    title: str | None = None  # regex searched in the title
    severity: str

    _labels = field_validator("labels")(_check_regexes)


class GroupingRule(Strict):
    """Alerts matching `sources`/`match` with equal values of `by` join one open incident,
    as long as it was opened less than `window` ago."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    sources: list[str] = Field(default_factory=list)
    match: dict[str, str] = Field(default_factory=dict)
    by: list[str] = Field(min_length=1)  # label names; "service" means the resolved service
    window: Duration = timedelta(minutes=30)

    _match = field_validator("match")(_check_regexes)


class ServiceConfig(Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str = ""
    #: the team that owns the service: its people respond to the service's incidents
    team: str | None = None
    #: status page components the service backs
    components: list[str] = Field(default_factory=list)
    #: alerts whose labels match (label -> full-match regex) belong to this service
    match: dict[str, str] = Field(default_factory=dict)

    _match = field_validator("match")(_check_regexes)


class MaintenanceWindow(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    starts_at: datetime
    ends_at: datetime
    services: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)  # label -> full-match regex
    reason: str = ""

    _labels = field_validator("labels")(_check_regexes)

    @model_validator(mode="after")
    def _check(self) -> MaintenanceWindow:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("starts_at and ends_at need a time zone (e.g. 2026-11-27T02:00:00Z)")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if not self.services and not self.labels:
            raise ValueError("a maintenance window needs `services` or `labels` to match")
        return self


class TocsinConfig(Strict):
    severities: list[SeverityLevel] = Field(min_length=1)
    default_severity: str
    severity_rules: list[SeverityRule] = Field(default_factory=list)
    service_label: str = "service"
    services: list[ServiceConfig] = Field(default_factory=list)
    grouping: list[GroupingRule] = Field(default_factory=list)
    maintenance_windows: list[MaintenanceWindow] = Field(default_factory=list)
    people: list[Person] = Field(default_factory=list)
    teams: list[TeamConfig] = Field(default_factory=list)
    stakeholders: list[StakeholderGroup] = Field(default_factory=list)
    business_hours: BusinessHours = BusinessHours()
    integrations: Integrations = Integrations()
    workflows: list[Workflow] = Field(default_factory=list)
    schedules: list[Schedule] = Field(default_factory=list)
    escalation_policies: list[EscalationPolicy] = Field(default_factory=list)
    roles: list[RoleConfig] = Field(default_factory=_default_roles)
    paging: PagingConfig = PagingConfig()
    status_pages: StatusPagesConfig = StatusPagesConfig()
    chatops: ChatOpsConfig = ChatOpsConfig()
    runbooks: RunbooksConfig = RunbooksConfig()
    action_items: ActionItemsConfig = ActionItemsConfig()

    @model_validator(mode="after")
    def _cross_check(self, info: ValidationInfo) -> TocsinConfig:
        names = [level.name for level in self.severities]
        if len(set(names)) != len(names):
            raise ValueError(f"severity names must be unique: {names}")
        if self.default_severity not in names:
            raise ValueError(f"default_severity {self.default_severity!r} is not one of {names}")
        for index, rule in enumerate(self.severity_rules):
            if rule.severity not in names:
                raise ValueError(
                    f"severity_rules[{index}].severity {rule.severity!r} is not one of {names}"
                )
        if not (info.context or {}).get("defer_references"):
            problems = reference_problems(self)
            if problems:
                raise ValueError("; ".join(f"{_dotted(loc)}: {msg}" for loc, msg in problems))
        return self

    # --- lookups ------------------------------------------------------------------------------
    def person(self, person_id: str) -> Person | None:
        return next((p for p in self.people if p.id == person_id), None)

    def team(self, name: str | None) -> TeamConfig | None:
        return next((t for t in self.teams if t.name == name), None)

    def service(self, name: str | None) -> ServiceConfig | None:
        return next((s for s in self.services if s.name == name), None)

    def schedule(self, name: str | None) -> Schedule | None:
        return next((s for s in self.schedules if s.name == name), None)

    def escalation_policy(self, name: str | None) -> EscalationPolicy | None:
        return next((p for p in self.escalation_policies if p.name == name), None)

    def role(self, role_id: str) -> RoleConfig | None:
        return next((r for r in self.roles if r.id == role_id), None)

    def stakeholder_group(self, name: str) -> StakeholderGroup | None:
        return next((g for g in self.stakeholders if g.name == name), None)

    def team_of(self, service: str | None) -> TeamConfig | None:
        found = self.service(service)
        return self.team(found.team) if found else None

    @property
    def severity_names(self) -> list[str]:
        return [level.name for level in self.severities]

    def severity_rank(self, name: str) -> int:
        """0 is the most severe."""
        return self.severity_names.index(name)

    def level(self, name: str) -> SeverityLevel:
        return self.severities[self.severity_rank(name)]


Loc = tuple[str | int, ...]


def _dotted(loc: Loc) -> str:
    return ".".join(str(part) for part in loc)


def _unique(kind: str, where: str, names: list[str]) -> list[tuple[Loc, str]]:
    seen: set[str] = set()
    repeated: list[str] = []
    for name in names:
        if name in seen:
            repeated.append(name)
        seen.add(name)
    if not repeated:
        return []
    return [((where,), f"{kind} names must be unique: {', '.join(sorted(set(repeated)))} repeated")]


def reference_problems(config: TocsinConfig) -> list[tuple[Loc, str]]:
    """Names used in one place must be defined in another (teams, people, severities...).
    Each problem comes with its location in the configuration."""
    people = {p.id for p in config.people}
    teams = {t.name for t in config.teams}
    groups = {g.name for g in config.stakeholders}
    severities = set(config.severity_names)
    services = {s.name for s in config.services}
    problems = (
        _unique("people", "people", [p.id for p in config.people])
        + _unique("team", "teams", [t.name for t in config.teams])
        + _unique("stakeholder group", "stakeholders", [g.name for g in config.stakeholders])
        + _unique("service", "services", [s.name for s in config.services])
        + _unique("workflow", "workflows", [w.name for w in config.workflows])
    )

    def check(where: Loc, kind: str, used: list[str], known: set[str]) -> None:
        for index, name in enumerate(used):
            if name not in known:
                shown = ", ".join(sorted(known)) or "none defined"
                problems.append(((*where, index), f"unknown {kind} {name!r} (known: {shown})"))

    for i, team in enumerate(config.teams):
        check(("teams", i, "owners"), "person", team.owners, people)
        check(("teams", i, "members"), "person", team.members, people)
    for i, group in enumerate(config.stakeholders):
        check(("stakeholders", i, "people"), "person", group.people, people)
    for i, svc in enumerate(config.services):
        if svc.team is not None and svc.team not in teams:
            shown = ", ".join(sorted(teams)) or "none defined"
            problems.append(
                (("services", i, "team"), f"unknown team {svc.team!r} (known: {shown})")
            )
    for i, level in enumerate(config.severities):
        check(("severities", i, "stakeholders"), "stakeholder group", level.stakeholders, groups)
        for j, target in enumerate(level.page):
            if target != "team" and target not in teams | people:
                problems.append(
                    (("severities", i, "page", j), f"{target!r} is not `team`, a team or a person")
                )
    policies = {p.name for p in config.escalation_policies}
    problems += _unique(
        "escalation policy", "escalation_policies", [p.name for p in config.escalation_policies]
    )
    problems += _unique("role", "roles", [r.id for r in config.roles])
    for i, team in enumerate(config.teams):
        if team.escalation_policy is not None and team.escalation_policy not in policies:
            shown = ", ".join(sorted(policies)) or "none defined"
            problems.append(
                (
                    ("teams", i, "escalation_policy"),
                    f"unknown escalation policy {team.escalation_policy!r} (known: {shown})",
                )
            )
    schedules = {s.name for s in config.schedules}
    problems += _unique("schedule", "schedules", [s.name for s in config.schedules])
    for i, schedule in enumerate(config.schedules):
        for j, layer in enumerate(schedule.layers):
            check(
                ("schedules", i, "layers", j, "rotation", "people"),
                "person",
                layer.rotation.people,
                people,
            )
        for j, override in enumerate(schedule.overrides):
            check(("schedules", i, "overrides", j, "person"), "person", [override.person], people)
    for i, team in enumerate(config.teams):
        check(("teams", i, "schedules"), "schedule", team.schedules, schedules)
    for i, policy in enumerate(config.escalation_policies):
        targets = [
            (("escalation_policies", i, "levels", j, "targets", k), esc_target)
            for j, esc_level in enumerate(policy.levels)
            for k, esc_target in enumerate(esc_level.targets)
        ] + [
            (("escalation_policies", i, "fallback", k), esc_target)
            for k, esc_target in enumerate(policy.fallback)
        ]
        for where, esc_target in targets:
            if esc_target.person:
                check((*where, "person"), "person", [esc_target.person], people)
            if esc_target.schedule:
                check((*where, "schedule"), "schedule", [esc_target.schedule], schedules)
    for i, role in enumerate(config.roles):
        for severity in role.assign:
            if severity not in severities:
                shown = ", ".join(config.severity_names)
                problems.append(
                    (
                        ("roles", i, "assign", severity),
                        f"unknown severity {severity!r} (known: {shown})",
                    )
                )
        for severity, source in sorted(role.assign.items()):
            if source != "team" and source not in schedules:
                shown = ", ".join(sorted(schedules)) or "none defined"
                problems.append(
                    (
                        ("roles", i, "assign", severity),
                        f"{source!r} is not `team` or a schedule (known: {shown})",
                    )
                )
    problems += [
        (("status_pages", *loc), msg) for loc, msg in status_page_problems(config.status_pages)
    ]
    problems += permission_problems(
        config.chatops, {r.id for r in config.roles}, people, teams, severities
    )
    components = {c.name for c in config.status_pages.components}
    if components:  # without status page components, a service's are free text
        for i, svc in enumerate(config.services):
            check(
                ("services", i, "components"), "status page component", svc.components, components
            )
    for field in ("impact", "component_status"):
        for severity in getattr(config.status_pages, field):
            if severity not in severities:
                shown = ", ".join(config.severity_names)
                problems.append(
                    (
                        ("status_pages", field, severity),
                        f"unknown severity {severity!r} (known: {shown})",
                    )
                )
    for status, wording in config.status_pages.templates.items():
        for key in wording:
            if key != "default" and key not in severities:
                shown = ", ".join(["default", *config.severity_names])
                problems.append(
                    (
                        ("status_pages", "templates", status.value, key),
                        f"unknown severity {key!r} (known: {shown})",
                    )
                )
    for i, flow in enumerate(config.workflows):
        check(("workflows", i, "when", "severities"), "severity", flow.when.severities, severities)
        check(("workflows", i, "when", "services"), "service", flow.when.services, services)
        check(("workflows", i, "when", "teams"), "team", flow.when.teams, teams)
        for j, action in enumerate(flow.actions):
            if action.type == "page" and action.params.get("policy") is not None:
                check(
                    ("workflows", i, "actions", j, "page", "policy"),
                    "escalation policy",
                    [action.params["policy"]],
                    policies,
                )
            if action.type == "update_status_page" and action.params.get("pages"):
                check(
                    ("workflows", i, "actions", j, "update_status_page", "pages"),
                    "status page",
                    action.params["pages"],
                    {p.id for p in config.status_pages.pages},
                )
            if action.type == "invite":
                invited = action.params.get("people", [])
                check(("workflows", i, "actions", j, "invite", "people"), "person", invited, people)
    for i, page in enumerate(config.runbooks.wiki):
        check(("runbooks", "wiki", i, "services"), "service", page.services, services)
        check(("runbooks", "wiki", i, "owner"), "team or person", [page.owner], teams | people)
    return problems

"""Chat-ops configuration (`chatops:`): who may do what from chat.

chatops:
  permissions:
    # each list: incident roles (their holder on the incident), person ids, team names, or
    # one of the words: `anyone` (any chat user), `responders` (any configured person),
    # `team` (the people of the incident's service team)
    statuspage: [communications, commander]   # publish to status pages
    declare: [anyone]                         # declare an incident
    severity:                                 # declare at, or raise to, this severity
      SEV1: [responders]                      # or worse (default: the most severe level)
    resolve: [commander, team]                # /incident status resolved, the Resolve button
    roles: [commander, team]                  # /incident role … @someone
    respond: [responders]                     # sev, status, page, update, acknowledge, escalate
    # when no role in a list is held on the incident, the people of the incident's
    # service team may (default true)
    team_when_unassigned: true
  # the reaction that marks a message of an incident channel as a key event (removing it
  # unmarks it); other reactions are recorded as reactions
  key_event_reaction: pushpin
  # copies of files shared in incident channels (chat URLs expire): images up to
  # copy_images_max_bytes, other files up to copy_files_max_bytes (0: images only)
  copy_images_max_bytes: 26214400
  copy_files_max_bytes: 10485760

Notes, decisions, action items, the timeline and the summary are open to everyone in the
incident channel: they only add to the record.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

#: the words an entry of a permission list may be besides roles, people and teams
ANYONE = "anyone"
RESPONDERS = "responders"
TEAM = "team"
WORDS = (ANYONE, RESPONDERS, TEAM)
#: the ids of chat-ops buttons and selects (Slack's action_id, Teams' Action.Submit `action`)
PUBLISH = "tocsin.statuspage.publish"
CANCEL = "tocsin.statuspage.cancel"
ACKNOWLEDGE = "tocsin.incident.acknowledge"
ESCALATE = "tocsin.incident.escalate"
SET_SEVERITY = "tocsin.incident.severity"
RESOLVE = "tocsin.incident.resolve"
#: a runbook helped (or not) in an incident: value `<incident id> <runbook id>`
RUNBOOK_HELPFUL = "tocsin.runbook.helpful"
RUNBOOK_UNHELPFUL = "tocsin.runbook.unhelpful"
#: who may publish to status pages when the configuration says nothing
DEFAULT_STATUSPAGE = ("communications", "commander")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChatOpsPermissions(Strict):
    #: who may publish an incident to its status pages from chat
    statuspage: list[str] = Field(default_factory=lambda: list(DEFAULT_STATUSPAGE))
    #: who may declare an incident (at a severity not listed under `severity`)
    declare: list[str] = Field(default_factory=lambda: [ANYONE])
    #: severity -> who may declare an incident at it (or more severe) or raise one to it;
    #: unset: the most severe configured level is for `responders`, whatever it is called
    severity: dict[str, list[str]] = Field(default_factory=dict)
    #: who may resolve an incident
    resolve: list[str] = Field(default_factory=lambda: ["commander", TEAM])
    #: who may hand incident roles over
    roles: list[str] = Field(default_factory=lambda: ["commander", TEAM])
    #: who may steer: severity (other than listed), status, page, update, acknowledge, escalate
    respond: list[str] = Field(default_factory=lambda: [RESPONDERS])
    #: when none of the roles a list names is held on the incident, the people of the
    #: incident's service team (owners and members) may — never an unknown chat user
    team_when_unassigned: bool = True

    def lists(self) -> dict[str, list[str]]:
        """Every permission list by its name (severity lists as `severity.SEV1`)."""
        named = {
            "statuspage": self.statuspage,
            "declare": self.declare,
            "resolve": self.resolve,
            "roles": self.roles,
            "respond": self.respond,
        }
        return named | {f"severity.{sev}": entries for sev, entries in self.severity.items()}


class ChatOpsConfig(Strict):
    permissions: ChatOpsPermissions = ChatOpsPermissions()
    #: a reaction name as the chat tool spells it (Slack: `pushpin`, without colons)
    key_event_reaction: str = Field(default="pushpin", pattern=r"^[a-z0-9_+'-]{1,100}$")
    #: the largest image copied off the chat tool (a larger one is recorded, not copied)
    copy_images_max_bytes: int = Field(default=25 * 1024 * 1024, ge=0, le=200 * 1024 * 1024)
    #: the largest other file copied (0: only images are copied)
    copy_files_max_bytes: int = Field(default=10 * 1024 * 1024, ge=0, le=200 * 1024 * 1024)


def permission_problems(
    config: ChatOpsConfig,
    roles: set[str],
    people: set[str],
    teams: set[str],
    severities: set[str] | None = None,
) -> list[tuple[tuple[str | int, ...], str]]:
    """Every entry of a permission list must be a role, a person, a team or one of WORDS;
    `severity` keys must be configured severities."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    explicit = config.permissions.model_fields_set
    for action, entries in config.permissions.lists().items():
        path: tuple[str | int, ...] = ("chatops", "permissions", *action.split(".", 1))
        for index, entry in enumerate(entries):
            if entry not in WORDS and entry not in roles | people | teams:
                problems.append(
                    (
                        (*path, index),
                        f"{entry!r} is not {', '.join(f'`{w}`' for w in WORDS)}, an incident "
                        f"role ({', '.join(sorted(roles))}), a person or a team",
                    )
                )
    if severities is not None and "severity" in explicit:
        for severity in config.permissions.severity:
            if severity not in severities:
                problems.append(
                    (
                        ("chatops", "permissions", "severity", severity),
                        f"{severity!r} is not a configured severity "
                        f"({', '.join(sorted(severities))})",
                    )
                )
    return problems

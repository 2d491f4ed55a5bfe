"""Chat-ops configuration (`chatops:`): who may do what from chat.

chatops:
  permissions:
    # incident roles (the incident's holder), person ids, team names, or `anyone`
    statuspage: [communications, commander]
    # when no role in the list is held on the incident, the people of the incident's
    # service team may (default true); `anyone` in the list lets every chat user publish
    team_when_unassigned: true
  # the reaction that marks a message of an incident channel as a key event (removing it
  # unmarks it); other reactions are recorded as reactions
  key_event_reaction: pushpin
  # copies of files shared in incident channels (chat URLs expire): images up to
  # copy_images_max_bytes, other files up to copy_files_max_bytes (0: images only)
  copy_images_max_bytes: 26214400
  copy_files_max_bytes: 10485760
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

#: the words an entry of a permission list may be besides roles, people and teams
ANYONE = "anyone"
#: who may publish to status pages when the configuration says nothing
DEFAULT_STATUSPAGE = ("communications", "commander")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChatOpsPermissions(Strict):
    #: who may publish an incident to its status pages from chat
    statuspage: list[str] = Field(default_factory=lambda: list(DEFAULT_STATUSPAGE))
    #: when none of the roles a list names is held on the incident, the people of the
    #: incident's service team (owners and members) may — never an unknown chat user
    team_when_unassigned: bool = True


class ChatOpsConfig(Strict):
    permissions: ChatOpsPermissions = ChatOpsPermissions()
    #: a reaction name as the chat tool spells it (Slack: `pushpin`, without colons)
    key_event_reaction: str = Field(default="pushpin", pattern=r"^[a-z0-9_+'-]{1,100}$")
    #: the largest image copied off the chat tool (a larger one is recorded, not copied)
    copy_images_max_bytes: int = Field(default=25 * 1024 * 1024, ge=0, le=200 * 1024 * 1024)
    #: the largest other file copied (0: only images are copied)
    copy_files_max_bytes: int = Field(default=10 * 1024 * 1024, ge=0, le=200 * 1024 * 1024)


def permission_problems(
    config: ChatOpsConfig, roles: set[str], people: set[str], teams: set[str]
) -> list[tuple[tuple[str | int, ...], str]]:
    """Every entry of a permission list must be a role, a person, a team or `anyone`."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    lists = {"statuspage": config.permissions.statuspage}
    for action, entries in lists.items():
        for index, entry in enumerate(entries):
            if entry != ANYONE and entry not in roles | people | teams:
                problems.append(
                    (
                        ("chatops", "permissions", action, index),
                        f"{entry!r} is not `anyone`, an incident role "
                        f"({', '.join(sorted(roles))}), a person or a team",
                    )
                )
    return problems

"""Runbooks: what a runbook says about itself (its front matter), where runbooks come from
(repository files, wiki pages described in the configuration), and the staleness rules.

A runbook is only useful if it is found at 3 a.m. and is right: the front matter says which
services and alerts a runbook covers (so it can be suggested) and who keeps it current and
since when (so it can be flagged when it goes stale). Pure: no AWS, no files.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: ids appear in URLs (`/v1/runbooks/{id}/open`) and in DynamoDB keys
RUNBOOK_ID = r"^[a-z0-9][a-z0-9_.-]{0,99}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AlertMatcher(_Strict):
    """Which alerts a runbook covers: an alert name (Alertmanager's `alertname` label or the
    alert's title, case-insensitive) and/or labels (label -> full-match regex, like a
    service's `match`). Every condition given must hold."""

    name: str | None = Field(default=None, min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("labels")
    @classmethod
    def _regexes(cls, labels: dict[str, str]) -> dict[str, str]:
        for key, pattern in labels.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", key):
                raise ValueError(f"label matcher {key!r}: not a label name")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"label matcher {key}={pattern!r}: invalid regular expression: {exc}"
                ) from None
        return labels

    @model_validator(mode="before")
    @classmethod
    def _name_alone(cls, value: object) -> object:
        """`- HighLatency` is short for `- {name: HighLatency}`."""
        return {"name": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _something(self) -> AlertMatcher:
        if self.name is None and not self.labels:
            raise ValueError("an alert matcher needs `name` and/or `labels`")
        return self


class RunbookMeta(_Strict):
    """The front matter of a runbook file (and the entry of a wiki page in the config)."""

    #: default: the file name without `.md`
    id: str | None = Field(default=None, pattern=RUNBOOK_ID)
    title: str = Field(min_length=1, max_length=200)
    services: list[str] = Field(default_factory=list)
    alerts: list[AlertMatcher] = Field(default_factory=list)
    #: the team (or person) who keeps it current
    owner: str = Field(min_length=1)
    last_reviewed: date
    #: default: runbooks.review_interval_days of the configuration
    review_interval_days: int | None = Field(default=None, ge=1, le=3650)
    #: where it is read; repository runbooks without one are rendered by Tocsin
    url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    #: extra words it should be found by (indexed with the title)
    tags: list[str] = Field(default_factory=list)

    @field_validator("tags", mode="before")
    @classmethod
    def _words(cls, value: object) -> object:
        """`tags: [502, 503]` reads as numbers in YAML: they are words here."""
        if isinstance(value, list):
            return [str(v) if isinstance(v, int | float) else v for v in value]
        return value

    @field_validator("last_reviewed", mode="before")
    @classmethod
    def _a_date(cls, value: object) -> object:
        """YAML reads 2026-11-02 as a date already; a string must be exactly that form (no
        '11/02/2026' guessing)."""
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            raise ValueError(f"{value!r} is not a date like 2026-11-02")
        return value


class RunbookSource(StrEnum):
    REPOSITORY = "repository"
    WIKI = "wiki"


class Runbook(BaseModel):
    """A runbook as Tocsin knows it: metadata, where it came from, and (for files) its body."""

    model_config = ConfigDict(frozen=True)

    id: str
    meta: RunbookMeta
    source: RunbookSource
    #: the file it was read from, relative to the repository (repository runbooks)
    path: str | None = None
    #: Markdown without the front matter (empty for wiki pages: indexed by their metadata)
    body: str = ""

    @property
    def title(self) -> str:
        return self.meta.title

    @property
    def url(self) -> str | None:
        return self.meta.url


class WikiRunbook(RunbookMeta):
    """A page of an existing wiki, described in the configuration: indexed by its metadata
    (Tocsin never fetches it)."""

    id: str = Field(pattern=RUNBOOK_ID)  # type: ignore[assignment]
    url: str = Field(pattern=r"^https?://\S+$")  # type: ignore[assignment]
    #: a few sentences of what it covers: indexed for text relevance
    summary: str = ""


class RunbooksConfig(_Strict):
    """`runbooks:` in the configuration."""

    #: the runbook files (`*.md`), relative to the directory that holds the config directory
    directory: str = Field(default="runbooks", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_./-]*$")
    #: a runbook not reviewed for this long is stale (a runbook can set its own)
    review_interval_days: int = Field(default=180, ge=1, le=3650)
    #: a runbook neither suggested nor opened for this long is flagged as unused
    unused_days: int = Field(default=90, ge=1)
    #: flagged as unhelpful at this share of "not helpful" votes...
    unhelpful_ratio: float = Field(default=0.5, gt=0, le=1)
    #: ...once it has at least this many votes
    min_feedback: int = Field(default=2, ge=1)
    #: how many runbooks the channel summary suggests
    suggest: int = Field(default=3, ge=0, le=10)
    #: how long a tracked runbook link in a channel works
    link_ttl_days: int = Field(default=90, ge=1)
    #: pages of an existing wiki
    wiki: list[WikiRunbook] = Field(default_factory=list)

    @field_validator("directory")
    @classmethod
    def _inside(cls, value: str) -> str:
        """It ships in the Lambda bundle beside config/: it cannot reach outside."""
        if ".." in value.split("/"):
            raise ValueError("the runbook directory must not contain `..`")
        return value


# --- staleness ------------------------------------------------------------------------------------
class StaleReason(StrEnum):
    REVIEW_OVERDUE = "review_overdue"
    UNUSED = "unused"
    UNHELPFUL = "unhelpful"


class RunbookStats(BaseModel):
    """How a runbook has been used (counters kept in DynamoDB)."""

    suggested: int = 0
    opened: int = 0
    helpful: int = 0
    unhelpful: int = 0
    last_suggested_at: datetime | None = None
    last_opened_at: datetime | None = None


class StalenessEntry(BaseModel):
    id: str
    title: str
    owner: str
    last_reviewed: date
    review_due: date
    stats: RunbookStats
    flags: list[StaleReason]
    #: one line per flag, for people
    notes: list[str]


def staleness(
    runbook: Runbook, stats: RunbookStats, config: RunbooksConfig, today: date
) -> StalenessEntry:
    """The staleness rules, each independent:
    - review overdue: `last_reviewed` + the review interval is in the past;
    - unused: neither suggested nor opened in the last `unused_days` (a runbook reviewed within
      that time is new or freshly rewritten, and not flagged yet);
    - unhelpful: at least `min_feedback` votes, of which `unhelpful_ratio` or more said not
      helpful."""
    meta = runbook.meta
    interval = meta.review_interval_days or config.review_interval_days
    due = meta.last_reviewed + timedelta(days=interval)
    flags: list[StaleReason] = []
    notes: list[str] = []
    if due < today:
        flags.append(StaleReason.REVIEW_OVERDUE)
        notes.append(
            f"review overdue by {(today - due).days} days (last reviewed {meta.last_reviewed}, "
            f"every {interval} days)"
        )
    since = today - timedelta(days=config.unused_days)
    last_use = max(
        (t.date() for t in (stats.last_suggested_at, stats.last_opened_at) if t), default=None
    )
    if (last_use is None or last_use < since) and meta.last_reviewed < since:
        flags.append(StaleReason.UNUSED)
        notes.append(
            f"not suggested or opened in {config.unused_days} days"
            + (f" (last {last_use})" if last_use else " (never)")
        )
    votes = stats.helpful + stats.unhelpful
    if votes >= config.min_feedback and stats.unhelpful / votes >= config.unhelpful_ratio:
        flags.append(StaleReason.UNHELPFUL)
        notes.append(f"marked not helpful {stats.unhelpful} of {votes} times")
    return StalenessEntry(
        id=runbook.id,
        title=meta.title,
        owner=meta.owner,
        last_reviewed=meta.last_reviewed,
        review_due=due,
        stats=stats,
        flags=flags,
        notes=notes,
    )

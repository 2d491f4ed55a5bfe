"""Runbook files: each front-matter mistake is reported with its file and line by
`tocsin config validate`; the staleness rules flag what goes stale."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from tocsin.config_loader import load_config
from tocsin.domain.runbooks import (
    Runbook,
    RunbookMeta,
    RunbooksConfig,
    RunbookSource,
    RunbookStats,
    StaleReason,
    staleness,
)
from tocsin.runbook_loader import load_runbooks
from tocsin_local.cli import main

from tests.helpers import REPO

GOOD = """---
title: Disk full
services: [checkout]
alerts:
  - NodeFilesystemAlmostOutOfSpace
  - {labels: {mountpoint: "/var/lib/.*"}}
owner: payments
last_reviewed: 2026-10-01
---
# Disk full
Free space with `journalctl --vacuum-size=500M`.
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the configuration with an empty runbook directory beside it."""
    shutil.copytree(REPO / "config", tmp_path / "config")
    (tmp_path / "runbooks").mkdir()
    return tmp_path


def problems_of(repo: Path, name: str, text: str) -> list[str]:
    (repo / "runbooks" / name).write_text(text)
    config = load_config(repo / "config")
    return load_runbooks(config, repo / "runbooks")[1]


def test_the_shipped_runbooks_are_valid_and_counted() -> None:
    result = CliRunner().invoke(main, ["config", "validate", str(REPO / "config")])
    assert result.exit_code == 0, result.output
    assert "runbooks" in result.output


def test_a_good_runbook_has_no_problems(repo: Path) -> None:
    assert problems_of(repo, "disk-full.md", GOOD) == []


@pytest.mark.parametrize(
    ("case", "text", "line", "message"),
    [
        ("no front matter", "# Disk full\n", 1, "no front matter"),
        (
            "missing title",
            GOOD.replace("title: Disk full\n", ""),
            2,
            "missing front-matter key 'title'",
        ),
        (
            "missing owner",
            GOOD.replace("owner: payments\n", ""),
            2,
            "missing front-matter key 'owner'",
        ),
        (
            "unknown key",
            GOOD.replace("owner:", "severity: SEV1\nowner:"),
            7,
            "unknown front-matter key 'severity'",
        ),
        ("bad date", GOOD.replace("2026-10-01", "01/10/2026"), 8, "last_reviewed"),
        ("impossible date", GOOD.replace("2026-10-01", "2026-02-30"), 8, "last_reviewed"),
        (
            "unknown service",
            GOOD.replace("[checkout]", "[checkout, billing]"),
            3,
            "unknown service 'billing'",
        ),
        ("unknown owner", GOOD.replace("owner: payments", "owner: nobody"), 7, "owner 'nobody'"),
        (
            "bad label regex",
            GOOD.replace('"/var/lib/.*"', '"(unclosed"'),
            6,
            "invalid regular expression",
        ),
        (
            "empty matcher",
            GOOD.replace("  - NodeFilesystemAlmostOutOfSpace\n", "  - {}\n"),
            5,
            "needs `name` and/or `labels`",
        ),
        ("invalid YAML", GOOD.replace("owner: payments", "owner: [payments"), 8, "invalid YAML"),
    ],
)
def test_each_front_matter_error_names_the_file_and_line(
    repo: Path, case: str, text: str, line: int, message: str
) -> None:
    problems = problems_of(repo, "disk-full.md", text)
    assert len(problems) >= 1, case
    where = f"{repo / 'runbooks' / 'disk-full.md'}:{line}: "
    assert any(p.startswith(where) and message in p for p in problems), problems


def test_duplicate_ids_are_reported(repo: Path) -> None:
    (repo / "runbooks" / "a.md").write_text(GOOD.replace("title:", "id: disk\ntitle:"))
    problems = problems_of(repo, "b.md", GOOD.replace("title:", "id: disk\ntitle:"))
    assert any("b.md:1: duplicate runbook id 'disk'" in p for p in problems), problems


def test_validate_fails_with_the_problems_on_stderr(repo: Path) -> None:
    (repo / "runbooks" / "bad.md").write_text(GOOD.replace("[checkout]", "[nope]"))
    result = CliRunner().invoke(main, ["config", "validate", str(repo / "config")])
    assert result.exit_code == 1
    assert f"{repo / 'runbooks' / 'bad.md'}:3: unknown service 'nope'" in result.output


def test_wiki_pages_in_the_config_are_checked_like_files(repo: Path) -> None:
    (repo / "config" / "runbooks.yaml").write_text(
        "runbooks:\n  wiki:\n    - id: w\n      title: W\n      url: https://wiki/w\n"
        "      services: [nope]\n      owner: payments\n      last_reviewed: 2026-01-01\n"
    )
    from tocsin.domain.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        load_config(repo / "config")
    assert any(
        "runbooks.yaml:6: runbooks.wiki.0.services.0: unknown service 'nope'" in p
        for p in err.value.problems
    ), err.value.problems


# --- staleness ------------------------------------------------------------------------------------
TODAY = date(2026, 11, 27)
RULES = RunbooksConfig(
    review_interval_days=180, unused_days=90, unhelpful_ratio=0.5, min_feedback=2
)


def runbook(last_reviewed: date, interval: int | None = None) -> Runbook:
    meta = RunbookMeta(
        title="T", owner="payments", last_reviewed=last_reviewed, review_interval_days=interval
    )
    return Runbook(id="t", meta=meta, source=RunbookSource.REPOSITORY)


def used(day: date) -> RunbookStats:
    return RunbookStats(
        suggested=1, last_suggested_at=datetime(day.year, day.month, day.day, tzinfo=UTC)
    )


def test_review_overdue_uses_the_runbooks_own_interval_first() -> None:
    recent = used(date(2026, 11, 1))
    assert staleness(runbook(date(2026, 6, 1)), recent, RULES, TODAY).flags == []
    overdue = staleness(runbook(date(2026, 5, 1)), recent, RULES, TODAY)
    assert overdue.flags == [StaleReason.REVIEW_OVERDUE]
    assert overdue.notes[0].startswith("review overdue by 30 days")
    own = staleness(runbook(date(2026, 10, 1), interval=30), recent, RULES, TODAY)
    assert own.flags == [StaleReason.REVIEW_OVERDUE] and own.review_due == date(2026, 10, 31)


def test_unused_means_no_suggestion_or_open_in_the_window_unless_freshly_reviewed() -> None:
    reviewed = date(2026, 8, 1)  # more than 90 days ago, within the review interval
    assert StaleReason.UNUSED in staleness(runbook(reviewed), RunbookStats(), RULES, TODAY).flags
    old_use = staleness(runbook(reviewed), used(date(2026, 7, 1)), RULES, TODAY)
    assert old_use.flags == [StaleReason.UNUSED] and "last 2026-07-01" in old_use.notes[0]
    assert staleness(runbook(reviewed), used(date(2026, 10, 1)), RULES, TODAY).flags == []
    opened = RunbookStats(opened=1, last_opened_at=datetime(2026, 11, 20, tzinfo=UTC))
    assert staleness(runbook(reviewed), opened, RULES, TODAY).flags == []
    # a runbook written last month has had no chance to be used yet
    assert staleness(runbook(date(2026, 11, 1)), RunbookStats(), RULES, TODAY).flags == []


def test_unhelpful_needs_enough_votes_and_the_ratio() -> None:
    recent = date(2026, 11, 1)

    def flags(helpful: int, unhelpful: int) -> list[StaleReason]:
        stats = used(recent).model_copy(update={"helpful": helpful, "unhelpful": unhelpful})
        return staleness(runbook(recent), stats, RULES, TODAY).flags

    assert flags(0, 1) == []  # one vote is an opinion
    assert flags(1, 1) == [StaleReason.UNHELPFUL]
    assert flags(3, 1) == []
    assert flags(0, 2) == [StaleReason.UNHELPFUL]


def test_a_configured_runbook_directory_must_exist(repo: Path) -> None:
    shutil.rmtree(repo / "runbooks")
    config = load_config(repo / "config")  # the shipped runbooks.yaml names `runbooks`
    assert load_runbooks(config, repo / "runbooks")[1] == [
        f"{repo / 'runbooks'}: the runbook directory (runbooks.directory) does not exist"
    ]


def test_a_byte_order_mark_and_windows_line_endings_are_fine(repo: Path) -> None:
    assert problems_of(repo, "disk-full.md", "\ufeff" + GOOD.replace("\n", "\r\n")) == []


def test_rendering_shows_raw_html_as_text_and_drops_script_links() -> None:
    from tocsin.services.runbooks import RunbookService

    body = (
        "# Fix it\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n"
        "[click](javascript:alert(1)) and [docs](https://example.com/docs)\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    meta = RunbookMeta(title="<b>T</b>", owner="payments", last_reviewed=date(2026, 1, 1))
    runbook = Runbook(id="t", meta=meta, source=RunbookSource.REPOSITORY, body=body)
    html = RunbookService.render_html(None, runbook)  # type: ignore[arg-type]
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html and 'href="javascript' not in html  # shown as text only
    assert '<a href="https://example.com/docs">docs</a>' in html
    assert "<title>&lt;b&gt;T&lt;/b&gt; — runbook</title>" in html
    assert "<table>" in html and "<h1>Fix it</h1>" in html


def test_every_problem_of_a_file_is_reported_at_once(repo: Path) -> None:
    text = GOOD.replace("owner:", "severity: SEV1\nowner:").replace("2026-10-01", "yesterday")
    problems = problems_of(repo, "disk-full.md", text)
    assert len(problems) == 2, problems
    assert any(":7: unknown front-matter key 'severity'" in p for p in problems), problems
    assert any(":9: last_reviewed" in p for p in problems), problems

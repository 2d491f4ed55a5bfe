"""The postmortem's HTML in a real browser (Debian Chromium, headless), served over HTTP from
127.0.0.1 like the status page's browser test: it renders (screenshot kept in
test-artifacts/postmortem/), the embedded image and the inline SVG chart show, and hostile
chat text stays text with JavaScript on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tocsin.services.postmortem_render import render_html

from tests.e2e.test_statuspage_browser import (
    CHROMIUM,
    html_attributes,
    png_size,
    serve_directory,
)
from tests.e2e.test_statuspage_browser import chromium as run_chromium
from tests.helpers import REPO
from tests.unit.test_postmortem_render import document

ARTIFACTS = REPO / "test-artifacts" / "postmortem"
CONTROL = "<!doctype html><html><body><script>document.documentElement.dataset.js='on'</script>"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} not found: install Debian's chromium (`make chromium`, run by `make test`)",
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root: Path = tmp_path_factory.mktemp("postmortem")
    (root / "postmortem.html").write_text(render_html(document(n_filler=40)))
    (root / "control.html").write_text(CONTROL)
    with serve_directory(root) as url:
        yield url


def test_renders_with_a_screenshot_and_hostile_text_stays_text(
    site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tests.e2e.test_statuspage_browser as browser

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "postmortem.png"
    shot.unlink(missing_ok=True)  # a stale one must not pass for a new one
    monkeypatch.setattr(browser, "ARTIFACTS", ARTIFACTS)
    monkeypatch.setitem(browser.SCREENSHOTS, "postmortem.png", (1280, 4000))
    control = run_chromium(f"{site}/control.html")
    assert 'data-js="on"' in html_attributes(control), "JavaScript does not run"
    dom = run_chromium(f"{site}/postmortem.html", screenshot="postmortem.png")
    assert "data-pwned" not in html_attributes(dom)
    assert "<script" not in dom
    assert "&lt;script&gt;document.documentElement.setAttribute(" in dom
    assert "&lt;img src=x onerror=" in dom
    # the chart and the embedded image are there
    assert "<svg" in dom and "Phases of INC-42" in dom
    assert 'src="data:image/gif;base64,' in dom
    assert shot.exists() and png_size(shot) == (1280, 4000)
    assert shot.stat().st_size > 20_000, "the screenshot looks blank"
